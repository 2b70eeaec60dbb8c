"""Go's filepath.Match patterns (plus docker's `**`) compiled to Python regular expressions.

Docker matches .dockerignore rules, COPY/ADD sources and --exclude patterns with Go's
filepath.Match syntax: `*` (any run of non-`/` characters), `?` (one non-`/` character),
`[a-z]`/`[^a-z]` classes and `\\` escapes. A malformed pattern (`[`, `[]a]`, `[x-]`, a trailing
`\\`) is an error, as in Go. `**` is docker's addition: any number of directories, including none.
"""
from __future__ import annotations

import posixpath
import re
from functools import lru_cache

from berth.errors import BerthError

_META = frozenset("*?[\\")


class BadPattern(BerthError, ValueError):
    pass


def has_magic(pattern: str) -> bool:
    """True if `pattern` is not a plain path (Go's hasMeta: `*`, `?`, `[` or `\\`)."""
    return any(c in _META for c in pattern)


def clean(path: str) -> str:
    """Go's path.Clean: no `.` or empty components, `..` folded; "" becomes "."."""
    if not path:
        return "."
    out = posixpath.normpath(path)
    if out.startswith("//"):  # POSIX keeps a leading "//"; Go does not
        out = "/" + out.lstrip("/")
    return out


def translate(pattern: str, doublestar: bool = True) -> str:
    """The regular expression (without anchors) for `pattern`; BadPattern if it is malformed.

    doublestar: `**` matches across `/` (dockerignore rules). Without it, `**` is two `*`
    (a single path component, as COPY sources are matched component by component).
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if doublestar and pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    i += 1  # "**/" is "**": it may match no directory at all
                out.append(".*" if i == n else "(?:.*/)?")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i + 1 == n:
                raise BadPattern(f"syntax error in pattern {pattern!r}: trailing backslash")
            out.append(re.escape(pattern[i + 1]))
            i += 1
        elif c == "[":
            cls, i = _char_class(pattern, i)
            out.append(cls)
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    """One (possibly escaped) character of a class; Go refuses a bare `-` or `]` here."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise BadPattern(f"syntax error in pattern {pattern!r}")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise BadPattern(f"syntax error in pattern {pattern!r}")
    return pattern[i], i + 1


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """`[...]` starting at pattern[i]: (regex, index after `]`)."""
    start = i
    i += 1
    negate = pattern.startswith("^", i)
    if negate:
        i += 1
    ranges: list[tuple[str, str]] = []
    while True:
        if pattern.startswith("]", i) and ranges:
            i += 1
            break
        if i >= len(pattern):
            raise BadPattern(f"syntax error in pattern {pattern!r}: unclosed [ at {start}")
        lo, i = _class_char(pattern, i)
        hi = lo
        if pattern.startswith("-", i):
            hi, i = _class_char(pattern, i + 1)
        ranges.append((lo, hi))
    # A reversed range matches nothing in Go (no error); Python's re would refuse it.
    items = "".join(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}"
                    for lo, hi in ranges if lo <= hi)
    if negate:
        return f"[^/{items}]", i  # like `?`, a class never matches the separator
    return (f"[{items}]" if items else "(?!)"), i


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str, doublestar: bool = True) -> re.Pattern:
    return re.compile(translate(pattern, doublestar), re.DOTALL)


def match(pattern: str, name: str) -> bool:
    """Go's filepath.Match(pattern, name) (no `**`)."""
    return compile_pattern(pattern, doublestar=False).fullmatch(name) is not None


def unescape(component: str) -> str:
    """A pattern component without magic characters, as the literal name it stands for."""
    return re.sub(r"\\(.)", r"\1", component, flags=re.DOTALL)
