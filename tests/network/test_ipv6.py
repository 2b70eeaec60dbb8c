"""IPv6 on user-defined networks, with real containers: the network's two subnets, containers' IPv6
addresses (given with --ip6 or drawn by IPAM), their routes and /etc/hosts, AAAA answers of the
network's name server, a port published on the host's IPv6 addresses, isolation from other networks in ip6tables, and the host's ip6tables rules and
IPv6 addresses as they were once everything is removed.

busybox-static resolves no names through getaddrinfo: names are asked with its nslookup."""
from __future__ import annotations

import ipaddress
import re
import subprocess
import urllib.request

import pytest

from container_helpers import expect_error, inspect, teardown, wait_for

# berth's chains and the jumps to them stay once made, empty, as they do in iptables.
SKELETON = {":BERTH-FORWARD - [0:0]", "-A FORWARD -j BERTH-FORWARD", ":BERTH - [0:0]",
            "-A PREROUTING -m addrtype --dst-type LOCAL -j BERTH", "-A OUTPUT -m addrtype --dst-type LOCAL -j BERTH"}


def ip6tables_rules() -> set[str]:
    """The host's ip6tables rules and chains (counters and comments of the dump left out)."""
    out = subprocess.run(["ip6tables-save"], capture_output=True, text=True, check=True).stdout
    return {re.sub(r"\[\d+:\d+\]", "[0:0]", line) for line in out.splitlines() if not line.startswith("#")}


def global_ipv6_addresses() -> set[tuple[str, str]]:
    out = subprocess.run(["ip", "-6", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True,
                         check=True).stdout
    return {(line.split()[1], line.split()[3]) for line in out.splitlines()}


@pytest.fixture
def clean6(busybox):
    """The store; once the test's containers and networks are removed, the host's ip6tables rules and
    global IPv6 addresses are what they were before it."""
    rules, addresses = ip6tables_rules(), global_ipv6_addresses()
    yield busybox
    assert not teardown(busybox)
    assert ip6tables_rules() - SKELETON == rules - SKELETON, "berth left ip6tables rules on the host"
    assert global_ipv6_addresses() == addresses, "berth left IPv6 addresses on the host"


@pytest.fixture
def ipv6_forwarding():
    """The host forwards IPv6 while the test runs (as it was afterwards): without it no packet goes from
    one bridge to another anyway, and isolation would be untested."""
    path = "/proc/sys/net/ipv6/conf/all/forwarding"
    with open(path) as f:
        before = f.read().strip()
    with open(path, "w") as f:
        f.write("1")
    yield
    with open(path, "w") as f:
        f.write(before)


def http_get(url: str) -> str:
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=3) as response:
            return response.read().decode()
    except OSError:
        return ""


def run_in(berth, network: str, script: str) -> subprocess.CompletedProcess:
    return berth.run("run", "--rm", "--network", network, "busybox", "sh", "-c", script, check=False)


def aaaa(berth, network: str, name: str, server: str = "") -> list[str]:
    """The IPv6 addresses a container on `network` is told for `name` (busybox nslookup)."""
    out = run_in(berth, network, f"nslookup -type=AAAA {name} {server}").stdout.decode()
    return re.findall(r"^Address: ([0-9a-f:]+)$", out, flags=re.M)


def pings(berth, network: str, address: str) -> bool:
    return run_in(berth, network, f"ping6 -c1 -W2 {address}").returncode == 0


def test_containers_talk_over_ipv6_and_find_each_other_by_aaaa(clean6):
    berth = clean6
    nid = berth.out("network", "create", "--ipv6", "six").strip()
    doc = berth.json("network", "inspect", "six")[0]
    assert doc["EnableIPv6"] is True
    v4, v6 = doc["IPAM"]["Config"]
    subnet6 = ipaddress.IPv6Network(v6["Subnet"])
    assert ipaddress.IPv4Network(v4["Subnet"]) and subnet6.prefixlen == 64
    assert subnet6.subnet_of(ipaddress.IPv6Network("fd00:b5::/32")), "not from berth's ULA pool"
    assert v6["Gateway"] == str(subnet6.network_address + 1)
    bridge_addresses = subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", f"bn{nid[:12]}"],
                                      capture_output=True, text=True).stdout
    assert f"{v6['Gateway']}/64" in bridge_addresses
    assert berth.out("network", "ls", "--filter", "name=six", "--format", "{{.IPv6}}") == "true\n"

    web = berth.out("run", "-d", "--name", "web", "--network", "six", "--network-alias", "www", "-p", "80", "busybox",
                    "sh", "-c", "mkdir /www && echo hello6 > /www/index.html && exec httpd -f -p 80 -h /www").strip()
    settings = inspect(berth, "web")["NetworkSettings"]
    address6 = settings["Networks"]["six"]["GlobalIPv6Address"]
    assert settings["GlobalIPv6Address"] == address6 and ipaddress.IPv6Address(address6) in subnet6
    assert settings["Networks"]["six"]["IPv6Gateway"] == v6["Gateway"]
    assert settings["Networks"]["six"]["GlobalIPv6PrefixLen"] == 64
    member = berth.json("network", "inspect", "six")[0]["Containers"][web]
    assert member["IPv6Address"] == f"{address6}/64" and member["IPv4Address"].startswith(
        settings["Networks"]["six"]["IPAddress"] + "/")

    # inside: IPv6 on, the address on eth0, the default route via the gateway, /etc/hosts
    inside = berth.out("exec", "web", "sh", "-c", "cat /proc/sys/net/ipv6/conf/all/disable_ipv6; ip -6 addr show "
                       "dev eth0; ip -6 route; cat /etc/hosts")
    assert inside.startswith("0\n")
    assert f"inet6 {address6}/64" in inside
    assert re.search(rf"^default via {re.escape(v6['Gateway'])} dev eth0", inside, flags=re.M)
    assert re.search(rf"^{re.escape(address6)}\t{web[:12]}$", inside, flags=re.M)

    # another container on the network reaches it over IPv6, and by name through AAAA (asked of the
    # name server in resolv.conf, on the IPv4 gateway, and of the same server on the IPv6 gateway)
    assert wait_for(lambda: pings(berth, "six", address6), what="ping6 from a second container")
    assert aaaa(berth, "six", "web") == [address6] == aaaa(berth, "six", "www")
    assert aaaa(berth, "six", "web", v6["Gateway"]) == [address6]
    # A answers as before
    out = run_in(berth, "six", "nslookup -type=A web").stdout.decode()
    assert re.findall(r"^Address: (\d+\.\d+\.\d+\.\d+)$", out, flags=re.M) == [settings["Networks"]["six"]["IPAddress"]]
    # TCP over IPv6: busybox httpd answers a request from another container
    got = wait_for(lambda: run_in(berth, "six", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address6} 80")
                   .stdout.decode(), what="HTTP over IPv6")
    assert got.rpartition("\r\n\r\n")[2] == "hello6\n"
    # the published port answers on the host's IPv6 addresses too (the bridge's gateway is one)
    port = settings["Ports"]["80/tcp"][0]["HostPort"]
    assert wait_for(lambda: http_get(f"http://[{v6['Gateway']}]:{port}/"), what="the published port over IPv6") == "hello6\n"


def test_ip6_is_honoured_checked_and_freed_and_v6_subnets_do_not_overlap(clean6):
    berth = clean6
    berth.run("network", "create", "--ipv6", "--subnet", "10.95.3.0/24", "--subnet", "fd00:b5:7e57::/64",
              "--gateway", "fd00:b5:7e57::fe", "lab6")
    doc = berth.json("network", "inspect", "lab6")[0]
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.95.3.0/24", "Gateway": "10.95.3.1"},
                                     {"Subnet": "fd00:b5:7e57::/64", "Gateway": "fd00:b5:7e57::fe"}]
    fixed = berth.out("run", "-d", "--network", "lab6", "--ip6", "fd00:b5:7e57::42", "busybox", "sleep", "300").strip()
    networks = inspect(berth, fixed)["NetworkSettings"]["Networks"]["lab6"]
    assert networks["GlobalIPv6Address"] == "fd00:b5:7e57::42"
    assert networks["IPAMConfig"]["IPv6Address"] == "fd00:b5:7e57::42"
    assert "fd00:b5:7e57::42/64" in berth.out("exec", fixed, "ip", "-6", "addr", "show", "dev", "eth0")
    # IPAM hands out neither the gateway nor an address in use
    other = berth.out("run", "-d", "--network", "lab6", "busybox", "sleep", "300").strip()
    assert inspect(berth, other)["NetworkSettings"]["Networks"]["lab6"]["GlobalIPv6Address"] == "fd00:b5:7e57::1"

    expect_error(berth, "run", "--network", "lab6", "--ip6", "fd00:b5:7e58::5", "busybox", "true", says="--ip6")
    expect_error(berth, "run", "--network", "lab6", "--ip6", "fd00:b5:7e57::fe", "busybox", "true", says="--ip6")
    expect_error(berth, "run", "--network", "lab6", "--ip6", "10.95.3.9", "busybox", "true", says="--ip6")
    expect_error(berth, "run", "--network", "lab6", "--ip6", "fd00:b5:7e57::42", "busybox", "true", says="in use")
    expect_error(berth, "run", "--ip6", "fd00:b5:7e57::43", "busybox", "true", says="--ip6")
    berth.run("network", "create", "plain4")
    expect_error(berth, "run", "--network", "plain4", "--ip6", "fd00:b5:7e57::43", "busybox", "true",
                 says="no IPv6")
    expect_error(berth, "network", "create", "--ipv6", "--subnet", "fd00:b5:7e57:0:8000::/80", "clash",
                 says="overlaps")
    expect_error(berth, "network", "create", "--ipv6", "--subnet", "fd00:b5:7e00::/40", "clash", says="overlaps")
    expect_error(berth, "network", "create", "--subnet", "fd00:b5:7e59::/64", "clash", says="--ipv6")
    expect_error(berth, "network", "create", "--ipv6", "--subnet", "fd00:b5:7e5a::/64", "--subnet",
                 "fd00:b5:7e5b::/64", "clash", says="at most one")
    expect_error(berth, "network", "create", "--ipv6", "--subnet", "fe80::/64", "clash", says="subnet")
    assert "clash" not in berth.out("network", "ls", "--format", "{{.Name}}").split()

    # rm frees the address: the next container may have it
    berth.run("rm", "-f", fixed)
    again = berth.out("run", "-d", "--network", "lab6", "--ip6", "fd00:b5:7e57::42", "busybox", "sleep", "300").strip()
    assert inspect(berth, again)["NetworkSettings"]["Networks"]["lab6"]["GlobalIPv6Address"] == "fd00:b5:7e57::42"


def test_another_network_cannot_reach_it_over_ipv6(clean6, ipv6_forwarding):
    berth = clean6
    berth.run("network", "create", "--ipv6", "--subnet", "fd00:b5:7e60::/64", "inner")
    berth.run("network", "create", "--ipv6", "--subnet", "fd00:b5:7e61::/64", "outer")
    berth.run("run", "-d", "--name", "target", "--network", "inner", "busybox", "sleep", "300")
    target = inspect(berth, "target")["NetworkSettings"]["Networks"]["inner"]["GlobalIPv6Address"]
    # the same network reaches it; the host routes to both bridges and forwards IPv6 now, so only
    # berth's ip6tables rules keep the other network out
    assert wait_for(lambda: pings(berth, "inner", target), what="ping6 on the same network")
    assert not pings(berth, "outer", target)
    assert aaaa(berth, "outer", "target") == []
    # an internal IPv6 network: no default route, no masquerade, and the other networks stay out of reach
    closed = berth.out("network", "create", "--internal", "--ipv6", "--subnet", "fd00:b5:7e62::/64", "closed").strip()
    out = run_in(berth, "closed", "ip -6 route; ping6 -c1 -W2 fd00:b5:7e60::1 >/dev/null; echo rc=$?").stdout.decode()
    assert "default" not in out and "fd00:b5:7e62::/64 dev eth0" in out and "rc=1" in out
    assert not pings(berth, "closed", target)
    nat = subprocess.run(["ip6tables", "-t", "nat", "-S", "POSTROUTING"], capture_output=True, text=True).stdout
    assert f"berth-net:{closed}" not in nat and "fd00:b5:7e60::/64" in nat
