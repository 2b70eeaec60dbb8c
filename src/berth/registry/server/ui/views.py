"""What the web UI shows, gathered through the storage interface as plain JSON-ready dicts.

The same dicts are rendered as HTML (`pages`) or served as JSON (`?format=json`). Every function
here blocks (it reads storage) and runs in a worker thread. Manifests and configs are addressed by
content, so their parsed form is cached by digest and can never go stale.
"""
from __future__ import annotations

import threading

from berth import safejson
from berth.oci import mediatype
from berth.oci.digest import Digest
from berth.registry.server.storage import Storage

MAX_CONFIG_SIZE = 4 << 20  # an image config larger than this is not summarized
_CACHE_LIMIT = 2048
_INDEX_DEPTH = 2  # an index of indexes is legal; go no deeper than that when adding up sizes


def _descriptor(entry) -> dict | None:
    """The digest, media type, size (and platform, if any) of a manifest's descriptor entry."""
    if not isinstance(entry, dict):
        return None
    out = {"digest": str(entry.get("digest", "")), "media_type": str(entry.get("mediaType", "")),
           "size": entry.get("size") if isinstance(entry.get("size"), int) else 0}
    if isinstance(entry.get("platform"), dict):
        out["platform"] = platform_name(entry["platform"])
    if isinstance(entry.get("annotations"), dict):
        out["annotations"] = {str(k): str(v) for k, v in entry["annotations"].items()}
    if entry.get("artifactType"):
        out["artifact_type"] = str(entry["artifactType"])
    return out


def platform_name(doc: dict) -> str:
    parts = [doc.get("os"), doc.get("architecture"), doc.get("variant")]
    return "/".join(str(p) for p in parts if p) or "unknown"


def _list(value) -> list:
    """A manifest's list field, or [] for anything else (a stored manifest is whatever was pushed)."""
    return value if isinstance(value, list) else []


def _strings(value) -> list[str] | None:
    if isinstance(value, list):
        return [str(v) for v in value]
    return None


class Views:
    def __init__(self, storage: Storage):
        self.storage = storage
        self._cache: dict[tuple, dict] = {}
        self._lock = threading.Lock()  # several worker threads share the cache

    # -- content-addressed documents, cached
    def _cached(self, key: tuple, load):
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = load()
        if value is None:  # perhaps not pushed yet: look again next time
            return None
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = value
        return value

    def _json_blob(self, digest: Digest, limit: int) -> dict | None:
        size = self.storage.stat_blob(digest)
        if size is None or size > limit:
            return None
        try:  # a config is any blob a pusher chose: bounded like every client's JSON
            doc = safejson.loads(self.storage.read_blob(digest, limit), limit)
        except (safejson.InvalidJSON, OSError):
            return None
        return doc if isinstance(doc, dict) else None

    def _manifest_doc(self, digest: Digest) -> dict | None:
        return self._cached(("manifest", digest), lambda: self._json_blob(digest, MAX_CONFIG_SIZE))

    def _config_summary(self, descriptor: dict) -> dict | None:
        """os/arch, created, entrypoint and cmd of an image config; None for other config types."""
        if descriptor.get("media_type") not in mediatype.CONFIGS:
            return None
        try:
            digest = Digest.parse(descriptor["digest"])
        except ValueError:
            return None

        def load():
            doc = self._json_blob(digest, MAX_CONFIG_SIZE)
            if doc is None:
                return None
            run = doc.get("config") if isinstance(doc.get("config"), dict) else {}
            labels = run.get("Labels") if isinstance(run.get("Labels"), dict) else {}
            return {"platform": platform_name(doc), "created": str(doc.get("created") or ""),
                    "author": str(doc.get("author") or ""), "entrypoint": _strings(run.get("Entrypoint")),
                    "cmd": _strings(run.get("Cmd")), "working_dir": str(run.get("WorkingDir") or ""),
                    "user": str(run.get("User") or ""), "env": _strings(run.get("Env")) or [],
                    "labels": {str(k): str(v) for k, v in labels.items()},
                    "history": len(doc["history"]) if isinstance(doc.get("history"), list) else 0}
        return self._cached(("config", digest), load)

    def _blob_descriptors(self, digest: Digest, depth: int = 0) -> dict[str, int]:
        """Every blob (digest -> size) pulling the manifest would fetch, children's included."""
        doc = self._manifest_doc(digest)
        if doc is None:
            return {}
        out = {}
        entries = [doc.get("config")] + _list(doc.get("layers")) if "manifests" not in doc else []
        for entry in entries:
            d = _descriptor(entry)
            if d and d["digest"]:
                out[d["digest"]] = d["size"]
        if depth < _INDEX_DEPTH:
            for entry in _list(doc.get("manifests")):
                d = _descriptor(entry)
                try:
                    child = Digest.parse(d["digest"]) if d else None
                except ValueError:
                    continue
                if child is not None:
                    out[d["digest"]] = d["size"]
                    out.update(self._blob_descriptors(child, depth + 1))
        return out

    def _platforms(self, digest: Digest, media_type: str) -> list[str]:
        doc = self._manifest_doc(digest)
        if doc is None:
            return []
        if media_type in mediatype.INDEXES:
            names = [d["platform"] for d in map(_descriptor, _list(doc.get("manifests"))) if d and "platform" in d]
            return sorted(set(names), key=names.index)
        config = self._config_summary(_descriptor(doc.get("config")) or {})
        return [config["platform"]] if config else []

    # -- pages
    def repository_size(self, name: str) -> int:
        """Bytes of every blob and manifest the repository links, each counted once."""
        total = sum(info.size for info in self.storage.manifest_infos(name))
        for digest in self.storage.linked_blobs(name):
            total += self.storage.stat_blob(digest) or 0
        return total

    def storage_summary(self, repositories: list[str]) -> dict:
        stored = blobs = 0
        for _, size in self.storage.stored_blobs():
            stored += size
            blobs += 1
        without_dedup = sum(self.repository_size(name) for name in repositories)
        return {"repositories": len(repositories), "blobs": blobs, "stored_bytes": stored,
                "without_dedup_bytes": without_dedup, "saved_bytes": max(without_dedup - stored, 0)}

    def repositories(self, allowed) -> dict:
        """The repositories `allowed(name)` lets the viewer see, and the registry's storage summary."""
        everything = self.storage.repositories()
        rows = []
        for name in everything:
            if not allowed(name):
                continue
            tags = self.storage.tags(name) or []
            rows.append({"name": name, "tags": len(tags), "manifests": len(self.storage.manifest_infos(name)),
                         "size": self.repository_size(name)})
        # the summary is registry-wide: counts only, no names, so it reveals nothing per repository
        return {"repositories": rows, "storage": self.storage_summary(everything)}

    def _manifest_row(self, info) -> dict:
        blobs = self._blob_descriptors(info.digest)
        return {"digest": str(info.digest), "media_type": info.media_type,
                "size": info.size + sum(blobs.values()),
                "platforms": self._platforms(info.digest, info.media_type)}

    def repository(self, name: str) -> dict | None:
        if self.storage.tags(name) is None:
            return None
        infos = {info.digest: info for info in self.storage.manifest_infos(name)}
        rows = {digest: self._manifest_row(info) for digest, info in infos.items()}
        tags = []
        tag_infos = self.storage.tag_infos(name)
        for tag in tag_infos:
            row = rows.get(tag.digest)
            if row is None:  # a tag whose manifest is gone
                continue
            tags.append({"tag": tag.tag, **row, "updated": tag.updated})
        tagged = {t.digest for t in tag_infos}
        untagged = [row for digest, row in sorted(rows.items(), key=lambda kv: str(kv[0])) if digest not in tagged]
        return {"name": name, "tags": tags, "untagged": untagged, "size": self.repository_size(name)}

    def manifest(self, name: str, digest: Digest | None, tag: str | None = None) -> dict | None:
        """A manifest by digest or tag (checked by `names.reference`): its config summary, layers
        or children, and referrers."""
        if digest is None:
            digest = self.storage.resolve_tag(name, tag)
        info = self.storage.manifest_info(name, digest) if digest else None
        doc = self._manifest_doc(digest) if info else None
        if info is None or doc is None:
            return None
        out = {"repository": name, "digest": str(digest), "media_type": info.media_type, "size": info.size,
               "tags": [t.tag for t in self.storage.tag_infos(name) if t.digest == digest],
               "total_size": info.size + sum(self._blob_descriptors(digest).values()),
               "annotations": {str(k): str(v) for k, v in (doc.get("annotations") or {}).items()}
               if isinstance(doc.get("annotations"), dict) else {},
               "artifact_type": str(doc.get("artifactType") or ""),
               "subject": (_descriptor(doc.get("subject")) or {}).get("digest", ""),
               "referrers": [d for d in map(_descriptor, self.storage.referrers(name, digest)) if d]}
        if "manifests" in doc:
            out["kind"] = "index"
            out["manifests"] = [d for d in map(_descriptor, _list(doc.get("manifests"))) if d]
        else:
            out["kind"] = "image"
            config = _descriptor(doc.get("config")) or {}
            out["config"] = {**config, "image": self._config_summary(config)}
            out["layers"] = [d for d in map(_descriptor, _list(doc.get("layers"))) if d]
        return out
