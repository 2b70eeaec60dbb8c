"""The one module that turns tar streams into files and back.

Every entry is treated as hostile: paths are resolved inside the target root by the kernel
(openat2 RESOLVE_IN_ROOT), final components are never followed, and nothing outside the root is
created, changed or chmod'ed.
"""
CHUNK = 1 << 20  # bytes per read, write and hash step when streaming layers and blobs

_EXPORTS = {
    "ExtractResult": "unpack", "extract": "unpack", "write_tree": "create", "reconstruct": "tarsplit",
    "detect_compression": "compression", "open_decompressed": "compression", "open_compressor": "compression",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    # Lazy re-exports: CLI commands that never touch a tar stream do not pay for this module (nor
    # for importlib: __import__ returns the submodule itself given a fromlist)
    if name in _EXPORTS:
        return getattr(__import__(f"berth.archive.{_EXPORTS[name]}", fromlist=[name]), name)
    raise AttributeError(name)
