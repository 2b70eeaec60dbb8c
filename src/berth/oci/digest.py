"""Content digests: `algorithm:hex`, validated strictly (OCI image-spec descriptor rules)."""
from __future__ import annotations

from berth.charsets import LOWER_HEX, made_of
from berth.errors import InvalidDigest
from berth.record import Record

# Registered algorithms and the exact length of their lowercase hex encoding.
_HEX_LENGTH = {"sha256": 64, "sha512": 128}


class Digest(Record, order=True):
    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> "Digest":
        if not isinstance(text, str):
            raise InvalidDigest(f"invalid digest {text!r}: not a string")
        algorithm, sep, hexpart = text.partition(":")
        if not sep:
            raise InvalidDigest(f"invalid digest {text!r}: expected ALGORITHM:HEX")
        want = _HEX_LENGTH.get(algorithm)
        if want is None:
            raise InvalidDigest(f"invalid digest {text!r}: unsupported algorithm {algorithm!r}")
        if len(hexpart) != want or not made_of(hexpart, LOWER_HEX):
            raise InvalidDigest(f"invalid digest {text!r}: {algorithm} needs {want} lowercase hex digits")
        return cls(algorithm, hexpart)

    @classmethod
    def of_bytes(cls, data: bytes, algorithm: str = "sha256") -> "Digest":
        import hashlib  # lazily: OpenSSL's start-up is felt by every CLI call that only parses digests
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    @classmethod
    def from_hasher(cls, hasher) -> "Digest":
        return cls(hasher.name, hasher.hexdigest())

    def hasher(self):
        import hashlib
        return hashlib.new(self.algorithm)

    @property
    def short(self) -> str:
        """The 12-digit form docker shows as IMAGE ID."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def chain_ids(diff_ids: list[Digest]) -> list[Digest]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[Digest] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append(Digest.of_bytes(f"{out[-1]} {diff_id}".encode()))
    return out
