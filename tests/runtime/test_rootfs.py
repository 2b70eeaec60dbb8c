"""The files berth writes into a container's /etc (runtime/rootfs.py)."""
from berth.runtime.rootfs import namespaced_resolv

FALLBACK = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_loopback_name_servers_are_dropped_in_a_network_namespace():
    host = "# from dhcp\nnameserver 127.0.0.1\nnameserver 10.0.0.2\nnameserver ::1\nsearch lan\noptions edns0\n"
    assert namespaced_resolv(host) == "# from dhcp\nnameserver 10.0.0.2\nsearch lan\noptions edns0\n"


def test_systemd_resolved_stub_is_replaced_by_its_upstream_servers():
    stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan"
    upstream = "nameserver 192.168.1.1\nsearch lan\n"
    assert namespaced_resolv(stub, upstream) == upstream


def test_public_fallback_when_nothing_reachable_is_left():
    assert namespaced_resolv("nameserver 127.0.0.53\nsearch lan") == "search lan\n" + FALLBACK
    assert namespaced_resolv("nameserver 127.0.0.53\n", "nameserver 127.0.0.1\n") == FALLBACK
    assert namespaced_resolv("") == FALLBACK
