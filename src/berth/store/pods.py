"""Pod records: a name, the infra container that holds the shared namespaces, and the pod's settings.
The pod's containers are the containers whose configuration names the pod."""
from __future__ import annotations

import time

from berth import cjson
from berth.errors import Conflict, PodNotFound
from berth.record import Record
from berth.store.db import transaction


class Pod(Record):
    id: str
    name: str
    infra_id: str
    config: dict
    created: float


class PodStore:
    def __init__(self, store):
        self.store = store
        self.db = store.db

    @staticmethod
    def _pod(r) -> Pod:
        return Pod(r["id"], r["name"], r["infra_id"], cjson.loads(r["config"]), r["created"])

    def name_taken(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM pods WHERE name=?", (name,)).fetchone() is not None

    def add(self, pod_id: str, name: str, infra_id: str, config: dict) -> Pod:
        with self.store.write_lock(), transaction(self.db):
            if self.name_taken(name):
                raise Conflict(f"the pod name {name!r} is already in use")
            self.db.execute("INSERT INTO pods(id, name, infra_id, config, created) VALUES (?,?,?,?,?)",
                            (pod_id, name, infra_id, cjson.dumps(config), time.time()))
        return self.find(pod_id)

    def find(self, text: str) -> Pod:
        """By name, full ID or unique ID prefix."""
        rows = self.db.execute("SELECT * FROM pods WHERE name=? OR id=?", (text, text)).fetchall()
        if not rows and text and all(c in "0123456789abcdef" for c in text):
            rows = self.db.execute("SELECT * FROM pods WHERE id LIKE ? LIMIT 2", (text + "%",)).fetchall()
            if len(rows) > 1:
                raise Conflict(f"pod ID prefix {text!r} matches more than one pod")
        if not rows:
            raise PodNotFound(f"no pod with name or ID {text} found")
        return self._pod(rows[0])

    def list(self) -> list[Pod]:
        return [self._pod(r) for r in self.db.execute("SELECT * FROM pods ORDER BY created DESC")]

    def remove(self, pod_id: str) -> None:
        with self.store.write_lock(), transaction(self.db):
            self.db.execute("DELETE FROM pods WHERE id=?", (pod_id,))
