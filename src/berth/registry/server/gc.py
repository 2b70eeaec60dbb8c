"""Garbage collection of a registry's storage (`berth registry gc`): mark, then sweep.

Mark. The kept manifests of each repository are, by default, every manifest it links (tagged or
not: a digest someone pushed may still be pulled by digest). With `delete_untagged`, they are the
manifests a tag points at, plus those linked within the grace period (an index's children are
pushed before the index that tags them), plus, recursively, the children of kept indexes and the
referrers (manifests whose `subject` is a kept manifest: signatures, SBOMs) of kept manifests.
Every kept manifest marks its own blob and the config, layers and `blobs` it names. Marking is
global: a layer two repositories share survives while either keeps a manifest naming it.

Sweep. A blob is deleted when it is unmarked and was last written or re-linked longer than the
grace period ago. With `delete_untagged`, the repository links of manifests that are not kept
are removed first (with their tags, none, and their referrer entries), so their blobs go in the
same run.

Safety while `serve` runs. The server's writes that make a blob referenced (finishing an upload,
mounting, storing a manifest after checking its blobs exist) hold the storage's gc lock shared;
the sweep holds it exclusive, so no such write is half done while blobs are deleted. Before
deleting anything, under that lock, the sweep re-reads what changed since marking began:
manifest links written since then are kept and marked (with their children), and a blob written
or re-linked since then (commit, mount and manifest put refresh a blob's mtime) is spared. A
write that starts after the sweep finds the blob gone and fails as for any unknown blob, or
re-uploads it; it never links a deleted blob. The grace period adds a margin for clients between
steps of a push (a layer uploaded, its manifest not yet sent): such a blob is unmarked but young.
Marking takes no lock, so pushes are paused only while the sweep deletes files.

Uploads. An unfinished upload is its client's to resume, however long it waits: the server purges
abandoned ones (`serve --purge-uploads-after`). gc removes the orphans, those no client can ever
finish, once nothing was written to them for the grace period: the server's own uploads for a
single-request push (POST with ?digest=, whose id no client learns), left behind by a server killed
mid-request, and uploads whose start was cut short (no record of their repository). An upload
that vanishes under a request that was still writing it (a grace of 0) fails that request as an
unknown upload.
"""
from __future__ import annotations

import time

from berth import safejson
from berth.oci.digest import Digest
from berth.oci.image import MAX_MANIFEST_SIZE
from berth.record import Record
from berth.registry.server.storage import Storage

# file timestamps come from a coarse kernel clock that may trail time.time() by a tick
_CLOCK_SLACK = 0.05


class GcReport(Record):
    blobs: list = []  # [(digest, size)] deleted, or that would be with dry_run
    manifests: list = []  # [(repository, digest)] untagged manifests unlinked
    uploads: list = []  # [(upload id, size)] orphaned uploads removed
    freed: int = 0  # bytes

    def summary(self, dry_run: bool) -> str:
        verb, freed = ("would delete", "would free") if dry_run else ("deleted", "freed")
        uploads = f", {len(self.uploads)} orphaned upload(s)" if self.uploads else ""
        return (f"{verb} {len(self.blobs)} blob(s) and {len(self.manifests)} untagged manifest(s){uploads}, "
                f"{freed} {self.freed} bytes")


def references(data: bytes) -> tuple[list[Digest], list[Digest]]:
    """(blobs, child manifests) a manifest or index names; tolerant of unexpected shapes, since
    missing one reference would delete a blob still in use."""
    try:
        doc = safejson.loads(data, MAX_MANIFEST_SIZE)
    except safejson.InvalidJSON:  # not a manifest any client could pull
        return [], []
    if not isinstance(doc, dict):
        return [], []

    def digests(descriptors) -> list[Digest]:
        out = []
        for descriptor in descriptors if isinstance(descriptors, list) else []:
            if isinstance(descriptor, dict) and isinstance(descriptor.get("digest"), str):
                try:
                    out.append(Digest.parse(descriptor["digest"]))
                except ValueError:
                    continue
        return out

    blobs = digests([doc.get("config")]) + digests(doc.get("layers")) + digests(doc.get("blobs"))
    return blobs, digests(doc.get("manifests"))


class _Marker:
    """Kept manifests per repository and every blob they reach."""

    def __init__(self, storage: Storage, follow_referrers: bool):
        self.storage = storage
        self.follow_referrers = follow_referrers
        self.kept: dict[str, set[Digest]] = {}
        self.marked: set[Digest] = set()

    def keep(self, repository: str, roots) -> None:
        kept = self.kept.setdefault(repository, set())
        stack = list(roots)
        while stack:
            digest = stack.pop()
            if digest in kept:
                continue
            kept.add(digest)
            self.marked.add(digest)
            try:
                data = self.storage.read_blob(digest)
            except (FileNotFoundError, OSError):
                continue  # linked but lost: nothing further to keep
            blobs, children = references(data)
            self.marked.update(blobs)
            stack.extend(children)
            if self.follow_referrers:
                for referrer in self.storage.referrers(repository, digest):
                    try:
                        stack.append(Digest.parse(referrer.get("digest", "")))
                    except ValueError:
                        continue


def _remove_orphaned_uploads(storage: Storage, idle_since: float, dry_run: bool, report, result: GcReport) -> None:
    for upload in storage.upload_stats():
        if not (upload.private or upload.repository is None) or upload.modified >= idle_since:
            continue
        whose = f"in {upload.repository}" if upload.repository else "of an unknown repository"
        if dry_run:
            report(f"would delete orphaned upload {upload.upload_id} {whose} ({upload.size} bytes)")
        elif storage.remove_upload_if_idle(upload.upload_id, idle_since):
            report(f"deleted orphaned upload {upload.upload_id} {whose} ({upload.size} bytes)")
        else:
            continue
        result.uploads.append((upload.upload_id, upload.size))
        result.freed += upload.size


def collect(storage: Storage, grace: float = 3600.0, delete_untagged: bool = False, dry_run: bool = False,
            report=lambda line: None) -> GcReport:
    """Mark and sweep; `report(line)` hears about each deletion as it happens."""
    started = time.time()
    young = started - grace
    marker = _Marker(storage, follow_referrers=delete_untagged)
    untagged: list[tuple[str, Digest]] = []
    for repository in storage.repositories():
        revisions = storage.revisions(repository)
        if delete_untagged:
            tagged = {storage.resolve_tag(repository, tag) for tag in storage.tags(repository) or []}
            roots = [r.digest for r in revisions if r.digest in tagged or r.written >= young]
        else:
            roots = [r.digest for r in revisions]
        marker.keep(repository, roots)
        kept = marker.kept.get(repository, set())
        untagged += [(repository, r.digest) for r in revisions if r.digest not in kept]
    # only kept manifests marked anything, so the untagged ones' blobs are candidates already
    candidates = [blob for blob in storage.blob_stats() if blob.digest not in marker.marked and blob.modified < young]

    result = GcReport()
    _remove_orphaned_uploads(storage, young, dry_run, report, result)
    if dry_run:
        for repository, digest in untagged:
            report(f"would delete untagged manifest {repository}@{digest}")
            result.manifests.append((repository, digest))
        for blob in candidates:
            report(f"would delete blob {blob.digest} ({blob.size} bytes)")
            result.blobs.append((blob.digest, blob.size))
            result.freed += blob.size
        return result

    with storage.gc_lock(exclusive=True):
        # what the server wrote while we marked is kept, whatever the first pass concluded
        changed_since = started - _CLOCK_SLACK
        for repository in storage.repositories():
            fresh = [r.digest for r in storage.revisions(repository) if r.written >= changed_since]
            marker.keep(repository, fresh)
        for repository, digest in untagged:
            if digest in marker.kept.get(repository, set()):
                continue
            if storage.delete_manifest(repository, digest):
                report(f"deleted untagged manifest {repository}@{digest}")
                result.manifests.append((repository, digest))
        repositories = storage.repositories()
        for blob in candidates:
            if blob.digest in marker.marked:
                continue
            current = storage.blob_stat(blob.digest)
            if current is None or current.modified >= min(young, changed_since):
                continue  # gone already, or written or re-linked since we looked
            if storage.delete_blob(blob.digest):
                for repository in repositories:
                    storage.unlink_blob(repository, blob.digest)
                report(f"deleted blob {blob.digest} ({current.size} bytes)")
                result.blobs.append((blob.digest, current.size))
                result.freed += current.size
    return result

