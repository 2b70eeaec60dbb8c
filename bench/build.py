#!/usr/bin/env python3
"""Benchmark: building examples/four-ways with `berth build`, `docker build` (classic builder,
DOCKER_BUILDKIT=0) and `podman build`, cold and with a warm cache.

Every tool gets the same two base images, imported from the rootfs fixtures of
`../shared/peers/setup --fixtures` (debian bookworm minbase, busybox) as `debian:bookworm` and
`busybox` (berth/podman: a private store; docker: its daemon). The host-built binary of ways 1 and
2 is compiled once, before timing.

cold: no build cache (berth and podman: a fresh store with the bases; docker: `docker builder prune`
      and the previous results removed), the four Dockerfiles built one after the other, total time;
      ways 3 and 4 install gcc with apt-get from the Debian mirror, which all three pay alike.
warm: the same four builds again right after, everything cached.
Tools interleave, RUNS rounds, medians reported; results in BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import CACHE, REPO, Berth, Podman, docker_available, goal_line, sh, write_section

SECTION = "## build (examples/four-ways, cold and cached)"
EXAMPLE = REPO / "examples" / "four-ways"
WAYS = ("basic", "slim", "in-container", "multi-stage")
FIXTURES = {"debian:bookworm": Path("/var/tmp/berth-peers/debian-bookworm.tar"),
            "busybox": Path("/var/tmp/berth-peers/busybox.tar")}
GOAL_COLD_VS_DOCKER = 1.0
GOAL_WARM_VS_PODMAN = 0.5


def build_commands(tool, store) -> list[list[str]]:
    out = []
    for way in WAYS:
        tag = f"bench-four-ways/{way}:1"
        dockerfile = str(EXAMPLE / f"Dockerfile.{way}")
        if tool in ("berth", "podman"):  # every tool on the host network: builders compared, not networks
            out.append([*store.cmd, "build", "-q", "--network", "host", "-f", dockerfile, "-t", tag, str(EXAMPLE)])
        else:
            out.append(["docker", "build", "-q", "--network", "host", "-f", dockerfile, "-t", tag, str(EXAMPLE)])
    return out


def timed_all(commands, env=None) -> float:
    os.sync()
    start = time.perf_counter()
    for cmd in commands:
        sh(cmd, env=env)
    return time.perf_counter() - start


def prepare(tool: str, name: str):
    """A store (or the docker daemon) with the two bases and no build cache."""
    if tool in ("berth", "podman"):
        store = Berth(name) if tool == "berth" else Podman(name)
        store.destroy()
        for ref, tar in FIXTURES.items():
            store("import", tar, ref)
        return store
    docker_clean()
    for ref, tar in FIXTURES.items():
        sh(["docker", "import", tar, ref])
    return None


def docker_clean() -> None:
    for way in WAYS:
        subprocess.run(["docker", "rmi", "-f", f"bench-four-ways/{way}:1"], capture_output=True)
    subprocess.run(["docker", "image", "prune", "-f"], capture_output=True)
    subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)


def measure(runs: int, tools: list[str]) -> dict:
    cold = {t: [] for t in tools}
    warm = {t: [] for t in tools}
    docker_env = dict(os.environ, DOCKER_BUILDKIT="0")
    stores = []
    try:
        for i in range(runs):
            for tool in tools[i % len(tools):] + tools[:i % len(tools)]:
                store = prepare(tool, f"build-{tool}-{i}")
                if store is not None:
                    stores.append(store)
                commands = build_commands(tool, store)
                env = docker_env if tool == "docker" else None
                cold[tool].append(timed_all(commands, env))
                warm[tool].append(timed_all(commands, env))
                print(f"  round {i + 1}: {tool} cold {cold[tool][-1]:.1f} s, warm {warm[tool][-1]:.2f} s", flush=True)
    finally:
        for store in stores:
            store.destroy()
        if "docker" in tools:
            docker_clean()
    return {"cold": cold, "warm": warm}


def report(data: dict, runs: int) -> str:
    med = {kind: {t: statistics.median(v) for t, v in data[kind].items()} for kind in ("cold", "warm")}
    date = subprocess.run(["date", "-u", "+%F"], capture_output=True, text=True).stdout.strip()
    lines = [SECTION, "",
             f"- date: {date}; nproc {os.cpu_count()}; 1-min load average {os.getloadavg()[0]:.1f} at the end",
             "- builds: the four Dockerfiles of examples/four-ways one after the other (ways 3 and 4 install gcc "
             "from the Debian mirror); bases imported from the peers' rootfs fixtures into each tool",
             f"- method: `bench/run build`; {runs} rounds, tools interleaved; cold = no build cache, warm = the same "
             "builds again; docker is the classic builder (DOCKER_BUILDKIT=0); see bench/build.py", "",
             "| tool | cold (s) | warm (s) | berth / tool, cold | berth / tool, warm |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for tool in med["cold"]:
        rc = "—" if tool == "berth" else f"{med['cold']['berth'] / med['cold'][tool]:.2f}"
        rw = "—" if tool == "berth" else f"{med['warm']['berth'] / med['warm'][tool]:.2f}"
        lines.append(f"| {tool} | {med['cold'][tool]:.1f} | {med['warm'][tool]:.2f} | {rc} | {rw} |")
    lines.append("")
    if "docker" in med["cold"]:
        lines.append(goal_line("Cold: berth/docker", med["cold"]["berth"] / med["cold"]["docker"],
                               GOAL_COLD_VS_DOCKER) + ".")
    if "podman" in med["warm"]:
        lines.append(goal_line("Cached rebuild: berth/podman", med["warm"]["berth"] / med["warm"]["podman"],
                               GOAL_WARM_VS_PODMAN) + ".")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    missing = [str(p) for p in FIXTURES.values() if not p.is_file()]
    if os.geteuid() != 0 or missing or not shutil.which("cc"):
        print(f"build: skipped, needs root, cc and the fixtures ({', '.join(missing) or 'present'}): "
              "bash ../shared/peers/setup --fixtures")
        return 0
    CACHE.mkdir(parents=True, exist_ok=True)
    sh(["cc", "-O2", "-static", "-o", EXAMPLE / "hello", EXAMPLE / "hello.c"])
    try:
        tools = ["berth"] + (["podman"] if shutil.which("podman") else []) + (["docker"] if docker_available() else [])
        print(f"four-ways builds: {', '.join(tools)}; {args.runs} round(s)", flush=True)
        data = measure(args.runs, tools)
    finally:
        (EXAMPLE / "hello").unlink(missing_ok=True)
    text = report(data, args.runs)
    print("\n" + text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
