"""Sizes and durations as berth's flags take them: `64m`, `1.5g`; `30s`, `168h`, `2d`."""
from __future__ import annotations

import re

from berth.errors import InvalidArgument

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)b?", re.I)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(text: str, what: str = "size") -> int:
    """Bytes of a size with docker's binary units (b, k, m, g, t; an optional trailing b)."""
    m = _SIZE.fullmatch(str(text).strip())
    if not m:
        raise InvalidArgument(f"invalid {what} {text!r}: expected a number with an optional unit (b, k, m, g)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def parse_duration(text, flag: str = "") -> float:
    """Seconds of a number with an optional unit: s, m, h or d."""
    m = _DURATION.fullmatch(str(text).strip().lower())
    if not m:
        where = f" for {flag}" if flag else ""
        raise InvalidArgument(f"invalid duration {text!r}{where}: use a number with s, m, h or d (e.g. 168h)")
    return float(m.group(1)) * _SECONDS[m.group(2)]
