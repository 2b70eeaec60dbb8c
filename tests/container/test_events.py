"""Events of real containers, volumes and networks as `berth events` shows them: logged by whichever
process made the change (the CLI, the monitor's exit command), replayed between --since and --until,
followed, filtered as docker's."""
import json
import os
import time

import pytest

from container_helpers import BERTH, expect_error
from event_lines import EventLines, actions, of_container

BUSYBOX_TAR = "/var/tmp/berth-peers/busybox.tar"


@pytest.fixture
def store(berth):
    if not os.path.exists(BUSYBOX_TAR):
        pytest.skip(f"{BUSYBOX_TAR} is missing (../shared/peers/setup --fixtures)")
    berth.run("import", BUSYBOX_TAR, "busybox")
    return berth


def _follow(berth, *args) -> EventLines:
    return EventLines(BERTH + ["--root", berth.root, "events", "--format", "json", *args])


def _replay(berth, since: float, *args) -> list[dict]:
    return berth.jsonlines("events", "--since", f"{since:.9f}", "--until", f"{time.time():.9f}", "--format", "json",
                           *args)


def test_a_follower_sees_run_rm_from_create_to_destroy_and_a_detached_exit_logged_by_the_monitor(store):
    with _follow(store, "--since", f"{time.time() - 1:.9f}") as follower:
        store.run("run", "--rm", "--name", "first", "--label", "team=a", "busybox", "true")
        first = of_container(follower.wait(lambda ev: "destroy" in actions(of_container(ev, "first")),
                                           what="the --rm container's destroy"), "first")
        assert actions(first) == ["create", "attach", "start", "die", "destroy"]
        cid = first[0]["Actor"]["ID"]
        for e in first:  # docker's message: the legacy fields too
            assert (e["id"], e["status"], e["from"], e["scope"]) == (cid, e["Action"], "busybox", "local")
            assert e["Actor"]["Attributes"]["team"] == "a" and e["Actor"]["Attributes"]["image"] == "busybox"
            assert e["time"] == e["timeNano"] // 10**9
        assert first[3]["Actor"]["Attributes"]["exitCode"] == "0"
        assert [e["timeNano"] for e in first] == sorted(e["timeNano"] for e in first)
        # after the follower has shown those: a detached container whose exit nobody waits for; its die
        # comes from the monitor's exit command
        store.run("run", "-d", "--name", "second", "busybox", "sh", "-c", "exit 3")
        second = of_container(follower.wait(lambda ev: "die" in actions(of_container(ev, "second")),
                                            what="the detached container's die"), "second")
        assert actions(second) == ["create", "start", "die"]
        assert second[-1]["Actor"]["Attributes"]["exitCode"] == "3"
        assert follower.proc.poll() is None  # no --until: it follows on
    store.run("rm", "second")


def test_lifecycle_of_a_container_in_docker_s_words(store):
    since = time.time()
    store.run("run", "-d", "--name", "life", "busybox", "sleep", "300")
    assert store.run("exec", "life", "sh", "-c", "exit 4", check=False).returncode == 4
    store.run("pause", "life")
    store.run("unpause", "life")
    store.run("rename", "life", "renamed")
    store.run("stop", "-t", "0", "renamed")
    store.run("start", "renamed")
    store.run("restart", "-t", "0", "renamed")
    store.run("kill", "-s", "USR1", "renamed")
    store.run("rm", "-f", "renamed")
    events = [e for e in _replay(store, since) if e["Type"] == "container"]
    assert actions(events) == [
        "create", "start", "exec_create: sh -c exit 4", "exec_start: sh -c exit 4", "exec_die", "pause", "unpause",
        "rename", "kill", "kill", "die", "stop", "start", "kill", "kill", "die", "stop", "start", "restart",
        "kill", "kill", "die", "destroy"]
    attrs = [e["Actor"]["Attributes"] for e in events]
    exec_id = attrs[2]["execID"]
    assert len(exec_id) == 64 and attrs[3]["execID"] == attrs[4]["execID"] == exec_id
    assert attrs[4]["exitCode"] == "4"
    assert (attrs[7]["oldName"], attrs[7]["name"], attrs[6]["name"]) == ("life", "renamed", "life")
    # stop -t 0 (and restart -t 0): TERM, then KILL; kill -s USR1; rm -f: KILL
    assert [attrs[i]["signal"] for i in (8, 9, 13, 14, 19, 20)] == ["15", "9", "15", "9", "10", "9"]
    assert attrs[10]["exitCode"] == attrs[15]["exitCode"] == attrs[21]["exitCode"] == "137"


def test_volumes_and_networks_of_a_container(store):
    since = time.time()
    store.run("network", "create", "evnet")
    store.run("volume", "create", "evvol")
    store.run("run", "--rm", "--name", "user", "--network", "evnet", "-v", "evvol:/data:ro", "busybox", "true")
    store.run("volume", "rm", "evvol")
    store.run("network", "rm", "evnet")
    events = _replay(store, since)
    cid = of_container(events, "user")[0]["Actor"]["ID"]
    shown = [(e["Type"], e["Action"]) for e in events]
    assert shown == [("network", "create"), ("volume", "create"), ("container", "create"), ("container", "attach"),
                     ("network", "connect"), ("volume", "mount"), ("container", "start"), ("container", "die"),
                     ("network", "disconnect"), ("volume", "unmount"), ("container", "destroy"),
                     ("volume", "destroy"), ("network", "destroy")]
    network_id = store.json("network", "inspect", "bridge")[0]["Id"]  # the built-in one, for contrast
    net = [e for e in events if e["Type"] == "network"]
    assert len({e["Actor"]["ID"] for e in net}) == 1 and net[0]["Actor"]["ID"] != network_id
    assert net[1]["Actor"]["Attributes"] == {"container": cid, "name": "evnet", "type": "bridge"}
    assert "id" not in net[0] and "status" not in net[0]  # legacy fields: containers and images only
    mount = next(e for e in events if e["Action"] == "mount")
    assert mount["Actor"]["ID"] == "evvol"
    assert mount["Actor"]["Attributes"] == {"container": cid, "destination": "/data", "driver": "local",
                                            "propagation": "", "read/write": "false"}


def test_run_with_no_network_says_which_builtin_network(store):
    since = time.time()
    store.run("run", "--rm", "--network", "none", "busybox", "true")
    connect = [e for e in _replay(store, since, "--filter", "type=network")]
    assert actions(connect) == ["connect", "disconnect"]
    none = store.json("network", "inspect", "none")[0]
    assert connect[0]["Actor"]["ID"] == none["Id"]  # the ID `run` writes without the network package
    assert connect[0]["Actor"]["Attributes"]["name"] == "none" and connect[0]["Actor"]["Attributes"]["type"] == "null"


def test_filters_as_docker_s(store):
    since = time.time()
    store.run("run", "--name", "one", "--label", "tier=web", "busybox", "true")
    store.run("run", "--name", "two", "--label", "tier=db", "busybox", "sh", "-c", "exit 2", check=False)
    store.run("exec", "-d", "two", "true", check=False)  # not running: no exec, no event
    store.run("tag", "busybox", "mine:1")

    def shown(*filters):
        args = [a for f in filters for a in ("--filter", f)]
        return [(e["Type"], e["Action"], e["Actor"]["Attributes"].get("name")) for e in _replay(store, since, *args)]
    assert shown("event=die") == [("container", "die", "one"), ("container", "die", "two")]
    assert shown("container=two", "event=die") == [("container", "die", "two")]
    assert shown("event=die", "event=create", "label=tier=web") == [("container", "create", "one"),
                                                                     ("container", "die", "one")]
    assert shown("label=tier", "event=die") == [("container", "die", "one"), ("container", "die", "two")]
    assert shown("type=image") == [("image", "tag", "mine:1")]
    assert shown("image=mine", "type=image") == [("image", "tag", "mine:1")]  # the tag aside, as docker
    two_id = of_container(_replay(store, since), "two")[0]["Actor"]["ID"]
    assert {a for _, a, _ in shown(f"container={two_id[:8]}")} == {"create", "attach", "start", "die"}
    assert shown("type=volume") == []
    store.run("rm", "one", "two")


def test_until_in_the_future_ends_the_follower_then(store):
    until = time.time() + 2
    with EventLines(BERTH + ["--root", store.root, "events", "--format", "json", "--until", f"{until:.3f}"]) as f:
        assert f.wait_exit(30) == 0
        assert time.time() >= until
        assert all(e["timeNano"] <= until * 1e9 for e in f.seen())


def test_replay_of_a_window_and_a_template(store):
    t0 = time.time()
    store.run("run", "--rm", "--name", "early", "busybox", "true")
    t1 = time.time()
    store.run("run", "--rm", "--name", "late", "busybox", "true")
    t2 = time.time()
    names = lambda a, b: {e["Actor"]["Attributes"].get("name") for e in store.jsonlines(  # noqa: E731
        "events", "--since", f"{a:.9f}", "--until", f"{b:.9f}", "--format", "json", "--filter", "type=container")}
    assert names(t0, t1) == {"early"} and names(t1, t2) == {"late"} and names(t0, t2) == {"early", "late"}
    text = store.out("events", "--since", f"{t0:.9f}", "--until", f"{t1:.9f}", "--filter", "event=die",
                     "--format", "{{.Status}} {{.Type}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}")
    assert text == "die container early 0\n"
    line = store.out("events", "--since", f"{t0:.9f}", "--until", f"{t1:.9f}", "--filter", "event=destroy")
    cid = json.loads(store.out("events", "--since", f"{t0:.9f}", "--until", f"{t1:.9f}", "--filter",
                               "event=destroy", "--format", "{{json .}}"))["id"]
    # docker's default line: local time to the nanosecond, type, action, actor, attributes by name
    stamp, rest = line.split(" ", 1)
    assert len(stamp) >= len("2006-01-02T15:04:05.000000000Z") and stamp[10] == "T" and stamp[19] == "."
    assert rest == f"container destroy {cid} (image=busybox, name=early)\n"


def test_bad_requests_are_one_line_errors(store):
    expect_error(store, "events", "--filter", "colour=red", "--until", "0s", says="invalid filter 'colour'")
    expect_error(store, "events", "--since", "yesterday", says="since")
    expect_error(store, "events", "--format", "{{.Nope}}", "--until", "0s", says="can't evaluate field Nope")
    expect_error(store, "events", "--since", "100", "--until", "50", says="cannot be after")
