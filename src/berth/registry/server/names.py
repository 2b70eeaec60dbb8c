"""Strict patterns for everything a request brings in: repository names, tags, digests, upload ids.

The one validator for the API, the web UI and the token service: each value is checked here before
any storage access. The patterns admit no `/`-leading, `.`-only, `%`-encoded, NUL or non-ASCII
segment, so a valid name can never leave the storage directory (the storage checks again on its own
account: see `filesystem`). Only `RegistryError` (a 4xx) leaves this module.
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
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        shown = str(name)[:300]
        raise RegistryError("NAME_INVALID", f"invalid repository name {shown!r}", detail={"name": shown})
    return name


def is_tag(reference: str) -> bool:
    return bool(_TAG.fullmatch(reference))


def tag(reference: str) -> str:
    if not isinstance(reference, str) or not is_tag(reference):
        shown = str(reference)[:200]
        raise RegistryError("MANIFEST_INVALID" if ":" not in shown else "DIGEST_INVALID", f"invalid tag {shown!r}")
    return reference


def digest(text: str, code: str = "DIGEST_INVALID") -> Digest:
    try:
        return Digest.parse(text)
    except InvalidDigest as e:
        raise RegistryError(code, str(e)) from None


def reference(text: str) -> tuple[Digest | None, str | None]:
    """A manifest reference: (digest, None) or (None, tag)."""
    if isinstance(text, str) and ":" in text:
        return digest(text), None
    return None, tag(text)


def upload_id(text: str) -> str:
    if not isinstance(text, str) or not _UPLOAD_ID.fullmatch(text):
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", "unknown upload id")
    return text
