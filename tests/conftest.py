"""Fixtures: a private store per test, with or without a busybox image."""
import pytest

from helpers import Berth


@pytest.fixture
def berth(tmp_path):
    return Berth(tmp_path / "store")


@pytest.fixture
def busybox(berth):
    berth.run("image", "bootstrap", "busybox")
    return berth
