"""--network bridge and -p with real containers: an address on berth0 per container, containers
that reach each other, published ports reachable from the host's loopback, builds on the bridge,
and nothing left behind (namespace, veth, lease, iptables rule) once a container is gone."""
from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from berth.network import bridge

HTTPD = "mkdir /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _leftovers(cid: str) -> list[str]:
    found = []
    if os.path.exists(f"/run/netns/berth-{cid[:12]}"):
        found.append("network namespace")
    if os.path.exists(f"/sys/class/net/vb{cid[:12]}"):
        found.append("veth")
    for name in os.listdir(bridge.LEASES) if os.path.isdir(bridge.LEASES) else []:
        with open(os.path.join(bridge.LEASES, name)) as f:
            if f.read() == cid:
                found.append(f"lease {name}")
    rules = subprocess.run(["iptables", "-w", "-t", "nat", "-S", bridge.CHAIN], capture_output=True, text=True).stdout
    found += [line for line in rules.splitlines() if cid in line]
    return found


def _get(url: str, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=2) as r:
                return r.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_address_hosts_entry_and_nothing_left_after_rm(busybox):
    cid = busybox.out("run", "-d", "--network", "bridge", "--hostname", "box", "busybox", "sleep", "60").strip()
    settings = busybox.json("inspect", cid)[0]["NetworkSettings"]
    address = settings["IPAddress"]
    assert ipaddress.IPv4Address(address) in ipaddress.IPv4Network(bridge.SUBNET) and settings["Gateway"] == bridge.GATEWAY
    inside = busybox.out("exec", cid, "sh", "-c", "ip -4 addr show eth0; ip route; cat /etc/hosts")
    assert f"inet {address}/16" in inside and f"default via {bridge.GATEWAY}" in inside
    assert f"{address}\tbox" in inside
    busybox.run("rm", "-f", cid)
    assert _leftovers(cid) == []


def test_containers_reach_each_other_and_published_ports_reach_a_container(busybox):
    local, anywhere = _free_port(), _free_port()
    cid = busybox.out("run", "-d", "--name", "web", "-p", f"127.0.0.1:{local}:80", "-p", f"{anywhere}:80",
                      "busybox", "sh", "-c", HTTPD).strip()
    assert busybox.json("inspect", "web")[0]["HostConfig"]["NetworkMode"] == "bridge"  # the default
    ports = busybox.json("inspect", "web")[0]["NetworkSettings"]["Ports"]["80/tcp"]
    assert ports == [{"HostIp": "127.0.0.1", "HostPort": str(local)}, {"HostIp": "0.0.0.0", "HostPort": str(anywhere)}]
    assert busybox.out("port", "web") == f"80/tcp -> 127.0.0.1:{local}\n80/tcp -> 0.0.0.0:{anywhere}\n"
    assert busybox.out("port", "web", "80/tcp") == f"127.0.0.1:{local}\n0.0.0.0:{anywhere}\n"
    hello = f"hello-{cid[:12]}\n".encode()
    assert _get(f"http://127.0.0.1:{local}/") == hello
    assert _get(f"http://127.0.0.1:{anywhere}/") == hello
    address = busybox.json("inspect", "web")[0]["NetworkSettings"]["IPAddress"]
    assert busybox.run("run", "--rm", "--network", "bridge", "busybox", "wget", "-qO-", f"http://{address}/").stdout == hello
    # a container on --network none has no way there
    proc = busybox.run("run", "--rm", "--network", "none", "busybox", "wget", "-qO-", "-T", "2", f"http://{address}/",
                       check=False)
    assert proc.returncode != 0
    busybox.run("rm", "-f", "web")
    assert _leftovers(cid) == []
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{local}/", timeout=0)


def test_parallel_starts_get_distinct_addresses(busybox):
    def start(i):
        return busybox.out("run", "-d", "--network", "bridge", "--name", f"p{i}", "busybox", "sleep", "60").strip()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(start, range(8)))
    addresses = {busybox.json("inspect", cid)[0]["NetworkSettings"]["IPAddress"] for cid in ids}
    assert len(addresses) == 8
    busybox.run("rm", "-f", *ids)
    assert [x for cid in ids for x in _leftovers(cid)] == []


@pytest.mark.parametrize("args, says", [
    (["--network", "none", "-p", "80:80"], "conflicting options: port publishing and --network none"),
    (["-p", "70000:80"], "ports are 1-65535"),
    (["-p", "1-3:1-2"], "ranges differ in length"),
    (["-p", "80/sctp"], "protocol 'sctp'"),
    (["-p", "300.1.1.1:80:80"], "is not an IPv4 address"),
    (["--network", "mesh"], "network mesh not found"),  # docker's words
])
def test_bad_network_options_fail_before_anything_is_made(busybox, args, says):
    proc = busybox.run("run", "--rm", *args, "busybox", "true", check=False)
    assert proc.returncode != 0 and says in proc.stderr.decode()
    assert busybox.out("ps", "-aq") == ""


def test_build_runs_on_the_bridge_by_default(busybox, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN ip -4 addr show eth0 | grep -o 'inet [0-9.]*' > /addr\n"
        "RUN --network=none sh -c 'ip -4 addr show eth0 > /none 2>&1 || echo no-eth0 > /none'\n"
        "RUN --network=host sh -c 'ip -o link | grep -c \": berth0:\" > /host'\n")
    busybox.run("build", "-q", "-t", "netb", tmp_path)
    addr = busybox.out("run", "--rm", "netb", "cat", "/addr").split()[1]
    assert ipaddress.IPv4Address(addr) in ipaddress.IPv4Network(bridge.SUBNET)  # not the host's network
    assert busybox.out("run", "--rm", "netb", "cat", "/none") == "no-eth0\n"
    assert busybox.out("run", "--rm", "netb", "cat", "/host") == "1\n"  # asked for: the host's own links
    leases = [n for n in os.listdir(bridge.LEASES)]
    assert all(not open(os.path.join(bridge.LEASES, n)).read().startswith("build-") for n in leases)


def test_a_start_that_fails_leaves_no_network_behind(busybox):
    cid = busybox.out("create", "--name", "bad", "-p", f"{_free_port()}:80", "busybox", "no-such-command").strip()
    proc = busybox.run("start", "bad", check=False)
    assert proc.returncode != 0 and "no-such-command" in proc.stderr.decode()
    assert _leftovers(cid) == []
    busybox.run("rm", "bad")
