"""File commands: `cp`, `diff`, `commit`, `export` (also under `berth container`)."""
from __future__ import annotations

import sys

from berth.cli.cmdline import argument, command, echo, option

from berth.cli.output import human_size


def _os_errors(f):
    """An OSError the service did not turn into a message (a full disk, a read-only host path)."""
    import functools

    @functools.wraps(f)
    def run(*args, **kwargs):
        from berth.errors import BerthError
        try:
            return f(*args, **kwargs)
        except (BrokenPipeError, PermissionError):
            raise
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            raise BerthError(f"{where}{e.strerror or e}") from None
    return run


def _split(arg: str) -> tuple[str | None, str]:
    """docker's splitCpArg: CONTAINER:PATH, unless the argument is a local absolute path or
    starts with `.` (./file:name is a local file)."""
    if arg.startswith("/"):
        return None, arg
    name, sep, path = arg.partition(":")
    if not sep or name.startswith("."):
        return None, arg
    return name, path


@command("cp")
@option("-a", "--archive", "archive_mode", is_flag=True, help="Archive mode (copy all uid/gid information).")
@option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@option("-q", "--quiet", is_flag=True, help="Suppress progress output during copy.")
@argument("src")
@argument("dest")
@_os_errors
def cp_cmd(engine, archive_mode, follow_link, quiet, src, dest):
    """Copy files/folders between a container and the local filesystem.

    \b
    berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
    berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH

    Use '-' as the source to read a tar archive from stdin and extract it to a directory
    destination in a container; use '-' as the destination to stream a tar archive of a
    container source to stdout.

    Paths in the container resolve inside its root filesystem. Volumes, bind mounts and tmpfs
    mounts are not seen: cp works on the container's own filesystem underneath them.
    """
    from berth.errors import BerthError
    src_ctr, src_path = _split(src)
    dest_ctr, dest_path = _split(dest)
    if src_ctr is not None and dest_ctr is not None:
        raise BerthError("copying between containers is not supported")
    if src_ctr is None and dest_ctr is None:
        raise BerthError("must specify at least one container source")
    files = engine.files
    if src_ctr is not None:
        if dest_path == "-" and sys.stdout.isatty():
            raise BerthError("cowardly refusing to write a tar archive to a terminal: redirect stdout")
        size = files.copy_out(src_ctr, src_path, dest_path, archive_mode=archive_mode, follow=follow_link,
                              out=sys.stdout.buffer if dest_path == "-" else None)
        if dest_path == "-":
            sys.stdout.buffer.flush()
        where = dest_path
    else:
        if src_path == "-" and sys.stdin.isatty():
            raise BerthError("requested a tar archive from stdin, but stdin is a terminal")
        size = files.copy_in(dest_ctr, src_path, dest_path, archive_mode=archive_mode, follow=follow_link,
                             stream=sys.stdin.buffer if src_path == "-" else None)
        where = f"{dest_ctr}:{dest_path}"
    if not quiet and where != "-" and sys.stderr.isatty():
        echo(f"Successfully copied {human_size(size)} to {where}", err=True)


@command("diff")
@argument("name")
@_os_errors
def diff_cmd(engine, name):
    """Inspect changes to files or directories on a container's filesystem."""
    for kind, path in engine.files.diff(name):
        echo(f"{kind} {path}")


@command("commit")
@option("-a", "--author", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").')
@option("-m", "--message", default="", help="Commit message.")
@option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the created image.")
@option("-p", "--pause", is_flag=True, default=True, help="Pause container during commit (--pause=false to not).")
@argument("name")
@argument("repository", required=False)
@_os_errors
def commit_cmd(engine, author, message, changes, pause, name, repository):
    """Create a new image from a container's changes."""
    img = engine.files.commit(name, repository, author=author, message=message, changes=list(changes),
                                pause=pause)
    echo(str(img.id))


@command("export")
@option("-o", "--output", help="Write to a file, instead of STDOUT.")
@argument("name")
@_os_errors
def export_cmd(engine, output, name):
    """Export a container's filesystem as a tar archive."""
    from berth.errors import BerthError
    if output is None and sys.stdout.isatty():
        raise BerthError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    engine.files.export(name, output or sys.stdout.buffer)
    if output is None:
        sys.stdout.buffer.flush()

