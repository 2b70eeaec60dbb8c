"""The health checker process (container.healthcheck): one per run of a container with a health
check, whoever started it, ending with that run (stop, kill -9 of the container, rm -f, restart),
killing a probe that outlives its timeout, leaving a consistent state when it is killed itself,
and carrying out --health-on-failure. Real containers, as root; the store fixture also fails a
test that leaves a checker running."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal

from container_helpers import berth_pids, checker_pids, cmdline, host_pid_alive, inspect, monitor_pids, wait_for


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


# ---- --health-on-failure ---------------------------------------------------------------------------

def _sickening(berth, name: str, action: str, *flags) -> str:
    """A container that is healthy until /run/sick exists (a tmpfs: each run starts without it),
    probed every 200 ms, unhealthy after 2 failures, with --health-on-failure `action`."""
    cid = berth.out("run", "-d", "--name", name, "--stop-timeout", "0", "--tmpfs", "/run", "--health-cmd",
                    "test ! -f /run/sick", "--health-interval", "200ms", "--health-retries", "2",
                    "--health-on-failure", action, *flags, "busybox", "sleep", "300").strip()
    wait_for(lambda: inspect(berth, name)["State"]["Health"]["Status"] == "healthy", what=f"{name} healthy")
    return cid


def _settled(berth) -> None:
    """Every exit handled: no monitor is left to run its exit command, and no `cleanup` (the restart
    policy's decision) is under way."""
    wait_for(lambda: not monitor_pids(berth.root) and not any("cleanup" in cmdline(p) for p in berth_pids(berth.root)),
             what="the exits handled")


def test_on_failure_restart_starts_a_new_run(busybox):
    """As kubelet on a failed liveness probe: the run ends, a new one starts and is counted, its
    health starts over with a checker of its own, and it keeps running while it is healthy."""
    cid = _sickening(busybox, "live", "restart")
    first = inspect(busybox, "live")
    assert first["Config"]["HealthcheckOnFailureAction"] == "restart" and first["RestartCount"] == 0
    old_checker = _checker(busybox, cid)
    busybox.run("exec", "live", "touch", "/run/sick")
    doc = wait_for(lambda: (d := inspect(busybox, "live"))["RestartCount"] >= 1 and d["State"]["Running"] and d,
                   what="a new run")
    assert doc["State"]["Pid"] != first["State"]["Pid"] and doc["State"]["StartedAt"] != first["State"]["StartedAt"]
    _gone(old_checker, "the checker of the restarted run")
    assert cmdline(_checker(busybox, cid))[-1] == str(doc["State"]["Pid"])  # the new run's own
    h = wait_for(lambda: (h := inspect(busybox, "live")["State"]["Health"])["Status"] == "healthy" and h,
                 what="the new run healthy")
    # the Log goes on across runs: the failures that led to the restart, then the new run's passes
    assert [e["ExitCode"] for e in h["Log"]][-1] == 0 and 1 in [e["ExitCode"] for e in h["Log"]]
    doc = inspect(busybox, "live")  # one restart, and the run it started goes on
    assert (doc["State"]["Status"], doc["RestartCount"]) == ("running", 1) and host_pid_alive(doc["State"]["Pid"])


def test_on_failure_kill_leaves_the_rest_to_the_restart_policy(busybox):
    _sickening(busybox, "killed", "kill")
    _sickening(busybox, "revived", "kill", "--restart", "always")
    for name in ("killed", "revived"):
        busybox.run("exec", name, "touch", "/run/sick")
    st = wait_for(lambda: (st := inspect(busybox, "killed")["State"])["Status"] == "exited" and st, what="killed")
    assert st["ExitCode"] == 137  # SIGKILL, not the stop signal
    # not stopped by the user: `always` restarts it, and its new run is healthy again
    wait_for(lambda: inspect(busybox, "revived")["RestartCount"] >= 1, what="restarted by its policy")
    wait_for(lambda: inspect(busybox, "revived")["State"]["Health"]["Status"] == "healthy", what="healthy again")
    assert inspect(busybox, "killed")["RestartCount"] == 0


def test_on_failure_stop_stops_it_for_good(busybox):
    """As `stop`: the restart policy does not bring it back."""
    _sickening(busybox, "stopped", "stop", "--restart", "always")
    busybox.run("exec", "stopped", "touch", "/run/sick")
    wait_for(lambda: inspect(busybox, "stopped")["State"]["Status"] == "exited", what="stopped")
    _settled(busybox)
    doc = inspect(busybox, "stopped")
    assert (doc["State"]["Status"], doc["RestartCount"]) == ("exited", 0)
    assert checker_pids(busybox.root) == []
