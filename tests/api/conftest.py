"""Fixtures: `berth system service` on a temporary socket over a private store (torn down as the
container tests' store is), and the docker clients that drive it."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "container"))

import pytest  # noqa: E402

from api_helpers import Service  # noqa: E402
from container_helpers import berth  # noqa: E402,F401  (the store fixture, torn down)


@pytest.fixture
def api(busybox):
    """The API server over the test's store (with busybox), stopped before the store is torn down."""
    service = Service(busybox).start()
    yield service
    service.stop()
