"""`berth attach` to a running container: output that comes after attaching, stdin, and the exit code."""
import os
import subprocess

from container_helpers import inspect, names, popen, socket_count, wait_for
from helpers import BERTH


def test_attach_gets_later_output_and_exit_code(busybox):
    busybox.run("run", "-d", "--name", "late", "busybox", "sh", "-c", "sleep 1; echo later; echo oops >&2; exit 4")
    p = busybox.run("attach", "late", check=False)
    assert p.stdout == b"later\n" and p.stderr == b"oops\n" and p.returncode == 4
    busybox.run("rm", "late")


def test_attach_sends_stdin(busybox):
    busybox.run("run", "-d", "-i", "--name", "echoer", "busybox", "sh", "-c", "read line; echo got:$line")
    p = subprocess.run(BERTH + ["--root", busybox.root, "attach", "echoer"], input=b"hello\n",
                       capture_output=True, timeout=30)
    assert p.stdout == b"got:hello\n" and p.returncode == 0
    busybox.run("rm", "echoer")


def test_attach_to_stopped_container_is_refused(busybox):
    busybox.run("create", "--name", "idle", "busybox", "true")
    p = busybox.run("attach", "idle", check=False)
    assert p.returncode == 1 and b"start it first" in p.stderr
    busybox.run("rm", "idle")


def test_run_i_rm_into_a_command_that_stops_reading(busybox):
    """`yes | berth run -i --rm ... head -n1`: the container's stdin closes while the client still
    sends; the client drops the rest of its input, prints the output, returns the container's
    code, and removes it."""
    import shlex
    cmd = shlex.join(BERTH + ["--root", busybox.root, "run", "-i", "--rm", "busybox", "head", "-n1"])
    for _ in range(3):
        p = subprocess.run(f"yes | {cmd}", shell=True, capture_output=True, timeout=30)
        assert (p.returncode, p.stdout, p.stderr) == (0, b"y\n", b"")
    assert names(busybox, "-a") == []


def test_output_is_whole_when_the_client_still_has_input_to_send(busybox):
    """The container ends while input it never read is still on its way from the client: the
    monitor ends the connection cleanly (no reset), and the client gets all of the output."""
    import threading
    proc = popen(busybox, "run", "-i", "--rm", "busybox", "sh", "-c",
                 "sleep 0.5; seq 1 20000; exec >&- 2>&-; sleep 0.2", stdin=subprocess.PIPE)

    def feed():
        try:
            proc.stdin.write(b"\0" * 150000)  # more than the pipes and sockets on the way hold
            proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        # nobody reads the client's output until the container is gone
        exits = os.path.join(busybox.root, "exits")
        wait_for(lambda: os.path.isdir(exits) and os.listdir(exits), what="the exit file")
        out = proc.stdout.read()
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert out == b"".join(b"%d\n" % i for i in range(1, 20001))
    assert proc.returncode == 0
    wait_for(lambda: names(busybox, "-a") == [], what="the --rm container removed")


def test_only_the_client_that_started_the_container_closes_its_stdin(busybox):
    """docker's StdinOnce: the end of an attach client (killed, or its input ended) leaves the
    stdin of a container started with -d -i open for the next one."""
    busybox.run("run", "-d", "-i", "--name", "cat1", "busybox", "sh", "-c",
                "while read l; do echo got $l; done; echo STDIN-EOF; sleep 100")
    monitor = inspect(busybox, "cat1")["State"]["MonitorPid"]
    before = socket_count(monitor)
    clients = []
    try:
        watcher = popen(busybox, "attach", "--no-stdin", "cat1")
        clients.append(watcher)
        wait_for(lambda: socket_count(monitor) == before + 1, what="the client connected")
        watcher.kill()
        watcher.wait()
        wait_for(lambda: socket_count(monitor) == before, what="the killed client's connection gone")
        for line in (b"one", b"two"):
            client = popen(busybox, "attach", "cat1", stdin=subprocess.PIPE)
            clients.append(client)
            client.stdin.write(line + b"\n")
            client.stdin.close()  # the end of this client's input
            wait_for(lambda: b"got " + line in busybox.run("logs", "cat1").stdout, timeout=5,
                     what=f"{line.decode()} reaching the container")
        assert b"STDIN-EOF" not in busybox.run("logs", "cat1").stdout
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()


def test_a_reader_that_leaves_early_still_gets_the_exit_code_and_rm(busybox):
    import shlex
    berth = " ".join(map(shlex.quote, BERTH + ["--root", str(busybox.root)]))
    p = subprocess.run(["bash", "-c", f"{berth} run --rm busybox seq 1 200000 | head -1; echo rc=${{PIPESTATUS[0]}}"],
                       capture_output=True, timeout=60)
    assert (p.stdout, p.stderr) == (b"1\nrc=0\n", b"")  # the rest of the output is dropped, not an error
    assert names(busybox, "-a") == []
