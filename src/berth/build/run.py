"""Build steps: RUN in a real container over a stage's layers, COPY into them; the changes become a layer.

Each step gets a throw-away bundle: the stage's layers as overlay lowers, an empty upper dir, and an
OCI spec with the same security defaults as `berth run` (capabilities, masked paths, seccomp).
`runc run` executes it in the foreground; no monitor is needed because the build waits for it. The
upper dir is then the layer, in overlay format (whiteouts, opaque dirs), written as a tar through
the archive module and unpacked once into the store like any pulled layer.
"""
from __future__ import annotations

import json
import os

from berth.image.config import DEFAULT_PATH
from berth.runtime import process, rootfs, spec
from berth.store import fsutil

_MS_BIND = 4096


class StepRootfs:
    """A build step's root filesystem: the stage's layers under a fresh upper dir, mounted in a
    private bundle under the store's tmp dir (a context manager that unmounts and cleans up).
    RUN executes a command in it; COPY and ADD write into `rootfs`; `layer()` keeps the changes."""

    def __init__(self, store, runtime, lowers: list[str]):
        self.store, self.runtime, self.lowers = store, runtime, lowers
        self.staging = fsutil.Staging(store.tmp, "build-run-")
        self.bundle = self.staging.path
        self.upper = os.path.join(self.bundle, "upper")
        self.rootfs = os.path.join(self.bundle, "rootfs")
        for sub in ("upper", "work", "rootfs"):
            os.mkdir(os.path.join(self.bundle, sub), 0o755)
        self.cid = "build-" + os.urandom(16).hex()
        self.mount_points: set[str] = set()  # RUN --mount targets: not part of the layer

    def __enter__(self):
        if self.lowers:
            rootfs.mount_overlay(self.lowers, self.upper, os.path.join(self.bundle, "work"), self.rootfs, volatile=True)
        else:  # FROM scratch: the upper dir is the whole root
            rootfs.mount(self.upper, self.rootfs, None, _MS_BIND)
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        rootfs.unmount(self.rootfs)
        self.runtime.delete(self.cid, force=True)
        self.staging.cleanup()

    def run(self, args: list[str], *, env: list[str], workdir: str = "/", user: str = "", network: str = "bridge",
            hostname: str = "buildkitsandbox", output=None, mounts: list = ()) -> int:
        """Run `args`; `output(bytes)` receives stdout and stderr as they come. Returns the exit code.
        `mounts`: extra spec.Mounts (RUN --mount), on top of the step's root filesystem."""
        from berth.runtime.users import resolve
        uid, gid, groups, home = resolve(self.rootfs, user)
        env = list(env)
        if not any(e.startswith("PATH=") for e in env):
            env.insert(0, DEFAULT_PATH)
        if not any(e.startswith("HOME=") for e in env):
            env.append(f"HOME={home}")
        self.mount_points.update(m.destination.strip("/") for m in mounts)
        net = None
        if network == "bridge":
            from berth.network import bridge
            net = bridge.attach(self.cid)
        try:
            mounts = rootfs.etc_mounts(self.bundle, hostname, network, read_only=True,
                                       address=net.address if net else "") + list(mounts)
            process_spec = spec.ProcessSpec(args=args, env=env, cwd=workdir or "/", uid=uid, gid=gid, groups=groups)
            doc = spec.build(process_spec, hostname=hostname, mounts=mounts, network=network,
                             netns_path=net.netns if net else None, cgroups_path=f"/berth/{self.cid}")
            fsutil.atomic_write(os.path.join(self.bundle, "config.json"), json.dumps(doc).encode())
            pid, out_r, err_r = process.spawn([self.runtime.path, *self.runtime.base_args(), "run", "--bundle",
                                               self.bundle, self.cid])
            emit = output or (lambda data: None)
            process.pump((out_r, err_r), lambda _fd, chunk: emit(chunk))
            return process.wait(pid)
        finally:
            if net:
                bridge.detach(self.cid, net.address, published=False)

    def layer(self, parent, source_date_epoch: int | None = None):
        """The step's changes as a layer on `parent` (a chain ID or None); empty when nothing changed."""
        from berth.runtime.upper import commit_skip
        rootfs.unmount(self.rootfs)
        return layer_from_dir(self.store, self.upper, parent, overlay_upper=True, source_date_epoch=source_date_epoch,
                              skip=commit_skip(self.upper, self.lowers, self.mount_points))


def layer_from_dir(store, directory: str, parent, *, overlay_upper: bool = False,
                   source_date_epoch: int | None = None, skip=None):
    """Tar `directory` through the archive module straight into the store's layer unpacker."""
    from berth.archive import write_tree
    from berth.archive.pipe import WriterPipe

    def open_stream():
        return WriterPipe(lambda out: write_tree(directory, out, overlay_upper=overlay_upper,
                                                 source_date_epoch=source_date_epoch, skip=skip))
    return store.layers.add(open_stream, parent)
