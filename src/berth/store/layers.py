"""Layers unpacked once per chainID (overlayfs-ready) and rebuilt byte-exactly on demand."""
from __future__ import annotations

import os
import time
from collections.abc import Callable

from berth import archive
from berth.archive import CHUNK
from berth.errors import DigestMismatch
from berth.oci.digest import Digest, chain_ids
from berth.record import Record
from berth.store import fsutil

TARSPLIT = "tar-split.z"


class Layer(Record):
    chain_id: Digest
    diff_id: Digest
    parent: Digest | None
    size: int
    tar_size: int
    blob: Digest | None

    @classmethod
    def from_row(cls, row) -> "Layer":
        return cls(Digest.parse(row["chain_id"]), Digest.parse(row["diff_id"]),
                   Digest.parse(row["parent"]) if row["parent"] else None,
                   row["size"], row["tar_size"], Digest.parse(row["blob"]) if row["blob"] else None)


class LayerStore:
    def __init__(self, root: str, tmp: str, locks: str, content, db):
        self.root = root
        self.tmp = tmp
        self.locks = locks
        self.content = content
        self.db = db

    def _dir(self, chain_id: Digest) -> str:
        return os.path.join(self.root, chain_id.hex)

    def diff_path(self, chain_id: Digest) -> str:
        return os.path.join(self._dir(chain_id), "diff")

    def _lock(self, chain_id: Digest, blocking: bool = True):
        return fsutil.flock(os.path.join(self.locks, f"layer-{chain_id.hex}"), blocking=blocking)

    def get(self, chain_id: Digest) -> Layer | None:
        row = self.db.execute("SELECT * FROM layers WHERE chain_id=?", (str(chain_id),)).fetchone()
        return Layer.from_row(row) if row else None

    def all(self) -> list[Layer]:
        return [Layer.from_row(r) for r in self.db.execute("SELECT * FROM layers")]

    def add(self, open_stream: Callable, parent: Digest | None,
            expected_diff_id: Digest | None = None, expected_digest: Digest | None = None) -> Layer:
        """Unpack the layer `open_stream()` yields on top of `parent` (a chainID), unless present."""
        return self.add_stack([(open_stream, expected_diff_id, expected_digest)], parent)[-1]

    def add_stack(self, sources: list[tuple], parent: Digest | None = None) -> list[Layer]:
        """Add a stack of layers, base first: [(open_stream, expected diff_id or None, expected digest or None)].

        Layers already present (known by their expected diff_id) are skipped. The others unpack
        concurrently, each into its own directory (overlay format needs no parent on disk), are
        flushed to disk with one syncfs, then committed in order so each gets its chainID.
        `open_stream` may be called a second time to keep the original blob when the tar stream
        cannot be rebuilt from the unpacked files (duplicate entries and the like).
        """
        present: dict[int, Layer] = {}
        chain = parent
        for i, (_, diff_id, _) in enumerate(sources):
            if diff_id is None:
                break
            chain = _chain(chain, diff_id)
            layer = self.get(chain)
            if layer is None:
                break
            present[i] = layer
        todo = [i for i in range(len(sources)) if i not in present]
        staged: dict[int, _Staged] = {}
        try:
            if len(todo) > 1:
                from concurrent.futures import ThreadPoolExecutor
                with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1)) as pool:
                    futures = {i: pool.submit(self._unpack, *sources[i]) for i in todo}
                errors = [f.exception() for f in futures.values() if f.exception()]
                staged = {i: f.result() for i, f in futures.items() if not f.exception()}
                if errors:
                    raise errors[0]
            else:
                staged = {i: self._unpack(*sources[i]) for i in todo}
            if staged:
                fsutil.syncfs(self.tmp)
            layers, chain = [], parent
            for i in range(len(sources)):
                layer = present.get(i) or self._commit(staged[i], chain)
                layers.append(layer)
                chain = layer.chain_id
            return layers
        finally:
            for s in staged.values():
                s.staging.cleanup()

    def _unpack(self, open_stream, expected_diff_id, expected_digest) -> "_Staged":
        staging = fsutil.Staging(self.tmp, "layer-")
        try:
            diff = os.path.join(staging.path, "diff")
            os.mkdir(diff, 0o755)
            with open_stream() as stream, open(os.path.join(staging.path, TARSPLIT), "wb") as split:
                result = archive.extract(stream, diff, whiteouts="overlay", tarsplit=split)
            if expected_diff_id is not None and result.diff_id != expected_diff_id:
                raise DigestMismatch(f"layer content does not match its diff_id: expected {expected_diff_id}, got {result.diff_id}")
            if expected_digest is not None and result.digest != expected_digest:
                raise DigestMismatch(f"layer blob digest mismatch: expected {expected_digest}, got {result.digest}")
            blob = None
            if not result.reconstructible:
                with open_stream() as stream:
                    blob = self.content.ingest(stream, expected=result.digest)
            return _Staged(staging, result, blob)
        except BaseException:
            staging.cleanup()
            raise

    def _commit(self, staged: "_Staged", parent: Digest | None) -> Layer:
        result = staged.result
        chain_id = _chain(parent, result.diff_id)
        with self._lock(chain_id):
            existing = self.get(chain_id)
            if existing:
                return existing
            dest = self._dir(chain_id)
            if os.path.lexists(dest):  # leftover from a crash between rename and insert
                fsutil.remove_tree(dest)
            os.rename(staged.staging.path, dest)
            fsutil.fsync_dir(self.root)
            self.db.execute(
                "INSERT INTO layers(chain_id, diff_id, parent, size, tar_size, blob, created) VALUES (?,?,?,?,?,?,?)",
                (str(chain_id), str(result.diff_id), str(parent) if parent else None, result.size,
                 result.tar_size, str(staged.blob) if staged.blob else None, time.time()))
        return self.get(chain_id)

    def present(self, diff_ids: list[Digest], parent: Digest | None = None) -> list[bool]:
        """For a stack of layers (base first), which are in the store already (as add_stack sees it)."""
        out, chain = [], parent
        for diff_id in diff_ids:
            chain = _chain(chain, diff_id)
            out.append((not out or out[-1]) and self.get(chain) is not None)
        return out

    def add_blob_source(self, diff_id: Digest, digest: Digest, media_type: str, size: int, repository: str) -> None:
        """Remember that `repository` (registry/name) holds `diff_id` as the blob `digest`."""
        self.db.execute("INSERT OR REPLACE INTO blob_sources(diff_id, digest, media_type, size, repository) "
                        "VALUES (?,?,?,?,?)", (str(diff_id), str(digest), media_type, size, repository))

    def blob_sources(self, diff_id: Digest) -> list[tuple[Digest, str, int, str]]:
        """[(blob digest, media type, size, repository)] known for a layer, most recent first."""
        rows = self.db.execute("SELECT digest, media_type, size, repository FROM blob_sources WHERE diff_id=? "
                               "ORDER BY rowid DESC", (str(diff_id),))
        return [(Digest.parse(r[0]), r[1], r[2], r[3]) for r in rows]

    def write_tar(self, layer: Layer, out) -> None:
        """Write the layer's uncompressed tar, identical to what was unpacked."""
        if layer.blob is not None:
            with self.content.open(layer.blob) as f:
                source, _ = archive.open_decompressed(f)
                while chunk := source.read(CHUNK):
                    out.write(chunk)
            return
        with open(os.path.join(self._dir(layer.chain_id), TARSPLIT), "rb") as record:
            archive.reconstruct(self.diff_path(layer.chain_id), record, out)

    def remove(self, chain_id: Digest) -> None:
        """Delete an unreferenced layer: the row first, so a crash leaves only an orphan directory."""
        with self._lock(chain_id):
            layer = self.get(chain_id)
            self.db.execute("DELETE FROM layers WHERE chain_id=?", (str(chain_id),))
            if layer and layer.blob:
                self.content.delete(layer.blob)
            fsutil.remove_tree(self._dir(chain_id))

    def remove_orphans(self) -> None:
        """Directories without a row: left by a crash between rename and insert, or during remove."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return
        known = {Digest.parse(r[0]).hex for r in self.db.execute("SELECT chain_id FROM layers")}
        for name in names:
            if name in known:
                continue
            chain_id = Digest("sha256", name)
            with self._lock(chain_id, blocking=False) as got:
                if got and not self.get(chain_id):
                    fsutil.remove_tree(os.path.join(self.root, name))


class _Staged(Record):
    staging: fsutil.Staging
    result: "archive.ExtractResult"
    blob: Digest | None


def _chain(parent: Digest | None, diff_id: Digest) -> Digest:
    return diff_id if parent is None else chain_ids([parent, diff_id])[-1]
