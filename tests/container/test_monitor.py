"""berth-monitor (src/berth/runtime/monitor.c) through real containers: its log format, the attach
socket (several clients, a path too long for a socket address) and its size."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time

from container_helpers import inspect, monitor_pids, popen, socket_count, wait_for
from helpers import BERTH, Berth


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


def _id(berth, name: str) -> str | None:
    proc = berth.run("inspect", "--format", "{{.Id}}", name, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def test_a_slow_foreground_client_holds_the_output_back_and_loses_none_of_it(busybox):
    """`berth run`'s client stops reading: the container waits for it (flow control, as docker's)
    instead of the monitor blocking on it, so the monitor still serves other clients' input
    meanwhile; once the client reads again every line comes, and the log has them all."""
    from berth.runtime.attach import connect
    proc = popen(busybox, "run", "-i", "--name", "slow", "busybox", "sh", "-c",
                 "seq 1 300000 & read line; echo $line > /got; wait; echo END", stdin=subprocess.PIPE)
    try:
        cid = wait_for(lambda: _id(busybox, "slow"), what="the container started")
        log = os.path.join(busybox.root, "containers", cid, "ctr.log")
        wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 0, what="output begun")
        time.sleep(0.5)  # nobody reads the client's stdout: by now the output is stuck
        other = connect(os.path.join(busybox.root, "containers", cid))
        try:
            other.send(b"hello\n")
            wait_for(lambda: busybox.run("exec", "slow", "cat", "/got", check=False).stdout == b"hello\n",
                     timeout=5, what="another client's input delivered while the output waits")
        finally:
            other.close()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    expected = b"".join(b"%d\n" % i for i in range(1, 300001)) + b"END\n"
    assert proc.returncode == 0, err
    assert out == expected
    assert busybox.run("logs", "slow").stdout == expected


def test_an_attach_client_far_behind_is_detached_with_a_notice(busybox):
    """A client other than the foreground one that stops reading holds nothing back: past a few
    MiB it is detached, and told so; the container runs on and its log has everything."""
    busybox.run("run", "-d", "--name", "big", "busybox", "sh", "-c",
                "while [ ! -e /go ]; do sleep 0.05; done; head -c 8000000 /dev/zero; echo; echo END")
    monitor = inspect(busybox, "big")["State"]["MonitorPid"]
    before = socket_count(monitor)
    client = popen(busybox, "attach", "big")  # its stdout is a pipe that nobody reads for now
    try:
        wait_for(lambda: socket_count(monitor) == before + 1, what="the client connected")
        busybox.run("exec", "big", "touch", "/go")
        waited = subprocess.run(BERTH + ["--root", busybox.root, "wait", "big"], capture_output=True, timeout=8)
        assert waited.stdout == b"0\n"
        out, err = client.communicate(timeout=20)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 1 and b"detached" in err and b"Traceback" not in err, err
    assert 0 < len(out) < 8000000
    logged = busybox.run("logs", "big").stdout
    assert len(logged) == 8000005 and logged.endswith(b"\nEND\n")


def test_more_than_32_attach_clients(busybox):
    from berth.runtime.attach import connect
    busybox.run("run", "-d", "--name", "many", "busybox", "sh", "-c",
                "while [ ! -e /go ]; do sleep 0.05; done; echo hello")
    doc = inspect(busybox, "many")
    monitor = doc["State"]["MonitorPid"]
    before = socket_count(monitor)
    socks = [connect(os.path.join(busybox.root, "containers", doc["Id"])) for _ in range(40)]
    try:
        wait_for(lambda: socket_count(monitor) == before + 40, timeout=5, what="40 clients connected")
        busybox.run("exec", "many", "touch", "/go")
        for s in socks:
            s.settimeout(10)
            assert s.recv(100) == b"\x02hello\n"
            assert s.recv(100) == b""
    finally:
        for s in socks:
            s.close()


def test_the_monitor_keeps_no_fd_of_its_caller(busybox):
    """A pipe that `berth run -d`'s caller left open in it: EOF comes when berth is done, not when
    the container ends (the monitor closes what it inherits by accident)."""
    import select
    r, w = os.pipe()
    try:
        subprocess.run(BERTH + ["--root", busybox.root, "run", "-d", "--name", "leak", "busybox", "sleep", "30"],
                       pass_fds=(w,), capture_output=True, check=True, timeout=30)
        os.close(w)
        w = -1
        assert select.select([r], [], [], 5)[0], "the pipe is still held open"
        assert os.read(r, 1) == b""
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def _fake_runtime(tmp_path, body: str) -> str:
    """A stand-in for runc, called as `RUNTIME run --detach --bundle B --pid-file F [--console-socket S] ID`:
    `body` runs with `pid_file` and `console` (or None) set, in Python."""
    import sys
    path = tmp_path / "fake-runtime"
    path.write_text(f"#!{sys.executable}\nimport os, socket, sys, time\nargs = sys.argv\n"
                    "pid_file = args[args.index('--pid-file') + 1]\n"
                    "console = args[args.index('--console-socket') + 1] if '--console-socket' in args else None\n"
                    + body)
    path.chmod(0o755)
    return str(path)


def _start_monitor(tmp_path, runtime: str, *extra, exit_command=(), pass_fds=()):
    """berth-monitor run directly; returns (its pid, bundle)."""
    from berth.runtime.monitor import BINARY
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    sync_r, sync_w = os.pipe()
    try:
        subprocess.run([BINARY, "--runtime", runtime, "--id", "probe", "--bundle", str(bundle),
                        "--pid-file", str(bundle / "pidfile"), "--exit-file", str(tmp_path / "exit"),
                        "--log", str(bundle / "log"), "--sync-fd", str(sync_w), *extra, "--", *exit_command],
                       pass_fds=(sync_w, *pass_fds), check=True, timeout=10)
        os.close(sync_w)
        sync_w = -1
        with os.fdopen(sync_r, "rb") as f:
            pid, monitor = map(int, f.readline().split())
    finally:
        if sync_w >= 0:
            os.close(sync_w)
    assert pid > 0, "the fake runtime failed"
    return monitor, bundle


def test_the_exit_command_is_no_subreaper_and_inherits_no_stray_fd(tmp_path):
    """berth-monitor itself, with a stand-in runtime: the exit command it execs is not a child
    subreaper (its orphans go to init, not to it) and holds no fd the monitor's caller leaked."""
    import sys
    runtime = _fake_runtime(tmp_path, "pid = os.fork()\nif pid == 0:\n    time.sleep(0.2)\n    os._exit(0)\n"
                                      "open(pid_file, 'w').write(str(pid))\n")
    report = tmp_path / "report"
    probe = ("import ctypes, os; v = ctypes.c_int(-1); ctypes.CDLL(None).prctl(37, ctypes.byref(v), 0, 0, 0); "
             f"open({str(report) + '.tmp'!r}, 'w').write(repr((v.value, os.listdir('/proc/self/fd')))); "
             f"os.rename({str(report) + '.tmp'!r}, {str(report)!r})")  # 37: PR_GET_CHILD_SUBREAPER
    stray_r, stray_w = os.pipe()
    try:
        _start_monitor(tmp_path, runtime, exit_command=(sys.executable, "-c", probe), pass_fds=(stray_w,))
        wait_for(report.exists, timeout=10, what="the exit command's report")
        subreaper, fds = eval(report.read_text())
        assert subreaper == 0
        assert str(stray_w) not in fds
        assert (tmp_path / "exit").read_text() == "0"
    finally:
        os.close(stray_r)
        os.close(stray_w)


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_waiting_for_the_console_does_not_spin_on_an_unrelated_child(tmp_path):
    """-t: while the runtime has not handed over the pty yet, an orphan of the runtime dies under
    the monitor (its subreaper); the monitor waits on, without spinning on that SIGCHLD."""
    runtime = _fake_runtime(tmp_path, """
import pty
if os.fork() == 0:  # an orphan that ends while the monitor waits for the console
    if os.fork() == 0:
        time.sleep(0.05)
        os._exit(0)
    os._exit(0)
os.wait()
time.sleep(0.6)
master, slave = pty.openpty()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(console)
socket.send_fds(s, [b"console"], [master])
pid = os.fork()
if pid == 0:  # the "container": holds the pty for a moment
    os.dup2(slave, 1)
    time.sleep(0.3)
    os._exit(0)
open(pid_file, "w").write(str(pid))
""")
    monitor, _ = _start_monitor(tmp_path, runtime, "--terminal")
    ticks = _cpu_ticks(monitor)
    wait_for(lambda: (tmp_path / "exit").exists(), what="the exit file")
    assert ticks < 20, f"the monitor used {ticks} ticks of CPU time waiting for the console"
    assert (tmp_path / "exit").read_text() == "0"


def test_a_resize_line_split_across_reads_of_the_ctl_fifo(busybox):
    """The monitor reads the ctl fifo in pieces: a line cut at the end of one read is kept for
    the next, not parsed as two broken ones."""
    busybox.run("run", "-d", "-t", "--name", "r", "busybox", "sh", "-c",
                "while [ \"$(stty size)\" != '44 88' ]; do sleep 0.05; done; echo resized")
    bundle = os.path.join(busybox.root, "containers", inspect(busybox, "r")["Id"])
    data = b"1 10 10\n" * 31 + b"\n\n" + b"1 44 88\n"  # the last line straddles byte 255
    fd = os.open(os.path.join(bundle, "ctl"), os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, data)  # one write: a fifo takes up to PIPE_BUF bytes at once
    finally:
        os.close(fd)
    waited = subprocess.run(BERTH + ["--root", busybox.root, "wait", "r"], capture_output=True, timeout=8)
    assert waited.stdout == b"0\n"
    assert busybox.out("logs", "r").endswith("resized\r\n")


def test_exit_code_and_log_records_survive_a_full_disk(tmp_path):
    """The store's filesystem fills up: a log record that does not fit is left out whole (the
    next one is not glued to half of it), and the exit code is still recorded (its file is
    made at start-up). Input through an attach client paces the container, step by step."""
    import errno
    import re
    from berth.runtime.attach import connect
    from container_helpers import teardown
    if os.geteuid() != 0:
        import pytest
        pytest.skip("mounts a tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(small)], check=True)
    ballast = small / "ballast"

    def fill():
        fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while os.write(fd, b"\0" * (1 << 20)):
                pass
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)

    b = Berth(small / "store")
    try:
        b.run("image", "bootstrap", "busybox")
        b.run("run", "-d", "-i", "--name", "full", "busybox", "sh", "-c",
              "read a; echo hello; read a; printf '%10000s\\n' | tr ' ' x; read a; echo world; read a; exit 7")
        sock = connect(os.path.join(b.root, "containers", inspect(b, "full")["Id"]))
        sock.settimeout(10)

        def step(until: bytes) -> None:  # one line of input; then the output up to `until`
            sock.send(b"\n")
            seen = b""
            while not seen.endswith(until):
                data = sock.recv(65536)
                assert data, seen
                seen += data[1:]

        step(b"hello\n")
        fill()
        step(b"x" * 10000 + b"\n")  # the monitor has read it: its log record did not fit
        os.unlink(ballast)
        step(b"world\n")
        fill()
        sock.send(b"\n")  # the container exits on a full disk
        while sock.recv(65536):
            pass
        sock.close()
        os.unlink(ballast)
        assert b.out("wait", "full") == "7\n"
        with open(os.path.join(b.root, "containers", inspect(b, "full")["Id"], "ctr.log"), "rb") as f:
            records = f.read().splitlines()
        record = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d (stdout|stderr) [FP] ")
        assert all(record.match(r) and not record.search(r, 1) for r in records), records
        # the x line is left out, or only its last piece (read separately, and small enough) is in
        assert re.fullmatch("hello\n(x*\n)?world\n", b.out("logs", "full"))
    finally:
        if ballast.exists():
            os.unlink(ballast)
        problems = teardown(b)
        subprocess.run(["umount", "-l", str(small)])
    assert not problems, problems
