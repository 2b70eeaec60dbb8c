"""Short-lived helper processes (runc, the monitor) without the subprocess module.

`import subprocess` pulls in signal, threading, selectors and locale: about 10 ms of every
`berth run` on a 2-core machine, spent to start three small programs. fork + exec with pipes is
all these calls need; commands with a terminal or user I/O (`exec`, `top`) still use subprocess.
"""
from __future__ import annotations

import os
import select

from berth.record import Record


class Result(Record):
    returncode: int
    stdout: str
    stderr: str


def spawn(argv: list[str], *, env: dict | None = None, pass_fds: tuple = (),
          capture: bool = True) -> tuple[int, int, int]:
    """Start argv with stdin from /dev/null; returns (pid, stdout fd, stderr fd). Without capture,
    stdout goes to /dev/null and stderr is still returned (for error messages).

    posix_spawn (vfork underneath): fork() would copy the page tables of this whole interpreter,
    a millisecond per call. The child gets only its stdio and pass_fds: every other fd Python
    opens is close-on-exec (PEP 446), sqlite's and the store's locks included."""
    out_r, out_w = os.pipe() if capture else (-1, -1)
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        for fd in pass_fds:
            os.set_inheritable(fd, True)
        actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, out_w if capture else null, 1),
                   (os.POSIX_SPAWN_DUP2, err_w, 2)]
        pid = os.posix_spawn(argv[0], argv, dict(os.environ) if env is None else env, file_actions=actions)
    finally:
        for fd in (out_w, err_w, null):
            if fd >= 0:
                os.close(fd)
    return pid, out_r, err_r


def start_detached(argv: list[str]) -> None:
    """Start argv in a session of its own, stdio on /dev/null, as nobody's child: an intermediate
    process starts it and exits at once, so that a long-lived caller (the API server) is left no
    zombie to reap when it ends. The fork copies this interpreter's page tables (about a
    millisecond); the intermediate only spawns and exits."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            os.posix_spawn(argv[0], argv, dict(os.environ),
                           file_actions=[(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)])
            code = 0
        finally:
            os._exit(code)
    if wait(pid) != 0:
        raise OSError(f"cannot start {argv[0]}")


def wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def pump(fds, on_data) -> None:
    """Read every pipe in `fds` (-1 entries ignored) to its end, all at once so that none fills up
    and blocks the child; `on_data(fd, chunk)` gets the bytes as they come. Closes the fds."""
    poller = select.poll()
    open_fds = {fd for fd in fds if fd >= 0}
    for fd in open_fds:
        poller.register(fd, select.POLLIN)
    while open_fds:
        for fd, _ in poller.poll():
            chunk = os.read(fd, 65536)
            if chunk:
                on_data(fd, chunk)
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
                os.close(fd)


def read_all(*fds: int) -> list[bytes]:
    """Each pipe's whole output (see pump)."""
    data = {fd: [] for fd in fds}
    pump(fds, lambda fd, chunk: data[fd].append(chunk))
    return [b"".join(data[fd]) for fd in fds]


def run(argv: list[str], **kw) -> Result:
    """Run to completion, capturing stdout and stderr as text."""
    pid, out_r, err_r = spawn(argv, **kw)
    out, err = read_all(out_r, err_r)
    return Result(wait(pid), out.decode(errors="replace"), err.decode(errors="replace"))
