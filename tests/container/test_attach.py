"""`berth attach` to a running container: output that comes after attaching, stdin, and the exit code."""
import subprocess

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
