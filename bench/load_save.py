#!/usr/bin/env python3
"""Benchmark: `berth load` / `berth save` against `podman load` / `podman save`, side by side.

The image is built once and cached in /var/tmp/berth-bench (rebuilt only when missing, or with
--rebuild): `podman import` of the debian bookworm rootfs fixture (~200 MB), then two RUN layers of
~150 MB each from bench/Dockerfile.load-save, then `podman save` to a docker-archive.

Then, in one run, each measurement repeated (3 times by default, interleaved berth/podman) with the
median reported:
  load: `berth load -i FILE` into an empty store vs `podman load -i FILE` into an empty private
        podman store (fresh --root/--runroot under /var/tmp, overlay driver);
  save: `berth save -o OUT IMG` vs `podman save -o OUT IMG` (docker-archive, same image, page cache
        warmed by one untimed save of each, OUT removed between runs).
Times are wall clock of the whole command as a user runs it (process start-up included). `sync`
runs, untimed, before each timed command so that neither pays for the other's writeback. Every load
gets its own fresh store and no store is deleted until all runs are done (see settle()).

The result table is printed and written into BENCHMARKS.md (section SECTION, replaced if present).
--profile also runs `berth load` and `berth save` under cProfile and prints the hot spots.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from _common import (ARCHIVE, BENCHMARKS, CACHE, IMAGE, Berth, Podman, berth_cmd, build_image, settle, sh, timed,
                     write_section)  # bench/ is on sys.path when run as a script

SECTION = "## load / save (3-layer ~500 MB image)"


def archive_layers() -> list[tuple[str, int]]:
    with tarfile.open(ARCHIVE) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        return [(name.removesuffix(".tar"), tf.getmember(name).size) for name in manifest[0]["Layers"]]


def warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def measure(repeat: int) -> dict:
    out_path = CACHE / "out.tar"
    results = {("load", "berth"): [], ("load", "podman"): [], ("save", "berth"): [], ("save", "podman"): []}
    sizes = {}
    stores = {"berth": [Berth(f"berth-load-{i}") for i in range(repeat)],
              "podman": [Podman(f"podman-load-{i}") for i in range(repeat)]}
    for store in stores["berth"] + stores["podman"]:
        store.destroy()  # leftovers of an interrupted run
    out_path.unlink(missing_ok=True)
    warm(ARCHIVE)
    settle()
    try:
        for i in range(repeat):
            order = ("berth", "podman") if i % 2 == 0 else ("podman", "berth")
            for tool in order:
                t = timed([*stores[tool][i].cmd, "load", "-i", ARCHIVE])
                results[("load", tool)].append(t)
                print(f"  load  {tool:6} run {i + 1}: {t:7.2f} s", flush=True)
        b_store, p_store = stores["berth"][-1], stores["podman"][-1]
        want = [f"sha256:{d}" for d, _ in archive_layers()]
        for store in (b_store, p_store):
            if store.layers(IMAGE) != want:
                raise SystemExit(f"{type(store).__name__} loaded layers {store.layers(IMAGE)}, expected {want}")

        def save(tool):
            store = b_store if tool == "berth" else p_store
            extra = [] if tool == "berth" else ["--format", "docker-archive"]
            return [*store.cmd, "save", *extra, "-o", out_path, IMAGE]

        for tool in ("berth", "podman"):  # warm the page cache with one untimed save each
            out_path.unlink(missing_ok=True)
            sh(save(tool))
        for i in range(repeat):
            order = ("berth", "podman") if i % 2 == 0 else ("podman", "berth")
            for tool in order:
                out_path.unlink(missing_ok=True)
                t = timed(save(tool))
                sizes[tool] = out_path.stat().st_size
                results[("save", tool)].append(t)
                print(f"  save  {tool:6} run {i + 1}: {t:7.2f} s  ({sizes[tool] / 1e6:.0f} MB)", flush=True)
    finally:
        out_path.unlink(missing_ok=True)
        for store in stores["berth"] + stores["podman"]:
            store.destroy()
    return {"runs": results, "sizes": sizes}


def profile(top: int) -> None:
    """cProfile of `berth load` and `berth save` in this process, on the real CLI entry point."""
    from berth.cli.main import cli
    store = Berth("berth-profile")
    store.destroy()
    out_path = CACHE / "out-profile.tar"
    for name, argv in (("load", ["load", "-i", str(ARCHIVE)]), ("save", ["save", "-o", str(out_path), IMAGE])):
        os.sync()
        prof = cProfile.Profile()
        start = time.perf_counter()
        prof.enable()
        try:
            cli.main(["--root", str(store.root), *argv], prog_name="berth", standalone_mode=False)
        finally:
            prof.disable()
        wall = time.perf_counter() - start
        for key, title in (("tottime", "own time"), ("cumulative", "cumulative")):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(top)
            body = buf.getvalue()
            body = body[body.find("   ncalls"):]
            print(f"\n=== berth {name}: {wall:.2f} s under cProfile — top {top} by {title}\n{body}")
        prof.dump_stats(str(CACHE / f"profile-{name}.pstats"))
    out_path.unlink(missing_ok=True)
    store.destroy()
    print(f"pstats files: {CACHE}/profile-load.pstats, {CACHE}/profile-save.pstats")


def machine() -> str:
    nproc = os.cpu_count()
    try:
        nproc = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout)
    except ValueError:
        pass
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    fs = "?"
    found = subprocess.run(["findmnt", "-no", "FSTYPE,SOURCE", "-T", str(CACHE)], capture_output=True, text=True)
    if found.returncode == 0 and found.stdout.split():
        fs, source = (found.stdout.split() + [""])[:2]
        try:
            with open(f"/sys/fs/ext4/{os.path.basename(source)}/journal_task") as f:
                if f.read().strip() == "<none>":
                    fs += " without journal"
        except OSError:
            pass
    return f"nproc {nproc}{f' ({cpu})' if cpu else ''}{mem}, kernel {os.uname().release}, {CACHE} on {fs}"


def report(data: dict, repeat: int) -> str:
    runs = data["runs"]
    med = {k: statistics.median(v) for k, v in runs.items()}
    layers = archive_layers()
    date = subprocess.run(["date", "-u", "+%F"], capture_output=True, text=True).stdout.strip()
    podman_version = subprocess.run(["podman", "--version"], capture_output=True, text=True).stdout.strip()
    berth_version = subprocess.run([*berth_cmd(), "--version"], capture_output=True, text=True).stdout.strip()
    rows = []
    for op, what in (("load", "`load -i FILE` into an empty store"), ("save", "`save -o OUT IMG` (docker-archive)")):
        b, p = med[(op, "berth")], med[(op, "podman")]
        rows.append((what, b, p, b / p))
    lines = [SECTION, "",
             f"- date: {date}",
             f"- machine: {machine()}",
             f"- versions: {berth_version}; {podman_version} (overlay driver, private store)",
             f"- image: `{IMAGE}`, docker-archive of {ARCHIVE.stat().st_size / 1e6:.0f} MB, {len(layers)} layers of "
             + ", ".join(f"{size / 1e6:.0f}" for _, size in layers) + " MB (bench/Dockerfile.load-save)",
             f"- method: `make bench` (bench/load_save.py); median of {repeat} interleaved runs, wall clock of the "
             "whole command; a fresh store per load, none deleted before all runs end; `sync` (untimed) before each run; "
             "save with a warm page cache, OUT removed between runs",
             "",
             "| operation | berth (s) | podman (s) | berth / podman (goal ≤ 1.0) |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {what} | {b:.2f} | {p:.2f} | {r:.2f} |" for what, b, p, r in rows]
    lines += ["", "Runs (s): " + "; ".join(f"{op} {tool} " + ", ".join(f"{t:.2f}" for t in ts)
                                          for (op, tool), ts in runs.items()), ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached image archive")
    ap.add_argument("--no-write", action="store_true", help=f"do not update {BENCHMARKS.name}")
    ap.add_argument("--profile", action="store_true", help="also profile berth load/save with cProfile")
    ap.add_argument("--profile-only", action="store_true", help="only profile berth load/save")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    if shutil.which("podman") is None:
        print("load_save: skipped, podman is not installed (run ../shared/peers/setup --fixtures)")
        return 0
    build_image(args.rebuild)
    free = shutil.disk_usage(CACHE).free
    need = (2 * args.repeat + 2) * ARCHIVE.stat().st_size
    if free < need:
        raise SystemExit(f"{CACHE}: {free / 1e9:.1f} GB free, need about {need / 1e9:.1f} GB")
    if not args.profile_only:
        print(f"load / save of {IMAGE} ({ARCHIVE.stat().st_size / 1e6:.0f} MB docker-archive), {args.repeat} runs each")
        data = measure(args.repeat)
        section = report(data, args.repeat)
        print()
        print(section)
        if not args.no_write:
            write_section(SECTION, section)
            print(f"(written to {BENCHMARKS})")
    if args.profile or args.profile_only:
        profile(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
