"""OCI content descriptors."""
from __future__ import annotations


from berth.errors import InvalidDigest, InvalidImage
from berth.oci.digest import Digest
from berth.oci.platform import Platform
from berth.record import Record


class Descriptor(Record, compare=("media_type", "digest", "size")):
    media_type: str
    digest: Digest
    size: int
    annotations: dict = {}
    platform: Platform | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "Descriptor":
        if not isinstance(d, dict):
            raise InvalidImage("descriptor is not an object")
        media_type = d.get("mediaType")
        size = d.get("size")
        if not isinstance(media_type, str) or not media_type:
            raise InvalidImage("descriptor has no mediaType")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidImage(f"descriptor has invalid size {size!r}")
        annotations = d.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise InvalidImage("descriptor annotations are not an object")
        platform = Platform.from_dict(d["platform"]) if d.get("platform") else None
        try:
            digest = Digest.parse(d.get("digest"))
        except InvalidDigest as e:
            raise InvalidImage(f"descriptor has an {e}") from None
        return cls(media_type, digest, size, annotations, platform)

    def to_dict(self) -> dict:
        d = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform:
            d["platform"] = self.platform.to_dict()
        return d
