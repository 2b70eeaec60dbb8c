"""The filesystem storage backend.

    blobs/<algorithm>/<first two hex digits>/<hex>        content, stored once
    repositories/<name>/_layers/<algorithm>/<hex>         "this repository has that blob"
    repositories/<name>/_manifests/revisions/<alg>/<hex>  a manifest link: its media type and size
    repositories/<name>/_manifests/tags/<tag>             the digest a tag points at
    repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>  descriptor of a manifest whose subject is <alg>:<hex>
    uploads/<id>/data, uploads/<id>/info                  uploads in progress
    gc.lock                                               writes that link blobs share it, gc's sweep excludes them
    changes                                               a byte appended after every change a reader may have cached
    token-secret                                          the token service's signing key (--auth token), 0600

A blob appears only by renaming a complete, fsync'd file to its final name, so a killed server
leaves nothing partial where readers look; two uploads of the same content race harmlessly (the
second rename replaces identical bytes). Repository names reaching this module were validated by
`names`, whose pattern allows no `..`, empty or `_`-leading component: link directories and
repository directories cannot collide.

That no path leaves the root does not rest on `names` alone. Every path is built from components
checked here (no `/`, NUL, `.` or `..`) and resolved by openat2 relative to an fd of the root,
with RESOLVE_BENEATH and no symlink followed: the kernel refuses to leave the root whatever the
path says, and a symlink found in the storage (the registry writes none) counts as missing. Only
regular files are read (an O_PATH open and fstat come first, so a device or FIFO is never
opened), and every read is bounded. Writes, renames and unlinks of blobs, links, tags and
referrers act relative to directory fds opened the same way; the upload area's own files
(uploads/<id>, an id generated here or matched against a strict pattern by `names`) are still
handled by path. Files that fail to parse count as missing; their contents never reach an error
message or the log.

`changes` lets servers cache what they read (see `cache`): every change that can make a cached
answer wrong (a tag set or deleted, a manifest deleted, a blob unlinked or deleted, a repository
appearing: by any server process or `berth registry gc`) appends one byte to it after the change, with O_APPEND, so its
size only grows and one stat tells a reader whether anything changed since it last looked. It is
not fsync'd: after a crash no process holds a cache from before it.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import time
import uuid

from berth import safejson
from berth.archive import securefs
from berth.errors import InvalidDigest
from berth.oci.digest import Digest
from berth.oci.image import MAX_MANIFEST_SIZE
from berth.registry.server.storage import (ManifestInfo, Revision, Storage, StoredBlob, StoredUpload, TagInfo,
                                           UploadWriter)
from berth.store.fsutil import atomic_write, flock

_TMP_PREFIX = ".tmp-"
_BENEATH = securefs.RESOLVE_BENEATH | securefs.RESOLVE_NO_SYMLINKS | securefs.RESOLVE_NO_MAGICLINKS
# what openat2 answers for a path that is not there, or not reachable without leaving the root or
# following a symlink (this module writes none: one found was not put there by the registry)
_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV})
_LINK_LIMIT = 4096  # tag files, revision links, referrer descriptors, upload info: small JSON or a digest
_REFERRER_LIMIT = 64 << 10  # a referrer descriptor carries the manifest's annotations
_CHANGES = "changes"


def _rel(*parts: str) -> str:
    """A relative path inside the root from single components; refuses anything that could walk."""
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\0" in part:
            raise ValueError(f"invalid storage path component {part[:100]!r}")
    return "/".join(parts)


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
        # every path resolves beneath this fd (held until close)
        self._root_fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def generation(self):
        """Changes whenever a change was recorded (see `changes` above); None without the file."""
        try:
            st = os.stat(_CHANGES, dir_fd=self._root_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_ctime_ns) if stat.S_ISREG(st.st_mode) else None

    def _changed(self) -> None:
        """Record a change, after making it (a reader that looked before must see a new generation)."""
        fd = os.open(_CHANGES, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                     dir_fd=self._root_fd)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def __del__(self):
        try:
            self.close()
        except (OSError, AttributeError, TypeError):  # half-built, or at interpreter exit
            pass

    # -- paths, relative to the root
    def _blob_rel(self, digest: Digest) -> str:
        return _rel("blobs", digest.algorithm, digest.hex[:2], digest.hex)

    def _repo_rel(self, repository: str, *parts: str) -> str:
        return _rel("repositories", *repository.split("/"), *parts)

    def _layer_rel(self, repository: str, digest: Digest) -> str:
        return self._repo_rel(repository, "_layers", digest.algorithm, digest.hex)

    def _revision_rel(self, repository: str, digest: Digest) -> str:
        return self._repo_rel(repository, "_manifests", "revisions", digest.algorithm, digest.hex)

    def _tag_rel(self, repository: str, tag: str) -> str:
        return self._repo_rel(repository, "_manifests", "tags", tag)

    def _referrers_rel(self, repository: str, subject: Digest) -> str:
        return self._repo_rel(repository, "_referrers", subject.algorithm, subject.hex)

    def _referrer_rel(self, repository: str, subject: Digest, digest: Digest) -> str:
        return f"{self._referrers_rel(repository, subject)}/{digest.algorithm}-{digest.hex}"

    def _upload(self, upload_id: str, name: str = "") -> str:
        return os.path.join(self.root, "uploads", upload_id, name)

    # -- reading, beneath the root fd
    def _open_path(self, rel: str, flags: int = os.O_PATH) -> int | None:
        try:
            return securefs.openat2(self._root_fd, rel, flags, _BENEATH)
        except OSError as e:
            if e.errno in _ABSENT:
                return None
            raise

    def _stat(self, rel: str) -> os.stat_result | None:
        """The regular file's stat; None when it is missing or anything else."""
        fd = self._open_path(rel)
        if fd is None:
            return None
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return st if stat.S_ISREG(st.st_mode) else None

    def _open(self, rel: str) -> int | None:
        """A read-only fd of the regular file; None when it is missing or anything else (a FIFO or
        device is looked at through O_PATH only, never opened)."""
        fd = self._open_path(rel)
        if fd is None:
            return None
        try:
            return securefs.open_regular(fd)
        finally:
            os.close(fd)

    def _read(self, rel: str, limit: int) -> tuple[bytes, os.stat_result] | None:
        """At most `limit` bytes: the whole regular file, or None when it is missing or anything
        else. A longer file raises OSError(EFBIG)."""
        fd = self._open(rel)
        if fd is None:
            return None
        try:
            st = os.fstat(fd)
            # read what fstat promises (plus one byte, to see the end) rather than `limit`: a read of
            # `limit` bytes allocates that much up front, megabytes for a 100-byte file
            pieces, size = [], 0
            while size <= limit:
                piece = os.read(fd, min(max(st.st_size - size, 0), limit - size) + 1)
                if not piece:
                    break
                pieces.append(piece)
                size += len(piece)
        finally:
            os.close(fd)
        if size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", rel)
        return b"".join(pieces), st

    def _read_json(self, rel: str, limit: int = _LINK_LIMIT):
        """A small JSON object this module wrote; None when missing, oversized or corrupt."""
        try:
            found = self._read(rel, limit)
            doc = safejson.loads(found[0], limit) if found else None
        except safejson.InvalidJSON:
            return None
        except OSError as e:
            if e.errno != errno.EFBIG:
                raise
            return None
        return doc if isinstance(doc, dict) else None

    def _read_digest(self, rel: str) -> tuple[Digest, os.stat_result] | None:
        """The digest in a tag file; None when missing or corrupt."""
        try:
            found = self._read(rel, _LINK_LIMIT)
            return (Digest.parse(found[0].decode("ascii")), found[1]) if found else None
        except (InvalidDigest, UnicodeDecodeError):
            return None
        except OSError as e:
            if e.errno != errno.EFBIG:
                raise
            return None

    def _listdir(self, rel: str, dirs: bool = False) -> list[str] | None:
        """Names of the regular files (or with `dirs`, the directories) in `rel`, temp files left
        out; None when `rel` is missing. A symlink is neither."""
        fd = self._open_path(rel, os.O_RDONLY | os.O_DIRECTORY)
        if fd is None:
            return None
        try:
            with os.scandir(fd) as entries:
                return [e.name for e in entries if not e.name.startswith(_TMP_PREFIX)
                        and (e.is_dir(follow_symlinks=False) if dirs else e.is_file(follow_symlinks=False))]
        finally:
            os.close(fd)

    # -- writing, beneath the root fd
    def _dir(self, rel: str, create: bool = False) -> int | None:
        """A read-only fd of the directory `rel` (made with its parents when `create`); None when
        it is missing (or not reachable without a symlink)."""
        fd = self._open_path(rel, os.O_RDONLY | os.O_DIRECTORY)
        if fd is not None or not create:
            return fd
        parent = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self._root_fd)
        parts = rel.split("/")
        try:
            for part in parts:
                try:
                    os.mkdir(part, 0o755, dir_fd=parent)
                    if parts[0] == "repositories" and part in ("_layers", "_manifests"):
                        self._changed()  # a new repository: the catalog changed
                except FileExistsError:
                    pass
                child = securefs.openat2(parent, part, os.O_RDONLY | os.O_DIRECTORY, _BENEATH)
                os.close(parent)
                parent = child
            return parent
        except BaseException:
            os.close(parent)
            raise

    def _write(self, rel: str, data: bytes) -> None:
        """Atomically: a temp file beside the target, fsync'd, renamed over it, the directory fsync'd."""
        directory, _, name = rel.rpartition("/")
        dir_fd = self._dir(directory, create=True)
        try:
            tmp = _TMP_PREFIX + os.urandom(6).hex()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                         dir_fd=dir_fd)
            try:
                with open(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fchmod(f.fileno(), 0o644)
                    os.fsync(f.fileno())
                os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=dir_fd)
                except FileNotFoundError:
                    pass
                raise
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _remove(self, rel: str) -> bool:
        directory, _, name = rel.rpartition("/")
        dir_fd = self._dir(directory)
        if dir_fd is None:
            return False
        try:
            os.unlink(name, dir_fd=dir_fd)  # the entry itself, never what a symlink names
        except (FileNotFoundError, IsADirectoryError):
            return False
        finally:
            os.close(dir_fd)
        return True

    # -- blobs
    def stat_blob(self, digest: Digest) -> int | None:
        st = self._stat(self._blob_rel(digest))
        return st.st_size if st else None

    def open_blob(self, digest: Digest):
        fd = self._open(self._blob_rel(digest))
        if fd is None:
            raise FileNotFoundError(errno.ENOENT, "no such blob", str(digest))
        return open(fd, "rb")

    def read_blob(self, digest: Digest, limit: int = MAX_MANIFEST_SIZE) -> bytes:
        found = self._read(self._blob_rel(digest), limit)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, "no such blob", str(digest))
        return found[0]

    # -- uploads
    def create_upload(self, repository: str, private: bool = False) -> str:
        upload_id = uuid.uuid4().hex
        os.makedirs(self._upload(upload_id))
        with open(self._upload(upload_id, "data"), "wb"):
            pass
        record = {"repository": repository, "started": time.time()}
        if private:
            record["private"] = True
        info = json.dumps(record).encode()
        atomic_write(self._upload(upload_id, "info"), info)
        return upload_id

    def _upload_repository(self, upload_id: str) -> str | None:
        info = self._read_json(_rel("uploads", upload_id, "info"))
        return info.get("repository") if info else None

    def upload_size(self, repository: str, upload_id: str) -> int | None:
        if self._upload_repository(upload_id) != repository:
            return None
        st = self._stat(_rel("uploads", upload_id, "data"))
        return st.st_size if st else None

    def open_upload(self, repository: str, upload_id: str) -> UploadWriter:
        return FileUploadWriter(self._upload(upload_id, "data"))

    def read_upload(self, repository: str, upload_id: str, chunk_size: int):
        fd = self._open(_rel("uploads", upload_id, "data"))
        if fd is None:
            raise FileNotFoundError(errno.ENOENT, "no such upload", upload_id)
        with open(fd, "rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk

    def commit_upload(self, repository: str, upload_id: str, digest: Digest) -> None:
        if self.stat_blob(digest) is None:
            upload_dir = self._dir(_rel("uploads", upload_id))
            if upload_dir is None:
                raise FileNotFoundError(errno.ENOENT, "no such upload", upload_id)
            directory, _, name = self._blob_rel(digest).rpartition("/")
            try:
                fd = os.open("data", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=upload_dir)
                try:
                    os.fsync(fd)
                    os.fchmod(fd, 0o644)
                finally:
                    os.close(fd)
                blob_dir = self._dir(directory, create=True)
                try:
                    os.rename("data", name, src_dir_fd=upload_dir, dst_dir_fd=blob_dir)
                    os.fsync(blob_dir)
                finally:
                    os.close(blob_dir)
            finally:
                os.close(upload_dir)
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

    def _upload_stat(self, upload_id: str) -> StoredUpload | None:
        path = self._upload(upload_id)
        try:
            names = os.listdir(path)
            stats = {name: os.lstat(os.path.join(path, name)) for name in names}
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            with open(os.path.join(path, "info"), "rb") as f:
                record = json.load(f)
            repository = record.get("repository") if "data" in stats else None
        except (OSError, ValueError, AttributeError):
            record, repository = {}, None
        if not isinstance(repository, str):
            repository = None
        modified = max([st.st_mtime for st in stats.values()] or [os.lstat(path).st_mtime])
        size = stats["data"].st_size if "data" in stats else 0
        return StoredUpload(upload_id, repository, record.get("private") is True, size, modified)

    def upload_stats(self):
        for upload_id in sorted(os.listdir(os.path.join(self.root, "uploads"))):
            try:
                found = self._upload_stat(upload_id)
            except FileNotFoundError:
                continue
            if found is not None:
                yield found

    def remove_upload_if_idle(self, upload_id: str, since: float) -> bool:
        current = self._upload_stat(upload_id)
        if current is None or current.modified >= since:
            return False
        shutil.rmtree(self._upload(upload_id), ignore_errors=True)
        return True

    # -- repository links
    def has_blob(self, repository: str, digest: Digest) -> bool:
        return self._stat(self._layer_rel(repository, digest)) is not None and self.stat_blob(digest) is not None

    def link_blob(self, repository: str, digest: Digest) -> None:
        if self._stat(self._layer_rel(repository, digest)) is None:
            self._write(self._layer_rel(repository, digest), str(digest).encode())
        self._touch_blob(digest)

    def _touch_blob(self, digest: Digest) -> None:
        """Restart gc's grace period: the blob is about to be referenced (a manifest will follow)."""
        directory, _, name = self._blob_rel(digest).rpartition("/")
        dir_fd = self._dir(directory)
        if dir_fd is None:
            return
        try:
            os.utime(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            pass
        finally:
            os.close(dir_fd)

    def unlink_blob(self, repository: str, digest: Digest) -> bool:
        removed = self._remove(self._layer_rel(repository, digest))
        if removed:
            self._changed()
        return removed

    # -- manifests and tags
    def _put_blob_bytes(self, digest: Digest, data: bytes) -> None:
        if self.stat_blob(digest) is None:
            self._write(self._blob_rel(digest), data)
        else:
            self._touch_blob(digest)

    def put_manifest(self, repository: str, digest: Digest, media_type: str, data: bytes,
                     subject: Digest | None = None, referrer: dict | None = None) -> None:
        self._put_blob_bytes(digest, data)
        if subject is not None and referrer is not None:
            self._write(self._referrer_rel(repository, subject, digest), json.dumps(referrer).encode())
        link = {"mediaType": media_type, "size": len(data)}
        if subject is not None:
            link["subject"] = str(subject)
        self._write(self._revision_rel(repository, digest), json.dumps(link).encode())

    def _revision_link(self, repository: str, digest: Digest) -> dict | None:
        link = self._read_json(self._revision_rel(repository, digest))
        if link is None or not isinstance(link.get("mediaType"), str) or type(link.get("size")) is not int:
            return None
        return link

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
                self._remove(self._tag_rel(repository, tag))
        try:
            subject = Digest.parse(link["subject"]) if link.get("subject") else None
        except InvalidDigest:
            subject = None
        if subject is not None:
            self._remove(self._referrer_rel(repository, subject, digest))
        removed = self._remove(self._revision_rel(repository, digest))
        self._changed()  # also when only tags went
        return removed

    def set_tag(self, repository: str, tag: str, digest: Digest) -> None:
        self._write(self._tag_rel(repository, tag), str(digest).encode())
        self._changed()

    def resolve_tag(self, repository: str, tag: str) -> Digest | None:
        found = self._read_digest(self._tag_rel(repository, tag))
        return found[0] if found else None

    def delete_tag(self, repository: str, tag: str) -> bool:
        removed = self._remove(self._tag_rel(repository, tag))
        if removed:
            self._changed()
        return removed

    def tags(self, repository: str) -> list[str] | None:
        fd = self._open_path(self._repo_rel(repository), os.O_PATH | os.O_DIRECTORY)
        if fd is None:
            return None
        os.close(fd)
        return sorted(self._listdir(self._repo_rel(repository, "_manifests", "tags")) or [])

    def repositories(self) -> list[str]:
        top = os.path.join(self.root, "repositories")
        found = []
        for dirpath, dirnames, _ in os.walk(top):
            if any(d in ("_layers", "_manifests") for d in dirnames):
                found.append(os.path.relpath(dirpath, top))
            dirnames[:] = [d for d in dirnames if not d.startswith("_")]
        return sorted(found)

    def referrers(self, repository: str, subject: Digest) -> list[dict]:
        directory = self._referrers_rel(repository, subject)
        out = []
        for name in sorted(self._listdir(directory) or []):
            descriptor = self._read_json(f"{directory}/{_rel(name)}", _REFERRER_LIMIT)
            if descriptor is not None:
                out.append(descriptor)
        return out

    # -- read-only listings
    def tag_infos(self, repository: str) -> list[TagInfo]:
        out = []
        for tag in self.tags(repository) or []:
            found = self._read_digest(self._tag_rel(repository, tag))
            if found is not None:  # tags are rewritten, never edited: mtime is when set
                out.append(TagInfo(tag, found[0], found[1].st_mtime))
        return out

    def _digests_under(self, directory: str) -> list[Digest]:
        out = []
        for algorithm in sorted(self._listdir(directory, dirs=True) or []):
            for hexpart in sorted(self._listdir(f"{directory}/{algorithm}") or []):
                try:
                    out.append(Digest.parse(f"{algorithm}:{hexpart}"))
                except ValueError:
                    continue
        return out

    def manifest_infos(self, repository: str) -> list[ManifestInfo]:
        found = (self.manifest_info(repository, digest)
                 for digest in self._digests_under(self._repo_rel(repository, "_manifests", "revisions")))
        return [info for info in found if info is not None]

    def linked_blobs(self, repository: str) -> list[Digest]:
        return self._digests_under(self._repo_rel(repository, "_layers"))

    def stored_blobs(self):
        top = os.path.join(self.root, "blobs")
        for algorithm in sorted(os.listdir(top)):
            for dirpath, _, files in os.walk(os.path.join(top, algorithm)):
                for name in files:
                    if name.startswith(_TMP_PREFIX):
                        continue
                    try:
                        digest = Digest.parse(f"{algorithm}:{name}")
                    except ValueError:
                        continue
                    size = self.stat_blob(digest)
                    if size is not None:
                        yield digest, size

    # -- garbage collection
    def gc_lock(self, exclusive: bool = False, blocking: bool = True):
        return flock(os.path.join(self.root, "gc.lock"), shared=not exclusive, blocking=blocking)

    def _blob_stat(self, digest: Digest) -> StoredBlob | None:
        st = self._stat(self._blob_rel(digest))
        return StoredBlob(digest, st.st_size, st.st_mtime) if st else None

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
                    found = self._blob_stat(digest)
                    if found is not None:
                        yield found

    def blob_stat(self, digest: Digest) -> StoredBlob | None:
        return self._blob_stat(digest)

    def revisions(self, repository: str) -> list[Revision]:
        out = []
        for digest in self._digests_under(self._repo_rel(repository, "_manifests", "revisions")):
            st = self._stat(self._revision_rel(repository, digest))
            if st is not None:
                out.append(Revision(digest, st.st_mtime))
        return out

    def delete_blob(self, digest: Digest) -> bool:
        removed = self._remove(self._blob_rel(digest))
        if removed:
            self._changed()
        return removed
