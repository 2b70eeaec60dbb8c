"""Shared by the bench scripts: the 3-layer bench image, private podman and berth stores, timing,
and replacing one section of BENCHMARKS.md."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(title: str, section: str) -> None:
    """Replace the section headed `title` (up to the next `## `) with `section`, or append it."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    if title in lines:
        start = lines.index(title)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = lines[:start] + section.rstrip("\n").splitlines() + [""] + lines[end:]
    else:
        new = lines + ([""] if lines and lines[-1] else []) + section.rstrip("\n").splitlines()
    BENCHMARKS.write_text("\n".join(new).rstrip("\n") + "\n")


def publish(lines: list[str]) -> None:
    """Print a result section (its first line is the title) and, unless --no-write was given,
    put it into BENCHMARKS.md in place of the section of that title."""
    text = "\n".join(lines)
    print("\n" + text)
    if "--no-write" not in sys.argv:
        write_section(lines[0], text)


CACHE = Path(os.environ.get("BERTH_BENCH_CACHE", "/var/tmp/berth-bench"))
DEBIAN = Path("/var/tmp/berth-peers/debian-bookworm.tar")
DOCKERFILE = HERE / "Dockerfile.load-save"
BASE_REF = "localhost/berth-bench/debian:bookworm"
IMAGE = "localhost/berth-bench/load-save:latest"
ARCHIVE = CACHE / "load-save.docker-archive.tar"


def berth_cmd() -> list[str]:
    exe = REPO / ".venv" / "bin" / "berth"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("berth")
    return [found] if found else [sys.executable, "-m", "berth"]


def sh(cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n"
                         f"{proc.stdout.decode(errors='replace')[-2000:]}\n{proc.stderr.decode(errors='replace')[-4000:]}")
    return proc


def timed(cmd) -> float:
    """Wall-clock seconds of one command, after an untimed sync."""
    os.sync()
    start = time.perf_counter()
    sh(cmd)
    return time.perf_counter() - start


def unmount_under(*dirs: Path) -> None:
    prefixes = tuple(str(d) + "/" for d in dirs)
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    for m in sorted((m for m in mounts if m.startswith(prefixes)), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


def clear_stores(berth: list, berth_store: Path, podman: list, podman_root: Path, podman_run: Path, *also) -> None:
    """Remove every pod and container of a berth store and a private podman store (commands `berth`
    and `podman`), run each argument list of `also` in both (failures ignored), then delete both."""
    def out(cmd) -> list[str]:
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True).stdout.split()
    for engine in (berth, podman):
        if engine is berth and not berth_store.exists():
            continue
        for pod in out([*engine, "pod", "ls", "-q"]):
            out([*engine, "pod", "rm", "-f", pod])
        for c in out([*engine, "ps", "-aq"]):
            out([*engine, "rm", "-f", c])
        for args in also:
            out([*engine, *args])
    subprocess.run(["umount", "-R", str(podman_root)], capture_output=True)
    for d in (berth_store, podman_root, podman_run):
        shutil.rmtree(d, ignore_errors=True)


class Podman:
    """A private podman store under CACHE: nothing of the machine's podman state is used or changed."""

    def __init__(self, name: str):
        self.root = CACHE / "stores" / name
        self.run_dir = CACHE / "r" / name  # the runroot must stay shorter than 50 characters
        self.cmd = ["podman", "--root", self.root, "--runroot", self.run_dir / "run", "--tmpdir", self.run_dir / "tmp",
                    "--storage-driver", "overlay", "--events-backend", "none", "--cgroup-manager", "cgroupfs"]

    def __call__(self, *args) -> subprocess.CompletedProcess:
        return sh([*self.cmd, *args])

    def layers(self, ref: str) -> list[str]:
        return json.loads(self("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref).stdout)

    def destroy(self) -> None:
        unmount_under(self.root, self.run_dir)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


class Berth:
    def __init__(self, name: str):
        self.root = CACHE / "stores" / name
        self.cmd = [*berth_cmd(), "--root", str(self.root)]

    def __call__(self, *args) -> subprocess.CompletedProcess:
        return sh([*self.cmd, *args])

    def layers(self, ref: str) -> list[str]:
        return json.loads(self("image", "inspect", ref).stdout)[0]["RootFS"]["Layers"]

    def destroy(self) -> None:
        unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def build_image(rebuild: bool) -> None:
    if ARCHIVE.is_file() and not rebuild:
        return
    if not DEBIAN.is_file():
        raise SystemExit(f"{DEBIAN} is missing: run `bash ../shared/peers/setup --fixtures` first")
    print(f"building the bench image once (cached in {ARCHIVE}) ...", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    store = Podman("build")
    store.destroy()
    ctx = CACHE / "context"
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir()
    try:
        store("import", DEBIAN, BASE_REF)
        store("build", "--network", "none", "--pull=never", "--build-arg", f"BASE={BASE_REF}",
              "-f", DOCKERFILE, "-t", IMAGE, ctx)
        partial = ARCHIVE.with_suffix(".partial")
        store("save", "--format", "docker-archive", "-o", partial, IMAGE)
        partial.rename(ARCHIVE)
    finally:
        store.destroy()
        shutil.rmtree(ctx, ignore_errors=True)


def settle(seconds: float = 40) -> None:
    """Let recent deletions age out before timing: ext4 without a journal (this machine's /var) skips
    inodes freed in the last seconds (fs/ext4/ialloc.c recently_deleted()), so creating files right
    after a big `rm -rf` is several times slower."""
    os.sync()
    time.sleep(seconds)


def docker_available() -> bool:
    return shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def goal_line(label: str, ratio: float, goal: float) -> str:
    return f"{label} {ratio:.2f} (goal ≤ {goal}: {'met' if ratio <= goal else 'NOT met'})"
