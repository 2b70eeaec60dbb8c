"""`berth kube ...`: Kubernetes YAML, as podman's CLI has it."""
from __future__ import annotations

import os
import tempfile

from berth.cli.cmdline import Group, argument, echo, option

kube = Group("kube", "Play containers, pods and volumes from Kubernetes YAML, or generate it.")


@kube.command("generate")
@option("-s", "--service", is_flag=True, help="Generate a Service (NodePort) for each pod's published ports.")
@option("-t", "--type", "kind", default="pod", choices=["pod", "deployment"],
        help="The kind of workload to generate: pod or deployment.")
@option("-r", "--replicas", type=int, help="Replicas of a deployment (default 1).")
@option("-f", "--filename", help="Write the YAML to this file instead of STDOUT.")
@argument("names", nargs=-1, required=True)
def generate_cmd(engine, service, kind, replicas, filename, names):
    """Generate Kubernetes YAML for real clusters from containers and pods."""
    from berth.kube.generate import collect, generate, to_yaml
    result = generate(collect(engine, list(names)), kind, service, replicas)
    text = to_yaml(result.documents)
    for warning in result.warnings:
        echo(f"Warning: {warning}", err=True)
    if filename is None or filename == "-":
        echo(text.rstrip("\n"))
    else:
        _write_atomically(filename, text.encode())


def _write_atomically(path: str, data: bytes) -> None:
    """The whole file or the old one: a temporary file beside it, synced, renamed over it."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".berth-kube-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
