"""Volume records and directories: volumes/<name>/_data (the data, or a mount point for a volume
with options), volumes/<name>/.filled (the image's content was copied in on first use) and
volumes/<name>/users/<container ID> (the containers that hold a volume with options mounted)."""
from __future__ import annotations

import os
import time

from berth import cjson
from berth.errors import Conflict
from berth.store.db import transaction


class VolumeStore:
    def __init__(self, store):
        self.store = store
        self.db = store.db
        self.root = store.subdir("volumes")

    def dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def data(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def fill_marker(self, name: str) -> str:
        return os.path.join(self.root, name, ".filled")

    def get(self, name: str) -> dict | None:
        row = self.db.execute("SELECT * FROM volumes WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        return {"name": row["name"], "driver": row["driver"], "options": cjson.loads(row["options"]),
                "labels": cjson.loads(row["labels"]), "anonymous": bool(row["anonymous"]), "created": row["created"]}

    def names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM volumes ORDER BY name")]

    def users(self, name: str) -> list[str]:
        """The IDs of the containers that use the volume."""
        return [r[0] for r in self.db.execute("SELECT container_id FROM container_volumes WHERE volume=?", (name,))]

    def add(self, name: str, driver: str, options: dict, labels: dict, anonymous: bool, exist_ok: bool,
            staged: str | None = None) -> bool:
        """Record a new volume and make its directory (or rename `staged`, one made ready beside
        the volumes, into place); False when it exists (and exist_ok)."""
        from berth.store import fsutil
        with self.store.write_lock(), transaction(self.db):
            if self.db.execute("SELECT 1 FROM volumes WHERE name=?", (name,)).fetchone():
                if exist_ok:
                    return False
                raise Conflict(f"volume {name} already exists")
            if staged is None:
                os.makedirs(self.data(name), mode=0o755, exist_ok=True)
            else:
                if os.path.exists(self.dir(name)):  # what a crash left, with no record
                    fsutil.remove_tree(self.dir(name))
                os.rename(staged, self.dir(name))
            self.db.execute("INSERT INTO volumes(name, driver, options, labels, anonymous, created) VALUES (?,?,?,?,?,?)",
                            (name, driver, cjson.dumps(options), cjson.dumps(labels), int(anonymous), time.time()))
        return True

    def remove(self, name: str) -> None:
        """The record, then the directory (its data must be unmounted by then)."""
        from berth.store import fsutil
        with self.store.write_lock(), transaction(self.db):
            self.db.execute("DELETE FROM volumes WHERE name=?", (name,))
        fsutil.remove_tree(self.dir(name))

    def lock(self, name: str):
        """Serializes mounting and unmounting a volume with options across processes."""
        from berth.store import fsutil
        return fsutil.flock(os.path.join(self.store.locks, f"vol-{name[:64]}"))

    def add_mount_user(self, name: str, cid: str) -> None:
        os.makedirs(os.path.join(self.dir(name), "users"), mode=0o700, exist_ok=True)
        open(os.path.join(self.dir(name), "users", cid), "w").close()

    def drop_mount_user(self, name: str, cid: str) -> int:
        """Forget one user; returns how many are left."""
        users = os.path.join(self.dir(name), "users")
        try:
            os.unlink(os.path.join(users, cid))
        except FileNotFoundError:
            pass
        try:
            return len(os.listdir(users))
        except FileNotFoundError:
            return 0
