"""Build cache records (a step's key -> its layer and config, with the inputs that made the key) and
build-cache-mounts/<key> (the directories of RUN --mount=type=cache)."""
from __future__ import annotations

import os
import time

from berth import cjson
from berth.oci.digest import Digest
from berth.store.db import transaction


class BuildCacheStore:
    def __init__(self, store):
        self.store = store
        self.db = store.db

    def get(self, key: str) -> tuple[Digest | None, dict] | None:
        """(the layer's chainID or None, the image config after the step), or None when not cached."""
        row = self.db.execute("SELECT chain_id, config FROM build_cache WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return (Digest.parse(row[0]) if row[0] else None), cjson.loads(row[1])

    def put(self, key: str, parent: str, keyword: str, inputs: dict, chain_id: Digest | None, config: dict) -> None:
        with transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO build_cache(key, parent, keyword, inputs, chain_id, config, created) "
                            "VALUES (?,?,?,?,?,?,?)",
                            (key, parent, keyword, cjson.dumps(inputs, sort_keys=True),
                             str(chain_id) if chain_id else None, cjson.dumps(config), time.time()))

    def latest_inputs(self, parent: str, keyword: str) -> dict | None:
        """The inputs of the most recent step of this kind on this parent."""
        row = self.db.execute("SELECT inputs FROM build_cache WHERE parent=? AND keyword=? ORDER BY created DESC "
                              "LIMIT 1", (parent, keyword)).fetchone()
        return None if row is None else cjson.loads(row[0])

    def has_keyword(self, keyword: str) -> bool:
        return self.db.execute("SELECT 1 FROM build_cache WHERE keyword=? LIMIT 1", (keyword,)).fetchone() is not None

    def mount_dir(self, name: str) -> str:
        """Where a cache mount keeps its files (not created here)."""
        return os.path.join(self.store.root, "build-cache-mounts", name)
