"""The health checker: the process that runs one container run's health checks.

berth has no daemon to run docker's health monitor in, so `start` starts one small process per run
of a container that has a health check (`berth container healthcheck ID PID`, detached, in its own
session). It runs the check through the runtime's exec on docker's schedule (HTTP-GET and
TCP-SOCKET probes it makes itself, container.netprobe), records each result in the container's
health.json (container.health), and ends when the run ends:

- It sleeps on a pidfd of the container's first process, with the time to the next probe as the
  timeout: no polling between probes, and it wakes the moment the container ends (stop, kill -9,
  rm -f, the command exiting), during a probe too.
- Each result is recorded under the container's lock, and only while the record still shows the
  run this checker was started for: a result of a run that ended (a restart started a new run and
  its own checker) or of a removed container is dropped, and no file is made in a directory that
  rm is removing.
- A probe's runtime files (its pid file and error log) live in a staging directory of the store's
  tmp/, not in the container's directory, which rm may be removing meanwhile; a checker killed
  half-way leaves only that directory, which the next command opening the store removes, and a
  health.json that is either the old one or the new one (atomic rename).

A check that gates its Services' traffic (health_gates_traffic: a kube readinessProbe's) that
turns healthy, or stops being healthy, has the network service send its pod's Services to their
ready backends again (NetworkService.readiness_changed), once the result is recorded and the lock
released.

When the run is unhealthy, the checker carries out the container's --health-on-failure action
(ContainerService.act_on_unhealthy) after each failed probe (podman's rule), once the result is
recorded and the lock released: it kills or stops the run, or restarts the container itself, the
new run getting a checker of its own as any start does. The checker is nobody's child but init's,
in a session of its own, so the run it ends does not take it along midway; it ends afterwards, as
with any end of its run.

A probe that outlives its timeout is killed (SIGKILL, as dockerd's containerd sends it, to the
process group the runtime started it in, so that what it started does not pile up probe after
probe) and recorded with exit code -1, as docker records it.
"""
from __future__ import annotations

import math
import os
import select
import signal
import time

from berth.container import health

START_LIMIT = 30.0   # seconds a probe may take to start before it counts as failed (dockerd's)
START_POLL = 0.01    # how often a starting probe's pid file is looked for
REAP_LIMIT = 5.0     # seconds to wait for the runtime to end after its process was killed


class Checker:
    def __init__(self, service, cid: str, pid: int):
        self.service, self.records = service, service.records
        self.cid, self.pid = cid, pid

    def run(self) -> None:
        try:
            self.container_fd = os.pidfd_open(self.pid)
        except (ProcessLookupError, OSError):  # the run ended already
            return
        try:
            c = self.records.get(self.cid)
        except LookupError:
            return
        if c.status not in ("running", "paused") or c.state["pid"] != self.pid:
            return  # a later run (with its own checker), or none
        self.started_at = c.state["started_at"]
        self.probe = health.probe(c.config.get("healthcheck"), c.config.get("shell"))
        if self.probe is None:
            return
        self.on_failure = c.config.get("health_on_failure") or "none"
        self.settings = health.Settings(c.config["healthcheck"])
        self.status = (health.read(self.records.dir(self.cid)) or {}).get("Status", "starting")
        if not isinstance(self.probe, list):  # a network probe: made from the container's namespace
            try:
                self.netns = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return
            if _wait_readable(self.container_fd, 0):  # the pid was reused: that namespace is not its
                return
            self.address = self._address(c)
            try:
                self._loop()
            finally:
                os.close(self.netns)
            return
        from berth.store.fsutil import Staging
        with Staging(self.service.store.tmp, "health-") as scratch:
            self.scratch = scratch.path
            self._loop()

    def _address(self, c) -> str:
        """Where network probes connect, as kubelet to the pod's IP: the container's first network
        address (a pod member's or a container:ID one's is that of the container whose network it
        shares), 127.0.0.1 without one (host, none)."""
        network = c.config["network"]
        if network.startswith("container:"):
            try:
                c = self.records.get(network.partition(":")[2])
            except LookupError:
                return "127.0.0.1"
        settings = self.service.network_settings(c) or {}
        return settings.get("address") or settings.get("address6") or "127.0.0.1"

    def _loop(self) -> None:
        while True:
            wait = self.settings.next_wait(self.status, time.time() - self.started_at)
            if self._container_ended(wait):
                return
            try:
                c = self.records.get(self.cid)
            except LookupError:
                return
            if c.state["started_at"] != self.started_at or c.status not in ("running", "paused"):
                return
            if c.status == "paused":  # as dockerd: no probes while paused
                continue
            result = self._probe() if isinstance(self.probe, list) else self._network_probe()
            if result is None:
                return
            if not self._record(result):
                return
            if result["ExitCode"] != 0 and self.status == "unhealthy" and self.on_failure != "none":
                # (podman's rule: each failure while unhealthy, so an action that did not take is
                # tried again) the run ends (kill, stop) or a new run with a checker of its own
                # replaces it (restart); this checker then ends with the run, in the loop's next wait
                self.service.act_on_unhealthy(self.cid, self.started_at)

    def _container_ended(self, timeout: float) -> bool:
        """Sleep `timeout` seconds, or until the container ends (True)."""
        return _wait_readable(self.container_fd, timeout)

    # ---- one probe ---------------------------------------------------------------------------

    def _network_probe(self) -> dict | None:
        """Make an HTTP-GET or TCP-SOCKET probe (container.netprobe); None if the container ended
        meanwhile."""
        from berth.container import netprobe
        start = time.time()
        try:
            code, output = netprobe.run(self.probe, self.netns, self.address, self.settings.timeout,
                                        self.settings.timeout_text)
        except OSError as e:  # the namespace could not be entered
            code, output = -1, f"cannot enter the container's network namespace: {e}"
        if _wait_readable(self.container_fd, 0):
            return None
        return {"Start": start, "End": time.time(), "ExitCode": code, "Output": output[:health.MAX_OUTPUT]}

    def _probe(self) -> dict | None:
        """Run the check once: {"Start", "End", "ExitCode", "Output"}, or None if the container
        ended meanwhile (nothing is recorded then, as dockerd records nothing)."""
        from berth.errors import BerthError
        from berth.runtime import process
        start = time.time()
        pid_file = os.path.join(self.scratch, "probe.pid")
        try:
            prepared = self.service.exec_command(self.cid, self.probe, scratch=self.scratch, pid_file=pid_file)
            runtime_pid, out_r, err_r = process.spawn(prepared.args)
        except BerthError as e:  # not running any more, or the runtime is gone: as dockerd, an error
            return {"Start": start, "End": time.time(), "ExitCode": -1, "Output": str(e)}
        output = _LimitedOutput()
        try:
            runtime_fd = os.pidfd_open(runtime_pid)
            outcome = self._watch(runtime_fd, (out_r, err_r), pid_file, output)
            os.close(runtime_fd)
        finally:
            for fd in (out_r, err_r):
                _close(fd)
            returncode = process.wait(runtime_pid)
            _unlink(pid_file)
        from berth.runtime.oci import runtime_errors, runtime_message
        messages = runtime_errors(prepared.log)
        if outcome == "ended":
            return None
        if outcome == "timeout":
            shown = output.text()
            message = f"Health check exceeded timeout ({self.settings.timeout_text})"
            return {"Start": start, "End": time.time(), "ExitCode": -1,
                    "Output": f"{message}: {shown}" if shown else message}
        if outcome == "unstarted":
            return {"Start": start, "End": time.time(), "ExitCode": -1,
                    "Output": f"timed out starting health check for container {self.cid}"}
        if returncode == 255 and messages:  # the runtime could not run it: dockerd's exec error
            return {"Start": start, "End": time.time(), "ExitCode": -1,
                    "Output": f"OCI runtime exec failed: {runtime_message(messages[-1])}"}
        return {"Start": start, "End": time.time(), "ExitCode": returncode, "Output": output.text()}

    def _watch(self, runtime_fd: int, pipes: tuple, pid_file: str, output: "_LimitedOutput") -> str:
        """Collect the probe's output until the runtime ends ("done"), the probe outlives its
        timeout ("timeout", killed), does not start in time ("unstarted") or the container ends
        ("ended")."""
        poller = select.poll()
        open_pipes = set(pipes)
        for fd in (runtime_fd, self.container_fd, *pipes):
            poller.register(fd, select.POLLIN)
        started = deadline = None
        give_up = time.monotonic() + START_LIMIT
        while True:
            now = time.monotonic()
            if started is None and os.path.exists(pid_file):  # the timeout counts from the process' start
                started, deadline = now, now + self.settings.timeout
            if deadline is not None and now >= deadline:
                self._kill_probe(pid_file, runtime_fd)
                self._drain(open_pipes, output)
                return "timeout"
            if started is None and now >= give_up:
                self._kill_runtime(runtime_fd, grace=0)
                return "unstarted"
            wait = START_POLL if started is None else deadline - now
            for fd, _ in poller.poll(max(1, int(wait * 1000))):
                if fd == self.container_fd:  # its exec ends with it; one that hangs is killed
                    self._kill_runtime(runtime_fd, grace=1.0)
                    return "ended"
                if fd == runtime_fd:
                    self._drain(open_pipes, output)
                    return "done"
                if fd in open_pipes:
                    chunk = os.read(fd, 65536)
                    if chunk:
                        output.add(chunk)
                    else:
                        poller.unregister(fd)
                        open_pipes.discard(fd)

    def _kill_probe(self, pid_file: str, runtime_fd: int) -> None:
        try:
            with open(pid_file) as f:
                probe_pid = int(f.read().strip())
            # the runtime makes it a session (and group) leader: what it started goes with it
            os.killpg(probe_pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        self._kill_runtime(runtime_fd, grace=REAP_LIMIT)

    @staticmethod
    def _kill_runtime(runtime_fd: int, grace: float) -> None:
        """The runtime process itself, unless it ends within `grace` seconds."""
        if not _wait_readable(runtime_fd, grace):
            try:
                signal.pidfd_send_signal(runtime_fd, signal.SIGKILL)
            except OSError:
                pass

    @staticmethod
    def _drain(pipes: set, output: "_LimitedOutput") -> None:
        """What the probe wrote before it ended; a process it left behind may hold the pipe open,
        so only what is there now is read."""
        for fd in pipes:
            os.set_blocking(fd, False)
            try:
                while chunk := os.read(fd, 65536):
                    output.add(chunk)
            except BlockingIOError:
                pass

    # ---- recording ---------------------------------------------------------------------------

    def _record(self, result: dict) -> bool:
        """Fold the result into health.json, under the container's lock; False if this run is over."""
        with self.records.lock(self.cid):
            try:
                c = self.records.get(self.cid)
            except LookupError:
                return False
            if c.state["started_at"] != self.started_at or c.status not in ("running", "paused"):
                return False
            bundle = self.records.dir(self.cid)
            state = health.read(bundle) or health.fresh(None)
            was_healthy = state["Status"] == "healthy"
            state = health.apply(state, result, self.settings, self.started_at)
            try:
                health.write(bundle, state)
            except OSError:  # (a full disk): the checks go on, and the next result is written whole
                return True
            self.status = state["Status"]
        if c.config.get("health_gates_traffic") and was_healthy != (self.status == "healthy"):
            # a readiness check: its pod's Services are rebuilt over the ready backends, reading the
            # status just written (outside the container's lock: iptables takes its time)
            self.service.networks.readiness_changed(c)
        return True


class _LimitedOutput:
    """The first MAX_OUTPUT bytes of stdout and stderr as they come, "..." if more was written."""

    def __init__(self):
        self.data, self.truncated = bytearray(), False

    def add(self, chunk: bytes) -> None:
        room = health.MAX_OUTPUT - len(self.data)
        self.data += chunk[:max(room, 0)]
        self.truncated = self.truncated or len(chunk) > room

    def text(self) -> str:
        return self.data.decode(errors="replace") + ("..." if self.truncated else "")


def _wait_readable(fd: int, timeout: float) -> bool:
    """Whether `fd` becomes readable within `timeout` seconds (a pidfd: its process ended)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if poller.poll(max(0, min(math.ceil(left * 1000), 2**31 - 1))):
            return True
        if left <= 0:
            return False


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
