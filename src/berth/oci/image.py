"""Manifests, indexes and image configs: parsing with validation, canonical serialization."""
from __future__ import annotations

from berth import cjson, safejson
from berth.errors import InvalidDigest, InvalidImage
from berth.oci import mediatype
from berth.oci.descriptor import Descriptor
from berth.oci.digest import Digest
from berth.oci.platform import Platform
from berth.record import Record

MAX_MANIFEST_SIZE = 4 << 20
MAX_CONFIG_SIZE = 8 << 20


def load_json(data: bytes, what: str, limit: int) -> dict:
    if len(data) > limit:
        raise InvalidImage(f"{what} is larger than {limit} bytes")
    try:
        doc = safejson.loads(data, limit)
    except safejson.InvalidJSON as e:
        raise InvalidImage(f"{what} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidImage(f"{what} is not a JSON object")
    return doc


def _media_type(doc: dict, given: str | None, default: str) -> str:
    field = doc.get("mediaType")
    if field is not None and not isinstance(field, str):
        raise InvalidImage("mediaType is not a string")
    return field or given or default


def canonical_json(doc) -> bytes:
    """Compact, key-sorted JSON: the same document always hashes to the same digest."""
    return cjson.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


class Manifest(Record):
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict = {}

    @classmethod
    def parse(cls, data: bytes, media_type: str | None = None) -> "Manifest":
        doc = load_json(data, "manifest", MAX_MANIFEST_SIZE)
        mt = _media_type(doc, media_type, mediatype.OCI_MANIFEST)
        if mt in (mediatype.DOCKER_SCHEMA1, mediatype.DOCKER_SCHEMA1_SIGNED) or doc.get("schemaVersion") == 1:
            raise InvalidImage("Docker schema1 manifests are not supported (deprecated since 2017); re-push the image with a current client")
        if mt not in mediatype.MANIFESTS:
            raise InvalidImage(f"not an image manifest: media type {mt!r}")
        if doc.get("schemaVersion") != 2:
            raise InvalidImage(f"manifest schemaVersion must be 2, got {doc.get('schemaVersion')!r}")
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise InvalidImage("manifest has no layers list")
        return cls(mt, Descriptor.from_dict(doc.get("config")), tuple(Descriptor.from_dict(x) for x in layers),
                   doc.get("annotations") or {})

    def to_dict(self) -> dict:
        d = {"schemaVersion": 2, "mediaType": self.media_type, "config": self.config.to_dict(),
             "layers": [layer.to_dict() for layer in self.layers]}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


class Index(Record):
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict = {}

    @classmethod
    def parse(cls, data: bytes, media_type: str | None = None) -> "Index":
        doc = load_json(data, "index", MAX_MANIFEST_SIZE)
        mt = _media_type(doc, media_type, mediatype.OCI_INDEX)
        if mt not in mediatype.INDEXES:
            raise InvalidImage(f"not an image index: media type {mt!r}")
        manifests = doc.get("manifests")
        if doc.get("schemaVersion") != 2 or not isinstance(manifests, list):
            raise InvalidImage("index needs schemaVersion 2 and a manifests list")
        return cls(mt, tuple(Descriptor.from_dict(m) for m in manifests), doc.get("annotations") or {})

    def select(self, platform: Platform) -> Descriptor | None:
        """The manifest for `platform`; a missing variant matches any variant."""
        candidates = [m for m in self.manifests if m.media_type in mediatype.MANIFESTS and m.platform
                      and m.platform.os == platform.os and m.platform.architecture == platform.architecture]
        exact = [m for m in candidates if (m.platform.variant or "") == platform.variant]
        return (exact or candidates or [None])[0]


class ImageConfig(Record):
    """An image config blob (OCI and docker share the fields berth reads)."""
    doc: dict

    @classmethod
    def parse(cls, data: bytes) -> "ImageConfig":
        doc = load_json(data, "image config", MAX_CONFIG_SIZE)
        rootfs = doc.get("rootfs")
        if not isinstance(rootfs, dict) or rootfs.get("type") != "layers" or not isinstance(rootfs.get("diff_ids"), list):
            raise InvalidImage("image config needs rootfs.type 'layers' and a diff_ids list")
        for d in rootfs["diff_ids"]:
            try:
                Digest.parse(d)
            except InvalidDigest as e:
                raise InvalidImage(f"image config has an {e}") from None
        for key in ("config", "history"):
            if key in doc and doc[key] is not None and not isinstance(doc[key], (dict if key == "config" else list)):
                raise InvalidImage(f"image config field {key!r} has the wrong type")
        if not isinstance(doc.get("architecture", ""), str) or not isinstance(doc.get("os", ""), str):
            raise InvalidImage("image config architecture/os must be strings")
        return cls(doc)

    @property
    def diff_ids(self) -> list[Digest]:
        return [Digest.parse(d) for d in self.doc["rootfs"]["diff_ids"]]

    @property
    def config(self) -> dict:
        return self.doc.get("config") or {}

    @property
    def history(self) -> list[dict]:
        return [h for h in (self.doc.get("history") or []) if isinstance(h, dict)]

    @property
    def created(self) -> str:
        return self.doc.get("created") or ""

    @property
    def platform(self) -> Platform:
        return Platform(self.doc.get("os") or "linux", self.doc.get("architecture") or "", self.doc.get("variant") or "")
