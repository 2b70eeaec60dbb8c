"""Container commands with docker's flags: run, create, start, stop, kill, rm, ps, logs, exec, ..."""
from __future__ import annotations

import os
import sys
import time

from berth import cjson
from berth.cli.cmdline import Group, argument, command, confirm, echo, option, parse_filters

from berth.cli import output
from berth.cli.output import emit, human_duration, human_size, render, table
from berth.timefmt import container_status


container = Group("container", "Manage containers.",
                  lazy={n: f"berth.cli.files:{n}_cmd" for n in ("cp", "diff", "commit", "export")})


def _create_options(f):
    """The flags `run` and `create` share, applied in docker's order."""
    decorators = [
        option("--name", help="Assign a name to the container."),
        option("-e", "--env", "env", multiple=True, help="Set environment variables."),
        option("--env-file", multiple=True, help="Read in a file of environment variables."),
        option("-w", "--workdir", help="Working directory inside the container."),
        option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])."),
        option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image."),
        option("-v", "--volume", "volumes", multiple=True, help="Bind mount a volume."),
        option("--mount", "mounts", multiple=True, help="Attach a filesystem mount to the container."),
        option("--tmpfs", multiple=True, help="Mount a tmpfs directory."),
        option("--read-only", is_flag=True, help="Mount the container's root filesystem as read only."),
        option("-h", "--hostname", help="Container host name."),
        option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached."),
        option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
        option("--network", "--net", "network", multiple=True,
               help="Connect a container to a network: bridge (default), host, none, container:NAME or a "
                    "user-defined network (repeatable)."),
        option("--network-alias", "network_aliases", multiple=True, help="Add a network-scoped alias."),
        option("--ip", help="IPv4 address on the (first) user-defined network."),
        option("--ip6", help="IPv6 address on the (first) user-defined network (created with --ipv6)."),
        option("-p", "--publish", multiple=True,
               help="Publish a container's port(s) to the host: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]."),
        option("-P", "--publish-all", is_flag=True, help="Publish every exposed port to a free host port."),
        option("--dns", multiple=True, help="Set custom DNS servers."),
        option("--dns-search", multiple=True, help="Set custom DNS search domains."),
        option("--dns-option", multiple=True, help="Set DNS options."),
        option("--add-host", "add_hosts", multiple=True, help="Add a custom host-to-IP mapping (host:ip)."),
        option("--domainname", help="Container NIS domain name."),
        option("--pod", help="Run the container in an existing pod (its network, IPC and UTS)."),
        option("-m", "--memory", help="Memory limit (e.g. 64m)."),
        option("--memory-swap", help="Swap limit equal to memory plus swap: -1 for unlimited."),
        option("--cpus", help="Number of CPUs."),
        option("--pids-limit", help="Tune container pids limit (-1 for unlimited)."),
        option("--cap-add", multiple=True, help="Add Linux capabilities."),
        option("--cap-drop", multiple=True, help="Drop Linux capabilities."),
        option("--privileged", is_flag=True, help="Give extended privileges to this container."),
        option("--security-opt", multiple=True, help="Security options: no-new-privileges, seccomp=unconfined|builtin|PROFILE.json."),
        option("--restart", default="no", help="Restart policy: no, always, on-failure[:N], unless-stopped."),
        option("--stop-signal", help="Signal to stop the container."),
        option("--stop-timeout", help="Timeout (in seconds) to stop a container."),
        option("--init", is_flag=True, help="Run an init inside the container that forwards signals and reaps processes."),
        option("--rm", "auto_remove", is_flag=True, help="Automatically remove the container when it exits."),
        option("-l", "--label", "labels", multiple=True, help="Set meta data on a container."),
        option("--runtime", help="OCI runtime: runc, crun or a path (default: detected)."),
        option("--health-cmd", help="Command to run to check health."),
        option("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)."),
        option("--health-on-failure", help="Action once the container is unhealthy: none, kill, restart or stop "
                                           "(default none)."),
        option("--health-retries", help="Consecutive failures needed to report unhealthy."),
        option("--health-start-interval",
               help="Time between running the check during the start period (ms|s|m|h) (default 0s)."),
        option("--health-start-period", help="Start period for the container to initialize before starting "
                                             "health-retries countdown (ms|s|m|h) (default 0s)."),
        option("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)."),
        option("--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK."),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def _create(engine, image, command, o):
    from berth.container.spec import from_flags
    return engine.containers.create(from_flags(
        image, command, entrypoint=o["entrypoint"], env=o["env"], env_files=o["env_file"], volumes=o["volumes"],
        mounts=o["mounts"], tmpfs=o["tmpfs"], publish=o["publish"], memory=o["memory"],
        memory_swap=o["memory_swap"], cpus=o["cpus"], pids_limit=o["pids_limit"], stop_timeout=o["stop_timeout"],
        restart=o["restart"], auto_remove=o["auto_remove"], labels=o["labels"], name=o["name"],
        workdir=o["workdir"], user=o["user"], hostname=o["hostname"], tty=o["tty"], stdin=o["interactive"],
        read_only=o["read_only"], network=o["network"], network_aliases=o["network_aliases"], ip=o["ip"],
        ip6=o["ip6"],
        publish_all=o["publish_all"], dns=list(o["dns"]), dns_search=list(o["dns_search"]),
        dns_options=list(o["dns_option"]), add_hosts=o["add_hosts"], domainname=o["domainname"], pod=o["pod"],
        cap_add=o["cap_add"], cap_drop=o["cap_drop"],
        privileged=o["privileged"], security_opt=o["security_opt"], stop_signal=o["stop_signal"], init=o["init"],
        runtime=o["runtime"], health_cmd=o["health_cmd"], health_interval=o["health_interval"],
        health_timeout=o["health_timeout"], health_start_period=o["health_start_period"],
        health_start_interval=o["health_start_interval"], health_retries=o["health_retries"],
        no_healthcheck=o["no_healthcheck"], health_on_failure=o["health_on_failure"]))


@command("create", interspersed=False)
@_create_options
@argument("image")
@argument("command", nargs=-1)
def create_cmd(engine, image, command, **o):
    """Create a new container."""
    echo(_create(engine, image, command, o).id)  # errors exit with their own code: 125 for a refused flag


@command("run", interspersed=False)
@_create_options
@option("-d", "--detach", is_flag=True, help="Run container in background and print container ID.")
@argument("image")
@argument("command", nargs=-1)
def run_cmd(engine, image, command, detach, **o):
    """Create and run a new container from an image."""
    from berth.errors import BerthError
    if o["tty"] and o["interactive"] and not detach:
        _require_terminal()
    try:
        c = _create(engine, image, command, o)
        if detach:
            try:
                engine.containers.start(c.id)
            except BaseException:
                engine.containers.remove(c.id, force=True, volumes=True)  # no half-made container is left
                raise
            echo(c.id)
            return
        code = _run_attached(engine, c, o["interactive"], o["tty"], remove=o["auto_remove"])
    except BerthError as e:
        # docker's codes: 126 the command cannot be run, 127 it is not found, 125 any other error
        echo(f"Error: {e}", err=True)
        sys.exit(e.exit_code if e.exit_code in (126, 127) else 125)
    sys.exit(code)


def _require_terminal() -> None:
    """-it reads keystrokes from a terminal: refused, as by docker, when stdin is a pipe or file."""
    if not sys.stdin.isatty():
        echo("Error: the input device is not a TTY", err=True)
        sys.exit(1)


def _run_attached(engine, c, interactive: bool, tty: bool, remove: bool, remove_on_failure: bool = True) -> int:
    """Start attached, copy I/O until the container's output ends, and return its exit code."""
    size = None
    if tty and sys.stdin.isatty():  # the container starts at the client terminal's size, as docker's
        size = os.get_terminal_size(sys.stdin.fileno())[::-1]
    with engine.containers.run_attached(c.id, size, remove=remove, remove_on_failure=remove_on_failure) as session:
        return _pump(session, interactive, tty)


def _pump(session, interactive: bool, tty: bool) -> int:
    """The terminal's side of an attachment: raw mode and size changes for -t, signals forwarded
    without; returns the exit code."""
    import _signal as signal  # the C module: `signal` builds enums at import, on every `berth run`
    stdin_fd = sys.stdin.fileno() if interactive else None
    restore = None
    previous = {s: signal.signal(s, lambda signum, _frame: session.signal(signum))
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)} if not tty else {}
    if tty and sys.stdin.isatty():
        import termios
        import tty as ttymod

        def resize(*_):  # now, and whenever the client's terminal changes size
            size = os.get_terminal_size(sys.stdin.fileno())
            session.resize(size.lines, size.columns)
        restore = termios.tcgetattr(sys.stdin.fileno())
        ttymod.setraw(sys.stdin.fileno())
        resize()
        previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)
    try:
        return session.pump(stdin_fd, sys.stdout.fileno(), sys.stderr.fileno())
    finally:
        if restore is not None:
            import termios
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, restore)
        for s, h in previous.items():
            signal.signal(s, h)


@command("start")
@option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@option("-i", "--interactive", is_flag=True, help="Attach container's STDIN.")
@argument("names", nargs=-1, required=True)
def start_cmd(engine, attach, interactive, names):
    """Start one or more stopped containers."""
    if attach or interactive:
        c = engine.containers.get(names[0])
        auto_remove = bool(c.config.get("auto_remove"))
        sys.exit(_run_attached(engine, c, interactive, c.config["tty"], remove=auto_remove,
                               remove_on_failure=auto_remove))
    _each(names, lambda n: engine.containers.start(n), echo_name=True)


def _each(names, action, echo_name=False):
    """Apply to every name; report failures per name like docker, exit 1 if any failed."""
    from berth.errors import BerthError
    failed = False
    for n in names:
        try:
            action(n)
            if echo_name:
                echo(n)
        except BerthError as e:
            echo(f"Error: {e}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@command("attach")
@option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@argument("name")
def attach_cmd(engine, no_stdin, name):
    """Attach local standard input, output, and error streams to a running container."""
    session = engine.containers.attach(name)
    c = session.container
    sys.exit(_pump(session, c.config["stdin"] and not no_stdin, c.config["tty"]))


@command("stop")
@option("-t", "--timeout", "--time", "timeout", type=int, help="Seconds to wait before killing the container.")
@option("-s", "--signal", help="Signal to send to the container.")
@argument("names", nargs=-1, required=True)
def stop_cmd(engine, timeout, signal, names):
    """Stop one or more running containers."""
    _each(names, lambda n: engine.containers.stop(n, timeout, signal), echo_name=True)


@command("kill")
@option("-s", "--signal", default="KILL", help="Signal to send to the container.")
@argument("names", nargs=-1, required=True)
def kill_cmd(engine, signal, names):
    """Kill one or more running containers."""
    _each(names, lambda n: engine.containers.kill(n, signal), echo_name=True)


@command("restart")
@option("-t", "--timeout", "--time", "timeout", type=int, help="Seconds to wait before killing the container.")
@argument("names", nargs=-1, required=True)
def restart_cmd(engine, timeout, names):
    """Restart one or more containers."""
    _each(names, lambda n: engine.containers.restart(n, timeout), echo_name=True)


@command("pause")
@argument("names", nargs=-1, required=True)
def pause_cmd(engine, names):
    """Pause all processes within one or more containers."""
    _each(names, engine.containers.pause, echo_name=True)


@command("unpause")
@argument("names", nargs=-1, required=True)
def unpause_cmd(engine, names):
    """Unpause all processes within one or more containers."""
    _each(names, engine.containers.unpause, echo_name=True)


@command("rm")
@option("-f", "--force", is_flag=True, help="Force the removal of a running container.")
@option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container.")
@argument("names", nargs=-1, required=True)
def rm_cmd(engine, force, volumes, names):
    """Remove one or more containers."""
    from berth.errors import ContainerNotFound

    def remove(n):
        try:
            engine.containers.remove(n, force=force, volumes=volumes)
        except ContainerNotFound:
            if not force:  # as docker (23+): a forced removal of what is already gone is no error,
                raise      # and says nothing
            return
        echo(n)
    _each(names, remove)


@command("ps")
@option("-a", "--all", "show_all", is_flag=True, help="Show all containers (default shows just running).")
@option("-f", "--filter", "filters", multiple=True,
        help="Filter output based on conditions provided (status, name, id, label, ancestor, exited, volume, "
             "health).")
@option("-n", "--last", type=int, default=-1, help="Show n last created containers (includes all states).")
@option("-l", "--latest", is_flag=True, help="Show the latest created container (includes all states).")
@option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@option("--no-trunc", is_flag=True, help="Don't truncate output.")
@option("--format", "fmt", help="json, or a template.")
def ps_cmd(engine, show_all, filters, last, latest, quiet, no_trunc, fmt):
    """List containers."""
    limit = 1 if latest else last
    found = engine.containers.list(all=show_all or limit > 0, filters=parse_filters(filters, ps_cmd))
    if limit > 0:
        found = found[:limit]  # newest first
    now = time.time()
    rows = []
    for c in found:
        cmd = " ".join(c.config["args"])
        if not no_trunc and len(cmd) > 20:
            cmd = cmd[:19] + "…"
        rows.append({"ID": c.id if no_trunc else c.short_id, "Image": c.config["image"], "Command": f'"{cmd}"',
                     "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(c.created)),
                     "RunningFor": human_duration(now - c.created) + " ago",
                     "Status": container_status(c.state, now, engine.containers.health_status(c)),
                     "State": c.status, "Ports": output.ports_text(c.config.get("ports", [])) if c.status == "running" else "",
                     "Names": c.name,
                     "Labels": ",".join(f"{k}={v}" for k, v in c.config["labels"].items())})
    if quiet:
        for r in rows:
            echo(r["ID"])
        return
    emit(rows, fmt, lambda: table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
                                  [[r["ID"], r["Image"], r["Command"], r["RunningFor"], r["Status"], r["Ports"],
                                    r["Names"]] for r in rows]), headers=output.CONTAINER_TITLES)


@command("logs")
@option("-f", "--follow", is_flag=True, help="Follow log output.")
@option("--since", help="Show logs since a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m).")
@option("-n", "--tail", default="all", help="Number of lines to show from the end of the logs.")
@option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@option("--until", help="Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m).")
@argument("name")
def logs_cmd(engine, follow, since, tail, timestamps, until, name):
    """Fetch the logs of a container."""
    from berth.errors import BerthError
    from berth.timefmt import docker_time, parse_bound
    if tail != "all" and not tail.isdigit():
        raise BerthError(f"invalid --tail value {tail!r}: a number or 'all'")
    now = time.time_ns()
    since_ns = parse_bound("since", since, now) if since else None
    until_ns = parse_bound("until", until, now) if until else None
    out, err = sys.stdout.buffer, sys.stderr.buffer
    line_start = {"stdout": True, "stderr": True}
    for stream, ts, data in engine.containers.logs(name, follow=follow, tail=None if tail == "all" else int(tail),
                                                   since=since_ns, until=until_ns):
        target = err if stream == "stderr" else out
        if timestamps and line_start[stream]:
            target.write(docker_time(ts).encode() + b" ")
        target.write(data)
        line_start[stream] = data.endswith(b"\n")
        if follow:
            target.flush()


@command("exec", interspersed=False)
@option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background.")
@option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached.")
@option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>]).")
@option("-w", "--workdir", help="Working directory inside the container.")
@option("-e", "--env", multiple=True, help="Set environment variables.")
@argument("name")
@argument("command", nargs=-1, required=True)
def exec_cmd(engine, detach, interactive, tty, user, workdir, env, name, command):
    """Execute a command in a running container."""
    if tty and not detach and not sys.stdin.isatty():
        if interactive:
            _require_terminal()
        tty = False  # as docker's output, without a terminal to share (runc's -t needs one)
    sys.exit(engine.containers.exec(name, list(command), tty=tty, interactive=interactive, user=user,
                                    workdir=workdir, env=env, detach=detach))


@command("wait")
@argument("names", nargs=-1, required=True)
def wait_cmd(engine, names):
    """Block until one or more containers stop, then print their exit codes."""
    _each(names, lambda n: echo(engine.containers.wait(n)))


@command("top")
@argument("name")
def top_cmd(engine, name):
    """Display the running processes of a container."""
    headers, rows = engine.containers.top(name)
    table(headers, rows, minwidth=20)  # docker's top pads its columns to 20


@command("stats")
@option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result.")
@option("--format", "fmt", help="json, or a template.")
@argument("names", nargs=-1)
def stats_cmd(engine, no_stream, fmt, names):
    """Display a live stream of container(s) resource usage statistics."""
    targets = list(names) or [c.short_id for c in engine.containers.list()]
    while True:
        rows = []
        for n in targets:
            c = engine.containers.get(n)
            s = engine.containers.stats(c.id)
            pct = 100.0 * s["memory"] / s["memory_limit"] if s["memory_limit"] else 0.0
            # Container: as the command line names it (docker's), the short ID for all running ones
            rows.append({"Container": n, "ID": c.short_id, "Name": c.name, "CPUPerc": f"{s['cpu_percent']:.2f}%",
                         "MemUsage": f"{_mib(s['memory'])} / {_mib(s['memory_limit'])}", "MemPerc": f"{pct:.2f}%",
                         "NetIO": "0B / 0B", "BlockIO": "0B / 0B", "PIDs": str(s["pids"])})
        emit(rows, fmt, lambda: table(["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
                                       "BLOCK I/O", "PIDS"],
                                      [[r["ID"], r["Name"], r["CPUPerc"], r["MemUsage"], r["MemPerc"], r["NetIO"],
                                        r["BlockIO"], r["PIDs"]] for r in rows]), headers=output.STATS_TITLES)
        if no_stream:
            return
        time.sleep(1)


def _mib(n: int) -> str:
    """docker stats shows binary units: 1.5MiB, 23.4GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{n}B"
        n /= 1024.0
    return f"{n}B"


@command("rename")
@argument("name")
@argument("new_name")
def rename_cmd(engine, name, new_name):
    """Rename a container."""
    engine.containers.rename(name, new_name)


@command("update")
@option("-m", "--memory", help="Memory limit (e.g. 64m).")
@option("--memory-swap", help="Swap limit equal to memory plus swap: -1 for unlimited.")
@option("--cpus", help="Number of CPUs.")
@option("--pids-limit", help="Tune container pids limit (-1 for unlimited).")
@option("--restart", help="Restart policy to apply when a container exits.")
@argument("names", nargs=-1, required=True)
def update_cmd(engine, memory, memory_swap, cpus, pids_limit, restart, names):
    """Update the limits and restart policy of one or more containers."""
    from berth.container.spec import from_flags
    given = from_flags("-", memory=memory, memory_swap=memory_swap, cpus=cpus, pids_limit=pids_limit)
    if pids_limit is not None and given.pids_limit is None:
        given.pids_limit = 0  # -1: unlimited, where an absent flag keeps the old limit
    for name in names:
        engine.containers.update(name, memory=given.memory, memory_swap=given.memory_swap, cpus=given.cpus,
                                     pids_limit=given.pids_limit, restart=restart)
        echo(name)


@command("port")
@argument("name")
@argument("private_port", required=False)
def port_cmd(engine, name, private_port):
    """List a container's published ports, or the host address of one (PORT[/PROTO])."""
    from berth.errors import BerthError
    c = engine.containers.get(name)
    wanted = None if private_port is None else (private_port if "/" in private_port else private_port + "/tcp")
    found = False
    for p in c.config.get("ports", []):
        key = f"{p['container_port']}/{p['protocol']}"
        if wanted in (None, key):
            found = True
            echo(("" if wanted else f"{key} -> ") + f"{p['host_ip'] or '0.0.0.0'}:{p['host_port']}")
    if wanted and not found:
        raise BerthError(f"no public port '{wanted}' published for {c.name}")


@container.command("inspect")
@option("-f", "--format", "fmt", help="A template such as '{{.State.Status}}', or json.")
@argument("names", nargs=-1, required=True)
def container_inspect_cmd(engine, fmt, names):
    """Display detailed information on one or more containers."""
    _inspect_each(names, engine.containers.inspect, fmt)


def _inspect_each(names, inspect, fmt):
    """docker's inspect: what was found is printed, then each name not found fails (exit 1)."""
    from berth.errors import BerthError
    docs, failed = [], False
    for n in names:
        try:
            docs.append(inspect(n))
        except BerthError as e:
            echo(f"Error: {e}", err=True)
            failed = True
    _print_inspect(docs, fmt)
    if failed:
        sys.exit(1)


def _print_inspect(docs, fmt):
    if fmt and fmt != "json":
        for d in docs:
            echo(render(fmt, d))
    else:
        echo(cjson.dumps(docs, indent=4))


@container.command("cleanup", hidden=True)
@argument("name")
def cleanup_cmd(engine, name):
    """Called by the container monitor when a container exits."""
    engine.containers.cleanup(name)


@container.command("healthcheck", hidden=True)
@argument("name")
@argument("pid")
def healthcheck_cmd(engine, name, pid):
    """Started by `start` for a container with a health check: runs the checks of the run whose
    first process is PID, until that run ends."""
    engine.containers.watch_health(name, int(pid))


@container.command("prune")
@option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
def container_prune_cmd(engine, force):
    """Remove all stopped containers."""
    if not force and not confirm("WARNING! This will remove all stopped containers.\n"
                                 "Are you sure you want to continue?"):
        return
    removed = engine.containers.prune()
    if removed:
        echo("Deleted Containers:\n" + "\n".join(removed) + "\n")
    echo("Total reclaimed space: 0B")


# ---- volumes ------------------------------------------------------------------------------

volume = Group("volume", "Manage volumes.")


@volume.command("create")
@option("-d", "--driver", default="local")
@option("-o", "--opt", "opts", multiple=True, help="Driver options: type=tmpfs|none|nfs, device=..., o=...")
@option("--label", "labels", multiple=True)
@argument("name", required=False)
def volume_create(engine, driver, opts, labels, name):
    """Create a volume."""
    options = dict(o.partition("=")[::2] for o in opts)
    v = engine.volumes.create(name, driver, options, dict(lbl.partition("=")[::2] for lbl in labels),
                              exist_ok=True)  # as docker
    echo(v["Name"])


@volume.command("ls")
@option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'dangling=true').")
@option("-q", "--quiet", is_flag=True)
@option("--format", "fmt")
def volume_ls(engine, filters, quiet, fmt):
    """List volumes."""
    vols = engine.volumes.list(parse_filters(filters, volume_ls))
    if quiet:
        for v in vols:
            echo(v["Name"])
        return
    emit(vols, fmt, lambda: table(["DRIVER", "VOLUME NAME"], [[v["Driver"], v["Name"]] for v in vols]),
         headers=output.VOLUME_TITLES)


@volume.command("inspect")
@option("-f", "--format", "fmt")
@argument("names", nargs=-1, required=True)
def volume_inspect(engine, fmt, names):
    """Display detailed information on one or more volumes."""
    _inspect_each(names, engine.volumes.inspect, fmt)


@volume.command("rm")
@option("-f", "--force", is_flag=True)
@argument("names", nargs=-1, required=True)
def volume_rm(engine, force, names):
    """Remove one or more volumes."""
    _each(names, lambda n: engine.volumes.remove(n, force=force), echo_name=True)


@volume.command("prune")
@option("-a", "--all", "prune_all", is_flag=True, help="Remove all unused volumes, not just anonymous ones.")
@option("-f", "--force", is_flag=True)
def volume_prune(engine, prune_all, force):
    """Remove unused local volumes."""
    what = "all local volumes" if prune_all else "anonymous local volumes"
    if not force and not confirm(f"WARNING! This will remove {what} not used by at least one container.\n"
                                 "Are you sure you want to continue?"):
        return
    removed, reclaimed = engine.volumes.prune(all=prune_all)
    if removed:
        echo("Deleted Volumes:\n" + "\n".join(removed) + "\n")
    echo(f"Total reclaimed space: {human_size(reclaimed)}")


for _cmd in (create_cmd, run_cmd, start_cmd, stop_cmd, kill_cmd, restart_cmd, rm_cmd, logs_cmd, exec_cmd, wait_cmd,
             top_cmd, stats_cmd, rename_cmd, pause_cmd, unpause_cmd, attach_cmd, port_cmd, update_cmd):
    container.add_command(_cmd)
container.add_command(ps_cmd, "ls")
