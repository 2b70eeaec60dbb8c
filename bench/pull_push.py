#!/usr/bin/env python3
"""Benchmark: `berth pull` against `docker pull` and `podman pull`; `berth push` against `skopeo copy`.

The image is the 3-layer ~520 MB bench image (bench/Dockerfile.load-save, built once with podman
and cached, see _common.build_image). It is put once into the local CNCF distribution registry of
../shared/peers/setup (127.0.0.1:5001) with `skopeo copy` (gzip layers, as any client pushes).

pull: each tool pulls it into an empty store, interleaved, RUNS times, median reported (stores are
  kept until the end and deletions settle before timing, see settle()):
  berth:  `berth --root FRESH pull REF`;
  podman: `podman --root FRESH ... pull --tls-verify=false REF`;
  docker: `docker pull REF` after `docker rmi` + `docker image prune` (the daemon keeps nothing of it).
push: the image from a local store into an empty registry (a fresh `docker-registry` on its own port
  and directory for every run), interleaved, RUNS times:
  berth:  `berth push IMG 127.0.0.1:PORT/bench/push:1` (layers compressed with gzip on the way);
  skopeo: `skopeo copy containers-storage:[overlay@ROOT+RUNROOT]IMG docker://127.0.0.1:PORT/bench/push:1`
          from a podman store holding the same image (what `podman push` does).
Wall clock of each whole command; `sync` (untimed) before each. Results go into BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from _common import (ARCHIVE, CACHE, IMAGE, Berth, Podman, build_image, docker_available, goal_line, settle, sh,
                     timed, write_section)

SECTION = "## pull / push (3-layer ~520 MB image, local registry)"
PEER = "127.0.0.1:5001"
REMOTE = f"{PEER}/berth-bench/pull:latest"
GOAL_PULL_VS_DOCKER = 0.7
GOAL_PUSH_VS_SKOPEO = 0.5


def registry_up(addr: str) -> bool:
    try:
        urllib.request.urlopen(f"http://{addr}/v2/", timeout=2).read()
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FreshRegistry:
    """Debian's docker-registry on its own port and directory: an empty destination for one push."""

    def __init__(self, name: str):
        self.dir = CACHE / "registries" / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.port = free_port()
        config = self.dir / "config.yml"
        config.write_text(f"version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {self.dir / 'data'}}}\n"
                          f"http: {{addr: 127.0.0.1:{self.port}}}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            if registry_up(f"127.0.0.1:{self.port}"):
                return
            time.sleep(0.05)
        raise SystemExit("docker-registry did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def docker_forget() -> None:
    subprocess.run(["docker", "rmi", "-f", REMOTE], capture_output=True)
    subprocess.run(["docker", "image", "prune", "-f"], capture_output=True)


def seed_registry() -> None:
    """Put the bench image into the peer registry once."""
    if subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{REMOTE}"],
                      capture_output=True).returncode == 0:
        return
    print(f"pushing the bench image to {REMOTE} once ...", flush=True)
    sh(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"docker-archive:{ARCHIVE}", f"docker://{REMOTE}"])


def measure_pull(runs: int, tools: list[str]) -> dict[str, list[float]]:
    """Every berth and podman pull gets its own empty store, kept until all runs are done; docker's
    daemon has one store, so its image is removed after each pull and the deletion left to settle."""
    times = {t: [] for t in tools}
    stores = []
    if "docker" in tools:
        docker_forget()
    settle()
    try:
        for i in range(runs):
            for tool in tools[i % len(tools):] + tools[:i % len(tools)]:
                if tool in ("berth", "podman"):
                    store = Berth(f"pull-berth-{i}") if tool == "berth" else Podman(f"pull-podman-{i}")
                    store.destroy()
                    stores.append(store)
                    extra = ["--tls-verify=false"] if tool == "podman" else []
                    times[tool].append(timed([*store.cmd, "pull", "-q", *extra, REMOTE]))
                else:
                    times[tool].append(timed(["docker", "pull", "-q", REMOTE]))
                    docker_forget()
                    settle()
                print(f"  pull round {i + 1}: {tool} {times[tool][-1]:.2f} s", flush=True)
    finally:
        for store in stores:
            store.destroy()
    return times


def measure_push(runs: int) -> dict[str, list[float]]:
    berth, podman = Berth("push-berth"), Podman("push-podman")
    berth.destroy()
    podman.destroy()
    berth("load", "-i", ARCHIVE)
    podman("load", "-i", ARCHIVE)
    source = f"containers-storage:[overlay@{podman.root}+{podman.run_dir / 'run'}]{IMAGE}"
    times = {"berth": [], "skopeo": []}
    try:
        for i in range(runs):
            for tool in (("berth", "skopeo") if i % 2 == 0 else ("skopeo", "berth")):
                registry = FreshRegistry(f"push-{tool}-{i}")
                dest = f"127.0.0.1:{registry.port}/bench/push:1"
                try:
                    if tool == "berth":
                        times[tool].append(timed([*berth.cmd, "push", "-q", IMAGE, dest]))
                    else:
                        times[tool].append(timed(["skopeo", "copy", "-q", "--dest-tls-verify=false", source,
                                                  f"docker://{dest}"]))
                finally:
                    registry.stop()
                print(f"  push round {i + 1}: {tool} {times[tool][-1]:.2f} s", flush=True)
    finally:
        berth.destroy()
        podman.destroy()
    return times


def report(pull: dict, push: dict, runs: int) -> str:
    med = {k: statistics.median(v) for k, v in pull.items()}
    pmed = {k: statistics.median(v) for k, v in push.items()}
    date = subprocess.run(["date", "-u", "+%F"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    lines = [SECTION, "", f"- date: {date}; nproc {os.cpu_count()}; 1-min load average {load:.1f} at the end",
             f"- image: `{IMAGE}` (bench/Dockerfile.load-save, 3 layers, {ARCHIVE.stat().st_size / 1e6:.0f} MB "
             f"uncompressed), in the peer registry as `{REMOTE}` (gzip layers, pushed by skopeo)",
             f"- method: `bench/run pull_push`; {runs} runs per tool, interleaved; wall clock of the whole command "
             "into an empty store (pull) or an empty registry (push); see bench/pull_push.py", "",
             "| pull into an empty store | median (s) | runs (s) | berth / tool |", "| --- | ---: | --- | ---: |"]
    for tool, values in pull.items():
        ratio = "—" if tool == "berth" else f"{med['berth'] / med[tool]:.2f}"
        lines.append(f"| {tool} | {med[tool]:.2f} | {', '.join(f'{v:.2f}' for v in values)} | {ratio} |")
    lines += ["", "| push to an empty registry | median (s) | runs (s) | berth / tool |", "| --- | ---: | --- | ---: |"]
    for tool, values in push.items():
        ratio = "—" if tool == "berth" else f"{pmed['berth'] / pmed[tool]:.2f}"
        lines.append(f"| {tool} | {pmed[tool]:.2f} | {', '.join(f'{v:.2f}' for v in values)} | {ratio} |")
    lines.append("")
    if "docker" in med:
        r = med["berth"] / med["docker"]
        lines.append(goal_line("Pull: berth/docker", r, GOAL_PULL_VS_DOCKER)
                     + (f", berth/podman {med['berth'] / med['podman']:.2f}" if "podman" in med else "") + ".")
    r = pmed["berth"] / pmed["skopeo"]
    lines.append(goal_line("Push: berth/skopeo", r, GOAL_PUSH_VS_SKOPEO) + ".")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("skopeo") or not shutil.which("docker-registry"):
        print("pull_push: skipped, needs root, skopeo and docker-registry (../shared/peers/setup)")
        return 0
    if not registry_up(PEER):
        print(f"pull_push: skipped, the peer registry {PEER} is not running (../shared/peers/setup)")
        return 0
    build_image(rebuild=False)
    seed_registry()
    tools = ["berth"] + (["podman"] if shutil.which("podman") else []) + (["docker"] if docker_available() else [])
    print(f"pull of {REMOTE}: {', '.join(tools)}; {args.runs} runs each", flush=True)
    pull = measure_pull(args.runs, tools)
    print("push to an empty registry: berth, skopeo", flush=True)
    push = measure_push(args.runs)
    text = report(pull, push, args.runs)
    print("\n" + text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
