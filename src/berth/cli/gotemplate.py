"""The part of Go's text/template that docker users write in `--format`, with docker's extra functions.

    tmpl = parse('{{range .Config.Env}}{{.}}{{"\\n"}}{{end}}')
    text = tmpl.execute(doc)

Supported: text and actions, trim markers (`{{- ` and ` -}}`), comments; pipelines; operands `.`, `.A.B`,
`$`, `$x.A`, string/raw/char/number/bool/nil literals, `(pipeline).A`; variables (`:=`, `=`); `if`/`else if`,
`range` (lists, maps in key order, integers; `$i, $e :=`; `break`, `continue`), `with`/`else with`, `else`,
`end`; the builtins and, or, not, len, index, slice, eq, ne, lt, le, gt, ge, print, printf, println, and
docker's json, split, join, title, lower, upper, pad, truncate. Not supported: define, template, block,
call, html, js, urlquery, methods, complex numbers.

Values are JSON-like Python objects. A dict whose keys all start with an upper-case letter stands for a Go
struct: reading a field it lacks is an error, and it prints as `{v1 v2}`. Any other dict is a map: a missing
key reads as no value (`<no value>`), and it prints as `map[k:v]` in key order. Dicts reached through a field
named in MAP_FIELDS (Labels, Options...) are maps whatever their keys; a null field named in SLICE_FIELDS
(Cmd, Entrypoint...) prints as `[]` like docker's nil slices, any other null as `<nil>`. Values print as Go's
%v does: true/false, integers without .0, [a b], map[k:v].

Error messages are Go's: `template: :1: unclosed action` (ParseError), `template: :1:2: executing "" at
<.Nope>: map has no entry for key "Nope"` (ExecError)."""
from __future__ import annotations

import json as _json

from berth.errors import BerthError

__all__ = ["TemplateError", "ParseError", "ExecError", "Template", "parse", "Titles", "HEADER_FUNCS", "go_str",
           "go_json", "sprintf", "MAP_FIELDS", "SLICE_FIELDS", "GoMap", "TaggedStruct"]


class TemplateError(BerthError):
    """A --format template is malformed or fails on the data."""


class ParseError(TemplateError):
    pass


class ExecError(TemplateError):
    def __init__(self, message: str, partial: str = ""):
        super().__init__(message)
        self.partial = partial  # what the template wrote before it failed


# Fields whose dict value is user data (a Go map), even when all its keys happen to be capitalised.
MAP_FIELDS = frozenset({"Labels", "Options", "Volumes", "ExposedPorts", "Ports", "PortBindings", "Networks",
                        "DriverOpts", "Status", "Sysctls", "Tmpfs", "StorageOpt", "Annotations", "Data"})


# Fields that are Go slices: a null one prints as [] (docker's nil slice), not <nil>.
SLICE_FIELDS = frozenset({"Args", "Cmd", "Entrypoint", "Env", "OnBuild", "Shell", "CapAdd", "CapDrop", "Binds",
                          "Links", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "SecurityOpt",
                          "Devices", "DeviceRequests", "DeviceCgroupRules", "Mounts", "Ulimits", "VolumesFrom",
                          "MaskedPaths", "ReadonlyPaths", "RepoTags", "RepoDigests", "Layers", "Aliases",
                          "DNSNames", "ExecIDs"})


class GoMap(dict):
    """A dict known to be a Go map (see MAP_FIELDS)."""


class TaggedStruct(dict):
    """A Go struct whose encoding/json tags rename fields (docker's event message: `status`, `timeNano`):
    templates see the fields, `json` writes the tags. `tags` maps a field to its tag; a tag ending in
    ",omitempty" leaves the field out when it is empty (as Go: "", 0, false, null, [] or {})."""

    def __init__(self, fields: dict, tags: dict):
        super().__init__(fields)
        self.tags = tags


class _NilSlice(list):
    """A null slice field: empty, prints as [], marshals as null."""


class _NilMap(GoMap):
    """A null map field: empty, prints as map[], marshals as null."""


class _Missing:
    """Go's invalid reflect.Value: what a missing map key evaluates to."""

    def __repr__(self):
        return "<no value>"


MISSING = _Missing()
_NOARG = object()  # no value piped into a command


class Titles:
    """The data of a table's header row: every field reads as its column title."""

    def __init__(self, title):
        self.title = title


# ---- values as Go prints them ----------------------------------------------------------------------------

def _is_struct(d) -> bool:
    if type(d) is TaggedStruct:
        return True
    if type(d) is not dict or not d:
        return False
    for k in d:
        if not (isinstance(k, str) and k[:1].isupper()):
            return False
    return True


def _go_type(v) -> str:
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    if isinstance(v, dict):
        return "struct" if _is_struct(v) else "map[string]interface {}"
    return type(v).__name__


def _shortest_digits(x: float):
    """Shortest decimal digits of abs(x) and the decimal point position: 0.d1d2... * 10**dp."""
    mant, _, exp = repr(abs(x)).partition("e")
    ipart, _, frac = mant.partition(".")
    digits, dp = ipart + frac, len(ipart) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", dp


def _go_float(x: float, upper: bool = False) -> str:
    """strconv.FormatFloat(x, 'g', -1, 64), as %v prints a float64."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "+Inf" if x > 0 else "-Inf"
    sign = "-" if str(x).startswith("-") else ""
    if x == 0:
        return sign + "0"
    digits, dp = _shortest_digits(x)
    return sign + _g_layout(digits, dp, eprec=6, upper=upper)


def _g_layout(digits: str, dp: int, eprec: int, upper: bool = False) -> str:
    exp = dp - 1
    if exp < -4 or exp >= eprec:
        e = "E" if upper else "e"
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{mant}{e}{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return "0." + "0" * -dp + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def go_str(v, plus: bool = False) -> str:
    """fmt's %v (%+v with plus): true, <nil>, [a b], map[k:v], {v1 v2}."""
    if isinstance(v, str):
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "<nil>"
    if v is MISSING:
        return "<no value>"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(e, plus) for e in v) + "]"
    if isinstance(v, dict):
        if _is_struct(v):
            return "{" + " ".join((f"{k}:" if plus else "") + go_str(e, plus) for k, e in v.items()) + "}"
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v[k], plus)}" for k in _sorted_keys(v)) + "]"
    if isinstance(v, Titles):
        return ""
    return str(v)


def _sorted_keys(d) -> list:
    try:
        return sorted(d)
    except TypeError:
        return sorted(d, key=str)


def _jsonable(v):
    """Maps get their keys sorted (as Go's encoding/json); integral floats lose their .0 (as Go)."""
    if isinstance(v, (_NilSlice, _NilMap)):
        return None
    if type(v) is TaggedStruct:
        out = {}
        for k, e in v.items():
            tag, _, omit = v.tags.get(k, k).partition(",")
            if not (omit == "omitempty" and (e is None or e in ("", 0, [], {}))):  # False == 0: empty too
                out[tag] = _jsonable(e)
        return out
    if isinstance(v, dict):
        if _is_struct(v):
            return {k: _jsonable(e) for k, e in v.items()}
        return {k: _jsonable(v[k]) for k in _sorted_keys(v)}
    if isinstance(v, (list, tuple)):
        return [_jsonable(e) for e in v]
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return int(v)
    if v is MISSING:
        return None
    return v


def go_json(v) -> str:
    """docker's `json` function: compact json.Marshal, no HTML escaping."""
    text = _json.dumps(_jsonable(v), separators=(",", ":"), ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _quote(s: str, q: str = '"') -> str:
    """strconv.Quote (QuoteRune with q="'")."""
    out = [q]
    for ch in s:
        o = ord(ch)
        if ch == q or ch == "\\":
            out.append("\\" + ch)
        elif ch.isprintable() and o != 0x7F:
            out.append(ch)
        elif ch in _ESCAPES_OUT:
            out.append(_ESCAPES_OUT[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append(q)
    return "".join(out)


_ESCAPES_OUT = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


# ---- fmt.Sprintf -----------------------------------------------------------------------------------------

def _bad_verb(verb: str, arg) -> str:
    if arg is None or arg is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({_go_type(arg)}={go_str(arg)})"


def _pad(s: str, flags: str, width, zeros: str = "") -> str:
    """Pad to width: left-justified with "-", else with leading zeros if the 0 flag is given and zeros allows
    it ("num": after the sign, "str": plain), else with leading spaces."""
    if width is None or len(s) >= width:
        return s
    if "-" in flags:
        return s.ljust(width)
    if "0" in flags and zeros:
        sign = s[:1] if zeros == "num" and s[:1] in "+- " and len(s) > 1 else ""
        return sign + s[len(sign):].rjust(width - len(sign), "0")
    return s.rjust(width)


def _fmt_int(n: int, verb: str, flags: str, prec) -> str | None:
    if verb in "dv":
        body = str(abs(n))
    elif verb == "x":
        body = format(abs(n), "x")
    elif verb == "X":
        body = format(abs(n), "X")
    elif verb == "o":
        body = format(abs(n), "o")
    elif verb == "O":
        body = "0o" + format(abs(n), "o")
    elif verb == "b":
        body = format(abs(n), "b")
    elif verb == "c":
        return chr(n) if 0 <= n <= 0x10FFFF else "\ufffd"
    elif verb == "q":
        return _quote(chr(n) if 0 <= n <= 0x10FFFF else "\ufffd", "'")
    elif verb == "U":
        return f"U+{n:04X}"
    else:
        return None
    if prec is not None:
        body = body.zfill(prec)
    if "#" in flags:
        body = {"x": "0x", "X": "0X", "o": "0", "b": ""}.get(verb, "") + body
    sign = "-" if n < 0 else "+" if "+" in flags else " " if " " in flags else ""
    return sign + body


def _fmt_float(x: float, verb: str, flags: str, prec) -> str | None:
    if verb in "vgG" and prec is None:
        s = _go_float(x, upper=verb == "G")
    elif verb in "veEfFgG":
        verb = "g" if verb == "v" else verb
        s = format(x, f".{6 if prec is None else prec}{verb}")
        s = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN", "INF": "+Inf", "-INF": "-Inf", "NAN": "NaN"}.get(s, s)
    else:
        return None
    if s[:1] not in ("-", "+"):
        s = ("+" if "+" in flags else " " if " " in flags else "") + s
    return s


def _fmt_arg(arg, verb: str, flags: str, width, prec, names: bool = False) -> str:
    """One operand of Sprintf. Lists and maps apply the verb to each element, as Go does."""
    if arg is MISSING:
        arg = None
    if verb == "T":
        return _pad(_go_type(arg), flags, width)
    if verb == "v" and "+" in flags:  # %+v: field names for structs, no sign for numbers
        flags, names = flags.replace("+", ""), True
    if isinstance(arg, dict):
        if _is_struct(arg):
            return "{" + " ".join((f"{k}:" if names else "") + _fmt_arg(e, verb, flags, width, prec, names)
                                  for k, e in arg.items()) + "}"
        return "map[" + " ".join(f"{_fmt_arg(k, verb, flags, width, prec, names)}:"
                                 f"{_fmt_arg(arg[k], verb, flags, width, prec, names)}"
                                 for k in _sorted_keys(arg)) + "]"
    if isinstance(arg, (list, tuple)):
        return "[" + " ".join(_fmt_arg(e, verb, flags, width, prec, names) for e in arg) + "]"
    if arg is None:
        return _pad("<nil>", flags, width) if verb == "v" else _bad_verb(verb, arg)
    if isinstance(arg, bool):
        if verb in "tv":
            return _pad(go_str(arg), flags, width)
        return _bad_verb(verb, arg)
    if isinstance(arg, int):
        s = _fmt_int(arg, verb, flags, prec)
        return _bad_verb(verb, arg) if s is None else _pad(s, flags, width, "num" if prec is None else "")
    if isinstance(arg, float):
        s = _fmt_float(arg, verb, flags, prec)
        return _bad_verb(verb, arg) if s is None else _pad(s, flags, width, "num")
    if isinstance(arg, str):
        if verb in "sv":
            return _pad(arg if prec is None else arg[:prec], flags, width, "str")
        if verb == "q":
            return _pad(_quote(arg if prec is None else arg[:prec]), flags, width, "str")
        if verb in "xX":
            data = arg.encode()[:prec] if prec is not None else arg.encode()
            sep = " " if " " in flags else ""
            return _pad(sep.join(format(b, "02x" if verb == "x" else "02X") for b in data), flags, width, "str")
        return _bad_verb(verb, arg)
    return _pad(go_str(arg), flags, width) if verb == "v" else _bad_verb(verb, arg)


def sprintf(fmt: str, args) -> str:
    """fmt.Sprintf for the verbs people use: %v %+v %s %q %d %t %x %X %o %b %c %U %e %f %g %T, flags, width,
    precision (also `*`), and Go's %!v(MISSING), %!d(string=x), %!(EXTRA ...) markers."""
    out, i, n, argi = [], 0, len(fmt), 0
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        flags = ""
        while i < n and fmt[i] in "+-# 0":
            flags += fmt[i]
            i += 1
        width = prec = None
        if i < n and fmt[i] == "*":
            i += 1
            if argi < len(args) and isinstance(args[argi], int) and not isinstance(args[argi], bool):
                width = args[argi]
                if width < 0:
                    flags, width = flags + "-", -width
            else:
                out.append("%!(BADWIDTH)")
            argi += 1
        else:
            k = i
            while i < n and fmt[i].isdigit():
                i += 1
            if i > k:
                width = int(fmt[k:i])
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                i += 1
                if argi < len(args) and isinstance(args[argi], int) and not isinstance(args[argi], bool):
                    prec = max(args[argi], 0)
                else:
                    out.append("%!(BADPREC)")
                argi += 1
            else:
                k = i
                while i < n and fmt[i].isdigit():
                    i += 1
                prec = int(fmt[k:i]) if i > k else 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_fmt_arg(args[argi], verb, flags, width, prec))
        argi += 1
    if argi < len(args):
        extra = ", ".join("<nil>" if a is None or a is MISSING else f"{_go_type(a)}={go_str(a)}"
                          for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _sprint(args) -> str:
    out = []
    prev_str = False
    for i, a in enumerate(args):
        is_str = isinstance(a, str)
        if i and not is_str and not prev_str:
            out.append(" ")
        out.append(go_str(None if a is MISSING else a))
        prev_str = is_str
    return "".join(out)


# ---- lexer -----------------------------------------------------------------------------------------------

(T_TEXT, T_LEFT, T_RIGHT, T_SPACE, T_FIELD, T_VAR, T_DOT, T_IDENT, T_KEYWORD, T_BOOL, T_NIL, T_STRING,
 T_RAW, T_CHAR, T_NUMBER, T_PIPE, T_LPAREN, T_RPAREN, T_DECLARE, T_ASSIGN, T_OTHER, T_EOF) = range(22)
_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
_SPACE = " \t\r\n"


class _Tok:
    __slots__ = ("typ", "val", "pos", "line")

    def __init__(self, typ, val, pos, line):
        self.typ, self.val, self.pos, self.line = typ, val, pos, line

    def __str__(self):  # as Go's item.String(), for "unexpected X in Y"
        if self.typ == T_EOF:
            return "EOF"
        if self.typ == T_KEYWORD:
            return f"<{self.val}>"
        if self.typ == T_DOT:
            return "<.>"
        if self.typ == T_RIGHT:
            return '"}}"'
        if self.typ == T_NIL:
            return "<nil>"
        if len(self.val) > 10:
            return _quote(self.val[:10]) + "..."
        return _quote(self.val)


def _alnum(c: str) -> bool:
    return c == "_" or c.isalnum()


class _Lexer:
    def __init__(self, src: str, text_escapes: bool):
        self.src, self.escapes = src, text_escapes
        self.toks: list[_Tok] = []
        self.pos = 0
        self.paren = 0
        self.trim_next = False  # the last action ended with " -}}": trim the text that follows

    def line_at(self, pos: int) -> int:
        return self.src.count("\n", 0, pos) + 1

    def fail(self, msg: str, pos: int):
        raise ParseError(f"template: :{self.line_at(pos)}: {msg}")

    def emit(self, typ, start, end=None):
        end = self.pos if end is None else end
        self.toks.append(_Tok(typ, self.src[start:end], start, self.line_at(start)))

    def at_right(self) -> tuple[bool, bool]:
        s, p = self.src, self.pos
        if s.startswith("}}", p + 2) and p + 1 < len(s) and s[p] in _SPACE and s[p + 1] == "-":
            return True, True
        return s.startswith("}}", p), False

    def run(self) -> list[_Tok]:
        src = self.src
        while True:
            x = src.find("{{", self.pos)
            end = len(src) if x < 0 else x
            text = src[self.pos:end]
            trim = x >= 0 and len(src) > x + 3 and src[x + 2] == "-" and src[x + 3] in _SPACE
            if self.escapes:
                text = text.replace("\\n", "\n").replace("\\t", "\t")
            if self.trim_next:
                text, self.trim_next = text.lstrip(_SPACE), False
            if trim:
                text = text.rstrip(_SPACE)
            if text:
                self.toks.append(_Tok(T_TEXT, text, self.pos, self.line_at(self.pos)))
            if x < 0:
                break
            self.pos = x + 2 + (2 if trim else 0)
            if src.startswith("/*", self.pos):
                self.comment(x)
                continue
            self.toks.append(_Tok(T_LEFT, "{{", x, self.line_at(x)))
            self.paren = 0
            self.action()
        self.toks.append(_Tok(T_EOF, "", len(src), self.line_at(len(src))))
        return self.toks

    def comment(self, start):
        close = self.src.find("*/", self.pos + 2)
        if close < 0:
            self.fail("unclosed comment", start)
        self.pos = close + 2
        delim, trim = self.at_right()
        if not delim:
            self.fail("comment ends before closing delimiter", start)
        self.pos += 4 if trim else 2
        self.trim_next = trim

    def at_terminator(self) -> bool:
        p, s = self.pos, self.src
        if p >= len(s):
            return True
        return s[p] in _SPACE or s[p] in ".,|:()" or s.startswith("}}", p)

    def action(self):
        src = self.src
        while True:
            delim, trim = self.at_right()
            if delim:
                if self.paren:
                    self.fail("unclosed left paren", self.pos)
                if trim:
                    self.pos += 2
                self.emit(T_RIGHT, self.pos, self.pos + 2)
                self.pos += 2
                self.trim_next = trim
                return
            start = self.pos
            if start >= len(src):
                self.fail("unclosed action", start)
            c = src[start]
            self.pos += 1
            if c in _SPACE:
                self.pos = start
                n = 0
                while self.pos < len(src) and src[self.pos] in _SPACE:
                    self.pos += 1
                    n += 1
                if src.startswith("-}}", self.pos):  # " -}}": the last space belongs to the marker
                    self.pos -= 1
                    if n == 1:
                        continue
                self.emit(T_SPACE, start)
            elif c == "=":
                self.emit(T_ASSIGN, start)
            elif c == ":":
                if src[self.pos:self.pos + 1] != "=":
                    self.fail("expected :=", start)
                self.pos += 1
                self.emit(T_DECLARE, start)
            elif c == "|":
                self.emit(T_PIPE, start)
            elif c == '"':
                self.quoted('"', T_STRING, "unterminated quoted string", start)
            elif c == "'":
                self.quoted("'", T_CHAR, "unterminated character constant", start)
            elif c == "`":
                close = src.find("`", self.pos)
                if close < 0:
                    self.fail("unterminated raw quoted string", start)
                self.pos = close + 1
                self.emit(T_RAW, start)
            elif c == "$":
                self.field_or_var(T_VAR, start)
            elif c == "." and not src[self.pos:self.pos + 1].isdigit():
                self.field_or_var(T_FIELD, start)
            elif c in "+-." or c.isdigit():
                self.pos = start
                self.number()
            elif _alnum(c):
                while self.pos < len(src) and _alnum(src[self.pos]):
                    self.pos += 1
                word = src[start:self.pos]
                if not self.at_terminator():
                    self.fail(f"bad character {_unicode_name(src[self.pos])}", start)
                typ = (T_KEYWORD if word in _KEYWORDS else T_BOOL if word in ("true", "false")
                       else T_NIL if word == "nil" else T_IDENT)
                self.emit(typ, start)
            elif c == "(":
                self.emit(T_LPAREN, start)
                self.paren += 1
            elif c == ")":
                self.emit(T_RPAREN, start)
                self.paren -= 1
                if self.paren < 0:
                    self.fail("unexpected right paren", start)
            elif c.isascii() and c.isprintable():
                self.emit(T_OTHER, start)
            else:
                self.fail(f"unrecognized character in action: {_unicode_name(c)}", start)

    def quoted(self, q, typ, err, start):
        src = self.src
        while True:
            if self.pos >= len(src) or src[self.pos] == "\n":
                self.fail(err, start)
            c = src[self.pos]
            self.pos += 1
            if c == "\\":
                if self.pos >= len(src) or src[self.pos] == "\n":
                    self.fail(err, start)
                self.pos += 1
            elif c == q:
                break
        self.emit(typ, start)

    def field_or_var(self, typ, start):
        if self.at_terminator():
            self.emit(T_VAR if typ == T_VAR else T_DOT, start)
            return
        src = self.src
        while self.pos < len(src) and _alnum(src[self.pos]):
            self.pos += 1
        if not self.at_terminator():
            self.fail(f"bad character {_unicode_name(src[self.pos])}", start)
        self.emit(typ, start)

    def number(self):
        src, start = self.src, self.pos

        def accept(chars):
            if self.pos < len(src) and src[self.pos] in chars:
                self.pos += 1
                return True
            return False

        def accept_run(chars):
            while accept(chars):
                pass
        accept("+-")
        digits = "0123456789_"
        if accept("0"):
            if accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif accept("oO"):
                digits = "01234567_"
            elif accept("bB"):
                digits = "01_"
        accept_run(digits)
        if accept("."):
            accept_run(digits)
        if len(digits) == 11 and accept("eE"):
            accept("+-")
            accept_run("0123456789_")
        if len(digits) == 23 and accept("pP"):
            accept("+-")
            accept_run("0123456789_")
        accept("i")
        if self.pos < len(src) and _alnum(src[self.pos]):
            self.pos += 1
            self.fail(f"bad number syntax: {_quote(src[start:self.pos])}", start)
        self.emit(T_NUMBER, start)


def _unicode_name(c: str) -> str:
    return f"U+{ord(c):04X} {_quote(c, chr(39))}"


def _unquote(text: str, pos_err) -> str:
    """strconv.Unquote for "..." and '...' (raw strings are taken as they are)."""
    body, out, i = text[1:-1], [], 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
              "'": "'", '"': '"'}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1] if i + 1 < len(body) else ""
        try:
            if e in simple:
                out.append(simple[e])
                i += 2
            elif e == "x":
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
            elif e == "u":
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
            elif e == "U":
                out.append(chr(int(body[i + 2:i + 10], 16)))
                i += 10
            elif e in "01234567":
                out.append(chr(int(body[i + 1:i + 4], 8)))
                i += 4
            else:
                raise ValueError
        except ValueError:
            pos_err("invalid syntax")
    return "".join(out)


# ---- parse tree ------------------------------------------------------------------------------------------

class _Node:
    __slots__ = ("pos",)


class _Text(_Node):
    __slots__ = ("text",)

    def __init__(self, pos, text):
        self.pos, self.text = pos, text


class _Action(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos, pipe):
        self.pos, self.pipe = pos, pipe


class _Control(_Node):
    __slots__ = ("kind", "pipe", "body", "other")

    def __init__(self, pos, kind, pipe, body, other):
        self.pos, self.kind, self.pipe, self.body, self.other = pos, kind, pipe, body, other


class _Jump(_Node):
    __slots__ = ("kind",)

    def __init__(self, pos, kind):
        self.pos, self.kind = pos, kind


class _Pipe(_Node):
    __slots__ = ("decl", "assign", "cmds")

    def __init__(self, pos, decl, assign, cmds):
        self.pos, self.decl, self.assign, self.cmds = pos, decl, assign, cmds

    def __str__(self):
        head = (", ".join(self.decl) + (" = " if self.assign else " := ")) if self.decl else ""
        return head + " | ".join(map(str, self.cmds))


class _Command(_Node):
    __slots__ = ("args",)

    def __init__(self, pos, args):
        self.pos, self.args = pos, args

    def __str__(self):
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


class _Operand(_Node):
    """kind: field (idents), var (name + idents), chain (node + idents), dot, nil, bool, number, string, ident."""
    __slots__ = ("kind", "text", "value", "idents", "node")

    def __init__(self, pos, kind, text, value=None, idents=(), node=None):
        self.pos, self.kind, self.text, self.value, self.idents, self.node = pos, kind, text, value, idents, node

    def __str__(self):
        if self.kind == "field":
            return "".join("." + i for i in self.idents)
        if self.kind == "var":
            return self.text + "".join("." + i for i in self.idents)
        if self.kind == "chain":
            inner = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
            return inner + "".join("." + i for i in self.idents)
        return self.text


_END, _ELSE = object(), object()


class _Parser:
    def __init__(self, src: str, toks: list[_Tok], funcs):
        self.src, self.toks, self.i, self.funcs = src, toks, 0, funcs
        self.vars = ["$"]
        self.range_depth = 0

    def fail(self, msg: str, tok: _Tok | None = None):
        tok = tok or self.toks[max(self.i - 1, 0)]
        raise ParseError(f"template: :{tok.line}: {msg}")

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next_non_space(self) -> _Tok:
        t = self.next()
        while t.typ == T_SPACE:
            t = self.next()
        return t

    def peek_non_space(self) -> _Tok:
        t = self.next_non_space()
        self.i -= 1
        return t

    def expect(self, typ, context) -> _Tok:
        t = self.next_non_space()
        if t.typ != typ:
            self.unexpected(t, context)
        return t

    def unexpected(self, tok, context):
        if tok.typ == T_EOF:
            self.fail("unexpected EOF", tok)
        self.fail(f"unexpected {tok} in {context}", tok)

    # list := (text | action)*, up to {{end}} / {{else}} (returned as the stop marker)
    def item_list(self, top=False):
        nodes = []
        while True:
            t = self.peek()
            if t.typ == T_EOF:
                if top:
                    return nodes, None
                self.fail("unexpected EOF", t)
            node = self.text_or_action()
            if node is _END or node is _ELSE:
                if top:
                    self.fail(f"unexpected {{{{{'end' if node is _END else 'else'}}}}}", self.toks[self.i - 1])
                return nodes, node
            if node is not None:
                nodes.append(node)

    def text_or_action(self):
        t = self.next_non_space()
        if t.typ == T_TEXT:
            return _Text(t.pos, t.val)
        if t.typ == T_LEFT:
            return self.action()
        self.unexpected(t, "input")

    def action(self):
        t = self.peek_non_space()
        if t.typ == T_KEYWORD:
            self.next_non_space()
            kw = t.val
            if kw == "end":
                self.expect(T_RIGHT, "end")
                return _END
            if kw == "else":
                p = self.peek_non_space()
                if p.typ == T_KEYWORD and p.val in ("if", "with"):
                    return _ELSE  # {{else if ...}} / {{else with ...}}: the keyword stays pending
                self.expect(T_RIGHT, "else")
                return _ELSE
            if kw in ("if", "with", "range"):
                return self.control(kw, t)
            if kw in ("break", "continue"):
                if not self.range_depth:
                    self.fail(f"{{{{{kw}}}}} outside {{{{range}}}}", t)
                self.expect(T_RIGHT, kw)
                return _Jump(t.pos, kw)
            self.fail(f"{{{{{kw}}}}} is not supported in --format templates", t)
        return _Action(t.pos, self.pipeline("command", T_RIGHT))

    def control(self, kind, tok):
        mark = len(self.vars)
        pipe = self.pipeline(kind, T_RIGHT)
        if kind == "range":
            self.range_depth += 1
        body, stop = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        other = None
        if stop is _ELSE:
            p = self.peek_non_space()
            if kind in ("if", "with") and p.typ == T_KEYWORD and p.val == kind:
                self.next_non_space()
                other = [self.control(kind, p)]
            else:
                other, stop = self.item_list()
                if stop is not _END:
                    self.fail("expected end; found {{else}}", self.toks[self.i - 1])
        del self.vars[mark:]
        return _Control(tok.pos, kind, pipe, body, other)

    def pipeline(self, context, end):
        start = self.peek_non_space()
        decl, assign = [], False
        if start.typ == T_VAR:  # $x := / $x = / (range) $i, $e :=
            save = self.i
            v = self.next_non_space()
            after = self.peek_non_space()
            if after.typ in (T_DECLARE, T_ASSIGN):
                self.next_non_space()
                decl, assign = [v.val], after.typ == T_ASSIGN
            elif after.typ == T_OTHER and after.val == ",":
                if context != "range":
                    self.fail(f"too many declarations in {context}", after)
                self.next_non_space()
                v2 = self.next_non_space()
                if v2.typ != T_VAR:
                    self.fail("range can only initialize variables", v2)
                op = self.next_non_space()
                if op.typ not in (T_DECLARE, T_ASSIGN):
                    self.unexpected(op, context)
                decl, assign = [v.val, v2.val], op.typ == T_ASSIGN
            else:
                self.i = save
            if assign:
                for name in decl:
                    if name not in self.vars:
                        self.fail(f'undefined variable "{name}"', v)
            else:
                self.vars.extend(decl)
        cmds = []
        while True:
            t = self.peek_non_space()
            if t.typ == end:
                self.next_non_space()
                if not cmds:
                    self.fail(f"missing value for {context}", t)
                for k, c in enumerate(cmds[1:]):
                    first = c.args[0]
                    if isinstance(first, _Operand) and first.kind in ("bool", "dot", "nil", "number", "string"):
                        self.fail(f"non executable command in pipeline stage {k + 2}", t)
                return _Pipe(start.pos, decl, assign, cmds)
            if t.typ in (T_BOOL, T_CHAR, T_DOT, T_FIELD, T_IDENT, T_NUMBER, T_NIL, T_RAW, T_STRING, T_VAR,
                         T_LPAREN):
                cmds.append(self.command())
            else:
                self.unexpected(t, context)

    def command(self):
        start = self.peek_non_space()
        args = []
        while True:
            self.peek_non_space()
            op = self.operand()
            if op is not None:
                args.append(op)
            t = self.next()
            if t.typ == T_SPACE:
                continue
            if t.typ in (T_RIGHT, T_RPAREN):
                self.i -= 1
            elif t.typ == T_PIPE:
                pass
            else:
                self.unexpected(t, "operand")
            break
        if not args:
            self.fail("empty command", start)
        return _Command(start.pos, args)

    def operand(self):
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == T_FIELD:
            pos = self.peek().pos
            idents = []
            while self.peek().typ == T_FIELD:
                idents.append(self.next().val[1:])
            if isinstance(node, _Operand) and node.kind == "field":
                return _Operand(pos, "field", "", idents=list(node.idents) + idents)
            if isinstance(node, _Operand) and node.kind == "var":
                return _Operand(pos, "var", node.text, idents=list(node.idents) + idents)
            if isinstance(node, _Operand) and node.kind in ("bool", "string", "number", "nil", "dot"):
                self.fail(f"unexpected . after term {_quote(str(node))}")
            return _Operand(pos, "chain", "", idents=idents, node=node)
        return node

    def term(self):
        t = self.next_non_space()
        typ = t.typ
        if typ == T_IDENT:
            if t.val not in self.funcs and t.val not in ("and", "or"):
                self.fail(f'function "{t.val}" not defined', t)
            return _Operand(t.pos, "ident", t.val)
        if typ == T_DOT:
            return _Operand(t.pos, "dot", ".")
        if typ == T_NIL:
            return _Operand(t.pos, "nil", "nil")
        if typ == T_VAR:
            if t.val not in self.vars:
                self.fail(f'undefined variable "{t.val}"', t)
            return _Operand(t.pos, "var", t.val)
        if typ == T_FIELD:
            return _Operand(t.pos, "field", t.val, idents=[t.val[1:]])
        if typ == T_BOOL:
            return _Operand(t.pos, "bool", t.val, t.val == "true")
        if typ in (T_NUMBER, T_CHAR):
            return _Operand(t.pos, "number", t.val, self.number(t))
        if typ == T_LPAREN:
            return self.pipeline("parenthesized pipeline", T_RPAREN)
        if typ == T_STRING:
            return _Operand(t.pos, "string", t.val, _unquote(t.val, lambda m: self.fail(m, t)))
        if typ == T_RAW:
            return _Operand(t.pos, "string", t.val, t.val[1:-1].replace("\r", ""))
        self.i -= 1
        return None

    def number(self, t):
        text = t.val
        if t.typ == T_CHAR:
            s = _unquote(text, lambda m: self.fail(m, t))
            if len(s) != 1:
                self.fail(f"malformed character constant: {text}", t)
            return ord(s)
        try:
            return _parse_number(text)
        except ValueError:
            self.fail(f"illegal number syntax: {_quote(text)}", t)


def _parse_number(text: str):
    if text.endswith("i"):
        raise ValueError("complex")
    sign, body = (text[0], text[1:]) if text[:1] in "+-" else ("", text)
    low = body.lower()
    if low.startswith(("0x", "0o", "0b")):
        base = {"x": 16, "o": 8, "b": 2}[low[1]]
        digits = body[2:].lstrip("_") if body[2:3] == "_" else body[2:]
        if base == 16 and ("." in low or "p" in low):
            return float.fromhex(sign + body.replace("_", ""))
        return int(sign + digits, base)
    if any(c in body for c in ".eE"):
        if body.startswith("_") or body.endswith("_") or "__" in body:
            raise ValueError(text)
        return float(sign + body)
    if len(body) > 1 and body[0] == "0":
        return int(sign + body[1:], 8)
    return int(sign + body, 10)


# ---- execution -------------------------------------------------------------------------------------------

class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _FuncError(Exception):
    """A function failed: "error calling NAME: message"."""


class _ArgError(Exception):
    """An argument has the wrong type for the function."""


def _kind(v) -> str:
    if v is None or v is MISSING:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "other"


def truth(v) -> bool:
    if v is None or v is MISSING:
        return False
    if isinstance(v, (bool, int, float)):
        return bool(v)
    if isinstance(v, (str, list, tuple, dict)):
        return len(v) > 0
    return True


def _eq(a, *bs):
    if not bs:
        raise _FuncError("missing argument for comparison")
    ka = _kind(a)
    for b in bs:
        kb = _kind(b)
        if ka != kb:
            if ka != "invalid" and kb != "invalid":
                raise _FuncError("incompatible types for comparison")
            continue
        if ka == "other":
            raise _FuncError(f"non-comparable type {go_str(a)}: {_go_type(a)}")
        if ka == "invalid" or a == b:
            return True
    return False


def _lt(a, b):
    ka, kb = _kind(a), _kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise _FuncError("invalid type for comparison")
    if ka != kb:
        raise _FuncError("incompatible types for comparison")
    return a < b


def _index_arg(i, cap: int) -> int:
    if isinstance(i, bool) or not isinstance(i, int):
        if i is None or i is MISSING:
            raise _FuncError("cannot index slice/array with nil")
        raise _FuncError(f"cannot index slice/array with type {_go_type(i)}")
    if i < 0 or i > cap:
        raise _FuncError(f"index out of range: {i}")
    return i


def _index(item, *indices):
    if item is None or item is MISSING:
        raise _FuncError("index of untyped nil")
    for i in indices:
        if isinstance(item, str):
            data = item.encode()
            x = _index_arg(i, len(data))
            if x == len(data):
                raise _FuncError(f"index out of range: {x}")
            item = data[x]
        elif isinstance(item, (list, tuple)):
            x = _index_arg(i, len(item))
            if x == len(item):
                raise _FuncError(f"index out of range: {x}")
            item = item[x]
        elif isinstance(item, dict):
            if i is MISSING or i is None:
                raise _FuncError("value is nil; should be of type string")
            if not isinstance(i, str):
                raise _FuncError(f"value has type {_go_type(i)}; should be string")
            item = item.get(i, "")  # a missing key gives the zero value
        elif item is None or item is MISSING:
            raise _FuncError("index of nil pointer")
        else:
            raise _FuncError(f"can't index item of type {_go_type(item)}")
    return item


def _slice(item, *indices):
    if item is None or item is MISSING:
        raise _FuncError("slice of untyped nil")
    if len(indices) > 3:
        raise _FuncError(f"too many slice indexes: {len(indices)}")
    is_str = isinstance(item, str)
    if is_str:
        if len(indices) == 3:
            raise _FuncError("cannot 3-index slice a string")
        data = item.encode()
    elif isinstance(item, (list, tuple)):
        data = item
    else:
        raise _FuncError(f"can't slice item of type {_go_type(item)}")
    idx = [0, len(data), len(data)]
    for k, i in enumerate(indices):
        idx[k] = _index_arg(i, len(data))
    if idx[0] > idx[1]:
        raise _FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indices) == 3 and idx[1] > idx[2]:
        raise _FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    out = data[idx[0]:idx[1]]
    return out.decode(errors="replace") if is_str else list(out)


def _len(v):
    if v is None or v is MISSING:
        return 0  # a nil slice or map, as docker's typed data has
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, (list, tuple, dict)):
        return len(v)
    raise _FuncError(f"len of type {_go_type(v)}")


def _title(s: str) -> str:
    """strings.Title: upper-case the first letter of each word."""
    out, prev = [], " "
    for c in s:
        sep = (not (c.isalnum() or c == "_")) if c.isascii() else c.isspace()
        prev_sep = (not (prev.isalnum() or prev == "_")) if prev.isascii() else prev.isspace()
        out.append(c.upper() if prev_sep and not sep else c)
        prev = c
    return "".join(out)


def _pad_fn(s: str, prefix: int, suffix: int) -> str:
    return s if s == "" else " " * prefix + s + " " * suffix


def _truncate(s: str, n: int) -> str:
    return s if len(s) < n else s[:max(n, 0)]


def _split(s: str, sep: str) -> list:
    if sep == "":
        return list(s)
    return s.split(sep)


# name: (parameter kinds, variadic kind or None, implementation). Kinds: "value" (any value, no value kept
# as such), "any" (interface{}: no value becomes nil), "str", "int", "strlist".
_FUNCS = {
    "not": (("value",), None, lambda v: not truth(v)),
    "len": (("value",), None, _len),
    "index": (("value",), "value", _index),
    "slice": (("value",), "value", _slice),
    "eq": (("value",), "value", _eq),
    "ne": (("value", "value"), None, lambda a, b: not _eq(a, b)),
    "lt": (("value", "value"), None, _lt),
    "le": (("value", "value"), None, lambda a, b: _lt(a, b) or _eq(a, b)),
    "gt": (("value", "value"), None, lambda a, b: not (_lt(a, b) or _eq(a, b))),
    "ge": (("value", "value"), None, lambda a, b: not _lt(a, b)),
    "print": ((), "any", lambda *a: _sprint(a)),
    "printf": (("str",), "any", lambda f, *a: sprintf(f, a)),
    "println": ((), "any", lambda *a: " ".join(go_str(x) for x in a) + "\n"),
    "json": (("any",), None, go_json),
    "split": (("str", "str"), None, _split),
    "join": (("strlist", "str"), None, lambda items, sep: sep.join(items)),
    "title": (("str",), None, _title),
    "lower": (("str",), None, str.lower),
    "upper": (("str",), None, str.upper),
    "pad": (("str", "int", "int"), None, _pad_fn),
    "truncate": (("str", "int"), None, _truncate),
}

# docker's HeaderFunctions: a table's header row shows the column title untouched by these.
HEADER_FUNCS = {
    "json": (("str",), None, lambda v: v),
    "split": (("str", "str"), None, lambda v, _: v),
    "join": (("str", "str"), None, lambda v, _: v),
    "title": (("str",), None, lambda v: v),
    "lower": (("str",), None, lambda v: v),
    "upper": (("str",), None, lambda v: v),
    "truncate": (("str", "int"), None, lambda v, _: v),
}


def _convert(kind: str, v):
    if kind == "value":
        return v
    if kind == "any":
        return None if v is MISSING else v
    if v is None and kind == "strlist":
        return []  # a nil slice
    if v is MISSING or v is None:
        raise _ArgError(f"invalid value; expected {_GO_PARAM[kind]}")
    if kind == "str":
        if isinstance(v, str):
            return v
    elif kind == "int":
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
    elif kind == "strlist":
        if isinstance(v, (list, tuple)) and all(isinstance(e, str) for e in v):
            return list(v)
    raise _ArgError(f"wrong type for value; expected {_GO_PARAM[kind]}; got {_go_type(v)}")


_GO_PARAM = {"str": "string", "int": "int", "strlist": "[]string"}


class _State:
    def __init__(self, tmpl: "Template", data, funcs, field_errors: bool):
        self.tmpl, self.funcs, self.field_errors = tmpl, funcs, field_errors
        self.vars = [["$", data]]
        self.out: list[str] = []

    def fail(self, node, msg: str):
        src = self.tmpl.source
        pos = node.pos
        line = src.count("\n", 0, pos) + 1
        col = pos - (src.rfind("\n", 0, pos) + 1)
        raise ExecError(f'template: :{line}:{col}: executing "" at <{node}>: {msg}', "".join(self.out))

    def walk(self, nodes, dot):
        out = self.out
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Action):
                v = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    out.append("<no value>" if v is MISSING else go_str(v))
            elif isinstance(node, _Control):
                self.control(node, dot)
            elif node.kind == "break":
                raise _Break
            else:
                raise _Continue

    def control(self, node, dot):
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.range(node, dot)
                return
            v = self.pipeline(dot, node.pipe)
            if truth(v):
                self.walk(node.body, v if node.kind == "with" else dot)
            elif node.other is not None:
                self.walk(node.other, dot)
        finally:
            del self.vars[mark:]

    def range(self, node, dot):
        pipe = node.pipe
        v = self.pipeline(dot, _Pipe(pipe.pos, [], False, pipe.cmds))
        if isinstance(v, dict):
            items = [(k, v[k]) for k in _sorted_keys(v)]
        elif isinstance(v, (list, tuple)):
            items = list(enumerate(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            if len(pipe.decl) > 1:
                self.fail(pipe, f"can't use {v} to iterate over more than one variable")
            items = [(i, i) for i in range(v)]
        elif v is None or v is MISSING:
            items = []
        else:
            self.fail(pipe.cmds[-1].args[0] if len(pipe.cmds) == 1 and len(pipe.cmds[0].args) == 1 else pipe,
                      f"range can't iterate over {go_str(v)}")
        if not pipe.assign:
            for name in pipe.decl:
                self.vars.append([name, None])
        mark = len(self.vars)
        for key, elem in items:
            if len(pipe.decl) == 1:
                self.set_var(pipe.decl[0], elem)
            elif len(pipe.decl) == 2:
                self.set_var(pipe.decl[0], key)
                self.set_var(pipe.decl[1], elem)
            try:
                self.walk(node.body, elem)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]
        if not items and node.other is not None:
            self.walk(node.other, dot)

    def set_var(self, name, value):
        for pair in reversed(self.vars):
            if pair[0] == name:
                pair[1] = value
                return

    def get_var(self, name):
        for pair in reversed(self.vars):
            if pair[0] == name:
                return pair[1]
        raise AssertionError(name)  # the parser checks every variable is declared

    def pipeline(self, dot, pipe):
        v = _NOARG
        for cmd in pipe.cmds:
            v = self.command(dot, cmd, v)
        if pipe.decl:
            if pipe.assign:
                self.set_var(pipe.decl[0], v)
            else:
                self.vars.append([pipe.decl[0], v])
        return v

    def command(self, dot, cmd, final):
        first = cmd.args[0]
        if isinstance(first, _Pipe):
            self.no_args(cmd, first, final)
            return self.pipeline(dot, first)
        kind = first.kind
        if kind == "ident":
            return self.call(dot, first, cmd, final)
        if kind in ("field", "var", "chain"):
            self.no_args(cmd, first, final, method=True)
            return self.operand(dot, first)
        self.no_args(cmd, first, final)
        if kind == "nil":
            self.fail(first, "nil is not a command")
        return dot if kind == "dot" else first.value

    def no_args(self, cmd, first, final, method=False):
        if len(cmd.args) > 1 or final is not _NOARG:
            if method and first.idents:
                self.fail(first, f"{first.idents[-1]} is not a method but has arguments")
            self.fail(first, f"can't give argument to non-function {first}")

    def operand(self, dot, node):
        """The value of an argument."""
        if isinstance(node, _Pipe):
            return self.pipeline(dot, node)
        kind = node.kind
        if kind == "field":
            return self.fields(node, dot, node.idents)
        if kind == "var":
            return self.fields(node, self.get_var(node.text), node.idents)
        if kind == "chain":
            return self.fields(node, self.operand(dot, node.node), node.idents)
        if kind == "dot":
            return dot
        if kind == "ident":
            return self.call(dot, node, _Command(node.pos, [node]), _NOARG)
        if kind == "nil":
            return None
        return node.value

    def fields(self, node, v, idents):
        for name in idents:
            if v is MISSING:
                return MISSING
            if isinstance(v, dict):
                if name in v:
                    got = v[name]
                    if got is None:
                        v = _NilSlice() if name in SLICE_FIELDS else _NilMap() if name in MAP_FIELDS else None
                    else:
                        v = GoMap(got) if name in MAP_FIELDS and type(got) is dict else got
                elif _is_struct(v):
                    self.fail(node, f"can't evaluate field {name}" if self.field_errors
                              else f'map has no entry for key "{name}"')
                else:
                    v = MISSING
            elif isinstance(v, Titles):
                v = v.title(name)
            elif v is None:
                self.fail(node, f"nil pointer evaluating interface {{}}.{name}")
            else:
                self.fail(node, f"can't evaluate field {name} in type {_go_type(v)}")
        return v

    def call(self, dot, ident, cmd, final):
        name = ident.text
        args = cmd.args[1:]
        if name in ("and", "or"):
            n = len(args) + (final is not _NOARG)
            if n < 1:
                self.fail(ident, f"wrong number of args for {name}: want at least 1 got 0")
            v = None
            for a in args:
                v = self.operand(dot, a)
                if truth(v) == (name == "or"):
                    return v
            return final if final is not _NOARG else v
        spec = self.funcs.get(name)
        if spec is None:
            self.fail(ident, f'"{name}" is not a defined function')
        params, variadic, fn = spec
        n = len(args) + (final is not _NOARG)
        if variadic is None and n != len(params):
            self.fail(ident, f"wrong number of args for {name}: want {len(params)} got {n}")
        if variadic is not None and n < len(params):
            self.fail(ident, f"wrong number of args for {name}: want at least {len(params)} got {n}")
        values = []
        for k, a in enumerate(args):
            kind = params[k] if k < len(params) else variadic
            v = self.operand(dot, a)
            try:
                values.append(_convert(kind, v))
            except _ArgError as e:
                self.fail(a, str(e))
        if final is not _NOARG:
            kind = params[len(args)] if len(args) < len(params) else variadic
            try:
                values.append(_convert(kind, final))
            except _ArgError as e:
                self.fail(ident, str(e))
        try:
            return fn(*values)
        except _FuncError as e:
            self.fail(cmd, f"error calling {name}: {e}")


class Template:
    """A parsed template; execute() it on each object."""

    def __init__(self, source: str, tree):
        self.source, self.tree = source, tree

    def execute(self, data, *, funcs=None, field_errors: bool = False) -> str:
        """Render data. funcs overrides functions by name (HEADER_FUNCS for a table header); field_errors
        words a struct's missing field as docker does for list views, instead of as inspect does."""
        table = _FUNCS if funcs is None else {**_FUNCS, **funcs}
        st = _State(self, data, table, field_errors)
        try:
            st.walk(self.tree, data)
        except RecursionError:
            raise ExecError("template: exceeded maximum template depth", "".join(st.out)) from None
        return "".join(st.out)


def parse(source: str, *, text_escapes: bool = False) -> Template:
    """Parse a template. text_escapes turns a literal backslash-n / backslash-t in the text (outside actions)
    into a newline / tab, as docker's list commands do."""
    toks = _Lexer(source, text_escapes).run()
    parser = _Parser(source, toks, _FUNCS)
    try:
        tree, _ = parser.item_list(top=True)
    except RecursionError:
        raise ParseError("template: :1: template nesting is too deep") from None
    return Template(source, tree)
