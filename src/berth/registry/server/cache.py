"""What manifest, blob-link and listing reads found, kept in memory while the storage has not changed.

A manifest GET by tag costs a worker-thread hop and about ten system calls (the tag file, the
revision link, the manifest blob, each opened beneath the root with openat2); the answer only
changes when a tag is set or deleted, a manifest deleted, a blob unlinked or deleted. The storage
records each such change after making it (`Storage.generation`: for the filesystem, the size of
a file every writer appends to, whichever process writes: another server on the same storage or
`berth registry gc`). Each lookup first reads the generation (one stat, no thread hop); when it
differs from the one the cache was filled under, the whole cache is dropped. An entry is stored
under the generation read before the storage was, so a change made while a miss was being read
shows up as a new generation at the next lookup: nothing is served that was read before a
change the reader could have seen.

Only answers that were found are kept (a miss is read again each time), bounded by total bytes,
least recently used first out. Writes that only add (blob uploads, manifest puts into an existing
repository) do not move the generation, so pushes do not empty the cache; a new repository does
(the catalog is cached too). What someone changes in the storage by hand, past berth, is not seen
until the next recorded change.
"""
from __future__ import annotations

from collections import OrderedDict

DEFAULT_BUDGET = 64 << 20  # bytes of manifests (and small per-entry overhead) kept
_ENTRY_OVERHEAD = 256


class ReadCache:
    def __init__(self, storage, budget: int = DEFAULT_BUDGET):
        self.storage = storage
        self.budget = budget
        self._entries: OrderedDict = OrderedDict()
        self._bytes = 0
        self._generation = None
        self.hits = self.misses = 0

    def current(self):
        """The storage's generation now, the cache emptied if it moved; None: do not cache."""
        generation = self.storage.generation()
        if generation != self._generation or generation is None:
            self._entries.clear()
            self._bytes = 0
            self._generation = generation
        return generation

    def get(self, key, generation):
        """The value stored under `key`, or None (also when `generation` is None)."""
        if generation is None:
            return None
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found[0]

    def put(self, key, value, size: int, generation) -> None:
        """Keep `value` (read after `generation` was) unless the storage changed since."""
        if generation is None or generation != self._generation:
            return
        cost = size + _ENTRY_OVERHEAD
        if cost > self.budget:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._entries[key] = (value, cost)
        self._bytes += cost
        while self._bytes > self.budget:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped
