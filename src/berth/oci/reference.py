"""Image references: `[registry[:port]/]name[:tag][@digest]`, normalized as docker does.

`busybox` -> `docker.io/library/busybox:latest`; `localhost:5000/app` keeps its registry.
"""
from __future__ import annotations

import re

from berth.errors import InvalidDigest, InvalidReference
from berth.oci.digest import Digest
from berth.record import Record

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_REGISTRIES = {"index.docker.io", "registry-1.docker.io"}

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_ID = re.compile(r"[a-f0-9]{64}")
_MAX_NAME = 255


class Reference(Record):
    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str, default_tag: bool = True) -> "Reference":
        """Parse and normalize; adds `:latest` when neither tag nor digest is given (unless told not to)."""
        if not isinstance(text, str) or not text:
            raise InvalidReference("invalid reference: empty")
        if text != text.strip() or any(c.isspace() for c in text):
            raise InvalidReference(f"invalid reference format: {text!r} contains whitespace")
        rest, digest = text, None
        if "@" in rest:
            rest, _, digest_text = rest.partition("@")
            try:
                digest = Digest.parse(digest_text)
            except InvalidDigest as e:
                raise InvalidReference(f"invalid reference format: {text!r}: {e}") from None
        tag = None
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1:]
            if not _TAG.fullmatch(tag):
                raise InvalidReference(f"invalid reference format: {text!r}: bad tag {tag!r}")
        registry, path = cls._split_registry(rest, text)
        if not _NAME.fullmatch(path):
            if path.lower() != path and _NAME.fullmatch(path.lower()):
                raise InvalidReference(f"invalid reference format: {text!r}: repository name must be lowercase")
            raise InvalidReference(f"invalid reference format: {text!r}")
        if registry == DEFAULT_REGISTRY and "/" not in path:
            path = f"library/{path}"
        if len(registry) + 1 + len(path) > _MAX_NAME:
            raise InvalidReference(f"invalid reference format: {text!r}: name longer than {_MAX_NAME} characters")
        if _ID.fullmatch(path.rsplit("/", 1)[-1]) and registry == DEFAULT_REGISTRY and path.startswith("library/"):
            raise InvalidReference(f"invalid repository name {text!r}: 64-byte hexadecimal strings are image IDs")
        if tag is None and digest is None and default_tag:
            tag = DEFAULT_TAG
        return cls(registry, path, tag, digest)

    @staticmethod
    def _split_registry(name: str, original: str) -> tuple[str, str]:
        first, sep, remainder = name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
            if not _DOMAIN.fullmatch(first):
                raise InvalidReference(f"invalid reference format: {original!r}: bad registry {first!r}")
            if first in _LEGACY_REGISTRIES:
                first = DEFAULT_REGISTRY
            return first, remainder
        return DEFAULT_REGISTRY, name

    @property
    def name(self) -> str:
        """Fully qualified repository: `docker.io/library/busybox`."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The short form docker prints: `busybox`, `user/app`, `localhost:5000/app`."""
        if self.registry == DEFAULT_REGISTRY:
            return self.repository.removeprefix("library/")
        return self.name

    def with_tag(self, tag: str) -> "Reference":
        return Reference(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    @property
    def familiar(self) -> str:
        s = self.familiar_name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s
