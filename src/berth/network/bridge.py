"""--network bridge: a host bridge, a network namespace and an address per container, NAT out and
published ports in (docker's default network, done as docker does it with iptables).

- berth0, 10.90.0.0/16 (docker has 172.17/16, podman 10.88/16 and 10.89.x/24): one bridge for the
  host, shared by every store, made on first use;
- each container gets a named network namespace (`ip netns`, so that runc joins it by path and it
  exists before the container starts), a veth pair (eth0 inside, on berth0 outside) and a lease:
  a file per address under /run/berth/ipam, created with O_EXCL, so concurrent starts never share
  an address and a reboot frees them all, as it frees the namespaces;
- traffic out is masqueraded; `-p` ports are DNAT rules in the nat chain BERTH, reached from
  PREROUTING and OUTPUT for local addresses, 127.0.0.1 included (route_localnet on berth0 plus a
  masquerade of loopback sources, as docker without its userland proxy). Each rule carries the
  container's ID as a comment, which is how they are found and removed.
"""
from __future__ import annotations

import os

from berth.errors import NetworkError
from berth.record import Record
from berth.runtime import process

BRIDGE = "berth0"
SUBNET, PREFIX = "10.90.0.0/16", 16  # strings: `ipaddress` costs an import on every `berth run`
GATEWAY = "10.90.0.1"
LEASES = "/run/berth/ipam"
READY = "/run/berth/bridge-ready"  # the ifindex of the berth0 that set-up last completed for
CHAIN = "BERTH"


class PortMapping(Record):
    host_ip: str        # "" for every address
    host_port: int
    container_port: int
    protocol: str       # tcp | udp


class Attachment(Record):
    netns: str          # the namespace's path, for the runtime
    address: str
    gateway: str
    prefix: int         # of the subnet
    address6: str = ""  # on an IPv6 network
    gateway6: str = ""
    prefix6: int = 0


def _run(*argv: str, commands: str | None = None) -> str:
    """Run a tool; `commands` (for `ip -batch FILE`, `iptables-restore FILE`) go through a pipe that
    the tool reads as /dev/fd/N: FILE is the last argument."""
    fds: tuple = ()
    if commands is not None:
        r, w = os.pipe()  # the commands are far smaller than a pipe's buffer
        os.write(w, commands.encode())
        os.close(w)
        fds, argv = (r,), (*argv, f"/dev/fd/{r}")
    try:
        proc = process.run(list(argv), pass_fds=fds)
    finally:
        for fd in fds:
            os.close(fd)
    if proc.returncode != 0:
        raise NetworkError(f"{os.path.basename(argv[0])} {' '.join(argv[1:3])}: {proc.stderr.strip() or 'failed'}")
    return proc.stdout


def _tool(name: str) -> str:
    from berth.runtime.oci import which
    path = which(name) or next((p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None)
    if not path:
        raise NetworkError(f"--network bridge needs {name} (apt-get install iproute2 iptables)")
    return path


def _iptables_rule(table: str, rule: str, tool: str = "iptables") -> None:
    """Append `rule` unless it is there (-C), so that set-up can run again after a reboot or a flush."""
    ipt = _tool(tool)
    args = rule.split()
    if process.run([ipt, "-w", "-t", table, "-C", *args]).returncode != 0:
        _run(ipt, "-w", "-t", table, "-A" if args[0] != "FORWARD" else "-I", *args)


def _ready_for() -> str:
    """The ifindex of berth0 if set-up completed for this very bridge (not one made again since)."""
    try:
        with open(f"/sys/class/net/{BRIDGE}/ifindex") as f, open(READY) as g:
            index = f.read().strip()
            return index if g.read() == index else ""
    except FileNotFoundError:
        return ""


def ensure_bridge() -> None:
    """The bridge, forwarding and the NAT rules: made once per boot (a marker in /run says so, for the
    bridge it was made for), under a host-wide lock."""
    if _ready_for():
        return
    from berth.store import fsutil
    os.makedirs(LEASES, mode=0o700, exist_ok=True)
    with fsutil.flock(os.path.join(os.path.dirname(LEASES), "network.lock")):
        if _ready_for():
            return
        ip = _tool("ip")
        if not os.path.exists(f"/sys/class/net/{BRIDGE}"):
            import ipaddress
            for line in _run(ip, "-4", "route", "show").splitlines():
                dest = line.split()[0]
                if dest != "default" and ipaddress.IPv4Network(dest, strict=False).overlaps(
                        ipaddress.IPv4Network(SUBNET)):
                    raise NetworkError(f"cannot create {BRIDGE}: {SUBNET} overlaps the route {line.strip()!r}")
            _run(ip, "-batch", commands=f"link add {BRIDGE} type bridge\n"
                                        f"addr add {GATEWAY}/{PREFIX} dev {BRIDGE}\n"
                                        f"link set {BRIDGE} up\n")
        for path in ("/proc/sys/net/ipv4/ip_forward", f"/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet"):
            with open(path, "w") as f:
                f.write("1")
        ipt = _tool("iptables")
        if process.run([ipt, "-w", "-t", "nat", "-L", CHAIN, "-n"]).returncode != 0:
            _run(ipt, "-w", "-t", "nat", "-N", CHAIN)
        for table, rule in (
                ("nat", f"POSTROUTING -s {SUBNET} ! -o {BRIDGE} -j MASQUERADE"),
                ("nat", f"POSTROUTING -s 127.0.0.0/8 -o {BRIDGE} -j MASQUERADE"),
                ("nat", f"PREROUTING -m addrtype --dst-type LOCAL -j {CHAIN}"),
                ("nat", f"OUTPUT -m addrtype --dst-type LOCAL -j {CHAIN}"),
                ("filter", f"FORWARD -i {BRIDGE} -j ACCEPT"),  # before a DROP policy (docker sets one)
                ("filter", f"FORWARD -o {BRIDGE} -j ACCEPT")):
            _iptables_rule(table, rule)
        with open(f"/sys/class/net/{BRIDGE}/ifindex") as f:
            fsutil.atomic_write(READY, f.read().strip().encode())


FORWARD_CHAIN = "BERTH-FORWARD"  # filter rules for user networks, jumped to first from FORWARD
USER_PREFIX = "bn"  # user networks' bridges: bn + 12 hex digits of the network's ID


def create_network_bridge(network) -> None:
    """A user network's bridge, its address, forwarding, isolation from every other berth network
    (and no way out when internal), NAT out and published ports in, as docker's bridge driver does.
    Each rule carries the network's ID as a comment, which is how they are found and removed.
    An IPv6 network gets the same isolation in ip6tables and a NAT66 masquerade; berth does not turn
    on the host's IPv6 forwarding (a host that forwards stops taking router advertisements, and so
    may lose its own IPv6 route): its containers reach out over IPv6 only where the host forwards."""
    from berth.store import fsutil
    os.makedirs(LEASES, mode=0o700, exist_ok=True)
    ip, ipt = _tool("ip"), _tool("iptables")
    name, prefix = network.bridge, network.subnet.split("/")[1]
    with fsutil.flock(os.path.join(os.path.dirname(LEASES), "network.lock")):
        if not os.path.exists(f"/sys/class/net/{name}"):
            _run(ip, "-batch", commands=f"link add {name} type bridge\naddr add {network.gateway}/{prefix} dev {name}\n"
                                        f"link set {name} up\n")
        for path in ("/proc/sys/net/ipv4/ip_forward", f"/proc/sys/net/ipv4/conf/{name}/route_localnet"):
            with open(path, "w") as f:
                f.write("1")
        for table, chain in (("nat", CHAIN), ("filter", FORWARD_CHAIN)):
            if process.run([ipt, "-w", "-t", table, "-L", chain, "-n"]).returncode != 0:
                _run(ipt, "-w", "-t", table, "-N", chain)
        if process.run([ipt, "-w", "-C", "FORWARD", "-j", FORWARD_CHAIN]).returncode != 0:
            _run(ipt, "-w", "-I", "FORWARD", "1", "-j", FORWARD_CHAIN)
        for table, rule in (("nat", f"PREROUTING -m addrtype --dst-type LOCAL -j {CHAIN}"),
                            ("nat", f"OUTPUT -m addrtype --dst-type LOCAL -j {CHAIN}")):
            _iptables_rule(table, rule)
        if network.subnet6:
            _setup_ipv6(network)
        tag = f"-m comment --comment berth-net:{network.id}"
        rules = [f"-A {FORWARD_CHAIN} -i {name} -o {name} {tag} -j ACCEPT",
                 f"-A {FORWARD_CHAIN} -i {name} -o {USER_PREFIX}+ {tag} -j DROP",
                 f"-A {FORWARD_CHAIN} -i {name} -o {BRIDGE} {tag} -j DROP",
                 f"-A {FORWARD_CHAIN} -i {BRIDGE} -o {name} {tag} -j DROP"]
        if network.internal:
            rules += [f"-A {FORWARD_CHAIN} -i {name} {tag} -j DROP", f"-A {FORWARD_CHAIN} -o {name} {tag} -j DROP"]
        else:
            rules += [f"-A {FORWARD_CHAIN} -i {name} {tag} -j ACCEPT",
                      f"-A {FORWARD_CHAIN} -o {name} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT {tag} -j ACCEPT"]
        nat = [f"-A POSTROUTING -s 127.0.0.0/8 -o {name} {tag} -j MASQUERADE"]
        if not network.internal:
            nat.append(f"-A POSTROUTING -s {network.subnet} ! -o {name} {tag} -j MASQUERADE")
        _remove_rules(network.id, bool(network.subnet6))  # a half-made network of a crashed create
        _run(_tool("iptables-restore"), "-w", "--noflush",
             commands="*filter\n" + "".join(r + "\n" for r in rules) + "COMMIT\n*nat\n"
                      + "".join(r + "\n" for r in nat) + "COMMIT\n")
        if network.subnet6:
            nat6 = [] if network.internal else [f"-A POSTROUTING -s {network.subnet6} ! -o {name} {tag} -j MASQUERADE"]
            _run(_tool("ip6tables-restore"), "-w", "--noflush",
                 commands="*filter\n" + "".join(r + "\n" for r in rules) + "COMMIT\n*nat\n"
                          + "".join(r + "\n" for r in nat6) + "COMMIT\n")


def _setup_ipv6(network) -> None:
    """The bridge's IPv6 gateway address (no duplicate address detection: IPAM made it unique, and a
    tentative address could not be bound by the name server), ip6tables' filter chain, jumped to first
    from FORWARD, and its nat chain for published ports, as for IPv4."""
    name = network.bridge
    with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
        f.write("0")
    _run(_tool("ip"), "addr", "replace", f"{network.gateway6}/{network.subnet6.split('/')[1]}", "dev", name, "nodad")
    ipt6 = _tool("ip6tables")
    if process.run([ipt6, "-w", "-t", "filter", "-L", FORWARD_CHAIN, "-n"]).returncode != 0:
        _run(ipt6, "-w", "-t", "filter", "-N", FORWARD_CHAIN)
    if process.run([ipt6, "-w", "-C", "FORWARD", "-j", FORWARD_CHAIN]).returncode != 0:
        _run(ipt6, "-w", "-I", "FORWARD", "1", "-j", FORWARD_CHAIN)
    if process.run([ipt6, "-w", "-t", "nat", "-L", CHAIN, "-n"]).returncode != 0:
        _run(ipt6, "-w", "-t", "nat", "-N", CHAIN)
    for rule in (f"PREROUTING -m addrtype --dst-type LOCAL -j {CHAIN}", f"OUTPUT -m addrtype --dst-type LOCAL -j {CHAIN}"):
        _iptables_rule("nat", rule, "ip6tables")


def delete_network_bridge(network) -> None:
    """Undo create_network_bridge: its rules and the bridge (berth deletes only what it made). Both
    wait on the kernel (an RCU grace period each, ~30 ms for the link): the link goes meanwhile."""
    link = None
    if os.path.exists(f"/sys/class/net/{network.bridge}"):
        link = process.spawn([_tool("ip"), "link", "delete", network.bridge], capture=False)
    try:
        _remove_rules(network.id, bool(network.subnet6))
    finally:
        if link is not None:
            pid, _, err = link
            message = process.read_all(err)[0].decode(errors="replace").strip()
            if process.wait(pid) != 0 and os.path.exists(f"/sys/class/net/{network.bridge}"):
                raise NetworkError(f"ip link delete {network.bridge}: {message or 'failed'}")


def _remove_rules(network_id: str, ipv6: bool = False) -> None:
    """The network's rules (ip6tables' too for an IPv6 network), found by their comment."""
    for family in ("ip", "ip6") if ipv6 else ("ip",):
        _delete_tagged_rules(f"berth-net:{network_id}", ("filter", "nat"), family)


def _delete_tagged_rules(tag: str, tables: tuple[str, ...], family: str = "ip") -> None:
    """Delete every rule whose comment is `tag` (family ip: iptables, ip6: ip6tables): one save to
    find them, one restore to delete them all (a process per rule cost ~10 ms each)."""
    import shlex
    try:
        save = _tool(f"{family}tables-save")
    except NetworkError:
        if family == "ip":
            raise
        return  # no ip6tables on this host: no IPv6 rules either
    deletions: dict[str, list[str]] = {}
    for table in tables:
        listed = process.run([save, "-t", table])
        for line in listed.stdout.splitlines() if listed.returncode == 0 else ():
            if line.startswith("-A ") and tag in line and tag in shlex.split(line):
                deletions.setdefault(table, []).append("-D" + line[2:])
    if deletions:
        _run(_tool(f"{family}tables-restore"), "-w", "--noflush", commands="".join(
            f"*{table}\n" + "".join(rule + "\n" for rule in rules) + "COMMIT\n" for table, rules in deletions.items()))


def _addresses():
    """The subnet's host addresses after the gateway, in order."""
    a, b, _, _ = (int(x) for x in SUBNET.split("/")[0].split("."))
    for n in range(2, (1 << (32 - PREFIX)) - 1):
        yield f"{a}.{b}.{n >> 8}.{n & 255}"


def _lease(cid: str) -> str:
    for address in _addresses():
        try:
            fd = os.open(os.path.join(LEASES, str(address)), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(cid)
        return str(address)
    raise NetworkError(f"no free address left in {SUBNET}")


def _names(cid: str) -> tuple[str, str]:
    """(namespace name, host-side veth name): interface names stop at 15 characters."""
    return f"berth-{cid[:12]}", f"vb{cid[:12]}"


def namespace(cid: str) -> str:
    """The path of the container's network namespace (there while it is attached)."""
    return f"/run/netns/{_names(cid)[0]}"


class Interface(Record):
    """One of a container's network interfaces: a veth from `bridge` into the container's namespace."""
    bridge: str
    address: str
    prefix: int
    gateway: str
    route: bool = False     # the default route goes through this one's gateway
    host_name: str = ""     # the veth's host end ("" for a network's own naming)
    address6: str = ""      # on an IPv6 network: the address, its prefix length and the gateway
    prefix6: int = 0
    gateway6: str = ""


def user_veth(cid: str, network_id: str) -> str:
    """The host end of a container's veth on a user network (15 characters at most)."""
    return f"vn{cid[:7]}{network_id[:6]}"


def attach(cid: str, ports: list[PortMapping] = (), interfaces: list[Interface] | None = None) -> Attachment:
    """A namespace wired to bridges, with addresses and the published ports, for container `cid`.
    Without `interfaces`: one on the default bridge berth0, its address leased here."""
    ip = _tool("ip")
    netns, veth = _names(cid)
    if os.path.exists(namespace(cid)):  # what a crashed start left behind: its veths go first, and
        # by name, since the kernel removes those of a deleted namespace only later (a veth of the
        # same name made now would find the old one still there)
        detach(cid, published=bool(ports), veths=_host_ends(netns))
    address = None
    if interfaces is None:
        ensure_bridge()
        address = _lease(cid)
        interfaces = [Interface(BRIDGE, address, PREFIX, GATEWAY, True, veth)]
    try:
        _run(ip, "-batch", commands=f"netns add {netns}\n" + "".join(
            _host_side(iface, netns, index) for index, iface in enumerate(interfaces)))
        if any(iface.address6 for iface in interfaces):
            _enable_ipv6(netns)
        _run(ip, "-netns", netns, "-batch", commands="link set lo up\n" + "".join(
            _inside(iface, index) for index, iface in enumerate(interfaces)))
        if ports and interfaces:
            to = interfaces[0].address
            rules = "".join(f"-A {CHAIN} -p {p.protocol}{f' -d {p.host_ip}' if p.host_ip else ''} --dport {p.host_port}"
                            f" -m comment --comment berth:{cid} -j DNAT --to-destination {to}:{p.container_port}\n"
                            for p in ports)
            _run(_tool("iptables-restore"), "-w", "--noflush", commands=f"*nat\n{rules}COMMIT\n")
            # on an IPv6 network the ports published on every address are on the host's IPv6 ones too
            # (not on ::1: IPv6 has no route_localnet)
            rules6 = "".join(f"-A {CHAIN} -p {p.protocol} --dport {p.host_port} -m comment --comment berth:{cid} "
                             f"-j DNAT --to-destination [{interfaces[0].address6}]:{p.container_port}\n"
                             for p in ports if not p.host_ip) if interfaces[0].address6 else ""
            if rules6:
                _run(_tool("ip6tables-restore"), "-w", "--noflush", commands=f"*nat\n{rules6}COMMIT\n")
    except BaseException:
        detach(cid, address, veths=[i.host_name for i in interfaces], leased=address is not None)
        raise
    first = interfaces[0] if interfaces else Interface("", "", 0, "")
    return Attachment(namespace(cid), first.address, first.gateway, first.prefix, first.address6, first.gateway6,
                      first.prefix6)


def _enable_ipv6(netns: str) -> None:
    """IPv6 on in the container's namespace (a new namespace may start with it off, as the host's
    default says): before its interfaces get their IPv6 addresses."""
    _run(_tool("ip"), "netns", "exec", netns, _tool("sysctl"), "-q", "-w", "net.ipv6.conf.all.disable_ipv6=0",
         "net.ipv6.conf.default.disable_ipv6=0")


def _host_ends(netns: str) -> list[str]:
    """The host-side names of the veths whose other end is in namespace `netns`."""
    import re
    listed = process.run([_tool("ip"), "-netns", netns, "-o", "link"])
    indexes = set(re.findall(r"@if(\d+):", listed.stdout)) if listed.returncode == 0 else set()
    names = []
    for name in os.listdir("/sys/class/net"):
        try:
            with open(f"/sys/class/net/{name}/ifindex") as f:
                if f.read().strip() in indexes:
                    names.append(name)
        except OSError:
            pass
    return names


def add_interface(cid: str, iface: Interface, index: int | None = None) -> None:
    """A veth from the bridge into the container's (existing) namespace, as eth<index> (by default
    the first name free in it, for `network connect`)."""
    ip, netns = _tool("ip"), _names(cid)[0]
    if index is None:
        import re
        taken = {int(n) for n in re.findall(r"^\d+: eth(\d+)[@:]", _run(ip, "-netns", netns, "-o", "link"), re.M)}
        index = next(i for i in range(len(taken) + 1) if i not in taken)
    _run(ip, "-batch", commands=_host_side(iface, netns, index))
    if iface.address6:
        _enable_ipv6(netns)
    _run(ip, "-netns", netns, "-batch", commands=_inside(iface, index))


def mac_address(address: str) -> str:
    """The container side's MAC, derived from its IPv4 address as docker derives it (02:42 and the
    address's four bytes): an address handed out again comes with the same MAC, so the host's
    neighbour cache never sends a new container's traffic to the MAC of the one before it."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in address.split("."))


def _host_side(iface: Interface, netns: str, index: int) -> str:
    return (f"link add {iface.host_name} type veth peer name eth{index} address {mac_address(iface.address)} "
            f"netns {netns}\n"
            f"link set {iface.host_name} master {iface.bridge} up\n")


def _inside(iface: Interface, index: int) -> str:
    commands = f"addr add {iface.address}/{iface.prefix} dev eth{index}\nlink set eth{index} up\n"
    if iface.address6:  # nodad: IPAM made it unique, and a tentative address would not answer for a second
        commands += f"addr add {iface.address6}/{iface.prefix6} dev eth{index} nodad\n"
    commands += f"route add default via {iface.gateway}\n" if iface.route else ""
    return commands + (f"route add ::/0 via {iface.gateway6} dev eth{index}\n" if iface.route and iface.address6
                       else "")


def remove_interface(host_name: str) -> None:
    """Delete a veth by its host end (its peer in the container goes with it)."""
    if os.path.exists(f"/sys/class/net/{host_name}"):
        process.run([_tool("ip"), "link", "delete", host_name])


def detach(cid: str, address: str | None = None, published: bool = True, veths=(), leased: bool = True,
           published6: bool = True) -> None:
    """Undo attach: ports, namespace (its veths go with it), berth0's lease. Safe to call twice.
    `address`: the lease, when known (else every lease is looked at); published=False: no port rules
    to look for, published6=False: none in ip6tables (the container has no IPv6 address); `veths`:
    host ends to delete if the namespace failed half-way; leased=False: the container had no
    address on berth0."""
    if published:
        _delete_tagged_rules(f"berth:{cid}", ("nat",))
        if published6:
            _delete_tagged_rules(f"berth:{cid}", ("nat",), "ip6")
    path, veth = namespace(cid), _names(cid)[1]
    if os.path.exists(path):  # what `ip netns delete` does, without starting it
        from berth.runtime.rootfs import unmount
        unmount(path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    for name in (veth, *veths):
        remove_interface(name)
    if not leased:
        return
    try:
        names = [address] if address else os.listdir(LEASES)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(LEASES, name)
        try:
            with open(path) as f:
                if f.read() == cid:
                    os.unlink(path)
        except FileNotFoundError:
            pass


def parse_publish(text: str) -> list[PortMapping]:
    """docker's -p: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO], ports or equal-length ranges (a-b);
    without a host port, a free one (the kernel's pick, as docker's)."""
    from berth.errors import InvalidOption
    spec, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise InvalidOption(f"invalid publish {text!r}: protocol {proto!r} is not tcp or udp")
    parts = spec.rsplit(":", 2)
    host_ip = parts[0] if len(parts) == 3 else ""
    if host_ip:
        import ipaddress
        try:
            ipaddress.IPv4Address(host_ip)
        except ValueError:
            raise InvalidOption(f"invalid publish {text!r}: {host_ip!r} is not an IPv4 address") from None
    containers = _port_range(parts[-1], text)
    hosts = _port_range(parts[-2], text) if len(parts) > 1 and parts[-2] else [_free_port(proto) for _ in containers]
    if len(hosts) != len(containers):
        raise InvalidOption(f"invalid publish {text!r}: the host and container port ranges differ in length")
    return [PortMapping(host_ip, h, c, proto) for h, c in zip(hosts, containers)]


def _port_range(text: str, whole: str) -> list[int]:
    from berth.errors import InvalidOption
    first, _, last = text.partition("-")
    try:
        lo, hi = int(first), int(last or first)
    except ValueError:
        raise InvalidOption(f"invalid publish {whole!r}: {text!r} is not a port or a range") from None
    if not 0 < lo <= hi <= 65535:
        raise InvalidOption(f"invalid publish {whole!r}: ports are 1-65535")
    return list(range(lo, hi + 1))


def _free_port(proto: str) -> int:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]
