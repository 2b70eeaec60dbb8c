"""Pass 1 of parsing, the lexical layer: Dockerfile text -> nodes.

It reads the parser directives at the top (`# escape=`, `# syntax=`, `# check=`), drops comments,
joins continuation lines (with docker's warning for empty ones), collects heredoc bodies, and cuts
each instruction into its keyword, `--flag` words and arguments (JSON or shell form, ENV/LABEL
name-value pairs, words with their quotes still in place), like BuildKit's parser package. What the
arguments mean is pass 2's job (berth.dockerfile.parser).
"""
from __future__ import annotations

import json
import re

from berth.dockerfile.errors import Problem
from berth.dockerfile.shellwords import ExpansionError, Lexer
from berth.errors import DockerfileError
from berth.record import Record


class Directives(Record):
    """Parser directives from the top of the file (`# escape=`, `# syntax=`, `# check=`)."""
    escape: str = "\\"
    syntax: str = ""
    check: str = ""


class Heredoc(Record):
    """A here-document: `<<NAME` (or `<<-NAME`, `<<"NAME"`) and the lines up to NAME.

    `content` is the body as written, each line ending in a newline; `text` is what it stands for
    (leading tabs stripped for `<<-`). `expand` is false when any part of the delimiter was quoted.
    """
    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    @property
    def text(self) -> str:
        return re.sub(r"(?m)^\t+", "", self.content) if self.chomp else self.content


_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC_WORD = re.compile(r"([0-9]*)<<(-?)([^<]*)")
_HEREDOC_INSTRUCTIONS = ("add", "copy", "run")


class Node:
    """One instruction as the first pass sees it (BuildKit's AST node)."""

    def __init__(self, keyword: str, flags: list, args: list, json_form: bool, original: str,
                 sub: "Node | None" = None):
        self.keyword = keyword          # lower-case
        self.flags = flags              # ["--name=value", ...] with quotes removed
        self.args = args
        self.json_form = json_form
        self.original = original
        self.sub = sub                  # the instruction an ONBUILD wraps
        self.heredocs: list[Heredoc] = []
        self.line = self.end_line = 0
        self.source = ""

    def can_contain_heredoc(self) -> bool:
        node = self.sub if self.keyword == "onbuild" and self.sub else self
        return node.keyword in _HEREDOC_INSTRUCTIONS and not node.json_form


class _DirectiveParser:
    known = ("syntax", "escape", "check")

    def __init__(self):
        self.done = False
        self.seen: set[str] = set()
        self.directives = Directives()

    def feed(self, line: str) -> None:
        """Look at one line (leading whitespace removed); the first non-directive ends the search."""
        if self.done:
            return
        if not line.startswith("#"):
            self.done = True
            return
        match = _DIRECTIVE.match(line[1:].lstrip())
        if not match or match[1].lower() not in self.known:
            self.done = True  # a plain comment or unknown directive: later ones are comments too
            return
        name, value = match[1].lower(), match[2]
        if name in self.seen:
            raise Problem(f"only one {name} parser directive can be used")
        self.seen.add(name)
        if name == "escape" and value not in ("\\", "`"):
            raise Problem(f"invalid escape token '{value}' does not match ` or \\")
        setattr(self.directives, name, value)


def parse_nodes(text: str, filename: str, directives_allowed: bool = True):
    """(nodes, directives, number of lines, warnings) of Dockerfile text; `filename` is for messages."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    dp = _DirectiveParser()
    dp.done = not directives_allowed
    nodes: list[Node] = []
    warnings: list[str] = []
    n, i = len(lines), 0
    while i < n:
        token = lines[i].rstrip("\r\n").lstrip()
        i += 1
        try:
            dp.feed(token)
        except Problem as e:
            raise DockerfileError(filename, i, str(e)) from None
        escape = dp.directives.escape
        if token.startswith("#"):
            continue  # comments (and directives) are whole lines; `RUN a # b` keeps its `# b`
        start = i
        line, complete = _trim_continuation(token, escape)
        if complete and not line:
            continue
        while not complete and i < n:
            token = lines[i].rstrip("\r\n")
            i += 1
            if token.lstrip().startswith("#"):
                continue  # docker skips comment and empty lines inside a continued instruction
            if not token.strip():
                warnings.append(f"{filename}:{i}: empty continuation line (future docker releases "
                                "will make this an error)")
                continue
            part, complete = _trim_continuation(token, escape)
            line += part
        try:
            node = _node_from_line(line, escape)
        except Problem as e:
            raise DockerfileError(filename, start, str(e)) from None
        if node.can_contain_heredoc() and "<<" in line:
            try:
                pending = _heredocs_in_line(line)
            except (Problem, ExpansionError) as e:
                raise DockerfileError(filename, start, str(e)) from None
            for heredoc in pending:
                body, terminated = [], False
                while i < n:
                    raw = lines[i]
                    i += 1
                    candidate = raw.rstrip("\r\n")
                    if heredoc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == heredoc.name:
                        terminated = True
                        break
                    body.append(raw + "\n")
                if not terminated:
                    raise DockerfileError(filename, start, f"unterminated heredoc {heredoc.name!r} "
                                          f"(no line {heredoc.name!r} closes it)")
                heredoc.content = "".join(body)
                node.heredocs.append(heredoc)
        node.line, node.end_line = start, i
        node.source = "\n".join(lines[start - 1:i])
        nodes.append(node)
    return nodes, dp.directives, len(lines), warnings


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """(line without a trailing escape, True if the instruction ends on this line)."""
    match = re.search(re.escape(escape) + r"[ \t]*$", line)
    if match:
        return line[:match.start()], False
    return line, True


def _node_from_line(line: str, escape: str) -> Node:
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    keyword = parts[0].lower()
    flags, rest = _extract_flags(parts[1]) if len(parts) == 2 else ([], "")
    rest = rest.strip()
    sub = None
    json_form = False
    if keyword in ("from", "expose"):
        args = _WHITESPACE.split(rest) if rest else []
    elif keyword in ("workdir", "maintainer", "stopsignal", "user"):
        args = [rest] if rest else []
    elif keyword in ("env", "label"):
        args = _name_values(rest, keyword.upper(), escape)
    elif keyword == "arg":
        args = _split_words(rest, escape)
    elif keyword in ("run", "cmd", "entrypoint", "shell"):
        args, json_form = _maybe_json(rest)
    elif keyword in ("add", "copy", "volume"):
        args, json_form = _maybe_json(rest, split=True)
    elif keyword == "healthcheck":
        head = re.split(r"\s+", rest, maxsplit=1)  # HEALTHCHECK <type> <command>
        args, json_form = _maybe_json(head[1] if len(head) == 2 else "")
        args = [head[0]] + args if rest else []
    elif keyword == "onbuild":
        if rest:
            sub = _node_from_line(rest, escape)
            args = [sub.keyword] + sub.args
        else:
            args = []
    else:
        args = []  # an unknown instruction; pass 2 reports it
    return Node(keyword, flags, args, json_form, line, sub)


def _extract_flags(text: str) -> tuple[list[str], str]:
    """Leading `--flag[=value]` words (quotes and backslashes removed) and the rest of the line."""
    words: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return words, ""
        if not text.startswith("--", i):
            return words, text[i:]
        word, quoted, quote = "", False, ""
        while i < n:
            ch = text[i]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == "\\" and i + 1 < n:
                    i += 1
                    word += text[i]
                elif ch != "\\":
                    word += ch
            elif ch.isspace():
                break
            elif ch in "'\"":
                quote, quoted = ch, True
            elif ch == "\\":
                if i + 1 < n:
                    i += 1
                    word += text[i]
            else:
                word += ch
            i += 1
        if word == "--":
            return words, text[i:]  # `--` ends the flags
        if word or quoted:
            words.append(word)


def _split_words(text: str, escape: str) -> list[str]:
    """Words separated by whitespace outside quotes; quotes and escapes are kept (BuildKit's
    parseWords, used for ENV/LABEL/ARG before their words are expanded)."""
    words: list[str] = []
    word, in_word, quote, blank_ok = "", False, "", False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if not in_word:
            if ch.isspace():
                i += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            if ch == escape and quote != "'":
                if i + 1 == n:
                    i += 1
                    continue  # an escape at the very end is dropped
                word += ch
                i += 1
                ch = text[i]
            word += ch
        elif ch.isspace():
            if blank_ok or word:
                words.append(word)
            word, in_word, blank_ok = "", False, False
        else:
            if ch in "'\"":
                quote, blank_ok = ch, True
            if ch == escape:
                if i + 1 == n:
                    i += 1
                    continue
                word += ch
                i += 1
                ch = text[i]
            word += ch
        i += 1
    if in_word and (blank_ok or word):
        words.append(word)
    return words


def _name_values(rest: str, keyword: str, escape: str) -> list[str]:
    """ENV/LABEL arguments as [key, value, key, value...], quotes still in place."""
    words = _split_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        # the legacy form `ENV name value with spaces`: the value is the rest of the line
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise Problem(f"{keyword} must have two arguments")
        return parts
    out = []
    for word in words:
        if "=" not in word:
            raise Problem(f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value')
        out.extend(word.split("=", 1))
    return out


def _reject_constant(name):
    raise ValueError(name)


def _maybe_json(rest: str, split: bool = False) -> tuple[list[str], bool]:
    """A JSON array of strings -> (items, True); anything else is shell form: ([rest], False), or
    the whitespace-separated words of rest when `split` (ADD, COPY, VOLUME)."""
    if not rest:
        return [], False
    text = rest.lstrip()
    if text.startswith("["):
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except ValueError:
            value = None
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise Problem("when using JSON array syntax, arrays must be comprised of strings only")
            return value, True
    return (_WHITESPACE.split(rest) if split else [rest]), False


def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc a word like `<<EOF`, `<<-"EOF"` or `3<<EOF` opens, or None."""
    match = _HEREDOC_WORD.fullmatch(word)
    if not match or not match[3]:
        return None
    rest = match[3]
    words = Lexer("\\", skip_unset=True).expand_words(rest, {})
    if len(words) != 1:
        return None
    raw = Lexer("\\", skip_unset=True, raw_quotes=True).expand_words(rest, {})
    if len(raw) != 1:
        raise Problem(f"internal lexing of heredoc produced inconsistent results: {rest}")
    quotes = sum(words[0].count(q) for q in "'\"")
    raw_quotes = sum(raw[0].count(q) for q in "'\"")
    return Heredoc(words[0], "", quotes == raw_quotes, match[2] == "-", int(match[1] or 0))


def _heredocs_in_line(line: str) -> list[Heredoc]:
    try:
        words = Lexer("\\", raw_quotes=True, raw_escapes=True).expand_words(line, {})
    except ExpansionError:
        return []  # BuildKit ignores lexing errors here: such a line has no heredocs
    found = []
    for word in words:
        heredoc = parse_heredoc(word)
        if heredoc is not None:
            found.append(heredoc)
    return found
