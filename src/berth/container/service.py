"""Container lifecycle: create, start, stop, kill, rm, wait, logs, exec, inspect, ... (docker's semantics).

State lives in the store (immutable config row + state row); a running container is held by its
conmon, which runs `berth container cleanup ID` when the container exits. Every berth command also
reconciles: a container whose exit file exists is finalized by whoever sees it first.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal as signals
import subprocess
import sys
import time

from berth.container import options as opts
from berth.container.names import random_name
from berth.errors import BerthError, Conflict
from berth.runtime import monitor, rootfs, spec
from berth.runtime.oci import detect as detect_runtime
from berth.runtime.security import capabilities
from berth.store import fsutil
from berth.store.containers import Container, ContainerStore

DEFAULT_STOP_TIMEOUT = 10
INIT_BINARY = "/usr/bin/catatonit"
INIT_PATH = "/dev/init"


class ContainerService:
    def __init__(self, store, images):
        self.store = store
        self.images = images
        self.records = ContainerStore(store)
        self.exit_dir = self._dir("exits")
        self.socket_dir = self._dir("s")

    def _dir(self, name: str) -> str:
        path = os.path.join(self.store.root, name)
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def runtime(self, name: str | None = None):
        return detect_runtime(name, os.path.join(self.store.root, "runtime"))

    @property
    def volumes(self):
        from berth.container.volumes import VolumeService
        return VolumeService(self.store)

    # ---- lookup and state --------------------------------------------------------------

    def get(self, text: str) -> Container:
        c = self.records.find(text)
        return self.reconcile(c)

    def list(self, all: bool = False) -> list[Container]:
        out = []
        for c in self.records.list():
            c = self.reconcile(c)
            if all or c.status in ("running", "paused", "restarting"):
                out.append(c)
        return out

    def _exit_file(self, cid: str) -> str:
        return os.path.join(self.exit_dir, cid)

    def reconcile(self, c: Container) -> Container:
        """Bring a container's recorded state up to date with what conmon left on disk."""
        if c.status not in ("running", "paused"):
            return c
        if os.path.exists(self._exit_file(c.id)) or not _alive(c.state["conmon_pid"]):
            with self.records.lock(c.id):
                c = self.records.get(c.id)
                if c.status in ("running", "paused"):
                    self._finalize(c)
            c = self.records.get(c.id)
        return c

    def _finalize(self, c: Container) -> None:
        """The container has exited: record how, release its runtime state and rootfs mount."""
        bundle = self.records.dir(c.id)
        exit_file = self._exit_file(c.id)
        code, finished = -1, time.time()
        if os.path.exists(exit_file):
            with open(exit_file) as f:
                text = f.read().strip()
            code = int(text) if text.lstrip("-").isdigit() else -1
            finished = os.stat(exit_file).st_mtime
            os.unlink(exit_file)
        oom = os.path.exists(os.path.join(bundle, "oom"))
        self.runtime(c.config.get("runtime")).delete(c.id, force=True)
        rootfs.unmount(os.path.join(bundle, "rootfs"))
        self.records.update_state(c.id, status="exited", pid=0, conmon_pid=0, exit_code=code,
                                  oom_killed=int(oom), finished_at=finished)

    def cleanup(self, text: str) -> None:
        """Run by conmon when a container exits: finalize, then auto-remove or restart per policy."""
        try:
            c = self.records.find(text)
        except LookupError:
            return
        c = self.reconcile(c)
        if c.status != "exited":
            return
        if c.config.get("auto_remove"):
            with fsutil.flock(os.path.join(self.records.dir(c.id), "attached"), blocking=False) as free:
                if free:  # no foreground client: it would remove the container itself
                    self.remove(c.id, force=True, volumes=True)
            return
        policy = opts.RestartPolicy(**c.config.get("restart", {}))
        if policy.should_restart(c.state["exit_code"], c.state["restart_count"], bool(c.state["stopped_by_user"])):
            self.records.update_state(c.id, restart_count=c.state["restart_count"] + 1)
            self.start(c.id, restarting=True)

    # ---- create ------------------------------------------------------------------------

    def create(self, image: str, command: list[str] | None = None, *, name: str | None = None,
               entrypoint: str | None = None, env: list[str] = (), env_files: list[str] = (),
               workdir: str | None = None, user: str | None = None, hostname: str | None = None,
               tty: bool = False, stdin: bool = False, volumes: list[str] = (), mounts: list[str] = (),
               tmpfs: list[str] = (), read_only: bool = False, network: str = "none",
               memory: str | None = None, memory_swap: str | None = None, cpus: float | None = None,
               pids_limit: int | None = None, cap_add: list[str] = (), cap_drop: list[str] = (),
               privileged: bool = False, security_opt: list[str] = (), restart: str = "no",
               stop_signal: str | None = None, stop_timeout: int | None = None, init: bool = False,
               auto_remove: bool = False, labels: dict | None = None, runtime: str | None = None) -> Container:
        img = self.images.get(image)
        config = self.images.store.images.config(img)
        ic = config.config
        # validate everything before anything is written
        if name is not None and not opts.NAME.fullmatch(name):
            raise opts.InvalidOption(f"invalid container name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        if entrypoint is not None:
            args = ([entrypoint] if entrypoint else []) + list(command or [])
        else:
            args = list(ic.get("Entrypoint") or []) + list(command or ic.get("Cmd") or [])
        if not args:
            raise BerthError("no command specified: the image has no CMD or ENTRYPOINT and none was given")
        if network not in ("none", "host"):
            raise opts.InvalidOption(f"network {network!r} is not available yet: use none or host")
        policy = opts.RestartPolicy.parse(restart)
        if policy.name != "no" and auto_remove:
            raise opts.InvalidOption("conflicting options: --restart and --rm")
        file_env = [e for f in env_files for e in opts.read_env_file(f)]
        env_list = opts.merge_env(list(ic.get("Env") or []), opts.parse_env(file_env + list(env), dict(os.environ)))
        if not any(e.startswith("PATH=") for e in env_list):
            env_list.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        mount_specs = ([opts.parse_volume(v) for v in volumes] + [opts.parse_mount(m) for m in mounts]
                       + [opts.parse_tmpfs(t) for t in tmpfs])
        for m in mount_specs:
            if m.type == "bind" and not os.path.exists(m.source):
                raise opts.InvalidOption(f"invalid mount: bind source path does not exist: {m.source}")
        targets = [m.target for m in mount_specs]
        if len(set(targets)) != len(targets):
            raise opts.InvalidOption("duplicate mount point in -v/--mount/--tmpfs")
        for vol in (ic.get("Volumes") or {}):
            if vol not in targets:
                mount_specs.append(opts.MountSpec("volume", vol))
        resources = {"memory": opts.parse_size(memory, "memory") if memory else None,
                     "memory_swap": (-1 if memory_swap == "-1" else opts.parse_size(memory_swap, "memory-swap"))
                     if memory_swap else None,
                     "cpus": float(cpus) if cpus else None, "pids_limit": int(pids_limit) if pids_limit else None}
        if resources["memory"] is not None and resources["memory"] < 6 << 20:
            raise opts.InvalidOption("minimum memory limit allowed is 6MB")
        if resources["cpus"] is not None and not 0 < resources["cpus"] <= (os.cpu_count() or 1):
            raise opts.InvalidOption(f"range of CPUs is from 0.01 to {os.cpu_count()}.00, as there are only "
                                     f"{os.cpu_count()} CPUs available")
        caps = capabilities(cap_add, cap_drop, privileged)
        no_new_privs = False
        for so in security_opt:
            if so in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
                no_new_privs = True
            elif so not in ("no-new-privileges:false", "no-new-privileges=false"):
                raise opts.InvalidOption(f"unsupported --security-opt {so!r}")
        stop_sig = stop_signal or config.config.get("StopSignal") or "SIGTERM"
        opts.parse_signal(stop_sig)
        rt = self.runtime(runtime)
        if init and not os.path.exists(INIT_BINARY):
            raise BerthError(f"--init needs {INIT_BINARY} (apt-get install catatonit)")

        cid = secrets.token_hex(32)
        name = name or self._free_name()
        volume_rows = []
        for m in mount_specs:
            if m.type == "volume":
                if not m.source:
                    m.source = secrets.token_hex(32)
                    self.volumes.create(m.source, anonymous=True, exist_ok=True)
                else:
                    self.volumes.create(m.source, exist_ok=True)
                volume_rows.append((m.source, m.target))
        record = {
            "image": image, "args": args, "entrypoint": entrypoint, "cmd": list(command or []), "env": env_list,
            "workdir": workdir or ic.get("WorkingDir") or "/", "user": user if user is not None else ic.get("User", ""),
            "hostname": hostname or cid[:12], "tty": tty, "stdin": stdin,
            "mounts": [m.__dict__ for m in mount_specs], "read_only": read_only, "network": network,
            "resources": resources, "capabilities": caps, "privileged": privileged,
            "no_new_privileges": no_new_privs, "restart": {"name": policy.name, "max_retries": policy.max_retries},
            "stop_signal": stop_sig, "stop_timeout": DEFAULT_STOP_TIMEOUT if stop_timeout is None else stop_timeout,
            "init": init, "auto_remove": auto_remove, "labels": {**(ic.get("Labels") or {}), **(labels or {})},
            "runtime": rt.name if runtime in (None, "", "auto", "runc", "crun") else runtime,
        }
        bundle = self.records.dir(cid)
        for sub in ("", "upper", "work", "rootfs"):
            os.makedirs(os.path.join(bundle, sub), mode=0o700 if not sub else 0o755, exist_ok=True)
        try:
            return self.records.add(cid, name, str(img.id), record, volume_rows)
        except BaseException:
            shutil.rmtree(bundle, ignore_errors=True)
            for vol, _ in volume_rows:
                self.volumes.remove_if_anonymous_unused(vol)
            raise

    def _free_name(self) -> str:
        for _ in range(100):
            candidate = random_name()
            if not self.store.db.execute("SELECT 1 FROM containers WHERE name=?", (candidate,)).fetchone():
                return candidate
        return f"{random_name()}_{secrets.token_hex(3)}"

    # ---- start / stop ------------------------------------------------------------------

    def start(self, text: str, restarting: bool = False, attach: bool = False):
        """Start a container. With attach, returns (container, connected attach socket): the socket
        is connected before the process starts, so no output is missed."""
        c = self.records.find(text)
        with self.records.lock(c.id):
            c = self.records.get(c.id)
            if c.status in ("running", "paused"):
                if os.path.exists(self._exit_file(c.id)) or not _alive(c.state["conmon_pid"]):
                    self._finalize(c)
                else:
                    return c
            try:
                sock = self._start_locked(c, attach)
            except BaseException as e:
                rootfs.unmount(os.path.join(self.records.dir(c.id), "rootfs"))
                self.records.update_state(c.id, error=str(e))
                raise
        c = self.records.get(c.id)
        return (c, sock) if attach else c

    def _start_locked(self, c: Container, attach: bool = False):
        cfg = c.config
        bundle = self.records.dir(c.id)
        target = os.path.join(bundle, "rootfs")
        rt = self.runtime(cfg.get("runtime"))
        rt.delete(c.id, force=True)  # leftovers of an earlier run
        for leftover in ("oom", "pidfile", "exit"):
            try:
                os.unlink(os.path.join(bundle, leftover))
            except FileNotFoundError:
                pass
        from berth.oci.digest import Digest
        image = self.images.store.images.get(Digest.parse(c.image_id))
        lowers = [self.images.store.layers.diff_path(chain) for chain in reversed(image.chain)]
        if not rootfs.is_mounted(target):
            rootfs.mount_overlay(lowers, os.path.join(bundle, "upper"), os.path.join(bundle, "work"), target)
        from berth.container.users import resolve
        uid, gid, groups, home = resolve(target, cfg["user"])
        env = list(cfg["env"])
        if not any(e.startswith("HOME=") for e in env):
            env.append(f"HOME={home}")
        if cfg["tty"] and not any(e.startswith("TERM=") for e in env):
            env.append("TERM=xterm")
        args = list(cfg["args"])
        mounts = self._etc_mounts(c, bundle)
        if cfg["init"]:
            mounts.append(spec.Mount(INIT_PATH, INIT_BINARY, "bind", ["bind", "ro", "nosuid", "nodev"]))
            args = [INIT_PATH, "--"] + args
        mounts += self.volumes.mounts_for(c, target)
        process = spec.ProcessSpec(args=args, env=env, cwd=cfg["workdir"], uid=uid, gid=gid, groups=groups,
                                   terminal=cfg["tty"], capabilities=cfg["capabilities"],
                                   no_new_privileges=cfg["no_new_privileges"])
        doc = spec.build(process, hostname=cfg["hostname"], mounts=mounts, readonly_rootfs=cfg["read_only"],
                         network=cfg["network"], resources=spec.Resources(**cfg["resources"]),
                         cgroups_path=f"/berth/{c.id}", masked=not cfg["privileged"])
        fsutil.atomic_write(os.path.join(bundle, "config.json"), json.dumps(doc, indent=1).encode())
        exit_command = [sys.executable, "-m", "berth", "--root", self.store.root, "container", "cleanup", c.id]
        log_path = os.path.join(bundle, "ctr.log")
        pid, conmon_pid = monitor.start(runtime=rt, cid=c.id, short_id=c.id[:12], name=c.name, bundle=bundle,
                                        exit_dir=self.exit_dir, socket_dir=self.socket_dir, terminal=cfg["tty"],
                                        stdin=cfg["stdin"], exit_command=exit_command, log_path=log_path)
        sock = None
        try:
            if attach:
                from berth.runtime.attach import connect
                sock = connect(self.socket_dir, c.id[:12])
            rt.start(c.id)
        except BaseException:
            rt.delete(c.id, force=True)
            if sock:
                sock.close()
            raise
        self.records.update_state(c.id, status="running", pid=pid, conmon_pid=conmon_pid, exit_code=0,
                                  oom_killed=0, started_at=time.time(), finished_at=None, stopped_by_user=0,
                                  error="")
        return sock

    def _etc_mounts(self, c: Container, bundle: str) -> list[spec.Mount]:
        cfg = c.config
        files = {"hostname": cfg["hostname"] + "\n",
                 "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                          f"127.0.1.1\t{cfg['hostname']}\n"}
        if cfg["network"] == "host":
            try:
                with open("/etc/resolv.conf") as f:
                    files["resolv.conf"] = f.read()
            except OSError:
                files["resolv.conf"] = ""
        else:
            files["resolv.conf"] = ""
        mounts = []
        for name, content in files.items():
            path = os.path.join(bundle, name)
            with open(path, "w") as f:
                f.write(content)
            os.chmod(path, 0o644)
            mounts.append(spec.Mount(f"/etc/{name}", path, "bind", ["rbind", "rprivate"]))
        return mounts

    def stop(self, text: str, timeout: int | None = None, signal: str | None = None) -> Container:
        c = self.get(text)
        if c.status not in ("running", "paused"):
            return c
        timeout = c.config.get("stop_timeout", DEFAULT_STOP_TIMEOUT) if timeout is None else timeout
        rt = self.runtime(c.config.get("runtime"))
        self.records.update_state(c.id, stopped_by_user=1)
        if c.status == "paused":
            rt.resume(c.id)
        rt.kill(c.id, opts.parse_signal(signal or c.config.get("stop_signal") or "SIGTERM"))
        if not self._wait_exit(c, timeout):
            rt.kill(c.id, signals.SIGKILL, all_processes=True)
            self._wait_exit(c, 10)
        return self.reconcile(self.records.get(c.id))

    def _wait_exit(self, c: Container, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self._exit_file(c.id)) or not _alive(c.state["conmon_pid"]):
                return True
            fresh = self.records.get(c.id)
            if fresh.status not in ("running", "paused"):
                return True
            time.sleep(0.02)
        return False

    def kill(self, text: str, signal: str = "KILL") -> Container:
        c = self.get(text)
        if c.status not in ("running", "paused"):
            raise Conflict(f"cannot kill container {c.name}: container is not running")
        sig = opts.parse_signal(signal)
        if sig == signals.SIGKILL:
            self.records.update_state(c.id, stopped_by_user=1)
        self.runtime(c.config.get("runtime")).kill(c.id, sig)
        return c

    def restart(self, text: str, timeout: int | None = None) -> Container:
        c = self.stop(text, timeout)
        return self.start(c.id)

    def pause(self, text: str) -> None:
        c = self.get(text)
        if c.status != "running":
            raise Conflict(f"container {c.name} is not running")
        self.runtime(c.config.get("runtime")).pause(c.id)
        self.records.update_state(c.id, status="paused")

    def unpause(self, text: str) -> None:
        c = self.get(text)
        if c.status != "paused":
            raise Conflict(f"container {c.name} is not paused")
        self.runtime(c.config.get("runtime")).resume(c.id)
        self.records.update_state(c.id, status="running")

    def wait(self, text: str) -> int:
        c = self.get(text)
        while c.status in ("running", "paused"):
            time.sleep(0.05)
            c = self.reconcile(self.records.get(c.id))
        return c.state["exit_code"]

    def remove(self, text: str, force: bool = False, volumes: bool = False) -> Container:
        c = self.get(text)
        if c.status in ("running", "paused"):
            if not force:
                raise Conflict(f"cannot remove container {c.name}: container is running: stop the container "
                               "before removing or force remove")
            rt = self.runtime(c.config.get("runtime"))
            self.records.update_state(c.id, stopped_by_user=1)
            rt.kill(c.id, signals.SIGKILL, all_processes=True)
            self._wait_exit(c, 10)
            c = self.reconcile(self.records.get(c.id))
        with self.records.lock(c.id):
            bundle = self.records.dir(c.id)
            self.runtime(c.config.get("runtime")).delete(c.id, force=True)
            rootfs.unmount(os.path.join(bundle, "rootfs"))
            vols = self.records.volumes(c.id)
            self.records.remove(c.id)
            shutil.rmtree(bundle, ignore_errors=True)
            for vol, _ in vols:
                if volumes:
                    self.volumes.remove_if_anonymous_unused(vol)
        return c

    def rename(self, text: str, new_name: str) -> None:
        if not opts.NAME.fullmatch(new_name):
            raise opts.InvalidOption(f"invalid container name {new_name!r}")
        self.records.rename(self.get(text).id, new_name)

    # ---- output and processes ----------------------------------------------------------

    def log_path(self, c: Container) -> str:
        return os.path.join(self.records.dir(c.id), "ctr.log")

    def logs(self, text: str, follow: bool = False, tail: int | None = None, since: float | None = None):
        """Yields (stream, timestamp text, bytes) from the container log, optionally following."""
        from berth.runtime.logs import read_log
        c = self.get(text)
        yield from read_log(self.log_path(c), follow=follow, tail=tail,
                            running=lambda: self.reconcile(self.records.get(c.id)).status in ("running", "paused"))

    def exec(self, text: str, command: list[str], *, tty: bool = False, interactive: bool = False,
             user: str | None = None, workdir: str | None = None, env: list[str] = (), detach: bool = False,
             privileged: bool = False) -> int:
        c = self.get(text)
        if c.status != "running":
            raise Conflict(f"container {c.name} is not running")
        rt = self.runtime(c.config.get("runtime"))
        args = [rt.path, *rt.base_args(), "exec"]
        if tty:
            args.append("--tty")
        if detach:
            args.append("--detach")
        if workdir:
            args += ["--cwd", workdir]
        for e in opts.parse_env(list(env), dict(os.environ)):
            args += ["--env", e]
        if user:
            from berth.container.users import resolve
            uid, gid, _, _ = resolve(os.path.join(self.records.dir(c.id), "rootfs"), user)
            args += ["--user", f"{uid}:{gid}"]
        args += [c.id, *command]
        stdin = None if interactive or tty else subprocess.DEVNULL
        try:
            return subprocess.call(args, stdin=stdin)
        except FileNotFoundError:
            raise BerthError(f"runtime {rt.path} not found") from None

    def top(self, text: str) -> tuple[list[str], list[list[str]]]:
        c = self.get(text)
        if c.status != "running":
            raise Conflict(f"container {c.name} is not running")
        rt = self.runtime(c.config.get("runtime"))
        out = subprocess.run([rt.path, *rt.base_args(), "ps", "--format", "json", c.id],
                             capture_output=True, text=True)
        pids = json.loads(out.stdout or "[]") or []
        if not pids:
            return ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], []
        ps = subprocess.run(["ps", "-o", "uid,pid,ppid,c,stime,tty,time,args", "-p", ",".join(map(str, pids))],
                            capture_output=True, text=True)
        lines = ps.stdout.splitlines()
        rows = [line.split(None, 7) for line in lines[1:]]
        return ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], rows

    def stats(self, text: str) -> dict:
        from berth.runtime.cgroups import sample
        c = self.get(text)
        return sample(c.id, c.status == "running")

    def inspect(self, text: str) -> dict:
        from berth.container.views import inspect
        c = self.get(text)
        return inspect(self, c)


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
