"""Content-addressed blobs: written through a hashing ingest, verified, committed by rename."""
from __future__ import annotations

import os

from berth.archive import CHUNK
from berth.errors import DigestMismatch
from berth.oci.digest import Digest
from berth.store import fsutil


class ContentStore:
    def __init__(self, root: str, tmp: str):
        self.root = root
        self.tmp = tmp

    def path(self, digest: Digest) -> str:
        return os.path.join(self.root, digest.algorithm, digest.hex)

    def has(self, digest: Digest) -> bool:
        return os.path.exists(self.path(digest))

    def open(self, digest: Digest):
        return open(self.path(digest), "rb")

    def read(self, digest: Digest) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def size(self, digest: Digest) -> int:
        return os.stat(self.path(digest)).st_size

    def write_bytes(self, data: bytes, expected: Digest | None = None) -> Digest:
        digest = Digest.of_bytes(data, expected.algorithm if expected else "sha256")
        if expected and digest != expected:
            raise DigestMismatch(f"digest mismatch: expected {expected}, content has {digest}")
        if not self.has(digest):
            os.makedirs(os.path.dirname(self.path(digest)), exist_ok=True)
            fsutil.atomic_write(self.path(digest), data, 0o600)
        return digest

    def ingest(self, stream, expected: Digest | None = None, size: int | None = None) -> Digest:
        """Copy `stream` into the store in large chunks, verifying `expected` before commit."""
        algorithm = expected.algorithm if expected else "sha256"
        with fsutil.Staging(self.tmp, "blob-") as staging:
            tmp = os.path.join(staging.path, "data")
            with open(tmp, "wb") as raw:
                from berth.archive.hashing import HashingWriter
                w = HashingWriter(raw, algorithm)
                while True:
                    chunk = stream.read(CHUNK)
                    if not chunk:
                        break
                    w.write(chunk)
                raw.flush()
                os.fsync(raw.fileno())
            digest = w.digest()
            if expected and digest != expected:
                raise DigestMismatch(f"digest mismatch: expected {expected}, content has {digest}")
            if size is not None and w.count != size:
                raise DigestMismatch(f"size mismatch for {digest}: expected {size} bytes, got {w.count}")
            dest = self.path(digest)
            if not os.path.exists(dest):
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                os.chmod(tmp, 0o600)
                os.rename(tmp, dest)
                fsutil.fsync_dir(os.path.dirname(dest))
        return digest

    def delete(self, digest: Digest) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            pass
