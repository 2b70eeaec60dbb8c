"""Pod tests run real containers: the container tests' store fixture, torn down completely."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "container"))

from container_helpers import teardown  # noqa: E402
from helpers import Berth  # noqa: E402


@pytest.fixture
def berth(tmp_path):
    b = Berth(tmp_path / "store")
    yield b
    for pod in b.out("pod", "ls", "-q").split():  # pods first: their infra containers refuse a plain rm
        b.run("pod", "rm", "-f", pod, check=False)
    problems = teardown(b)
    assert not problems, "\n".join(problems)
