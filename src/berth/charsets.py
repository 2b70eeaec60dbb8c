"""Whole-string checks over ASCII character sets, for the grammars on every command's path
(references, digests, names, sizes).

By hand for start-up time: `import re` costs about 4 ms of each CLI command, and compiling the
patterns at import another millisecond. `str.strip(chars)` runs in C and leaves nothing exactly
when every character is in `chars`. The sets are ASCII, as the same grammars in Go's RE2 are.
"""
from __future__ import annotations

DIGITS = "0123456789"
LOWER_HEX = DIGITS + "abcdef"
LOWER_ALNUM = DIGITS + "abcdefghijklmnopqrstuvwxyz"
ALNUM = LOWER_ALNUM + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
WORD = ALNUM + "_"  # RE2's \w


def made_of(text: str, chars: str) -> bool:
    """Whether `text` is non-empty and every character of it is in `chars`."""
    return bool(text) and not text.strip(chars)


def is_number(text: str) -> bool:
    """`[0-9]+(\\.[0-9]+)?`: digits, and optionally a point and more digits."""
    whole, point, fraction = text.partition(".")
    return made_of(whole, DIGITS) and (not point or made_of(fraction, DIGITS))
