#!/usr/bin/env python3
"""Benchmark: `kube play` + `kube down` of one Pod, berth against podman, side by side in one run.

The Pod is examples/kube/pod.yaml (two containers, a ConfigMap mounted as files, a hostPort) with the
busybox rootfs of ../shared/peers/setup --fixtures (/var/tmp/berth-peers/busybox.tar) imported once
into a berth store and a private podman store as IMAGE, `imagePullPolicy: Never`, and a hostPort of
each engine's own. Interleaved (the order alternates every round), WARMUP untimed rounds and RUNS
timed ones of: `kube play FILE` (timed), then (untimed) the page fetched from 127.0.0.1:hostPort
until it answers with the ConfigMap's text, the same observable result for both, then
`kube down FILE` (timed). Then, once each, the Deployment of examples/kube/deployment.yaml (Secret
env, two replicas, an init container, a Service): whether each engine plays it.
Medians go into BENCHMARKS.md (SECTION); goal: berth at most half of podman.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import REPO, berth_cmd, clear_stores, publish

CACHE = Path(os.environ.get("BERTH_BENCH_CACHE", "/var/tmp/berth-bench"))
TAR = Path("/var/tmp/berth-peers/busybox.tar")
IMAGE = "localhost/berth-bench/busybox:latest"
SECTION = "## kube play + down (a Pod: two containers, a ConfigMap volume, a hostPort)"
GOAL = 0.5
WARMUP, RUNS = 2, 11
PAGE = "hello from a ConfigMap"
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # berth as installed: its bytecode cached
os.environ["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
BERTH_STORE = CACHE / "kube-store"
PODMAN_ROOT, PODMAN_RUN = CACHE / "stores" / "podman-kube", CACHE / "r" / "podman-kube"
BERTH = [*berth_cmd(), "--root", str(BERTH_STORE)]
PODMAN = ["podman", "--root", str(PODMAN_ROOT), "--runroot", str(PODMAN_RUN / "run"), "--tmpdir",
          str(PODMAN_RUN / "tmp")]
PORTS = {"berth": 18088, "podman": 18089}


def sh(cmd, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr[-3000:]}")
    return proc


def timed(cmd) -> float:
    start = time.perf_counter()
    sh(cmd)
    return time.perf_counter() - start


def yaml_for(source: Path, port: int | None, directory: Path) -> Path:
    """The example with the bench image (never pulled), absolute commands and this engine's host port."""
    text = source.read_text().replace("image: busybox", f"image: {IMAGE}").replace("IfNotPresent", "Never")
    text = re.sub(r'\["(httpd|sh)"', r'["/bin/\1"', text)  # an imported rootfs has no PATH in its config
    if port is not None:
        text = text.replace("hostPort: 8088", f"hostPort: {port}")
    path = directory / f"{source.stem}-{port}.yaml"
    path.write_text(text)
    return path


def wait_page(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if PAGE in r.read().decode():
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the pod's page never answered on port {port}")
        time.sleep(0.05)


def teardown() -> None:
    clear_stores(BERTH, BERTH_STORE, PODMAN, PODMAN_ROOT, PODMAN_RUN, ["volume", "prune", "-f"])


def deployment(engine: list[str], name: str, directory: Path) -> str:
    """Whether the engine plays the Deployment example: 'plays' or its error's last line."""
    path = yaml_for(REPO / "examples" / "kube" / "deployment.yaml", None, directory)
    proc = sh([*engine, "kube", "play", path], check=False)
    sh([*engine, "kube", "down", path], check=False)
    if proc.returncode == 0:
        return "plays"
    return "fails: " + (proc.stderr.strip().splitlines() or ["(no message)"])[-1][:200]


def main() -> int:
    if os.geteuid() != 0 or not shutil.which("podman") or not TAR.is_file():
        print("kube: skipped, needs root, podman and the busybox fixture (../shared/peers/setup --fixtures)")
        return 0
    teardown()
    engines = {"berth": BERTH, "podman": PODMAN}
    for engine in engines.values():
        sh([*engine, "import", TAR, IMAGE])
    # how each takes the pod down: `kube down`, and for reference podman's own `pod stop` + `pod rm`
    downs = {"berth": [["kube", "down", "FILE"]], "podman": [["kube", "down", "FILE"]],
             "podman-stop-rm": [["pod", "stop", "site"], ["pod", "rm", "site"]]}
    times = {(v, step): [] for v in downs for step in ("play", "down")}
    with tempfile.TemporaryDirectory() as tmp:
        files = {e: yaml_for(REPO / "examples" / "kube" / "pod.yaml", PORTS[e], Path(tmp)) for e in engines}
        try:
            for i in range(WARMUP + RUNS):
                order = list(downs)[i % 3:] + list(downs)[:i % 3]
                for variant in order:
                    name = variant.partition("-")[0]
                    engine, path = engines[name], files[name]
                    play = timed([*engine, "kube", "play", path])
                    wait_page(PORTS[name])
                    down = sum(timed([*engine, *(path if a == "FILE" else a for a in args)]) for args in downs[variant])
                    if i >= WARMUP:
                        times[(variant, "play")].append(play)
                        times[(variant, "down")].append(down)
                print(f"  round {i + 1}: " + ", ".join(f"{k[0]} {k[1]} {v[-1] * 1000:.0f} ms"
                                                      for k, v in times.items() if v), flush=True)
            plays = {name: deployment(engine, name, Path(tmp)) for name, engine in engines.items()}
        finally:
            teardown()
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    for v in downs:  # the median of each round's play + down
        med[(v, "both")] = statistics.median(p + d for p, d in zip(times[(v, "play")], times[(v, "down")])) * 1000
    ratio = med[("berth", "both")] / med[("podman", "both")]
    version = sh(["podman", "--version"]).stdout.strip()
    lines = [SECTION, "",
             f"- date: {time.strftime('%Y-%m-%d')}; nproc {os.cpu_count()}; {version}; 1-min load average "
             f"{os.getloadavg()[0]:.1f} at the end",
             f"- method: `bench/run kube` (bench/kube.py); {WARMUP} warm-ups then {RUNS} timed rounds, interleaved; "
             "examples/kube/pod.yaml with the same busybox rootfs imported into each engine (imagePullPolicy Never); "
             "timed: `kube play` + `kube down`; between them, untimed, the hostPort serves the ConfigMap's page "
             "for both", "",
             "| operation | berth median (ms) | podman median (ms) | berth / podman |", "| --- | ---: | ---: | ---: |"]
    for step, label in (("both", "`kube play` + `kube down` of the Pod"), ("play", "`kube play` alone"),
                        ("down", "`kube down` alone")):
        lines.append(f"| {label} | {med[('berth', step)]:.0f} | {med[('podman', step)]:.0f} | "
                     f"{med[('berth', step)] / med[('podman', step)]:.2f} |")
    reference = med[("berth", "both")] / med[("podman-stop-rm", "both")]
    lines += ["",
              f"For reference, podman's `kube play` + its own `pod stop` + `pod rm` of the same pod (interleaved "
              f"too): median {med[('podman-stop-rm', 'both')]:.0f} ms, down alone {med[('podman-stop-rm', 'down')]:.0f} "
              f"ms; berth/that {reference:.2f}. podman's `kube down` is the slower way out; berth's down stops the "
              "pods gracefully too (SIGTERM to every container, then each one's grace period), then removes them.", "",
             f"play + down: berth/podman {ratio:.2f} (goal ≤ {GOAL}: {'met' if ratio <= GOAL else 'NOT met'})", "",
             "examples/kube/deployment.yaml (two replicas, Secret env, an init container, a Service):", ""]
    lines += [f"- {name}: {result}" for name, result in plays.items()]
    lines.append("")
    publish(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
