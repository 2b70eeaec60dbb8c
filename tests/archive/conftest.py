import os
import sys

import pytest

# The helpers module sits next to this file; make it importable in any pytest import mode.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from archive_helpers import Jail  # noqa: E402


@pytest.fixture
def jail(tmp_path):
    return Jail(tmp_path)
