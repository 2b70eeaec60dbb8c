"""Helpers shared by tests: the CLI as users run it, store snapshots, image archive builders."""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

BERTH = [sys.executable, "-m", "berth"]

class Berth:
    """Runs the real CLI against one store."""

    def __init__(self, root):
        self.root = str(root)

    def run(self, *args, input=None, check=True, env=None):
        proc = subprocess.run(BERTH + ["--root", self.root, *map(str, args)], input=input,
                              capture_output=True, env={**os.environ, **(env or {})})
        if check and proc.returncode != 0:
            raise AssertionError(f"berth {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                                 f"{proc.stderr.decode(errors='replace')}")
        return proc

    def out(self, *args, **kw) -> str:
        return self.run(*args, **kw).stdout.decode()

    def json(self, *args):
        return json.loads(self.out(*args))

    def jsonlines(self, *args):
        return [json.loads(line) for line in self.out(*args).splitlines() if line.strip()]


def snapshot(root) -> dict:
    """Every path under root with type, size and a content hash: to prove a failed command changed nothing."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel.startswith("locks") or rel.endswith(("-wal", "-shm")):
                continue
            st = os.lstat(path)
            digest = None
            if os.path.isfile(path) and not os.path.islink(path) and not rel.endswith("berth.db"):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[rel] = (st.st_mode, st.st_size if digest else 0, digest)
    return out


def db_rows(root) -> dict:
    import sqlite3
    conn = sqlite3.connect(os.path.join(root, "berth.db"))
    try:
        return {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}").fetchall()))
                for t in ("images", "image_layers", "tags", "layers", "repo_digests")}
    finally:
        conn.close()


def state(root) -> tuple:
    """Store contents minus volatile timestamps (added/tagged/created columns)."""
    rows = db_rows(root)
    rows["images"] = [r[:4] for r in rows["images"]]
    rows["tags"] = [r[:2] for r in rows["tags"]]
    rows["layers"] = [r[:6] for r in rows["layers"]]
    files = {k: v for k, v in snapshot(root).items() if not k.startswith("tmp")}
    return rows, files


def layer_tar(files: dict, mtime: int = 1_700_000_000) -> bytes:
    """An uncompressed layer tar: {path: bytes | None (dir) | ('symlink', target) | ('whiteout',)}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.mtime = mtime
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            elif isinstance(content, tuple) and content[0] == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tf.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def image_config(diff_ids, cmd=("sh",), created="2024-01-01T00:00:00Z", history=None) -> bytes:
    doc = {"architecture": "amd64", "os": "linux", "created": created,
           "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": list(cmd)},
           "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
           "history": history or [{"created": created, "created_by": f"step {i}"} for i in range(len(diff_ids))]}
    return json.dumps(doc).encode()


def docker_archive(path, images: list[dict]) -> None:
    """Write a docker-archive. images: [{"tags": [...], "layers": [tar bytes or file path, ...]}]."""
    manifest = []
    with tarfile.open(path, "w") as tf:
        written = set()
        for img in images:
            names, diff_ids = [], []
            for layer in img["layers"]:
                if isinstance(layer, (str, os.PathLike)):
                    with open(layer, "rb") as f:
                        h = hashlib.sha256()
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                    digest = h.hexdigest()
                    if digest not in written:
                        tf.add(str(layer), arcname=f"{digest}.tar")
                else:
                    digest = hashlib.sha256(layer).hexdigest()
                    if digest not in written:
                        info = tarfile.TarInfo(f"{digest}.tar")
                        info.size = len(layer)
                        tf.addfile(info, io.BytesIO(layer))
                written.add(digest)
                names.append(f"{digest}.tar")
                diff_ids.append(f"sha256:{digest}")
            config = img.get("config") or image_config(diff_ids, **img.get("config_args", {}))
            config_name = hashlib.sha256(config).hexdigest() + ".json"
            info = tarfile.TarInfo(config_name)
            info.size = len(config)
            tf.addfile(info, io.BytesIO(config))
            manifest.append({"Config": config_name, "RepoTags": img.get("tags", []), "Layers": names})
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))


def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(str(path))
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4].replace("\\040", " ")
            if target == path or target.startswith(path + "/"):
                out.append(target)
    return out


def fuzz_settings(max_examples: int = 300, deadline_ms: int | None = 2000):
    """Hypothesis settings for the fuzz tests: a fixed set of examples (derandomized: the same on every
    run and in CI), a per-example deadline generous enough for a loaded machine, and no example
    database left behind in the tree."""
    from datetime import timedelta

    from hypothesis import HealthCheck, settings
    return settings(max_examples=max_examples, derandomize=True, database=None, print_blob=False,
                    deadline=timedelta(milliseconds=deadline_ms) if deadline_ms else None,
                    suppress_health_check=[HealthCheck.too_slow])
