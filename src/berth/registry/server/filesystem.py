"""The filesystem storage backend.

    blobs/<algorithm>/<first two hex digits>/<hex>        content, stored once
    repositories/<name>/_layers/<algorithm>/<hex>         "this repository has that blob"
    repositories/<name>/_manifests/revisions/<alg>/<hex>  a manifest link: its media type and size
    repositories/<name>/_manifests/tags/<tag>             the digest a tag points at
    repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>  descriptor of a manifest whose subject is <alg>:<hex>
    uploads/<id>/data, uploads/<id>/info                  uploads in progress
    gc.lock                                               writes that link blobs share it, gc's sweep excludes them
    token-secret                                          the token service's signing key (--auth token), 0600

A blob appears only by renaming a complete, fsync'd file to its final name, so a killed server
leaves nothing partial where readers look; two uploads of the same content race harmlessly (the
second rename replaces identical bytes). Repository names reaching this module were validated by
`names`, whose pattern allows no `..`, empty or `_`-leading component: link directories and
repository directories cannot collide and no path leaves the root.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid

from berth.oci.digest import Digest
from berth.registry.server.storage import ManifestInfo, Revision, Storage, StoredBlob, TagInfo, UploadWriter
from berth.store.fsutil import atomic_write, flock, fsync_dir

_TMP_PREFIX = ".tmp-"


class FileUploadWriter(UploadWriter):
    def __init__(self, path: str):
        self._file = open(path, "r+b")
        self.size = self._file.seek(0, os.SEEK_END)

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.size += len(chunk)

    def truncate(self, size: int) -> None:
        self._file.truncate(size)
        self._file.seek(size)
        self.size = size

    def close(self) -> None:
        self._file.close()


class FilesystemStorage(Storage):
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        for sub in ("blobs", "repositories", "uploads"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)

    # -- paths
    def _blob_path(self, digest: Digest) -> str:
        return os.path.join(self.root, "blobs", digest.algorithm, digest.hex[:2], digest.hex)

    def _repo(self, repository: str, *parts: str) -> str:
        return os.path.join(self.root, "repositories", repository, *parts)

    def _layer_link(self, repository: str, digest: Digest) -> str:
        return self._repo(repository, "_layers", digest.algorithm, digest.hex)

    def _revision(self, repository: str, digest: Digest) -> str:
        return self._repo(repository, "_manifests", "revisions", digest.algorithm, digest.hex)

    def _tag(self, repository: str, tag: str) -> str:
        return self._repo(repository, "_manifests", "tags", tag)

    def _referrers_dir(self, repository: str, subject: Digest) -> str:
        return self._repo(repository, "_referrers", subject.algorithm, subject.hex)

    def _upload(self, upload_id: str, name: str = "") -> str:
        return os.path.join(self.root, "uploads", upload_id, name)

    @staticmethod
    def _write(path: str, data: bytes) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, data, mode=0o644)

    @staticmethod
    def _remove(path: str) -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    # -- blobs
    def stat_blob(self, digest: Digest) -> int | None:
        try:
            return os.stat(self._blob_path(digest)).st_size
        except FileNotFoundError:
            return None

    def open_blob(self, digest: Digest):
        return open(self._blob_path(digest), "rb")

    def read_blob(self, digest: Digest) -> bytes:
        with self.open_blob(digest) as f:
            return f.read()

    # -- uploads
    def create_upload(self, repository: str) -> str:
        upload_id = uuid.uuid4().hex
        os.makedirs(self._upload(upload_id))
        with open(self._upload(upload_id, "data"), "wb"):
            pass
        info = json.dumps({"repository": repository, "started": time.time()}).encode()
        atomic_write(self._upload(upload_id, "info"), info)
        return upload_id

    def _upload_repository(self, upload_id: str) -> str | None:
        try:
            with open(self._upload(upload_id, "info"), "rb") as f:
                return json.load(f).get("repository")
        except (FileNotFoundError, ValueError):
            return None

    def upload_size(self, repository: str, upload_id: str) -> int | None:
        if self._upload_repository(upload_id) != repository:
            return None
        try:
            return os.stat(self._upload(upload_id, "data")).st_size
        except FileNotFoundError:
            return None

    def open_upload(self, repository: str, upload_id: str) -> UploadWriter:
        return FileUploadWriter(self._upload(upload_id, "data"))

    def read_upload(self, repository: str, upload_id: str, chunk_size: int):
        with open(self._upload(upload_id, "data"), "rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk

    def commit_upload(self, repository: str, upload_id: str, digest: Digest) -> None:
        data = self._upload(upload_id, "data")
        target = self._blob_path(digest)
        if not os.path.exists(target):
            fd = os.open(data, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(data, 0o644)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.rename(data, target)
            fsync_dir(os.path.dirname(target))
        self.link_blob(repository, digest)  # also marks the blob fresh for gc's grace period
        shutil.rmtree(self._upload(upload_id), ignore_errors=True)

    def delete_upload(self, repository: str, upload_id: str) -> bool:
        if self._upload_repository(upload_id) != repository:
            return False
        shutil.rmtree(self._upload(upload_id), ignore_errors=True)
        return True

    def purge_uploads(self, older_than: float) -> int:
        cutoff = time.time() - older_than
        purged = 0
        uploads = os.path.join(self.root, "uploads")
        for name in os.listdir(uploads):
            path = os.path.join(uploads, name)
            try:
                # an upload is "touched" when its data grows; info alone marks its start
                newest = max(os.stat(os.path.join(path, f)).st_mtime for f in os.listdir(path)) \
                    if os.path.isdir(path) and os.listdir(path) else os.lstat(path).st_mtime
            except (FileNotFoundError, ValueError):
                continue
            if newest < cutoff:
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else self._remove(path)
                purged += 1
        # temp files of manifest and link writes a crash left behind
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                if f.startswith(_TMP_PREFIX):
                    path = os.path.join(dirpath, f)
                    try:
                        if os.lstat(path).st_mtime < cutoff:
                            os.unlink(path)
                            purged += 1
                    except FileNotFoundError:
                        pass
        return purged

    # -- repository links
    def has_blob(self, repository: str, digest: Digest) -> bool:
        return os.path.exists(self._layer_link(repository, digest)) and self.stat_blob(digest) is not None

    def link_blob(self, repository: str, digest: Digest) -> None:
        path = self._layer_link(repository, digest)
        if not os.path.exists(path):
            self._write(path, str(digest).encode())
        self._touch_blob(digest)

    def _touch_blob(self, digest: Digest) -> None:
        """Restart gc's grace period: the blob is about to be referenced (a manifest will follow)."""
        try:
            os.utime(self._blob_path(digest))
        except FileNotFoundError:
            pass

    def unlink_blob(self, repository: str, digest: Digest) -> bool:
        return self._remove(self._layer_link(repository, digest))

    # -- manifests and tags
    def _put_blob_bytes(self, digest: Digest, data: bytes) -> None:
        path = self._blob_path(digest)
        if not os.path.exists(path):
            self._write(path, data)
        else:
            self._touch_blob(digest)

    def put_manifest(self, repository: str, digest: Digest, media_type: str, data: bytes,
                     subject: Digest | None = None, referrer: dict | None = None) -> None:
        self._put_blob_bytes(digest, data)
        if subject is not None and referrer is not None:
            entry = os.path.join(self._referrers_dir(repository, subject), f"{digest.algorithm}-{digest.hex}")
            self._write(entry, json.dumps(referrer).encode())
        link = {"mediaType": media_type, "size": len(data)}
        if subject is not None:
            link["subject"] = str(subject)
        self._write(self._revision(repository, digest), json.dumps(link).encode())

    def _revision_link(self, repository: str, digest: Digest) -> dict | None:
        try:
            with open(self._revision(repository, digest), "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def manifest_info(self, repository: str, digest: Digest) -> ManifestInfo | None:
        link = self._revision_link(repository, digest)
        if link is None or self.stat_blob(digest) is None:
            return None
        return ManifestInfo(digest, link["mediaType"], link["size"])

    def delete_manifest(self, repository: str, digest: Digest) -> bool:
        link = self._revision_link(repository, digest)
        if link is None:
            return False
        for tag in self.tags(repository) or []:
            if self.resolve_tag(repository, tag) == digest:
                self._remove(self._tag(repository, tag))
        if link.get("subject"):
            subject = Digest.parse(link["subject"])
            self._remove(os.path.join(self._referrers_dir(repository, subject), f"{digest.algorithm}-{digest.hex}"))
        return self._remove(self._revision(repository, digest))

    def set_tag(self, repository: str, tag: str, digest: Digest) -> None:
        self._write(self._tag(repository, tag), str(digest).encode())

    def resolve_tag(self, repository: str, tag: str) -> Digest | None:
        try:
            with open(self._tag(repository, tag), "rb") as f:
                return Digest.parse(f.read().decode())
        except FileNotFoundError:
            return None

    def delete_tag(self, repository: str, tag: str) -> bool:
        return self._remove(self._tag(repository, tag))

    def tags(self, repository: str) -> list[str] | None:
        if not os.path.isdir(self._repo(repository)):
            return None
        try:
            names = os.listdir(self._repo(repository, "_manifests", "tags"))
        except FileNotFoundError:
            return []
        return sorted(n for n in names if not n.startswith(_TMP_PREFIX))

    def repositories(self) -> list[str]:
        top = os.path.join(self.root, "repositories")
        found = []
        for dirpath, dirnames, _ in os.walk(top):
            if any(d in ("_layers", "_manifests") for d in dirnames):
                found.append(os.path.relpath(dirpath, top))
            dirnames[:] = [d for d in dirnames if not d.startswith("_")]
        return sorted(found)

    def referrers(self, repository: str, subject: Digest) -> list[dict]:
        directory = self._referrers_dir(repository, subject)
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            if name.startswith(_TMP_PREFIX):
                continue
            try:
                with open(os.path.join(directory, name), "rb") as f:
                    out.append(json.load(f))
            except (FileNotFoundError, ValueError):
                continue
        return out

    # -- read-only listings
    def tag_infos(self, repository: str) -> list[TagInfo]:
        out = []
        for tag in self.tags(repository) or []:
            path = self._tag(repository, tag)
            try:
                with open(path, "rb") as f:
                    digest = Digest.parse(f.read().decode())
                    updated = os.fstat(f.fileno()).st_mtime  # tags are rewritten, never edited: mtime is when set
            except (FileNotFoundError, ValueError):
                continue
            out.append(TagInfo(tag, digest, updated))
        return out

    def _digests_under(self, directory: str) -> list[Digest]:
        out = []
        try:
            algorithms = sorted(os.listdir(directory))
        except FileNotFoundError:
            return out
        for algorithm in algorithms:
            try:
                hexes = sorted(os.listdir(os.path.join(directory, algorithm)))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for hexpart in hexes:
                if hexpart.startswith(_TMP_PREFIX):
                    continue
                try:
                    out.append(Digest.parse(f"{algorithm}:{hexpart}"))
                except ValueError:
                    continue
        return out

    def manifest_infos(self, repository: str) -> list[ManifestInfo]:
        found = (self.manifest_info(repository, digest)
                 for digest in self._digests_under(self._repo(repository, "_manifests", "revisions")))
        return [info for info in found if info is not None]

    def linked_blobs(self, repository: str) -> list[Digest]:
        return self._digests_under(self._repo(repository, "_layers"))

    def stored_blobs(self):
        top = os.path.join(self.root, "blobs")
        for algorithm in sorted(os.listdir(top)):
            for dirpath, _, files in os.walk(os.path.join(top, algorithm)):
                for name in files:
                    if name.startswith(_TMP_PREFIX):
                        continue
                    try:
                        digest = Digest.parse(f"{algorithm}:{name}")
                        size = os.stat(os.path.join(dirpath, name)).st_size
                    except (ValueError, FileNotFoundError):
                        continue
                    yield digest, size

    # -- garbage collection
    def gc_lock(self, exclusive: bool = False, blocking: bool = True):
        return flock(os.path.join(self.root, "gc.lock"), shared=not exclusive, blocking=blocking)

    def _blob_stat(self, digest: Digest, path: str) -> StoredBlob | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return StoredBlob(digest, st.st_size, st.st_mtime)

    def blob_stats(self):
        top = os.path.join(self.root, "blobs")
        for algorithm in sorted(os.listdir(top)):
            for dirpath, _, files in os.walk(os.path.join(top, algorithm)):
                for name in sorted(files):
                    if name.startswith(_TMP_PREFIX):
                        continue
                    try:
                        digest = Digest.parse(f"{algorithm}:{name}")
                    except ValueError:
                        continue
                    found = self._blob_stat(digest, os.path.join(dirpath, name))
                    if found is not None:
                        yield found

    def blob_stat(self, digest: Digest) -> StoredBlob | None:
        return self._blob_stat(digest, self._blob_path(digest))

    def revisions(self, repository: str) -> list[Revision]:
        out = []
        top = self._repo(repository, "_manifests", "revisions")
        for digest in self._digests_under(top):
            try:
                written = os.stat(os.path.join(top, digest.algorithm, digest.hex)).st_mtime
            except FileNotFoundError:
                continue
            out.append(Revision(digest, written))
        return out

    def delete_blob(self, digest: Digest) -> bool:
        return self._remove(self._blob_path(digest))
