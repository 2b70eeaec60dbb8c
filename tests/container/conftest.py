"""Fixtures for real containers: a private store per test, torn down completely (no container,
monitor, mount or volume may outlive the test). `debian` comes from tests/conftest.py."""
import os
import sys

# The helpers module sits next to this file; make it importable in any pytest import mode.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from container_helpers import berth  # noqa: E402,F401  (the store fixture, torn down)
