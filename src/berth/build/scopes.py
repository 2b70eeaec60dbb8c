"""The variables of a build: the automatic platform ARGs, the global scope (ARGs before the first
FROM, which FROM lines see) and each stage's scope (its ARG and ENV, applied step by step).

    scope = GlobalScope(dockerfile, build_args, target_platform, build_platform)
    vars = scope.stage_scope(base_image_env)     # per-stage ARG/ENV variables
    for ins in stage.instructions:
        ins = vars.step(ins)                     # words expanded, ARG/ENV applied
        ...                                      # the builder executes `ins`

FROM lines are expanded with the global scope (GlobalScope.expand_from).
"""
from __future__ import annotations

from typing import Iterable, Iterator, Mapping

from berth.dockerfile import Arg, Dockerfile, Env, From, Instruction
from berth.dockerfile.shellwords import ExpansionError, Lexer
from berth.errors import DockerfileError

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
PLATFORM_ARGS = ("TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
                 "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT")


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
