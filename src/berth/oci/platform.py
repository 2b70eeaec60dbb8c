"""Platforms (os/architecture/variant) and this machine's default."""
from __future__ import annotations

import os

from berth.errors import InvalidImage
from berth.record import Record

# uname -m -> (GOARCH, variant), the names images use.
_MACHINE_ARCH = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"), "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
    "i386": ("386", ""), "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}


class Platform(Record):
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> "Platform":
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"invalid platform {text!r}: expected os/arch[/variant]")
        return cls(*parts)

    @classmethod
    def host(cls) -> "Platform":
        machine = os.uname().machine
        arch, variant = _MACHINE_ARCH.get(machine, (machine, ""))
        return cls("linux", arch, variant)

    @classmethod
    def from_dict(cls, d: dict) -> "Platform":
        if not isinstance(d, dict) or not isinstance(d.get("os"), str) or not isinstance(d.get("architecture"), str):
            raise InvalidImage("platform needs os and architecture")
        return cls(d["os"], d["architecture"], d.get("variant") or "")

    def to_dict(self) -> dict:
        d = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            d["variant"] = self.variant
        return d

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)
