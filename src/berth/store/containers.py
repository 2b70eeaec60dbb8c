"""Container records: an immutable config row and a mutable state row (podman's split)."""
from __future__ import annotations

import os
import time

from berth import cjson
from berth.errors import BerthError, Conflict, ContainerNotFound
from berth.record import Record
from berth.store.db import append_events, transaction


EXIT_KEPT = 600  # seconds an exit code outlives its container (longer while someone waits for it)
STATE_FIELDS = ("status", "pid", "monitor_pid", "exit_code", "oom_killed", "started_at", "finished_at",
                "restart_count", "stopped_by_user", "error")
_STATE_COLUMNS = ", ".join(f"s.{k}" for k in STATE_FIELDS)


class Container(Record):
    id: str
    name: str
    image_id: str
    config: dict
    created: float
    state: dict = {}

    @property
    def status(self) -> str:
        return self.state["status"]

    @property
    def short_id(self) -> str:
        return self.id[:12]


class ContainerStore:
    def __init__(self, store):
        self.store = store
        self.db = store.db
        self.root = store.subdir("containers")

    def dir(self, cid: str) -> str:
        return os.path.join(self.root, cid)

    def lock(self, cid: str):
        from berth.store import fsutil
        return fsutil.flock(self._lock_path(cid))

    def _lock_path(self, cid: str) -> str:
        return os.path.join(self.store.locks, f"ctr-{cid[:32]}")

    def _select(self, where: str, args: tuple = ()) -> list[Container]:
        """Containers with their state, read in one statement: one snapshot of the database, so a
        removal in another process never leaves a container without its state."""
        rows = self.db.execute(f"SELECT c.id, c.name, c.image_id, c.config, c.created, {_STATE_COLUMNS} "
                               f"FROM containers c JOIN container_state s ON s.id = c.id {where}", args)
        return [Container(r["id"], r["name"], r["image_id"], cjson.loads(r["config"]), r["created"],
                          {k: r[k] for k in STATE_FIELDS}) for r in rows]

    def add(self, cid: str, name: str, image_id: str, config: dict, volumes: list[tuple[str, str]],
            events=()) -> Container:
        """A new container; `events` (see db.append_events) are logged in the same transaction, as in
        the methods below."""
        with self.store.write_lock(), transaction(self.db):
            if self.db.execute("SELECT 1 FROM containers WHERE name=?", (name,)).fetchone():
                raise Conflict(f'the container name "/{name}" is already in use. Remove or rename that container, '
                               "or choose another name")
            if self.db.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone() is None:
                raise BerthError(f"image {image_id} was removed while the container was created")
            self.db.execute("INSERT INTO containers(id, name, image_id, config, created) VALUES (?,?,?,?,?)",
                            (cid, name, image_id, cjson.dumps(config), time.time()))
            self.db.execute("INSERT INTO container_state(id, status) VALUES (?, 'created')", (cid,))
            for volume, destination in volumes:
                self.db.execute("INSERT INTO container_volumes(container_id, volume, destination) VALUES (?,?,?)",
                                (cid, volume, destination))
            append_events(self.db, events)
        return self.get(cid)

    def name_taken(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM containers WHERE name=?", (name,)).fetchone() is not None

    def get(self, cid: str) -> Container:
        found = self._select("WHERE c.id=?", (cid,))
        if not found:
            raise ContainerNotFound(f"No such container: {cid}")
        return found[0]

    def find(self, text: str) -> Container:
        """By full ID, name (with or without a leading /), or unique ID prefix."""
        name = text[1:] if text.startswith("/") else text
        found = self._select("WHERE c.id=? OR c.name=? LIMIT 1", (text, name))
        if not found and text and all(c in "0123456789abcdef" for c in text):
            found = self._select("WHERE c.id LIKE ? LIMIT 2", (text + "%",))
            if len(found) > 1:
                raise BerthError(f"multiple containers match ID prefix {text!r}")
        if not found:
            raise ContainerNotFound(f"No such container: {text}")
        return found[0]

    def list(self) -> list[Container]:
        return self._select("ORDER BY c.created DESC")

    def deciding_readiness(self) -> list[Container]:
        """The containers whose state decides whether a Service backend is Ready: those whose health
        check gates traffic (health_gates_traffic) and those in pods. What a service's rebuild reads
        (one statement; none in most stores)."""
        return self._select("WHERE json_extract(c.config, '$.health_gates_traffic') "
                            "OR json_extract(c.config, '$.pod') IS NOT NULL")

    def update_state(self, cid: str, events=(), **changes) -> None:
        bad = set(changes) - set(STATE_FIELDS)
        if bad:
            raise ValueError(bad)
        sets = ", ".join(f"{k}=?" for k in changes)
        with transaction(self.db):
            self.db.execute(f"UPDATE container_state SET {sets} WHERE id=?", (*changes.values(), cid))
            append_events(self.db, events)

    def update_config(self, cid: str, config: dict, events=()) -> None:
        """A new config record for the container (`update`: its limits and restart policy)."""
        with transaction(self.db):
            self.db.execute("UPDATE containers SET config=? WHERE id=?", (cjson.dumps(config), cid))
            append_events(self.db, events)

    def rename(self, cid: str, new_name: str, events=()) -> None:
        with self.store.write_lock(), transaction(self.db):
            if self.db.execute("SELECT 1 FROM containers WHERE name=?", (new_name,)).fetchone():
                raise Conflict(f'the container name "/{new_name}" is already in use')
            self.db.execute("UPDATE containers SET name=? WHERE id=?", (new_name, cid))
            append_events(self.db, events)

    def volumes(self, cid: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT volume, destination FROM container_volumes WHERE container_id=?", (cid,))]

    def users_of_image(self, image_id: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM containers WHERE image_id=?", (image_id,))]

    def remove(self, cid: str, events=()) -> None:
        """Delete the records; the exit code stays behind (in the same transaction) for the waiters
        that started before, until they are gone and it is older than EXIT_KEPT seconds."""
        with self.store.write_lock(), transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO container_exits(id, exit_code, removed) "
                            "SELECT id, exit_code, ? FROM container_state WHERE id=?", (time.time(), cid))
            self.db.execute("DELETE FROM containers WHERE id=?", (cid,))
            append_events(self.db, events)
        self._forget_old_exits()

    def waiting(self, cid: str):
        """Held (shared) by a `wait` on the container: its exit code is kept after removal meanwhile."""
        from berth.store import fsutil
        return fsutil.flock(self._wait_lock(cid), shared=True)

    def removed_exit_code(self, cid: str) -> int | None:
        row = self.db.execute("SELECT exit_code FROM container_exits WHERE id=?", (cid,)).fetchone()
        return None if row is None else row[0]

    def _wait_lock(self, cid: str) -> str:
        return os.path.join(self.store.locks, f"wait-{cid[:32]}")

    def _forget_old_exits(self) -> None:
        from berth.store import fsutil
        old = [r[0] for r in self.db.execute("SELECT id FROM container_exits WHERE removed < ?",
                                             (time.time() - EXIT_KEPT,))]
        for cid in old:
            with fsutil.flock(self._wait_lock(cid), blocking=False) as free:
                if not free:  # a waiter still wants it
                    continue
                with transaction(self.db):
                    self.db.execute("DELETE FROM container_exits WHERE id=?", (cid,))
                os.unlink(self._wait_lock(cid))
                # its lock file too, long after the removal: one who still takes it finds no container
                # (IDs are never used again), and a store keeps no file per container it ever had
                try:
                    os.unlink(self._lock_path(cid))
                except FileNotFoundError:
                    pass
