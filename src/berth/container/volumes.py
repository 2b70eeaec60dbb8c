"""Named and anonymous volumes (docker's `local` driver): a directory in the store, or a mount
(tmpfs, nfs, a device) made when a container first uses it."""
from __future__ import annotations

import os
import time

from berth.archive import securefs
from berth.container.options import tmpfs_options, valid_name
from berth.errors import Conflict, InvalidOption, VolumeNotFound
from berth.runtime import spec
from berth.store import fsutil

_VOLUME_TYPES = {"tmpfs", "none", "nfs", "nfs4", "ext4", "xfs", "btrfs", "bind"}


class VolumeService:
    def __init__(self, store):
        self.store = store
        self.records = store.volumes

    def path(self, name: str) -> str:
        return self.records.data(name)

    def create(self, name: str | None = None, driver: str = "local", options: dict | None = None,
               labels: dict | None = None, anonymous: bool = False, exist_ok: bool = False,
               files: dict | None = None) -> dict:
        """A volume (docker's `local` driver); without a name, one of 64 hex digits, as docker's.
        `files` ({relative path: (bytes, mode)}): a new volume that holds them from its first moment
        (written aside, then renamed into place with the record), and no copy of the image's files
        on first use (kube play's configMap, secret and emptyDir volumes)."""
        name = name or os.urandom(32).hex()
        if not valid_name(name) or len(name) > 255:
            raise InvalidOption(f"invalid volume name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        if driver != "local":
            raise InvalidOption(f"volume driver {driver!r} is not available: only local")
        options = dict(options or {})
        unknown = set(options) - {"type", "device", "o"}
        if unknown:
            raise InvalidOption(f"invalid volume option(s) {', '.join(sorted(unknown))}: use type, device, o")
        if options and options.get("type") not in _VOLUME_TYPES:
            raise InvalidOption(f"invalid volume type {options.get('type')!r}")
        if options.get("type") not in (None, "tmpfs") and not options.get("device"):
            raise InvalidOption("a volume of this type needs --opt device=...")
        if files is not None and (exist_ok or (files and options)):
            raise InvalidOption("a volume made with files is new (not exist_ok) and a plain directory")
        staged = self._stage(files) if files is not None else None
        try:
            if self.records.add(name, driver, options, dict(labels or {}), anonymous, exist_ok, staged=staged):
                self.store.events.append(("volume", "create", name, {"driver": driver}))
        finally:
            if staged is not None and os.path.exists(staged):
                fsutil.remove_tree(staged)
        return self.inspect(name)

    def _stage(self, files: dict) -> str:
        """A volume's directory holding `files`, beside the volumes (the same file system, for the
        rename), marked as filled; every path checked to stay inside it."""
        staged = os.path.join(self.records.root, f".new-{os.urandom(8).hex()}")
        data = os.path.join(staged, "_data")
        os.makedirs(data, mode=0o755)
        try:
            for rel, (content, mode) in sorted(files.items()):
                parts = rel.split("/") if isinstance(rel, str) else [""]
                if rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in rel:
                    raise InvalidOption(f"invalid file path {rel!r} in a volume: relative, without '..'")
                if not isinstance(content, bytes) or not isinstance(mode, int) or not 0 <= mode <= 0o777:
                    raise InvalidOption(f"invalid file {rel!r} in a volume: bytes and a mode up to 0777")
                parent = data
                for part in parts[:-1]:  # only directories made here are walked: no symlink can be met
                    parent = os.path.join(parent, part)
                    if not os.path.isdir(parent):
                        try:
                            os.mkdir(parent, 0o755)
                        except FileExistsError:
                            raise InvalidOption(f"invalid file path {rel!r} in a volume: {part} is a file") from None
                try:
                    fd = os.open(os.path.join(parent, parts[-1]),
                                 os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                except (FileExistsError, IsADirectoryError):
                    raise InvalidOption(f"invalid file path {rel!r} in a volume: given twice") from None
                try:
                    _write_all(fd, content)
                    os.fchmod(fd, mode)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            open(os.path.join(staged, ".filled"), "w").close()
            fsutil.fsync_dir(data)
        except BaseException:
            fsutil.remove_tree(staged)
            raise
        return staged

    def inspect(self, name: str) -> dict:
        row = self.records.get(name)
        if row is None:
            raise VolumeNotFound(f"no such volume: {name}")
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["created"]))
        return {"CreatedAt": created, "Driver": row["driver"], "Labels": row["labels"],
                "Mountpoint": self.path(name), "Name": name, "Options": row["options"],
                "Scope": "local", "Anonymous": row["anonymous"]}

    def list(self, filters: dict | None = None) -> list[dict]:
        """By name; `filters` as docker's `volume ls --filter` (name, dangling, label, driver)."""
        volumes = [self.inspect(name) for name in self.records.names()]
        if not filters:
            return volumes
        from berth.container.filters import volume_filter
        keep = volume_filter(filters, self.users)
        return [v for v in volumes if keep(v)]

    def users(self, name: str) -> list[str]:
        return self.records.users(name)

    def remove(self, name: str, force: bool = False) -> None:
        if self.records.get(name) is None:
            if force:
                return
            raise VolumeNotFound(f"no such volume: {name}")
        users = self.users(name)
        if users:
            raise Conflict(f"volume {name} is in use by container(s) {', '.join(u[:12] for u in users)}")
        self._unmount(name)
        self.records.remove(name)
        self.store.events.append(("volume", "destroy", name, {"driver": "local"}))

    def remove_if_anonymous_unused(self, name: str) -> None:
        row = self.records.get(name)
        if row is not None and row["anonymous"] and not self.users(name):
            self.remove(name)

    def prune(self, all: bool = False) -> tuple[list[str], int]:
        removed, reclaimed = [], 0
        for vol in self.list():
            if (vol["Anonymous"] or all) and not self.users(vol["Name"]):
                reclaimed += fsutil.disk_usage(self.path(vol["Name"]))
                self.remove(vol["Name"])
                removed.append(vol["Name"])
        self.store.events.append(("volume", "prune", "", {"reclaimed": str(reclaimed)}))
        return removed, reclaimed

    def size(self, name: str) -> int:
        return fsutil.disk_usage(self.path(name))

    # ---- use by containers -------------------------------------------------------------

    def _mount_for(self, name: str, cid: str) -> None:
        """A volume with options is mounted while a container uses it: the first user mounts it."""
        options = self.records.get(name)["options"]
        if not options:
            return
        target = self.path(name)
        with self.records.lock(name):
            if not os.path.ismount(target):
                _mount_volume(name, options, target)
            self.records.add_mount_user(name, cid)

    def release(self, c) -> None:
        """The container stopped (or failed to start): the last user of a volume with options
        unmounts it, as docker's local driver does."""
        for m in c.config["mounts"]:
            if m["type"] != "volume":
                continue
            row = self.records.get(m["source"])
            if row is None or not row["options"]:
                continue
            with self.records.lock(m["source"]):
                if self.records.drop_mount_user(m["source"], c.id) == 0:
                    self._unmount(m["source"])

    def _unmount(self, name: str) -> None:
        from berth.runtime.rootfs import unmount
        unmount(self.path(name))

    def mounts_for(self, c, rootfs: str) -> list[spec.Mount]:
        """OCI mounts for a container's -v/--mount/--tmpfs and image VOLUMEs; volumes are mounted (if they
        have options) and filled from the image on first use, as docker does."""
        out = []
        for m in c.config["mounts"]:
            ro = ["ro"] if m["readonly"] else ["rw"]
            if m["type"] == "tmpfs":
                given = m["options"] + (["ro"] if m["readonly"] else [])
                out.append(spec.Mount(m["target"], "tmpfs", "tmpfs", tmpfs_options(given)))
                continue
            propagation = [m["propagation"]] if m.get("propagation") else ["rprivate"]
            if m["type"] == "bind":
                out.append(spec.Mount(m["target"], m["source"], "bind", ["rbind"] + ro + propagation))
                continue
            if self.records.get(m["source"]) is None:
                raise VolumeNotFound(f"volume {m['source']} was removed")
            self._mount_for(m["source"], c.id)
            self._fill_from_image(m["source"], rootfs, m["target"])
            out.append(spec.Mount(m["target"], self.path(m["source"]), "bind", ["rbind"] + ro + propagation))
        return out

    def _fill_from_image(self, name: str, rootfs: str, target: str) -> None:
        """Copy what the image has at `target` into an empty volume (resolved inside the rootfs)."""
        dest = self.path(name)
        marker = self.records.fill_marker(name)
        if os.path.exists(marker) or os.listdir(dest):
            return
        root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            try:
                src_fd = securefs.open_dir_in_root(root_fd, target)
            except OSError:
                src_fd = -1
        finally:
            os.close(root_fd)
        if src_fd >= 0:
            try:
                _copy_tree(f"/proc/self/fd/{src_fd}", dest)
            finally:
                os.close(src_fd)
        open(marker, "w").close()


# mount(2) flags for the words of docker's `o` option; the other words are the filesystem's data
_MOUNT_FLAGS = {"ro": (1, True), "rw": (1, False), "nosuid": (2, True), "suid": (2, False), "nodev": (4, True),
                "dev": (4, False), "noexec": (8, True), "exec": (8, False), "sync": (16, True), "async": (16, False),
                "noatime": (1024, True), "atime": (1024, False), "nodiratime": (2048, True),
                "diratime": (2048, False), "bind": (4096, True), "rbind": (4096 | 16384, True),
                "relatime": (1 << 21, True), "strictatime": (1 << 24, True)}


def _mount_volume(name: str, options: dict, target: str) -> None:
    """Mount as docker's local driver does: `device` on the volume's directory, as `type`, with `o`
    split into mount flags and the filesystem's own options. One clear line when it cannot."""
    from berth.errors import BerthError
    from berth.runtime.rootfs import mount
    kind = options.get("type", "none")
    flags, data = 0, []
    for word in filter(None, options.get("o", "").split(",")):
        if word in _MOUNT_FLAGS:
            bit, on = _MOUNT_FLAGS[word]
            flags = flags | bit if on else flags & ~bit
        else:
            data.append(word)
    if kind in ("none", "bind"):
        flags |= 4096  # MS_BIND
    fstype = None if kind in ("none", "bind") else kind
    try:
        mount(options.get("device", kind), target, fstype, flags, ",".join(data))
    except BerthError as e:
        if fstype and not _kernel_has(fstype):  # the mount asked the kernel to load its module first
            raise BerthError(f"volume {name}: this kernel cannot mount {fstype} volumes "
                             f"(no {fstype} in /proc/filesystems)") from None
        raise BerthError(f"volume {name}: {e}") from None


def _kernel_has(fstype: str) -> bool:
    try:
        with open("/proc/filesystems") as f:
            return fstype in {line.split()[-1] for line in f if line.strip()}
    except OSError:
        return True


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view):]


def _copy_tree(src: str, dest: str) -> None:
    """Copy through the archive module: a tar stream of `src` extracted into `dest`."""
    from berth import archive
    from berth.archive.pipe import WriterPipe
    with WriterPipe(lambda out: archive.write_tree(src, out)) as stream:
        archive.extract(stream, dest)
