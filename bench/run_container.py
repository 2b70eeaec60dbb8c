#!/usr/bin/env python3
"""Benchmark: container start, `berth run --rm IMG /bin/true` against podman, docker and bare runc.

All four run the same busybox rootfs (/var/tmp/berth-peers/busybox.tar, made by
`../shared/peers/setup --fixtures`), imported once as IMAGE into each engine:
  berth:  `berth --root STORE import TAR IMAGE`, then `berth --root STORE run --rm --network none IMAGE /bin/true`;
  podman: `podman import TAR IMAGE` into a private store (--root/--runroot/--tmpdir under
          /var/tmp/berth-bench, every other setting podman's default: overlay, runc, cgroupfs, conmon),
          then `podman ... run --rm --network none IMAGE /bin/true`;
  docker: `docker import TAR IMAGE` into the running dockerd, then `docker run --rm --network none IMAGE /bin/true`;
  runc:   `runc --root R run --bundle B ID` of a bundle whose rootfs is the same tar unpacked and whose
          config.json is `runc spec` (own network namespace, i.e. --network none) with terminal off
          and args /bin/true; a fresh ID each run (runc run deletes the container when it exits);
  berth-nopyc: berth again, but compiling its own modules at every start (see NOPYC_ENV below).

Measured, in one run:
  1. wall time of each command, WARMUP untimed runs then RUNS timed runs, interleaved (the order
     rotates every round); median and p90. Between two runs we wait, untimed, until the previous
     run's background work is over (the monitor and the exit command `... container cleanup` that
     it runs after the container exits), so that no run pays for its predecessor; how long that
     background tail lasted after the command returned is reported too.
  2. berth start latency with 1 and with 100 existing containers in the store (half created, half
     exited): `berth run --rm IMAGE /bin/true` and `berth start -a NAME` of an exited /bin/true
     container, in two stores (STORES/main with 1 container, STORES/many with 100), interleaved.
  3. RSS of the per-container monitor: `berth run -d IMAGE sleep 60` and `podman run -d ... sleep 60`,
     VmRSS (and Pss, RssAnon) of their monitors (berth-monitor, conmon) from /proc; docker's containerd-shim for reference.
Every container started here is removed at the end.

The result table is printed and written into BENCHMARKS.md (section SECTION, replaced if present).
--profile (also automatic when berth misses the goal) breaks `berth run --rm` down: interpreter
start, imports (-X importtime), a timeline of berth's phases (subprocesses, mounts, sqlite, sleeps)
recorded by a probe that runs berth's CLI in-process, and the exit command's own cost.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BENCHMARKS, berth_cmd, write_section  # bench/ is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = Path(os.environ.get("BERTH_BENCH_CACHE", "/var/tmp/berth-bench"))
STORES = CACHE / "run-store"  # berth stores of this benchmark, nothing else
STORE = STORES / "main"        # side by side, RSS, profile; also the store with 1 container
MANY = STORES / "many"         # the store with 100 containers
PODMAN_ROOT = CACHE / "stores" / "podman-run"
PODMAN_RUN = CACHE / "r" / "podman-run"  # the runroot must stay short (socket paths)
RUNC_BUNDLE = CACHE / "runc-bundle"
RUNC_STATE = CACHE / "r" / "runc"
TAR = Path("/var/tmp/berth-peers/busybox.tar")
IMAGE = "localhost/berth-bench/busybox:latest"
SECTION = "## container start (run --rm /bin/true)"
GOAL_RATIO = 0.6
GOAL_RSS_KB = 2048
MONITORS = ("berth-monitor", "conmon")
ENGINES = ("berth", "berth-nopyc", "podman", "docker", "runc", "berth-bridge", "podman-bridge")

# berth is timed as an installed Python program runs: with its bytecode cached. The bytecode goes to
# CACHE/pycache (PYTHONPYCACHEPREFIX), not into the source tree, and whatever __pycache__ the
# source tree has or lacks does not matter. Where the environment sets PYTHONDONTWRITEBYTECODE=1
# (this sandbox does) and the sources have no __pycache__, every berth process, the monitor's exit
# command included, compiles all of berth again: that is measured too, as "berth-nopyc", with a
# bytecode cache (CACHE/pycache-nosrc) that holds everything but berth's own modules.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
NOPYC_PREFIX = CACHE / "pycache-nosrc"
NOPYC_ENV = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(NOPYC_PREFIX))


# ---- commands ----------------------------------------------------------------------------------

BERTH = [*berth_cmd(), "--root", str(STORE)]
BERTH_MANY = [*berth_cmd(), "--root", str(MANY)]
PODMAN = ["podman", "--root", str(PODMAN_ROOT), "--runroot", str(PODMAN_RUN / "run"), "--tmpdir", str(PODMAN_RUN / "tmp")]
DOCKER = ["docker"]
RUNC = ["runc", "--root", str(RUNC_STATE)]


def sh(cmd, check=True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)
    if check and proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc


_runc_seq = [0]


def run_cmd(engine: str) -> list[str]:
    # *-bridge: each with its default network (berth0; podman's netavark bridge), as a user runs them
    if engine == "berth-bridge":
        return [*BERTH, "run", "--rm", IMAGE, "/bin/true"]
    if engine == "podman-bridge":
        return [*PODMAN, "run", "--rm", IMAGE, "/bin/true"]
    if engine in ("berth", "berth-nopyc"):
        return [*BERTH, "run", "--rm", "--network", "none", IMAGE, "/bin/true"]
    if engine == "podman":
        return [*PODMAN, "run", "--rm", "--network", "none", IMAGE, "/bin/true"]
    if engine == "docker":
        return [*DOCKER, "run", "--rm", "--network", "none", IMAGE, "/bin/true"]
    _runc_seq[0] += 1
    return [*RUNC, "run", "--bundle", str(RUNC_BUNDLE), f"bench-{os.getpid()}-{_runc_seq[0]}"]


def timed(cmd, env=None) -> float:
    start = time.perf_counter()
    sh(cmd, env=env)
    return time.perf_counter() - start


# ---- background work of a finished run ---------------------------------------------------------

def _cmdline(pid: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def background(roots=(str(STORES), str(PODMAN_ROOT), str(PODMAN_RUN))) -> list[int]:
    """Monitors (berth-monitor, podman's conmon) and exit commands (`container cleanup`) of our stores."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        argv = _cmdline(pid)
        if not argv:
            continue
        joined = "\0".join(argv)
        if not any(r in joined for r in roots):
            continue
        if os.path.basename(argv[0]) in MONITORS or "cleanup" in argv or "berth-exit" in argv:
            found.append(int(pid))
    return found


def quiesce(timeout: float = 15.0) -> float:
    """Wait until the previous run's monitor and exit command are gone; returns the seconds waited."""
    start = time.perf_counter()
    while background() and time.perf_counter() - start < timeout:
        time.sleep(0.005)
    return time.perf_counter() - start


# ---- set-up ------------------------------------------------------------------------------------

def available() -> dict[str, bool]:
    have = {"berth": True, "berth-nopyc": True, "runc": shutil.which("runc") is not None, "podman": shutil.which("podman") is not None,
            "docker": shutil.which("docker") is not None, "berth-bridge": True}
    have["podman-bridge"] = have["podman"]
    if have["docker"] and sh([*DOCKER, "version", "--format", "{{.Server.Version}}"], check=False).returncode != 0:
        have["docker"] = False
    return have


def prepare(have: dict[str, bool]) -> None:
    if not TAR.is_file():
        raise SystemExit(f"{TAR} is missing: run `bash ../shared/peers/setup --docker --fixtures` first")
    CACHE.mkdir(parents=True, exist_ok=True)
    for berth in (BERTH, BERTH_MANY):
        if sh([*berth, "image", "inspect", IMAGE], check=False).returncode != 0:
            sh([*berth, "import", TAR, IMAGE])
    if have["podman"] and sh([*PODMAN, "image", "exists", IMAGE], check=False).returncode != 0:
        sh([*PODMAN, "import", TAR, IMAGE])
    if have["docker"] and sh([*DOCKER, "image", "inspect", IMAGE], check=False).returncode != 0:
        sh([*DOCKER, "import", TAR, IMAGE])
    if have["runc"] and not (RUNC_BUNDLE / "config.json").is_file():
        shutil.rmtree(RUNC_BUNDLE, ignore_errors=True)
        (RUNC_BUNDLE / "rootfs").mkdir(parents=True)
        sh(["tar", "-C", RUNC_BUNDLE / "rootfs", "-xf", TAR])
        sh(["runc", "spec", "--bundle", RUNC_BUNDLE])
        path = RUNC_BUNDLE / "config.json"
        doc = json.loads(path.read_text())
        doc["process"]["terminal"] = False
        doc["process"]["args"] = ["/bin/true"]
        if not any(ns["type"] == "network" for ns in doc["linux"]["namespaces"]):
            raise SystemExit("runc spec has no network namespace")
        path.write_text(json.dumps(doc, indent=1))
    RUNC_STATE.mkdir(parents=True, exist_ok=True)
    # the bytecode cache of berth-nopyc: fill it with one run, then drop berth's own modules from it
    writable = dict(os.environ, PYTHONPYCACHEPREFIX=str(NOPYC_PREFIX))
    sh([*BERTH, "run", "--rm", "--network", "none", IMAGE, "/bin/true"], env=writable)
    quiesce()
    sh([*BERTH, "ps", "-a"], env=writable)
    pkg = os.path.dirname(sh([sys.executable if not (REPO / ".venv/bin/python").exists() else REPO / ".venv/bin/python",
                              "-c", "import berth; print(berth.__file__)"]).stdout.strip())
    shutil.rmtree(NOPYC_PREFIX / pkg.lstrip("/"), ignore_errors=True)


def berth_ids(berth=BERTH) -> list[str]:
    return sh([*berth, "ps", "-a", "-q", "--no-trunc"]).stdout.split()


def remove_berth(ids, berth=BERTH) -> None:
    for i in range(0, len(ids), 50):
        sh([*berth, "rm", "-f", *ids[i:i + 50]], check=False)
    quiesce()


# ---- 1. side by side ---------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def side_by_side(engines: list[str], runs: int, warmup: int) -> dict:
    times = {e: [] for e in engines}
    tails = {e: [] for e in engines}
    load = [loadavg()]
    env = {e: NOPYC_ENV if e == "berth-nopyc" else None for e in engines}
    for e in engines:
        for _ in range(warmup):
            sh(run_cmd(e), env=env[e])
            quiesce()
    for i in range(runs):
        order = engines[i % len(engines):] + engines[:i % len(engines)]
        for e in order:
            quiesce()
            times[e].append(timed(run_cmd(e), env[e]))
            tails[e].append(quiesce())
        print("  round %2d: " % (i + 1) + "  ".join(f"{e} {times[e][-1] * 1000:.0f}" for e in engines) + " (ms)", flush=True)
    load.append(loadavg())
    return {"times": times, "tails": tails, "load": load}


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ---- 2. start latency with many containers -----------------------------------------------------

def populate(berth: list[str], total: int) -> None:
    """Bring a store to `total` containers: the exited `bench-start`, then alternately created and
    exited /bin/true containers."""
    have = len(berth_ids(berth))
    if have == 0:
        sh([*berth, "run", "--name", "bench-start", "--network", "none", IMAGE, "/bin/true"])
        have = 1
    for i in range(have, total):
        sh([*berth, "create" if i % 2 else "run", "--network", "none", IMAGE, "/bin/true"])
        quiesce()
    if len(berth_ids(berth)) != total:
        raise SystemExit(f"expected {total} containers in {berth[-1]}, found {len(berth_ids(berth))}")


def store_scaling(runs: int, warmup: int) -> dict:
    """Two stores, one holding 1 container and one holding 100, measured interleaved."""
    stores = {1: BERTH, 100: BERTH_MANY}
    try:
        for n, berth in stores.items():
            remove_berth(berth_ids(berth), berth)
            populate(berth, n)
        cmds = {(n, op): [*berth, *args] for n, berth in stores.items()
                for op, args in (("run --rm", ["run", "--rm", "--network", "none", IMAGE, "/bin/true"]), ("start -a", ["start", "-a", "bench-start"]))}
        for cmd in cmds.values():
            for _ in range(warmup):
                sh(cmd)
                quiesce()
        res = {k: [] for k in cmds}
        keys = list(cmds)
        for i in range(runs):
            for k in keys[i % len(keys):] + keys[:i % len(keys)]:
                quiesce()
                res[k].append(timed(cmds[k]))
        quiesce()
    finally:
        for berth in stores.values():
            remove_berth(berth_ids(berth), berth)
    out = {n: {op: v for (m, op), v in res.items() if m == n} for n in stores}
    for n, r in out.items():
        print(f"  {n:3d} containers: " + "  ".join(f"{op} median {statistics.median(v) * 1000:.0f} ms" for op, v in r.items()),
              flush=True)
    return out


# ---- 3. monitor RSS ----------------------------------------------------------------------------

def proc_status(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1])
    except OSError:
        pass
    return out


def monitor_of(cid: str, name: str) -> int:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            argv = _cmdline(pid)
            if argv and os.path.basename(argv[0]) == name and cid in argv:
                return int(pid)
    raise SystemExit(f"no {name} process found for container {cid}")


def monitor_rss(have: dict[str, bool], count: int) -> dict:
    out = {}
    started = {"berth": [], "podman": [], "docker": []}
    try:
        for _ in range(count):
            cid = sh([*BERTH, "run", "-d", "--network", "none", IMAGE, "sleep", "60"]).stdout.split()[-1]
            started["berth"].append(cid)
            pid = monitor_of(cid, "berth-monitor")
            said = sh([*BERTH, "inspect", "--format", "{{.State.MonitorPid}}", cid]).stdout.strip()
            if said != str(pid):
                raise SystemExit(f"berth inspect says the monitor is {said}, /proc says {pid}")
            out.setdefault("berth", []).append(proc_status(pid))
            if have["podman"]:
                cid = sh([*PODMAN, "run", "-d", "--network", "none", IMAGE, "sleep", "60"]).stdout.split()[-1]
                started["podman"].append(cid)
                pid = monitor_of(cid, "conmon")
                said = sh([*PODMAN, "inspect", "--format", "{{.State.ConmonPid}}", cid]).stdout.strip()
                if said != str(pid):
                    raise SystemExit(f"podman inspect says conmon is {said}, /proc says {pid}")
                out.setdefault("podman", []).append(proc_status(pid))
            if have["docker"]:
                cid = sh([*DOCKER, "run", "-d", "--network", "none", IMAGE, "sleep", "60"]).stdout.split()[-1]
                started["docker"].append(cid)
                init = int(sh([*DOCKER, "inspect", "--format", "{{.State.Pid}}", cid]).stdout)
                with open(f"/proc/{init}/stat") as f:
                    shim = int(f.read().rsplit(")", 1)[1].split()[1])
                out.setdefault("docker", []).append(proc_status(shim))
    finally:
        if started["berth"]:
            remove_berth(started["berth"])
        if started["podman"]:
            sh([*PODMAN, "rm", "-f", "-t", "0", *started["podman"]], check=False)
        if started["docker"]:
            sh([*DOCKER, "rm", "-f", *started["docker"]], check=False)
        quiesce()
    return out


# ---- 4. monitor overhead -----------------------------------------------------------------------

MONITOR_BUNDLE = CACHE / "monitor-bundle"


def monitor_bundle() -> Path:
    """A bundle with berth's own config.json for IMAGE (seccomp, masks, cgroup) over the unpacked
    busybox rootfs: the same container for all three ways of starting it."""
    cid = sh([*BERTH, "create", "--network", "none", IMAGE, "/bin/true"]).stdout.split()[-1]
    try:
        sh([*BERTH, "start", cid])  # writes the bundle's config.json
        doc = json.loads((STORE / "containers" / cid / "config.json").read_text())
    finally:
        remove_berth([cid])
        quiesce()
    shutil.rmtree(MONITOR_BUNDLE, ignore_errors=True)
    MONITOR_BUNDLE.mkdir(parents=True)
    doc["root"] = {"path": str(RUNC_BUNDLE / "rootfs"), "readonly": True}
    doc["mounts"] = [m for m in doc["mounts"] if not m["destination"].startswith("/etc/")]  # berth's bundle is gone
    (MONITOR_BUNDLE / "config.json").write_text(json.dumps(doc))
    return MONITOR_BUNDLE


def start_with(way: str, bundle: Path, cid: str) -> float:
    """Seconds until the container runs: `runc run -d` alone, berth-monitor (its sync line comes once
    `runc run -d` returned) or conmon (its sync line once `runc create` returned, then `runc start`)."""
    doc = json.loads((bundle / "config.json").read_text())
    doc["linux"]["cgroupsPath"] = f"/berth-bench/{cid}"
    (bundle / "config.json").write_text(json.dumps(doc))
    state = ["--root", str(RUNC_STATE)]
    pidfile, logs = str(bundle / "pidfile"), CACHE / "r" / "monitor-logs"
    logs.mkdir(parents=True, exist_ok=True)
    sync_r, sync_w = os.pipe()
    env, fds = dict(os.environ), (sync_w,)
    start = time.perf_counter()
    if way == "runc":
        os.close(sync_w)
        subprocess.run(["runc", *state, "run", "-d", "--bundle", bundle, "--pid-file", pidfile, cid], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        if way == "berth-monitor":
            argv = [str(REPO / "src/berth/runtime/berth-monitor"), "--runtime", shutil.which("runc"),
                    "--runtime-arg", state[0], "--runtime-arg", state[1], "--id", cid, "--bundle", str(bundle),
                    "--pid-file", pidfile, "--exit-file", str(logs / f"{cid}.exit"), "--log", str(logs / f"{cid}.log"),
                    "--sync-fd", str(sync_w)]
        else:
            start_r, start_w = os.pipe()
            os.write(start_w, b"0")
            os.close(start_w)
            env.update(_OCI_SYNCPIPE=str(sync_w), _OCI_STARTPIPE=str(start_r))
            fds = (sync_w, start_r)
            argv = ["conmon", "--api-version", "1", "-c", cid, "-u", cid, "-r", shutil.which("runc"), "-b", str(bundle),
                    "-p", pidfile, "-n", cid, "--exit-dir", str(logs), "--socket-dir-path", str(logs),
                    "-l", f"k8s-file:{logs / cid}.log", "--log-level", "error", "--runtime-arg", state[0],
                    "--runtime-arg", state[1]]
        proc = subprocess.Popen(argv, pass_fds=fds, env=env, cwd=bundle, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in fds:
            os.close(fd)
        with os.fdopen(sync_r, "rb") as sync:
            line = sync.readline()
        sync_r = -1
        proc.wait()
        if not line or line.startswith((b"-1", b'{"data": -')):
            raise SystemExit(f"{way} could not start the container: {line!r}")
        if way == "conmon":
            subprocess.run(["runc", *state, "start", cid], check=True)
    took = time.perf_counter() - start
    if sync_r >= 0:
        os.close(sync_r)
    subprocess.run(["runc", *state, "delete", "-f", cid], check=False, stderr=subprocess.DEVNULL)
    quiesce()
    return took


def monitor_overhead(runs: int, warmup: int) -> dict[str, list[float]]:
    bundle = monitor_bundle()
    ways = ("runc", "berth-monitor", "conmon")
    times: dict[str, list[float]] = {w: [] for w in ways}
    for i in range(warmup + runs):
        for way in ways[i % 3:] + ways[:i % 3]:
            took = start_with(way, bundle, f"overhead-{way}-{i}")
            if i >= warmup:
                times[way].append(took)
    return times


# ---- profile of berth run --rm -----------------------------------------------------------------

# Runs berth's CLI in-process, like the `berth` console script, and records when each phase starts
# and ends: imports, ContainerService methods, subprocesses (runc, the monitor), mounts, sqlite
# statements, sleeps. Written to $BERTH_PROBE_OUT as JSON. Wrappers cost microseconds.
PROBE = r'''
import os, sys, time, json
W0 = time.time(); T0 = time.perf_counter()
ev = []; depth = [0]
def wrap(obj, attr, label):
    orig = getattr(obj, attr, None)
    if orig is None or getattr(orig, "_probe", False):
        return
    def w(*a, **k):
        s = time.perf_counter(); depth[0] += 1
        try:
            return orig(*a, **k)
        finally:
            depth[0] -= 1
            ev.append((label(a, k) if callable(label) else label, s - T0, time.perf_counter() - T0, depth[0]))
    w._probe = True
    setattr(obj, attr, w)
import sqlite3
class TimedConnection(sqlite3.Connection):
    def execute(self, sql, *a):
        s = time.perf_counter(); depth[0] += 1
        try:
            return super().execute(sql, *a)
        finally:
            depth[0] -= 1
            word = sql.split()[0].upper()
            ev.append(("sqlite " + ("COMMIT" if word == "COMMIT" else "PRAGMA" if word == "PRAGMA" else "statement"),
                       s - T0, time.perf_counter() - T0, depth[0]))
import berth.store.db
_connect = berth.store.db.sqlite3.connect
berth.store.db.sqlite3.connect = lambda *a, **k: _connect(*a, factory=TimedConnection, **k)
import subprocess
def _sub(a, k):
    argv = [str(x) for x in (a[0] if a else k.get("args"))]
    name = os.path.basename(argv[0])
    if name.startswith("python"):
        name = "python"
    words = [x for x in argv[1:] if not x.startswith("-") and "/" not in x and len(x) < 40]
    return f"subprocess {name} {words[0] if words else ''}".rstrip()
wrap(subprocess, "run", _sub)
wrap(time, "sleep", lambda a, k: f"sleep {a[0]:g} s")
t_imp = time.perf_counter()
from berth.cli.main import run as cli_run
import berth.container.service, berth.runtime.monitor, berth.runtime.rootfs, berth.runtime.attach
from berth.cli import containers as clicontainers
t_imp_end = time.perf_counter()
ev.append(("imports (berth.cli.main, ...)", t_imp - T0, t_imp_end - T0, 0))
S = berth.container.service.ContainerService
for m in ("create", "start", "wait", "remove", "reconcile", "_finalize", "_start_locked", "_free_name"):
    wrap(S, m, "ContainerService." + m)
wrap(berth.runtime.monitor, "start", "monitor.start (berth-monitor + runc run -d)")
wrap(berth.runtime.rootfs, "mount_overlay", "mount overlay")
wrap(berth.runtime.rootfs, "unmount", "unmount rootfs")
wrap(berth.runtime.attach, "connect", "attach connect")
wrap(berth.runtime.attach, "pump", "attach pump (container runs, output)")
import berth.store.store, berth.engine, shutil
wrap(berth.store.store.Store, "__init__", "open store (sqlite, recover)")
wrap(shutil, "rmtree", "rmtree bundle")
wrap(berth.engine.Engine, "close", "close store")
for m in ("_create", "_run_attached"):
    wrap(clicontainers, m, "cli." + m)
prof = None
if os.environ.get("BERTH_PROBE_CPROFILE"):
    import cProfile
    prof = cProfile.Profile(); prof.enable()
code = 0
try:
    code = cli_run(sys.argv[1:])
except SystemExit as e:
    code = e.code or 0
finally:
    if prof:
        prof.disable(); prof.dump_stats(os.environ["BERTH_PROBE_CPROFILE"])
    t_end = time.perf_counter()
    with open(os.environ["BERTH_PROBE_OUT"], "w") as f:
        json.dump({"w0": W0, "end": t_end - T0, "w_end": time.time(), "events": ev, "code": code}, f)
sys.exit(code)
'''


def probe_run(args: list[str], cprofile: str | None = None) -> dict:
    """One berth command under the probe; returns its timeline plus the interpreter's start and exit time."""
    fd, out = tempfile.mkstemp(prefix="berth-probe-", suffix=".json")
    os.close(fd)
    env = dict(os.environ, BERTH_PROBE_OUT=out)
    if cprofile:
        env["BERTH_PROBE_CPROFILE"] = cprofile
    py = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
    w_spawn = time.time()
    start = time.perf_counter()
    proc = subprocess.run([py, "-c", PROBE, *args], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    w_done = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"probe failed: {proc.stderr[-3000:]}")
    with open(out) as f:
        data = json.load(f)
    os.unlink(out)
    data["wall"] = wall
    data["startup"] = data["w0"] - w_spawn
    data["exit"] = w_done - data["w_end"]
    return data


def summarize_probe(samples: list[dict]) -> list[tuple[str, int, float, str]]:
    """(label, depth, median ms per run, calls per run) in order of first appearance."""
    order, depth = [], {}
    for d in sorted(samples, key=lambda d: d["wall"]):
        for label, s, e, dep in sorted(d["events"], key=lambda x: (x[1], x[3])):
            if label not in depth:
                order.append(label)
                depth[label] = dep
    rows = [("python interpreter start (exec → first line)", 0, statistics.median(d["startup"] for d in samples) * 1e3, "1")]
    for label in order:
        per_run = [sum(e - s for lb, s, e, _ in d["events"] if lb == label) for d in samples]
        counts = [sum(1 for lb, *_ in d["events"] if lb == label) for d in samples]
        n = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
        if min(counts) == 0:
            n += f" ({sum(1 for c in counts if c)}/{len(counts)} runs, mean {statistics.mean(per_run) * 1e3:.1f} ms)"
        rows.append((label, depth[label], statistics.median(per_run) * 1e3, n))
    rows.append(("interpreter exit (after main returns)", 0, statistics.median(d["exit"] for d in samples) * 1e3, "1"))
    return rows


def importtime_groups(args: list[str], env=None) -> tuple[float, list[tuple[str, float]], list[tuple[str, float]]]:
    py = str(REPO / ".venv" / "bin" / "python")
    script = berth_cmd()[0]
    proc = subprocess.run([py, "-X", "importtime", script, *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env)
    selfs = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            selfs[m.group(4)] = selfs.get(m.group(4), 0) + int(m.group(1)) / 1e3
    groups = {}
    for mod, ms in selfs.items():
        parts = mod.split(".")
        key = ".".join(parts[:2]) if parts[0] == "berth" else parts[0]
        groups[key] = groups.get(key, 0) + ms
    top_groups = sorted(groups.items(), key=lambda kv: -kv[1])
    top_mods = sorted(selfs.items(), key=lambda kv: -kv[1])
    return sum(selfs.values()), top_groups, top_mods


def profile(runs: int, top: int) -> dict:
    print("\n=== profile of `berth run --rm IMAGE /bin/true`", flush=True)
    py = str(REPO / ".venv" / "bin" / "python")
    base = {}
    imp = "import berth.cli.main, berth.container.service"
    for what, cmd, env in (("python -c pass (venv interpreter)", [py, "-c", "pass"], None),
                           ("python -S -c pass (no site)", [py, "-S", "-c", "pass"], None),
                           (f"python -c '{imp}'", [py, "-c", imp], None),
                           (f"python -c '{imp}', no .pyc for berth", [py, "-c", imp], NOPYC_ENV),
                           ("berth --help", [*berth_cmd(), "--help"], None),
                           ("berth ps -a (store open, 1 query)", [*BERTH, "ps", "-a"], None)):
        base[what] = statistics.median(timed(cmd, env) for _ in range(7)) * 1e3
    # the exit command the monitor runs: its fixed cost on an already-finalized container
    sh([*BERTH, "create", "--name", "bench-cleanup", IMAGE, "/bin/true"])
    cleanup = [*berth_cmd(), "--root", str(STORE), "container", "cleanup", "bench-cleanup"]
    base["berth container cleanup (exit command, no-op)"] = statistics.median(timed(cleanup) for _ in range(7)) * 1e3
    exit_cmd_py = [py, "-m", "berth", "--root", str(STORE), "container", "cleanup", "bench-cleanup"]
    base["python -m berth container cleanup (as the monitor runs it)"] = statistics.median(timed(exit_cmd_py) for _ in range(7)) * 1e3
    base["python -m berth container cleanup, no .pyc for berth"] = statistics.median(
        timed(exit_cmd_py, NOPYC_ENV) for _ in range(7)) * 1e3
    remove_berth(["bench-cleanup"])
    for what, ms in base.items():
        print(f"  {ms:7.1f} ms  {what}")

    args = ["--root", str(STORE), "run", "--rm", "--network", "none", IMAGE, "/bin/true"]
    samples = []
    for i in range(runs + 1):
        quiesce()
        d = probe_run(args)
        d["tail"] = quiesce()
        if i:  # the first is a warm-up
            samples.append(d)
    plain = []
    for _ in range(runs):
        quiesce()
        plain.append(timed([*BERTH, *args[2:]]))
    quiesce()
    rows = summarize_probe(samples)
    wall = statistics.median(d["wall"] for d in samples) * 1e3
    print(f"\n  timeline, median of {runs} probed runs: wall {wall:.0f} ms under the probe "
          f"(plain command: {statistics.median(plain) * 1e3:.0f} ms); background tail after exit "
          f"{statistics.median(d['tail'] for d in samples) * 1e3:.0f} ms")
    print("      ms   share  phase (indented = inside the phase above; sqlite/sleep are also inside others)  [calls per run]")
    for label, depth, ms, count in rows:
        print(f"  {ms:7.1f}  {ms / wall * 100:5.1f}%  {'  ' * depth}{label}  [{count}]")

    for label, env in (("", None), (", no .pyc for berth", NOPYC_ENV)):
        total_imp, groups, mods = importtime_groups(args, env)
        quiesce()
        print(f"\n  -X importtime of the same command{label}: {total_imp:.0f} ms of imports "
              "(sum of self times in ms, inflated by the measurement)")
        print("    by package: " + ", ".join(f"{k} {v:.1f}" for k, v in groups[:top]))
        print("    top modules: " + ", ".join(f"{k} {v:.1f}" for k, v in mods[:top]))

    pstats_path = str(CACHE / "profile-run.pstats")
    probe_run(args, cprofile=pstats_path)
    quiesce()
    import io
    import pstats
    buf = io.StringIO()
    pstats.Stats(pstats_path, stream=buf).sort_stats("tottime").print_stats(top)
    body = buf.getvalue()
    print(f"\n  cProfile (main process, after imports), top {top} by own time:\n" + body[body.find("   ncalls"):])
    print(f"  pstats file: {pstats_path}")
    return {"base": base, "rows": rows, "wall": wall, "plain": statistics.median(plain) * 1e3,
            "tail": statistics.median(d["tail"] for d in samples) * 1e3}


# ---- report ------------------------------------------------------------------------------------

def machine() -> str:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    cpu = ""
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    with open("/proc/meminfo") as f:
        kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
    cg = "cgroup v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "cgroup v1 (hybrid)"
    return f"nproc {nproc} ({cpu}), {kb / 1024 / 1024:.0f} GB RAM, kernel {os.uname().release}, {cg}"


def version(cmd) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True)
    return (p.stdout.strip() or p.stderr.strip()).splitlines()[0] if p.returncode == 0 else "?"


def report(args, engines, sbs, scaling, rss, overhead, prof) -> str:
    t = sbs["times"]
    med = {e: statistics.median(t[e]) for e in engines}
    p90 = {e: pct(t[e], 0.9) for e in engines}
    tail = {e: statistics.median(sbs["tails"][e]) for e in engines}
    date = subprocess.run(["date", "-u", "+%F"], capture_output=True, text=True).stdout.strip()
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"], capture_output=True,
                           text=True).stdout.splitlines()
    versions = [version([*berth_cmd(), "--version"]) + f" (commit {rev}"
                + (f" + uncommitted changes in {len(dirty)} files under src/)" if dirty else ")")]
    if "podman" in engines:
        versions.append(version(["podman", "--version"]))
    if "docker" in engines:
        versions.append("docker " + version(["docker", "version", "--format", "{{.Server.Version}}"]))
    versions += [version(["runc", "--version"]), version(["conmon", "--version"])]
    lines = [SECTION, "",
             f"- date: {date}",
             f"- machine: {machine()}; 1-min load average {sbs['load'][0]:.1f} before and {sbs['load'][1]:.1f} after "
             "the side-by-side runs (other work shares the machine: compare the ratios, absolute times vary)",
             f"- versions: {'; '.join(versions)}",
             f"- image: `{IMAGE}`, the same busybox rootfs ({TAR}) imported into each engine (`berth import`, "
             "`podman import`, `docker import`; runc: the tar unpacked as the bundle's rootfs)",
             f"- method: `bench/run run_container` (bench/run_container.py); {args.warmup} warm-ups then {args.runs} "
             "timed runs per engine, interleaved (order rotates each round), wall clock of the whole command; "
             "between runs we wait (untimed) until the previous run's monitor and exit command are gone. "
             "Commands: `berth --root STORE run --rm --network none IMG /bin/true`; `podman --root/--runroot/--tmpdir PRIVATE run --rm "
             "--network none IMG /bin/true` (otherwise podman's defaults: overlay, runc, cgroupfs, conmon, file events); "
             "`docker run --rm --network none IMG /bin/true` (dockerd + containerd); `runc --root R run --bundle B FRESH-ID` "
             "with `runc spec` + terminal off + args /bin/true (own netns, read-only rootfs directory, no overlay). "
             "The -bridge rows: the same commands without --network, each engine's default network. "
             "berth runs with its bytecode cached (PYTHONPYCACHEPREFIX=" + str(CACHE / "pycache") + ", as an installed "
             "package would); the `no .pyc` row is berth as this sandbox runs it (PYTHONDONTWRITEBYTECODE=1, sources without "
             "__pycache__): every berth process, the exit command too, compiles berth's modules again (stdlib "
             f"from a bytecode cache, {NOPYC_PREFIX})",
             "",
             "| engine | median (ms) | p90 (ms) | berth / engine (median; bridge rows: bridge / bridge) | background after exit (ms) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    names = {"berth": "berth", "berth-nopyc": "berth, no .pyc for berth's modules", "podman": "podman",
             "docker": "docker", "runc": "runc (bare)", "berth-bridge": "berth, default network (bridge)",
             "podman-bridge": "podman, default network (bridge)"}
    for e in engines:
        ours = "berth-bridge" if e == "podman-bridge" else "berth"  # default network against default network
        ratio = "—" if e in ("berth", "berth-bridge") or ours not in med else f"{med[ours] / med[e]:.2f}"
        lines.append(f"| {names[e]} | {med[e] * 1e3:.0f} | {p90[e] * 1e3:.0f} | {ratio} | {tail[e] * 1e3:.0f} |")
    lines.append("")
    if "berth-bridge" in engines and "podman-bridge" in engines:
        lines += [f"Each with its default network (a bridge, an address, NAT): berth/podman "
                  f"{med['berth-bridge'] / med['podman-bridge']:.2f} (median), "
                  f"{p90['berth-bridge'] / p90['podman-bridge']:.2f} (p90).", ""]
    for b in ("berth", "berth-nopyc"):
        if b not in engines:
            continue
        ratios = []
        for e in ("podman", "docker", "runc"):
            if e in engines:
                r = med[b] / med[e]
                mark = f" (goal ≤ {GOAL_RATIO}: {'met' if r <= GOAL_RATIO else 'NOT met'})" if e == "podman" else ""
                ratios.append(f"{b}/{e} {r:.2f}{mark}")
        lines.append(f"Ratios, {names[b]} (median): " + ", ".join(ratios) + "; p90: "
                     + ", ".join(f"{b}/{e} {p90[b] / p90[e]:.2f}" for e in ("podman", "docker", "runc") if e in engines))
        lines.append("")
    if scaling:
        lines += ["Store size (berth only): two stores, one with 1 container (`bench-start`, exited) and one with 100 "
                  "(`bench-start` + 99 /bin/true containers, alternately created and exited), measured interleaved; "
                  "median / p90 ms:", "",
                  "| command | 1 container | 100 containers | 100 / 1 (median) |", "| --- | ---: | ---: | ---: |"]
        for op in scaling[1]:
            a, b = scaling[1][op], scaling[100][op]
            lines.append(f"| `berth {op} {'IMG /bin/true' if op == 'run --rm' else 'NAME'}` | "
                         f"{statistics.median(a) * 1e3:.0f} / {pct(a, .9) * 1e3:.0f} | "
                         f"{statistics.median(b) * 1e3:.0f} / {pct(b, .9) * 1e3:.0f} | "
                         f"{statistics.median(b) / statistics.median(a):.2f} |")
        lines.append("")
    if rss:
        lines += [f"Per-container monitor, `run -d IMG sleep 60`, median of {args.rss_count} containers (kB, from /proc):", "",
                  "| engine | process | VmRSS | RssAnon | RssFile | Pss |", "| --- | --- | ---: | ---: | ---: | ---: |"]
        for e, samples in rss.items():
            proc = {"docker": "containerd-shim-runc-v2", "berth": "berth-monitor"}.get(e, "conmon")
            m = {k: statistics.median(s.get(k, 0) for s in samples) for k in ("VmRSS", "RssAnon", "RssFile", "Pss")}
            lines.append(f"| {e} | {proc} | {m['VmRSS']:.0f} | {m['RssAnon']:.0f} | {m['RssFile']:.0f} | {m['Pss']:.0f} |")
        if "berth" in rss:
            v = statistics.median(s["VmRSS"] for s in rss["berth"])
            lines += ["", f"berth's monitor VmRSS {v:.0f} kB (goal ≤ {GOAL_RSS_KB} kB: {'met' if v <= GOAL_RSS_KB else 'NOT met'})."]
        lines.append("")
    if overhead:
        base = statistics.median(overhead["runc"])
        lines += ["Monitor overhead: the same container (berth's config.json for the image, over the unpacked busybox "
                  "rootfs) started until it runs, interleaved, median / p90 ms: `runc run -d` alone; berth-monitor "
                  "(which runs `runc run -d`); conmon (`runc create`) then `runc start`, as podman and berth before "
                  "berth-monitor do:", "", "| way | median | p90 | over runc alone |", "| --- | ---: | ---: | ---: |"]
        for way, samples in overhead.items():
            m = statistics.median(samples)
            lines.append(f"| {way} | {m * 1e3:.1f} | {pct(samples, .9) * 1e3:.1f} | "
                         f"{'—' if way == 'runc' else f'+{(m - base) * 1e3:.1f} ms'} |")
        lines.append("")
    if prof:
        top = sorted((r for r in prof["rows"] if r[1] <= 1 and not r[0].startswith(("sqlite", "sleep"))),
                     key=lambda r: -r[2])[:8]
        lines += [f"Where berth's time goes (probe, median; wall {prof['wall']:.0f} ms probed, {prof['plain']:.0f} ms plain): "
                  + "; ".join(f"{label} {ms:.0f} ms" for label, _, ms, _ in top)
                  + f"; all sqlite statements {sum(r[2] for r in prof['rows'] if r[0].startswith('sqlite')):.0f} ms; "
                  f"sleeps {sum(r[2] for r in prof['rows'] if r[0].startswith('sleep')):.0f} ms. "
                  f"Exit command `python -m berth container cleanup` alone: "
                  f"{prof['base']['python -m berth container cleanup (as the monitor runs it)']:.0f} ms.", ""]
    lines.append("Runs (ms): " + "; ".join(f"{e} " + ", ".join(f"{x * 1e3:.0f}" for x in t[e]) for e in engines))
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rss-count", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help=f"do not update {BENCHMARKS.name}")
    ap.add_argument("--no-scaling", action="store_true", help="skip the 1 vs 100 containers measurement")
    ap.add_argument("--profile", action="store_true", help="profile berth run --rm even when the goal is met")
    ap.add_argument("--no-profile", action="store_true", help="never profile")
    ap.add_argument("--profile-only", action="store_true")
    ap.add_argument("--profile-runs", type=int, default=7)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run_container: skipped, needs root (runc, overlay mounts)")
        return 0
    have = available()
    if not have["runc"] or shutil.which("conmon") is None:
        print("run_container: skipped, runc/conmon are not installed (run ../shared/peers/setup)")
        return 0
    prepare(have)
    for berth in (BERTH, BERTH_MANY):
        remove_berth(berth_ids(berth), berth)  # leftovers of an interrupted run
    engines = [e for e in ENGINES if have[e]]
    if args.profile_only:
        profile(args.profile_runs, args.top)
        return 0
    print(f"container start: {', '.join(engines)}; {args.warmup} warm-ups + {args.runs} runs each; "
          f"load {open('/proc/loadavg').read().split()[0]}", flush=True)
    # the default-network pair on its own: a namespace's teardown goes on in the kernel after the
    # command returns, and must not land in the --network none runs
    bridged = [e for e in engines if e.endswith("-bridge")]
    sbs = side_by_side([e for e in engines if e not in bridged], args.runs, args.warmup)
    if bridged:
        more = side_by_side(bridged, args.runs, args.warmup)
        for key in ("times", "tails"):
            sbs[key].update(more[key])
    scaling = None
    if not args.no_scaling:
        print("berth with 1 and 100 containers in the store", flush=True)
        scaling = store_scaling(args.runs, args.warmup)
    print("monitor RSS", flush=True)
    rss = monitor_rss(have, args.rss_count)
    print("monitor overhead", flush=True)
    overhead = monitor_overhead(args.runs, args.warmup)
    med = {e: statistics.median(sbs["times"][e]) for e in engines}
    missed = "podman" in med and med["berth"] / med["podman"] > GOAL_RATIO
    prof = None
    if (missed or args.profile) and not args.no_profile:
        prof = profile(args.profile_runs, args.top)
    section = report(args, engines, sbs, scaling, rss, overhead, prof)
    print()
    print(section)
    if not args.no_write:
        write_section(SECTION, section)
        print(f"(written to {BENCHMARKS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
