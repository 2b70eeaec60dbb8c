"""berth-monitor: the per-container process that outlives berth (monitor.c, built at set-up).

It has the runtime create and start the container in one call, holds the container's stdio,
writes the log (k8s-file format, as conmon), serves the attach socket, records the exit code in
the exit dir, and runs an exit command (`berth container cleanup ID`) when the container stops.
berth talks to it through one pipe at start-up and the attach socket. It replaced conmon, whose
start-up and extra `runtime start` call were the largest fixed cost of `berth run` (BENCHMARKS.md).
"""
from __future__ import annotations

import os

from berth.errors import BerthError, CreateFailed
from berth.runtime import process
from berth.runtime.oci import runtime_errors, runtime_message

BINARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "berth-monitor")


def exec_exit_code(message: str) -> int | None:
    """126/127 for a runtime's "cannot run the process" message, as docker and podman return."""
    m = message.lower()
    if "exec:" not in m and "exec failed" not in m:
        return None
    if "no such file or directory" in m or "executable file not found" in m or "not found in $path" in m:
        return 127
    if "permission denied" in m or "exec format error" in m or "is a directory" in m:
        return 126
    return None


def binary() -> str:
    if not os.access(BINARY, os.X_OK):
        raise BerthError(f"the container monitor {BINARY} is not built: run `make setup`")
    return BINARY


def start(*, runtime, cid: str, bundle: str, exit_file: str, terminal: bool, stdin: bool,
          exit_command: list[str], exit_lock: str, log_path: str, attach: bool = False):
    """Have the monitor create and start the container. Returns (container pid, monitor pid,
    attach socket or None); with attach, the socket is connected before the container starts,
    and is the foreground client: the output waits for it rather than being dropped, and with
    stdin its end of input closes the container's stdin (docker's StdinOnce).
    The monitor runs exit_command when the container exits, unless exit_lock is held (flock)."""
    runtime_log = os.path.join(bundle, "runtime.log")
    args = [binary(), "--runtime", runtime.path, "--id", cid, "--bundle", bundle,
            "--pid-file", os.path.join(bundle, "pidfile"), "--exit-file", exit_file, "--log", log_path]
    # the runtime's errors go to a log too: the container's stderr is not ours to read
    for a in [*runtime.base_args(), "--log", runtime_log, "--log-format", "json"]:
        args += ["--runtime-arg", a]
    if terminal:
        args.append("--terminal")
    if stdin:
        args.append("--stdin")
    sync_r, sync_w = os.pipe()
    pass_fds = [sync_w]
    sock = ours = None
    if attach:
        import _socket
        sock, ours = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        pass_fds.append(ours.fileno())
        args += ["--attach-fd", str(ours.fileno())]
    args += ["--sync-fd", str(sync_w), "--exit-lock", exit_lock, "--", *exit_command]
    try:
        launcher, _, err_r = process.spawn(args, pass_fds=tuple(pass_fds), capture=False)
    finally:
        os.close(sync_w)
        if ours is not None:
            ours.close()
    try:
        with os.fdopen(sync_r, "rb") as sync:
            line = sync.readline().split()
        err = process.read_all(err_r)[0].decode(errors="replace").strip()
        process.wait(launcher)  # the first process exits once the monitor is daemonized
        if len(line) != 2:
            raise BerthError(f"container monitor failed to start: {err or 'no message'}")
        pid, monitor_pid = int(line[0]), int(line[1])
        if pid <= 0:
            messages = runtime_errors(runtime_log) or [err or f"{runtime.name} exited with {monitor_pid}"]
            raise CreateFailed(f"cannot create container: {runtime_message(messages[-1])}",
                               exec_exit_code(messages[-1]) or 1)
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    return pid, monitor_pid, sock
