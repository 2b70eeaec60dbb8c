"""The build cache: a step's inputs, hashed with its parent's key, map to the step's result.

Keys chain: each step's key covers the previous step's key, so a changed step invalidates every
step after it. Inputs are kept beside the result so that a miss can be explained: the most recent
build of the same kind of step on the same parent says which input changed (docker and podman
only say "not cached").
"""
from __future__ import annotations

import hashlib
import json
import time

from berth.oci.digest import Digest
from berth.store.db import transaction


class BuildCache:
    def __init__(self, store):
        self.db = store.db

    @staticmethod
    def key(*parts: str) -> str:
        h = hashlib.sha256()
        for part in parts:
            data = part.encode()
            h.update(len(data).to_bytes(8, "big") + data)
        return h.hexdigest()

    def get(self, key: str) -> tuple[Digest | None, dict] | None:
        row = self.db.execute("SELECT chain_id, config FROM build_cache WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return (Digest.parse(row[0]) if row[0] else None), json.loads(row[1])

    def put(self, key: str, parent: str, keyword: str, inputs: dict, chain_id: Digest | None, config: dict) -> None:
        with transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO build_cache(key, parent, keyword, inputs, chain_id, config, created) "
                            "VALUES (?,?,?,?,?,?,?)",
                            (key, parent, keyword, json.dumps(inputs, sort_keys=True),
                             str(chain_id) if chain_id else None, json.dumps(config), time.time()))

    def explain(self, parent: str, keyword: str, inputs: dict) -> str:
        """Why a step missed, in one line."""
        row = self.db.execute("SELECT inputs FROM build_cache WHERE parent=? AND keyword=? ORDER BY created DESC "
                              "LIMIT 1", (parent, keyword)).fetchone()
        if row is None:
            if self.db.execute("SELECT 1 FROM build_cache WHERE keyword=? LIMIT 1", (keyword,)).fetchone() is None:
                return f"no earlier {keyword} step in the cache"
            return "an earlier step changed (or was not cached), so this step's parent is new"
        before = json.loads(row[0])
        changed = [name for name in sorted(set(before) | set(inputs)) if before.get(name) != inputs.get(name)]
        if not changed:
            return "the cached result is gone (its layer was removed)"
        details = []
        for name in changed:
            if name == "checksum":
                details.append("the content of the copied files changed")
            elif name == "env":
                old, new = set(before.get("env") or []), set(inputs.get("env") or [])
                names = sorted({e.partition("=")[0] for e in old ^ new})
                details.append(f"environment changed ({', '.join(names)})")
            else:
                details.append(f"{name} changed: {before.get(name)!r} -> {inputs.get(name)!r}")
        return "; ".join(details)
