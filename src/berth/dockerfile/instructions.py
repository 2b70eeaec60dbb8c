"""The instruction model: one record per Dockerfile keyword with its parsed arguments, how each
expands its words against the variables in effect, and the Stage and Dockerfile records parse()
groups them into.

Expansion is not done at parse time: the words of ADD, COPY, ENV, EXPOSE, LABEL, STOPSIGNAL, USER,
VOLUME, WORKDIR, ARG defaults and RUN --mount values are expanded when the builder reaches the
instruction (`instruction.expand(variables)`). RUN/CMD/ENTRYPOINT text, HEALTHCHECK, SHELL,
MAINTAINER and ONBUILD are never expanded; COPY --from is taken literally (BuildKit does not expand
it either).
"""
from __future__ import annotations

from typing import Callable, Mapping

from berth.dockerfile.errors import Problem
from berth.dockerfile.mounts import parse_mount
from berth.dockerfile.nodes import Directives, Heredoc, parse_heredoc
from berth.dockerfile.shellwords import ExpansionError, Lexer
from berth.errors import DockerfileError
from berth.record import Record


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
        except Problem as e:
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


def stage_by_name(stages: list[Stage], name: str, before: int) -> int | None:
    for stage in reversed(stages[:before]):
        if stage.name and stage.name == name:
            return stage.index
    return None
