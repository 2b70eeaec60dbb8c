"""Services with real containers: two pods serving a file that names each, on a user network, behind
one host port (engine.networks.publish_service). Connections to 127.0.0.1:PORT reach both and
nothing else; a stopped pod stops getting them and gets them again once started; with no backend
running they are refused at once; removing a pod keeps the service; a taken port fails
publish_service (and a container's start) with docker's message, making nothing; remove_service
leaves iptables as it was."""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import pytest

from container_helpers import expect_error, wait_for

SERVE = "mkdir -p /www && echo {name} > /www/index.html && exec httpd -f -p 80 -h /www"
TRIES = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def get(url: str) -> str:
    """The body, or the error's name (refused, timed out, ...)."""
    try:
        return urllib.request.urlopen(url, timeout=3).read().decode().strip()
    except OSError as e:
        reason = getattr(e, "reason", e)
        return type(reason).__name__


def answers(port: int, n: int = TRIES) -> list[str]:
    return [get(f"http://127.0.0.1:{port}/") for _ in range(n)]


def ours(lines: set[str], marks: list[str]) -> set[str]:
    return {line for line in lines if any(m in line for m in marks)}


def iptables_lines() -> set[str]:
    """iptables-save of both families without counters and comments: what is there, not how often used."""
    import re
    out = set()
    for tool in ("iptables-save", "ip6tables-save"):
        text = subprocess.run([tool], capture_output=True, text=True).stdout
        out |= {tool + " " + re.sub(r" \[\d+:\d+\]$", "", line) for line in text.splitlines()
                if line and not line.startswith("#")}
    return out


@pytest.fixture
def pods(busybox):
    """Two running pods on network `svcnet`, each serving its name on port 80, seen from the host."""
    berth = busybox
    berth.run("network", "create", "svcnet")
    addresses = {}
    for name in ("pa", "pb"):
        berth.run("pod", "create", "--name", name, "--network", "svcnet")
        berth.run("run", "-d", "--pod", name, "--name", f"{name}-web", "busybox", "sh", "-c", SERVE.format(name=name))
        addresses[name] = berth.json("pod", "inspect", name)[0]["InfraConfig"]["IPAddress"]
        wait_for(lambda: get(f"http://{addresses[name]}/") == name, what=f"pod {name} to serve")
    return berth, addresses


def engine_of(berth):
    from berth.engine import Engine
    return Engine(berth.root)


def endpoints(engine, name: str) -> list[str]:
    return next(s for s in engine.networks.services() if s["Name"] == name)["Endpoints"]["http"]


def test_a_service_spreads_connections_over_its_running_pods(pods):
    from berth.network.balancer import ServicePort
    berth, addresses = pods
    port = free_port()
    before = iptables_lines()
    engine = engine_of(berth)
    with engine:
        pod_ids = [berth.json("pod", "inspect", n)[0]["Id"] for n in ("pa", "pb")]
        doc = engine.networks.publish_service("web", [ServicePort("http", "tcp", port, 80)], pod_ids,
                                              {"app": "web"})
        chain = doc["Chain"]
        assert sorted(doc["Endpoints"]["http"]) == sorted(f"{a}:80" for a in addresses.values())
        assert (doc["Backends"], doc["Labels"]) == (pod_ids, {"app": "web"})
        got = answers(port)
        assert set(got) == {"pa", "pb"}, got  # both answer, nothing else does
        # a stopped pod stops getting connections ...
        berth.run("pod", "stop", "-t", "1", "pb")
        wait_for(lambda: endpoints(engine, "web") == [f"{addresses['pa']}:80"], what="pb to leave the service")
        assert set(answers(port, 20)) == {"pa"}
        # ... and gets them again once it runs
        berth.run("pod", "start", "pb")
        wait_for(lambda: get(f"http://{addresses['pb']}/") == "pb", what="pb to serve again")
        assert set(answers(port)) == {"pa", "pb"}
        # no backend running: refused at once, not left hanging
        berth.run("pod", "stop", "-t", "1", "pa")
        berth.run("pod", "stop", "-t", "1", "pb")
        wait_for(lambda: endpoints(engine, "web") == [], what="the service to have no endpoint")
        started = time.monotonic()
        assert set(answers(port, 5)) == {"ConnectionRefusedError"}
        assert time.monotonic() - started < 5
        # removing a backend's pod keeps the service; it serves the other
        berth.run("pod", "start", "pa")
        berth.run("pod", "rm", "-f", "pb")
        wait_for(lambda: get(f"http://{addresses['pa']}/") == "pa", what="pa to serve again")
        assert [s["Name"] for s in engine.networks.services()] == ["web"]
        assert set(answers(port, 20)) == {"pa"}
        # remove_service: refused, and nothing of it left
        engine.networks.remove_service("web")
        assert engine.networks.services() == []
        assert set(answers(port, 3)) == {"ConnectionRefusedError"}
        from berth.network import hostports
        assert hostports.holders(chain) == [] and not os.path.exists(f"{hostports.PORTS}/tcp-{port}")
        berth.run("pod", "rm", "-f", "pa")
    # other tests on this host may change iptables meanwhile: what differs must not be ours
    marks = [chain, chain.replace("BERTH-SVC-", "berth-svc:"), f"--dport {port} "]
    assert ours(iptables_lines() ^ before, marks) == set()


def test_a_taken_port_fails_publish_service_and_starts_making_nothing(pods):
    from berth.errors import Conflict, PortAllocated
    from berth.network.balancer import ServicePort
    berth, _ = pods
    taken, port = free_port(), free_port()
    berth.run("run", "-d", "-p", f"{taken}:80", "busybox", "sleep", "300")
    engine = engine_of(berth)
    with engine:
        rules = iptables_lines()
        with pytest.raises(PortAllocated, match=f"Bind for 0.0.0.0:{taken} failed: port is already allocated"):
            engine.networks.publish_service("web", [ServicePort("a", "tcp", port, 80),
                                                    ServicePort("b", "tcp", taken, 80)], ["pa"])
        assert engine.networks.services() == []
        assert ours(iptables_lines() ^ rules, ["BERTH-SVC-", "berth-svc:"]) == set()
        from berth.network import hostports
        assert not os.path.exists(f"{hostports.PORTS}/tcp-{port}")  # the port before the taken one: given back
        # a host listener holds a port against a service too
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            with pytest.raises(PortAllocated, match="port is already allocated"):
                engine.networks.publish_service("web", [ServicePort("a", "tcp", s.getsockname()[1], 80)], ["pa"])
        # a service's port fails a container's start; the name is the service's
        engine.networks.publish_service("web", [ServicePort("http", "tcp", port, 80)], ["pa", "pb"])
        err = expect_error(berth, "run", "-d", "-p", f"{port}:80", "busybox", "sleep", "300")
        assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in err
        with pytest.raises(Conflict, match="service web already exists"):
            engine.networks.publish_service("web", [ServicePort("http", "tcp", free_port(), 80)], ["pa"])
        with pytest.raises(LookupError):
            engine.networks.publish_service("other", [ServicePort("http", "tcp", free_port(), 80)], ["no-such-pod"])
        assert [s["Name"] for s in engine.networks.services()] == ["web"]
        assert set(answers(port, 10)) == {"pa", "pb"}
