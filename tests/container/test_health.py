"""Health checks with docker's semantics (container.health): the configuration from the image's
HEALTHCHECK and the create flags, the state machine (starting, healthy, unhealthy, the failing
streak, the start period, the Log) and how inspect and ps show it; real containers, as root.
The checker process itself (its end with the run, timeouts, being killed) is in test_healthcheck.py."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from berth.container import health
from berth.errors import InvalidArgument
from container_helpers import checker_pids, expect_error, inspect, wait_for


def _health(berth, name: str) -> dict:
    return inspect(berth, name)["State"].get("Health")


def _status(berth, name: str) -> str:
    return berth.out("inspect", "--format", "{{.State.Health.Status}}", name).strip()


def _ps(berth, *flags) -> dict:
    """{name: STATUS} of `ps` with these flags."""
    return {r["Names"]: r["Status"] for r in berth.jsonlines("ps", "--format", "json", *flags)}


def _time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---- the state machine and the configuration, without containers --------------------------------

def _result(start: float, code: int) -> dict:
    return {"Start": start, "End": start + 0.01, "ExitCode": code, "Output": f"code {code}"}


def test_state_machine_is_dockers():
    settings = health.Settings({"Retries": 2, "StartPeriod": 10 * health.SECOND})
    state = health.fresh(None)
    # failures within the start period leave it starting, with no streak
    for t in (1, 2, 3):
        health.apply(state, _result(100 + t, 1), settings, 100)
    assert (state["Status"], state["FailingStreak"]) == ("starting", 0)
    health.apply(state, _result(111, 1), settings, 100)  # after it: counted
    assert (state["Status"], state["FailingStreak"]) == ("starting", 1)
    health.apply(state, _result(112, 1), settings, 100)
    assert (state["Status"], state["FailingStreak"]) == ("unhealthy", 2)
    health.apply(state, _result(113, 0), settings, 100)
    assert (state["Status"], state["FailingStreak"]) == ("healthy", 0)
    # once healthy, a failure in the start period counts, and one failure is not yet unhealthy
    state2 = health.apply(health.fresh(None), _result(101, 0), settings, 100)
    health.apply(state2, _result(102, 1), settings, 100)
    assert (state2["Status"], state2["FailingStreak"]) == ("healthy", 1)
    # the Log keeps the last five, oldest first; a new run starts over but keeps the Log
    assert [e["Output"] for e in state["Log"]] == ["code 1"] * 4 + ["code 0"]
    again = health.fresh(state)
    assert (again["Status"], again["FailingStreak"], again["Log"]) == ("starting", 0, state["Log"])


def test_schedule_is_dockers():
    s = health.Settings({"Interval": 2 * health.SECOND, "StartPeriod": 10 * health.SECOND,
                         "StartInterval": health.SECOND // 2})
    assert s.next_wait("starting", 0) == 0.5           # the start interval within the start period
    assert s.next_wait("healthy", 0) == 2              # ... only while starting
    assert s.next_wait("starting", 9) == pytest.approx(1)   # never past the end of the start period
    assert s.next_wait("starting", 10) == 2
    d = health.Settings({})
    assert (d.interval, d.timeout, d.retries, d.start_period, d.start_interval) == (30, 30, 3, 0, 5)


def test_merge_over_the_image_and_validation():
    image = {"Test": ["CMD", "true"], "Interval": 5 * health.SECOND, "Retries": 4}
    assert health.merge(image, None) == image
    assert health.merge(image, {"Test": [], "Interval": 7}) == {"Test": ["CMD", "true"], "Interval": 7, "Retries": 4}
    assert health.merge(image, {"Test": ["NONE"]}) == {"Test": ["NONE"], "Interval": 5 * health.SECOND, "Retries": 4}
    assert health.merge(None, None) is None
    assert health.merge({"Test": "not a list", "Interval": "x", "Retries": True}, None) == {}  # a hostile image
    assert health.probe_command({"Test": ["CMD-SHELL", "exit 0"]}, ["/bin/ash", "-c"]) == ["/bin/ash", "-c", "exit 0"]
    assert health.probe_command({"Test": ["NONE"]}, None) is None
    for bad, says in [({"Interval": 500_000}, "Interval in Healthcheck cannot be less than 1ms"),
                      ({"Timeout": -1}, "Timeout in Healthcheck cannot be less than 1ms"),
                      ({"StartInterval": 1}, "StartInterval in Healthcheck cannot be less than 1ms"),
                      ({"Retries": -1}, "Retries in Healthcheck cannot be negative"),
                      ({"Interval": 2**63}, "out of range"),
                      ({"Test": ["CMD"]}, "Healthcheck.Test"), ({"Test": ["NONE", "x"]}, "Healthcheck.Test"),
                      ({"Test": ["SHELL", "x"]}, "Healthcheck.Test"), ({"Test": ["CMD-SHELL", "a", "b"]}, "Test")]:
        with pytest.raises(Exception, match=says):
            health.validate(bad)
    assert [health.go_duration(n) for n in (300_000_000, 30 * health.SECOND, 90 * health.SECOND, 1_500_000,
                                            3600 * health.SECOND)] == ["300ms", "30s", "1m30s", "1.5ms", "1h0m0s"]


def test_network_probe_forms_and_on_failure_actions():
    """berth's HTTP-GET and TCP-SOCKET Tests (kube play's probes), checked at create."""
    http = ["HTTP-GET", "8080", "/healthz?full=1", "https", "X-Check: yes", "Host:  example.test "]
    health.validate({"Test": http})
    assert health.probe({"Test": http}, None) == health.HttpGet(
        8080, "/healthz?full=1", "https", [("X-Check", "yes"), ("Host", "example.test")])
    health.validate({"Test": ["TCP-SOCKET", "65535"]})
    assert health.probe({"Test": ["TCP-SOCKET", "1"]}, ["/bin/sh", "-c"]) == health.TcpSocket(1)
    for bad, says in [(["HTTP-GET", "0", "/", "http"], "invalid port '0'"),
                      (["HTTP-GET", "65536", "/", "http"], "from 1 to 65535"),
                      (["HTTP-GET", "http", "/", "80"], "invalid port 'http'"),
                      (["HTTP-GET", "80", "healthz", "http"], "invalid path 'healthz'"),
                      (["HTTP-GET", "80", "/a b", "http"], "invalid path"),
                      (["HTTP-GET", "80", "/", "ftp"], "invalid scheme 'ftp'"),
                      (["HTTP-GET", "80", "/"], 'use ["HTTP-GET", port, path, scheme'),
                      (["HTTP-GET", "80", "/", "http", "NoColon"], "invalid header 'NoColon'"),
                      (["HTTP-GET", "80", "/", "http", "X: a\r\nInjected: 1"], "invalid header"),
                      (["HTTP-GET", "80", "/", "http", "Bad Name: a"], "invalid header"),
                      (["TCP-SOCKET"], 'use ["TCP-SOCKET", port]'), (["TCP-SOCKET", "80", "x"], "TCP-SOCKET"),
                      (["TCP-SOCKET", "-1"], "invalid port '-1'"), (["TCP-SOCKET", "\u0661"], "invalid port")]:
        with pytest.raises(InvalidArgument, match=re.escape(says)):
            health.validate({"Test": bad})
    # an image's malformed one is not run (as dockerd runs no Test it does not know)
    assert health.probe({"Test": ["HTTP-GET", "80"]}, None) is None
    assert [health.validate_on_failure(a) for a in (None, "", "none", "kill", "restart", "stop")] == [
        "none", "none", "none", "kill", "restart", "stop"]
    with pytest.raises(InvalidArgument, match='invalid argument "reboot" for "--health-on-failure" flag'):
        health.validate_on_failure("reboot")


# ---- real containers -----------------------------------------------------------------------------

def test_starting_then_healthy(busybox):
    busybox.run("run", "-d", "--name", "web", "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms",
                "--health-retries", "1000", "busybox", "sleep", "300")
    assert inspect(busybox, "web")["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -f /tmp/ok"], "Interval": 200_000_000, "Retries": 1000}
    assert inspect(busybox, "web")["Config"]["HealthcheckOnFailureAction"] == "none"  # podman's default
    # failing probes leave it starting (retries not reached)
    h = wait_for(lambda: (h := _health(busybox, "web")) and len(h["Log"]) >= 2 and h, what="two failed probes")
    assert h["Status"] == "starting" and h["FailingStreak"] >= 2
    assert all(e["ExitCode"] == 1 for e in h["Log"])
    assert _status(busybox, "web") == "starting"
    assert _ps(busybox)["web"].endswith("(health: starting)")
    assert list(_ps(busybox, "--filter", "health=starting")) == ["web"]
    assert _ps(busybox, "--filter", "health=healthy") == {}
    busybox.run("exec", "web", "touch", "/tmp/ok")
    wait_for(lambda: _status(busybox, "web") == "healthy", what="healthy")
    h = _health(busybox, "web")
    assert h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0 and len(h["Log"]) <= 5
    for e in h["Log"]:
        assert _time(e["Start"]) <= _time(e["End"])
    assert _ps(busybox)["web"].startswith("Up ") and _ps(busybox)["web"].endswith(" (healthy)")
    assert list(_ps(busybox, "--filter", "health=healthy")) == ["web"]
    # stopped: dockerd reports the checks' end as unhealthy; ps shows the exit only
    busybox.run("stop", "-t", "0", "web")
    assert _status(busybox, "web") == "unhealthy"
    assert _ps(busybox, "-a")["web"].startswith("Exited")


def test_unhealthy_after_retries_and_back(busybox):
    check = "test -f /tmp/ok || { echo out; echo err >&2; exit 3; }"
    busybox.run("run", "-d", "--name", "sick", "--health-cmd", check, "--health-interval", "100ms",
                "--health-retries", "2", "busybox", "sleep", "300")
    wait_for(lambda: _status(busybox, "sick") == "unhealthy", what="unhealthy")
    h = _health(busybox, "sick")
    assert h["FailingStreak"] >= 2 and 2 <= len(h["Log"]) <= 5
    for e in h["Log"]:
        assert e["ExitCode"] == 3 and sorted(e["Output"].split()) == ["err", "out"]
    assert _ps(busybox)["sick"].endswith("(unhealthy)")
    assert list(_ps(busybox, "--filter", "health=unhealthy")) == ["sick"]
    busybox.run("exec", "sick", "touch", "/tmp/ok")
    wait_for(lambda: _status(busybox, "sick") == "healthy", what="healthy again")
    assert _health(busybox, "sick")["FailingStreak"] == 0


def test_output_is_bounded(busybox):
    busybox.run("run", "-d", "--name", "loud", "--health-cmd", "head -c 100000 /dev/zero | tr '\\0' x; exit 1",
                "--health-interval", "100ms", "busybox", "sleep", "300")
    entry = wait_for(lambda: (h := _health(busybox, "loud")) and h["Log"] and h["Log"][0], what="a probe")
    assert entry["Output"] == "x" * 4096 + "..." and entry["ExitCode"] == 1


def test_start_period_failures_do_not_count(busybox):
    period = 3.0
    busybox.run("run", "-d", "--name", "slow", "--health-cmd", "exit 1", "--health-start-period", f"{period:g}s",
                "--health-start-interval", "100ms", "--health-interval", "1s", "--health-retries", "1",
                "busybox", "sleep", "300")
    started = _time(inspect(busybox, "slow")["State"]["StartedAt"])

    def seen():
        h = _health(busybox, "slow")
        if h["Log"] and all(_time(e["Start"]) < started + period for e in h["Log"]):
            # failures so far are all within the start period: not counted
            assert (h["Status"], h["FailingStreak"]) == ("starting", 0), h
        return h["Status"] == "unhealthy" and h
    h = wait_for(seen, timeout=period + 10, what="unhealthy after the start period")
    late = [e for e in h["Log"] if _time(e["Start"]) >= started + period]
    assert len(h["Log"]) == 5 and all(e["ExitCode"] == 1 for e in h["Log"])
    assert 1 <= h["FailingStreak"] == len(late) < 5  # the failures in the period were probed, not counted


def test_image_healthcheck_and_no_healthcheck(busybox):
    busybox.run("build", "-t", "checked", "-", input=b"FROM busybox\n"
                b"HEALTHCHECK --interval=100ms --retries=7 CMD [\"/bin/sh\", \"-c\", \"exit 0\"]\n")
    image = busybox.json("image", "inspect", "checked")[0]
    assert image["Config"]["Healthcheck"] == {"Test": ["CMD", "/bin/sh", "-c", "exit 0"], "Interval": 100_000_000,
                                              "Retries": 7}
    busybox.run("run", "-d", "--name", "inherits", "checked", "sleep", "300")
    wait_for(lambda: _status(busybox, "inherits") == "healthy", what="the image's check passing")
    busybox.run("run", "-d", "--name", "over", "--health-interval", "150ms", "checked", "sleep", "300")
    assert inspect(busybox, "over")["Config"]["Healthcheck"] == {
        "Test": ["CMD", "/bin/sh", "-c", "exit 0"], "Interval": 150_000_000, "Retries": 7}
    busybox.run("run", "-d", "--name", "off", "--no-healthcheck", "checked", "sleep", "300")
    doc = inspect(busybox, "off")
    # docker's merge: NONE over the image's Test, its other fields kept (and unused)
    assert doc["Config"]["Healthcheck"]["Test"] == ["NONE"] and "Health" not in doc["State"]
    assert not busybox.run("inspect", "--format", "{{.State.Health.Status}}", "off", check=False).stdout.strip()
    assert _ps(busybox)["off"].startswith("Up ") and "(" not in _ps(busybox)["off"]
    assert list(_ps(busybox, "--filter", "health=none")) == ["off"]
    wait_for(lambda: _status(busybox, "over") == "healthy", what="the overridden check passing")
    assert len(checker_pids(busybox.root)) == 2  # inherits and over; none for off


def test_bad_flags_are_refused_and_create_nothing(busybox):
    for args, says in [(("--no-healthcheck", "--health-cmd", "true"), "--no-healthcheck conflicts with --health-*"),
                       (("--no-healthcheck", "--health-retries", "2"), "conflicts"),
                       (("--health-interval", "10"), 'missing unit in duration "10"'),
                       (("--health-timeout", "soon"), "--health-timeout"),
                       (("--health-retries", "x"), "--health-retries"),
                       (("--health-retries=-1",), "--health-retries cannot be negative"),
                       (("--health-interval=-1s",), "--health-interval cannot be negative"),
                       (("--health-interval", "500us"), "Interval in Healthcheck cannot be less than 1ms"),
                       (("--health-on-failure", "reboot"), 'invalid argument "reboot" for "--health-on-failure"'),
                       (("--health-on-failure", "restart", "--rm"),
                        "cannot specify both --health-on-failure restart and --rm")]:
        expect_error(busybox, "create", *args, "busybox", says=says)
    assert busybox.out("ps", "-aq") == ""


def test_bad_probes_are_refused_at_create(busybox):
    """kube play's path (a ContainerSpec): the error names what is wrong, and nothing is made."""
    from berth.container.spec import ContainerSpec
    from berth.engine import Engine
    with Engine(busybox.root) as engine:
        for spec, says in [({"healthcheck": {"Test": ["HTTP-GET", "80", "/", "gopher"]}}, "invalid scheme 'gopher'"),
                           ({"healthcheck": {"Test": ["TCP-SOCKET", "99999"]}}, "invalid port '99999'"),
                           ({"health_on_failure": "explode"}, '"--health-on-failure"')]:
            with pytest.raises(InvalidArgument, match=re.escape(says)):
                engine.containers.create(ContainerSpec("busybox", ["true"], **spec))
    assert busybox.out("ps", "-aq") == ""
    busybox.run("create", "--name", "fine", "--health-on-failure", "kill", "--health-cmd", "true", "busybox")
    assert inspect(busybox, "fine")["Config"]["HealthcheckOnFailureAction"] == "kill"
