"""A service's rules: a host port spread over the addresses of its running and Ready backends (see
NetworkService's `unready`), as kube-proxy's iptables mode spreads a NodePort.

Each service has a nat chain BERTH-SVC-<12 hex> (of its store's root and its name: two stores may use
one name). The nat chain BERTH, which sees connections to the host's own addresses from outside
(PREROUTING) and from the host itself (OUTPUT, 127.0.0.1 included, as published ports), jumps to it
for each host port; there one DNAT rule per backend picks it at random, per connection: the first
with probability 1/n, the next 1/(n-1), ..., the last without a condition. The whole chain is written
again, flush and rules in one iptables-restore, whenever a backend is attached or detached or its
readiness changes.
With no backend the chain is empty and the connection reaches the host itself, where a REJECT rule
in filter INPUT (first, tagged like the jumps) refuses it at once rather than let a firewall drop it;
a connection that was DNATed never passes INPUT, so the rule stays while the service does.
Every jump and REJECT rule carries `berth-svc:<12 hex>` as its comment, which is how they are removed.
"""
from __future__ import annotations

import hashlib

from berth.errors import InvalidArgument
from berth.network import bridge
from berth.record import Record
from berth.runtime import process

CHAIN_PREFIX = "BERTH-SVC-"


class ServicePort(Record):
    name: str
    protocol: str       # tcp | udp
    host_port: int
    target_port: int


def checked_ports(ports) -> list[ServicePort]:
    """The service's ports as ServicePorts, checked: known protocols, ports 1-65535, each
    (protocol, host port) once."""
    out, seen = [], set()
    for p in ports:
        if isinstance(p, dict):
            p = ServicePort(**p)
        if not isinstance(p, ServicePort):
            raise InvalidArgument(f"invalid service port {p!r}: a ServicePort is needed")
        if p.protocol not in ("tcp", "udp"):
            raise InvalidArgument(f"invalid service port {p.name!r}: protocol {p.protocol!r} is not tcp or udp")
        for what, value in (("host port", p.host_port), ("target port", p.target_port)):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 65535:
                raise InvalidArgument(f"invalid service port {p.name!r}: {what} {value!r} is not 1-65535")
        if (p.protocol, p.host_port) in seen:
            raise InvalidArgument(f"invalid service ports: {p.host_port}/{p.protocol} is given twice")
        seen.add((p.protocol, p.host_port))
        out.append(ServicePort(str(p.name), p.protocol, p.host_port, p.target_port))
    if not out:
        raise InvalidArgument("a service needs at least one port")
    return out


def chain_name(root: str, name: str) -> str:
    """BERTH-SVC- and 12 hex digits: 22 characters (iptables allows 28)."""
    return CHAIN_PREFIX + hashlib.sha256(f"{root}\0{name}".encode()).hexdigest()[:12]


def _tag(chain: str) -> str:
    return f"berth-svc:{chain[len(CHAIN_PREFIX):]}"


def chain_exists(chain: str) -> bool:
    if not chain.startswith(CHAIN_PREFIX):
        return False
    return process.run([bridge._tool("iptables"), "-w", "-t", "nat", "-L", chain, "-n"]).returncode == 0


def _chain_rules(chain: str, ports: list[ServicePort], addresses: list[str]) -> str:
    """The chain, flushed (a declared chain is, with --noflush), and its DNAT rules."""
    lines = [f":{chain} - [0:0]"]
    n = len(addresses)
    for p in ports:
        for i, address in enumerate(addresses):
            left = n - i
            chance = f" -m statistic --mode random --probability {1 / left:.10f}" if left > 1 else ""
            lines.append(f"-A {chain} -p {p.protocol} --dport {p.host_port}{chance} "
                         f"-j DNAT --to-destination {address}:{p.target_port}")
    return "".join(line + "\n" for line in lines)


def install(chain: str, ports: list[ServicePort], addresses: list[str]) -> None:
    """The chain, its rules, the jumps to it and the REJECT rules: one iptables-restore."""
    bridge.ensure_nat_chain()
    tag = _tag(chain)
    jumps = "".join(f"-A {bridge.CHAIN} -p {p.protocol} --dport {p.host_port} -m comment --comment {tag} -j {chain}\n"
                    for p in ports)
    rejects = "".join(f"-I INPUT 1 -p {p.protocol} --dport {p.host_port} -m comment --comment {tag} -j REJECT "
                      f"--reject-with {'tcp-reset' if p.protocol == 'tcp' else 'icmp-port-unreachable'}\n"
                      for p in ports)
    bridge._run(bridge._tool("iptables-restore"), "-w", "--noflush",
                commands=f"*nat\n{_chain_rules(chain, ports, addresses)}{jumps}COMMIT\n*filter\n{rejects}COMMIT\n")


def rebuild(chain: str, ports: list[ServicePort], addresses: list[str]) -> None:
    """The chain's rules for the backends there are now: flush and rules in one iptables-restore."""
    bridge._run(bridge._tool("iptables-restore"), "-w", "--noflush",
                commands=f"*nat\n{_chain_rules(chain, ports, addresses)}COMMIT\n")


def uninstall(chain: str) -> None:
    """The jumps, the REJECT rules, then the chain (safe to call again, or for a half-made service)."""
    bridge._delete_tagged_rules(_tag(chain), ("nat", "filter"))
    if chain_exists(chain):
        bridge._run(bridge._tool("iptables-restore"), "-w", "--noflush",
                    commands=f"*nat\n-F {chain}\n-X {chain}\nCOMMIT\n")
