"""Go's filepath.Match patterns (plus docker's `**`), matched in polynomial time.

Docker matches .dockerignore rules, COPY/ADD sources and --exclude patterns with Go's
filepath.Match syntax: `*` (any run of non-`/` characters), `?` (one non-`/` character),
`[a-z]`/`[^a-z]` classes and `\\` escapes. A malformed pattern (`[`, `[]a]`, `[x-]`, a trailing
`\\`) is an error, as in Go. `**` is docker's addition: any number of directories, including none.

A pattern means what its regular expression (`translate`) means: moby/patternmatcher matches
.dockerignore rules the same way, with Go's regexp. Python's backtracking `re` takes exponential
time on some of these expressions (`*a*a*a*a*a*a*b` against a long name of `a`s), and patterns come
from the build context. So `re` only runs expressions whose backtracking is provably bounded
(see _bounded_regex: every common pattern, `*a*a*a*b` too); the others (several `**` apart, a
`**` after a `*` of its own component, a class that holds `/`) run on `_Automaton`, a simulation
of the expression's NFA, cached as a lazily built DFA: time linear in the name's length times
the pattern's.
"""
from __future__ import annotations

import posixpath
import re
from functools import lru_cache

from berth.errors import BadPattern

_META = frozenset("*?[\\")


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


# ---- parsing -----------------------------------------------------------------------------------

# Tokens, (kind, argument): one character (_LIT c, _ANY for `?`, _CLASS (negated, ranges)), or a
# run of them (_STAR `[^/]*`; _ALL `.*`, a trailing `**`; _DIRS `(?:.*/)?`, any other `**`).
_LIT, _ANY, _CLASS, _STAR, _ALL, _DIRS = range(6)

# Keys of a DFA state (its other keys are characters): see _Automaton.
_STATES, _ACCEPT, _OTHER = 0, 1, 2


def _parse(pattern: str, doublestar: bool) -> tuple:
    toks: list[tuple] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if doublestar and pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    i += 1  # "**/" is "**": it may match no directory at all
                toks.append((_ALL, None) if i == n else (_DIRS, None))
                continue
            toks.append((_STAR, None))
        elif c == "?":
            toks.append((_ANY, None))
        elif c == "\\":
            if i + 1 == n:
                raise BadPattern(f"syntax error in pattern {pattern!r}: trailing backslash")
            toks.append((_LIT, pattern[i + 1]))
            i += 1
        elif c == "[":
            tok, i = _char_class(pattern, i)
            toks.append(tok)
            continue
        else:
            toks.append((_LIT, c))
        i += 1
    return tuple(toks)


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    """One (possibly escaped) character of a class; Go refuses a bare `-` or `]` here."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise BadPattern(f"syntax error in pattern {pattern!r}")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise BadPattern(f"syntax error in pattern {pattern!r}")
    return pattern[i], i + 1


def _char_class(pattern: str, i: int) -> tuple[tuple, int]:
    """`[...]` starting at pattern[i]: (token, index after `]`)."""
    start = i
    i += 1
    negate = pattern.startswith("^", i)
    if negate:
        i += 1
    ranges: list[tuple[str, str]] = []
    count = 0
    while True:
        if pattern.startswith("]", i) and count:
            i += 1
            break
        if i >= len(pattern):
            raise BadPattern(f"syntax error in pattern {pattern!r}: unclosed [ at {start}")
        lo, i = _class_char(pattern, i)
        hi = lo
        if pattern.startswith("-", i):
            hi, i = _class_char(pattern, i + 1)
        count += 1
        if lo <= hi:  # a reversed range matches nothing in Go (no error)
            ranges.append((lo, hi))
    return (_CLASS, (negate, tuple(ranges))), i


def _class_has(arg: tuple, c: str) -> bool:
    negate, ranges = arg
    if negate and c == "/":
        return False  # like `?`, a negated class never matches the separator
    return any(lo <= c <= hi for lo, hi in ranges) != negate


def _regex(tok: tuple) -> str:
    kind, arg = tok
    if kind == _LIT:
        return re.escape(arg)
    if kind == _ANY:
        return "[^/]"
    if kind == _STAR:
        return "[^/]*"
    if kind == _ALL:
        return ".*"
    if kind == _DIRS:
        return "(?:.*/)?"
    negate, ranges = arg
    items = "".join(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}"
                    for lo, hi in ranges)
    if negate:
        return f"[^/{items}]"
    return f"[{items}]" if items else "(?!)"


def translate(pattern: str, doublestar: bool = True) -> str:
    """The regular expression (without anchors, for re.DOTALL) that defines what `pattern`
    matches; BadPattern if it is malformed. Not for matching names: see compile_pattern.

    doublestar: `**` matches across `/` (dockerignore rules). Without it, `**` is two `*`
    (a single path component, as COPY sources are matched component by component).
    """
    return "".join(_regex(t) for t in _parse(pattern, doublestar))


# ---- matching ----------------------------------------------------------------------------------

def _simplify(toks: tuple) -> tuple:
    """The same language with fewer wildcards: one for two in a row that match what it does
    ([^/]*[^/]* is [^/]*: `**` without doublestar; (?:.*/)?(?:.*/)? is (?:.*/)?: `**/**/`;
    (?:.*/)?.* is .*: `**/**` at the end)."""
    out: list[tuple] = []
    for tok in toks:
        if out and (out[-1][0], tok[0]) in ((_STAR, _STAR), (_DIRS, _DIRS), (_DIRS, _ALL)):
            out[-1] = tok
        else:
            out.append(tok)
    return tuple(out)


def _separates(tok: tuple) -> bool:
    return tok[0] in (_DIRS, _ALL) or tok == (_LIT, "/")


def _bounded_regex(toks: tuple) -> str | None:
    """An expression for `toks` on which Python's backtracking `re` takes
    O(len(name) * len(pattern)**2) time, if the pattern has the shape that allows one.

    The shape: only a literal `/` matches a `/` (no class holds one), so each path component of
    the pattern matches a whole component of the name, whose end is fixed; and at most one `**`
    (`(?:.*/)?`), with no `*` before it in its own component, so that it starts at one place and
    is tried once at each `/` that follows, each try scanning at most len(pattern) components of
    the name. A trailing `**` (`.*`) succeeds at once.

    Within a component, `*` P1 `*` P2 ... `*` Pk (the Ps without `*`, each a fixed number of
    characters) matches as Go's filepath.Match does: each of P1 ... Pk-1 at its leftmost place,
    and never again elsewhere (an atomic group around a lazy `*`). That finds a match if there
    is one: a match with some Pi further right still matches with Pi moved to the leftmost place
    after Pi-1, the `*` that follows taking up the difference. Only the last `*` backtracks, and
    only one of its extents can reach the end of the component.
    """
    last: set[int] = set()  # the last `*` of each component
    seen = False
    for i in range(len(toks) - 1, -1, -1):
        if _separates(toks[i]):
            seen = False
        elif toks[i][0] == _STAR and not seen:
            last.add(i)
            seen = True
    out: list[str] = []
    dirs = False
    stars = 0  # in the current component
    for i, tok in enumerate(toks):
        kind, arg = tok
        if kind == _CLASS and any(lo <= "/" <= hi for lo, hi in arg[1]):
            return None
        if kind == _DIRS:
            if dirs or stars:
                return None
            dirs = True
        if kind == _STAR and stars:
            out.append(")")  # closes the group of the component's previous `*`
        if kind == _STAR and i not in last:
            out.append("(?>[^/]*?")
        else:
            out.append(_regex(tok))
        if kind == _STAR:
            stars += 1
        elif _separates(tok):
            stars = 0
    return "".join(out)


class _Automaton:
    """The expression's NFA (positions as the bits of an int), simulated on the name: time
    O(len(name) * len(pattern)). The sets of positions it goes through are the states of a DFA,
    built lazily and cached (bounded) so that matching many names costs one dict lookup per
    character. A DFA state is a dict: character -> next state, plus _STATES (the set of NFA
    positions), _ACCEPT (is it final?) and _OTHER (the next state for a character that the
    pattern does not name)."""

    _CACHE_LIMIT = 4096  # transitions kept, per pattern

    def __init__(self, toks: tuple):
        # Position i consumes one character (i -> i+1) or loops on it (i -> i). Epsilon moves go
        # forward only: `skip1` i -> i+1, `skip3` i -> i+3.
        self.tests: list[tuple] = []  # (bit, consumes, token kind, argument), one per position
        skip1 = skip3 = 0
        for kind, arg in toks:
            bit = 1 << len(self.tests)
            if kind in (_LIT, _ANY, _CLASS):
                self.tests.append((bit, True, kind, arg))
            elif kind in (_STAR, _ALL):
                self.tests.append((bit, False, kind, arg))
                skip1 |= bit
            else:  # _DIRS, `(?:.*/)?`: an entry that may skip the rest, a `.*` loop, a `/`
                self.tests.append((0, False, None, None))
                self.tests.append((bit << 1, False, _ALL, None))
                self.tests.append((bit << 2, True, _LIT, "/"))
                skip1 |= bit | bit << 1
                skip3 |= bit
        self.skip1, self.skip3 = skip1, skip3
        self.final = 1 << len(self.tests)
        self.special = {"/"} | {arg for kind, arg in toks if kind == _LIT}
        self.bounds = tuple(r for kind, arg in toks if kind == _CLASS for r in arg[1])
        self._reset()

    def _reset(self) -> None:
        self.dfa: dict[int, dict] = {}
        self.cached = 0
        self.start = self._state(self._closure(1))

    def _state(self, states: int) -> dict:
        row = self.dfa.get(states)
        if row is None:
            row = self.dfa[states] = {_STATES: states, _ACCEPT: bool(states & self.final)}
        return row

    def _closure(self, states: int) -> int:
        bit = 1
        while bit < self.final:  # forward moves only: one pass in order reaches all
            if states & bit:
                if self.skip1 & bit:
                    states |= bit << 1
                if self.skip3 & bit:
                    states |= bit << 3
            bit <<= 1
        return states

    def _step(self, states: int, c: str) -> int:
        out = 0
        for bit, consumes, kind, arg in self.tests:
            if not states & bit:
                continue
            if kind == _LIT:
                ok = c == arg
            elif kind == _CLASS:
                ok = _class_has(arg, c)
            elif kind == _ALL:
                ok = True
            else:  # _ANY, _STAR
                ok = c != "/"
            if ok:
                out |= bit << 1 if consumes else bit
        return self._closure(out) if out else 0

    def _transition(self, row: dict, c: str) -> dict:
        """row[c], on a cache miss."""
        # Characters that no literal or class of the pattern names all go the same way.
        plain = c not in self.special and not any(lo <= c <= hi for lo, hi in self.bounds)
        nxt = row.get(_OTHER) if plain else None
        if nxt is None:
            if self.cached >= self._CACHE_LIMIT:
                self._reset()  # names with many states or characters: recompute, do not grow
            nxt = self._state(self._step(row[_STATES], c))
            if plain:
                row[_OTHER] = nxt
        row[c] = nxt
        self.cached += 1
        return nxt

    def fullmatch(self, string: str, pos: int = 0, endpos: int | None = None) -> bool:
        """Like re.Pattern.fullmatch, but a bool."""
        if pos or endpos is not None:
            n = len(string)
            pos = min(max(pos, 0), n)
            endpos = n if endpos is None else min(max(endpos, 0), n)
            if endpos < pos:
                return False
            string = string[pos:endpos]
        row = self.start
        for c in string:
            try:
                row = row[c]
            except KeyError:
                row = self._transition(row, c)
        return row[_ACCEPT]


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str, doublestar: bool = True) -> re.Pattern | _Automaton:
    """An object whose `fullmatch(name, pos=0, endpos=len(name))` is true when `pattern` matches
    all of name[pos:endpos]. BadPattern if the pattern is malformed."""
    toks = _simplify(_parse(pattern, doublestar))
    regex = _bounded_regex(toks)
    if regex is None:
        return _Automaton(toks)
    return re.compile(regex, re.DOTALL)


def match(pattern: str, name: str) -> bool:
    """Go's filepath.Match(pattern, name) (no `**`)."""
    return bool(compile_pattern(pattern, doublestar=False).fullmatch(name))


def unescape(component: str) -> str:
    """A pattern component without magic characters, as the literal name it stands for."""
    return re.sub(r"\\(.)", r"\1", component, flags=re.DOTALL)
