"""Fixtures: a real `berth registry serve` subprocess on a free port of 127.0.0.1.

`registry` is one server per test module (tests use their own repository names); `start_registry`
starts a private one with extra flags, for tests that need a setting or a restart."""
import os
import sys

import pytest

# The helpers module sits next to this file; make it importable in any pytest import mode.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from registry_helpers import Server  # noqa: E402


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("registry-root"))
    yield server.start()
    server.stop()


@pytest.fixture
def start_registry(tmp_path):
    servers = []

    def start(*args, root=None, **options):
        server = Server(root or tmp_path / "root", *args, **options)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
