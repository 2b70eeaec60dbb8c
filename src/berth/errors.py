"""Exceptions, grouped by area. Every message is one line a user can act on."""


class BerthError(Exception):
    """Base for every error berth reports to a user."""


class InvalidReference(BerthError, ValueError):
    pass


class InvalidDigest(BerthError, ValueError):
    pass


class DigestMismatch(BerthError):
    pass


class ArchiveError(BerthError):
    """A tar stream is malformed, truncated or tries to leave its root."""


class UnsafeArchive(ArchiveError):
    """A tar entry would create or change something outside the target directory."""


class StoreError(BerthError):
    pass


class ImageNotFound(StoreError, LookupError):
    pass


class Conflict(StoreError):
    """The operation would break something in use (a tagged image, a layer of another image)."""


class InvalidImage(BerthError):
    """An image archive, manifest or config is malformed."""
