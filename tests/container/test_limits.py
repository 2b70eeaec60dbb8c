"""Resource limits, stop semantics, --init and restart policies with real containers: what the
kernel enforces (OOM kill, pids), what the cgroup holds, and the exit codes docker gives."""
from __future__ import annotations

import os
import time

from container_helpers import cgroup_dir, inspect, popen, read, state, wait_for

# one process holding 64 MiB (dd's buffer): with a pipeline the kernel could OOM-kill a small
# member of it (`tr`) instead, and the command would end with 0
ALLOC_64M = "dd if=/dev/zero of=/dev/null bs=64M count=1"
ALLOC_1M = 'x=$(head -c 1048576 /dev/zero | tr "\\0" a); echo ${#x}'


def test_memory_limit_oom_kill(busybox, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = popen(busybox, "run", "--name", "oom", "--memory", "32m", "busybox", "sh", "-c", ALLOC_64M, cwd=cwd)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 137 and out == b""
    assert os.listdir(cwd) == []  # nothing of the monitor's lands in the user's directory
    st = state(busybox, "oom")
    assert (st["Status"], st["ExitCode"], st["OOMKilled"]) == ("exited", 137, True)
    assert inspect(busybox, "oom")["HostConfig"]["Memory"] == 32 << 20
    # within the limit nothing happens; and detached, the monitor's cleanup records the OOM kill
    assert busybox.out("run", "--name", "fits", "--memory", "32m", "busybox", "sh", "-c", ALLOC_1M) == "1048576\n"
    assert state(busybox, "fits")["OOMKilled"] is False
    busybox.run("run", "-d", "--name", "doom", "--memory", "16m", "busybox", "sh", "-c", ALLOC_64M)
    assert busybox.out("wait", "doom") == "137\n"
    assert state(busybox, "doom")["OOMKilled"] is True
    # a restart clears it
    busybox.run("start", "fits")
    assert busybox.out("wait", "fits") == "0\n" and state(busybox, "fits")["OOMKilled"] is False


def test_oom_kill_of_a_child_is_read_from_the_cgroup_too(busybox):
    """OOMKilled counts any process of the container, as docker does, not just PID 1: berth reads the
    memory cgroup's oom_kill counter before the runtime removes the cgroup."""
    script = f'{ALLOC_64M}; echo survived:$?; trap "exit 0" TERM; while true; do sleep 0.05; done'
    cid = busybox.out("run", "-d", "--name", "c", "--memory", "32m", "busybox", "sh", "-c", script).strip()
    # the kernel reclaims what it can before it kills: seconds, more on a busy machine
    wait_for(lambda: "survived:137" in busybox.out("logs", "c"), timeout=60, what="the child OOM-killed, PID 1 alive")
    # one or more: the kernel may pick the allocating process and also the shell running it
    control = dict(line.split() for line in read(os.path.join(cgroup_dir("memory", cid), "memory.oom_control")).splitlines())
    assert int(control["oom_kill"]) >= 1, control
    busybox.run("stop", "c")
    st = state(busybox, "c")
    assert (st["ExitCode"], st["OOMKilled"]) == (0, True)


def test_memory_limit_oom_kill_debian(debian):
    """The same through perl in the debian image, with a 128 MiB string."""
    proc = debian.run("run", "--name", "p", "-m", "48m", "debian:bookworm", "perl", "-e",
                      '$x = "a" x (128 << 20); print length($x), "\\n"', check=False)
    assert proc.returncode == 137
    assert state(debian, "p")["OOMKilled"] is True
    assert debian.out("run", "--rm", "-m", "48m", "debian:bookworm", "perl", "-e",
                      '$x = "a" x (8 << 20); print length($x), "\\n"') == f"{8 << 20}\n"


def test_pids_cpus_memory_are_in_the_cgroup(busybox):
    cid = busybox.out("run", "-d", "--name", "l", "--pids-limit", "20", "--cpus", "0.5", "--memory", "64m",
                      "busybox", "sleep", "300").strip()
    assert read(os.path.join(cgroup_dir("pids", cid), "pids.max")).strip() == "20"
    assert read(os.path.join(cgroup_dir("cpu", cid), "cpu.cfs_quota_us")).strip() == "50000"
    assert read(os.path.join(cgroup_dir("cpu", cid), "cpu.cfs_period_us")).strip() == "100000"
    assert int(read(os.path.join(cgroup_dir("memory", cid), "memory.limit_in_bytes"))) == 64 << 20
    pid = state(busybox, "l")["Pid"]
    assert f"/berth/{cid}" in read(f"/proc/{pid}/cgroup")
    host = inspect(busybox, "l")["HostConfig"]
    assert (host["PidsLimit"], host["NanoCpus"], host["Memory"]) == (20, 500_000_000, 64 << 20)
    # the kernel enforces the pids limit on everything in the container, exec'd processes included
    proc = busybox.run("exec", "l", "sh", "-c",
                       "for i in $(seq 40); do sleep 30 </dev/null >/dev/null 2>&1 & done; echo spawned", check=False)
    assert b"can't fork" in proc.stderr or b"Resource temporarily unavailable" in proc.stderr, proc.stderr[-300:]
    assert int(read(os.path.join(cgroup_dir("pids", cid), "pids.current"))) <= 20
    # unlimited by default
    cid2 = busybox.out("run", "-d", "busybox", "sleep", "300").strip()
    assert read(os.path.join(cgroup_dir("pids", cid2), "pids.max")).strip() == "max"
    assert read(os.path.join(cgroup_dir("cpu", cid2), "cpu.cfs_quota_us")).strip() == "-1"


def _timed_stop(berth, *args) -> float:
    started = time.monotonic()
    berth.run("stop", *args)
    return time.monotonic() - started


def test_stop_timeout_then_kill_and_term_handlers(busybox):
    ignore = 'trap "" TERM; while true; do sleep 0.05; done'
    handle = 'trap "exit 143" TERM; while true; do sleep 0.05; done'
    busybox.run("run", "-d", "--name", "ign", "--stop-timeout", "1", "busybox", "sh", "-c", ignore)
    busybox.run("run", "-d", "--name", "ign2", "busybox", "sh", "-c", ignore)
    busybox.run("run", "-d", "--name", "term", "busybox", "sh", "-c", handle)
    assert inspect(busybox, "ign")["Config"]["StopTimeout"] == 1

    took = _timed_stop(busybox, "ign")  # --stop-timeout 1
    assert 1.0 <= took < 5 and state(busybox, "ign")["ExitCode"] == 137
    took = _timed_stop(busybox, "-t", "1", "ign2")
    assert 1.0 <= took < 5 and state(busybox, "ign2")["ExitCode"] == 137
    took = _timed_stop(busybox, "term")
    assert took < 3 and state(busybox, "term")["ExitCode"] == 143
    # a process killed by TERM (not PID 1: it gets no default actions) exits 128+15 through --init
    busybox.run("run", "-d", "--name", "k", "--init", "busybox", "sleep", "300")
    took = _timed_stop(busybox, "-t", "20", "k")
    assert took < 3 and state(busybox, "k")["ExitCode"] == 143
    # kill -s sends the signal given
    busybox.run("run", "-d", "--name", "usr", "busybox", "sh", "-c",
                'trap "exit 42" USR1; while true; do sleep 0.05; done')
    busybox.run("kill", "-s", "USR1", "usr")
    assert busybox.out("wait", "usr") == "42\n"


def test_init_is_pid1_and_reaps_and_forwards(busybox):
    orphan = "(sleep 0.1 &); exec sleep 300"  # an orphan that PID 1 must reap when it exits
    busybox.run("run", "-d", "--name", "i", "--init", "busybox", "sh", "-c", orphan)
    busybox.run("run", "-d", "--name", "n", "busybox", "sh", "-c", orphan)
    assert busybox.out("exec", "i", "cat", "/proc/1/cmdline").split("\0")[:2] == ["/dev/init", "--"]
    assert "catatonit" in busybox.run("exec", "i", "/dev/init", "--version", check=False).stdout.decode() + \
        busybox.run("exec", "i", "/dev/init", "--version", check=False).stderr.decode()
    assert inspect(busybox, "i")["HostConfig"]["Init"] is True

    def zombies(name):
        lines = busybox.out("exec", name, "ps", "-o", "stat,comm").splitlines()[1:]
        return [line for line in lines if line.startswith("Z")]
    # without an init, `sleep` as PID 1 never reaps: the orphan stays a zombie (so the test can fail)
    wait_for(lambda: zombies("n"), what="the orphan's zombie in the container without an init")
    assert zombies("i") == []  # its orphan was started first and has exited as well: reaped
    # TERM reaches the child through catatonit: no stop timeout
    started = time.monotonic()
    busybox.run("stop", "-t", "20", "i")
    assert time.monotonic() - started < 3 and state(busybox, "i")["ExitCode"] == 143


def test_restart_on_failure_retries_then_gives_up(busybox):
    busybox.run("run", "-d", "--name", "f", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3")
    busybox.run("run", "-d", "--name", "ok", "--restart", "on-failure", "busybox", "sh", "-c", "echo run; exit 0")
    wait_for(lambda: inspect(busybox, "f")["RestartCount"] == 2 and state(busybox, "f")["Status"] == "exited",
             timeout=20, what="two restarts")
    time.sleep(1.0)
    doc = inspect(busybox, "f")
    assert (doc["RestartCount"], doc["State"]["Status"], doc["State"]["ExitCode"]) == (2, "exited", 3)
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert busybox.out("logs", "f") == "run\n" * 3
    ok = inspect(busybox, "ok")
    assert (ok["RestartCount"], ok["State"]["Status"], ok["State"]["ExitCode"]) == (0, "exited", 0)


def test_restart_always_restarts_after_exit_but_not_after_stop(busybox):
    busybox.run("run", "-d", "--name", "a", "--restart", "always", "busybox", "sh", "-c", "echo run; sleep 0.2")
    busybox.run("run", "-d", "--name", "tight", "--restart", "always", "busybox", "true")
    busybox.run("run", "-d", "--name", "killed", "--restart", "always", "busybox", "sleep", "300")
    wait_for(lambda: all(inspect(busybox, n)["RestartCount"] >= 2 for n in ("a", "tight")),
             timeout=20, what="two restarts each")
    busybox.run("stop", "-t", "1", "a", "tight")  # `tight` is mostly between runs: the stop must stick
    busybox.run("kill", "killed")
    counts = {n: inspect(busybox, n)["RestartCount"] for n in ("a", "tight", "killed")}
    assert counts["killed"] == 0
    time.sleep(1.5)
    for name in ("a", "tight", "killed"):
        doc = inspect(busybox, name)
        assert doc["State"]["Status"] == "exited" and doc["RestartCount"] == counts[name], (name, doc["State"])
    # a stop during the back-off cancels a restart already counted (as docker counts it)
    assert busybox.out("logs", "a") in ("run\n" * counts["a"], "run\n" * (counts["a"] + 1))
    assert busybox.out("ps", "-q") == ""
    # start clears "stopped by the user": the policy applies again
    busybox.run("start", "a")
    wait_for(lambda: inspect(busybox, "a")["RestartCount"] > counts["a"], timeout=10, what="restart after start")


def test_update_changes_the_limits_of_a_running_container_and_the_next_run(busybox):
    cid = busybox.out("run", "-d", "-m", "64m", "busybox", "sleep", "300").strip()
    busybox.run("update", "-m", "128m", "--cpus", "0.25", "--pids-limit", "30", "--restart", "on-failure:2", cid)
    assert int(read(os.path.join(cgroup_dir("memory", cid), "memory.limit_in_bytes"))) == 128 << 20
    assert read(os.path.join(cgroup_dir("cpu", cid), "cpu.cfs_quota_us")).strip() == "25000"
    assert read(os.path.join(cgroup_dir("pids", cid), "pids.max")).strip() == "30"
    host = inspect(busybox, cid)["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (128 << 20, 250_000_000, 30)
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    busybox.run("restart", "-t", "0", cid)  # the next run starts with the new limits
    assert int(read(os.path.join(cgroup_dir("memory", cid), "memory.limit_in_bytes"))) == 128 << 20
    bad = busybox.run("update", "-m", "1m", cid, check=False)
    assert bad.returncode != 0 and b"minimum memory limit" in bad.stderr
    assert int(read(os.path.join(cgroup_dir("memory", cid), "memory.limit_in_bytes"))) == 128 << 20
    busybox.run("rm", "-f", cid)
