"""The storage interface the registry's handlers use, independent of where bytes live.

Blobs are content-addressed and stored once for the whole registry; a repository holds links to
the blobs and manifests it has, and its tags. Uploads live apart until committed. The filesystem
backend (`filesystem.FilesystemStorage`) is the default; an object-store backend would implement
the same methods. Every method is blocking: the server calls them from worker threads.
"""
from __future__ import annotations

from berth.oci.digest import Digest
from berth.oci.image import MAX_MANIFEST_SIZE
from berth.record import Record


class ManifestInfo(Record):
    digest: Digest
    media_type: str
    size: int


class TagInfo(Record):
    tag: str
    digest: Digest
    updated: float  # when the tag was last set (seconds since the epoch)


class StoredBlob(Record):
    digest: Digest
    size: int
    modified: float  # last stored or re-linked (seconds since the epoch): gc's grace period counts from here


class Revision(Record):
    digest: Digest
    written: float  # when the repository's link to the manifest was last written


class StoredUpload(Record):
    upload_id: str
    repository: str | None  # None: its start was cut short (no readable record of whose it is)
    private: bool  # the server's own, for a single-request push: no client knows its id
    size: int
    modified: float  # last written (seconds since the epoch)


class UploadWriter:
    """An open upload: bytes are appended at `size`; `truncate` undoes a failed request's tail."""
    size: int

    def write(self, chunk: bytes) -> None:
        raise NotImplementedError

    def truncate(self, size: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Storage:
    def generation(self):
        """A value that changes after every change that can make a cached read wrong (tags set or
        deleted, manifests deleted, blobs unlinked or deleted, a new repository), by this process
        or another; None
        when the backend cannot tell, and then nothing is cached (see `cache`)."""
        return None

    # -- blobs, shared by every repository
    def stat_blob(self, digest: Digest) -> int | None:
        """The blob's size, or None when the registry does not have it."""
        raise NotImplementedError

    def open_blob(self, digest: Digest):
        """A seekable binary file object; the caller closes it."""
        raise NotImplementedError

    def read_blob(self, digest: Digest, limit: int = MAX_MANIFEST_SIZE) -> bytes:
        """A small blob (a manifest) in full; OSError(EFBIG) when it is larger than `limit`."""
        raise NotImplementedError

    # -- uploads
    def create_upload(self, repository: str, private: bool = False) -> str:
        """A new, empty upload; `private` for one the server finishes within the request that
        started it (its id never reaches a client), so gc knows no client will resume it."""
        raise NotImplementedError

    def upload_size(self, repository: str, upload_id: str) -> int | None:
        """Bytes received so far, or None when there is no such upload for this repository."""
        raise NotImplementedError

    def open_upload(self, repository: str, upload_id: str) -> UploadWriter:
        raise NotImplementedError

    def read_upload(self, repository: str, upload_id: str, chunk_size: int):
        """Iterate the upload's bytes (to rebuild a hash after a restart)."""
        raise NotImplementedError

    def commit_upload(self, repository: str, upload_id: str, digest: Digest) -> None:
        """Make the upload the blob `digest` (the caller verified it) and link it to the repository."""
        raise NotImplementedError

    def delete_upload(self, repository: str, upload_id: str) -> bool:
        raise NotImplementedError

    def purge_uploads(self, older_than: float) -> int:
        """Remove uploads (and other leftovers of interrupted writes) not touched for `older_than` seconds."""
        raise NotImplementedError

    def upload_stats(self):
        """Iterate StoredUpload over every upload, finished or not, valid or not."""
        raise NotImplementedError

    def remove_upload_if_idle(self, upload_id: str, since: float) -> bool:
        """Remove the upload if nothing was written to it since `since` (seconds since the epoch)."""
        raise NotImplementedError

    # -- repository links
    def has_blob(self, repository: str, digest: Digest) -> bool:
        raise NotImplementedError

    def link_blob(self, repository: str, digest: Digest) -> None:
        raise NotImplementedError

    def unlink_blob(self, repository: str, digest: Digest) -> bool:
        raise NotImplementedError

    # -- manifests and tags
    def put_manifest(self, repository: str, digest: Digest, media_type: str, data: bytes,
                     subject: Digest | None = None, referrer: dict | None = None) -> None:
        """Store the manifest bytes and link them; with a subject, record `referrer` (a descriptor)."""
        raise NotImplementedError

    def manifest_info(self, repository: str, digest: Digest) -> ManifestInfo | None:
        raise NotImplementedError

    def delete_manifest(self, repository: str, digest: Digest) -> bool:
        """Unlink a manifest, the tags that point at it and its referrer entry."""
        raise NotImplementedError

    def set_tag(self, repository: str, tag: str, digest: Digest) -> None:
        raise NotImplementedError

    def resolve_tag(self, repository: str, tag: str) -> Digest | None:
        raise NotImplementedError

    def delete_tag(self, repository: str, tag: str) -> bool:
        raise NotImplementedError

    def tags(self, repository: str) -> list[str] | None:
        """Sorted tags, or None when the repository does not exist."""
        raise NotImplementedError

    def repositories(self) -> list[str]:
        """Sorted names of every repository that holds something."""
        raise NotImplementedError

    def referrers(self, repository: str, subject: Digest) -> list[dict]:
        """Descriptors of the repository's manifests whose subject is `subject`."""
        raise NotImplementedError

    # -- read-only listings for the web UI and storage statistics
    def tag_infos(self, repository: str) -> list[TagInfo]:
        """Every tag of the repository with its digest and when it was set, sorted by tag."""
        raise NotImplementedError

    def manifest_infos(self, repository: str) -> list[ManifestInfo]:
        """Every manifest the repository links (tagged or not)."""
        raise NotImplementedError

    def linked_blobs(self, repository: str) -> list[Digest]:
        """Every blob (config or layer) the repository links."""
        raise NotImplementedError

    def stored_blobs(self):
        """Iterate (digest, size) over every blob stored, linked or not."""
        raise NotImplementedError

    # -- garbage collection (gc.py); see its docstring for how these keep a running server safe
    def gc_lock(self, exclusive: bool = False, blocking: bool = True):
        """A context manager yielding whether the lock is held. Server writes that make a blob
        referenced (commit, mount, manifest put) hold it shared; gc's sweep holds it exclusive."""
        import contextlib
        return contextlib.nullcontext(True)

    def blob_stats(self):
        """Iterate StoredBlob over every blob stored."""
        raise NotImplementedError

    def blob_stat(self, digest: Digest) -> StoredBlob | None:
        raise NotImplementedError

    def revisions(self, repository: str) -> list[Revision]:
        """The manifests the repository links, with when each link was written."""
        raise NotImplementedError

    def delete_blob(self, digest: Digest) -> bool:
        """Remove the blob's content (gc only, under the exclusive gc lock)."""
        raise NotImplementedError
