"""`berth build`: images from Dockerfiles."""
from __future__ import annotations

import sys

from berth.cli.cmdline import argument, command, echo, option


def _pairs(values, flag: str) -> dict:
    from berth.errors import BerthError
    out = {}
    for value in values:
        name, sep, v = value.partition("=")
        if not name:
            raise BerthError(f"invalid {flag} {value!r}: expected NAME=VALUE")
        if not sep and flag == "--build-arg":
            import os
            if name not in os.environ:
                continue  # docker: a bare --build-arg NAME takes the value from the environment, if any
            v = os.environ[name]
        out[name] = v
    return out


def _secrets(values) -> dict:
    """docker's --secret id=NAME,src=FILE (also source=, and a bare NAME for env=NAME is not supported)."""
    from berth.errors import BerthError
    out = {}
    for value in values:
        fields = dict(part.partition("=")[::2] for part in value.split(","))
        name, src = fields.get("id"), fields.get("src") or fields.get("source")
        if not name or not src:
            raise BerthError(f"invalid --secret {value!r}: expected id=NAME,src=FILE")
        import os
        if not os.path.isfile(src):
            raise BerthError(f"--secret {name}: {src} is not a file")
        out[name] = os.path.abspath(src)
    return out


@command("build")
@option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (name:tag); repeatable.")
@option("-f", "--file", "dockerfile", help="Name of the Dockerfile (default: CONTEXT/Dockerfile; - for stdin).")
@option("--target", help="Build this stage (and what it needs), not the last one.")
@option("--build-arg", "build_args", multiple=True, help="Set a build-time variable (NAME=VALUE).")
@option("--no-cache", is_flag=True, help="Do not use the build cache.")
@option("--pull", is_flag=True, help="Always pull base images, even when they are in the store.")
@option("--network", default="bridge", choices=["host", "bridge", "none"],
        help="Network for RUN: host, bridge (own address, NAT) or none.")
@option("--label", "labels", multiple=True, help="Set metadata on the image (NAME=VALUE).")
@option("--source-date-epoch", type=int, help="Timestamps for a reproducible image (seconds since 1970).")
@option("--progress", default="auto", choices=["auto", "plain", "quiet"], help="Progress output.")
@option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@option("--iidfile", help="Write the image ID to this file.")
@option("--explain", is_flag=True, help="Say, for every step not taken from the cache, which input changed.")
@option("--secret", "secrets", multiple=True, help="A secret for RUN --mount=type=secret: id=NAME,src=FILE.")
@argument("context")
def build_cmd(engine, tags, dockerfile, target, build_args, no_cache, pull, network, labels, source_date_epoch,
              progress, quiet, iidfile, explain, secrets, context):
    """Build an image from a Dockerfile and a context (a directory, or - for a tar or Dockerfile on stdin)."""
    from berth.build.request import BuildRequest
    quiet = quiet or progress == "quiet"
    request = BuildRequest(context=None if context == "-" else context, stream=sys.stdin.buffer, dockerfile=dockerfile,
                           tags=list(tags), target=target, build_args=_pairs(build_args, "--build-arg"),
                           no_cache=no_cache, pull=pull, network=network, labels=_pairs(labels, "--label"),
                           source_date_epoch=source_date_epoch, explain=explain, secrets=_secrets(secrets),
                           output=None if quiet else (lambda line: echo(line, err=True)), iidfile=iidfile)
    image = engine.builds.build(request)
    if not quiet:
        for t in request.references:
            echo(f"Successfully tagged {t.familiar}", err=True)
    echo(str(image.id))
