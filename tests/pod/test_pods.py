"""Pods with real containers: one IP and one set of published ports for the pod, its containers
talking over localhost and sharing a hostname, the pod's commands (ls, inspect, stop, start, rm, top,
logs), limits on the pod's cgroup, and the flags a pod's container may not have."""
from __future__ import annotations

import json
import os
import socket
import urllib.request

from container_helpers import expect_error, inspect, wait_for

HTTPD = "mkdir /www && echo hello-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def _get(url: str) -> str:
    try:
        return urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_pod_shares_one_network_and_hostname(busybox):
    port = _free_port()
    pod_id = busybox.out("pod", "create", "--name", "web", "-p", f"127.0.0.1:{port}:80").strip()
    assert busybox.json("pod", "inspect", "web")[0]["State"] == "Created"
    busybox.run("run", "-d", "--pod", "web", "--name", "srv", "busybox", "sh", "-c", HTTPD)
    # a second container of the pod reaches the first on localhost, with the pod's hostname
    out = busybox.out("run", "--rm", "--pod", "web", "busybox", "sh", "-c",
                      "hostname; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 80 | tail -1")
    assert out == "web\nhello-web\n"
    # the pod's one address answers from the host, and so does its published port
    doc = busybox.json("pod", "inspect", "web")[0]
    assert doc["Id"] == pod_id and doc["State"] == "Running" and doc["SharedNamespaces"] == ["net", "ipc", "uts"]
    assert wait_for(lambda: _get(f"http://{doc['InfraConfig']['IPAddress']}/")) == "hello-web\n"
    assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/")) == "hello-web\n"
    rows = busybox.jsonlines("pod", "ps", "--format", "json")
    assert [(r["Name"], r["Status"], r["Containers"]) for r in rows] == [("web", "Running", 2)]
    headers = busybox.out("pod", "top", "web").splitlines()[0].split()
    assert headers[0] == "CONTAINER" and "httpd" in busybox.out("pod", "top", "web")


def test_pod_stop_start_and_rm(busybox):
    busybox.run("pod", "create", "--name", "p")
    busybox.run("run", "-d", "--pod", "p", "--name", "a", "busybox", "sh", "-c", "trap 'exit 0' TERM; "
                "echo from-a; while true; do sleep 0.1; done")
    busybox.run("run", "-d", "--pod", "p", "--name", "b", "busybox", "sleep", "300")
    wait_for(lambda: "from-a" in busybox.out("pod", "logs", "p"))
    assert busybox.out("pod", "logs", "p").startswith("a from-a\n")
    busybox.run("pod", "stop", "-t", "1", "p")
    states = {r["Names"]: r["State"] for r in busybox.jsonlines("ps", "-a", "--format", "json")}
    assert set(states.values()) == {"exited"} and len(states) == 3  # a, b and the infra container
    assert busybox.json("pod", "inspect", "p")[0]["State"] == "Exited"
    busybox.run("pod", "start", "p")
    assert {inspect(busybox, n)["State"]["Status"] for n in ("a", "b")} == {"running"}
    expect_error(busybox, "pod", "rm", "p", says="running containers")
    infra = busybox.json("pod", "inspect", "p")[0]["InfraContainerID"]
    expect_error(busybox, "rm", "-f", infra, says="infra container")
    busybox.run("pod", "rm", "-f", "p")
    assert busybox.out("ps", "-aq") == "" and busybox.out("pod", "ls", "-q") == ""
    expect_error(busybox, "pod", "inspect", "p", says="no pod")


def test_pod_limits_are_on_the_pods_cgroup(busybox):
    busybox.run("pod", "create", "--name", "lim", "--memory", "64m", "--cpus", "0.5")
    busybox.run("run", "-d", "--pod", "lim", "--name", "x", "busybox", "sleep", "300")
    group = busybox.json("pod", "inspect", "lim")[0]["CgroupPath"].strip("/")
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    if v2:
        assert open(f"/sys/fs/cgroup/{group}/memory.max").read().strip() == str(64 << 20)
    else:
        assert open(f"/sys/fs/cgroup/memory/{group}/memory.limit_in_bytes").read().strip() == str(64 << 20)
        assert open(f"/sys/fs/cgroup/cpu/{group}/cpu.cfs_quota_us").read().strip() == "50000"
        cid = inspect(busybox, "x")["Id"]
        assert os.path.isdir(f"/sys/fs/cgroup/memory/{group}/{cid}")  # the container's cgroup is the pod's child
    busybox.run("pod", "rm", "-f", "lim")
    assert not os.path.exists(f"/sys/fs/cgroup/memory/{group}") and not os.path.exists(f"/sys/fs/cgroup/{group}")


def test_a_pods_container_may_not_bring_its_own_network(busybox):
    busybox.run("pod", "create", "--name", "p")
    for flags in (["--network", "host"], ["-p", "8080:80"], ["--network", "none"], ["-P"]):
        expect_error(busybox, "run", "--pod", "p", *flags, "busybox", "true", says="pod's network")
    expect_error(busybox, "run", "--pod", "nosuch", "busybox", "true", says="no pod")
    expect_error(busybox, "pod", "create", "--name", "p", says="already in use")
    expect_error(busybox, "pod", "create", "--share", "pid", says="--share")
    expect_error(busybox, "pod", "create", "--network", "none", "-p", "80", says="conflicting")
    assert [r["Name"] for r in busybox.jsonlines("pod", "ls", "--format", "json")] == ["p"]


def test_a_pod_on_a_user_network_is_found_by_name(busybox):
    busybox.run("network", "create", "app")
    busybox.run("pod", "create", "--name", "svc", "--network", "app")
    busybox.run("run", "-d", "--pod", "svc", "busybox", "sh", "-c", HTTPD)
    address = json.loads(busybox.out("pod", "inspect", "svc"))[0]["InfraConfig"]["IPAddress"]
    out = busybox.out("run", "--rm", "--network", "app", "busybox", "nslookup", "svc")
    assert f"Address: {address}" in out
    busybox.run("pod", "rm", "-f", "svc")
    busybox.run("network", "rm", "app")


def test_pod_stop_waits_one_timeout_for_all_its_containers(busybox):
    """Two containers ignoring SIGTERM: both get it first, then both timeouts run together, so the
    stop takes one timeout (TIMEOUT s and the CLI's own time), where one after the other takes two."""
    import time
    timeout = 3
    busybox.run("pod", "create", "--name", "slow")
    for name in ("a", "b"):
        busybox.run("run", "-d", "--pod", "slow", "--name", name, "--stop-timeout", str(timeout), "busybox",
                    "sh", "-c", "trap '' TERM; echo ready; sleep 60")
        wait_for(lambda: "ready" in busybox.out("logs", name), what=f"{name}'s trap set")
    started = time.monotonic()
    busybox.run("pod", "stop", "slow")
    took = time.monotonic() - started
    assert timeout <= took < 2 * timeout - 0.5, took  # SIGTERM ignored: killed after one timeout, not two
    states = {n: inspect(busybox, n)["State"] for n in ("a", "b")}
    assert {n: (s["Status"], s["ExitCode"]) for n, s in states.items()} == {"a": ("exited", 137), "b": ("exited", 137)}


def test_the_infra_image_is_built_once_from_this_machines_catatonit(busybox):
    """Tagged by the binary's size and mtime, it is found again by `pod create` without being read."""
    st = os.stat("/usr/bin/catatonit")
    busybox.run("pod", "create", "--name", "one")
    busybox.run("pod", "create", "--name", "two")
    pause = [r for r in busybox.jsonlines("images", "--format", "json") if r["Repository"] == "localhost/berth-pause"]
    assert [r["Tag"] for r in pause] == [f"{st.st_mtime_ns}-{st.st_size}"]
    infras = [inspect(busybox, busybox.json("pod", "inspect", p)[0]["InfraContainerID"]) for p in ("one", "two")]
    assert {(c["Image"][7:19], c["Path"], tuple(c["Args"])) for c in infras} == {(pause[0]["ID"], "/catatonit", ("-P",))}
