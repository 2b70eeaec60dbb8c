"""kube tests run real containers: the container tests' store fixture, torn down completely."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "container"))

from container_helpers import berth  # noqa: E402,F401  (the store fixture, torn down)
