"""Pass 2 of parsing: nodes -> typed instructions, and the entry points parse(), parse_instructions()
and parse_trigger().

Each node from pass 1 (berth.dockerfile.nodes) becomes its instruction record with the flags it
allows, its arguments counted and checked, HEALTHCHECK durations read as Go durations and ADD/COPY
heredoc sources attached; then parse() groups the instructions into stages. Every error is a
DockerfileError whose message is `FILE:LINE: problem`.
"""
from __future__ import annotations

import re

from berth.dockerfile.errors import Problem
from berth.dockerfile.instructions import (Add, Arg, Cmd, Copy, Dockerfile, Entrypoint, Env, Expose, From, Healthcheck,
                                           Instruction, Label, Maintainer, Onbuild, Run, Shell, Stage, Stopsignal, User,
                                           Volume, Workdir)
from berth.dockerfile.mounts import parse_mount
from berth.dockerfile.nodes import Heredoc, Node, parse_heredoc, parse_nodes
from berth.dockerfile.shellwords import ExpansionError
from berth.errors import DockerfileError


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
            raise Problem(f"unknown flag: {name}" + (f" (flags of {keyword.upper()}: "
                           + ", ".join("--" + f for f in spec) + ")" if spec else ""))
        if name in values and kind is not list:
            raise Problem(f"duplicate flag specified: {name}")
        if kind is bool:
            if has_value and value == "":
                raise Problem(f"missing a value on flag: {name}")
            if value.lower() not in ("", "true", "false"):
                raise Problem(f"expecting boolean value for flag {name}, not: {value}")
            values[name] = value.lower() != "false"
        elif not has_value:
            raise Problem(f"missing a value on flag: {name}")
        elif kind is list:
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    return values


_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")


def _instruction(node: Node, common: dict) -> Instruction:
    """The typed instruction for a node; raises Problem."""
    keyword, args = node.keyword, node.args
    cls = _CLASSES.get(keyword)
    if cls is None:
        raise Problem(f"unknown instruction: {keyword.upper()}" + _did_you_mean(keyword))
    upper = keyword.upper()
    base = dict(common, keyword=upper, original=node.original, heredocs=list(node.heredocs),
                json_form=node.json_form)
    flags = base["flags"] = _parse_flags(node.flags, keyword) if keyword != "healthcheck" else {}

    if keyword == "from":
        if len(args) == 3 and args[1].lower() == "as":
            name = args[2].lower()
            if not _STAGE_NAME.fullmatch(name):
                raise Problem(f'invalid name for build stage: "{args[2]}", name can\'t start with a '
                               "number or contain symbols")
        elif len(args) == 1:
            name = ""
        else:
            raise Problem("FROM requires either one or three arguments")
        return From(**base, image=args[0], name=name, platform=flags.get("platform", ""))

    if keyword == "run":
        network, security = flags.get("network", ""), flags.get("security", "")
        if network and network not in _NETWORK_MODES:
            raise Problem(f"unsupported network mode {network!r}")
        if security and security not in _SECURITY_MODES:
            raise Problem(f"unsupported security mode {security!r}")
        mounts = [parse_mount(text) for text in flags.get("mount", [])]
        return Run(**base, command=_command(args, node.json_form), mounts=mounts, network=network,
                   security=security)
    if keyword in ("cmd", "entrypoint"):
        return cls(**base, command=_command(args, node.json_form))
    if keyword == "shell":
        if not args:
            raise Problem("SHELL requires at least one argument")
        if not node.json_form:
            raise Problem("SHELL requires the arguments to be in JSON form")
        return Shell(**base, command=list(args))

    if keyword == "healthcheck":
        return _healthcheck(node, base)

    if keyword in ("env", "label"):
        if not args:
            raise Problem(f"{upper} requires at least one argument")
        pairs = list(zip(args[0::2], args[1::2]))
        if any(not k for k, _ in pairs):
            raise Problem(f"{upper} names can not be blank")
        return cls(**base, pairs=pairs)
    if keyword == "arg":
        if not args:
            raise Problem("ARG requires at least one argument")
        pairs = []
        for word in args:
            name, has_value, value = word.partition("=")
            if has_value and not name:
                raise Problem("ARG names can not be blank")
            pairs.append((name, value if has_value else None))
        return Arg(**base, pairs=pairs)

    if keyword in ("maintainer", "workdir", "user", "stopsignal"):
        if len(args) != 1:
            raise Problem(f"{upper} requires exactly one argument")
        field = {"maintainer": "name", "workdir": "path", "user": "user", "stopsignal": "signal"}[keyword]
        return cls(**base, **{field: args[0]})
    if keyword == "expose":
        if not args:
            raise Problem("EXPOSE requires at least one argument")
        return Expose(**base, ports=sorted(args))
    if keyword == "volume":
        if not args:
            raise Problem("VOLUME requires at least one argument")
        paths = [a.strip() for a in args]
        if any(not p for p in paths):
            raise Problem("VOLUME specified can not be an empty string")
        return Volume(**base, paths=paths)

    if keyword in ("add", "copy"):
        return _copy_like(cls, upper, node, base, flags)

    # onbuild
    if not args:
        raise Problem("ONBUILD requires at least one argument")
    trigger_keyword = args[0].upper()
    if trigger_keyword == "ONBUILD":
        raise Problem("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger_keyword in ("MAINTAINER", "FROM"):
        raise Problem(f"{trigger_keyword} isn't allowed as an ONBUILD trigger")
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


def _healthcheck(node: Node, base: dict) -> Healthcheck:
    args = node.args
    if not args:
        raise Problem("HEALTHCHECK requires at least one argument")
    kind = args[0].upper()
    flags = base["flags"] = _parse_flags(node.flags, "healthcheck")
    if kind == "NONE":
        if len(args) > 1:
            raise Problem("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(**base, test=["NONE"])
    if kind != "CMD":
        raise Problem(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    command = _command(args[1:], node.json_form)
    if not command:
        raise Problem("Missing command after HEALTHCHECK CMD")
    test = (["CMD"] if node.json_form else ["CMD-SHELL"]) + command
    durations = {}
    for flag in ("interval", "timeout", "start-period", "start-interval"):
        value = flags.get(flag, "")
        nanos = parse_go_duration(value) if value else 0
        if 0 < nanos < 1_000_000 or nanos < 0:
            raise Problem(f'Interval "{flag}" cannot be less than 1ms')
        durations[flag.replace("-", "_")] = nanos
    retries = 0
    if flags.get("retries"):
        text = flags["retries"]
        if not re.fullmatch(r"[+-]?[0-9]+", text) or not -2**31 <= int(text) < 2**31:
            raise Problem(f'strconv.ParseInt: parsing "{text}": invalid syntax')
        retries = int(text)
        if retries < 0:
            raise Problem(f"--retries cannot be negative ({retries})")
    return Healthcheck(**base, test=test, retries=retries, **durations)


def _copy_like(cls, upper: str, node: Node, base: dict, flags: dict) -> Instruction:
    args = node.args
    if len(args) < 2:
        raise Problem(f"{upper} requires at least two arguments, but only one was provided. "
                       "Destination could not be determined")
    dest = args[-1]
    if _quiet_heredoc(dest) is not None:
        raise Problem(f"{upper} cannot accept a heredoc as a destination")
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
    except (Problem, ExpansionError):
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
        raise Problem(f'time: invalid duration "{text}"')
    total = 0
    while rest:
        match = _DURATION_PART.match(rest)
        number, unit = match[1], match[2]
        if number in ("", "."):
            raise Problem(f'time: invalid duration "{text}"')
        if not unit:
            raise Problem(f'time: missing unit in duration "{text}"')
        if unit not in _DURATION_UNITS:
            raise Problem(f'time: unknown unit "{unit}" in duration "{text}"')
        whole, _, frac = number.partition(".")
        scale = _DURATION_UNITS[unit]
        total += int(whole or 0) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
        rest = rest[match.end():]
    return sign * total


def parse(text: str | bytes, filename: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile text (bytes are read as UTF-8); `filename` is only used in messages."""
    nodes, directives, line_count, warnings = parse_nodes(text, filename)
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
    nodes = parse_nodes(text, filename, directives_allowed=False)[0]
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


def _build(node: Node, common: dict, filename: str) -> Instruction:
    common = dict(common, line=node.line, end_line=node.end_line, source=node.source)
    try:
        return _instruction(node, common)
    except Problem as e:
        raise DockerfileError(filename, node.line, str(e)) from None
