"""conmon: the per-container monitor that outlives berth.

conmon (Debian's, the one podman uses) runs `runtime create`, holds the container's stdio, writes
the log (k8s-file format), records the exit code in the exit dir, marks OOM kills with an `oom`
file, and runs an exit command (`berth container cleanup ID`) when the container stops. berth only
talks to it through two pipes at start-up and the attach socket.
"""
from __future__ import annotations

import json
import os
import shutil

from berth.errors import BerthError
from berth.runtime import process
from berth.runtime.oci import runtime_message


class CreateFailed(BerthError):
    """The runtime could not create the container. exit_code follows docker: 127 when the command
    is not found, 126 when it cannot be run, 1 otherwise."""

    def __init__(self, message: str):
        super().__init__(message)
        self.exit_code = exec_exit_code(message) or 1


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


def conmon_path() -> str:
    for path in (shutil.which("conmon"), "/usr/libexec/podman/conmon", "/usr/bin/conmon"):
        if path and os.access(path, os.X_OK):
            return path
    raise BerthError("conmon is not installed (apt-get install conmon)")


def start(*, runtime, cid: str, short_id: str, name: str, bundle: str, exit_dir: str, socket_dir: str,
          terminal: bool, stdin: bool, exit_command: list[str], log_path: str) -> tuple[int, int]:
    """Have conmon create the container; returns (container pid, conmon pid). The container is
    created but not started: call runtime.start(cid) next."""
    args = [conmon_path(), "--api-version", "1", "-c", cid, "-u", short_id, "-r", runtime.path, "-b", bundle,
            "-p", os.path.join(bundle, "pidfile"), "-n", name, "--exit-dir", exit_dir, "--persist-dir", bundle,
            "--socket-dir-path", socket_dir, "-l", f"k8s-file:{log_path}", "--log-level", "error",
            "--conmon-pidfile", os.path.join(bundle, "conmon.pid")]
    for a in runtime.base_args():
        args += ["--runtime-arg", a]
    if terminal:
        args.append("-t")
    if stdin:
        args.append("-i")
    if exit_command:
        args += ["--exit-command", exit_command[0]]
        for a in exit_command[1:]:
            args += ["--exit-command-arg", a]
    sync_r, sync_w = os.pipe()
    start_r, start_w = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("_OCI_")}
    env.update(_OCI_SYNCPIPE=str(sync_w), _OCI_STARTPIPE=str(start_r))  # conmon finds its pipes here
    try:
        # cwd: conmon also drops an `oom` marker in its working directory (cgroup v1), which must not
        # be wherever the user ran berth
        launcher, _, err_r = process.spawn(args, env=env, pass_fds=(sync_w, start_r), cwd=bundle, capture=False)
    finally:
        os.close(sync_w)
        os.close(start_r)
    try:
        os.write(start_w, b"0")
        os.close(start_w)
        start_w = -1
        with os.fdopen(sync_r, "rb") as sync:
            line = sync.readline()
        sync_r = -1
    finally:
        if start_w >= 0:
            os.close(start_w)
        if sync_r >= 0:
            os.close(sync_r)
    err = process.read_all(err_r)[0].decode(errors="replace").strip()
    process.wait(launcher)  # conmon's first process exits once the monitor is daemonized
    if not line:
        raise BerthError(f"container monitor failed to start: {err or 'no message'}")
    msg = json.loads(line)
    pid = msg.get("data", -1)
    if pid <= 0:
        raise CreateFailed(f"cannot create container: {runtime_message(msg.get('message') or err)}")
    with open(os.path.join(bundle, "conmon.pid")) as f:
        conmon_pid = int(f.read().strip())
    return pid, conmon_pid
