"""Address management for user networks: which subnet a new network gets, and which addresses a
container on it may get. Pure reckoning with `ipaddress`; the store hands the addresses out."""
from __future__ import annotations

import ipaddress

from berth.errors import InvalidArgument, NetworkError

POOL = ipaddress.IPv4Network("10.91.0.0/16")  # cut into /24s; berth0 has 10.90.0.0/16
POOL_PREFIX = 24


def _network(text: str, what: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as e:
        if ":" in text:
            raise InvalidArgument(f"invalid {what} {text!r}: IPv6 networks are not supported") from None
        raise InvalidArgument(f"invalid {what} {text!r}: {e}") from None


def _address(text: str, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what} {text!r}: not an IPv4 address") from None


def plan(subnet: str | None, gateway: str | None, ip_range: str | None, in_use: list[str]) -> tuple[str, str, str]:
    """(subnet, gateway, ip_range) for a new network; `in_use`: CIDRs the host routes already (other
    bridges, berth's included, and the host's own networks), which the subnet may not overlap."""
    taken = [ipaddress.IPv4Network(n, strict=False) for n in in_use]
    if subnet:
        net = _network(subnet, "subnet")
        if net.prefixlen > 30:
            raise InvalidArgument(f"invalid subnet {subnet!r}: it leaves no room for containers")
        clash = next((t for t in taken if t.overlaps(net)), None)
        if clash is not None:
            raise NetworkError(f"invalid pool request: pool {net} overlaps with {clash}, already in use on this host")
    else:
        if gateway or ip_range:
            raise InvalidArgument("--gateway and --ip-range need --subnet")
        net = next((n for n in POOL.subnets(new_prefix=POOL_PREFIX) if not any(t.overlaps(n) for t in taken)), None)
        if net is None:
            raise NetworkError(f"no free subnet left in {POOL} for a new network: give one with --subnet")
    gw = _address(gateway, "gateway") if gateway else next(net.hosts())
    if gw not in net or gw in (net.network_address, net.broadcast_address):
        raise InvalidArgument(f"invalid gateway {gw}: not a host address of {net}")
    rng = ""
    if ip_range:
        r = _network(ip_range, "ip-range")
        if not r.subnet_of(net):
            raise InvalidArgument(f"invalid ip-range {ip_range!r}: not inside the subnet {net}")
        rng = str(r)
    return str(net), str(gw), rng


def candidates(subnet: str, gateway: str, ip_range: str):
    """The addresses containers may get, in order."""
    net = ipaddress.IPv4Network(ip_range or subnet)
    whole = ipaddress.IPv4Network(subnet)
    for host in net.hosts() if net.prefixlen < 31 else net:
        if str(host) != gateway and host not in (whole.network_address, whole.broadcast_address):
            yield str(host)


def check_requested(address: str, subnet: str, gateway: str) -> str:
    """`--ip`: an address of the subnet, not its gateway."""
    a = _address(address, "--ip")
    net = ipaddress.IPv4Network(subnet)
    if a not in net or a in (net.network_address, net.broadcast_address) or str(a) == gateway:
        raise InvalidArgument(f"invalid --ip {address}: not a free host address of {subnet}")
    return str(a)
