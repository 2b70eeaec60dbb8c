"""Pure OCI data models: no I/O."""
from berth.oci.digest import Digest
from berth.oci.descriptor import Descriptor
from berth.oci.platform import Platform
from berth.oci.reference import Reference
from berth.oci import mediatype

__all__ = ["Digest", "Descriptor", "Platform", "Reference", "mediatype"]
