"""Host ports as docker allocates them: a port published by one container (of any store), by a
service, or held by a host process fails the next start with docker's message and leaves nothing of
it behind; one address of a port clashes with every address of it, two different addresses do not;
concurrent starts for one port: exactly one wins; a stale reservation is reclaimed, a live one not."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from container_helpers import expect_error, inspect, popen, wait_for

SLEEP = ("busybox", "sleep", "300")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def allocated(port: int, address: str = "0.0.0.0") -> str:
    return f"Bind for {address}:{port} failed: port is already allocated"


def traces(cid: str) -> list[str]:
    """What the host has of container `cid`'s network: namespace, veth, DNAT rules, lease, reservations."""
    from berth.network import hostports
    found = []
    if os.path.exists(f"/run/netns/berth-{cid[:12]}"):
        found.append("netns")
    if os.path.exists(f"/sys/class/net/vb{cid[:12]}"):
        found.append("veth")
    rules = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    found += [f"rule {line}" for line in rules.splitlines() if f"berth:{cid}" in line]
    for name in os.listdir("/run/berth/ipam") if os.path.isdir("/run/berth/ipam") else []:
        try:
            with open(os.path.join("/run/berth/ipam", name)) as f:
                if f.read() == cid:
                    found.append(f"lease {name}")
        except FileNotFoundError:
            pass
    return found + [f"reservation {r}" for r in hostports.holders(cid)]


def failed_start(berth, *flags) -> tuple[str, str]:
    """(the error, the container's ID) of a container made with `flags` whose start fails."""
    cid = berth.out("create", *flags, *SLEEP).strip()
    err = expect_error(berth, "start", cid)
    assert inspect(berth, cid)["State"]["Running"] is False
    return err, cid


def test_a_port_published_twice_fails_the_second_start_and_leaves_nothing(busybox):
    port = free_port()
    first = busybox.out("run", "-d", "-p", f"{port}:80", *SLEEP).strip()
    err, second = failed_start(busybox, "-p", f"{port}:80")
    assert allocated(port) in err
    assert traces(second) == []
    # `run` fails the same way, and leaves no container
    assert allocated(port) in expect_error(busybox, "run", "-d", "--name", "third", "-p", f"{port}:80", *SLEEP)
    assert "third" not in busybox.out("ps", "-a")
    # the first one keeps its port, and its traces are exactly its own
    from berth.network import hostports
    assert hostports.holders(first) == [f"tcp-{port}/0.0.0.0"]
    # one address of the port clashes with every address of it (and the other way round) ...
    err = expect_error(busybox, "run", "-d", "-p", f"127.0.0.1:{port}:80", *SLEEP)
    assert allocated(port, "127.0.0.1") in err
    # ... udp is another port; two single addresses are two ports
    busybox.run("run", "-d", "-p", f"{port}:80/udp", *SLEEP)
    other = free_port()
    busybox.run("run", "-d", "-p", f"127.0.0.2:{other}:80", *SLEEP)
    busybox.run("run", "-d", "-p", f"127.0.0.3:{other}:80", *SLEEP)
    assert allocated(other) in expect_error(busybox, "run", "-d", "-p", f"{other}:80", *SLEEP)
    # once the first is gone, the port is free again
    busybox.run("rm", "-f", first)
    assert hostports.holders(first) == [] and traces(first) == []
    busybox.run("start", second)
    assert hostports.holders(second) == [f"tcp-{port}/0.0.0.0"]
    busybox.run("stop", "-t", "0", second)  # and a stop gives it back
    assert hostports.holders(second) == [] and traces(second) == []


def test_another_store_and_a_host_listener_hold_ports_too(busybox, tmp_path):
    from helpers import Berth
    other_store = Berth(tmp_path / "other")
    port = free_port()
    busybox.run("run", "-d", "-p", f"{port}:80", *SLEEP)
    # the other store has its own containers, and no record of the first store's: the host knows
    other_store.run("image", "bootstrap", "busybox")
    try:
        err, cid = failed_start(other_store, "-p", f"{port}:80")
        assert allocated(port) in err and traces(cid) == []
    finally:
        from container_helpers import teardown
        assert teardown(other_store) == []
    # a host process listening on a port (here: on one address) holds it for every address
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        held = s.getsockname()[1]
        err, cid = failed_start(busybox, "-p", f"{held}:80")
        assert allocated(held) in err and traces(cid) == []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a bound udp socket
        s.bind(("", 0))
        held = s.getsockname()[1]
        assert allocated(held) in expect_error(busybox, "run", "-d", "-p", f"{held}:53/udp", *SLEEP)
    # -p 0:80 and -p 80 get a free port each, published
    cid = busybox.out("run", "-d", "-p", "0:80", "-p", "81", *SLEEP).strip()
    bindings = inspect(busybox, cid)["NetworkSettings"]["Ports"]
    ports = {int(bindings[k][0]["HostPort"]) for k in ("80/tcp", "81/tcp")}
    assert len(ports) == 2 and 0 not in ports
    from berth.network import hostports
    assert hostports.holders(cid) == sorted(f"tcp-{p}/0.0.0.0" for p in ports)


def test_concurrent_starts_for_one_port_exactly_one_wins(busybox):
    port = free_port()
    ids = [busybox.out("create", "-p", f"{port}:80", *SLEEP).strip() for _ in range(4)]
    starts = [popen(busybox, "start", cid) for cid in ids]
    results = [(p.wait(timeout=60), p.stderr.read().decode(), p.stdout.read()) for p in starts]
    for p in starts:
        p.stdout.close()
        p.stderr.close()
    won = [cid for cid, (rc, _, _) in zip(ids, results) if rc == 0]
    assert len(won) == 1, results
    assert all(allocated(port) in err for rc, err, _ in results if rc != 0), results
    from berth.network import hostports
    assert hostports.holders(won[0]) == [f"tcp-{port}/0.0.0.0"]
    assert [cid for cid in ids if cid not in won and traces(cid)] == []


def test_concurrent_reservations_in_threads_exactly_one_wins():
    from berth.errors import PortAllocated
    from berth.network import hostports
    from berth.network.bridge import PortMapping
    port, owners = free_port(), [os.urandom(32).hex() for _ in range(8)]
    barrier, won, lost = threading.Barrier(len(owners)), [], []

    def claim(owner):
        barrier.wait()
        try:
            hostports.reserve("container", owner, [PortMapping("", port, 80, "tcp")])
            won.append(owner)
        except PortAllocated:
            lost.append(owner)
    threads = [threading.Thread(target=claim, args=(o,)) for o in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert len(won) == 1 and len(lost) == len(owners) - 1
        assert hostports.holders(won[0]) == [f"tcp-{port}/0.0.0.0"]
    finally:
        for owner in won:
            hostports.release(owner)
    assert not os.path.exists(f"{hostports.PORTS}/tcp-{port}")


RESERVE_AND_WAIT = """
import sys
from berth.network import hostports
from berth.network.bridge import PortMapping
hostports.reserve("container", sys.argv[1], [PortMapping("", int(sys.argv[2]), 80, "tcp")])
print("reserved", flush=True)
sys.stdin.read()
"""


def test_a_stale_reservation_is_reclaimed_and_a_live_one_is_not():
    """The reserving process alive: the port is taken. Gone, with no namespace of its container: the
    next one to ask takes the port."""
    from berth.errors import PortAllocated
    from berth.network import hostports
    from berth.network.bridge import PortMapping
    port, dead_owner, me = free_port(), os.urandom(32).hex(), os.urandom(32).hex()
    wanted = [PortMapping("", port, 80, "tcp")]
    proc = subprocess.Popen([sys.executable, "-c", RESERVE_AND_WAIT, dead_owner, str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"reserved\n"
        with pytest.raises(PortAllocated, match=allocated(port)):
            hostports.reserve("container", me, wanted)
    finally:
        proc.stdin.close()
        proc.wait(10)
        proc.stdout.close()
    assert hostports.holders(dead_owner) == [f"tcp-{port}/0.0.0.0"]  # never released: its owner died
    hostports.reserve("container", me, wanted)
    try:
        assert hostports.holders(dead_owner) == [] and hostports.holders(me) == [f"tcp-{port}/0.0.0.0"]
        hostports.reserve("container", me, wanted)  # its own: still its own
    finally:
        hostports.release(me)
    assert not os.path.exists(f"{hostports.PORTS}/tcp-{port}")


def test_check_ports_tells_what_a_start_would_meet_and_reserves_nothing(busybox):
    from berth import Engine
    from berth.errors import PortAllocated
    from berth.network import hostports
    from berth.network.balancer import ServicePort
    port, free = free_port(), free_port()
    busybox.run("run", "-d", "-p", f"127.0.0.1:{port}:80", *SLEEP)
    before = sorted(os.listdir(hostports.PORTS))
    with Engine(busybox.root) as engine:
        for ask in ({"publish": [f"{port}:80"]}, {"services": [ServicePort("", "tcp", port, 80)]}):
            with pytest.raises(PortAllocated, match=allocated(port)):
                engine.networks.check_ports(**ask)
        engine.networks.check_ports(publish=[f"{free}:80", "0:81"], services=[ServicePort("", "udp", port, 53)])
    assert sorted(os.listdir(hostports.PORTS)) == before


def test_a_long_lived_reserver_does_not_keep_a_dead_containers_ports(busybox):
    """The API server starts containers in one long-lived process. Once a container runs, its ports
    are live while it is, not while that process is: killed without cleanup (its monitor too), the
    container holds nothing, and the same process can publish the port again."""
    from berth import Engine
    from berth.container.spec import from_flags
    port = free_port()
    with Engine(busybox.root) as engine:
        first = engine.containers.create(from_flags("busybox", ["sleep", "300"], publish=[f"{port}:80"]))
        engine.containers.start(first.id)
        running = engine.containers.get(first.id)
        os.kill(running.state["monitor_pid"], 9)  # no exit command will run
        pid = running.state["pid"]
        os.kill(pid, 9)
        wait_for(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
                 what="the container's process gone")
        second = engine.containers.create(from_flags("busybox", ["sleep", "300"], publish=[f"{port}:80"]))
        engine.containers.start(second.id)  # before: "port is already allocated" while this process ran
        assert inspect(busybox, second.id)["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"] == str(port)
        from berth.network import hostports
        assert hostports.holders(second.id) == [f"tcp-{port}/0.0.0.0"] and hostports.holders(first.id) == []
        for c in (first, second):
            engine.containers.remove(c.id, force=True)
