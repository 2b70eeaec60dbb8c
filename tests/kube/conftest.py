"""kube tests run real containers: the container tests' store fixture, torn down completely."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
for where in ("container", "registry"):
    sys.path.insert(0, os.path.join(HERE, os.pardir, where))

from container_helpers import berth  # noqa: E402,F401  (the store fixture, torn down)
