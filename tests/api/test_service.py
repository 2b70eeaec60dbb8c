"""`berth system service` as a process: the socket's permissions, a stale socket replaced and a live
one refused, systemd's socket activation, the idle timeout, and containers that outlive the server."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import time

from api_helpers import Service, UnixHTTPConnection
from helpers import BERTH


def _ping(path: str) -> int:
    conn = UnixHTTPConnection(path, timeout=5)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status
    finally:
        conn.close()


def test_socket_mode_stale_and_live_sockets(tmp_path):
    first = Service(tmp_path / "first").start()
    try:
        mode = stat.S_IMODE(os.stat(first.socket).st_mode)
        assert mode in (0o600, 0o660)  # 0660 only with a `berth` group
        # a second server on the same socket is refused: the first one still answers
        refused = subprocess.run(BERTH + ["--root", first.root, "system", "service", "--socket", first.url],
                                 capture_output=True, timeout=30)
        assert refused.returncode != 0 and b"in use" in refused.stderr
        assert _ping(first.socket) == 200
    finally:
        first.stop()
    # a socket file left by a server that died (SIGKILL: no cleanup) is replaced
    second = Service(tmp_path / "second").start()
    second.proc.kill()
    second.proc.wait()
    assert os.path.exists(second.socket)
    third = Service(tmp_path / "third")
    third.socket = second.socket
    third.start()
    try:
        assert _ping(third.socket) == 200
    finally:
        third.stop()
        second.stop()


def test_socket_activation_and_idle_timeout(tmp_path):
    path = str(tmp_path / "act.sock") if len(str(tmp_path)) < 90 else "/tmp/berth-act-test.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)

    def as_systemd_does():
        os.dup2(listener.fileno(), 3)
        os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")
    proc = subprocess.Popen(BERTH + ["--root", str(tmp_path / "root"), "system", "service", "--timeout", "1"],
                            preexec_fn=as_systemd_does, pass_fds=(3,), stderr=subprocess.PIPE)  # 3: kept after the dup2
    try:
        assert _ping(path) == 200  # answered on the passed socket (connections wait in its backlog)
        started = time.monotonic()
        assert proc.wait(30) == 0  # then idle for a second: it ends by itself
        assert time.monotonic() - started >= 1
        assert b"fd://3" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
        os.unlink(path)


def test_containers_outlive_the_server(api):
    api.docker("run", "-d", "--name", "keeper", "busybox", "sleep", "300")
    pid = api.json("GET", "/containers/keeper/json")["State"]["Pid"]
    api.stop()
    os.kill(pid, 0)  # still running without the server
    assert "keeper" in api.berth.out("ps", "--format", "{{.Names}}")
    again = Service(api.workdir).start()  # the same store, a new server
    try:
        assert again.out("ps", "--format", "{{.Names}} {{.State}}").split() == ["keeper", "running"]
        again.docker("rm", "-f", "keeper")
    finally:
        again.stop()
