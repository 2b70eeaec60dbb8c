"""Network records and their endpoints (a container's address and aliases on a network).

An address is handed out by inserting it: the table's UNIQUE (network, address) and the store's write
lock make two containers started at once draw different ones. An endpoint lives as long as its
container (or until it is disconnected), so a container keeps its address across restarts.
"""
from __future__ import annotations

import time

from berth import cjson
from berth.errors import Conflict, NetworkError, NetworkNotFound
from berth.record import Record
from berth.store.db import transaction


class Network(Record):
    id: str
    name: str
    driver: str
    subnet: str
    gateway: str
    ip_range: str
    internal: bool
    bridge: str
    labels: dict
    options: dict
    created: float
    subnet6: str = ""       # IPv6 CIDR ("": no IPv6)
    gateway6: str = ""


class Endpoint(Record):
    network_id: str
    container_id: str
    address: str
    aliases: list
    address6: str = ""      # on an IPv6 network


class NetworkStore:
    def __init__(self, store):
        self.store = store
        self.db = store.db

    @staticmethod
    def _network(r) -> Network:
        return Network(r["id"], r["name"], r["driver"], r["subnet"], r["gateway"], r["ip_range"], bool(r["internal"]),
                       r["bridge"], cjson.loads(r["labels"]), cjson.loads(r["options"]), r["created"], r["subnet6"],
                       r["gateway6"])

    def add(self, network: Network) -> Network:
        with self.store.write_lock(), transaction(self.db):
            if self.db.execute("SELECT 1 FROM networks WHERE name=?", (network.name,)).fetchone():
                raise Conflict(f"network with name {network.name} already exists")
            self.db.execute("INSERT INTO networks(id, name, driver, subnet, gateway, ip_range, internal, bridge, labels, "
                            "options, created, subnet6, gateway6) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            (network.id, network.name, network.driver, network.subnet, network.gateway,
                             network.ip_range, int(network.internal), network.bridge, cjson.dumps(network.labels),
                             cjson.dumps(network.options), network.created or time.time(), network.subnet6,
                             network.gateway6))
        return self.find(network.id)

    def find(self, text: str) -> Network:
        """By name, full ID or unique ID prefix."""
        rows = self.db.execute("SELECT * FROM networks WHERE name=? OR id=?", (text, text)).fetchall()
        if not rows and text and all(c in "0123456789abcdef" for c in text):
            rows = self.db.execute("SELECT * FROM networks WHERE id LIKE ? LIMIT 2", (text + "%",)).fetchall()
            if len(rows) > 1:
                raise NetworkError(f"network ID prefix {text!r} matches more than one network")
        if not rows:
            raise NetworkNotFound(f"network {text} not found")
        return self._network(rows[0])

    def list(self) -> list[Network]:
        return [self._network(r) for r in self.db.execute("SELECT * FROM networks ORDER BY name")]

    def remove(self, network_id: str) -> None:
        with self.store.write_lock(), transaction(self.db):
            if self.db.execute("SELECT 1 FROM network_endpoints WHERE network_id=? LIMIT 1", (network_id,)).fetchone():
                raise Conflict("network has active endpoints")
            self.db.execute("DELETE FROM networks WHERE id=?", (network_id,))

    # ---- endpoints ---------------------------------------------------------------------

    def endpoint(self, network_id: str, cid: str) -> Endpoint | None:
        r = self.db.execute("SELECT * FROM network_endpoints WHERE network_id=? AND container_id=?",
                            (network_id, cid)).fetchone()
        return None if r is None else _endpoint(r)

    def endpoints(self, network_id: str) -> list[Endpoint]:
        return [_endpoint(r) for r in self.db.execute("SELECT * FROM network_endpoints WHERE network_id=? ORDER BY address",
                                         (network_id,))]

    def container_endpoints(self, cid: str) -> list[Endpoint]:
        return [_endpoint(r) for r in self.db.execute("SELECT * FROM network_endpoints WHERE container_id=?", (cid,))]

    def allocate(self, network_id: str, cid: str, candidates, aliases: list, wanted: str | None = None,
                 candidates6=None, wanted6: str | None = None) -> Endpoint:
        """The container's endpoint on the network: the one it has, else a new one at `wanted` or at the
        first of `candidates` (an iterable of addresses) no other endpoint holds; on an IPv6 network
        (`candidates6` given) with an IPv6 address too, drawn the same way."""
        with self.store.write_lock(), transaction(self.db):
            found = self.endpoint(network_id, cid)
            if found is not None:
                return found
            taken = {r[0] for r in self.db.execute("SELECT address FROM network_endpoints WHERE network_id=?",
                                                    (network_id,))}
            address = _pick(wanted, candidates, taken, "")
            address6 = None
            if candidates6 is not None:
                taken6 = {r[0] for r in self.db.execute("SELECT address6 FROM network_endpoints WHERE network_id=? "
                                                        "AND address6 IS NOT NULL", (network_id,))}
                address6 = _pick(wanted6, candidates6, taken6, "IPv6 ")
            self.db.execute("INSERT INTO network_endpoints(network_id, container_id, address, aliases, address6) "
                            "VALUES (?,?,?,?,?)", (network_id, cid, address, cjson.dumps(list(aliases)), address6))
        return Endpoint(network_id, cid, address, list(aliases), address6 or "")

    def release(self, network_id: str, cid: str) -> None:
        with transaction(self.db):
            self.db.execute("DELETE FROM network_endpoints WHERE network_id=? AND container_id=?", (network_id, cid))

    def resolve(self, network_id: str, name: str, ignore_case: bool = False, ipv6: bool = False) -> list[str]:
        """Addresses of the endpoints on the network a DNS name means: a container's name, one of its
        aliases on this network, or its ID (12 characters or whole); `ipv6`: their IPv6 addresses."""
        fold = (lambda text: text.lower()) if ignore_case else (lambda text: text)
        name = fold(name)
        out = []
        for r in self.db.execute("SELECT e.address, e.address6, e.aliases, c.id, c.name FROM network_endpoints e "
                                 "JOIN containers c ON c.id = e.container_id WHERE e.network_id=?", (network_id,)):
            if name in (fold(r["name"]), r["id"][:12], r["id"]) or name in map(fold, cjson.loads(r["aliases"])):
                if not ipv6:
                    out.append(r["address"])
                elif r["address6"]:
                    out.append(r["address6"])
        return out

    def dns_servers_of(self, network_id: str, address: str) -> list[str]:
        """The --dns servers of the container at `address` on the network (none: the host's)."""
        row = self.db.execute("SELECT c.config FROM network_endpoints e JOIN containers c ON c.id = e.container_id "
                              "WHERE e.network_id=? AND (e.address=? OR e.address6=?)",
                              (network_id, address, address)).fetchone()
        return list(cjson.loads(row[0]).get("dns") or []) if row else []

    def resolver_lock(self, network_id: str) -> str:
        """Held by the network's name server while it runs."""
        import os
        return os.path.join(self.store.locks, f"dns-{network_id[:32]}")


class Snapshot:
    """Every network and endpoint, read once: answers the lookups that a container's view makes of
    NetworkStore (find by ID, endpoint, container_endpoints) from memory, for listings of many containers."""

    def __init__(self, records: NetworkStore):
        self.networks = {n.id: n for n in records.list()}
        self.by_container: dict[str, list[Endpoint]] = {}
        for r in records.db.execute("SELECT * FROM network_endpoints"):
            self.by_container.setdefault(r["container_id"], []).append(_endpoint(r))

    def find(self, network_id: str) -> Network:
        try:
            return self.networks[network_id]
        except KeyError:
            raise NetworkNotFound(f"network {network_id} not found") from None

    def container_endpoints(self, cid: str) -> list[Endpoint]:
        return self.by_container.get(cid, [])

    def endpoint(self, network_id: str, cid: str) -> Endpoint | None:
        return next((e for e in self.by_container.get(cid, ()) if e.network_id == network_id), None)


def _endpoint(r) -> Endpoint:
    return Endpoint(r["network_id"], r["container_id"], r["address"], cjson.loads(r["aliases"]), r["address6"] or "")


def _pick(wanted: str | None, candidates, taken: set, family: str) -> str:
    """`wanted` if free, else the first free candidate."""
    if wanted is not None:
        if wanted in taken:
            raise Conflict(f"address {wanted} is already in use on this network")
        return wanted
    found = next((a for a in candidates if a not in taken), None)
    if found is None:
        raise NetworkError(f"no free {family}address left on this network")
    return found
