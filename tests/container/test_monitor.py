"""berth-monitor (src/berth/runtime/monitor.c) through real containers: its log format, the attach
socket (several clients, a path too long for a socket address) and its size."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time

from container_helpers import inspect, monitor_pids, popen, socket_count, wait_for
from helpers import Berth


def test_log_lines_partial_lines_and_streams(busybox):
    busybox.run("run", "--name", "l", "busybox", "sh", "-c", "echo one; printf two; echo err >&2; echo; printf end")
    cid = busybox.out("inspect", "--format", "{{.Id}}", "l").strip()
    with open(os.path.join(busybox.root, "containers", cid, "ctr.log"), "rb") as f:
        records = [line.rstrip(b"\n").split(b" ", 3) for line in f]
    # k8s-file: RFC 3339 time with nanoseconds and a zone, stream, F(ull) or P(artial) line, text
    assert all(len(r[0]) == len("2026-01-01T00:00:00.000000000+00:00") and r[0][10:11] == b"T" for r in records)
    texts = [(r[1], r[2], r[3] if len(r) == 4 else b"") for r in records]
    stdout = [(tag, text) for stream, tag, text in texts if stream == b"stdout"]
    assert stdout[0] == (b"F", b"one") and stdout[-1] == (b"P", b"end")
    assert b"".join(text + (b"\n" if tag == b"F" else b"") for tag, text in stdout) == b"one\ntwo\nend"
    assert [(t, x) for s, t, x in texts if s == b"stderr"] == [(b"F", b"err")]
    assert busybox.out("logs", "l") == "one\ntwo\nend"


def test_two_attached_clients_both_see_the_output(busybox):
    busybox.run("run", "-d", "--name", "a", "busybox", "sh", "-c",
                "while [ ! -e /go ]; do sleep 0.05; done; echo hello; echo oops >&2")
    monitor = inspect(busybox, "a")["State"]["MonitorPid"]
    before = socket_count(monitor)
    clients = [popen(busybox, "attach", "a") for _ in range(2)]
    wait_for(lambda: socket_count(monitor) == before + 2, what="both clients connected before the output")
    busybox.run("exec", "a", "touch", "/go")
    for c in clients:
        out, err = c.communicate(timeout=20)
        assert (c.returncode, out, err) == (0, b"hello\n", b"oops\n")


def test_attach_socket_under_a_root_too_long_for_a_socket_address(tmp_path):
    root = tmp_path / ("long-" + "x" * 60) / "store"  # bundle/attach is well over 108 bytes
    b = Berth(root)
    b.run("image", "bootstrap", "busybox")
    cid = b.out("run", "-d", "-i", "--name", "t", "busybox", "sh", "-c", "read line; echo got $line").strip()
    assert len(os.path.join(str(root), "containers", cid, "attach")) > 108
    proc = b.run("attach", "t", input=b"it\n")
    assert proc.stdout == b"got it\n"
    assert b.out("wait", "t") == "0\n"
    assert b.out("run", "--rm", "busybox", "echo", "ok") == "ok\n"
    b.run("rm", "t")


def test_the_monitor_is_small_and_inspect_names_it(busybox):
    busybox.run("run", "-d", "--name", "s", "busybox", "sleep", "60")
    (pid,) = monitor_pids(busybox.root)
    assert busybox.json("inspect", "s")[0]["State"]["MonitorPid"] == pid
    with open(f"/proc/{pid}/status") as f:
        rss = int(next(line for line in f if line.startswith("VmRSS:")).split()[1])
    assert rss <= 2048, f"monitor VmRSS {rss} kB"
    busybox.run("rm", "-f", "s")
    wait_for(lambda: monitor_pids(busybox.root) == [], what="monitor gone")


def _read_until(fd: int, marker: bytes, timeout: float = 20) -> bytes:
    import select
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: every user of the pty's other side is gone
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_terminal_gets_a_pty_the_clients_size_and_its_keystrokes(busybox):
    """-it from a terminal: the container's stdio is a pty (handed over by the runtime through the
    monitor's console socket), sized as the client's terminal and resized with it, and what is
    typed reaches it."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 77, 0, 0))
    proc = popen(busybox, "run", "--rm", "-it", "busybox", "sh", "-c",
                 "tty; stty size; while [ \"$(stty size)\" != '44 88' ]; do sleep 0.05; done; "
                 "read line; echo got:$line $(stty size)", stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        seen = _read_until(master, b"33 77")
        assert b"/dev/pts/" in seen and b"33 77" in seen, seen
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 44, 88, 0, 0))
        proc.send_signal(signal.SIGWINCH)  # what the kernel sends the terminal's foreground process
        os.write(master, b"typed\r")  # read once the container has seen the new size
        seen += _read_until(master, b"got:typed 44 88")
        assert b"got:typed 44 88" in seen, seen
        assert proc.wait(timeout=20) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def test_terminal_without_a_client_terminal(busybox):
    """-t with berth's own stdio not a terminal: the container still gets a pty, output still comes."""
    out = busybox.run("run", "--rm", "-t", "busybox", "sh", "-c", "tty; echo done").stdout
    assert out.startswith(b"/dev/pts/") and out.endswith(b"done\r\n")


def test_input_and_output_both_large_never_wait_on_each_other(busybox):
    """A container that writes megabytes before it reads its megabytes of input: the client keeps
    reading output while its input waits, and the monitor holds input back instead of blocking."""
    data = os.urandom(3 << 20).hex().encode()  # 6 MiB of input
    script = 'head -c 2000000 /dev/zero | tr "\\0" a; sha256sum | cut -c1-64'
    proc = popen(busybox, "run", "--rm", "-i", "busybox", "sh", "-c", script, stdin=subprocess.PIPE)
    out, err = proc.communicate(data, timeout=60)
    assert proc.returncode == 0, err
    assert out == b"a" * 2000000 + hashlib.sha256(data).hexdigest().encode() + b"\n"
    # and a round trip of the same input through cat comes back unchanged
    assert busybox.run("run", "--rm", "-i", "busybox", "cat", input=data).stdout == data
