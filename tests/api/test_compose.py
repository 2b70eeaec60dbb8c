"""docker compose (v5, the Go CLI plugin built by scripts/install-compose) drives berth through the API:
a three-service project with a named volume, a published port, service names on the project network
and depends_on conditions (completed, healthy); ps, logs, exec; down -v leaves nothing behind."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from api_helpers import http_get
from container_helpers import wait_for

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PLUGIN = REPO / ".venv" / "libexec" / "docker" / "cli-plugins" / "docker-compose"
EXAMPLE = REPO / "examples" / "compose" / "three-services.yaml"
pytestmark = pytest.mark.skipif(not os.access(PLUGIN, os.X_OK), reason="no docker compose (scripts/install-compose)")


@pytest.fixture
def compose(api):
    plugins = Path(api.docker_config) / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "docker-compose").symlink_to(PLUGIN)

    def run(*args, **kw):
        return api.docker("compose", "-p", "shop", "-f", EXAMPLE, *args, **kw)
    return run


def test_up_ps_logs_exec_down(api, compose):
    compose("up", "-d", timeout=180)
    ps = [json.loads(line) for line in compose("ps", "-a", "--format", "json").stdout.splitlines()]
    states = {row["Service"]: row["State"] for row in ps}
    assert states == {"seed": "exited", "backend": "running", "web": "running"}, ps
    assert json.loads(api.out("inspect", "shop-backend-1"))[0]["State"]["Health"]["Status"] == "healthy"
    port = api.out("port", "shop-web-1", "80").strip().rpartition(":")[2]
    assert wait_for(lambda: http_get(f"http://127.0.0.1:{port}/cgi-bin/api"), what="web asking backend") == "backend-ok\n"
    assert compose("exec", "-T", "backend", "cat", "/data/index.html").stdout == b"backend-ok\n"
    compose("logs", "--no-color", "web")
    volume, network = "shop_data", "shop_default"
    assert volume in api.out("volume", "ls", "--format", "{{.Name}}").split()
    assert network in api.out("network", "ls", "--format", "{{.Name}}").split()
    compose("down", "-v", timeout=120)
    assert api.out("ps", "-aq") == ""
    assert volume not in api.out("volume", "ls", "--format", "{{.Name}}").split()
    assert network not in api.out("network", "ls", "--format", "{{.Name}}").split()
