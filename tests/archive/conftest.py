import pytest

from archive_helpers import Jail


@pytest.fixture
def jail(tmp_path):
    return Jail(tmp_path)
