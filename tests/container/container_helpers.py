"""Helpers for tests that run real containers (runc + berth-monitor) through the CLI."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from helpers import BERTH, mounts_under  # noqa: F401  (used by the container tests)

# docker's default capability set (moby oci/caps/defaults.go) as the kernel shows it in CapEff:
# CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT
# MKNOD AUDIT_WRITE SETFCAP
DOCKER_DEFAULT_CAPS = 0x00000000A80425FB
CAP_BITS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
            "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
            "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
            "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
            "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
            "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
            "SETFCAP": 31}


def caps_mask(*names: str) -> int:
    return sum(1 << CAP_BITS[n] for n in names)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll until predicate() is truthy; returns its value or fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def inspect(berth, name: str) -> dict:
    docs = berth.json("inspect", name)
    assert len(docs) == 1
    return docs[0]


def state(berth, name: str) -> dict:
    return inspect(berth, name)["State"]


def names(berth, *flags) -> list[str]:
    return sorted(r["Names"] for r in berth.jsonlines("ps", "--format", "json", *flags))


def popen(berth, *args, **kw) -> subprocess.Popen:
    """The CLI as a long-running process (logs -f, an attached run)."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(BERTH + ["--root", berth.root, *map(str, args)], **kw)


def expect_error(berth, *args, says: str | None = None, input=None) -> str:
    """The command fails with one clear line on stderr: `Error: ...`, no traceback, exit code != 0."""
    proc = berth.run(*args, check=False, input=input)
    err = proc.stderr.decode(errors="replace")
    shown = f"berth {' '.join(map(str, args))} -> {proc.returncode}: {err!r}"
    assert proc.returncode != 0, shown
    assert "Traceback" not in err, shown
    assert err.startswith("Error: ") and err.count("\n") == 1 and err.endswith("\n"), shown
    if says:
        assert says.lower() in err.lower(), shown
    return err


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def cmdline(pid: int) -> list[str]:
    """A process's arguments ([] once it is gone)."""
    return _cmdline(pid)


def _procs(root: str, match) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            args = _cmdline(int(entry))
            if args and match(args, root):
                out.append(int(entry))
    return out


def berth_pids(root: str) -> list[int]:
    """Every berth process (CLI, cleanup) working on this store."""
    def match(args, root):
        return ("berth" in " ".join(args[:3]) and "--root" in args
                and args[args.index("--root") + 1:args.index("--root") + 2] == [root])
    return _procs(str(root), match)


def checker_pids(root: str) -> list[int]:
    """Health checker processes (`berth container healthcheck ID PID`) of this store's containers."""
    return [pid for pid in berth_pids(root) if _cmdline(pid)[5:7] == ["container", "healthcheck"]]


def monitor_pids(root: str) -> list[int]:
    """Monitor processes of this store's containers."""
    def match(args, root):
        return os.path.basename(args[0]) == "berth-monitor" and any(a.startswith(root + "/") for a in args)
    return _procs(str(root), match)


def socket_count(pid: int) -> int:
    """How many sockets process `pid` holds open (a monitor: its listener plus one per client)."""
    fds = f"/proc/{pid}/fd"
    return sum(1 for fd in os.listdir(fds) if os.readlink(f"{fds}/{fd}").startswith("socket:"))


def host_pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def cgroup_dir(controller: str, cid: str) -> str:
    return f"/sys/fs/cgroup/{controller}/berth/{cid}"


def read(path) -> str:
    with open(path) as f:
        return f.read()


def _outlived(pids, deadline: float, says) -> list[str]:
    """Wait until pids() is empty or the deadline passes; kill and report what is left."""
    while pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    problems = []
    for pid in pids():
        problems.append(says(pid))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return problems


def teardown(berth) -> list[str]:
    """Remove every container and volume of the store (in-process, through berth.Engine: no CLI
    start-up per call); report what would have leaked: monitors, mounts, network namespaces."""
    from berth.engine import Engine
    from berth.errors import BerthError
    problems = []
    root = berth.root
    if not os.path.isdir(root):
        return problems
    checkers = set(checker_pids(root))  # they must end with their containers: looked for below
    for pid in berth_pids(root):  # a test's own strays (logs -f, attached runs); not a monitor's cleanup
        if "cleanup" in _cmdline(pid) or pid in checkers:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    ids = set()
    with Engine(root) as engine:
        for service in engine.store.services.list():  # their chains, rules and host ports are the host's
            try:
                engine.networks.remove_service(service.name)
            except BerthError as e:
                problems.append(f"remove_service {service.name}: {e}")
        for pod in engine.store.pods.list():  # with their infra containers, which leave only with them
            try:
                engine.pods.remove(pod.id, force=True)
            except BerthError as e:
                problems.append(f"pod rm -f {pod.name}: {e}")
        for c in engine.containers.list(all=True):
            ids.add(c.id)
            try:
                engine.containers.remove(c.id, force=True, volumes=True)
            except LookupError:
                pass  # removed by its own cleanup meanwhile (--rm)
            except BerthError as e:
                problems.append(f"rm -f {c.name}: {e}")
        for v in engine.volumes.list():
            try:
                engine.volumes.remove(v["Name"], force=True)
            except BerthError as e:
                problems.append(f"volume rm {v['Name']}: {e}")
        for network in engine.store.networks.list():  # their bridges and rules are the host's
            try:
                engine.networks.remove(network.id)
            except BerthError as e:
                problems.append(f"network rm {network.name}: {e}")
    deadline = time.monotonic() + 10  # the monitor runs the exit command (`berth container cleanup`) last
    problems += _outlived(lambda: monitor_pids(root), deadline, lambda pid: f"monitor {pid} still running 10 s after rm -f")
    problems += _outlived(lambda: checker_pids(root), deadline + 5,
                          lambda pid: f"health checker {pid} ({' '.join(_cmdline(pid)[5:8])}) still running after rm -f")
    # a --rm container's exit command (the monitor became it) may still be removing its files
    while any("cleanup" in _cmdline(pid) for pid in berth_pids(root)) and time.monotonic() < deadline + 10:
        time.sleep(0.05)
    for sub in ("containers", "exits", "runtime/runc", "volumes"):  # nothing of them may be left
        left = os.listdir(os.path.join(root, sub)) if os.path.isdir(os.path.join(root, sub)) else []
        if left:
            problems.append(f"left in {sub}/ after removing everything: {sorted(left)}")
    for cid in sorted(ids):
        if os.path.exists(f"/run/netns/berth-{cid[:12]}"):
            problems.append(f"network namespace of {cid[:12]} still there after rm")
    for target in sorted(mounts_under(root), key=len, reverse=True):
        problems.append(f"still mounted after rm: {target}")
        subprocess.run(["umount", "-l", target], capture_output=True)
    return problems


@pytest.fixture
def berth(tmp_path):
    """A private store whose containers, pods, volumes and networks are all removed after the test,
    failing it when something leaked (a monitor, a mount, a network namespace)."""
    from helpers import Berth
    b = Berth(tmp_path / "store")
    yield b
    problems = teardown(b)
    assert not problems, "\n".join(problems)
