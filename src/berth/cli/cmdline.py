"""Docker-style command lines: commands, groups, flags and help, with no framework to import.

A general CLI framework costs tens of milliseconds of imports on every `berth` call; this is the
small part berth needs, with the flag rules docker's pflag follows:
- flags may follow arguments, unless a command stops at its first argument (`run IMAGE CMD -x`);
- `--` ends the flags; a lone `-` is an argument (stdin/stdout);
- `--name=v`, `--name v`, `-n v`, `-nv`; short booleans combine (`-it`, `-dit`, `-de K=V`);
- booleans take a value only with `=` (`--pause=false`);
- a usage error is one `Error:` line and exit code 125, as docker's.
"""
from __future__ import annotations

import sys

USAGE_EXIT = 125
_TRUE = {"1", "t", "true", "yes", "y", "on"}
_FALSE = {"0", "f", "false", "no", "n", "off"}


class UsageError(Exception):
    def __init__(self, message: str, command: "Command | None" = None):
        super().__init__(message)
        self.command = command


def echo(text: str = "", err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{text}\n")
    stream.flush()  # a long-running command's lines must not wait in a pipe's buffer


def confirm(prompt: str, default: bool = False) -> bool:
    sys.stdout.write(f"{prompt} [{'Y/n' if default else 'y/N'}] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return default if not answer else answer == "y"  # docker takes nothing else, `yes` included


class Option:
    def __init__(self, *decls: str, is_flag: bool = False, multiple: bool = False, default=None, type=None,
                 choices=None, help: str = "", metavar: str | None = None):
        self.flags = [d for d in decls if d.startswith("-")]
        names = [d for d in decls if not d.startswith("-")]
        longest = max(self.flags, key=len)
        self.dest = names[0] if names else longest.lstrip("-").replace("-", "_")
        self.is_flag, self.multiple, self.type, self.choices = is_flag, multiple, type, choices
        self.default = () if multiple else (False if is_flag and default is None else default)
        self.help = help
        self.metavar = metavar or ("list" if multiple else "int" if type is int else "string")

    @property
    def label(self) -> str:
        return ", ".join(self.flags)

    def convert(self, value: str, command: Command):
        if self.is_flag:
            word = value.lower()
            if word not in _TRUE | _FALSE:
                raise UsageError(f'invalid boolean value "{value}" for {self.label}', command)
            return word in _TRUE
        if self.type is int:
            try:
                return int(value)
            except ValueError:
                raise UsageError(f'invalid value "{value}" for {self.label}: not an integer', command) from None
        if self.choices and value not in self.choices:
            raise UsageError(f'invalid value "{value}" for {self.label}: choose from {", ".join(self.choices)}',
                             command)
        return value


class Argument:
    def __init__(self, name: str, nargs: int = 1, required: bool | None = None, choices=None):
        self.name, self.nargs, self.choices = name, nargs, choices
        self.required = (nargs == 1) if required is None else required


class Command:
    def __init__(self, name: str, callback, params: list, help: str = "", interspersed: bool = True,
                 hidden: bool = False):
        self.name, self.callback, self.hidden = name, callback, hidden
        self.options = [p for p in params if isinstance(p, Option)]
        self.arguments = [p for p in params if isinstance(p, Argument)]
        self.help = help.strip()
        self.interspersed = interspersed
        self.path = name  # "berth image ls", set when added to a group
        self._by_flag = {f: o for o in self.options for f in o.flags}

    @property
    def summary(self) -> str:
        return self.help.splitlines()[0] if self.help else ""

    def parse(self, args: list[str]) -> dict:
        values = {o.dest: o.default for o in self.options}
        for o in self.options:
            if o.multiple:
                values[o.dest] = []
        positional: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg == "--":
                positional += args[i:]
                break
            if not arg.startswith("-") or arg == "-":
                positional.append(arg)
                if not self.interspersed:
                    positional += args[i:]
                    break
                continue
            if arg in ("-h", "--help") and arg not in self._by_flag:
                raise HelpRequested(self)
            if arg.startswith("--"):
                flag, eq, value = arg.partition("=")
                option = self._option(flag)
                if option.is_flag:
                    self._store(values, option, option.convert(value, self) if eq else True)
                    continue
                if not eq:
                    value, i = self._next_value(args, i, flag)
                self._store(values, option, option.convert(value, self))
                continue
            # a group of short flags: booleans until one that takes a value, which takes the rest
            j = 1
            while j < len(arg):
                option = self._option("-" + arg[j])
                j += 1
                if option.is_flag:
                    if arg[j:j + 1] == "=":
                        self._store(values, option, option.convert(arg[j + 1:], self))
                        break
                    self._store(values, option, True)
                    continue
                value = arg[j:].removeprefix("=")
                if not value:
                    value, i = self._next_value(args, i, f"'{arg[j - 1]}' in -{arg[j - 1]}")
                self._store(values, option, option.convert(value, self))
                break
        for o in self.options:
            if o.multiple:
                values[o.dest] = tuple(values[o.dest])
        self._bind_arguments(positional, values)
        return values

    def _next_value(self, args: list[str], i: int, shown: str) -> tuple[str, int]:
        """The argument after a flag that takes a value, and the index after it."""
        if i >= len(args):
            raise UsageError(f"flag needs an argument: {shown}", self)
        return args[i], i + 1

    def _option(self, flag: str) -> Option:
        try:
            return self._by_flag[flag]
        except KeyError:
            what = f"unknown flag: {flag}" if flag.startswith("--") else f"unknown shorthand flag: '{flag[1:]}'"
            raise UsageError(what, self) from None

    @staticmethod
    def _store(values: dict, option: Option, value) -> None:
        if option.multiple:
            values[option.dest].append(value)
        else:
            values[option.dest] = value

    def _bind_arguments(self, positional: list[str], values: dict) -> None:
        rest = list(positional)
        minimum = sum(1 for a in self.arguments if a.required)
        if len(rest) < minimum:
            exact = all(a.required and a.nargs == 1 for a in self.arguments)
            raise UsageError(f'"{self.path}" requires {"exactly" if exact else "at least"} {minimum} '
                             f'argument{"s" if minimum > 1 else ""}', self)
        for index, a in enumerate(self.arguments):
            if a.nargs == -1:
                later = sum(1 for b in self.arguments[index + 1:] if b.required)
                values[a.name], rest = tuple(rest[:len(rest) - later]), rest[len(rest) - later:]
            elif rest:
                values[a.name] = rest.pop(0)
                if a.choices and values[a.name] not in a.choices:
                    raise UsageError(f'invalid {a.name} "{values[a.name]}": choose from {", ".join(a.choices)}',
                                     self)
            else:
                values[a.name] = None
        if rest:
            raise UsageError(f'"{self.path}" accepts no more arguments: {" ".join(rest)}', self)

    def usage(self) -> str:
        parts = [self.path, "[OPTIONS]"] if self.options else [self.path]
        for a in self.arguments:
            word = a.name.upper() + ("..." if a.nargs == -1 else "")
            parts.append(word if a.required else f"[{word}]")
        lines = [f"Usage:  {' '.join(parts)}", "", self.help, ""]
        if self.options:
            lines.append("Options:")
            rows = []
            for o in self.options:
                shorts = [f for f in o.flags if not f.startswith("--")]
                longs = [f for f in o.flags if f.startswith("--")]
                head = (f"{shorts[0]}, " if shorts else "    ") + ", ".join(longs or shorts[1:])
                if not o.is_flag:
                    head += f" {o.metavar}"
                text = o.help
                if o.default not in (None, False, ()) and not o.is_flag and str(o.default):
                    text += f' (default "{o.default}")'
                elif o.default is True:
                    text += " (default true)"
                rows.append((head, text))
            width = max(len(h) for h, _ in rows) + 3
            lines += [f"  {h.ljust(width)}{t}".rstrip() for h, t in rows]
        return "\n".join(lines).rstrip() + "\n"

    def invoke(self, obj, args: list[str]):
        return self.callback(obj, **self.parse(args))


def parse_filters(args, command) -> dict:
    """--filter KEY=VALUE flags as the engine takes them ({key: [values]}); the keys and values are
    the engine's to check."""
    given: dict[str, list[str]] = {}
    for f in args:
        key, eq, value = f.partition("=")
        if not eq:
            raise UsageError(f'invalid argument "{f}" for "-f, --filter" flag: bad format of filter '
                             "(expected name=value)", command)
        given.setdefault(key, []).append(value)
    return given


class HelpRequested(Exception):
    """`--help`: main() prints target.usage()."""

    def __init__(self, target):
        super().__init__(target.path)
        self.target = target


class Group:
    """Subcommands by name. `lazy` maps a name to "module:attribute", imported only when used:
    `berth run` need not import what `berth images` needs."""

    def __init__(self, name: str, help: str = "", lazy: dict[str, str] | None = None):
        self.name, self.help, self.hidden = name, help.strip(), False
        self.path = name
        self.commands: dict = {}
        self.lazy = dict(lazy or {})

    @property
    def summary(self) -> str:
        return self.help.splitlines()[0] if self.help else ""

    def add_command(self, cmd, name: str | None = None) -> None:
        self.commands[name or cmd.name] = cmd

    def command(self, name: str, **kw):
        def decorate(f):
            cmd = command(name, **kw)(f)
            self.add_command(cmd)
            return cmd
        return decorate

    def get(self, name: str):
        if name not in self.commands and name in self.lazy:
            module, _, attr = self.lazy[name].partition(":")
            # __import__ returns the module itself given a fromlist; importlib is ~0.6 ms of start-up
            self.commands[name] = getattr(__import__(module, fromlist=[attr]), attr)
        cmd = self.commands.get(name)
        if cmd is None:
            raise UsageError(f"unknown command \"{name}\" for \"{self.path}\"", self)
        return cmd

    def resolve(self, args: list[str]):
        """(the command, its own arguments) for an argument list that starts with a subcommand name."""
        if not args or args[0] in ("-h", "--help", "help"):
            raise HelpRequested(self)
        cmd = self.get(args[0])
        cmd.path = f"{self.path} {args[0]}"
        if isinstance(cmd, Group):
            return cmd.resolve(args[1:])
        return cmd, args[1:]

    def usage(self) -> str:
        for name in list(self.lazy):
            self.get(name)
        lines = [f"Usage:  {self.path} COMMAND", "", self.help, "", "Commands:"]
        shown = {n: c for n, c in sorted(self.commands.items()) if not c.hidden}
        width = max(len(n) for n in shown) + 3
        lines += [f"  {n.ljust(width)}{c.summary}" for n, c in shown.items()]
        lines += ["", f"Run '{self.path} COMMAND --help' for more information on a command."]
        return "\n".join(lines) + "\n"


def command(name: str, *, interspersed: bool = True, hidden: bool = False):
    """Decorator: a function taking the engine and its parameters becomes a Command."""
    def decorate(f):
        params = list(reversed(getattr(f, "__cmdline_params__", [])))
        return Command(name, f, params, help=f.__doc__ or "", interspersed=interspersed, hidden=hidden)
    return decorate


def option(*decls: str, **kw):
    def decorate(f):
        f.__dict__.setdefault("__cmdline_params__", []).append(Option(*decls, **kw))
        return f
    return decorate


def argument(name: str, **kw):
    def decorate(f):
        f.__dict__.setdefault("__cmdline_params__", []).append(Argument(name, **kw))
        return f
    return decorate
