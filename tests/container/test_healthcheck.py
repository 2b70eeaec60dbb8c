"""The health checker process (container.healthcheck): one per run of a container with a health
check, whoever started it, ending with that run (stop, kill -9 of the container, rm -f, restart),
killing a probe that outlives its timeout, and leaving a consistent state when it is killed itself.
Real containers, as root; the store fixture also fails a test that leaves a checker running."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal

from container_helpers import checker_pids, cmdline, host_pid_alive, inspect, wait_for


def _checker(berth, cid: str) -> int:
    """The one checker of container `cid` (waited for: `start` returns once it is started)."""
    def find():
        pids = [p for p in checker_pids(berth.root) if cid in cmdline(p)]
        assert len(pids) <= 1, f"two checkers for one container: {pids}"
        return pids[0] if pids else None
    return wait_for(find, what="the health checker")


def _time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _gone(pid: int, what: str) -> None:
    wait_for(lambda: not host_pid_alive(pid), what=what)


def _run(berth, name: str, *flags) -> str:
    return berth.out("run", "-d", "--name", name, "--health-cmd", "exit 0", "--health-interval", "100ms", *flags,
                     "busybox", "sleep", "300").strip()


def test_each_run_has_its_own_checker_that_ends_with_it(busybox):
    cid = _run(busybox, "web")
    first = _checker(busybox, cid)
    assert cmdline(first)[-1] == str(inspect(busybox, "web")["State"]["Pid"])  # it watches this run
    wait_for(lambda: inspect(busybox, "web")["State"]["Health"]["Status"] == "healthy", what="healthy")

    busybox.run("stop", "-t", "0", "web")
    _gone(first, "the checker to end with stop")
    assert checker_pids(busybox.root) == []

    busybox.run("start", "web")
    second = _checker(busybox, cid)
    assert second != first
    busybox.run("restart", "-t", "0", "web")
    _gone(second, "the checker to end with the restarted run")
    third = _checker(busybox, cid)
    # the new run starts over (starting, no streak), keeps the Log, and its own checker makes it healthy
    wait_for(lambda: inspect(busybox, "web")["State"]["Health"]["Status"] == "healthy", what="healthy again")

    os.kill(inspect(busybox, "web")["State"]["Pid"], signal.SIGKILL)  # the container dies under it
    _gone(third, "the checker to end with a container killed by SIGKILL")
    wait_for(lambda: inspect(busybox, "web")["State"]["Status"] == "exited", what="exited")
    assert inspect(busybox, "web")["State"]["Health"]["Status"] == "unhealthy"  # as dockerd shows a stopped one

    busybox.run("start", "web")
    fourth = _checker(busybox, cid)
    busybox.run("rm", "-f", "web")
    _gone(fourth, "the checker to end with rm -f")
    assert os.listdir(os.path.join(busybox.root, "tmp")) == []  # its scratch directory went with it


def test_restart_policy_runs_get_checkers_too(busybox):
    """A run started by the restart policy (the monitor's cleanup, no CLI): it is checked as well."""
    cid = busybox.out("run", "-d", "--name", "again", "--restart", "always", "--health-cmd", "exit 0",
                      "--health-interval", "100ms", "busybox", "sh", "-c", "sleep 1").strip()
    first = _checker(busybox, cid)
    _gone(first, "the first run's checker")
    wait_for(lambda: inspect(busybox, "again")["RestartCount"] >= 1 and any(
        cid in cmdline(p) for p in checker_pids(busybox.root)), what="a checker of the restarted run")
    busybox.run("rm", "-f", "again")


def test_a_probe_past_its_timeout_is_killed_and_counted(busybox):
    # (the last `echo` keeps the shell from exec'ing sleep: the probe is a shell with a child)
    cid = busybox.out("run", "-d", "--name", "stuck", "--health-cmd", "echo begun; sleep 30; echo never",
                      "--health-timeout", "300ms", "--health-interval", "100ms", "--health-retries", "2",
                      "busybox", "sleep", "300").strip()
    wait_for(lambda: inspect(busybox, "stuck")["State"]["Health"]["Status"] == "unhealthy", timeout=20,
             what="unhealthy from timeouts")
    h = inspect(busybox, "stuck")["State"]["Health"]
    assert h["FailingStreak"] >= 2
    for e in h["Log"]:
        assert e["ExitCode"] == -1 and e["Output"] == "Health check exceeded timeout (300ms): begun\n"
        assert 0.3 <= _time(e["End"]) - _time(e["Start"]) < 3  # killed when due, not left to linger
    # what timed out was killed with its shell: only the probe under way is left (its shell and its
    # sleep), not a sleep per timed-out probe
    wait_for(lambda: inspect(busybox, "stuck")["State"]["Health"]["FailingStreak"] >= 3, what="a third timeout")
    processes = busybox.out("top", "stuck").splitlines()[1:]
    assert sum(line.endswith(" sleep 30") for line in processes) <= 1, processes
    assert _checker(busybox, cid)


def test_a_killed_checker_leaves_a_consistent_state(busybox):
    cid = busybox.out("run", "-d", "--name", "victim", "--health-cmd", "sleep 0.2", "--health-interval", "100ms",
                      "busybox", "sleep", "300").strip()
    pid = _checker(busybox, cid)
    wait_for(lambda: inspect(busybox, "victim")["State"]["Health"]["Log"], what="a probe recorded")
    scratch = [n for n in os.listdir(os.path.join(busybox.root, "tmp")) if n.startswith("health-")]
    assert scratch  # the probe's runtime files are kept out of the container's directory
    os.kill(pid, signal.SIGKILL)  # most likely mid-probe (a probe takes 0.2 s of every 0.3 s)
    _gone(pid, "the killed checker")
    with open(os.path.join(busybox.root, "containers", cid, "health.json")) as f:
        state = json.load(f)  # whole: the last write or the one before it
    assert state["Status"] in ("starting", "healthy")
    inspect(busybox, "victim")  # the next command removes what the checker left in tmp/
    wait_for(lambda: not [n for n in os.listdir(os.path.join(busybox.root, "tmp")) if n.startswith("health-")],
             what="the scratch directory removed")
    busybox.run("restart", "-t", "0", "victim")  # and the next run is checked again
    _checker(busybox, cid)
