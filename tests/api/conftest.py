"""Fixtures for the Docker Engine API: `berth system service` on a unix socket under the test's temp
directory, with its own store holding busybox (imported from /var/tmp/berth-peers/busybox.tar),
and a local `berth registry serve` on a free loopback port.

`api` is one service per test over a store of its own; its teardown stops the service, removes
every container, pod, volume and network and checks that nothing (monitor, mount, network
namespace) outlived them. `second_api` is an empty store of its own, for pulls."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# The helper modules sit next to this file and beside it in tests/; importable in any import mode.
for where in (HERE, os.path.join(HERE, "..", "container"), os.path.join(HERE, "..", "registry")):
    sys.path.insert(0, os.path.abspath(where))

import container_helpers  # noqa: E402
from api_helpers import Service  # noqa: E402
from registry_helpers import Server  # noqa: E402


def _service(workdir, busybox: bool):
    service = Service(workdir)
    if busybox:
        service.import_busybox()
    return service.start()


def _stop(service: Service) -> None:
    service.stop()
    problems = container_helpers.teardown(service.berth)
    assert not problems, problems


@pytest.fixture
def api(tmp_path):
    service = _service(tmp_path / "api", busybox=True)
    yield service
    _stop(service)


@pytest.fixture
def second_api(tmp_path):
    service = _service(tmp_path / "second", busybox=False)
    yield service
    _stop(service)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("registry"))
    yield server.start()
    server.stop()


@pytest.fixture
def start_registry(tmp_path):
    servers = []

    def start(*args):
        server = Server(tmp_path / f"registry-{len(servers)}", *args)
        servers.append(server)
        return server.start()
    yield start
    for server in servers:
        server.stop()
