"""Docker's shell-word lexer: variable substitution, quote removal and word splitting.

This is the small shell dialect a Dockerfile uses for the words of ADD, COPY, ENV, EXPOSE, FROM,
LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG defaults (RUN/CMD/ENTRYPOINT text is left to the
real shell). It follows BuildKit's lexer, quirks included:

- `$name`, `${name}`; a name is letters, digits and `_`, or a run of digits (`$12`), or one special
  parameter (`$@ $* $# $? $- $$ $! $0`), which expands to its variable (normally unset, so "").
  A `$` not followed by a name stays a literal `$`.
- `${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?msg} ${v?msg}`; `${v#p} ${v##p} ${v%p} ${v%%p}`
  (shortest/longest prefix/suffix removal) and `${v/p/r} ${v//p/r}`; patterns know `*` and `?`
  only (`[` is literal).
- single quotes keep everything literal; double quotes keep everything but `$`, and the escape
  character escapes only `"`, `$` and itself there; outside quotes the escape character makes the
  next character literal (a trailing one is dropped).
- splitting into words (expand_words) happens after substitution: whitespace from a variable's
  value splits, whitespace inside quotes or escaped does not, and an empty word (`""`) disappears.

`env` is any mapping of names to values; a name missing from it is unset.
"""
from __future__ import annotations

import re
from typing import Mapping


class ExpansionError(ValueError):
    """A word cannot be expanded (bad substitution syntax, `${v:?}` on an unset variable...)."""


_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_EOF = ""


class Lexer:
    """One lexer configuration. The options mirror BuildKit's and are needed only by the parser:

    raw_quotes   keep quote characters in the result (still grouping words)
    raw_escapes  keep escape characters in the result (still protecting the next character)
    skip_quotes  treat quotes as ordinary characters (heredoc bodies)
    skip_unset   leave references to unset variables as written
    """

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_quotes: bool = False, skip_unset: bool = False):
        if escape not in ("\\", "`"):
            raise ValueError(f"invalid escape character {escape!r}")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_quotes = skip_quotes
        self.skip_unset = skip_unset

    def expand(self, text: str, env: Mapping[str, str]) -> str:
        """The word with variables substituted and quotes removed, as one string."""
        return self._process(text, env)[0]

    def expand_words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """The words of `text` after substitution, split on unquoted whitespace."""
        return self._process(text, env)[1]

    def _process(self, text, env):
        scan = _Scan(self, text, env)
        try:
            return scan.stop_on(_EOF, self.raw_escapes)
        except ExpansionError as e:
            raise ExpansionError(f"failed to process {_go_quote(text)}: {e}") from None


def expand_word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Substitute variables in `text` and remove its quotes (one word, spaces kept)."""
    return Lexer(escape).expand(text, env)


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Substitute variables in `text`, then split it into words as docker does."""
    return Lexer(escape).expand_words(text, env)


class _Words:
    """Collects words: whitespace from plain text or variable values splits, quoted text does not."""

    def __init__(self):
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch):
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text):
        self.word += text
        self.in_word = True

    def add_string(self, text):
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Scan:
    def __init__(self, lexer: Lexer, text: str, env: Mapping[str, str]):
        self.lx = lexer
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lexer.raw_escapes

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def stop_on(self, stop: str, raw_escapes: bool):
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop):
        out: list[str] = []
        words = _Words()
        esc = self.lx.escape
        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(out), words.result()
            if ch == "$":
                value = self.dollar()
                out.append(value)
                words.add_string(value)  # a variable's value is split on its whitespace
            elif ch in "'\"" and not self.lx.skip_quotes:
                value = self.single_quoted() if ch == "'" else self.double_quoted()
                out.append(value)
                words.add_raw(value)
            else:
                ch = self.next()
                if ch == esc:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        out.append(ch)
                    ch = self.next()
                    if not ch:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                out.append(ch)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.result()

    def single_quoted(self) -> str:
        out = []
        quote = self.next()
        if self.lx.raw_quotes:
            out.append(quote)
        while True:
            ch = self.next()
            if not ch:
                raise ExpansionError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quoted(self) -> str:
        out = []
        esc = self.lx.escape
        quote = self.next()
        if self.lx.raw_quotes:
            out.append(quote)
        while True:
            ch = self.peek()
            if not ch:
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == esc:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if not following:
                    continue  # an escape at the very end is dropped
                if following in ('"', "$", esc):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        ch = self.peek()
        if ch and ch.isdecimal():
            start = self.pos
            while self.peek() and self.peek().isdecimal():
                self.next()
            return self.text[start:self.pos]
        if ch and ch in _SPECIAL_PARAMS:
            return self.next()
        start = self.pos
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            self.next()
        return self.text[start:self.pos]

    def dollar(self) -> str:
        self.next()  # the $
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.env.get(name)
            if value is None:
                return "$" + name if self.lx.skip_unset else ""
            return value

        self.next()  # the {
        if not self.peek():
            raise ExpansionError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        op = self.next()
        if op == "}":
            value = self.env.get(name)
            if value is None:
                return "${" + name + "}" if self.lx.skip_unset else ""
            return value
        if not op:
            raise ExpansionError("syntax error: missing '}'")

        if op == "/":
            return self.replace(name)

        null_is_unset = False
        modifier = op
        if op == ":":
            null_is_unset = True
            op = self.next()
            modifier += op
        if op not in ("+", "-", "?", "#", "%"):
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.stop_on("}", op in "#%")  # patterns keep their escapes
        except ExpansionError:
            if not self.peek():
                raise ExpansionError("syntax error: missing '}'") from None
            raise
        value = self.env.get(name)
        if value is None and self.lx.skip_unset:
            return "${" + name + modifier + word + "}"
        empty = value is None or (null_is_unset and value == "")
        if op == "-":
            return word if empty else value
        if op == "+":
            return "" if empty else word
        if op == "?":
            if value is None:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(op)
        if greedy:
            word = word[1:]
        value = value or ""
        if op == "#":
            return _trim_prefix(word, value, greedy)
        return _trim_suffix(word, value, greedy)

    def replace(self, name) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.stop_on("/", True)
        except ExpansionError:
            if not self.peek():
                raise ExpansionError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.stop_on("}", True)
        except ExpansionError:
            if not self.peek():
                raise ExpansionError("syntax error: missing '}'") from None
            raise
        value = self.env.get(name)
        if value is None and self.lx.skip_unset:
            return "${%s/%s/%s}" % (name, pattern, replacement)
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        return regex.sub(lambda m: replacement, value or "", count=0 if replace_all else 1)


_REGEX_SPECIAL = frozenset("[]{}.+()|^$")


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern:
    """A shell pattern (`*`, `?`, backslash escapes; no bracket expressions) as a regex."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue  # the escape was only there for ${...}; the next character is literal
            if following not in ("*", "?", "\\"):
                raise ExpansionError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'")
            out.append("\\" + following)
            i += 1
        else:
            out.append("\\" + ch if ch in _REGEX_SPECIAL else re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_regex(pattern, greedy, anchored=True).match(value)
    return value[match.end():] if match else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern keeping each escape before the character it escapes."""
    units, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            units.append(pattern[i:i + 2])
            i += 2
        else:
            units.append(pattern[i])
            i += 1
    return "".join(reversed(units))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # The shortest/longest suffix is the shortest/longest prefix of the reversed string.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _go_quote(text: str) -> str:
    """Quote like Go's %q, which docker's messages use."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
