"""Health checks through the Docker Engine API: a create body's Healthcheck, State.Health in
GET /containers/{id}/json (what compose's `depends_on: condition: service_healthy` polls), the
health filter of GET /containers/json, and the docker CLI's --health-* flags end to end."""
from __future__ import annotations

import json
import urllib.parse

import pytest

from api_helpers import DOCKER_CLIS
from container_helpers import wait_for


def _state(api, cid: str) -> dict:
    return api.json("GET", f"/containers/{cid}/json")["State"]


def _listed(api, health: str) -> list[str]:
    query = urllib.parse.quote(json.dumps({"health": [health]}))
    return [c["Names"][0] for c in api.json("GET", f"/containers/json?filters={query}")]


def test_create_body_healthcheck_and_inspect(api):
    body = {"Image": "busybox", "Cmd": ["sleep", "300"],
            "Healthcheck": {"Test": ["CMD-SHELL", "test -f /tmp/ok || exit 1"], "Interval": 100_000_000,
                            "Timeout": 1_000_000_000, "Retries": 100}}
    cid = api.json("POST", "/containers/create?name=api-web", body, status=201)["Id"]
    doc = api.json("GET", f"/containers/{cid}/json")
    assert doc["Config"]["Healthcheck"] == body["Healthcheck"]
    assert "Health" not in doc["State"]  # not started yet: no state, as dockerd
    assert api.request("POST", f"/containers/{cid}/start").status == 204
    wait_for(lambda: len(_state(api, cid)["Health"]["Log"]) >= 1, what="a probe")
    assert _state(api, cid)["Health"]["Status"] == "starting"
    assert _listed(api, "starting") == ["/api-web"]
    code = api.json("POST", f"/containers/{cid}/exec", {"Cmd": ["touch", "/tmp/ok"]}, status=201)["Id"]
    api.request("POST", f"/exec/{code}/start", {"Detach": False, "Tty": False})
    wait_for(lambda: _state(api, cid)["Health"]["Status"] == "healthy", what="healthy")
    assert _listed(api, "healthy") == ["/api-web"] and _listed(api, "unhealthy") == []
    summary = api.json("GET", "/containers/json")[0]
    assert summary["Status"].endswith("(healthy)")
    assert api.request("GET", "/containers/json?filters=" + urllib.parse.quote('{"health": ["sick"]}')).status == 400


def test_exec_form_of_a_missing_program_is_a_runtime_error(api):
    body = {"Image": "busybox", "Cmd": ["sleep", "300"],
            "Healthcheck": {"Test": ["CMD", "/nosuch"], "Interval": 100_000_000, "Retries": 1}}
    cid = api.json("POST", "/containers/create", body, status=201)["Id"]
    api.request("POST", f"/containers/{cid}/start")
    wait_for(lambda: _state(api, cid)["Health"]["Status"] == "unhealthy", what="unhealthy")
    entry = _state(api, cid)["Health"]["Log"][-1]
    assert entry["ExitCode"] == -1 and "/nosuch" in entry["Output"] and "no such file" in entry["Output"].lower()


@pytest.mark.parametrize("healthcheck, says", [
    ("every second", "Healthcheck"), ({"Test": "exit 0"}, "Healthcheck.Test"),
    ({"Test": ["CMD", 5]}, "Healthcheck.Test"), ({"Test": ["CMD-SHELL", "true"], "Interval": "1s"}, "Interval"),
    ({"Test": ["CMD-SHELL", "true"], "Interval": 1.5}, "Interval"), ({"Retries": True}, "Retries"),
    ({"Test": ["CMD-SHELL", "true"], "Interval": 10}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"Test": ["CMD-SHELL", "true"], "Retries": -1}, "Retries in Healthcheck cannot be negative"),
    ({"Test": ["PING"]}, "Healthcheck.Test"),
])
def test_bad_healthchecks_are_400_and_create_nothing(api, healthcheck, says):
    r = api.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "Healthcheck": healthcheck})
    assert r.status == 400, r
    assert says.lower() in r.message.lower()
    assert api.json("GET", "/containers/json?all=1") == []


@pytest.mark.skipif(not DOCKER_CLIS, reason="no docker CLI on this machine")
@pytest.mark.parametrize("cli", DOCKER_CLIS)
def test_docker_cli_health_flags(api, cli):
    cid = api.out("run", "-d", "--name", "checked", "--health-cmd", "true", "--health-interval", "100ms",
                  "busybox", "sleep", "300", cli=cli).strip()
    wait_for(lambda: api.out("inspect", "--format", "{{.State.Health.Status}}", "checked", cli=cli).strip()
             == "healthy", what="healthy through the docker CLI")
    assert api.out("ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}", cli=cli).strip() \
        .endswith("(healthy)")
    api.docker("run", "-d", "--name", "plain", "--no-healthcheck", "busybox", "sleep", "300", cli=cli)
    assert api.out("ps", "--filter", "health=none", "--format", "{{.Names}}", cli=cli).split() == ["plain"]
    assert json.loads(api.out("inspect", "--format", "{{json .Config.Healthcheck}}", "plain", cli=cli)) \
        == {"Test": ["NONE"]}
    api.docker("rm", "-f", cid, "plain", cli=cli)
