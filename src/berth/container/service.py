"""Container lifecycle: create, start, stop, kill, rm, wait, logs, exec, inspect, ... (docker's semantics).

State lives in the store (immutable config row + state row); a running container is held by its
monitor (berth-monitor), which runs `berth container cleanup ID` when the container exits. Every
berth command also reconciles: a container whose exit file exists is finalized by whoever sees it first.
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from functools import cached_property

from berth import cjson
from berth.container import health, options as opts
from berth.container.names import random_name
from berth.errors import BerthError, Conflict, ExecFailed, InvalidArgument
from berth.runtime import monitor, rootfs, spec
from berth.runtime.oci import detect as detect_runtime, runtime_errors
from berth.runtime.security import capabilities
from berth.store import fsutil
from berth.store.containers import Container

DEFAULT_STOP_TIMEOUT = 10
SIGKILL = 9  # Linux's number; the signal module costs an import on every command
INIT_BINARY = "/usr/bin/catatonit"
INIT_PATH = "/dev/init"
# berth.network.service.builtin_id("none") and ("host"), written out: `run --network none` imports
# nothing of the network package, nor hashlib (4 ms), to name them in its events
_BUILTIN_NETWORK_IDS = {"none": "76f0cc99b59e4306c54cf04b93735569ae0a1f86bcd347bae21c008605ff771b",
                        "host": "4df1d0eca5bfccb3edc52d8518697231529dc3f043530c868f1fb50acd95c95f"}


class ContainerService:
    def __init__(self, store, images):
        self.store = store
        self.images = images
        self.records = store.containers
        self.exit_dir = store.exits
        self._runtimes: dict = {}

    def runtime(self, name: str | None = None):
        if name not in self._runtimes:
            self._runtimes[name] = detect_runtime(name, self.store.runtime_state)
        return self._runtimes[name]

    @cached_property
    def networks(self):
        from berth.network.service import NetworkService
        return NetworkService(self.store, self._unready_backends)

    def _unready_backends(self) -> set[str]:
        """The Service backends (the containers holding their network namespaces) that are not Ready,
        as Kubernetes has it: a pod one of whose app containers is not running, or has a readiness
        check (health_gates_traffic) that is not healthy; a container of its own with such a check
        likewise. Init containers and the infra container do not count."""
        from berth.errors import PodNotFound
        out, pods = set(), set()
        for c in self.records.deciding_readiness():
            if not _decides_readiness(c):
                continue
            ready = c.status in ("running", "paused") and (not c.config.get("health_gates_traffic") or (
                health.read(self.records.dir(c.id)) or {}).get("Status") == "healthy")
            if not ready:
                if c.config.get("pod"):
                    pods.add(c.config["pod"])
                else:
                    out.add(c.id)
        for pod_id in pods:
            try:
                out.add(self.store.pods.find(pod_id).infra_id)
            except PodNotFound:
                pass
        return out

    @cached_property
    def volumes(self):
        from berth.container.volumes import VolumeService
        return VolumeService(self.store)

    # ---- lookup and state --------------------------------------------------------------

    def get(self, text: str) -> Container:
        c = self.records.find(text)
        return self.reconcile(c)

    def list(self, all: bool = False, filters: dict | None = None) -> list[Container]:
        """Newest first: the running ones, or `all`; `filters` as docker's `ps --filter` (a status
        filter lists stopped ones too)."""
        keep, wants_all = (None, False)
        if filters:
            from berth.container.filters import container_filter
            keep, wants_all = container_filter(filters, self.images, self.health_status)
        out = []
        for c in self.records.list():
            try:
                c = self.reconcile(c)
            except LookupError:  # removed since the listing (--rm, another process's rm)
                continue
            if (all or wants_all or c.status in ("running", "paused", "restarting")) and (keep is None or keep(c)):
                out.append(c)
        return out

    def summaries(self, all: bool = False, filters: dict | None = None) -> list[dict]:
        """docker's container summaries of list(all, filters), newest first."""
        return self.summaries_of(self.list(all, filters))

    def summaries_of(self, containers: list) -> list[dict]:
        from berth.container.views import summary
        from berth.store.networks import Snapshot
        now, networks = time.time(), Snapshot(self.store.networks)  # not two queries per container
        return [summary(self, c, now, networks) for c in containers]

    def _exit_file(self, cid: str) -> str:
        return os.path.join(self.exit_dir, cid)

    def _attached_lock(self, cid: str) -> str:
        """Held by a client that runs the container in the foreground: the monitor's exit command then
        leaves the exit (--rm, the restart policy) to that client."""
        return os.path.join(self.records.dir(cid), "attached")

    def _cleanup_command(self, cid: str) -> list[str]:
        """What runs when the container exits: finalize, then --rm or the restart policy."""
        return [sys.executable, "-m", "berth", "--root", self.store.root, "container", "cleanup", cid]

    def _restarter_lock(self, cid: str, blocking: bool = False):
        """Held by the `cleanup` process that is about to restart a container (status restarting)."""
        return fsutil.flock(os.path.join(self.records.dir(cid), "restarter"), blocking=blocking)

    def reconcile(self, c: Container) -> Container:
        """Bring a container's recorded state up to date with what its monitor left on disk."""
        if c.status == "restarting":
            try:
                with self._restarter_lock(c.id) as free:
                    if free:  # the process that was to restart it died: it stays exited
                        with self.records.lock(c.id):
                            if self.records.get(c.id).status == "restarting":
                                self.records.update_state(c.id, status="exited")
            except FileNotFoundError:  # removed meanwhile
                pass
            return self.records.get(c.id)
        if c.status not in ("running", "paused"):
            return c
        if self._has_exited(c):
            with self.records.lock(c.id):
                c = self.records.get(c.id)
                if c.status in ("running", "paused"):
                    self._finalize(c)()
            c = self.records.get(c.id)
        return c

    def _has_exited(self, c: Container) -> bool:
        """A container recorded as running whose run is over: its monitor wrote the exit, or died."""
        return os.path.exists(self._exit_file(c.id)) or not _alive(c.state["monitor_pid"])

    def _finalize(self, c: Container):
        """The container has exited: record how, release its runtime state and rootfs mount.
        Returns a function that waits for the runtime to have let go of its state (its `delete` runs
        meanwhile): call it before the container's lock is released, so that no start meets that
        state; a removal does its own work first."""
        bundle = self.records.dir(c.id)
        exit_file = self._exit_file(c.id)
        code, finished = -1, time.time()
        if os.path.exists(exit_file):
            with open(exit_file) as f:
                text = f.read().strip()
            code = int(text) if text.lstrip("-").isdigit() else -1
            finished = os.stat(exit_file).st_mtime
            os.unlink(exit_file)
        # an OOM kill of any of its processes, as docker reports it: the memory cgroup's own counter,
        # read before `delete` removes the cgroup
        from berth.runtime.cgroups import oom_killed
        oom = oom_killed(_cgroup(c))
        # nothing below depends on the runtime's state
        deleted = self.runtime(c.config.get("runtime")).delete_async(c.id, force=True)
        rootfs.unmount(os.path.join(bundle, "rootfs"))
        self.volumes.release(c)
        self._detach_network(c)
        # docker's order: oom, die, then what the exit let go of
        events = [container_event(c, "oom")] if oom else []
        ran = int(finished - (c.state["started_at"] or finished))
        events.append(container_event(c, "die", exitCode=str(code), execDuration=str(ran)))
        events += self._network_events(c, "disconnect") + _volume_events(c, "unmount")
        self.records.update_state(c.id, events, status="exited", pid=0, monitor_pid=0, exit_code=code,
                                  oom_killed=int(oom), finished_at=finished)
        if _decides_readiness(c):  # its pod is not Ready any more
            self.networks.readiness_changed(c)
        return deleted

    def cleanup(self, text: str) -> None:
        """Run by the monitor when a container exits: finalize, then auto-remove or restart per policy.

        A restart waits docker's back-off (100 ms doubling per restart, reset after a 10 s run) in
        state `restarting`; `stop` and `rm` during that wait cancel it. This process holds the
        restarter lock meanwhile, so a restarter killed mid-wait leaves an exited container."""
        try:
            c = self.records.find(text)
            # under the lock: whoever started this run holds it until the run is recorded as running,
            # and a short-lived command can exit (and the monitor run this) before that
            with self.records.lock(c.id):
                c = self.records.get(c.id)
                if c.status in ("running", "paused") and self._has_exited(c):
                    self._finalize(c)()
                    c = self.records.get(c.id)
        except LookupError:
            return
        if c.status != "exited":
            return
        if c.config.get("auto_remove"):
            try:
                with fsutil.flock(self._attached_lock(c.id), blocking=False) as free:
                    if free:  # no foreground client: it would remove the container itself
                        self.remove(c.id, force=True, volumes=True)
            except (FileNotFoundError, LookupError):  # removed meanwhile
                pass
            return
        policy = opts.RestartPolicy(**c.config.get("restart", {}))
        if policy.name == "no":
            return
        try:
            # blocking: the cleanup of the previous run may still be letting go of it
            with self._restarter_lock(c.id, blocking=True):
                self._restart_per_policy(c.id, policy)
        except FileNotFoundError:  # removed meanwhile
            return

    def _restart_per_policy(self, cid: str, policy: opts.RestartPolicy) -> None:
        with self.records.lock(cid):
            try:
                c = self.records.get(cid)
            except LookupError:
                return
            if c.status != "exited" or not policy.should_restart(
                    c.state["exit_code"], c.state["restart_count"], bool(c.state["stopped_by_user"])):
                return
            self.records.update_state(cid, status="restarting", restart_count=c.state["restart_count"] + 1)
        time.sleep(_restart_delay(c.state))
        with self.records.lock(cid):
            try:
                c = self.records.get(cid)
            except LookupError:
                return
            if c.status != "restarting":  # stopped, removed or started meanwhile
                return
            try:
                self._start_locked(c)
            except BaseException as e:
                self._undo_start(c)
                self.records.update_state(cid, status="exited", error=str(e))
                raise

    # ---- create ------------------------------------------------------------------------

    def create(self, spec) -> Container:
        """A new container from a ContainerSpec: checked against its image, then recorded."""
        img = self.images.get(spec.image)
        record = self._container_config(spec, self.images.store.images.config(img).config)
        return self._persist(record, str(img.id), spec.name)

    def _container_config(self, spec, ic: dict) -> dict:
        """The container's immutable configuration record: the spec over the image's config, every
        value checked before anything is written."""
        if spec.name is not None and not opts.valid_name(spec.name):
            raise opts.InvalidOption(f"invalid container name {spec.name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        if spec.entrypoint is not None:
            args = list(spec.entrypoint) + list(spec.command or [])
        else:
            args = list(ic.get("Entrypoint") or []) + list(spec.command or ic.get("Cmd") or [])
        if not args:
            raise InvalidArgument("no command specified: the image has no CMD or ENTRYPOINT and none was given")
        if spec.workdir and not spec.workdir.startswith("/"):
            raise opts.InvalidOption(f"the working directory {spec.workdir!r} is invalid: it needs to be an "
                                     "absolute path")
        network, networks = spec.network or "bridge", []  # docker's and podman's default
        pod = self._pod_of(spec)
        if pod is not None:
            network = f"container:{pod.infra_id}" if "net" in pod.config["share"] else network
        elif network.startswith("container:"):
            network = f"container:{self.get(network.partition(':')[2]).id}"
        elif network not in ("none", "host", "bridge"):
            networks = self.networks.resolve_attachments(
                spec.networks or [{"name": network, "aliases": [], "ip": None}])
            network = networks[0]["name"]
        ports = list(spec.ports)
        if spec.publish_all:
            from berth.network.bridge import parse_publish
            ports += [p for exposed in sorted(ic.get("ExposedPorts") or {}) for p in parse_publish(exposed)]
        if ports and (network in ("none", "host") or network.startswith("container:")):
            raise opts.InvalidOption(f"conflicting options: port publishing and --network {network}")
        policy = opts.RestartPolicy.parse(spec.restart)
        env = opts.merge_env(list(ic.get("Env") or []), list(spec.env))
        if not any(e.startswith("PATH=") for e in env):
            from berth.image.config import DEFAULT_PATH
            env.insert(0, DEFAULT_PATH)
        mounts = [opts.MountSpec(**m.__dict__) for m in spec.mounts]  # sources are filled in below
        for m in mounts:
            if m.type == "bind" and not os.path.exists(m.source):
                raise opts.InvalidOption(f"invalid mount: bind source path does not exist: {m.source}")
        targets = [m.target for m in mounts]
        if len(set(targets)) != len(targets):
            raise opts.InvalidOption("duplicate mount point in -v/--mount/--tmpfs")
        mounts += [opts.MountSpec("volume", vol) for vol in (ic.get("Volumes") or {}) if vol not in targets]
        resources = _resources(spec)
        caps = capabilities(spec.cap_add, spec.cap_drop, spec.privileged)
        no_new_privs, seccomp_setting = opts.parse_security_opts(spec.security_opt, spec.privileged)
        stop_sig = spec.stop_signal or ic.get("StopSignal") or "SIGTERM"
        opts.parse_signal(stop_sig)
        health.validate(spec.healthcheck)
        healthcheck = health.merge(ic.get("Healthcheck"), spec.healthcheck)
        on_failure = health.validate_on_failure(spec.health_on_failure)
        if on_failure == "restart" and spec.auto_remove:  # its exit would remove it, not restart it
            raise opts.InvalidOption("conflicting options: cannot specify both --health-on-failure restart and --rm")
        rt = self.runtime(spec.runtime)
        if spec.init and not os.path.exists(INIT_BINARY):
            raise BerthError(f"--init needs {INIT_BINARY} (apt-get install catatonit)")
        return {
            "image": spec.image, "args": args, "entrypoint": spec.entrypoint, "cmd": list(spec.command or []),
            "env": env, "workdir": spec.workdir or ic.get("WorkingDir") or "/",
            "user": spec.user if spec.user is not None else ic.get("User", ""),
            "hostname": spec.hostname or (_pod_hostname(pod) if pod and "uts" in pod.config["share"] else None),
            "tty": spec.tty, "stdin": spec.stdin,
            "mounts": mounts, "read_only": spec.read_only, "network": network, "networks": networks,
            "ports": [p.__dict__ for p in ports], "dns": list(spec.dns), "dns_search": list(spec.dns_search),
            "dns_options": list(spec.dns_options), "extra_hosts": list(spec.extra_hosts),
            "domainname": spec.domainname or "",
            "pod": pod.id if pod else spec.pod_infra, "pod_infra": bool(spec.pod_infra),
            "pod_init": spec.pod_init,
            "resources": resources, "capabilities": caps, "privileged": spec.privileged,
            "cap_add": _cap_names(spec.cap_add), "cap_drop": _cap_names(spec.cap_drop),
            "tmpfs": {m.target: ",".join(m.options) for m in spec.tmpfs},
            "no_new_privileges": no_new_privs, "seccomp": seccomp_setting, "security_opt": list(spec.security_opt),
            "restart": {"name": policy.name, "max_retries": policy.max_retries},
            "stop_signal": stop_sig,
            "stop_timeout": DEFAULT_STOP_TIMEOUT if spec.stop_timeout is None else spec.stop_timeout,
            "init": spec.init, "auto_remove": spec.auto_remove,
            "labels": {**(ic.get("Labels") or {}), **spec.labels},
            # docker's HealthConfig, and the image's SHELL that a CMD-SHELL check runs with
            "healthcheck": healthcheck, "shell": list(ic.get("Shell") or []) or None,
            "health_on_failure": on_failure,
            "health_gates_traffic": bool(spec.health_gates_traffic),
            "runtime": rt.name if spec.runtime in (None, "", "auto", "runc", "crun") else spec.runtime,
        }

    def _pod_of(self, spec):
        """The pod a new container joins (None: none, or it is an infra container), checked: a pod's
        container takes the pod's network, so it may not ask for one of its own."""
        if not spec.pod:
            return None
        pod = self.store.pods.find(spec.pod)
        if "net" in pod.config["share"] and (spec.network or spec.networks or spec.ports or spec.publish_all):
            raise opts.InvalidOption(f"conflicting options: a container of pod {pod.name} uses the pod's network "
                                     "(no --network, -p or -P; publish ports with `pod create -p`)")
        return pod

    def _persist(self, record: dict, image_id: str, name: str | None) -> Container:
        """Make the bundle directories and the volumes, then add the records (a generated name taken
        by a concurrent create is drawn again); on failure, nothing is left."""
        cid = os.urandom(32).hex()
        record["hostname"] = record["hostname"] or cid[:12]
        volume_rows = []
        for m in record["mounts"]:
            if m.type == "volume":
                if not m.source:
                    m.source = os.urandom(32).hex()
                    self.volumes.create(m.source, anonymous=True, exist_ok=True)
                else:
                    self.volumes.create(m.source, exist_ok=True)
                volume_rows.append((m.source, m.target))
        record["mounts"] = [m.__dict__ for m in record["mounts"]]
        bundle = self.records.dir(cid)
        for sub in ("", "upper", "work", "rootfs"):
            os.makedirs(os.path.join(bundle, sub), mode=0o700 if not sub else 0o755, exist_ok=True)
        try:
            for attempt in range(20):
                chosen = name or self._free_name()
                try:
                    return self.records.add(cid, chosen, image_id, record, volume_rows,
                                            events=[_event_of(cid, chosen, record, "create")])
                except Conflict:
                    if name is not None or attempt == 19:
                        raise
        except BaseException:
            fsutil.remove_tree(bundle)
            for vol, _ in volume_rows:
                self.volumes.remove_if_anonymous_unused(vol)
            raise

    def _free_name(self) -> str:
        for _ in range(100):
            candidate = random_name()
            if not self.records.name_taken(candidate):
                return candidate
        return f"{random_name()}_{os.urandom(3).hex()}"

    # ---- start / stop ------------------------------------------------------------------

    def start(self, text: str, attach: bool = False, console_size: tuple[int, int] | None = None):
        """Start a container. With attach, returns (container, connected attach socket): the socket
        is connected before the process starts, so no output is missed. `console_size` (rows,
        columns) is a -t container's terminal size from its first instruction on."""
        c = self.records.find(text)
        with self.records.lock(c.id):
            c = self.records.get(c.id)
            if c.status in ("running", "paused"):
                if self._has_exited(c):
                    self._finalize(c)()
                elif attach:  # already running: attach to it
                    from berth.runtime.attach import connect
                    return c, connect(self.records.dir(c.id))
                else:
                    return c
            try:
                sock = self._start_locked(c, attach, console_size)
            except BaseException as e:
                self._undo_start(c)
                self.records.update_state(c.id, error=str(e))
                raise
        c = self.records.get(c.id)
        return (c, sock) if attach else c

    def _start_locked(self, c: Container, attach: bool = False, console_size=None):
        cfg = c.config
        bundle = self.records.dir(c.id)
        target = os.path.join(bundle, "rootfs")
        rt = self.runtime(cfg.get("runtime"))
        rt.delete(c.id, force=True)  # leftovers of an earlier run
        for leftover in ("pidfile", "runtime.log"):
            try:
                os.unlink(os.path.join(bundle, leftover))
            except FileNotFoundError:
                pass
        from berth.oci.digest import Digest
        image = self.images.store.images.get(Digest.parse(c.image_id))
        lowers = [self.images.store.layers.diff_path(chain) for chain in reversed(image.chain)]
        if not rootfs.is_mounted(target):
            rootfs.mount_overlay(lowers, os.path.join(bundle, "upper"), os.path.join(bundle, "work"), target,
                                 volatile=bool(cfg.get("auto_remove")))
        from berth.runtime.users import resolve
        uid, gid, groups, home = resolve(target, cfg["user"])
        env = list(cfg["env"])
        if not any(e.startswith("HOSTNAME=") for e in env):
            env.insert(1 if env and env[0].startswith("PATH=") else 0, f"HOSTNAME={cfg['hostname']}")
        if not any(e.startswith("HOME=") for e in env):
            env.append(f"HOME={home}")
        if cfg["tty"] and not any(e.startswith("TERM=") for e in env):
            env.append("TERM=xterm")
        args = list(cfg["args"])
        joined = {}  # namespaces of the pod's infra container this one shares
        if cfg.get("pod") and not cfg.get("pod_infra"):
            pod = self.store.pods.find(cfg["pod"])
            infra = self.records.get(pod.infra_id)
            if infra.status not in ("running", "paused"):
                self.start(infra.id)  # as podman: a pod's container starts its infra container
                infra = self.records.get(pod.infra_id)
            joined = {kind: f"/proc/{infra.state['pid']}/ns/{kind}" for kind in ("ipc", "uts")
                      if kind in pod.config["share"]}
        elif cfg.get("pod_infra"):
            from berth.runtime.cgroups import set_group_limits
            pod = self.store.pods.find(cfg["pod"])
            set_group_limits(_pod_cgroup(cfg["pod"]), pod.config.get("memory"), pod.config.get("cpus"))
        net = self._attach_network(c)
        netns_path = net.netns if net else None
        if cfg["network"].startswith("container:"):  # its network namespace, and its view of names
            other = self._running(cfg["network"].partition(":")[2])
            netns_path = f"/proc/{other.state['pid']}/ns/net" if other.config["network"] != "host" else None
            mounts = [spec.Mount(f"/etc/{name}", os.path.join(self.records.dir(other.id), name), "bind",
                                 ["rbind", "rprivate"]) for name in ("hostname", "hosts", "resolv.conf")]
        else:
            mounts = rootfs.etc_mounts(bundle, cfg["hostname"], cfg["network"], address=net.address if net else "",
                                       address6=net.address6 if net else "",
                                       resolv=self._resolv_conf(c, net), extra_hosts=self._extra_hosts(c, net))
        if cfg["init"]:
            mounts.append(spec.Mount(INIT_PATH, INIT_BINARY, "bind", ["bind", "ro", "nosuid", "nodev"]))
            args = [INIT_PATH, "--"] + args
        mounts += self.volumes.mounts_for(c, target)
        process = spec.ProcessSpec(args=args, env=env, cwd=cfg["workdir"], uid=uid, gid=gid, groups=groups,
                                   terminal=cfg["tty"], console_size=console_size, capabilities=cfg["capabilities"],
                                   no_new_privileges=cfg["no_new_privileges"])
        doc = spec.build(process, hostname=cfg["hostname"], domainname=cfg.get("domainname", ""), mounts=mounts,
                         readonly_rootfs=cfg["read_only"],
                         network="host" if cfg["network"] == "host" or (cfg["network"].startswith("container:")
                                                                       and netns_path is None) else "own",
                         netns_path=netns_path,
                         resources=spec.Resources(**cfg["resources"]),
                         cgroups_path=_cgroup(c),
                         join=joined,
                         masked=not cfg["privileged"],
                         seccomp_setting=cfg.get("seccomp", "unconfined" if cfg["privileged"] else "default"))
        fsutil.atomic_write(os.path.join(bundle, "config.json"), cjson.dumps(doc).encode())
        # while a foreground `berth run` holds the `attached` lock, that client records the exit and
        # removes a --rm container itself, and the monitor starts no Python process in its way
        pid, monitor_pid, sock = monitor.start(
            runtime=rt, cid=c.id, bundle=bundle, exit_file=self._exit_file(c.id), terminal=cfg["tty"],
            stdin=cfg["stdin"], exit_command=self._cleanup_command(c.id), exit_lock=self._attached_lock(c.id),
            log_path=self.log_path(c), attach=attach)
        events = [container_event(c, "attach")] if attach else []
        events += self._network_events(c, "connect") + _volume_events(c, "mount") + [container_event(c, "start")]
        self.records.update_state(c.id, events, status="running", pid=pid, monitor_pid=monitor_pid, exit_code=0,
                                  oom_killed=0, started_at=time.time(), finished_at=None, stopped_by_user=0,
                                  error="")
        if cfg.get("ports"):  # the running container holds its ports now, not this process
            from berth.network import bridge, hostports
            hostports.settle(c.id, [bridge.PortMapping(**p) for p in cfg["ports"]])
        self._start_health_checks(c, pid)
        if _decides_readiness(c):  # its pod may be Ready now; a check that gates traffic: not yet
            self.networks.readiness_changed(c)
        return sock

    def _start_health_checks(self, c: Container, pid: int) -> None:
        """A run of a container with a health check starts as `starting` (the Log of earlier runs
        kept), with a checker of its own that ends with the run (container.healthcheck)."""
        if health.probe(c.config.get("healthcheck"), c.config.get("shell")) is None:
            return
        # the container runs whatever happens here: a failure leaves only its checks missing (and
        # says so in the Log when it can)
        from berth.runtime.process import start_detached
        bundle = self.records.dir(c.id)
        state = health.fresh(health.read(bundle))
        try:
            start_detached([sys.executable, "-m", "berth", "--root", self.store.root, "container",
                            "healthcheck", c.id, str(pid)])
        except OSError as e:
            now = time.time()
            result = {"Start": now, "End": now, "ExitCode": -1, "Output": f"cannot start the health checker: {e}"}
            health.apply(state, result, health.Settings(c.config["healthcheck"]), now)
        try:  # before the checker's first result: it waits for the lock held here
            health.write(bundle, state)
        except OSError:
            pass

    def health_state(self, c: Container) -> dict | None:
        """docker's State.Health of a container with a health check that has run (None: none)."""
        if health.probe(c.config.get("healthcheck"), c.config.get("shell")) is None:
            return None
        return health.shown(health.read(self.records.dir(c.id)), c.status == "running")

    def health_status(self, c: Container) -> str:
        """starting, healthy, unhealthy, or none (`ps --filter health=`)."""
        state = self.health_state(c)
        return state["Status"] if state else "none"

    def watch_health(self, text: str, pid: int) -> None:
        """The checker of the run whose first process is `pid` (started by start): runs its health
        checks until that run ends."""
        from berth.container.healthcheck import Checker
        Checker(self, self.records.find(text).id, pid).run()

    def act_on_unhealthy(self, cid: str, started_at: float) -> None:
        """podman's --health-on-failure, taken by the checker of the run that started at `started_at`
        on a failed probe while it is unhealthy (nothing if another run or none is under way by
        now): kill (SIGKILL;
        the restart policy applies as to any exit), stop (as `stop`: no restart by the policy) or
        restart (as kubelet restarts a container whose liveness probe fails: the run is stopped,
        and a new run starts at once, counted in RestartCount)."""
        try:
            self._act_on_unhealthy(cid, started_at)
        except (LookupError, FileNotFoundError):  # removed meanwhile
            pass

    def _act_on_unhealthy(self, cid: str, started_at: float) -> None:
        action = self.records.get(cid).config.get("health_on_failure") or "none"
        if action == "restart":
            # held from the stop to the new run: the exit's `cleanup` then finds the container
            # running again and leaves it alone, whatever its restart policy
            with self._restarter_lock(cid, blocking=True):
                self._restart_unhealthy(cid, started_at)
            return
        if action not in ("kill", "stop"):
            return
        with self.records.lock(cid):
            c = self.records.get(cid)
            if c.status != "running" or c.state["started_at"] != started_at:
                return
            if action == "kill":  # not "stopped by the user": the restart policy applies
                self.runtime(c.config.get("runtime")).kill(c.id, SIGKILL, all_processes=True)
                self._log(container_event(c, "kill", signal=str(SIGKILL)))
                return
            self.records.update_state(c.id, stopped_by_user=1)
        self._end_run(c)
        self._log(container_event(self.records.get(c.id), "stop"))

    def _restart_unhealthy(self, cid: str, started_at: float) -> None:
        with self.records.lock(cid):
            c = self.records.get(cid)
            if c.status != "running" or c.state["started_at"] != started_at:
                return
        self._end_run(c)
        with self.records.lock(cid):
            c = self.records.get(cid)
            if c.state["started_at"] != started_at:  # started again meanwhile
                return
            if c.status in ("running", "paused"):
                if not self._has_exited(c):
                    return  # it would not stop: as kubelet, try again on the next failure
                self._finalize(c)()
                c = self.records.get(cid)
            if c.status != "exited" or c.state["stopped_by_user"]:  # stopped or removed by the user meanwhile
                return
            self.records.update_state(cid, restart_count=c.state["restart_count"] + 1)
            c = self.records.get(cid)
            try:
                self._start_locked(c)
            except BaseException as e:
                self._undo_start(c)
                self.records.update_state(cid, error=str(e))
                raise
        self._log(container_event(c, "restart"))

    def _running(self, text: str) -> Container:
        other = self.get(text)
        if other.status not in ("running", "paused"):
            raise Conflict(f"cannot join the network of container {other.name}: it is not running")
        return other

    def _resolv_conf(self, c: Container, net) -> str | None:
        """/etc/resolv.conf: on a user network its name server (the gateway), which forwards the
        rest; elsewhere the host's, with --dns, --dns-search and --dns-option over it."""
        cfg = c.config
        if not (cfg.get("networks") or cfg.get("dns") or cfg.get("dns_search") or cfg.get("dns_options")):
            return None  # etc_mounts' default for the mode
        if cfg.get("networks"):
            base = rootfs.resolv_conf("", [net.gateway], cfg.get("dns_search") or _host_search(),
                                      cfg.get("dns_options") or ["ndots:0"])
            return base
        base = rootfs.read_host_resolv(cfg["network"])
        return rootfs.resolv_conf(base, cfg.get("dns") or [], cfg.get("dns_search") or [], cfg.get("dns_options") or [])

    def _extra_hosts(self, c: Container, net) -> list[tuple[str, str]]:
        """--add-host NAME:IP; host-gateway is the host's address on the container's (first) network."""
        out = []
        for entry in c.config.get("extra_hosts") or []:
            name, _, address = entry.partition(":")
            if address == "host-gateway":
                from berth.network.bridge import GATEWAY
                address = net.gateway if net else GATEWAY
            out.append((name, address))
        return out

    def _undo_start(self, c: Container) -> None:
        """What a failed start leaves: the network, the rootfs mount, the volumes it mounted."""
        self._detach_network(c)
        rootfs.unmount(os.path.join(self.records.dir(c.id), "rootfs"))
        self.volumes.release(c)

    def _attach_network(self, c: Container):
        """The container's network namespace, addresses and published ports (bundle/network.json says
        what they are, for inspect); None where it has none of its own (none, host, container:)."""
        mode = c.config["network"]
        if mode in ("none", "host") or mode.startswith("container:"):
            return None
        from berth.network import bridge
        ports = [bridge.PortMapping(**p) for p in c.config.get("ports", [])]
        if mode == "bridge":
            net = bridge.attach(c.id, ports)
            connected = self.networks.interfaces(c, default_route=False)  # `network connect` since
            for index, iface in enumerate(connected, start=1):
                bridge.add_interface(c.id, iface, index)
        else:
            net = bridge.attach(c.id, ports, self.networks.interfaces(c))
        fsutil.atomic_write(os.path.join(self.records.dir(c.id), "network.json"), cjson.dumps(net.__dict__).encode())
        self.networks.reconcile_services(c.id)  # the services it is a backend of send to its address now
        return net

    def _detach_network(self, c: Container) -> None:
        mode = c.config["network"]
        if mode in ("none", "host") or mode.startswith("container:"):
            return
        from berth.network import bridge
        net = self.network_settings(c)
        veths = [bridge.user_veth(c.id, a["id"]) for a in self.networks.attachments(c)]
        if net is None and not os.path.exists(bridge.namespace(c.id)) and not veths:
            return  # not attached, or detached already (finalize, then rm)
        ports = [bridge.PortMapping(**p) for p in c.config.get("ports", [])]
        bridge.detach(c.id, net["address"] if net and mode == "bridge" else None,
                      published=bool(ports), veths=veths, leased=mode == "bridge",
                      published6=any(e.address6 for e in self.store.networks.container_endpoints(c.id)), ports=ports)
        try:
            os.unlink(os.path.join(self.records.dir(c.id), "network.json"))
        except FileNotFoundError:
            pass
        self.networks.reconcile_services(c.id)  # the services it is a backend of stop sending to it

    def _network_events(self, c: Container, action: str) -> list[tuple]:
        """connect or disconnect events of the networks the container is on, as docker logs them (the
        built-in none and host too; a container that shares another's network is on none of its own)."""
        mode = c.config["network"]
        if mode.startswith("container:"):
            return []
        if mode in ("none", "host"):
            return [("network", action, _BUILTIN_NETWORK_IDS[mode],
                     {"container": c.id, "name": mode, "type": "null" if mode == "none" else "host"})]
        from berth.network.service import builtin_id
        found = [(builtin_id("bridge"), "bridge")] if mode == "bridge" else []
        found += [(a["id"], a["name"]) for a in self.networks.attachments(c)]
        return [("network", action, nid, {"container": c.id, "name": name, "type": "bridge"}) for nid, name in found]

    def _log(self, *events: tuple) -> None:
        self.store.events.append(*events)

    def network_endpoints(self, c: Container, records=None) -> list[dict]:
        """The container's places on user networks (inspect): name, ID, address, prefix, gateway, aliases.
        `records`: the store's network records, or a store.networks.Snapshot of them."""
        records = records or self.store.networks
        out = []
        for a in self.networks.attachments(c, records):
            endpoint = records.endpoint(a["id"], c.id)
            try:
                network = records.find(a["id"])
            except LookupError:
                continue
            out.append({"name": network.name, "id": network.id, "address": endpoint.address if endpoint else "",
                        "prefix": int(network.subnet.split("/")[1]), "gateway": network.gateway,
                        "address6": endpoint.address6 if endpoint else "",
                        "prefix6": int(network.subnet6.partition("/")[2] or 0), "gateway6": network.gateway6,
                        "requested": (a.get("ip"), a.get("ip6")),
                        "aliases": (endpoint.aliases if endpoint else a["aliases"]) + [c.short_id]})
        return out

    def network_settings(self, c: Container) -> dict | None:
        try:
            with open(os.path.join(self.records.dir(c.id), "network.json")) as f:
                return cjson.load(f)
        except (FileNotFoundError, ValueError):
            return None

    def stop(self, text: str, timeout: int | None = None, signal: str | None = None) -> Container:
        return self.stop_many([text], timeout, signal)[0]

    def stop_many(self, texts: list[str], timeout: int | None = None, signal: str | None = None) -> list[Container]:
        """Stop containers together, as docker's CLI and podman's `pod stop` do: each gets its stop
        signal first, then each is waited for within its own timeout (SIGKILL after it)."""
        found = []
        for text in texts:
            c = self.get(text)
            # marked under the lock, whatever the state: a restart policy's `cleanup` decides under the
            # same lock, so a container that is exiting, or waiting to restart, stays stopped
            with self.records.lock(c.id):
                c = self.records.get(c.id)
                if c.status == "restarting":
                    self.records.update_state(c.id, status="exited", stopped_by_user=1)
                elif c.status != "created":
                    self.records.update_state(c.id, stopped_by_user=1)
            found.append(self.get(c.id))
        ending = [(c, self._signal_stop(c, timeout, signal)) for c in found if c.status in ("running", "paused")]
        for c, deadline in ending:
            self._await_stop(c, deadline)
        out = []
        for c in found:
            if any(c is e for e, _ in ending):
                c = self.reconcile(self.records.get(c.id))
                self._log(container_event(c, "stop"))
            out.append(c)
        return out

    def _end_run(self, c: Container, timeout: int | None = None, signal: str | None = None) -> None:
        """The stop signal, and SIGKILL if the container outlives the timeout; returns once it exited."""
        self._await_stop(c, self._signal_stop(c, timeout, signal))

    def _signal_stop(self, c: Container, timeout: int | None, signal: str | None) -> float:
        """Send the stop signal; returns the monotonic deadline for the container to exit by."""
        timeout = c.config.get("stop_timeout", DEFAULT_STOP_TIMEOUT) if timeout is None else timeout
        rt = self.runtime(c.config.get("runtime"))
        if c.status == "paused":
            rt.resume(c.id)
        sig = opts.parse_signal(signal or c.config.get("stop_signal") or "SIGTERM")
        rt.kill(c.id, sig)
        self._log(container_event(c, "kill", signal=str(sig)))
        return time.monotonic() + timeout if timeout >= 0 else float("inf")

    def _await_stop(self, c: Container, deadline: float) -> None:
        if not self._wait_exit(c, max(0.0, deadline - time.monotonic())):
            self.runtime(c.config.get("runtime")).kill(c.id, SIGKILL, all_processes=True)
            self._log(container_event(c, "kill", signal=str(SIGKILL)))
            self._wait_exit(c, 10)

    def _wait_exit(self, c: Container, timeout: float) -> bool:
        started = time.monotonic()
        delay, deadline = 0.002, started + timeout
        while time.monotonic() < deadline:
            if self._has_exited(c):
                return True
            fresh = self.records.get(c.id)
            if fresh.status not in ("running", "paused"):
                return True
            time.sleep(delay)
            delay = _next_poll(delay, started)
        return False

    def kill(self, text: str, signal: str = "KILL") -> Container:
        c = self.get(text)
        if c.status not in ("running", "paused"):
            raise Conflict(f"cannot kill container {c.name}: container is not running")
        sig = opts.parse_signal(signal)
        rt = self.runtime(c.config.get("runtime"))
        # as docker: SIGKILL or the stop signal means "stopped by the user" (no restart), and a
        # paused container is resumed so that it can act on the signal
        final = sig in (SIGKILL, opts.parse_signal(c.config.get("stop_signal") or "SIGTERM"))
        if final:
            self.records.update_state(c.id, stopped_by_user=1)
        rt.kill(c.id, sig)
        self._log(container_event(c, "kill", signal=str(sig)))
        if final and c.status == "paused":
            rt.resume(c.id)
            self.records.update_state(c.id, status="running")
        return c

    def restart(self, text: str, timeout: int | None = None) -> Container:
        c = self.start(self.stop(text, timeout).id)
        self._log(container_event(c, "restart"))
        return c

    def pause(self, text: str) -> None:
        c = self.get(text)
        if c.status != "running":
            raise Conflict(f"container {c.name} is not running")
        self.runtime(c.config.get("runtime")).pause(c.id)
        self.records.update_state(c.id, [container_event(c, "pause")], status="paused")
        with self.records.lock(c.id):  # as dockerd: the checks stop, and it is unhealthy until one passes
            bundle = self.records.dir(c.id)
            state = health.read(bundle)
            if state is not None and state["Status"] != "unhealthy":
                health.write(bundle, {**state, "Status": "unhealthy"})

    def unpause(self, text: str) -> None:
        c = self.get(text)
        if c.status != "paused":
            raise Conflict(f"container {c.name} is not paused")
        self.runtime(c.config.get("runtime")).resume(c.id)
        self.records.update_state(c.id, [container_event(c, "unpause")], status="running")

    def attach(self, text: str):
        """An Attachment to a running container's stdio (`attach`)."""
        from berth.container.attachment import Attachment
        from berth.runtime.attach import connect
        c = self.get(text)
        if c.status != "running":
            raise Conflict("You cannot attach to a stopped container, start it first")
        attachment = Attachment(self, c, connect(self.records.dir(c.id)))
        self._log(container_event(c, "attach"))
        return attachment

    @contextmanager
    def run_attached(self, text: str, console_size: tuple[int, int] | None = None, remove: bool = False,
                     remove_on_failure: bool = True):
        """Start a container with this client attached from its first byte (run without -d, start -a);
        yields the Attachment. The client, not the monitor's exit command, handles the exit: a `remove`
        container is removed once the block ends, and a restart policy is applied in the background,
        as docker's engine does after `docker run` returns."""
        from berth.container.attachment import Attachment
        c = self.records.find(text)
        with fsutil.flock(self._attached_lock(c.id)):
            try:
                c, sock = self.start(c.id, attach=True, console_size=console_size)
            except BaseException:
                if remove_on_failure:
                    self.remove(c.id, force=True, volumes=True)
                raise
            attachment = Attachment(self, c, sock, finish=self._remove_at_exit if remove else self.wait)
            try:
                yield attachment
            finally:
                attachment.close()
            if remove and attachment.exit_code is None:  # the front end did not pump it to its end
                self.remove(c.id, force=True, volumes=True)
        if not remove and c.config["restart"]["name"] != "no":
            import subprocess
            subprocess.Popen(self._cleanup_command(c.id), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)

    def _remove_at_exit(self, cid: str) -> int:
        """A --rm container's exit code once it has exited, finalized and removed in one go."""
        with self.records.waiting(cid):
            try:
                self._wait_exit(self.records.get(cid), float("inf"))
                return self.remove(cid, force=True, volumes=True).state["exit_code"]
            except LookupError:  # removed meanwhile (rm -f): its code was kept for us
                code = self.records.removed_exit_code(cid)
                if code is None:
                    raise
                return code

    def run_mark(self, text: str) -> tuple[str, tuple]:
        """(ID, a mark of the container's latest run), for wait_until's next-exit."""
        c = self.get(text)
        return c.id, (c.state["started_at"], c.state["finished_at"])

    def wait_until(self, cid: str, condition: str = "not-running", mark: tuple | None = None) -> int:
        """Block until the container meets docker's wait `condition`; returns its exit code.
        not-running: now, if it is not running; next-exit: the end of a run after `mark` (run_mark),
        also of one not started yet; removed: once it is gone."""
        if condition == "not-running":
            return self.wait(cid)
        delay, started = 0.005, time.monotonic()
        with self.records.waiting(cid):
            while True:
                try:
                    c = self.reconcile(self.records.get(cid))
                except LookupError:
                    if condition == "removed" and os.path.exists(self.records.dir(cid)):
                        time.sleep(delay)  # the record is gone, its files are going: removed means both
                        continue
                    code = self.records.removed_exit_code(cid)
                    return -1 if code is None else code
                if (condition == "next-exit" and c.status not in ("running", "paused", "restarting")
                        and c.state["finished_at"] and (c.state["started_at"], c.state["finished_at"]) != mark):
                    return c.state["exit_code"]
                time.sleep(delay)
                delay = _next_poll(delay, started)

    def resize(self, text: str, rows: int, columns: int) -> None:
        """A -t container's terminal size."""
        from berth.runtime.attach import resize
        c = self.get(text)
        if c.status != "running":
            raise Conflict(f"container {c.name} is not running")
        resize(self.records.dir(c.id), rows, columns)

    def wait(self, text: str) -> int:
        c = self.get(text)
        # the monitor writes the exit file before it ends the output: look soon, then back off
        delay, started = 0.002, time.monotonic()
        with self.records.waiting(c.id):
            while True:
                try:
                    c = self.reconcile(self.records.get(c.id))
                except LookupError:  # removed (--rm, or rm -f) since: its code was kept for us
                    code = self.records.removed_exit_code(c.id)
                    if code is None:
                        raise
                    return code
                if c.status not in ("running", "paused"):
                    return c.state["exit_code"]
                time.sleep(delay)
                delay = _next_poll(delay, started)

    def remove(self, text: str, force: bool = False, volumes: bool = False, pod_removal: bool = False) -> Container:
        """Remove the container (a running one only with force: killed first); returns its last record.
        One that has exited but is not finalized yet is finalized here, under the same lock: the
        runtime's `delete` then runs while the files go."""
        c = self.records.find(text)
        if c.config.get("pod_infra") and not pod_removal:
            raise Conflict(f"container {c.name} is the infra container of a pod: remove the pod (pod rm)")
        rt = self.runtime(c.config.get("runtime"))
        for _ in range(5):
            with self.records.lock(c.id):
                c = self.records.get(c.id)
                running = c.status in ("running", "paused")
                if not running or self._has_exited(c):
                    if running:
                        released = self._finalize(c)
                        c = self.records.get(c.id)
                    else:
                        released = rt.delete_async(c.id, force=True)  # leftovers of a run
                    self._remove_locked(c, volumes)
                    released()
                    return c
                if not force:
                    raise Conflict(f"cannot remove container {c.name}: container is running: stop the container "
                                   "before removing or force remove")
            # killed outside the lock, as its exit takes that lock; again if (re)started meanwhile
            self.records.update_state(c.id, stopped_by_user=1)
            rt.kill(c.id, SIGKILL, all_processes=True)
            self._log(container_event(c, "kill", signal=str(SIGKILL)))
            self._wait_exit(c, 10)
        raise BerthError(f"cannot remove container {c.name}: it keeps being restarted")

    def _remove_locked(self, c: Container, volumes: bool) -> None:
        """Everything of a stopped container but the runtime's state (which needs no bundle to go)."""
        bundle = self.records.dir(c.id)
        self._detach_network(c)
        rootfs.unmount(os.path.join(bundle, "rootfs"))
        vols = self.records.volumes(c.id)
        self.records.remove(c.id, events=[container_event(c, "destroy")])  # a waiting restarter finds it gone
        fsutil.remove_tree(bundle)
        try:
            os.unlink(self._exit_file(c.id))
        except FileNotFoundError:
            pass
        for vol, _ in vols:
            if volumes:
                self.volumes.remove_if_anonymous_unused(vol)

    def connect(self, text: str, network: str, aliases: list[str] = (), ip: str | None = None,
                ip6: str | None = None) -> None:
        """`network connect`: a running container gets its interface at once, a stopped one at start."""
        c = self.get(text)
        with self.records.lock(c.id):
            c = self.records.get(c.id)
            self.networks.connect(c, network, aliases, ip, running=c.status in ("running", "paused"), ip6=ip6)

    def disconnect(self, text: str, network: str, force: bool = False) -> None:
        try:
            c = self.get(text)
        except LookupError:
            if force:  # docker: -f also clears an endpoint whose container is gone
                return
            raise
        with self.records.lock(c.id):
            c = self.records.get(c.id)
            self.networks.disconnect(c, network, running=c.status in ("running", "paused"))

    def prune(self) -> list[str]:
        """Remove every stopped container (exited or created); returns their IDs."""
        removed = []
        for c in self.list(all=True):
            if c.status in ("exited", "created"):
                self.remove(c.id)
                removed.append(c.id)
        self._log(("container", "prune", "", {"reclaimed": "0"}))
        return removed

    def rename(self, text: str, new_name: str) -> None:
        if not opts.valid_name(new_name):
            raise opts.InvalidOption(f"invalid container name {new_name!r}")
        c = self.get(text)
        self.records.rename(c.id, new_name, events=[_event_of(c.id, new_name, c.config, "rename", oldName=c.name)])

    # ---- output and processes ----------------------------------------------------------

    def update(self, text: str, memory: int | None = None, memory_swap: int | None = None, cpus: float | None = None,
               pids_limit: int | None = None, restart: str | None = None) -> Container:
        """docker update: new limits (applied at once to a running container, through the runtime)
        and restart policy; what is not given stays. Everything else of a container is fixed: a
        different container is a new one."""
        from berth.container.spec import ContainerSpec
        c = self.get(text)
        with self.records.lock(c.id):
            c = self.records.get(c.id)
            cfg, old = dict(c.config), c.config["resources"]
            given_swap = memory_swap if memory_swap is not None else (old["memory_swap"] if memory is None else None)
            wanted = ContainerSpec(cfg["image"], memory=memory if memory is not None else old["memory"],
                                   memory_swap=given_swap, cpus=cpus if cpus is not None else old["cpus"],
                                   pids_limit=(pids_limit or None) if pids_limit is not None else old["pids_limit"])
            resources = _resources(wanted)
            if restart is not None:
                policy = opts.RestartPolicy.parse(restart)
                if policy.name != "no" and cfg.get("auto_remove"):
                    raise Conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
                cfg["restart"] = {"name": policy.name, "max_retries": policy.max_retries}
            if c.status in ("running", "paused") and resources != old:
                self.runtime(cfg.get("runtime")).update(c.id, spec.Resources(**resources).to_dict())
            cfg["resources"] = resources
            self.records.update_config(c.id, cfg, events=[container_event(c, "update")])
        return self.records.get(c.id)

    def log_path(self, c: Container) -> str:
        return os.path.join(self.records.dir(c.id), "ctr.log")

    def logs(self, text: str, follow: bool = False, tail: int | None = None, since: int | None = None,
             until: int | None = None):
        """Yields (stream, timestamp text, bytes) from the container log, optionally following;
        since/until in nanoseconds since the epoch."""
        from berth.runtime.logs import read_log
        c = self.get(text)

        def running() -> bool:
            try:
                return self.reconcile(self.records.get(c.id)).status in ("running", "paused")
            except LookupError:  # removed (--rm) after it exited
                return False
        yield from read_log(self.log_path(c), follow=follow, tail=tail, running=running, since=since, until=until)

    def exec(self, text: str, command: list[str], *, tty: bool = False, interactive: bool = False,
             user: str | None = None, workdir: str | None = None, env: list[str] = (), detach: bool = False,
             privileged: bool = False) -> int:
        """Run a command in the running container with this process's terminal and stdio."""
        prepared = self.exec_command(text, command, tty=tty, user=user, workdir=workdir, env=env, detach=detach)
        import subprocess  # the terminal and stdin pass straight through
        try:
            code = subprocess.call(prepared.args, stdin=None if interactive or tty else subprocess.DEVNULL)
        except FileNotFoundError:
            self.exec_finished(prepared, -1)
            raise BerthError(f"runtime {prepared.args[0]} not found") from None
        if detach:  # the command runs on without us: its end is nobody's to report
            return prepared.finish(code)
        return self.exec_finished(prepared, code)

    def exec_finished(self, prepared: "ExecCommand", returncode: int) -> int:
        """The exit code as docker reports it (prepared.finish), logged as the exec's exec_die."""
        code = prepared.finish(returncode)
        self._log(container_event(prepared.container, "exec_die", execID=prepared.exec_id, exitCode=str(code)))
        return code

    def exec_command(self, text: str, command: list[str], *, tty: bool = False, user: str | None = None,
                     workdir: str | None = None, env: list[str] = (), detach: bool = False,
                     exec_id: str | None = None, scratch: str | None = None,
                     pid_file: str | None = None) -> "ExecCommand":
        """The runtime command line that runs `command` in the running container, for a front end to
        start with the stdio it has (a terminal, pipes, a pty); its finish() gives the exit code, and
        exec_finished() logs it too. `exec_id` names it in the events (the API's exec instance);
        `scratch`: the directory for the runtime's files (default: the container's); `pid_file`:
        where the runtime writes the process's host pid once it started."""
        c = self.get(text)
        if c.status != "running":
            raise Conflict(f"container {c.name} is not running")
        exec_id = exec_id or os.urandom(32).hex()
        rt = self.runtime(c.config.get("runtime"))
        bundle = self.records.dir(c.id)
        token = os.urandom(6).hex()
        args = [rt.path, *rt.base_args(), "exec"]
        if detach:
            args.append("--detach")
        if pid_file:
            args += ["--pid-file", pid_file]
        env_list = opts.parse_env(list(env), dict(os.environ))
        process_file = None
        if user:
            from berth.runtime.users import resolve
            try:
                uid, gid, groups, _ = resolve(os.path.join(bundle, "rootfs"), user)
            except BerthError as e:
                raise ExecFailed(str(e)) from None
            # the runtime's --additional-gids add to the container process's own groups: to run with
            # exactly this user's, the process goes to the runtime whole
            with open(os.path.join(bundle, "config.json")) as f:
                process = cjson.load(f)["process"]
            process.pop("consoleSize", None)
            process.update(args=list(command), env=process["env"] + env_list, terminal=tty,
                           user={"uid": uid, "gid": gid, "additionalGids": groups})
            if workdir:
                process["cwd"] = workdir
            process_file = os.path.join(scratch or bundle, f"exec-{token}.json")
            with open(process_file, "w") as f:
                cjson.dump(process, f)
            args += ["--process", process_file, c.id]
        else:
            if tty:
                args.append("--tty")
            if workdir:
                args += ["--cwd", workdir]
            for e in env_list:
                args += ["--env", e]
            args += [c.id, *command]
        # the runtime's own errors go to a log as well, so that "cannot run this" is told apart from the
        # command's own exit status 255 and reported as docker does (126/127)
        log = os.path.join(scratch or bundle, f"exec-{token}.log")
        args[1:1] = ["--log", log, "--log-format", "json"]
        shown = " ".join(command)  # docker's action text names the command
        self._log(container_event(c, f"exec_create: {shown}", execID=exec_id),
                  container_event(c, f"exec_start: {shown}", execID=exec_id))
        return ExecCommand(args, log, process_file, c, exec_id)

    def top(self, text: str) -> tuple[list[str], list[list[str]]]:
        c = self.get(text)
        if c.status != "running":
            raise Conflict(f"container {c.name} is not running")
        rt = self.runtime(c.config.get("runtime"))
        pids = rt.pids(c.id)
        if not pids:
            return ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], []
        # as docker: the host's `ps -ef` (user names from the host's passwd), the container's rows of it
        import subprocess
        lines = subprocess.run(["ps", "-ef"], capture_output=True, text=True).stdout.splitlines()
        if not lines or "PID" not in lines[0].split():
            raise BerthError("cannot list the container's processes: `ps -ef` gave no usable output")
        headers = lines[0].split()
        pid_column, wanted = headers.index("PID"), {str(p) for p in pids}
        rows = [fields for fields in (line.split(None, len(headers) - 1) for line in lines[1:])
                if len(fields) == len(headers) and fields[pid_column] in wanted]
        return headers, rows

    def stats(self, text: str) -> dict:
        from berth.runtime.cgroups import sample
        c = self.get(text)
        return sample(_cgroup(c), c.status == "running")

    def inspect(self, text: str) -> dict:
        from berth.container.views import inspect
        c = self.get(text)
        doc = inspect(self, c)
        # what the flags asked for, as docker reports it (containers made before these were
        # recorded show what they can)
        cfg, host = c.config, doc["HostConfig"]
        host["CapAdd"] = cfg.get("cap_add") or None
        host["CapDrop"] = cfg.get("cap_drop") or None
        host["Tmpfs"] = cfg.get("tmpfs") or None  # docker leaves it out of the JSON, and templates see null
        res = cfg["resources"]
        if res["memory"] and res["memory_swap"] is None:
            host["MemorySwap"] = 2 * res["memory"]  # what the runtime spec gives it
        return doc


def _next_poll(delay: float, started: float) -> float:
    """A waiter's next pause: at most 10 ms for its first two seconds (most containers a client
    waits for end soon, and their exit and removal land tens of milliseconds apart), then up to 50."""
    return min(delay * 2, 0.01 if time.monotonic() - started < 2 else 0.05)


def container_event(c: Container, action: str, **attributes: str) -> tuple:
    """An event of container `c` for the event log (see _event_of)."""
    return _event_of(c.id, c.name, c.config, action, **attributes)


def _event_of(cid: str, name: str, config: dict, action: str, **attributes: str) -> tuple:
    """A container event as docker logs one: its attributes, the container's labels over them, then
    the image (as the user named it) and the name."""
    return ("container", action, cid, {**attributes, **(config.get("labels") or {}), "image": config["image"],
                                       "name": name})


def _volume_events(c: Container, action: str) -> list[tuple]:
    """mount or unmount events of the container's volumes (not binds or tmpfs), as docker's local driver."""
    out = []
    for m in c.config["mounts"]:
        if m["type"] == "volume":
            attributes = {"container": c.id, "driver": "local"}
            if action == "mount":
                attributes.update(destination=m["target"], propagation=m.get("propagation") or "",
                                  **{"read/write": "false" if m["readonly"] else "true"})
            out.append(("volume", action, m["source"], attributes))
    return out


def _decides_readiness(c: Container) -> bool:
    """Whether the container's run (and check) decides its Service backend's readiness: an app
    container of a pod, or one whose health check gates traffic; not an infra or init container."""
    cfg = c.config
    return bool(cfg.get("health_gates_traffic") or cfg.get("pod")) and not (cfg.get("pod_infra") or cfg.get("pod_init"))


def _cgroup(c: Container) -> str:
    """The container's cgroup path (in a pod: under the pod's)."""
    pod = c.config.get("pod")
    return f"{_pod_cgroup(pod)}/{c.id}" if pod else f"/berth/{c.id}"


def _pod_cgroup(pod_id: str) -> str:
    """The cgroup that holds a pod's containers (and its limits)."""
    return f"/berth/pod-{pod_id[:12]}"


def _pod_hostname(pod) -> str:
    return pod.config.get("hostname") or pod.name


def _host_search() -> list[str]:
    """The host's search domains (a user network's resolv.conf keeps them, as docker's)."""
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                words = line.split()
                if words[:1] in (["search"], ["domain"]):
                    return words[1:]
    except OSError:
        pass
    return []


def _resources(spec) -> dict:
    """The spec's limits, checked with docker's rules."""
    mem, swap = spec.memory, spec.memory_swap or None
    if mem is not None and mem < 6 << 20:
        raise opts.InvalidOption("minimum memory limit allowed is 6MB")
    # docker's swap rule: memory+swap defaults to twice the memory (as much swap as memory), 0 is
    # that default, -1 is unlimited swap, and less than the memory itself is refused
    if swap is not None and swap > 0:
        if mem is None:
            raise opts.InvalidOption("You should always set the Memory limit when using Memoryswap limit, see usage")
        if swap < mem:
            raise opts.InvalidOption("Minimum memoryswap limit should be larger than memory limit, see usage")
    cpus = spec.cpus
    if cpus is not None and not 0.01 <= cpus <= (os.cpu_count() or 1):
        raise opts.InvalidOption(f"range of CPUs is from 0.01 to {os.cpu_count()}.00, as there are only "
                                 f"{os.cpu_count()} CPUs available")
    return {"memory": mem, "memory_swap": 2 * mem if mem and swap is None else swap, "cpus": cpus,
            "pids_limit": spec.pids_limit}


def _cap_names(names) -> list[str]:
    """--cap-add/--cap-drop as docker records them: CAP_NET_ADMIN for net_admin; ALL stays ALL."""
    out = []
    for n in names:
        n = n.strip().upper()
        out.append(n if n == "ALL" or n.startswith("CAP_") else "CAP_" + n)
    return out


def _restart_delay(state: dict) -> float:
    """docker's restart back-off: 100 ms, doubled for each restart, at most a minute; a container
    that ran for 10 s or more starts over at 100 ms."""
    ran = (state["finished_at"] or 0) - (state["started_at"] or 0)
    if ran >= 10:
        return 0.1
    return min(60.0, 0.1 * 2 ** min(state["restart_count"], 10))


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


class ExecCommand:
    """A prepared `runtime exec`: its command line, and what to read and remove once it ended."""

    def __init__(self, args: list[str], log: str, process_file: str | None, container: Container | None = None,
                 exec_id: str = ""):
        self.args, self.log, self.process_file = args, log, process_file
        self.container, self.exec_id = container, exec_id

    def finish(self, returncode: int) -> int:
        """The exit code as docker reports it (126/127 when the runtime could not run the command)."""
        messages = runtime_errors(self.log)
        if self.process_file:
            try:
                os.unlink(self.process_file)
            except FileNotFoundError:
                pass
        if returncode == 255 and messages:
            return monitor.exec_exit_code(messages[-1]) or 126
        return returncode
