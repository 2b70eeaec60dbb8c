"""`berth pull`, `push`, `login`, `logout`: images to and from registries."""
from __future__ import annotations

import sys

from berth.cli.cmdline import argument, command, echo, option

_TLS_HELP = "Require HTTPS and verify certificates (--tls-verify=false allows plain HTTP and any certificate)."


@command("pull")
@option("--platform", help="Platform for multi-platform images, os/arch[/variant] (default: this machine's).")
@option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@option("-a", "--all-tags", is_flag=True, help="Download every tagged image of the repository.")
@option("--tls-verify", is_flag=True, default=True, help=_TLS_HELP)
@argument("name")
def pull_cmd(engine, platform, quiet, all_tags, tls_verify, name):
    """Download an image from a registry."""
    from berth.oci.reference import Reference
    if all_tags:
        for tag, image in engine.registries.pull_all_tags(name, platform=platform, tls_verify=tls_verify):
            echo(f"{tag}: {image.id}")
        return
    ref = Reference.parse(name)
    if not quiet:
        echo(f"Pulling {ref.familiar} from {ref.registry}")
    progress = None
    if not quiet:
        from berth.cli.progress import Progress
        progress = Progress()
    image = engine.registries.pull(name, platform=platform, tls_verify=tls_verify, progress=progress)
    if quiet:
        echo(str(ref))
        return
    digest = next((d.rpartition("@")[2] for d in image.repo_digests if d.startswith(ref.name + "@")), "")
    echo(f"Digest: {digest}")
    echo(f"Image: {image.id}")
    echo(str(ref))


@command("push")
@option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@option("--tls-verify", is_flag=True, default=True, help=_TLS_HELP)
@argument("name")
@argument("destination", required=False)
def push_cmd(engine, quiet, tls_verify, name, destination):
    """Upload an image to a registry (to DESTINATION, or to the registry its name names)."""
    from berth.oci.reference import Reference
    ref = Reference.parse(destination or name)

    from berth.cli.progress import Progress
    progress = Progress()

    def report(layer, what):
        if not quiet:
            progress.done(layer.diff_id.hex, what)
    if not quiet:
        echo(f"Pushing {ref.familiar} to {ref.registry}")
    digest = engine.registries.push(name, destination, tls_verify=tls_verify, report=report)
    echo(f"{ref.tag}: digest: {digest}" if not quiet else str(digest))


@command("copy")
@option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@option("--tls-verify", is_flag=True, default=True, help=_TLS_HELP)
@argument("source")
@argument("destination")
def copy_cmd(engine, quiet, tls_verify, source, destination):
    """Copy an image or a multi-platform index from one registry to another, without unpacking it."""
    from berth.cli.progress import Progress
    progress = Progress()

    def report(digest, how):
        if not quiet:
            progress.done(digest.split(":", 1)[1], how)
    digest = engine.registries.copy(source, destination, tls_verify=tls_verify, report=report)
    echo(f"{destination}: digest: {digest}" if not quiet else str(digest))


@command("login")
@option("-u", "--username", help="Username.")
@option("-p", "--password", help="Password (prefer --password-stdin).")
@option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@option("--tls-verify", is_flag=True, default=True, help=_TLS_HELP)
@argument("registry", required=False)
def login_cmd(engine, username, password, password_stdin, tls_verify, registry):
    """Log in to a registry (docker.io when none is given)."""
    from berth.errors import BerthError
    if password_stdin:
        if password:
            raise BerthError("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        if not sys.stdin.isatty() or password_stdin:
            raise BerthError("give the user name with -u/--username")
        username = input("Username: ").strip()
    if password is None:
        if not sys.stdin.isatty():
            raise BerthError("give the password with --password-stdin")
        import getpass
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise BerthError("user name and password must not be empty")
    engine.registries.login(registry or "docker.io", username, password, tls_verify=tls_verify)
    echo("Login Succeeded")


@command("logout")
@argument("registry", required=False)
def logout_cmd(engine, registry):
    """Forget the credentials berth stored for a registry."""
    from berth.errors import BerthError
    name = registry or "docker.io"
    if not engine.registries.logout(name):
        raise BerthError(f"not logged in to {name}")
    echo(f"Removed login credentials for {name}")
