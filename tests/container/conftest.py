"""Fixtures for real containers: a private store per test, torn down completely (no container,
monitor, mount or volume may outlive the test). `debian` comes from tests/conftest.py."""
import os
import sys

import pytest

# The helpers module sits next to this file; make it importable in any pytest import mode.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from container_helpers import teardown  # noqa: E402
from helpers import Berth  # noqa: E402


@pytest.fixture
def berth(tmp_path):
    b = Berth(tmp_path / "store")
    yield b
    problems = teardown(b)
    assert not problems, "\n".join(problems)
