"""The Dockerfile language (dockerfile syntax 1.x, following BuildKit's front end): text -> typed,
checked instructions that expand their own words. No building here: the build's variables and
stage graph are berth.build.scopes and berth.build.stagegraph; what metadata instructions do to an
image's config is berth.container.imageconfig (shared by `build` and `commit --change`).

    df = parse(text, "Dockerfile")          # Dockerfile(filename, directives, global_args, stages)
    ins.expand(variables)                   # the instruction with its words expanded

Parsing is in two passes, like BuildKit's: nodes.py turns the text into nodes (directives,
comments, continuation lines, flags, JSON vs shell form, heredoc bodies), parser.py turns each node
into a typed instruction (instructions.py; RUN --mount values in mounts.py) with its flags and
arguments checked. shellwords.py is the shell-word lexer that expands the words. Every error is a
DockerfileError whose message is `FILE:LINE: problem`.

This package imports only berth.errors and berth.record, so any layer (build, container) may use it.
"""
from berth.dockerfile.instructions import (Add, Arg, Cmd, Copy, Dockerfile, Entrypoint, Env, Expose, From, Healthcheck,
                                           Instruction, Label, Maintainer, Onbuild, Run, Shell, Stage, Stopsignal, User,
                                           Volume, Workdir, stage_by_name)
from berth.dockerfile.mounts import MOUNT_TYPES, Mount, parse_mount
from berth.dockerfile.nodes import Directives, Heredoc, parse_heredoc
from berth.dockerfile.parser import parse, parse_go_duration, parse_instructions, parse_trigger
from berth.errors import DockerfileError

__all__ = [
    "Add", "Arg", "Cmd", "Copy", "Directives", "Dockerfile", "DockerfileError", "Entrypoint", "Env",
    "Expose", "From", "Healthcheck", "Heredoc", "Instruction", "Label", "MOUNT_TYPES", "Maintainer",
    "Mount", "Onbuild", "Run", "Shell", "Stage", "Stopsignal", "User", "Volume", "Workdir", "parse",
    "parse_go_duration", "parse_heredoc", "parse_instructions", "parse_mount", "parse_trigger",
    "stage_by_name"]
