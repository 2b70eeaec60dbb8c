"""Service records (engine.networks.publish_service): a name, its iptables chain, its ports, the
backends as given and the containers they resolved to (indexed: a container's start and stop look
up the services it serves)."""
from __future__ import annotations

import time

from berth import cjson
from berth.errors import Conflict, ServiceNotFound
from berth.record import Record
from berth.store.db import transaction


class Service(Record):
    name: str
    chain: str
    ports: list         # [{name, protocol, host_port, target_port}]
    backends: list      # as given: pod or container IDs and names
    containers: list    # the containers holding the backends' network namespaces
    labels: dict
    created: float


class ServiceStore:
    def __init__(self, store):
        self.store = store
        self.db = store.db

    @staticmethod
    def _service(r, containers: list) -> Service:
        return Service(r["name"], r["chain"], cjson.loads(r["ports"]), cjson.loads(r["backends"]), containers,
                       cjson.loads(r["labels"]), r["created"])

    def add(self, service: Service) -> Service:
        """Record a new service; Conflict if its name is taken."""
        with self.store.write_lock(), transaction(self.db):
            if self.db.execute("SELECT 1 FROM services WHERE name=?", (service.name,)).fetchone():
                raise Conflict(f"service {service.name} already exists")
            self.db.execute("INSERT INTO services(name, chain, ports, backends, labels, created) VALUES (?,?,?,?,?,?)",
                            (service.name, service.chain, cjson.dumps(service.ports), cjson.dumps(service.backends),
                             cjson.dumps(service.labels), service.created or time.time()))
            self.db.executemany("INSERT OR IGNORE INTO service_backends(service, container_id) VALUES (?,?)",
                                [(service.name, cid) for cid in service.containers])
        return self.find(service.name)

    def find(self, name: str) -> Service:
        r = self.db.execute("SELECT * FROM services WHERE name=?", (name,)).fetchone()
        if r is None:
            raise ServiceNotFound(f"service {name} not found")
        return self._service(r, self._containers(name))

    def list(self) -> list[Service]:
        return [self._service(r, self._containers(r["name"]))
                for r in self.db.execute("SELECT * FROM services ORDER BY name").fetchall()]

    def of_container(self, cid: str) -> list[str]:
        """The names of the services `cid` is a backend of (one indexed query: every start asks)."""
        return [r[0] for r in self.db.execute("SELECT service FROM service_backends WHERE container_id=?", (cid,))]

    def remove(self, name: str) -> None:
        with self.store.write_lock(), transaction(self.db):
            self.db.execute("DELETE FROM service_backends WHERE service=?", (name,))
            self.db.execute("DELETE FROM services WHERE name=?", (name,))

    def _containers(self, name: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT container_id FROM service_backends WHERE service=? "
                                              "ORDER BY rowid", (name,))]
