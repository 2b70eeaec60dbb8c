"""GET /events: one log for the CLI and the API. A container that `berth run` starts shows in `docker events`
against `berth system service`, and one that `docker run` starts through the API shows in `berth events`."""
import json
import time
import urllib.parse

import pytest

from api_helpers import DOCKER_CLIS, UnixHTTPConnection
from event_lines import EventLines, actions, of_container
from helpers import BERTH

@pytest.fixture
def service(api):
    """The API server over a store holding busybox."""
    if not DOCKER_CLIS:
        pytest.skip("no docker CLI")
    return api


def _docker_events(service, *args, cli=DOCKER_CLIS[0] if DOCKER_CLIS else "docker") -> EventLines:
    return EventLines([cli, "events", "--format", "{{json .}}", *args], env=service.env())


@pytest.mark.parametrize("cli", DOCKER_CLIS)
def test_docker_events_follows_what_berth_run_does(service, cli):
    berth = service.berth
    with _docker_events(service, cli=cli) as follower:
        # following from now on: probe until the follower is in place
        n = 0

        def probed(events):
            nonlocal n
            if any(e["Type"] == "volume" and e["Action"] == "create" for e in events):
                return True
            n += 1
            berth.run("volume", "create", f"probe{n}")
            return False
        follower.wait(probed, what="a probe volume's create")
        berth.run("run", "--rm", "--name", "cli-run", "--label", "from=cli", "busybox", "true")
        mine = of_container(follower.wait(lambda ev: "destroy" in actions(of_container(ev, "cli-run")),
                                          what="cli-run's destroy"), "cli-run")
    assert actions(mine) == ["create", "attach", "start", "die", "destroy"]
    cid = mine[0]["Actor"]["ID"]
    for e in mine:
        assert e["Type"] == "container" and e["Actor"]["ID"] == cid and e["scope"] == "local"
        assert e["status"] == e["Action"] and e["id"] == cid and e["from"] == "busybox"
        assert {k: e["Actor"]["Attributes"][k] for k in ("name", "image", "from")} == \
            {"name": "cli-run", "image": "busybox", "from": "cli"}
    assert mine[3]["Actor"]["Attributes"]["exitCode"] == "0"
    assert abs(mine[0]["timeNano"] / 1e9 - time.time()) < 120 and mine[0]["time"] == mine[0]["timeNano"] // 10**9


def test_berth_events_follows_what_docker_run_does_through_the_api(service):
    with EventLines(BERTH + ["--root", service.berth.root, "events", "--format", "json",
                             "--since", f"{time.time():.9f}"]) as follower:
        service.docker("run", "--rm", "--name", "api-run", "busybox", "sh", "-c", "exit 5", check=False)
        mine = of_container(follower.wait(lambda ev: "destroy" in actions(of_container(ev, "api-run")),
                                          what="api-run's destroy"), "api-run")
    assert actions(mine)[:2] == ["create", "attach"] and actions(mine)[-3:] == ["start", "die", "destroy"]
    assert mine[-2]["Actor"]["Attributes"]["exitCode"] == "5"


def test_since_and_until_replay_a_window_and_filters_narrow_it(service):
    berth = service.berth
    t0 = time.time()
    berth.run("run", "--rm", "--name", "early", "--label", "tier=web", "busybox", "true")
    t1 = time.time()
    berth.run("run", "--rm", "--name", "late", "busybox", "sh", "-c", "exit 1", check=False)
    t2 = time.time()

    def replay(since, until, *filters):
        args = [a for f in filters for a in ("--filter", f)]
        out = service.out("events", "--since", f"{since:.9f}", "--until", f"{until:.9f}", "--format", "{{json .}}",
                          *args, timeout=30)
        return [json.loads(line) for line in out.splitlines()]
    early, late = replay(t0, t1), replay(t1, t2)
    assert {e["Actor"]["Attributes"].get("name") for e in early if e["Type"] == "container"} == {"early"}
    assert {e["Actor"]["Attributes"].get("name") for e in late if e["Type"] == "container"} == {"late"}
    assert actions(replay(t0, t2, "event=die")) == ["die", "die"]
    dies = replay(t0, t2, "event=die", "container=late")
    assert [(e["Actor"]["Attributes"]["name"], e["Actor"]["Attributes"]["exitCode"]) for e in dies] == [("late", "1")]
    assert [e["Actor"]["Attributes"]["name"] for e in replay(t0, t2, "label=tier=web", "event=start")] == ["early"]
    assert {(e["Type"], e["Action"]) for e in replay(t0, t2, "type=network")} == {("network", "connect"),
                                                                                 ("network", "disconnect")}


def _get(service, path: str, timeout: float = 30) -> tuple[int, str, bytes]:
    conn = UnixHTTPConnection(service.socket, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def test_the_raw_stream_and_its_bad_requests(service):
    berth = service.berth
    t0 = time.time()
    berth.run("tag", "busybox", "other:2")
    berth.run("run", "--rm", "--name", "raw", "busybox", "true")
    t1 = time.time()
    query = urllib.parse.urlencode({"since": f"{t0:.9f}", "until": f"{t1:.9f}",
                                    "filters": json.dumps({"type": {"image": True}})})
    status, kind, body = _get(service, f"/v1.44/events?{query}")
    assert (status, kind) == (200, "application/json")
    (tag,) = [json.loads(line) for line in body.splitlines()]
    image_id = service.json("GET", "/images/busybox/json")["Id"]
    assert tag == {"status": "tag", "id": image_id, "Type": "image", "Action": "tag",
                   "Actor": {"ID": image_id, "Attributes": {"name": "other:2"}}, "scope": "local",
                   "time": tag["timeNano"] // 10**9, "timeNano": tag["timeNano"]}
    # RFC 3339 bounds, and old clients' filters as lists
    rfc = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"  # noqa: E731
    query = urllib.parse.urlencode({"since": rfc(t0), "until": rfc(t1), "filters": json.dumps({"event": ["destroy"]})})
    status, _, body = _get(service, f"/events?{query}")
    assert status == 200 and [json.loads(line)["Actor"]["Attributes"]["name"] for line in body.splitlines()] == ["raw"]
    for bad, says in ((f"/events?until={t0}&since={t1}", "cannot be after"),
                      ("/events?since=tomorrow", "since"),
                      ("/events?filters=" + urllib.parse.quote('{"colour": ["red"]}'), "invalid filter 'colour'"),
                      ("/events?filters=nonsense", "invalid filters")):
        status, kind, body = _get(service, bad)
        assert (status, kind) == (400, "application/json"), (bad, status, body)
        assert says in json.loads(body)["message"], (bad, body)
