"""`berth pod ...`: pods, as podman's CLI."""
from __future__ import annotations

import sys
import time

from berth.cli import output
from berth.cli.cmdline import Group, argument, confirm, echo, option
from berth.cli.output import emit, human_duration, table

pod = Group("pod", "Manage pods.")


@pod.command("create")
@option("--name", help="Assign a name to the pod.")
@option("-p", "--publish", multiple=True, help="Publish a port of the pod: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO].")
@option("--network", help="The pod's network: bridge (default), a user-defined network, host or none.")
@option("--share", default="net,ipc,uts", help="Namespaces the pod's containers share (net, ipc, uts).")
@option("--hostname", help="The pod's hostname (its containers share it).")
@option("-m", "--memory", help="Memory limit of the whole pod (e.g. 256m).")
@option("--cpus", help="CPUs of the whole pod.")
@option("--label", "labels", multiple=True, help="Set metadata on the pod.")
def create_cmd(engine, name, publish, network, share, hostname, memory, cpus, labels):
    """Create a new empty pod."""
    created = engine.pods.create(name, list(publish), network, [s for s in share.split(",") if s], hostname, memory,
                                 cpus, dict(label.partition("=")[::2] for label in labels))
    echo(created.id)


@pod.command("ls")
@option("-q", "--quiet", is_flag=True, help="Print only the pod IDs.")
@option("--no-trunc", is_flag=True, help="Do not truncate pod IDs.")
@option("--format", "fmt", help="json, or a template.")
def ls_cmd(engine, quiet, no_trunc, fmt):
    """List pods."""
    now = time.time()
    rows = [{**r, "Id": r["Id"] if no_trunc else r["Id"][:12], "InfraId": r["InfraId"][:12],
             "Created": human_duration(now - r["Created"]) + " ago"} for r in engine.pods.list()]
    if quiet:
        for r in rows:
            echo(r["Id"])
        return
    emit(rows, fmt, lambda: table(["POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "# OF CONTAINERS"],
                                  [[r["Id"], r["Name"], r["Status"], r["Created"], r["InfraId"], str(r["Containers"])]
                                   for r in rows]), headers=output.POD_TITLES)


@pod.command("inspect")
@option("-f", "--format", "fmt", help="A template, or json.")
@argument("names", nargs=-1, required=True)
def inspect_cmd(engine, fmt, names):
    """Display detailed information on one or more pods."""
    from berth.cli.containers import _inspect_each
    _inspect_each(names, engine.pods.inspect, fmt)


def _each_pod(names, action):
    from berth.cli.containers import _each
    _each(names, lambda n: echo(action(n).id))


@pod.command("start")
@argument("names", nargs=-1, required=True)
def start_cmd(engine, names):
    """Start one or more pods."""
    _each_pod(names, engine.pods.start)


@pod.command("stop")
@option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing the containers.")
@argument("names", nargs=-1, required=True)
def stop_cmd(engine, timeout, names):
    """Stop one or more pods (every container in them)."""
    _each_pod(names, lambda n: engine.pods.stop(n, timeout))


@pod.command("restart")
@argument("names", nargs=-1, required=True)
def restart_cmd(engine, names):
    """Restart one or more pods."""
    _each_pod(names, engine.pods.restart)


@pod.command("kill")
@option("-s", "--signal", default="KILL", help="Signal to send to the containers.")
@argument("names", nargs=-1, required=True)
def kill_cmd(engine, signal, names):
    """Send a signal to every container of one or more pods."""
    _each_pod(names, lambda n: engine.pods.kill(n, signal))


@pod.command("rm")
@option("-f", "--force", is_flag=True, help="Stop and remove running containers too.")
@argument("names", nargs=-1, required=True)
def rm_cmd(engine, force, names):
    """Remove one or more pods and their containers."""
    _each_pod(names, lambda n: engine.pods.remove(n, force=force))


@pod.command("prune")
@option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
def prune_cmd(engine, force):
    """Remove every pod with no running container."""
    if not force and not confirm("WARNING! This will remove all stopped/exited pods.\n"
                                 "Are you sure you want to continue?"):
        return
    for pod_id in engine.pods.prune():
        echo(pod_id)


@pod.command("top")
@argument("name")
def top_cmd(engine, name):
    """Display the running processes of the containers of a pod."""
    headers, rows = engine.pods.top(name)
    table(headers, rows, minwidth=20)


@pod.command("logs")
@option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@option("-n", "--tail", default="all", help="Number of lines to show from the end of each container's logs.")
@argument("name")
def logs_cmd(engine, timestamps, tail, name):
    """Fetch the logs of every container of a pod, each line with its container's name."""
    from berth.errors import InvalidArgument
    from berth.timefmt import docker_time
    if tail != "all" and not tail.isdigit():
        raise InvalidArgument(f"invalid --tail value {tail!r}: a number or 'all'")
    for container, stream, ts, data in engine.pods.logs(name, tail=None if tail == "all" else int(tail)):
        target = sys.stderr.buffer if stream == "stderr" else sys.stdout.buffer
        target.write(f"{container} ".encode() + (docker_time(ts).encode() + b" " if timestamps else b"") + data)
    sys.stdout.flush()


pod.add_command(ls_cmd, "ps")
pod.add_command(ls_cmd, "list")
