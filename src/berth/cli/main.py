"""`berth` entry point: global options, error reporting, and the command tree.

Command modules are imported only for the command being run (see cmdline.Group.lazy)."""
from __future__ import annotations

import os
import sys

from berth.cli.cmdline import USAGE_EXIT, Group, HelpRequested, UsageError, echo
from berth.engine import DEFAULT_ROOT, Engine


_C, _I, _F, _S = "berth.cli.containers", "berth.cli.images", "berth.cli.files", "berth.cli.system"
COMMANDS = {
    **{name: f"{_C}:{name}_cmd" for name in (
        "create", "run", "start", "stop", "kill", "restart", "rm", "ps", "logs", "exec", "wait", "top", "stats",
        "rename", "pause", "unpause", "attach", "port", "update")},
    "container": f"{_C}:container", "volume": f"{_C}:volume",
    **{name: f"{_I}:{name}_cmd" for name in ("images", "inspect", "history", "tag", "rmi", "save", "load")},
    "import": f"{_I}:import_cmd", "image": f"{_I}:image",
    **{name: f"{_F}:{name}_cmd" for name in ("cp", "diff", "commit", "export")},
    "system": f"{_S}:system", "info": f"{_S}:info", "events": f"{_S}:events",
    **{name: f"berth.cli.distribution:{name}_cmd" for name in ("pull", "push", "login", "logout")},
    "build": "berth.cli.build:build_cmd",
    "registry": "berth.cli.registry:registry",
    "network": "berth.cli.networks:network",
    "pod": "berth.cli.pods:pod",
    "kube": "berth.cli.kube:kube",
}

cli = Group("berth", "berth: containers, images and registries.", lazy=COMMANDS)

_GLOBAL_HELP = f"""
Global options:
  --root string   Store directory (env BERTH_ROOT) (default "{DEFAULT_ROOT}")
  -v, --version   Print version information and quit
  -h, --help      Print usage
"""


def _version() -> str:
    from importlib.metadata import version
    return version("berth")


def run(argv: list[str]) -> int:
    """Run one command line; returns the exit code."""
    from berth.errors import BerthError
    root = os.environ.get("BERTH_ROOT") or DEFAULT_ROOT
    args = list(argv)
    try:
        while args and args[0].startswith("-"):
            flag, eq, value = args.pop(0).partition("=")
            if flag in ("-h", "--help"):
                raise HelpRequested(cli)
            if flag in ("-v", "--version"):
                echo(f"berth version {_version()}")
                return 0
            if flag != "--root":
                raise UsageError(f"unknown flag: {flag}")
            if not eq:
                if not args:
                    raise UsageError("flag needs an argument: --root")
                value = args.pop(0)
            root = value
        cmd, rest = cli.resolve(args)
        with Engine(root) as engine:
            result = cmd.invoke(engine, rest)
        return result if isinstance(result, int) else 0
    except HelpRequested as e:
        echo(e.target.usage() + (_GLOBAL_HELP if e.target is cli else ""))
        return 0
    except UsageError as e:
        hint = f" (see '{e.command.path} --help')" if e.command else " (see 'berth --help')"
        echo(f"Error: {e}{hint}", err=True)
        return USAGE_EXIT
    except BerthError as e:
        echo(f"Error: {e}", err=True)
        return e.exit_code
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130
    except PermissionError as e:
        echo(f"Error: permission denied: {e.filename or e}", err=True)
        return 1
    except RecursionError:  # walks of a tree nested over ~900 levels deep (a hostile context or layer)
        echo("Error: a directory tree is nested too deeply", err=True)
        return 1
    except OSError as e:  # the system said no (a full disk, a vanished file): one line, as docker
        echo(f"Error: {e.filename}: {e.strerror}" if e.filename and e.strerror else f"Error: {e}", err=True)
        return 1


def main():
    code = 0
    try:
        code = run(sys.argv[1:])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:
            code = code or 1
    # Skip the interpreter's teardown (module GC, atexit): tens of milliseconds on every command.
    # Everything berth writes is already committed (sqlite transactions, fsync'd files).
    os._exit(code)
