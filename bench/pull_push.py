#!/usr/bin/env python3
"""Benchmark: `berth pull` against `docker pull` and `podman pull`; `berth push` against `skopeo copy`.

The image is the 3-layer ~520 MB bench image (bench/Dockerfile.load-save, built once with podman
and cached, see _common.build_image). It is put once into the local CNCF distribution registry of
../shared/peers/setup (127.0.0.1:5001) with `skopeo copy` (gzip layers, as any client pushes).

pull: each tool pulls it into an empty store, interleaved, RUNS times, median reported (stores are
  kept until the end and deletions settle before timing, see settle()):
  berth:  `berth --root FRESH pull REF`;
  podman: `podman --root FRESH ... pull --tls-verify=false REF`;
  docker: `docker -H SOCK pull REF` against a dockerd of its own, started (untimed) for that run with an
          empty --data-root and --exec-root under CACHE and no network set-up (--bridge none
          --iptables=false), stopped after it; the machine's own dockerd is not used, so no earlier
          deletion of its can overlap the timed pull.
push: the image from a local store into an empty registry (a fresh `docker-registry` on its own port
  and directory for every run), interleaved, RUNS times:
  berth:  `berth push IMG 127.0.0.1:PORT/bench/push:1` (layers compressed with gzip on the way);
  skopeo: `skopeo copy containers-storage:[overlay@ROOT+RUNROOT]IMG docker://127.0.0.1:PORT/bench/push:1`
          from a podman store holding the same image (what `podman push` does).
Wall clock of each whole command; `sync` (untimed) before each. Results go into BENCHMARKS.md.

breakdown: where berth's pull spends its time, each stage alone on the same three layer blobs (read
  from a local copy, so the network is a row of its own): download (berth's HTTP session, the three
  blobs at once as pull fetches them), digest of the blob, gunzip (isal), diff_id of the tar, tar
  parsing alone, the whole unpack of each layer into a fresh directory (all of the above but the
  download, plus file creation and the tar-split), syncfs, and the store's commit; then the limit: the
  largest layer's unpack, which a pull on two cores cannot beat.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _common import (ARCHIVE, CACHE, IMAGE, Berth, Podman, build_image, docker_available, goal_line, settle, sh,
                     timed, unmount_under, write_section)

SECTION = "## pull / push (3-layer ~520 MB image, local registry)"
PEER = "127.0.0.1:5001"
REMOTE = f"{PEER}/berth-bench/pull:latest"
GOAL_PULL_VS_DOCKER = 0.5
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


class FreshDockerd:
    """A dockerd of its own with an empty store, for one docker pull: the same start as berth's and
    podman's (an empty store, nothing being deleted meanwhile)."""

    def __init__(self, name: str):
        self.dir = CACHE / "dockerd" / name
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / "exec").mkdir(parents=True)
        self.sock = self.dir / "exec" / "docker.sock"
        self.log = open(self.dir / "log", "wb")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.dir / "data"), "--exec-root", str(self.dir / "exec"),
             "--pidfile", str(self.dir / "exec" / "dockerd.pid"), "-H", f"unix://{self.sock}",
             "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"],
            stdout=self.log, stderr=self.log, start_new_session=True)
        self.cmd = ["docker", "-H", f"unix://{self.sock}"]
        deadline = time.monotonic() + 60
        while subprocess.run([*self.cmd, "version"], capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"pull_push: a dockerd of its own did not start, see {self.dir / 'log'}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def destroy(self) -> None:
        unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)


def seed_registry() -> None:
    """Put the bench image into the peer registry once."""
    if subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{REMOTE}"],
                      capture_output=True).returncode == 0:
        return
    print(f"pushing the bench image to {REMOTE} once ...", flush=True)
    sh(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"docker-archive:{ARCHIVE}", f"docker://{REMOTE}"])


def measure_pull(runs: int, tools: list[str]) -> dict[str, list[float]]:
    """Every pull goes into an empty store of its own (docker: a dockerd of its own), kept until all
    runs are done, so no deletion overlaps a timed pull; recent deletions settle before the first."""
    times = {t: [] for t in tools}
    stores = []
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
                    daemon = FreshDockerd(f"pull-docker-{i}")
                    stores.append(daemon)
                    try:
                        times[tool].append(timed([*daemon.cmd, "pull", "-q", REMOTE]))
                    finally:
                        daemon.stop()
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


def breakdown() -> list[str]:
    """The per-stage table (see the module docstring); CPU-bound stages on one core."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from berth.archive import extract, tarformat
    from berth.archive.compression import open_decompressed
    from berth.registry.client.session import Session
    manifest = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"http://{PEER}/v2/berth-bench/pull/manifests/latest",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})).read())
    digests = [layer["digest"] for layer in manifest["layers"]]
    blob_dir = CACHE / "pull-blobs"
    blob_dir.mkdir(parents=True, exist_ok=True)
    for d in digests:
        if not (blob_dir / d).is_file():
            sh(["curl", "-sfo", blob_dir / d, f"http://{PEER}/v2/berth-bench/pull/blobs/{d}"])
    session = Session(PEER, None, insecure=True)

    def download(d):
        with session.open_blob(f"/v2/berth-bench/pull/blobs/{d}", scope="repository:berth-bench/pull:pull") as r:
            while r.read(1 << 20):
                pass
    rows = {}

    def stage(name, f):
        start = time.perf_counter()
        f()
        rows[name] = time.perf_counter() - start

    stage("download, 3 blobs at once (wall)", lambda: list(ThreadPoolExecutor(3).map(download, digests)))

    def each(f):
        return lambda: [f(blob_dir / d) for d in digests]

    def digest(path):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)

    def gunzip(path, hash_it=False):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            stream, _ = open_decompressed(f)
            while chunk := stream.read(1 << 20):
                if hash_it:
                    h.update(chunk)

    def parse(path):
        with open(path, "rb") as f:
            stream, _ = open_decompressed(f)
            reader = tarformat.TarReader(stream)
            while reader.next(previous_payload_is_raw=False) is not None:
                pass
    stage("digest of the blobs (sha256)", each(digest))
    stage("gunzip (isal)", each(gunzip))
    stage("gunzip + diff_id (sha256 of the tar)", each(lambda p: gunzip(p, True)))
    stage("gunzip + tar parsing, no files", each(parse))
    settle()
    unpacked, work = [], CACHE / "pull-unpack"
    shutil.rmtree(work, ignore_errors=True)
    for d in digests:
        target = work / d[7:19]
        (target / "diff").mkdir(parents=True)
        with open(blob_dir / d, "rb") as f, open(target / "tar-split", "wb") as split:
            start = time.perf_counter()
            extract(f, str(target / "diff"), whiteouts="overlay", tarsplit=split)
            unpacked.append(time.perf_counter() - start)
    rows["whole unpack of each layer (digests, gunzip, parsing, files, tar-split)"] = sum(unpacked)
    fd = os.open(work, os.O_RDONLY)
    try:
        start = time.perf_counter()
        os.syncfs(fd) if hasattr(os, "syncfs") else os.sync()
        rows["syncfs"] = time.perf_counter() - start
    finally:
        os.close(fd)
    shutil.rmtree(work, ignore_errors=True)
    lines = ["| stage (berth's own code, measured alone) | s |", "| --- | ---: |"]
    lines += [f"| {name} | {seconds:.2f} |" for name, seconds in rows.items()]
    lines += ["", f"Unpacking the layers one by one: {', '.join(f'{u:.2f}' for u in unpacked)} s; the limit on two "
                  f"cores is the largest, {max(unpacked):.2f} s, plus the syncfs, {rows['syncfs']:.2f} s: "
                  f"{max(unpacked) + rows['syncfs']:.2f} s (file creation dominates: ext4 allocates and, "
                  "without a journal, scans past recently freed inodes)."]
    return lines


def report(pull: dict, push: dict, runs: int, breakdown_lines: list[str]) -> str:
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
    if breakdown_lines:
        lines += ["Where berth's pull goes (bench/pull_push.py breakdown):", ""] + breakdown_lines + [""]
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
    text = report(pull, push, args.runs, breakdown())
    print("\n" + text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
