"""The name server of a user network: containers on it find each other by name.

One process per network (`berth network resolver ID`, started by the first container that needs it),
listening on UDP and TCP port 53 of the network's gateway address (and of its IPv6 gateway on an IPv6
network; the containers' resolv.conf names the IPv4 one) and bound to the network's bridge
(SO_BINDTODEVICE), so only containers on that network can ask it. It answers A (and AAAA) queries for
container names, network aliases and IDs (12 digits or all) with their addresses on this network, reading the
store on every query, so a container started, connected or removed is seen at once; every other name
is forwarded to the asking container's --dns servers, else to the host's resolvers. It exits when its
network is gone, or has had no endpoint for a while. dnslib handles the wire format.
"""
from __future__ import annotations

import os
import socket
import socketserver
import threading
import time

IDLE_EXIT = 60.0       # seconds without endpoints before the resolver leaves
UPSTREAM_TIMEOUT = 3.0
TTL = 600


def host_nameservers() -> list[str]:
    servers = []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    servers.append(parts[1])
    except OSError:
        pass
    return servers or ["8.8.8.8"]


class Resolver:
    def __init__(self, store, network):
        self.store, self.network = store, network
        self.lock = threading.Lock()  # one sqlite connection for every handler thread

    def answer(self, data: bytes, client: str) -> bytes | None:
        from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
        try:
            request = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - not DNS: no answer
            return None
        if not request.questions:
            return None
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        with self.lock:
            addresses = self.store.networks.resolve(self.network.id, name, ignore_case=True)
            addresses6 = self.store.networks.resolve(self.network.id, name, ignore_case=True, ipv6=True)
        if addresses:  # a name of this network: its answer (no AAAA on an IPv4 network: an empty one)
            reply = request.reply()
            if question.qtype in (QTYPE.A, QTYPE.ANY):
                for address in addresses:
                    reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=TTL))
            if question.qtype in (QTYPE.AAAA, QTYPE.ANY):
                for address in addresses6:
                    reply.add_answer(RR(question.qname, QTYPE.AAAA, rdata=AAAA(address), ttl=TTL))
            return reply.pack()
        for server in self._upstreams(client):
            forwarded = _ask(server, data)
            if forwarded is not None:
                return forwarded
        reply = request.reply()
        reply.header.rcode = RCODE.SERVFAIL
        return reply.pack()

    def _upstreams(self, client: str) -> list[str]:
        with self.lock:
            servers = self.store.networks.dns_servers_of(self.network.id, client)
        return servers or host_nameservers()


def _ask(server: str, data: bytes) -> bytes | None:
    try:
        with socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(UPSTREAM_TIMEOUT)
            s.sendto(data, (server, 53))
            return s.recv(65535)
    except OSError:
        return None


def _bound(base, device: str, family: int = socket.AF_INET):
    class Server(base):
        daemon_threads = True
        allow_reuse_address = True
        address_family = family

        def server_bind(self):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
            super().server_bind()
    return Server


def serve(store, network, ready) -> None:
    """Run the network's name server until the network goes away; `ready()` once it answers."""
    resolver = Resolver(store, network)

    class UDPHandler(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            out = resolver.answer(data, self.client_address[0])
            if out is not None:
                sock.sendto(out, self.client_address)

    class TCPHandler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(10)
            head = self.request.recv(2)
            if len(head) < 2:
                return
            size, data = int.from_bytes(head, "big"), b""
            while len(data) < size:
                chunk = self.request.recv(size - len(data))
                if not chunk:
                    return
                data += chunk
            out = resolver.answer(data, self.client_address[0])
            if out is not None:
                self.request.sendall(len(out).to_bytes(2, "big") + out)

    address = (network.gateway, 53)
    servers = [_bound(socketserver.ThreadingUDPServer, network.bridge)(address, UDPHandler),
               _bound(socketserver.ThreadingTCPServer, network.bridge)(address, TCPHandler)]
    if network.subnet6:
        address6 = (network.gateway6, 53)
        servers += [_bound(socketserver.ThreadingUDPServer, network.bridge, socket.AF_INET6)(address6, UDPHandler),
                    _bound(socketserver.ThreadingTCPServer, network.bridge, socket.AF_INET6)(address6, TCPHandler)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready()
    idle_since = None
    while True:
        time.sleep(2)
        try:
            current = store.networks.find(network.id)
        except LookupError:
            break
        if not os.path.exists(f"/sys/class/net/{current.bridge}"):
            break
        if store.networks.endpoints(network.id):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > IDLE_EXIT:
            break
    for server in servers:
        server.shutdown()
        server.server_close()
