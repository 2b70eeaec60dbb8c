"""ContainerSpec: the one typed request for a new container, which every front end fills (the CLI's
`create`/`run` through from_flags, the Docker API from its JSON body, `kube play` from a pod) and
ContainerService.create validates against the image.

Values are typed (bytes, counts, parsed mounts and ports); what docker's engine rather than its client
interprets stays as given (restart policy, stop signal, security options, capabilities, network), so
that each front end reports the same failure the same way.
"""
from __future__ import annotations

import os

from berth.container import options as opts
from berth.record import Record

MountSpec = opts.MountSpec  # the type of ContainerSpec.mounts, for front ends (kube play)


class ContainerSpec(Record):
    image: str
    command: list = None            # None: the image's CMD
    entrypoint: list = None         # None: the image's ENTRYPOINT; []: none
    name: str = None                # None: a generated name
    env: list = []                  # KEY=VALUE, merged over the image's Env
    workdir: str = None
    user: str = None
    hostname: str = None
    tty: bool = False
    stdin: bool = False
    mounts: list = []               # options.MountSpec: -v, --mount and --tmpfs, in that order
    read_only: bool = False
    network: str = None             # none | host | bridge (the default) | container:ID | a user network's name
    networks: list = []             # user networks: [{"name", "aliases", "ip", "ip6"}], the first is `network`
    ports: list = []                # network.bridge.PortMapping
    publish_all: bool = False       # -P: every EXPOSEd port to a free host port
    dns: list = []                  # name servers (a user network's forwards to them)
    dns_search: list = []
    dns_options: list = []
    extra_hosts: list = []          # NAME:IP lines for /etc/hosts (IP may be host-gateway)
    domainname: str = None
    pod: str = None                 # the pod to join (its network, IPC and UTS namespaces, its cgroup)
    pod_infra: str = None           # the ID of the pod this container is the infra container of
    pod_init: bool = False          # an init container of its pod: runs to completion before the others
                                    # (podman's --init-ctr once); the pod's status leaves it out
    memory: int = None              # bytes
    memory_swap: int = None         # bytes of memory + swap; -1: unlimited swap
    cpus: float = None
    pids_limit: int = None          # None: unlimited
    cap_add: list = []
    cap_drop: list = []
    privileged: bool = False
    security_opt: list = []         # no-new-privileges, seccomp=...
    restart: str = "no"             # docker's --restart text
    stop_signal: str = None
    stop_timeout: int = None
    init: bool = False
    auto_remove: bool = False
    labels: dict = {}
    runtime: str = None             # runc | crun | a path; None: detected
    healthcheck: dict = None        # docker's HealthConfig ({"Test": [...], "Interval": ns, ...}); None: the image's
    health_on_failure: str = None   # podman's --health-on-failure: none | kill | restart | stop; None: none
    health_gates_traffic: bool = False  # a readiness check (kube play's): while it is not healthy, the pod
                                        # (or the container) is no backend of its Services

    @property
    def tmpfs(self) -> list:
        return [m for m in self.mounts if m.type == "tmpfs"]


def from_flags(image: str, command: list[str] = (), *, entrypoint: str | None = None, env: list[str] = (),
               env_files: list[str] = (), volumes: list[str] = (), mounts: list[str] = (), tmpfs: list[str] = (),
               publish: list[str] = (), memory: str | None = None, memory_swap: str | None = None,
               cpus: str | None = None, pids_limit: str | None = None, stop_timeout: str | None = None,
               restart: str = "no", auto_remove: bool = False, labels: list[str] = (), network: list[str] = (),
               network_aliases: list[str] = (), ip: str | None = None, ip6: str | None = None,
               add_hosts: list[str] = (),
               health_cmd: str | None = None, health_interval: str | None = None, health_timeout: str | None = None,
               health_start_period: str | None = None, health_start_interval: str | None = None,
               health_retries: str | None = None, no_healthcheck: bool = False, health_on_failure: str | None = None,
               **plain) -> ContainerSpec:
    """A spec from docker's command-line flags, checked as docker's client checks them before it asks
    the engine (FlagError: `create` exits 125 for these). `plain`: the fields that need no parsing."""
    with opts.flag_errors():
        mode, networks = _networks(list(network), list(network_aliases), ip, ip6)
        for entry in add_hosts:
            name, sep, address = entry.partition(":")
            if not sep or not name or not address:
                raise opts.InvalidOption(f"invalid argument {entry!r} for --add-host: expected NAME:IP")
        ports = []
        if publish:
            from berth.network.bridge import parse_publish
            ports = [p for text in publish for p in parse_publish(text)]
        if auto_remove and (restart or "no").partition(":")[0] not in ("", "no"):
            raise opts.InvalidOption("conflicting options: cannot specify both --restart and --rm")
        healthcheck = _healthcheck(health_cmd, health_interval, health_timeout, health_start_period,
                                   health_start_interval, health_retries, no_healthcheck)
        from berth.container.health import validate_on_failure
        on_failure = validate_on_failure(health_on_failure) if health_on_failure not in (None, "") else None
        file_env = [e for f in env_files for e in opts.read_env_file(f)]
        user_env = opts.parse_env(file_env + list(env), dict(os.environ))
        mount_specs = ([opts.parse_volume(v) for v in volumes] + [opts.parse_mount(m) for m in mounts]
                       + [opts.parse_tmpfs(t) for t in tmpfs])
        return ContainerSpec(
            image, list(command) or None, None if entrypoint is None else [entrypoint] if entrypoint else [],
            env=user_env, mounts=mount_specs, ports=ports,
            memory=opts.parse_size(memory, "memory") if memory else None,
            memory_swap=(-1 if memory_swap == "-1" else opts.parse_size(memory_swap, "memory-swap"))
            if memory_swap else None,
            cpus=opts.parse_cpus(cpus) if cpus not in (None, "") else None,
            pids_limit=opts.parse_pids_limit(pids_limit) if pids_limit not in (None, "") else None,
            stop_timeout=opts.parse_int(stop_timeout, "stop-timeout") if stop_timeout is not None else None,
            restart=restart, auto_remove=auto_remove, network=mode, networks=networks, extra_hosts=list(add_hosts),
            labels=dict(label.partition("=")[::2] for label in labels), healthcheck=healthcheck,
            health_on_failure=on_failure, **plain)


def _healthcheck(cmd, interval, timeout, start_period, start_interval, retries, disabled) -> dict | None:
    """--health-* and --no-healthcheck as docker's client turns them into a HealthConfig: None when
    none is given (the image's stands), {"Test": ["NONE"]} for --no-healthcheck; a zero value is
    unset, as in docker."""
    values = {}
    for flag, field, text in (("health-interval", "Interval", interval), ("health-timeout", "Timeout", timeout),
                              ("health-start-period", "StartPeriod", start_period),
                              ("health-start-interval", "StartInterval", start_interval)):
        values[field] = _go_duration(text, flag) if text not in (None, "") else 0
    values["Retries"] = 0
    if retries not in (None, ""):
        try:
            values["Retries"] = int(str(retries).strip())
        except ValueError:
            raise opts.InvalidOption(f'invalid argument "{retries}" for "--health-retries" flag: '
                                     f'strconv.ParseInt: parsing "{retries}": invalid syntax') from None
    given = bool(cmd) or any(values.values())
    if disabled:
        if given:
            raise opts.InvalidOption("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    for flag, field in (("health-interval", "Interval"), ("health-timeout", "Timeout"),
                        ("health-retries", "Retries"), ("health-start-period", "StartPeriod"),
                        ("health-start-interval", "StartInterval")):
        if values[field] < 0:
            raise opts.InvalidOption(f"--{flag} cannot be negative")
    return {"Test": ["CMD-SHELL", cmd] if cmd else [], **values}


def _go_duration(text: str, flag: str) -> int:
    """A Go duration flag (200ms, 1m30s) in nanoseconds; a bare number has no unit, as in docker."""
    from berth.dockerfile import parse_go_duration
    from berth.dockerfile.errors import Problem
    try:
        return parse_go_duration(str(text).strip())
    except Problem as e:
        raise opts.InvalidOption(f'invalid argument "{text}" for "--{flag}" flag: {e}') from None


_BUILTIN_NETWORKS = ("bridge", "host", "none")


def _networks(given: list[str], aliases: list[str], ip: str | None, ip6: str | None = None) -> tuple[str | None, list]:
    """--network (repeatable), --network-alias, --ip and --ip6 as (mode, user networks); the aliases and
    the addresses are for the first network, as docker's client gives them."""
    if not given:
        if aliases or ip or ip6:
            raise opts.InvalidOption("--network-alias, --ip and --ip6 need a user-defined --network")
        return None, []
    special = [n for n in given if n in _BUILTIN_NETWORKS or n.startswith("container:")]
    if special and len(given) > 1:
        raise opts.InvalidOption(f"conflicting options: --network {special[0]} cannot be combined with other networks")
    if special:
        if aliases or ip or ip6:
            raise opts.InvalidOption("--network-alias, --ip and --ip6 are only for user-defined networks")
        return special[0], []
    networks = [{"name": n, "aliases": [], "ip": None, "ip6": None} for n in given]
    networks[0].update(aliases=list(aliases), ip=ip, ip6=ip6)
    return given[0], networks


def recorded_entrypoint(record: dict) -> list | None:
    """A container record's entrypoint as a list (None: the image's). Records made before the spec
    held lists keep the --entrypoint text."""
    value = record.get("entrypoint")
    return [value] if isinstance(value, str) and value else [] if value == "" else value
