"""Parsing JSON that someone else wrote (a pushed manifest, a token, a pulled config) within bounds.

`json.loads` alone has no size limit, recurses once per nesting level (a body of 100,000 `[`
raises RecursionError, which no `except ValueError` catches) and accepts NaN and Infinity, which
are not JSON. `loads` refuses all three with one error type, `InvalidJSON` (a ValueError, so
existing `except ValueError` handlers keep working). The depth is checked before parsing (`too_deep`),
so the parser never gets near the interpreter's recursion limit.
"""
from __future__ import annotations

from berth import cjson

MAX_DEPTH = 64  # OCI manifests and configs nest 5 or 6 levels deep
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_ONE_KIND = bytes.maketrans(b"{}", b"[]")  # the depth is the same whichever kind of bracket nests


class InvalidJSON(ValueError):
    """Not JSON, not UTF-8/16/32, larger than allowed or nested deeper than allowed."""


def _refuse_constant(name: str):
    raise InvalidJSON(f"{name} is not a JSON value")


def _outside_strings(utf8: bytes) -> bytes:
    """The text without its string literals. Escaped backslashes go first, then escaped quotes:
    every `"` left opens or closes a string. (On UTF-8 bytes: `"` and `\\` never occur inside a
    multi-byte sequence.) Exact for valid JSON; past the first error, which the parser stops at,
    it may differ."""
    return b"".join(utf8.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')[0::2])


def too_deep(utf8: bytes, max_depth: int) -> bool:
    """Whether the arrays and objects in the UTF-8 JSON text nest deeper than `max_depth` (brackets
    inside strings do not count). Unbalanced brackets are left for the parser to report, which then
    fails before it nests deeper than `max_depth`.

    Fast on any input (it runs before the parser, on up to megabytes): each round removes the
    innermost pairs at C speed, so a wide, shallow document is gone after a few rounds, and a
    bracket kept after r rounds has at least r levels below it. Only what is left is walked in
    Python, and that walk stops early."""
    brackets = _outside_strings(utf8).translate(_ONE_KIND, _NOT_BRACKETS)
    rounds = 0
    while brackets and rounds < max_depth:
        if b"[" * (max_depth + 1 - rounds) in brackets:  # a run of openers that deep: no need to go on
            return True
        reduced = brackets.replace(b"[]", b"")
        if reduced == brackets:
            break
        brackets, rounds = reduced, rounds + 1
    allowed = max_depth - rounds  # each round peeled one level off the deepest nesting
    depth = 0
    for byte in brackets:
        depth += 1 if byte == 0x5B else -1  # "["
        if depth > allowed:
            return True
        if depth < 0:
            return False
    return False


def loads(data: bytes | str, max_bytes: int, max_depth: int = MAX_DEPTH):
    """The JSON value in `data` (bytes in UTF-8, -16 or -32 as RFC 8259 allows, or str), refusing
    documents larger than `max_bytes` or nested deeper than `max_depth`. Raises InvalidJSON only."""
    if len(data) > max_bytes:
        raise InvalidJSON(f"JSON document is larger than {max_bytes} bytes")
    try:
        if isinstance(data, (bytes, bytearray)):
            text = cjson.decode(data)
        elif isinstance(data, str):
            text = data
        else:
            raise InvalidJSON(f"cannot parse JSON from {type(data).__name__}")
        # nesting deeper than max_depth takes more than 2 * max_depth characters; anything shorter
        # cannot be valid and too deep, and the parser recurses at most once per character
        deep_enough = len(text) > 2 * max_depth and too_deep(text.encode("utf-8", "surrogatepass"), max_depth)
    except UnicodeError:
        raise InvalidJSON("JSON document is not valid UTF-8, -16 or -32") from None
    if deep_enough:
        raise InvalidJSON(f"JSON document is nested deeper than {max_depth} levels")
    try:
        return cjson.loads(text, parse_constant=_refuse_constant)
    except InvalidJSON:
        raise
    except (ValueError, RecursionError) as e:  # RecursionError: belt and braces, the depth check comes first
        raise InvalidJSON(str(e)) from None
