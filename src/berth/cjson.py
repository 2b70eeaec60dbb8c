"""JSON through CPython's C codec (`_json`) alone: the same text as `json.dumps` and the same values
as `json.loads`, without importing `json`.

Written by hand for start-up time: `import json` compiles regular expressions and pulls in `re` and
`enum`, about 5 ms of every CLI command, and `berth run` reads and writes JSON before the container
starts. `json` itself drives the very same C encoder and scanner, so the results are identical;
`indent`, other encodings than UTF-8 and interpreters without `_json` go to `json`. Errors are
`json.JSONDecodeError` (a ValueError), imported only when one is raised.
"""
from __future__ import annotations

try:
    import _json
except ImportError:  # pragma: no cover - an interpreter without the accelerator
    _json = None

_WHITESPACE = " \t\n\r"


def _not_serializable(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj, *, sort_keys: bool = False, separators: tuple[str, str] | None = None, ensure_ascii: bool = True,
          indent=None) -> str:
    """As `json.dumps` with the same arguments."""
    if indent is not None or _json is None:
        import json
        return json.dumps(obj, sort_keys=sort_keys, separators=separators, ensure_ascii=ensure_ascii, indent=indent)
    item_sep, key_sep = separators or (", ", ": ")
    escape = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    encode = _json.make_encoder({}, _not_serializable, escape, None, key_sep, item_sep, sort_keys, False, True)
    return "".join(encode(obj, 0))


class _Options:
    """What the C scanner reads from its context: json.loads' defaults."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    def __init__(self, parse_constant):
        self.parse_constant = parse_constant


def _constant(name: str) -> float:
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_default_scanner = None


def decode(data: bytes | bytearray) -> str:
    """JSON text from bytes in UTF-8, -16 or -32, as `json.loads` reads them (UnicodeError if not)."""
    if data[:3] == b"\xef\xbb\xbf" or b"\x00" in data[:4]:  # a BOM or UTF-16/32: json tells which
        import json
        return bytes(data).decode(json.detect_encoding(data), "surrogatepass")
    return bytes(data).decode("utf-8", "surrogatepass")


def loads(s: str | bytes | bytearray, *, parse_constant=None):
    """As `json.loads` (with `parse_constant`, for a caller that refuses NaN and Infinity)."""
    global _default_scanner
    if isinstance(s, (bytes, bytearray)):
        s = decode(s)
    elif not isinstance(s, str):
        raise TypeError(f"the JSON object must be str, bytes or bytearray, not {s.__class__.__name__}")
    if _json is None:
        import json
        return json.loads(s, parse_constant=parse_constant)
    if parse_constant is None:
        _default_scanner = _default_scanner or _json.make_scanner(_Options(_constant))
        scanner = _default_scanner
    else:
        scanner = _json.make_scanner(_Options(parse_constant))
    if s.startswith("\ufeff"):
        _fail("Unexpected UTF-8 BOM (decode using utf-8-sig)", s, 0)
    start = len(s) - len(s.lstrip(_WHITESPACE))
    try:
        obj, end = scanner(s, start)
    except StopIteration as e:
        _fail("Expecting value", s, e.value)
    tail = s[end:]
    end += len(tail) - len(tail.lstrip(_WHITESPACE))
    if end != len(s):
        _fail("Extra data", s, end)
    return obj


def load(f):
    return loads(f.read())


def dump(obj, f, **kw) -> None:
    f.write(dumps(obj, **kw))


def _fail(message: str, s: str, pos: int):
    from json import JSONDecodeError
    raise JSONDecodeError(message, s, pos) from None
