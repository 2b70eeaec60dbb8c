"""User-defined networks with real containers: names resolved by the network's name server, isolation
between networks, internal networks, connect/disconnect on a running container, docker's network
commands and JSON, IPAM (parallel starts, restarts, a full subnet), the resolv.conf/hosts flags, a start
killed with SIGKILL half-way (repaired by the next command), and
nothing left on the host once the containers and networks are gone.

busybox-static resolves no names itself (getaddrinfo), so names are asked with its nslookup, and HTTP
goes to the address it answers with (`wget` without -T, which crashes it; `nc -w`)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from container_helpers import expect_error, inspect, wait_for

HTTPD = "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"


def leftovers(container_ids: list[str], network_ids: list[str]) -> list[str]:
    """What the host still has of these containers and networks: veths, bridges, namespaces, rules."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    found = []
    for cid in container_ids:
        found += [f"link {m}" for m in re.findall(rf"^\d+: ((?:vb{cid[:12]}|vn{cid[:7]}[0-9a-f]{{6}}))[@:]", links,
                                                   flags=re.M)]
        found += [f"netns {n}" for n in netns if n == f"berth-{cid[:12]}"]
        found += [f"rule {line}" for line in rules.splitlines() if f"berth:{cid}" in line]
    for nid in network_ids:
        found += [f"bridge bn{nid[:12]}" for _ in re.findall(rf"^\d+: bn{nid[:12]}[@:]", links, flags=re.M)]
        found += [f"rule {line}" for line in rules.splitlines() if f"berth-net:{nid}" in line]
    return found


def lookup(berth, network: str, name: str) -> list[str]:
    """The addresses a container on `network` is told for `name` (busybox nslookup)."""
    out = berth.run("run", "--rm", "--network", network, "busybox", "nslookup", name, check=False).stdout.decode()
    return re.findall(r"^Address: (\d+\.\d+\.\d+\.\d+)$", out, flags=re.M)


def fetch(berth, network: str, address: str) -> str:
    out = berth.run("run", "--rm", "--network", network, "busybox", "sh", "-c",
                    f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} 80", check=False).stdout.decode()
    return out.rpartition("\r\n\r\n")[2]


@pytest.fixture
def clean_host(busybox):
    """The store; once the test's containers and networks are removed, nothing of them on the host."""
    yield busybox
    from berth.engine import Engine
    from container_helpers import teardown
    with Engine(busybox.root) as engine:
        containers = [c.id for c in engine.store.containers.list()]
        networks = [n.id for n in engine.store.networks.list()]
    assert not teardown(busybox)
    assert leftovers(containers, networks) == [], "berth left devices, namespaces or rules on the host"


def test_containers_find_each_other_by_name_and_alias(clean_host):
    berth = clean_host
    berth.run("network", "create", "app")
    web = berth.out("run", "-d", "--name", "web", "--network", "app", "--network-alias", "www", "busybox",
                    "sh", "-c", HTTPD).strip()
    address = inspect(berth, "web")["NetworkSettings"]["Networks"]["app"]["IPAddress"]
    assert lookup(berth, "app", "web") == [address] == lookup(berth, "app", "www") == lookup(berth, "app", web[:12])
    assert lookup(berth, "app", "WEB") == [address]  # DNS names are case-insensitive
    assert wait_for(lambda: fetch(berth, "app", address)) == f"hello-{web[:12]}\n"
    # names the network does not know are forwarded to the host's resolvers: no answer for ours here
    assert lookup(berth, "app", "no-such-container.invalid") == []
    # another network: the name is unknown and the address does not answer
    berth.run("network", "create", "other")
    assert lookup(berth, "other", "web") == []
    assert fetch(berth, "other", address) == ""
    assert fetch(berth, "bridge", address) == ""  # nor from the default bridge
    # a container of another network cannot ask app's name server at all
    out = berth.run("run", "--rm", "--network", "other", "busybox", "nslookup", "web",
                    inspect(berth, "web")["NetworkSettings"]["Networks"]["app"]["Gateway"], check=False)
    assert out.returncode != 0


def test_internal_network_has_no_way_out(clean_host):
    berth = clean_host
    berth.run("network", "create", "--internal", "inner")
    doc = berth.json("network", "inspect", "inner")[0]
    assert doc["Internal"] is True
    gateway = doc["IPAM"]["Config"][0]["Gateway"]
    out = berth.run("run", "--rm", "--network", "inner", "busybox", "sh", "-c",
                    "ip route; nc -w 2 10.90.0.1 9 </dev/null; echo rc=$?", check=False).stdout.decode()
    assert "default" not in out and "rc=1" in out
    # the name server on the gateway still answers
    berth.run("run", "-d", "--name", "in1", "--network", "inner", "busybox", "sleep", "300")
    assert lookup(berth, "inner", "in1") and gateway


def test_connect_and_disconnect_a_running_container(clean_host):
    berth = clean_host
    berth.run("network", "create", "app")
    berth.run("run", "-d", "--name", "c1", "busybox", "sleep", "300")  # on the default bridge
    berth.run("network", "connect", "--alias", "extra", "app", "c1")
    ips = berth.out("exec", "c1", "ip", "-4", "-o", "addr")
    address = inspect(berth, "c1")["NetworkSettings"]["Networks"]["app"]["IPAddress"]
    assert f"eth1    inet {address}/24" in re.sub(r" +", "    ", ips) or f"inet {address}/24" in ips
    assert lookup(berth, "app", "extra") == [address] == lookup(berth, "app", "c1")
    containers = berth.json("network", "inspect", "app")[0]["Containers"]
    assert [v["Name"] for v in containers.values()] == ["c1"]
    expect_error(berth, "network", "connect", "app", "c1", says="already exists")
    berth.run("network", "disconnect", "app", "c1")
    assert address not in berth.out("exec", "c1", "ip", "-4", "-o", "addr")
    assert lookup(berth, "app", "c1") == []
    expect_error(berth, "network", "disconnect", "app", "c1", says="not connected")
    # connect, disconnect and connect again: interface names are reused as they free up
    berth.run("network", "create", "two")
    berth.run("network", "connect", "two", "c1")
    berth.run("network", "connect", "app", "c1")
    berth.run("network", "disconnect", "two", "c1")
    berth.run("network", "connect", "two", "c1")
    assert sorted(re.findall(r"eth\d+", berth.out("exec", "c1", "ip", "-o", "link"))) == ["eth0", "eth1", "eth2"]
    assert berth.run("network", "disconnect", "-f", "app", "gone").returncode == 0


def test_network_commands_and_bad_input(clean_host):
    berth = clean_host
    assert [r["Name"] for r in berth.jsonlines("network", "ls", "--format", "json")] == ["bridge", "host", "none"]
    berth.run("network", "create", "--subnet", "10.93.7.0/24", "--gateway", "10.93.7.254", "--ip-range",
              "10.93.7.128/25", "--label", "team=a", "lab")
    doc = berth.json("network", "inspect", "lab")[0]
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.93.7.0/24", "Gateway": "10.93.7.254", "IPRange": "10.93.7.128/25"}]
    assert doc["Labels"] == {"team": "a"} and doc["Driver"] == "bridge" and not doc["Internal"]
    berth.run("run", "-d", "--name", "first", "--network", "lab", "busybox", "sleep", "300")
    assert inspect(berth, "first")["NetworkSettings"]["Networks"]["lab"]["IPAddress"] == "10.93.7.129"
    fixed = berth.out("run", "-d", "--network", "lab", "--ip", "10.93.7.10", "busybox", "sleep", "300").strip()
    assert inspect(berth, fixed)["NetworkSettings"]["Networks"]["lab"]["IPAddress"] == "10.93.7.10"
    assert berth.out("network", "ls", "-q", "--filter", "label=team=a") == doc["Id"][:12] + "\n"
    assert berth.out("network", "ls", "--filter", "type=custom", "--format", "{{.Name}}") == "lab\n"
    expect_error(berth, "network", "create", "lab", says="already exists")
    expect_error(berth, "network", "create", "--subnet", "10.93.7.0/25", "clash", says="overlaps")
    expect_error(berth, "network", "create", "--subnet", "10.93.8.0/24", "--gateway", "10.93.9.1", "gw",
                 says="gateway")
    expect_error(berth, "network", "create", "--subnet", "fd00:b5:ee::/64", "six", says="--ipv6")
    expect_error(berth, "network", "rm", "lab", says="active endpoints")
    expect_error(berth, "network", "rm", "bridge", says="pre-defined")
    expect_error(berth, "run", "--network", "lab", "--ip", "10.99.0.5", "busybox", "true", says="--ip")
    expect_error(berth, "run", "--network", "lab", "--ip", "10.93.7.10", "busybox", "true", says="in use")
    expect_error(berth, "run", "--network", "nosuch", "busybox", "true", says="not found")
    expect_error(berth, "run", "--network", "host", "--network", "lab", "busybox", "true", says="conflicting")
    assert not [n for n in berth.out("ps", "-aq").split()
                if n not in (inspect(berth, "first")["Id"][:12], fixed[:12])]  # no half-made container
    berth.run("rm", "-f", "first", fixed)
    assert berth.out("network", "prune", "-f") == "Deleted Networks:\nlab\n"


def test_addresses_are_unique_under_parallel_starts_and_kept_across_restarts(clean_host):
    berth = clean_host
    berth.run("network", "create", "--subnet", "10.94.0.0/27", "small")  # 29 addresses for containers
    with ThreadPoolExecutor(20) as pool:
        ids = list(pool.map(lambda i: berth.out("run", "-d", "--network", "small", "busybox", "sleep", "300").strip(),
                            range(20)))
    addresses = [inspect(berth, c)["NetworkSettings"]["Networks"]["small"]["IPAddress"] for c in ids]
    assert len(set(addresses)) == 20
    berth.run("restart", "-t", "0", ids[0])
    assert inspect(berth, ids[0])["NetworkSettings"]["Networks"]["small"]["IPAddress"] == addresses[0]
    for _ in range(9):
        berth.run("run", "-d", "--network", "small", "busybox", "sleep", "300")
    expect_error(berth, "run", "--network", "small", "busybox", "true", says="no free address")
    berth.run("rm", "-f", ids[1])  # its address is free again
    later = berth.out("run", "-d", "--network", "small", "busybox", "sleep", "300").strip()
    assert inspect(berth, later)["NetworkSettings"]["Networks"]["small"]["IPAddress"] == addresses[1]


def test_published_ports_on_a_user_network_and_publish_all(clean_host, tmp_path):
    berth = clean_host
    berth.run("network", "create", "app")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cid = berth.out("run", "-d", "--network", "app", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
                    HTTPD).strip()
    assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/")) == f"hello-{cid[:12]}\n"
    # -P: every EXPOSEd port of the image to a free host port
    (tmp_path / "Dockerfile").write_text("FROM busybox\nEXPOSE 80 8080/tcp\n")
    berth.run("build", "-q", "-t", "exposed", str(tmp_path))
    pub = berth.out("run", "-d", "-P", "--network", "app", "exposed", "sh", "-c", HTTPD).strip()
    ports = inspect(berth, pub)["NetworkSettings"]["Ports"]
    assert sorted(ports) == ["80/tcp", "8080/tcp"]
    assert wait_for(lambda: _get(f"http://127.0.0.1:{ports['80/tcp'][0]['HostPort']}/")) == f"hello-{pub[:12]}\n"


def _get(url: str) -> str:
    try:
        return urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return ""


def test_resolv_conf_hosts_and_domainname_flags(clean_host):
    berth = clean_host
    out = berth.out("run", "--rm", "--dns", "192.0.2.53", "--dns-search", "corp.example", "--dns-option", "ndots:2",
                    "--add-host", "db:192.0.2.7", "--add-host", "gw:host-gateway", "--hostname", "h1",
                    "--domainname", "example.org", "busybox", "sh", "-c",
                    "cat /etc/resolv.conf; echo --; cat /etc/hosts; echo --; hostname; cat /proc/sys/kernel/domainname")
    resolv, hosts, names = out.split("--\n")
    assert "nameserver 192.0.2.53\n" in resolv and "search corp.example\n" in resolv and "options ndots:2\n" in resolv
    assert resolv.count("nameserver") == 1
    assert "192.0.2.7\tdb\n" in hosts and "10.90.0.1\tgw\n" in hosts
    assert names == "h1\nexample.org\n"
    berth.run("network", "create", "app")
    resolv = berth.out("run", "--rm", "--network", "app", "busybox", "cat", "/etc/resolv.conf")
    gateway = berth.json("network", "inspect", "app")[0]["IPAM"]["Config"][0]["Gateway"]
    assert f"nameserver {gateway}\n" in resolv and "options ndots:0\n" in resolv


def test_network_container_mode_shares_the_namespace(clean_host):
    berth = clean_host
    berth.run("network", "create", "app")
    web = berth.out("run", "-d", "--name", "web", "--network", "app", "busybox", "sh", "-c", HTTPD).strip()
    out = berth.out("run", "--rm", "--network", "container:web", "busybox", "sh", "-c",
                    "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 80")
    assert out.endswith(f"hello-{web[:12]}\n")
    expect_error(berth, "run", "--network", "container:nosuch", "busybox", "true", says="No such container")


@pytest.mark.slow
def test_a_hundred_containers_on_one_network(clean_host):
    berth = clean_host
    berth.run("network", "create", "--subnet", "10.95.0.0/24", "crowd")
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: berth.out("run", "-d", "--name", f"n{i}", "--network", "crowd", "busybox",
                                                "sleep", "600").strip(), range(100)))
    doc = berth.json("network", "inspect", "crowd")[0]
    addresses = {v["Name"]: v["IPv4Address"].split("/")[0] for v in doc["Containers"].values()}
    assert len(addresses) == 100 and len(set(addresses.values())) == 100
    # each resolves another by name, from inside (one nslookup per container, in one exec each)
    for i in range(0, 100, 10):
        out = berth.out("exec", f"n{i}", "nslookup", f"n{(i + 37) % 100}")
        assert f"Address: {addresses[f'n{(i + 37) % 100}']}" in out
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: berth.run("rm", "-f", c), ids))
    assert json.loads(berth.out("network", "inspect", "crowd"))[0]["Containers"] == {}


def _kill_when(proc: subprocess.Popen, appeared, timeout: float = 20.0) -> bool:
    """SIGKILL `proc` as soon as appeared() is true; False if it ended first (nothing to interrupt)."""
    import time
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if appeared():
            proc.kill()
            proc.wait()
            return True
        assert time.monotonic() < deadline, "the start neither ended nor reached the point to kill at"
    return False


@pytest.mark.parametrize("point,then", [("namespace", "start"), ("veth", "rm"), ("published port", "start")])
def test_kill_9_mid_start_is_repaired_by_the_next_command(clean_host, point, then):
    """berth killed while it wires a container: the next start works, and rm leaves nothing behind."""
    from helpers import BERTH
    berth = clean_host
    berth.run("network", "create", "app")
    cid = berth.out("create", "--name", "k9", "--network", "app", "-p", "127.0.0.1::80", "busybox",
                    "sh", "-c", HTTPD).strip()
    marks = {
        "namespace": lambda: os.path.exists(f"/run/netns/berth-{cid[:12]}"),
        "veth": lambda: any(n.startswith(f"vn{cid[:7]}") for n in os.listdir("/sys/class/net")),
        "published port": lambda: f"berth:{cid}" in subprocess.run(["iptables-save", "-t", "nat"], capture_output=True,
                                                                     text=True).stdout,
    }
    start = subprocess.Popen(BERTH + ["--root", berth.root, "start", "k9"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _kill_when(start, marks[point])
    if then == "start":
        berth.run("start", "k9")
        address = inspect(berth, "k9")["NetworkSettings"]["Networks"]["app"]["IPAddress"]
        assert lookup(berth, "app", "k9") == [address]
        assert wait_for(lambda: fetch(berth, "app", address), what="httpd") == f"hello-{cid[:12]}\n"
    berth.run("rm", "-f", "k9")
    assert leftovers([cid], []) == []
