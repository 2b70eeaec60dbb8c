"""The build cache: a step's inputs, hashed with its parent's key, map to the step's result.

Keys chain: each step's key covers the previous step's key, so a changed step invalidates every
step after it. Inputs are kept beside the result so that a miss can be explained: the most recent
build of the same kind of step on the same parent says which input changed (docker and podman
only say "not cached").
"""
from __future__ import annotations

import hashlib


class BuildCache:
    def __init__(self, store):
        self.records = store.build_cache

    @staticmethod
    def key(*parts: str) -> str:
        h = hashlib.sha256()
        for part in parts:
            data = part.encode()
            h.update(len(data).to_bytes(8, "big") + data)
        return h.hexdigest()

    def get(self, key: str):
        return self.records.get(key)

    def put(self, key: str, parent: str, keyword: str, inputs: dict, chain_id, config: dict) -> None:
        self.records.put(key, parent, keyword, inputs, chain_id, config)

    def explain(self, parent: str, keyword: str, inputs: dict) -> str:
        """Why a step missed, in one line."""
        before = self.records.latest_inputs(parent, keyword)
        if before is None:
            if not self.records.has_keyword(keyword):
                return f"no earlier {keyword} step in the cache"
            return "an earlier step changed (or was not cached), so this step's parent is new"
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
