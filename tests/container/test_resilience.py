"""Containers outlive berth: kill -9 of every berth process; concurrent runs; and bad input that
must fail with one clear line and leave nothing behind."""
from __future__ import annotations

import os
import signal
import time

from container_helpers import (berth_pids, cmdline, monitor_pids, expect_error, host_pid_alive, inspect,
                               mounts_under, names, popen, state, wait_for)

TICK = 'trap "exit 0" TERM; i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.05; done'


def test_kill_9_of_every_berth_process_leaves_containers_running(busybox):
    busybox.run("run", "-d", "--name", "d1", "busybox", "sh", "-c", TICK)
    busybox.run("run", "-d", "--name", "d2", "-v", "vol:/v", "busybox", "sleep", "300")
    fg = popen(busybox, "run", "--name", "fg", "busybox", "sh", "-c", TICK)  # attached, in the foreground
    follower = popen(busybox, "logs", "-f", "d1")
    wait_for(lambda: set(names(busybox)) == {"d1", "d2", "fg"}, what="three running containers")
    wait_for(lambda: b"tick3\n" in busybox.run("logs", "fg").stdout, what="output of fg")
    monitors = monitor_pids(busybox.root)
    pids = {n: state(busybox, n)["Pid"] for n in ("d1", "d2", "fg")}
    assert len(monitors) == 3

    victims = berth_pids(busybox.root)
    assert fg.pid in victims and follower.pid in victims
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    fg.wait(timeout=5)
    follower.wait(timeout=5)
    assert fg.returncode == -signal.SIGKILL and berth_pids(busybox.root) == []

    # containers and their monitors live on, and a fresh berth sees them as they are
    assert all(host_pid_alive(p) for p in monitors + list(pids.values()))
    assert set(names(busybox)) == {"d1", "d2", "fg"}
    assert {n: state(busybox, n)["Pid"] for n in pids} == pids
    seen = busybox.out("logs", "fg").count("tick")
    wait_for(lambda: busybox.out("logs", "fg").count("tick") > seen + 3, what="fg still logging")
    assert busybox.out("exec", "d2", "sh", "-c", "echo ok > /v/f; cat /v/f") == "ok\n"
    started = time.monotonic()
    assert busybox.out("stop", "d1", "fg") == "d1\nfg\n"
    assert time.monotonic() - started < 5
    assert state(busybox, "d1")["ExitCode"] == 0 and state(busybox, "fg")["ExitCode"] == 0
    busybox.run("rm", "-f", "d2")
    assert names(busybox, "-a") == ["d1", "fg"]
    wait_for(lambda: monitor_pids(busybox.root) == [], what="monitors gone")


def test_killed_restarter_does_not_leave_a_container_restarting_forever(busybox):
    busybox.run("run", "-d", "--name", "r", "--restart", "always", "busybox", "sh", "-c", "exit 1")
    # after 4 restarts the back-off is 1.6 s: long enough to catch the restarter waiting
    wait_for(lambda: inspect(busybox, "r")["RestartCount"] >= 4, timeout=30, what="four restarts")

    def waiting_restarter():
        if state(busybox, "r")["Status"] != "restarting":
            return None
        return [p for p in berth_pids(busybox.root) if "cleanup" in cmdline(p)]
    restarters = wait_for(waiting_restarter, timeout=15, what="a restarter in its back-off")
    for pid in restarters:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not any(host_pid_alive(p) for p in restarters), what="restarter gone")
    st = state(busybox, "r")
    assert st["Status"] == "exited" and st["Restarting"] is False
    count = inspect(busybox, "r")["RestartCount"]
    time.sleep(0.5)
    assert inspect(busybox, "r")["RestartCount"] == count
    busybox.run("rm", "r")  # an exited container: no -f needed
    assert names(busybox, "-a") == []


def test_parallel_runs_all_succeed_with_unique_names(busybox):
    procs = [popen(busybox, "run", "-d", "busybox", "sleep", "300") for _ in range(20)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    failures = [(code, err) for code, _, err in results if code != 0]
    assert failures == []
    ids = [out.decode().strip() for _, out, _ in results]
    assert len(set(ids)) == 20
    rows = busybox.jsonlines("ps", "--format", "json", "--no-trunc")
    assert sorted(r["ID"] for r in rows) == sorted(ids)
    assert len({r["Names"] for r in rows}) == 20 and all(r["State"] == "running" for r in rows)
    assert len(monitor_pids(busybox.root)) == 20

    # racing for one name: exactly one wins, the others fail cleanly and leave nothing
    procs = [popen(busybox, "run", "-d", "--name", "same", "busybox", "sleep", "300") for _ in range(5)]
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 125, 125, 125, 125]  # docker run's code for its errors
    for code, _, err in results:
        if code:
            assert err.decode().startswith("Error: ") and err.count(b"\n") == 1 and b"already in use" in err
    assert len(os.listdir(os.path.join(busybox.root, "containers"))) == 21
    assert len(busybox.out("ps", "-aq").split()) == 21


def test_bad_input_fails_with_one_line_and_leaves_nothing(busybox, tmp_path):
    busybox.run("run", "-d", "--name", "taken", "busybox", "sleep", "300")
    busybox.run("run", "--name", "done", "busybox", "true")
    missing = tmp_path / "missing"
    env_missing = tmp_path / "no-env-file"

    def store_state():
        root = busybox.root
        return (busybox.out("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}"),
                busybox.out("volume", "ls", "-q"),
                sorted(os.listdir(os.path.join(root, "containers"))), sorted(os.listdir(os.path.join(root, "exits"))),
                sorted(mounts_under(root)),
                sorted(os.listdir(os.path.join(root, "volumes"))))
    before = store_state()
    run = ("run", "--rm")
    cases = [
        (("run", "nosuch:latest", "true"), "no such image"),
        (("run", "-d", "nosuch", "true"), "no such image"),
        ((*run, "--memory", "abc", "busybox", "true"), "memory"),
        ((*run, "--memory", "1k", "busybox", "true"), "memory"),
        ((*run, "--memory-swap", "lots", "-m", "64m", "busybox", "true"), "memory-swap"),
        (("run", "--restart", "sometimes", "busybox", "true"), "restart policy"),
        (("run", "--restart", "on-failure:x", "busybox", "true"), "restart policy"),
        (("run", "--rm", "--restart", "always", "busybox", "true"), "conflicting"),
        ((*run, "--cpus", "99", "busybox", "true"), "cpus"),
        ((*run, "--cpus", "abc", "busybox", "true"), "cpus"),
        ((*run, "--pids-limit", "abc", "busybox", "true"), "pids-limit"),
        ((*run, "--stop-timeout", "soon", "busybox", "true"), "stop-timeout"),
        ((*run, "--stop-signal", "SIGFOO", "busybox", "true"), "signal"),
        ((*run, "--cap-add", "NOT_A_CAP", "busybox", "true"), "capability"),
        ((*run, "--security-opt", "apparmor=x", "busybox", "true"), "security-opt"),
        ((*run, "--network", "mesh", "busybox", "true"), "network"),
        ((*run, "-v", f"{missing}:/x", "busybox", "true"), "does not exist"),
        (("run", "-d", "-v", f"{missing}:/x", "-v", "/anon", "busybox", "true"), "does not exist"),
        ((*run, "--mount", f"type=bind,src={missing},dst=/x", "busybox", "true"), "does not exist"),
        ((*run, "-v", "relative:x", "busybox", "true"), "absolute"),
        ((*run, "-v", "bad name:/x", "busybox", "true"), "volume name"),
        ((*run, "--mount", "type=nfs,dst=/x", "busybox", "true"), "mount type"),
        ((*run, "--tmpfs", "relative", "busybox", "true"), "absolute"),
        ((*run, "--env-file", env_missing, "busybox", "true"), "env file"),
        ((*run, "-e", "=x", "busybox", "true"), "environment variable"),
        ((*run, "-w", "relative", "busybox", "true"), "working directory"),
        (("run", "--name", "taken", "busybox", "true"), "already in use"),
        (("create", "--name", "taken", "busybox", "true"), "already in use"),
        (("run", "--name", "bad/name", "busybox", "true"), "invalid container name"),
        (("run", "-u", "nosuchuser", "-v", "/anon", "busybox", "true"), "nosuchuser"),
        (("run", "-d", "-u", "nosuchuser", "busybox", "true"), "nosuchuser"),
        (("run", "busybox", "/no/such/binary"), "no such file"),
        (("run", "-d", "-v", "/anon", "busybox", "/no/such/binary"), "no such file"),
        (("run", "--entrypoint", "", "busybox"), "no command"),
        (("start", "nosuch"), "no such container"),
        (("stop", "nosuch"), "no such container"),
        (("rm", "nosuch"), "no such container"),
        (("rm", "taken"), "running"),
        (("kill", "done"), "not running"),
        (("exec", "done", "true"), "not running"),
        (("pause", "done"), "not running"),
        (("logs", "nosuch"), "no such container"),
        (("logs", "--tail", "few", "taken"), "tail"),
        (("container", "inspect", "nosuch"), "no such container"),
        (("inspect", "nosuch"), "no such"),
        (("wait", "nosuch"), "no such container"),
        (("rename", "taken", "done"), "already in use"),
        (("rename", "taken", "bad/name"), "invalid container name"),
        (("volume", "create", "--opt", "type=bogus", "v"), "volume type"),
    ]
    failures = []
    for args, says in cases:
        try:
            expect_error(busybox, *args, says=says)
        except AssertionError as e:
            failures.append(str(e))
    assert failures == [], "\n".join(failures)
    assert store_state() == before
    # docker's exit codes for a command that cannot run
    assert busybox.run("run", "--rm", "busybox", "/no/such/binary", check=False).returncode == 127
    assert busybox.run("run", "--rm", "busybox", "/etc/passwd", check=False).returncode == 126
    assert store_state() == before
    assert names(busybox, "-a") == ["done", "taken"] and state(busybox, "taken")["Status"] == "running"


def test_a_killed_monitor_is_reported_not_hidden(busybox):
    """If the monitor itself dies, the container cannot be held: berth reports it exited and cleans up."""
    busybox.run("run", "-d", "--name", "m", "busybox", "sleep", "300")
    pid = state(busybox, "m")["Pid"]
    (monitor,) = monitor_pids(busybox.root)
    os.kill(monitor, signal.SIGKILL)
    wait_for(lambda: not host_pid_alive(monitor), what="monitor gone")
    st = state(busybox, "m")
    assert st["Status"] == "exited" and st["Running"] is False
    wait_for(lambda: not host_pid_alive(pid), what="the orphaned container killed")
    busybox.run("rm", "m")
    assert mounts_under(busybox.root) == []
