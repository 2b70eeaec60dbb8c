"""Strict patterns for everything a URL brings in: repository names, tags, digests, upload ids.

Each is checked before it is used in a storage path; the patterns admit no `/`-leading, `.`-only or
`%`-encoded segment, so a valid name can never leave the storage directory.
"""
from __future__ import annotations

import re

from berth.errors import InvalidDigest
from berth.oci.digest import Digest
from berth.registry.server.errors import RegistryError

# The distribution spec's <name> pattern: path components of lowercase alphanumerics joined by
# single separators (".", "_", "__", or dashes).
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
# docker distribution's limit; hostname + name together must stay under 256 in references.
MAX_NAME_LENGTH = 255
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


def repository(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        raise RegistryError("NAME_INVALID", f"invalid repository name {name[:300]!r}",
                            detail={"name": name[:300]})
    return name


def is_tag(reference: str) -> bool:
    return bool(_TAG.fullmatch(reference))


def tag(reference: str) -> str:
    if not is_tag(reference):
        raise RegistryError("MANIFEST_INVALID" if ":" not in reference else "DIGEST_INVALID",
                            f"invalid tag {reference[:200]!r}")
    return reference


def digest(text: str, code: str = "DIGEST_INVALID") -> Digest:
    try:
        return Digest.parse(text)
    except InvalidDigest as e:
        raise RegistryError(code, str(e)) from None


def upload_id(text: str) -> str:
    if not _UPLOAD_ID.fullmatch(text):
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", "unknown upload id")
    return text
