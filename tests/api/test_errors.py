"""Bad requests get dockerd's status codes and a {"message"} body, never a traceback, and change
nothing: unknown routes and ids, malformed, mistyped, oversized and deeply nested bodies."""
from __future__ import annotations

import json

import pytest



def _message(data: bytes) -> str:
    doc = json.loads(data)
    assert set(doc) == {"message"} and doc["message"] and "Traceback" not in doc["message"]
    return doc["message"]


def test_unknown_routes_and_ids(api):
    for method, path, status, says in [
        ("GET", "/nosuch", 404, "page not found"), ("GET", "/v1.41/nosuch/route", 404, "page not found"),
        ("GET", "/containers/nosuch/json", 404, "No such container"),
        ("POST", "/containers/nosuch/start", 404, "No such container"),
        ("DELETE", "/containers/nosuch", 404, "No such container"),
        ("GET", "/images/nosuch:1/json", 404, "No such image"),
        ("GET", "/volumes/nosuch", 404, "no such volume"),
        ("GET", "/networks/nosuch", 404, "not found"),
        ("GET", "/exec/nosuch/json", 404, "No such exec instance"),
    ]:
        r = api.request(method, path)
        assert r.status == status, (method, path, r)
        assert says.lower() in _message(r.body).lower(), (path, r)


@pytest.mark.parametrize("body, says", [
    (b"{not json", "invalid JSON"),
    (b"[1, 2]", "expected an object"),
    (b"[" * 100_000, "invalid JSON"),
    (b'{"Image": "busybox", "Cmd": "x", "Padding": "' + b"a" * (2 << 20) + b'"}', "too large"),
    (json.dumps({"Image": 5}).encode(), "Image is required"),
    (json.dumps({"Image": "busybox", "Env": "A=1"}).encode(), "Env"),
    (json.dumps({"Image": "busybox", "HostConfig": {"Memory": "lots"}}).encode(), "Memory"),
    (json.dumps({"Image": "busybox", "HostConfig": {"Binds": ["relative:/x:zz"]}}).encode(), "volume"),
    (json.dumps({"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}}}).encode(),
     "port"),
    (json.dumps({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}).encode(), "restart"),
    (json.dumps({"Image": "busybox"}).encode(), "no command specified"),  # this busybox has no CMD
    (json.dumps({"Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Interval": "30s"}}).encode(), "Healthcheck.Interval"),
])
def test_bad_create_bodies_are_400_and_create_nothing(api, body, says):
    before = api.json("GET", "/containers/json?all=1")
    r = api.request("POST", "/containers/create", body, headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    assert says.lower() in _message(r.body).lower()
    assert api.json("GET", "/containers/json?all=1") == before


def test_conflicts_are_409(api):
    api.json("POST", "/containers/create?name=one", {"Image": "busybox", "Cmd": ["sleep", "300"]}, status=201)
    r = api.request("POST", "/containers/create?name=one", {"Image": "busybox", "Cmd": ["true"]})
    assert r.status == 409 and "already in use" in _message(r.body)
    assert api.request("POST", "/containers/one/start").status == 204
    assert api.request("POST", "/containers/one/start").status == 304  # already started
    r = api.request("DELETE", "/containers/one")
    assert r.status == 409 and "running" in _message(r.body)
    assert api.request("POST", "/containers/one/stop?t=0").status == 204
    assert api.request("POST", "/containers/one/stop").status == 304  # already stopped
    r = api.request("POST", "/containers/one/kill")
    assert r.status == 409 and "not running" in _message(r.body)
    assert api.request("DELETE", "/containers/one").status == 204


def test_bad_query_values(api):
    for path in ("/containers/json?filters=%7Bnope", "/containers/json?limit=many",
                 "/containers/x/wait?condition=sometime", "/images/json?filters=%5B%5B%5B"):
        r = api.request("GET" if "wait" not in path else "POST", path)
        assert r.status in (400, 404), (path, r)
        _message(r.body)
