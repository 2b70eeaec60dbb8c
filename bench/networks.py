#!/usr/bin/env python3
"""Benchmark: user-defined networks and pods, berth against podman, side by side in one run.

The busybox rootfs of ../shared/peers/setup --fixtures (/var/tmp/berth-peers/busybox.tar) is imported
once into a berth store and a private podman store (podman's defaults otherwise: its netavark or CNI
bridge, runc, conmon), and each creates a user network `benchnet`. Then, interleaved (the order
rotates every round), WARMUP untimed rounds and RUNS timed ones:
  run:  `run --rm --network benchnet IMAGE /bin/true` (an address on the network, its name server
        for berth, a veth; all of it undone at exit);
  pod:  `pod create --name pN` + two `run -d --pod pN IMAGE sleep 60`, timed together; the pod is
        removed (untimed) before the next round.
Medians go into BENCHMARKS.md (SECTION); goals: berth at most half of podman for both.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import berth_cmd, clear_stores, publish

CACHE = Path(os.environ.get("BERTH_BENCH_CACHE", "/var/tmp/berth-bench"))
TAR = Path("/var/tmp/berth-peers/busybox.tar")
IMAGE = "localhost/berth-bench/busybox:latest"
SECTION = "## networks and pods (user network run, pod with two containers)"
GOAL = 0.5
WARMUP, RUNS = 2, 11
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # berth as installed: its bytecode cached
os.environ["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
BERTH_STORE = CACHE / "net-store"
PODMAN_ROOT, PODMAN_RUN = CACHE / "stores" / "podman-net", CACHE / "r" / "podman-net"
BERTH = [*berth_cmd(), "--root", str(BERTH_STORE)]
PODMAN = ["podman", "--root", str(PODMAN_ROOT), "--runroot", str(PODMAN_RUN / "run"), "--tmpdir",
          str(PODMAN_RUN / "tmp")]


def sh(cmd, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr[-3000:]}")
    return proc


def timed(*cmds) -> float:
    start = time.perf_counter()
    for cmd in cmds:
        sh(cmd)
    return time.perf_counter() - start


def setup() -> None:
    teardown()
    for engine in (BERTH, PODMAN):
        sh([*engine, "import", TAR, IMAGE])
        sh([*engine, "network", "create", "benchnet"])


def teardown() -> None:
    clear_stores(BERTH, BERTH_STORE, PODMAN, PODMAN_ROOT, PODMAN_RUN, ["network", "rm", "benchnet"])


def main() -> int:
    if os.geteuid() != 0 or not shutil.which("podman") or not TAR.is_file():
        print("networks: skipped, needs root, podman and the busybox fixture (../shared/peers/setup --fixtures)")
        return 0
    setup()
    engines = {"berth": BERTH, "podman": PODMAN}
    times = {(kind, e): [] for kind in ("run", "pod") for e in engines}
    try:
        for i in range(WARMUP + RUNS):
            order = list(engines.items())[i % 2:] + list(engines.items())[:i % 2]
            for name, engine in order:
                run = timed([*engine, "run", "--rm", "--network", "benchnet", IMAGE, "/bin/true"])
                pod = f"benchpod{i}"
                made = timed([*engine, "pod", "create", "--name", pod],
                             [*engine, "run", "-d", "--pod", pod, IMAGE, "sleep", "60"],
                             [*engine, "run", "-d", "--pod", pod, IMAGE, "sleep", "60"])
                sh([*engine, "pod", "rm", "-f", pod])
                if i >= WARMUP:
                    times[("run", name)].append(run)
                    times[("pod", name)].append(made)
            print(f"  round {i + 1}: " + ", ".join(f"{k[0]} {k[1]} {v[-1] * 1000:.0f} ms"
                                                  for k, v in times.items() if v and i >= WARMUP), flush=True)
    finally:
        teardown()
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    version = sh(["podman", "--version"]).stdout.strip()
    lines = [SECTION, "",
             f"- date: {time.strftime('%Y-%m-%d')}; nproc {os.cpu_count()}; {version}; 1-min load average "
             f"{os.getloadavg()[0]:.1f} at the end",
             f"- method: `bench/run networks` (bench/networks.py); {WARMUP} warm-ups then {RUNS} timed rounds, "
             "interleaved; the same busybox rootfs imported into each; a user network `benchnet` in each",
             "", "| operation | berth median (ms) | podman median (ms) | berth / podman |", "| --- | ---: | ---: | ---: |"]
    for kind, label in (("run", "`run --rm --network benchnet IMG /bin/true`"),
                        ("pod", "`pod create` + two `run -d --pod`")):
        b, p = med[("run" if kind == "run" else "pod", "berth")], med[(kind, "podman")]
        lines.append(f"| {label} | {b:.0f} | {p:.0f} | {b / p:.2f} |")
    lines.append("")
    for kind in ("run", "pod"):
        r = med[(kind, "berth")] / med[(kind, "podman")]
        lines.append(f"{kind}: berth/podman {r:.2f} (goal ≤ {GOAL}: {'met' if r <= GOAL else 'NOT met'})  ")
    lines.append("")
    publish(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
