"""Sizes and durations as berth's flags take them: `64m`, `1.5g`; `30s`, `168h`, `2d`."""
from __future__ import annotations

from berth.charsets import is_number
from berth.errors import InvalidArgument

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(text: str, what: str = "size") -> int:
    """Bytes of a size with docker's binary units (b, k, m, g, t; an optional trailing b)."""
    number = str(text).strip().lower()
    number = number[:-1] if number.endswith("b") else number  # 64mb, 64m, 64b, 64
    unit = number[-1:] if number[-1:] in ("b", "k", "m", "g", "t") else ""
    number = number[:len(number) - len(unit)].rstrip()  # `64 m`
    if not is_number(number):
        raise InvalidArgument(f"invalid {what} {text!r}: expected a number with an optional unit (b, k, m, g)")
    return int(float(number) * _SIZE_UNITS[unit])


def parse_duration(text, flag: str = "") -> float:
    """Seconds of a number with an optional unit: s, m, h or d."""
    number = str(text).strip().lower()
    unit = number[-1:] if number[-1:] in ("s", "m", "h", "d") else ""
    number = number[:len(number) - len(unit)]
    if not is_number(number):
        where = f" for {flag}" if flag else ""
        raise InvalidArgument(f"invalid duration {text!r}{where}: use a number with s, m, h or d (e.g. 168h)")
    return float(number) * _SECONDS[unit]
