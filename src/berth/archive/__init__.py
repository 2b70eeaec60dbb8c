"""The one module that turns tar streams into files and back.

Every entry is treated as hostile: paths are resolved inside the target root by the kernel
(openat2 RESOLVE_IN_ROOT), final components are never followed, and nothing outside the root is
created, changed or chmod'ed.
"""
from berth.archive.compression import detect_compression, open_decompressed, open_compressor
from berth.archive.extract import ExtractResult, extract
from berth.archive.create import write_tree
from berth.archive.tarsplit import reconstruct

__all__ = ["ExtractResult", "extract", "write_tree", "reconstruct",
           "detect_compression", "open_decompressed", "open_compressor"]
