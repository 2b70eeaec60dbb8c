"""Address management for user networks: which subnets a new network gets (an IPv4 one, and an IPv6
one with --ipv6), and which addresses a container on it may get. Pure reckoning with `ipaddress`; the
store hands the addresses out."""
from __future__ import annotations

import ipaddress

from berth.errors import InvalidArgument, NetworkError

POOL = ipaddress.IPv4Network("10.91.0.0/16")  # cut into /24s; berth0 has 10.90.0.0/16
POOL_PREFIX = 24
POOL6 = "fd00:b5:{}::/64"  # unique local /64s, n = 0..65535: fd00:b5:0::/64, fd00:b5:1::/64, ...
POOL6_SIZE = 1 << 16


def _network(text: str, what: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as e:
        if ":" in text:
            raise InvalidArgument(f"invalid {what} {text!r}: an IPv6 network where an IPv4 one is needed") from None
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


def is_ipv6(text: str) -> bool:
    """Whether a --subnet, --gateway or --ip-range value is an IPv6 one (sorts them by family)."""
    return ":" in text


def plan6(subnet: str | None, gateway: str | None, ip_range: str | None, in_use: list[str]) -> tuple[str, str]:
    """(subnet, gateway) of a new network's IPv6 side: the given subnet, or the first /64 of berth's
    pool that overlaps none of `in_use` (the host's IPv6 routes and berth's IPv6 networks); the gateway
    is the subnet's first address (::1) unless given."""
    if ip_range:
        raise InvalidArgument(f"invalid ip-range {ip_range!r}: an IPv6 --ip-range is not supported")
    taken = [ipaddress.IPv6Network(n, strict=False) for n in in_use]
    if subnet:
        try:
            net = ipaddress.IPv6Network(subnet, strict=True)
        except ValueError as e:
            raise InvalidArgument(f"invalid subnet {subnet!r}: {e}") from None
        if net.prefixlen > 126:
            raise InvalidArgument(f"invalid subnet {subnet!r}: it leaves no room for containers")
        if net.is_multicast or net.is_loopback or net.is_link_local or net.is_unspecified:
            raise InvalidArgument(f"invalid subnet {subnet!r}: not a unicast network a bridge can have")
        clash = next((t for t in taken if t.overlaps(net)), None)
        if clash is not None:
            raise NetworkError(f"invalid pool request: pool {net} overlaps with {clash}, already in use on this host")
    else:
        if gateway:
            raise InvalidArgument("an IPv6 --gateway needs an IPv6 --subnet")
        net = next((n for n in (ipaddress.IPv6Network(POOL6.format(f"{i:x}")) for i in range(POOL6_SIZE))
                    if not any(t.overlaps(n) for t in taken)), None)
        if net is None:
            raise NetworkError("no free IPv6 subnet left in fd00:b5::/32 for a new network: give one with --subnet")
    if gateway:
        try:
            gw = ipaddress.IPv6Address(gateway)
        except ValueError:
            raise InvalidArgument(f"invalid gateway {gateway!r}: not an IPv6 address") from None
    else:
        gw = net.network_address + 1
    if gw not in net or gw == net.network_address:
        raise InvalidArgument(f"invalid gateway {gw}: not a host address of {net}")
    return str(net), str(gw)


def candidates6(subnet: str, gateway: str):
    """The IPv6 addresses containers may get, in order (not the subnet-router anycast address)."""
    net = ipaddress.IPv6Network(subnet)
    first, last = int(net.network_address) + 1, int(net.broadcast_address)
    for n in range(first, last + 1):
        host = str(ipaddress.IPv6Address(n))
        if host != gateway:
            yield host


def check_requested6(address: str, subnet: str, gateway: str) -> str:
    """`--ip6`: an address of the IPv6 subnet, not its gateway."""
    try:
        a = ipaddress.IPv6Address(address)
    except ValueError:
        raise InvalidArgument(f"invalid --ip6 {address!r}: not an IPv6 address") from None
    net = ipaddress.IPv6Network(subnet)
    if a not in net or a == net.network_address or str(a) == gateway:
        raise InvalidArgument(f"invalid --ip6 {address}: not a free host address of {subnet}")
    return str(a)
