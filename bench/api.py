#!/usr/bin/env python3
"""Benchmark: the docker CLI driving berth's Docker Engine API against the same CLI driving dockerd,
side by side in one run.

The busybox rootfs of ../shared/peers/setup --fixtures (/var/tmp/berth-peers/busybox.tar) is imported
as IMAGE into a berth store (served by `berth system service` on a private socket) and into the
machine's dockerd. Then, interleaved (the order rotates every round), WARMUP untimed rounds and RUNS
timed ones, each through `docker -H unix://SOCKET`:
  run: `docker run --rm IMAGE true` (create, attach, wait, start, output, removal);
  ps:  `docker ps -a` with 100 containers in the engine (created, not started; made untimed);
  compose: `docker compose up -d` + `down -v` of examples/compose/three-services.yaml (a volume, a
       network, three services, depends_on completed and healthy), with the compose plugin that
       scripts/install-compose builds (COMPOSE_WARMUP + COMPOSE_RUNS rounds).
Medians go into BENCHMARKS.md (SECTION). Goals: run ≤ 0.6× docker, ps ≤ 1.0×, compose ≤ 0.7×.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import berth_cmd, publish

CACHE = Path(os.environ.get("BERTH_BENCH_CACHE", "/var/tmp/berth-bench"))
TAR = Path("/var/tmp/berth-peers/busybox.tar")
IMAGE = "localhost/berth-bench/busybox:latest"
SECTION = "## Docker Engine API (docker CLI against berth system service and dockerd)"
GOALS = {"run": 0.6, "ps": 1.0, "compose": 0.7}
WARMUP, RUNS, CROWD = 3, 15, 100
COMPOSE_WARMUP, COMPOSE_RUNS = 1, 9  # the waits for depends_on go by 500 ms ticks: more rounds, a steadier median
REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "examples" / "compose" / "three-services.yaml"
PLUGIN = REPO / ".venv" / "libexec" / "docker" / "cli-plugins" / "docker-compose"
DOCKER_CONFIG = CACHE / "docker-config"  # holds only the compose plugin
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # berth as installed: its bytecode cached
os.environ["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
STORE = CACHE / "api-store"
SOCKET = Path("/run/berth-bench/docker.sock")
DOCKERD = "unix:///var/run/docker.sock"
LABEL = "berth-bench=api"


def sh(cmd, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr[-3000:]}")
    return proc


def docker(host: str, *args) -> list[str]:
    return ["docker", "--config", str(DOCKER_CONFIG), "-H", host, *args]


def timed(cmd) -> float:
    start = time.perf_counter()
    sh(cmd)
    return time.perf_counter() - start


def crowd(host: str, make: bool) -> None:
    """CROWD created containers labelled LABEL (or their removal)."""
    ids = sh(docker(host, "ps", "-aq", "--filter", f"label={LABEL}")).stdout.split()
    if ids:
        sh(docker(host, "rm", "-f", *ids))
    for _ in range(CROWD if make else 0):
        sh(docker(host, "create", "--label", LABEL, IMAGE, "true"))


def main() -> int:
    if os.geteuid() != 0 or not shutil.which("docker") or not TAR.is_file():
        print("api: skipped, needs root, docker and the busybox fixture (../shared/peers/setup --fixtures)")
        return 0
    if subprocess.run(["docker", "-H", DOCKERD, "version"], capture_output=True).returncode != 0:
        print("api: skipped, dockerd is not running (../shared/peers/setup --docker)")
        return 0
    shutil.rmtree(STORE, ignore_errors=True)
    sh([*berth_cmd(), "--root", STORE, "import", TAR, IMAGE])
    sh(["docker", "-H", DOCKERD, "import", TAR, IMAGE])
    SOCKET.parent.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([*berth_cmd(), "--root", str(STORE), "system", "service", "--socket", f"unix://{SOCKET}"],
                              stderr=subprocess.DEVNULL)
    hosts = {"berth": f"unix://{SOCKET}", "docker": DOCKERD}
    kinds = ("run", "ps", "compose") if PLUGIN.exists() else ("run", "ps")
    (DOCKER_CONFIG / "cli-plugins").mkdir(parents=True, exist_ok=True)
    if PLUGIN.exists() and not (DOCKER_CONFIG / "cli-plugins" / "docker-compose").exists():
        (DOCKER_CONFIG / "cli-plugins" / "docker-compose").symlink_to(PLUGIN)
    os.environ["IMAGE"] = IMAGE  # the compose file's image
    times = {(kind, e): [] for kind in kinds for e in hosts}
    try:
        for _ in range(100):
            if subprocess.run(docker(hosts["berth"], "version"), capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        for i in range(WARMUP + RUNS):
            order = list(hosts.items())[i % 2:] + list(hosts.items())[:i % 2]
            for name, host in order:
                took = timed(docker(host, "run", "--rm", IMAGE, "true"))
                if i >= WARMUP:
                    times[("run", name)].append(took)
            print(f"  run round {i + 1}: " + ", ".join(f"{k[1]} {v[-1] * 1000:.0f} ms"
                                                      for k, v in times.items() if v and k[0] == "run"), flush=True)
        for host in hosts.values():
            crowd(host, make=True)
        for i in range(WARMUP + RUNS):
            order = list(hosts.items())[i % 2:] + list(hosts.items())[:i % 2]
            for name, host in order:
                took = timed(docker(host, "ps", "-a"))
                if i >= WARMUP:
                    times[("ps", name)].append(took)
        for host in hosts.values():
            crowd(host, make=False)
        for i in range(COMPOSE_WARMUP + COMPOSE_RUNS if "compose" in kinds else 0):
            order = list(hosts.items())[i % 2:] + list(hosts.items())[:i % 2]
            for name, host in order:
                project = docker(host, "compose", "-p", "benchapi", "-f", COMPOSE_FILE)
                start = time.perf_counter()
                sh([*project, "up", "-d"])
                sh([*project, "down", "-v"])
                if i >= COMPOSE_WARMUP:
                    times[("compose", name)].append(time.perf_counter() - start)
            print(f"  compose round {i + 1}: " + ", ".join(f"{k[1]} {v[-1] * 1000:.0f} ms" for k, v in times.items()
                                                          if v and k[0] == "compose"), flush=True)
    finally:
        for host in hosts.values():
            crowd(host, make=False)
        server.terminate()
        server.wait()
        sh(["docker", "-H", DOCKERD, "rmi", IMAGE], check=False)
        shutil.rmtree(STORE, ignore_errors=True)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    versions = sh(["docker", "-H", DOCKERD, "version", "--format", "client {{.Client.Version}}, dockerd {{.Server.Version}}"]).stdout.strip()
    lines = [SECTION, "",
             f"- date: {time.strftime('%Y-%m-%d')}; nproc {os.cpu_count()}; docker {versions}; 1-min load average "
             f"{os.getloadavg()[0]:.1f} at the end",
             f"- method: `bench/run api` (bench/api.py); the same docker CLI against each engine's socket; {WARMUP} "
             f"warm-ups then {RUNS} timed rounds, interleaved; the same busybox rootfs imported into each; "
             f"`ps -a` with {CROWD} created containers; compose: {COMPOSE_WARMUP} warm-up and {COMPOSE_RUNS} timed "
             "rounds of up -d + down -v (docker compose v5.6.0 as a CLI plugin, the same for both)",
             "", "| operation | berth median (ms) | dockerd median (ms) | berth / dockerd | goal |",
             "| --- | ---: | ---: | ---: | ---: |"]
    labels = {"run": f"`docker run --rm {IMAGE} true`", "ps": f"`docker ps -a` ({CROWD} containers)",
              "compose": "`docker compose up -d` + `down -v`, three services with a healthcheck"}
    for kind in kinds:
        label = labels[kind]
        b, d = med[(kind, "berth")], med[(kind, "docker")]
        verdict = "met" if b / d <= GOALS[kind] else "NOT met"
        lines.append(f"| {label} | {b:.0f} | {d:.0f} | {b / d:.2f} | ≤ {GOALS[kind]} ({verdict}) |")
    lines.append("")
    publish(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
