"""Image references: `[registry[:port]/]name[:tag][@digest]`, normalized as docker does.

`busybox` -> `docker.io/library/busybox:latest`; `localhost:5000/app` keeps its registry.

The grammar is docker's (distribution's reference package), checked with berth.charsets rather
than regular expressions: every command that names an image parses one, and `re` costs start-up.
"""
from __future__ import annotations

from berth.charsets import ALNUM, DIGITS, LOWER_ALNUM, LOWER_HEX, WORD, made_of
from berth.errors import InvalidDigest, InvalidReference
from berth.oci.digest import Digest
from berth.record import Record

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_REGISTRIES = {"index.docker.io", "registry-1.docker.io"}

_MAX_NAME = 255
_MAX_TAG = 128
_SEPARATORS_ONLY = str.maketrans({c: " " for c in LOWER_ALNUM})


def _is_component(text: str) -> bool:
    """`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`: runs of lowercase letters and digits, each two
    joined by `.`, `_`, `__` or any number of `-`."""
    if not made_of(text, LOWER_ALNUM + "._-") or text[0] not in LOWER_ALNUM or text[-1] not in LOWER_ALNUM:
        return False
    separators = text.translate(_SEPARATORS_ONLY).split()
    return all(s in (".", "_", "__") or not s.strip("-") for s in separators)


def _is_path(text: str) -> bool:
    """Components joined by `/`."""
    return all(_is_component(c) for c in text.split("/"))


def _is_domain(text: str) -> bool:
    """`host[:port]`: DNS labels (letters, digits, inner `-`) joined by `.`, or `[IPv6]`."""
    if text.startswith("["):
        host, bracket, port = text[1:].partition("]")
        return (bool(bracket) and made_of(host, LOWER_HEX + "ABCDEF:.")
                and (not port or port[0] == ":" and made_of(port[1:], DIGITS)))
    host, colon, port = text.partition(":")
    if colon and not made_of(port, DIGITS):
        return False
    return all(made_of(label, ALNUM + "-") and label[0] != "-" and label[-1] != "-" for label in host.split("."))


def _is_tag(text: str) -> bool:
    """`[\\w][\\w.-]{0,127}`."""
    return 0 < len(text) <= _MAX_TAG and text[0] in WORD and made_of(text, WORD + ".-")


def _is_id(text: str) -> bool:
    return len(text) == 64 and made_of(text, LOWER_HEX)


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
            if not _is_tag(tag):
                raise InvalidReference(f"invalid reference format: {text!r}: bad tag {tag!r}")
        registry, path = cls._split_registry(rest, text)
        if not _is_path(path):
            if path.lower() != path and _is_path(path.lower()):
                raise InvalidReference(f"invalid reference format: {text!r}: repository name must be lowercase")
            raise InvalidReference(f"invalid reference format: {text!r}")
        if registry == DEFAULT_REGISTRY and "/" not in path:
            path = f"library/{path}"
        if len(registry) + 1 + len(path) > _MAX_NAME:
            raise InvalidReference(f"invalid reference format: {text!r}: name longer than {_MAX_NAME} characters")
        if _is_id(path.rsplit("/", 1)[-1]) and registry == DEFAULT_REGISTRY and path.startswith("library/"):
            raise InvalidReference(f"invalid repository name {text!r}: 64-byte hexadecimal strings are image IDs")
        if tag is None and digest is None and default_tag:
            tag = DEFAULT_TAG
        return cls(registry, path, tag, digest)

    @staticmethod
    def _split_registry(name: str, original: str) -> tuple[str, str]:
        first, sep, remainder = name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
            if not _is_domain(first):
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
