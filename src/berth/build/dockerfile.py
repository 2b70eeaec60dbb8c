"""Dockerfile parser and model, following BuildKit's front end (dockerfile syntax 1.x).

    df = parse(text, "Dockerfile")                   # Dockerfile(directives, global_args, stages)
    scope = GlobalScope(df, build_args, target_platform, build_platform)
    for rs in target_stages(df, target, scope):      # the stages `target` needs, in file order
        rs.base, rs.base_stage, rs.platform          # FROM evaluated with the global ARGs
        vars = scope.stage_scope(base_image_env)     # per-stage ARG/ENV variables
        for ins in rs.stage.instructions:
            ins = vars.step(ins)                     # words expanded, ARG/ENV applied
            ...                                      # the builder executes `ins`

Parsing is in two passes, like BuildKit's: the text becomes nodes (directives, comments,
continuation lines, flags, JSON vs shell form, heredoc bodies), then each node becomes a typed
instruction with its flags and arguments checked. Every error is a DockerfileError whose message is
`FILE:LINE: problem`.

Expansion is not done at parse time: the words of ADD, COPY, ENV, EXPOSE, LABEL, STOPSIGNAL, USER,
VOLUME, WORKDIR, ARG defaults and RUN --mount values are expanded when the builder reaches the
instruction (`instruction.expand(variables)`, or StageScope.step which also applies ARG/ENV).
FROM lines are expanded with the global scope (GlobalScope.expand_from). RUN/CMD/ENTRYPOINT text,
HEALTHCHECK, SHELL, MAINTAINER and ONBUILD are never expanded; COPY --from is taken literally
(BuildKit does not expand it either).
"""
from __future__ import annotations

import csv
import json
import re
from typing import Callable, Iterable, Iterator, Mapping

from berth.build.shellwords import ExpansionError, Lexer
from berth.errors import BerthError
from berth.record import Record

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
PLATFORM_ARGS = ("TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
                 "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT")
MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")


class DockerfileError(BerthError):
    """A Dockerfile cannot be parsed or evaluated; the message is `FILE:LINE: problem`."""

    def __init__(self, filename: str, line: int | None, problem: str):
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {problem}")
        self.filename, self.line, self.problem = filename, line, problem


class _Problem(Exception):
    """A problem found below the level that knows the file and line; re-raised as DockerfileError."""


# ---------------------------------------------------------------- model

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


class Mount(Record):
    """One `RUN --mount=...`. Defaults follow BuildKit: bind and secret/ssh read-only, cache
    and tmpfs writable, cache sharing `shared`. Numbers stay None when not given."""
    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    id: str = ""
    sharing: str = ""
    readonly: bool = True
    required: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: str = ""
    env: str | None = None


class Instruction(Record):
    """Fields every instruction has; subclasses add the parsed arguments.

    keyword    upper-case name (RUN)          line, end_line  1-based, end includes heredoc bodies
    original   the instruction as one line (continuations joined, as docker sees it)
    source     the file's lines it came from  flags  the flags as given: name -> str | bool | [str]
    heredocs   Heredoc bodies that follow it  json_form  exec (JSON array) form
    """
    keyword: str
    line: int = 0
    end_line: int = 0
    original: str = ""
    source: str = ""
    flags: dict = {}
    heredocs: list = []
    json_form: bool = False
    filename: str = "Dockerfile"
    escape: str = "\\"

    def expand(self, env: Mapping[str, str]) -> "Instruction":
        """This instruction with its words expanded against `env` (unchanged if it has none)."""
        return self

    def replace(self, **changes) -> "Instruction":
        return type(self)(**{**self.__dict__, **changes})

    def error(self, problem: str) -> DockerfileError:
        return DockerfileError(self.filename, self.line, problem)

    def _expander(self, env, lexer: Lexer | None = None) -> Callable[[str], str]:
        lexer = lexer or Lexer(self.escape)

        def expand(word: str) -> str:
            try:
                return lexer.expand(word, env)
            except ExpansionError as e:
                raise self.error(str(e)) from None
        return expand


class From(Instruction):
    image: str = ""     # as written; GlobalScope.expand_from gives the value
    name: str = ""      # stage name, lower-case, "" when not named
    platform: str = ""  # --platform as written

    def expand(self, env):
        x = self._expander(env)
        return self.replace(image=x(self.image), platform=x(self.platform) if self.platform else "")


class Run(Instruction):
    """`command` is the exec-form list, or [shell text] (empty for a bare RUN).
    `mounts` are parsed from --mount; values with variables are parsed again by expand()."""
    command: list = []
    mounts: list = []
    network: str = ""
    security: str = ""

    def expand(self, env):
        if not self.mounts:
            return self
        x = self._expander(env)
        try:
            mounts = [parse_mount(text, x) for text in self.flags.get("mount", [])]
        except _Problem as e:
            raise self.error(str(e)) from None
        return self.replace(mounts=mounts)

    def heredoc_script(self) -> tuple[str, str] | None:
        """How BuildKit runs a shell-form RUN with heredocs: ("file", body) when the command is a
        lone heredoc whose body starts with `#!` (write it to a file and execute that), ("shell",
        text) otherwise (give text to the shell); None without heredocs or in exec form."""
        if not self.heredocs or self.json_form or len(self.command) != 1:
            return None
        first = self.heredocs[0]
        if parse_heredoc(self.command[0]) is not None:
            if first.content.startswith("#!"):
                return ("file", first.text)
            return ("shell", first.text)
        text = self.command[0]
        for hd in self.heredocs:
            text += "\n" + hd.content + hd.name
        return ("shell", text)


class Cmd(Instruction):
    command: list = []


class Entrypoint(Instruction):
    command: list = []


class Shell(Instruction):
    command: list = []


class Healthcheck(Instruction):
    """`test` is docker's HealthConfig.Test: ["NONE"], ["CMD", ...] or ["CMD-SHELL", text].
    Durations are nanoseconds, 0 when not given."""
    test: list = []
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


class Label(Instruction):
    pairs: list = []   # [(key, value)]

    def expand(self, env):
        x = self._expander(env)
        return self.replace(pairs=[(x(k), x(v)) for k, v in self.pairs])


class Env(Instruction):
    pairs: list = []   # [(name, value)]; all expanded with the variables before this line

    def expand(self, env):
        x = self._expander(env)
        return self.replace(pairs=[(x(k), x(v)) for k, v in self.pairs])


class Maintainer(Instruction):
    name: str = ""


class Expose(Instruction):
    ports: list = []   # sorted as written (docker sorts before expanding)

    def expand(self, env):
        x = self._expander(env)
        return self.replace(ports=[p for word in self.ports for p in x(word).split()])


class _CopyLike(Instruction):
    """ADD and COPY: `sources` are paths/URLs as written, `inline` the heredoc sources (after
    expand(), each one's `text` is the final file content), `dest` the destination."""
    sources: list = []
    inline: list = []
    dest: str = ""
    chown: str = ""
    chmod: str = ""
    link: bool = False
    excludes: list = []

    def expand(self, env):
        x = self._expander(env)
        raw = self._expander(env, Lexer("\\", skip_quotes=True))  # heredoc bodies keep quotes
        inline = [Heredoc(hd.name, raw(hd.text) if hd.expand else hd.text, hd.expand, False, hd.fd)
                  for hd in self.inline]
        return self.replace(sources=[x(s) for s in self.sources], dest=x(self.dest), inline=inline,
                            chown=x(self.chown), chmod=x(self.chmod),
                            excludes=[x(e) for e in self.excludes], **self._expand_more(x))

    def _expand_more(self, x) -> dict:
        return {}


class Add(_CopyLike):
    checksum: str = ""
    keep_git_dir: bool = False

    def _expand_more(self, x):
        return {"checksum": x(self.checksum)}


class Copy(_CopyLike):
    from_: str = ""     # stage name, stage index or image; never expanded
    parents: bool = False


class Volume(Instruction):
    paths: list = []

    def expand(self, env):
        x = self._expander(env)
        return self.replace(paths=[x(p) for p in self.paths])


class User(Instruction):
    user: str = ""

    def expand(self, env):
        return self.replace(user=self._expander(env)(self.user))


class Workdir(Instruction):
    path: str = ""

    def expand(self, env):
        return self.replace(path=self._expander(env)(self.path))


class Arg(Instruction):
    pairs: list = []   # [(name, default or None)]; StageScope.step gives the values in effect

    def expand(self, env):
        x = self._expander(env)
        return self.replace(pairs=[(k, None if v is None else x(v)) for k, v in self.pairs])


class Onbuild(Instruction):
    """`expression` is what goes into the image config's OnBuild list; `trigger` its parse."""
    expression: str = ""
    trigger: Instruction | None = None


class Stopsignal(Instruction):
    signal: str = ""

    def expand(self, env):
        return self.replace(signal=self._expander(env)(self.signal))


class Stage(Record):
    """One build stage: its FROM line and the instructions after it."""
    index: int
    name: str
    from_instruction: From
    instructions: list = []

    @property
    def base(self) -> str:
        return self.from_instruction.image

    @property
    def platform(self) -> str:
        return self.from_instruction.platform

    @property
    def label(self) -> str:
        """How docker names the stage in messages: its name or `stage-N`."""
        return self.name or f"stage-{self.index}"


class Dockerfile(Record):
    filename: str
    directives: Directives
    global_args: list   # the ARG instructions before the first FROM
    stages: list
    warnings: list = []  # "FILE:LINE: ..." messages docker prints without failing

    def declared_args(self) -> set[str]:
        """Names of every ARG (global or in a stage): build args outside this set (and the
        predefined ones) are the ones docker reports as not consumed."""
        stage_args = [ins for stage in self.stages for ins in stage.instructions if isinstance(ins, Arg)]
        return {name for ins in self.global_args + stage_args for name, _ in ins.pairs}

    def stage(self, ref: str | int) -> Stage:
        """A stage by name (case-insensitive; the last one so named) or index."""
        if isinstance(ref, int):
            return self.stages[ref]
        found = stage_by_name(self.stages, ref.lower(), len(self.stages))
        if found is None:
            raise DockerfileError(self.filename, None, f"target stage {ref!r} could not be found")
        return self.stages[found]


# ---------------------------------------------------------------- pass 1: text -> nodes

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC_WORD = re.compile(r"([0-9]*)<<(-?)([^<]*)")
_HEREDOC_INSTRUCTIONS = ("add", "copy", "run")


class _Node:
    """One instruction as the first pass sees it (BuildKit's AST node)."""

    def __init__(self, keyword: str, flags: list, args: list, json_form: bool, original: str,
                 sub: "_Node | None" = None):
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
            raise _Problem(f"only one {name} parser directive can be used")
        self.seen.add(name)
        if name == "escape" and value not in ("\\", "`"):
            raise _Problem(f"invalid escape token '{value}' does not match ` or \\")
        setattr(self.directives, name, value)


def _parse_nodes(text: str, filename: str, directives_allowed: bool = True):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    dp = _DirectiveParser()
    dp.done = not directives_allowed
    nodes: list[_Node] = []
    warnings: list[str] = []
    n, i = len(lines), 0
    while i < n:
        token = lines[i].rstrip("\r\n").lstrip()
        i += 1
        try:
            dp.feed(token)
        except _Problem as e:
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
        except _Problem as e:
            raise DockerfileError(filename, start, str(e)) from None
        if node.can_contain_heredoc() and "<<" in line:
            try:
                pending = _heredocs_in_line(line)
            except (_Problem, ExpansionError) as e:
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


def _node_from_line(line: str, escape: str) -> _Node:
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
    return _Node(keyword, flags, args, json_form, line, sub)


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
            raise _Problem(f"{keyword} must have two arguments")
        return parts
    out = []
    for word in words:
        if "=" not in word:
            raise _Problem(f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value')
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
                raise _Problem("when using JSON array syntax, arrays must be comprised of strings only")
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
        raise _Problem(f"internal lexing of heredoc produced inconsistent results: {rest}")
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


# ---------------------------------------------------------------- pass 2: nodes -> instructions

_FLAGS = {
    "from": {"platform": str},
    "run": {"mount": list, "network": str, "security": str},
    "copy": {"from": str, "chown": str, "chmod": str, "link": bool, "parents": bool, "exclude": list},
    "add": {"chown": str, "chmod": str, "link": bool, "keep-git-dir": bool, "checksum": str,
            "exclude": list},
    "healthcheck": {"interval": str, "timeout": str, "start-period": str, "start-interval": str,
                    "retries": str},
}
_NETWORK_MODES = ("default", "none", "host")
_SECURITY_MODES = ("sandbox", "insecure")
_CLASSES = {"from": From, "run": Run, "cmd": Cmd, "entrypoint": Entrypoint, "shell": Shell,
            "healthcheck": Healthcheck, "label": Label, "env": Env, "maintainer": Maintainer,
            "expose": Expose, "add": Add, "copy": Copy, "volume": Volume, "user": User,
            "workdir": Workdir, "arg": Arg, "onbuild": Onbuild, "stopsignal": Stopsignal}


def _parse_flags(words: list[str], keyword: str) -> dict:
    spec = _FLAGS.get(keyword, {})
    values: dict = {}
    for word in words:
        name, has_value, value = word[2:].partition("=")
        kind = spec.get(name)
        if kind is None:
            raise _Problem(f"unknown flag: {name}" + (f" (flags of {keyword.upper()}: "
                           + ", ".join("--" + f for f in spec) + ")" if spec else ""))
        if name in values and kind is not list:
            raise _Problem(f"duplicate flag specified: {name}")
        if kind is bool:
            if has_value and value == "":
                raise _Problem(f"missing a value on flag: {name}")
            if value.lower() not in ("", "true", "false"):
                raise _Problem(f"expecting boolean value for flag {name}, not: {value}")
            values[name] = value.lower() != "false"
        elif not has_value:
            raise _Problem(f"missing a value on flag: {name}")
        elif kind is list:
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    return values


_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")


def _instruction(node: _Node, common: dict) -> Instruction:
    """The typed instruction for a node; raises _Problem."""
    keyword, args = node.keyword, node.args
    cls = _CLASSES.get(keyword)
    if cls is None:
        raise _Problem(f"unknown instruction: {keyword.upper()}" + _did_you_mean(keyword))
    upper = keyword.upper()
    base = dict(common, keyword=upper, original=node.original, heredocs=list(node.heredocs),
                json_form=node.json_form)
    flags = base["flags"] = _parse_flags(node.flags, keyword) if keyword != "healthcheck" else {}

    if keyword == "from":
        if len(args) == 3 and args[1].lower() == "as":
            name = args[2].lower()
            if not _STAGE_NAME.fullmatch(name):
                raise _Problem(f'invalid name for build stage: "{args[2]}", name can\'t start with a '
                               "number or contain symbols")
        elif len(args) == 1:
            name = ""
        else:
            raise _Problem("FROM requires either one or three arguments")
        return From(**base, image=args[0], name=name, platform=flags.get("platform", ""))

    if keyword == "run":
        network, security = flags.get("network", ""), flags.get("security", "")
        if network and network not in _NETWORK_MODES:
            raise _Problem(f"unsupported network mode {network!r}")
        if security and security not in _SECURITY_MODES:
            raise _Problem(f"unsupported security mode {security!r}")
        mounts = [parse_mount(text) for text in flags.get("mount", [])]
        return Run(**base, command=_command(args, node.json_form), mounts=mounts, network=network,
                   security=security)
    if keyword in ("cmd", "entrypoint"):
        return cls(**base, command=_command(args, node.json_form))
    if keyword == "shell":
        if not args:
            raise _Problem("SHELL requires at least one argument")
        if not node.json_form:
            raise _Problem("SHELL requires the arguments to be in JSON form")
        return Shell(**base, command=list(args))

    if keyword == "healthcheck":
        return _healthcheck(node, base)

    if keyword in ("env", "label"):
        if not args:
            raise _Problem(f"{upper} requires at least one argument")
        pairs = list(zip(args[0::2], args[1::2]))
        if any(not k for k, _ in pairs):
            raise _Problem(f"{upper} names can not be blank")
        return cls(**base, pairs=pairs)
    if keyword == "arg":
        if not args:
            raise _Problem("ARG requires at least one argument")
        pairs = []
        for word in args:
            name, has_value, value = word.partition("=")
            if has_value and not name:
                raise _Problem("ARG names can not be blank")
            pairs.append((name, value if has_value else None))
        return Arg(**base, pairs=pairs)

    if keyword in ("maintainer", "workdir", "user", "stopsignal"):
        if len(args) != 1:
            raise _Problem(f"{upper} requires exactly one argument")
        field = {"maintainer": "name", "workdir": "path", "user": "user", "stopsignal": "signal"}[keyword]
        return cls(**base, **{field: args[0]})
    if keyword == "expose":
        if not args:
            raise _Problem("EXPOSE requires at least one argument")
        return Expose(**base, ports=sorted(args))
    if keyword == "volume":
        if not args:
            raise _Problem("VOLUME requires at least one argument")
        paths = [a.strip() for a in args]
        if any(not p for p in paths):
            raise _Problem("VOLUME specified can not be an empty string")
        return Volume(**base, paths=paths)

    if keyword in ("add", "copy"):
        return _copy_like(cls, upper, node, base, flags)

    # onbuild
    if not args:
        raise _Problem("ONBUILD requires at least one argument")
    trigger_keyword = args[0].upper()
    if trigger_keyword == "ONBUILD":
        raise _Problem("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger_keyword in ("MAINTAINER", "FROM"):
        raise _Problem(f"{trigger_keyword} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    for hd in node.heredocs:
        expression += "\n" + hd.content + hd.name
    node.sub.heredocs = list(node.heredocs)
    trigger = _instruction(node.sub, dict(common, flags={}))
    return Onbuild(**base, expression=expression, trigger=trigger)


def _command(args: list[str], json_form: bool) -> list[str]:
    if json_form or not args:
        return list(args)
    return [" ".join(args)]


def _healthcheck(node: _Node, base: dict) -> Healthcheck:
    args = node.args
    if not args:
        raise _Problem("HEALTHCHECK requires at least one argument")
    kind = args[0].upper()
    flags = base["flags"] = _parse_flags(node.flags, "healthcheck")
    if kind == "NONE":
        if len(args) > 1:
            raise _Problem("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(**base, test=["NONE"])
    if kind != "CMD":
        raise _Problem(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    command = _command(args[1:], node.json_form)
    if not command:
        raise _Problem("Missing command after HEALTHCHECK CMD")
    test = (["CMD"] if node.json_form else ["CMD-SHELL"]) + command
    durations = {}
    for flag in ("interval", "timeout", "start-period", "start-interval"):
        value = flags.get(flag, "")
        nanos = parse_go_duration(value) if value else 0
        if 0 < nanos < 1_000_000 or nanos < 0:
            raise _Problem(f'Interval "{flag}" cannot be less than 1ms')
        durations[flag.replace("-", "_")] = nanos
    retries = 0
    if flags.get("retries"):
        text = flags["retries"]
        if not re.fullmatch(r"[+-]?[0-9]+", text) or not -2**31 <= int(text) < 2**31:
            raise _Problem(f'strconv.ParseInt: parsing "{text}": invalid syntax')
        retries = int(text)
        if retries < 0:
            raise _Problem(f"--retries cannot be negative ({retries})")
    return Healthcheck(**base, test=test, retries=retries, **durations)


def _copy_like(cls, upper: str, node: _Node, base: dict, flags: dict) -> Instruction:
    args = node.args
    if len(args) < 2:
        raise _Problem(f"{upper} requires at least two arguments, but only one was provided. "
                       "Destination could not be determined")
    dest = args[-1]
    if _quiet_heredoc(dest) is not None:
        raise _Problem(f"{upper} cannot accept a heredoc as a destination")
    by_name = {hd.name: hd for hd in node.heredocs}
    sources, inline = [], []
    for src in args[:-1]:
        marker = _quiet_heredoc(src)
        if marker is None:
            sources.append(src)
        else:
            body = by_name.get(marker.name, Heredoc(marker.name))
            inline.append(Heredoc(marker.name, body.content, marker.expand, marker.chomp, marker.fd))
    common = dict(base, sources=sources, inline=inline, dest=dest, chown=flags.get("chown", ""),
                  chmod=flags.get("chmod", ""), link=flags.get("link", False),
                  excludes=flags.get("exclude", []))
    if cls is Copy:
        return Copy(**common, from_=flags.get("from", ""), parents=flags.get("parents", False))
    return Add(**common, checksum=flags.get("checksum", ""), keep_git_dir=flags.get("keep-git-dir", False))


def _quiet_heredoc(word: str) -> Heredoc | None:
    try:
        return parse_heredoc(word)
    except (_Problem, ExpansionError):
        return None


def _did_you_mean(keyword: str) -> str:
    import difflib  # only on this error path
    close = difflib.get_close_matches(keyword, list(_CLASSES), n=1, cutoff=0.75)
    return f" (did you mean {close[0].upper()}?)" if close else ""


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
                   "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration ("1m30s", "1.5h", "300ms"), in nanoseconds."""
    rest, sign = text, 1
    if rest[:1] in "+-" and rest:
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise _Problem(f'time: invalid duration "{text}"')
    total = 0
    while rest:
        match = _DURATION_PART.match(rest)
        number, unit = match[1], match[2]
        if number in ("", "."):
            raise _Problem(f'time: invalid duration "{text}"')
        if not unit:
            raise _Problem(f'time: missing unit in duration "{text}"')
        if unit not in _DURATION_UNITS:
            raise _Problem(f'time: unknown unit "{unit}" in duration "{text}"')
        whole, _, frac = number.partition(".")
        scale = _DURATION_UNITS[unit]
        total += int(whole or 0) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
        rest = rest[match.end():]
    return sign * total


# ---------------------------------------------------------------- RUN --mount

_MOUNT_KEYS = ("type", "from", "source", "src", "target", "dst", "destination", "ro", "readonly",
               "rw", "readwrite", "required", "id", "sharing", "mode", "uid", "gid", "size", "env")


def parse_mount(text: str, expand: Callable[[str], str] | None = None) -> Mount:
    """One --mount value (`type=cache,target=/x,sharing=locked,...`, CSV quoting allowed).

    Without `expand` (parse time) values are taken as written and, when any contains a `$`, only
    the keys are checked (the values are checked again after expansion); `from` may not use
    variables at all, as in BuildKit. Raises _Problem."""
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error as e:
        raise _Problem(f"invalid mount {text!r}: {e}") from None
    validate = expand is not None or "$" not in text
    mount = Mount()
    readonly: bool | None = None
    required = False
    for field in fields:
        key, has_value, value = field.partition("=")
        key = key.lower()
        if not has_value:
            if not field:
                continue
            if key in ("ro", "readonly"):
                readonly = True
            elif key in ("rw", "readwrite"):
                readonly = False
            elif key == "required":
                required = True
            else:
                raise _Problem(f"invalid field '{field}' must be a key=value pair")
            continue
        if key not in _MOUNT_KEYS:
            raise _Problem(f"unexpected key '{key}' in '{field}'")
        if expand is not None:
            value = expand(value)
        elif key == "from" and re.search(r"\$.", value):
            raise _Problem(f"'{field}' doesn't support variable expansion, define alias stage instead")
        if key == "type":
            mount.type = value.lower() if validate else value
            if validate and mount.type not in MOUNT_TYPES:
                raise _Problem(f'unsupported mount type "{value}"')
        elif key == "from":
            mount.from_ = value
        elif key in ("source", "src"):
            mount.source = value
        elif key in ("target", "dst", "destination"):
            mount.target = value
        elif key in ("ro", "readonly", "rw", "readwrite", "required"):
            flag = _go_bool(value, key) if validate else True
            if key == "required":
                required = flag
            else:
                readonly = flag if key in ("ro", "readonly") else not flag
        elif key == "id":
            mount.id = value
        elif key == "sharing":
            mount.sharing = value.lower()
            if validate and mount.sharing not in ("shared", "private", "locked"):
                raise _Problem(f'unsupported sharing value "{value}"')
        elif key in ("mode", "uid", "gid"):
            if validate:
                base = 8 if key == "mode" else 10
                try:
                    number = int(value, base)
                    if number < 0 or number >= 2**32 or not value.isdigit():
                        raise ValueError
                except ValueError:
                    raise _Problem(f"invalid value {value!r} for {key}") from None
                setattr(mount, key, number)
        elif key == "size":
            mount.size = value
        elif key == "env":
            mount.env = value
    if not validate:
        return mount
    kind = mount.type
    if required and kind not in ("secret", "ssh"):
        raise _Problem(f"unexpected key 'required' for mount type '{kind}'")
    mount.required = required
    if kind not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if getattr(mount, key) is not None:
                raise _Problem(f'{key} not allowed for "{kind}" type mounts')
    if mount.sharing and kind != "cache":
        raise _Problem(f"invalid cache sharing set for {kind} mount")
    if kind == "cache" and not mount.sharing:
        mount.sharing = "shared"
    if kind == "secret" and mount.from_:
        raise _Problem("secret mount should not have a from")
    if kind in ("bind", "cache", "tmpfs") and not mount.target:
        raise _Problem(f"mount type={kind} requires a target")
    mount.readonly = readonly if readonly is not None else kind not in ("cache", "tmpfs")
    return mount


def _go_bool(value: str, key: str) -> bool:
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise _Problem(f"invalid value for {key}: {value}")


# ---------------------------------------------------------------- parse()

def parse(text: str | bytes, filename: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile text (bytes are read as UTF-8); `filename` is only used in messages."""
    nodes, directives, line_count, warnings = _parse_nodes(text, filename)
    if not nodes:
        raise DockerfileError(filename, max(line_count, 1), "file with no instructions")
    common = {"filename": filename, "escape": directives.escape}
    global_args: list[Arg] = []
    stages: list[Stage] = []
    for node in nodes:
        ins = _build(node, common, filename)
        if isinstance(ins, From):
            stages.append(Stage(len(stages), ins.name, ins, []))
        elif not stages and isinstance(ins, Arg):
            global_args.append(ins)
        elif not stages:
            raise DockerfileError(filename, node.line, "no build stage in current context")
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise DockerfileError(filename, nodes[-1].line, "dockerfile contains no stages to build")
    return Dockerfile(filename, directives, global_args, stages, warnings)


def parse_instructions(text: str, filename: str, escape: str = "\\") -> list[Instruction]:
    """Instructions outside any stage and without directives: ONBUILD triggers, commit --change."""
    nodes = _parse_nodes(text, filename, directives_allowed=False)[0]
    return [_build(node, {"filename": filename, "escape": escape}, filename) for node in nodes]


def parse_trigger(expression: str, filename: str = "ONBUILD", escape: str = "\\") -> Instruction:
    """Parse one ONBUILD trigger from a base image's config (`RUN make`, heredocs included)."""
    instructions = parse_instructions(expression, filename, escape)
    if len(instructions) != 1:
        raise DockerfileError(filename, 1, f"invalid ONBUILD trigger {expression!r}")
    ins = instructions[0]
    if isinstance(ins, (From, Onbuild, Maintainer)):
        raise DockerfileError(filename, 1, f"{ins.keyword} isn't allowed as an ONBUILD trigger")
    return ins


def _build(node: _Node, common: dict, filename: str) -> Instruction:
    common = dict(common, line=node.line, end_line=node.end_line, source=node.source)
    try:
        return _instruction(node, common)
    except _Problem as e:
        raise DockerfileError(filename, node.line, str(e)) from None


# ---------------------------------------------------------------- scopes

def platform_args(target=None, build=None) -> dict[str, str]:
    """The automatic platform ARGs for a target and build platform (Platform or "os/arch[/variant]";
    default: this machine)."""
    from berth.oci.platform import Platform  # not needed by parsing alone

    def normal(p):
        if p is None:
            p = Platform.host()
        elif isinstance(p, str):
            try:
                p = Platform.parse(p)
            except ValueError as e:
                raise DockerfileError("build", None, str(e)) from None
        variant = "" if (p.architecture, p.variant) == ("arm64", "v8") else p.variant
        return p.os, p.architecture, variant

    out = {}
    for prefix, p in (("TARGET", target), ("BUILD", build)):
        os_, arch, variant = normal(p)
        out[prefix + "PLATFORM"] = "/".join(x for x in (os_, arch, variant) if x)
        out[prefix + "OS"], out[prefix + "ARCH"], out[prefix + "VARIANT"] = os_, arch, variant
    return out


class GlobalScope:
    """The build's global scope: platform ARGs and the ARGs before the first FROM, with values from
    build args or their (expanded) defaults. FROM lines see `from_env`; a stage sees a global ARG
    only after re-declaring it (`ARG NAME`)."""

    def __init__(self, dockerfile: Dockerfile, build_args: Mapping[str, str] | None = None,
                 target_platform=None, build_platform=None):
        self.dockerfile = dockerfile
        self.build_args = dict(build_args or {})
        self.values: dict[str, str | None] = dict(platform_args(target_platform, build_platform))
        self.from_env: dict[str, str] = dict(self.values)
        lexer = Lexer(dockerfile.directives.escape)
        for ins in dockerfile.global_args:
            for name, default in ins.pairs:
                if name in self.build_args:
                    value = self.build_args[name]
                elif default is not None:
                    try:
                        value = lexer.expand(default, self.from_env)
                    except ExpansionError as e:
                        raise ins.error(str(e)) from None
                elif name in PLATFORM_ARGS:
                    continue  # `ARG TARGETARCH` before FROM keeps the automatic value
                else:
                    value = None
                self.values[name] = value
                self.from_env[name] = value or ""  # declared without a value: "" for FROM lines

    def expand_from(self, ins: From) -> From:
        """The FROM line with image and platform expanded; blank results are errors."""
        expanded = ins.expand(self.from_env)
        if not expanded.image:
            raise ins.error(f"base name ({ins.image}) should not be blank")
        if ins.platform:
            if not expanded.platform:
                raise ins.error(f"empty platform value from expression {ins.platform}")
            parts = expanded.platform.split("/")
            if not 1 <= len(parts) <= 3 or not all(parts):
                raise ins.error(f"failed to parse platform {ins.platform}: {expanded.platform!r} is "
                                "not os/arch[/variant]")
        return expanded

    def stage_scope(self, base_env: Mapping[str, str] | Iterable[str] = ()) -> "StageScope":
        """Variables for a stage starting from a base image config's Env (dict or KEY=VALUE list)."""
        return StageScope(self, base_env)


class StageScope(Mapping):
    """The variables while a stage is built. ENV and ARG both set variables and the later one wins
    (BuildKit's behaviour: an ARG with a value after an ENV of the same name overrides it for the
    following instructions, and an ENV after an ARG overrides the ARG); only ENV goes into `env`,
    the image config's environment."""

    def __init__(self, scope: GlobalScope, base_env: Mapping[str, str] | Iterable[str] = ()):
        self.globals = scope
        if not isinstance(base_env, Mapping):
            base_env = dict(item.partition("=")[::2] for item in base_env)
        self.env: dict[str, str] = dict(base_env)
        self.variables: dict[str, str] = dict(base_env)
        self.args: dict[str, str | None] = {}  # ARGs declared in this stage and their values

    def __getitem__(self, name):
        return self.variables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.variables)

    def __len__(self):
        return len(self.variables)

    def step(self, ins: Instruction) -> Instruction:
        """Expand `ins` with the current variables and apply its ARG/ENV; returns the expanded
        instruction (an ARG comes back with the values that took effect)."""
        if isinstance(ins, Arg):
            return self._declare(ins)
        expanded = ins.expand(self)
        if isinstance(expanded, Env):
            for name, value in expanded.pairs:
                self.env[name] = value
                self.variables[name] = value
        return expanded

    def _declare(self, ins: Arg) -> Arg:
        lexer = Lexer(ins.escape)
        build_args = self.globals.build_args
        pairs = []
        for name, default in ins.pairs:
            if name in build_args:
                value = build_args[name]
            elif default is not None:
                try:
                    value = lexer.expand(default, self)
                except ExpansionError as e:
                    raise ins.error(str(e)) from None
            else:
                value = self.globals.values.get(name)
            self.args[name] = value
            if value is not None:
                self.variables[name] = value
            pairs.append((name, value))
        return ins.replace(pairs=pairs)

    def run_env(self) -> dict[str, str]:
        """The environment of a RUN: the variables, plus proxy build args (docker's predefined
        ARGs, passed to RUN without a declaration)."""
        env = dict(self.variables)
        for name in PROXY_ARGS:
            if name in self.globals.build_args and name not in env:
                env[name] = self.globals.build_args[name]
        return env


# ---------------------------------------------------------------- stage graph

class ResolvedStage(Record):
    """A stage with its FROM evaluated: `base` the expanded image (or stage name), `base_stage`
    the index of the stage it builds on (None for an image), `platform` the expanded --platform
    ("" when not given), `deps` the stages it needs (base, COPY --from, RUN --mount from=), and
    `images` the images COPY --from / --mount from= name that are not stages."""
    stage: Stage
    base: str
    base_stage: int | None = None
    platform: str = ""
    deps: list = []
    images: list = []

    @property
    def is_scratch(self) -> bool:
        return self.base_stage is None and self.base == "scratch"


def stage_by_name(stages: list[Stage], name: str, before: int) -> int | None:
    for stage in reversed(stages[:before]):
        if stage.name and stage.name == name:
            return stage.index
    return None


def resolve_stages(dockerfile: Dockerfile, scope: GlobalScope | None = None) -> list[ResolvedStage]:
    """Every stage with its FROM evaluated and its dependencies; checks for cycles."""
    scope = scope or GlobalScope(dockerfile)
    stages = dockerfile.stages
    resolved = []
    for stage in stages:
        head = scope.expand_from(stage.from_instruction)
        # FROM names an earlier stage only, compared as written (stage names are lower-case)
        base_stage = stage_by_name(stages, head.image, stage.index)
        deps = [] if base_stage is None else [base_stage]
        images: list[str] = []

        def need(ref: str, ins: Instruction, by_index: bool):
            if by_index and re.fullmatch(r"[+-]?[0-9]+", ref):
                index = int(ref)
                if not 0 <= index < len(stages):
                    raise ins.error(f"invalid stage index {ref}")
                target = index
            else:
                target = stage_by_name(stages, ref.lower(), len(stages))
            if target is None:
                if ref not in images:
                    images.append(ref)
            elif target not in deps:
                deps.append(target)

        for ins in stage.instructions:
            if isinstance(ins, Copy) and ins.from_:
                need(ins.from_, ins, by_index=True)
            elif isinstance(ins, Run):
                for mount in ins.mounts:
                    if mount.from_:
                        need(mount.from_, ins, by_index=False)
        resolved.append(ResolvedStage(stage, head.image, base_stage, head.platform, sorted(deps), images))
    _check_cycles(dockerfile, resolved)
    return resolved


def _check_cycles(dockerfile: Dockerfile, resolved: list[ResolvedStage]) -> None:
    state: dict[int, str] = {}

    def visit(i: int):
        state[i] = "visiting"
        for dep in resolved[i].deps:
            if state.get(dep) == "visiting":
                stage = resolved[dep].stage
                raise DockerfileError(dockerfile.filename, stage.from_instruction.line,
                                      f"circular dependency detected on stage: {stage.label}")
            if dep not in state:
                visit(dep)
        state[i] = "done"

    for i in range(len(resolved)):
        if i not in state:
            visit(i)


def target_stages(dockerfile: Dockerfile, target: str | None = None,
                  scope: GlobalScope | None = None) -> list[ResolvedStage]:
    """The stages needed to build `target` (a stage name; default the last stage): the target and
    everything it depends on transitively, in file order."""
    resolved = resolve_stages(dockerfile, scope)
    goal = len(resolved) - 1 if target is None else dockerfile.stage(target).index
    needed, todo = set(), [goal]
    while todo:
        i = todo.pop()
        if i not in needed:
            needed.add(i)
            todo.extend(resolved[i].deps)
    return [rs for rs in resolved if rs.stage.index in needed]
