"""`berth` entry point: global options, error reporting, and the command tree."""
from __future__ import annotations

import os
import sys

import click

from berth.cli import containers, files, images, system


class BerthGroup(click.Group):
    def invoke(self, ctx):
        from berth.errors import BerthError
        try:
            return super().invoke(ctx)
        except BerthError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)
        except BrokenPipeError:
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(130)
        except PermissionError as e:
            click.echo(f"Error: permission denied: {e.filename or e}", err=True)
            sys.exit(1)


@click.group(cls=BerthGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="BERTH_ROOT", default="/var/lib/berth", show_default=True,
              help="Store directory (env BERTH_ROOT).")
@click.version_option(package_name="berth", prog_name="berth")
@click.pass_context
def cli(ctx, root):
    """berth: containers, images and registries."""
    from berth.engine import Engine
    ctx.obj = Engine(root)
    ctx.call_on_close(ctx.obj.close)


images.register(cli)
containers.register(cli)
files.register(cli)
system.register(cli)


def main():
    code = 0
    try:
        cli(prog_name="berth")
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
