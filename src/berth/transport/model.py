"""What an archive reader hands to the loader: images described without touching the store."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from berth.oci.digest import Digest
from berth.oci.reference import Reference


@dataclass
class LayerSource:
    open: Callable            # returns a fresh binary stream of the (possibly compressed) layer
    digest: Digest | None     # the blob digest when the format states one (OCI)


@dataclass
class ArchiveImage:
    config: bytes
    layers: list[LayerSource]
    tags: list[Reference] = field(default_factory=list)
