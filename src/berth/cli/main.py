"""`berth` entry point: global options, error reporting, and the command tree."""
from __future__ import annotations

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
    cli(prog_name="berth")
