"""A container's files: `cp`, `diff`, `commit`, `export` (docker's semantics).

Container paths are resolved by the kernel inside the container's merged rootfs (openat2 with
RESOLVE_IN_ROOT: `..` and symlinks, absolute or relative, behave as if the rootfs were `/`), and
every later step works from the resulting fds, so a container that swaps a directory for a symlink
mid-copy cannot redirect a read or a write to the host. Tar streams are made by archive.write_tree
and unpacked by archive.extract, which resolves each entry inside its target directory too.

A stopped container's rootfs is mounted for the operation (and unmounted after) under the
container's lock, so it cannot be started, finalized or removed underneath.

Limitation: only what is visible in the host's view of the rootfs is seen. Volumes, bind mounts,
tmpfs mounts and the /etc/hosts, /etc/hostname, /etc/resolv.conf bind mounts live in the
container's own mount namespace: cp reads and writes the (normally empty) directory under them.
"""
from __future__ import annotations

import copy
import json
import os
import posixpath
import stat
from contextlib import contextmanager
from dataclasses import dataclass

from berth import archive
from berth.archive import securefs
from berth.archive.hashing import CountingWriter
from berth.archive.unpack import OVERLAY_OPAQUE_XATTR
from berth.errors import (ChangeError, Conflict, CopyError, CopyForbidden, CopyPathNotFound, CopyTypeClash,
                          NotADirectory, StoreError)
from berth.runtime import rootfs as rootfs_mount
from berth.runtime.upper import STUB_PARENTS, Lowers, commit_skip, getxattr, is_stub
from berth.store import fsutil

RUNNING = ("running", "paused")
RESOLVE = securefs.RESOLVE_IN_ROOT | securefs.RESOLVE_NO_MAGICLINKS
MAX_SYMLINKS = 40



# ---- paths ---------------------------------------------------------------------------------

@dataclass
class CopyPath:
    """A path as the user wrote it: lexically cleaned (docker's filepath.Clean) plus its trailing
    markers: `/` (must be a directory) and `/.` (the directory's contents)."""
    text: str
    path: str            # absolute, clean: "/" or "/a/b"
    dir_required: bool
    contents: bool

    @property
    def parent(self) -> str:
        return posixpath.dirname(self.path)

    @property
    def base(self) -> str:
        return posixpath.basename(self.path)  # "" for "/"

    @classmethod
    def container(cls, text: str) -> "CopyPath":
        # Relative container paths are relative to the container's root; `..` cannot climb above it.
        clean = posixpath.normpath("/" + text.lstrip("/"))
        return cls._make(text, clean)

    @classmethod
    def host(cls, text: str) -> "CopyPath":
        return cls._make(text, os.path.abspath(text))

    @classmethod
    def _make(cls, text, clean):
        contents = text in (".", "") or text.endswith("/.") or clean == "/"
        return cls(text, clean, text.endswith("/") or contents, contents)


class _Side:
    """Where paths resolve: inside a container's rootfs (RESOLVE_IN_ROOT) or on the host."""

    def __init__(self, root_fd: int, in_root: bool, label: str):
        self.root_fd = root_fd
        self.in_root = in_root
        self.label = label
        self.prefix = securefs.fd_path(root_fd).rstrip("/") + "/" if in_root else "/"

    def _open(self, path: str, flags: int, dir_fd: int | None = None) -> int:
        rel = path.lstrip("/") or "."
        if self.in_root:
            return securefs.openat2(self.root_fd if dir_fd is None else dir_fd, rel, flags, RESOLVE)
        return os.open(rel, flags | os.O_CLOEXEC, dir_fd=self.root_fd if dir_fd is None else dir_fd)

    def open_dir(self, path: str) -> int:
        return self._open(path, os.O_PATH | os.O_DIRECTORY)

    def open_follow(self, path: str) -> int:
        return self._open(path, os.O_PATH)

    def real(self, fd: int) -> str:
        """The path of fd as seen from this side's root (no symlink in it)."""
        where = securefs.fd_path(fd)
        if not self.in_root:
            return where
        if where + "/" == self.prefix:
            return "/"
        if not where.startswith(self.prefix):
            raise CopyError(f"{where}: resolved outside the container's root filesystem")
        return "/" + where[len(self.prefix):]

    def describe(self, path: str) -> str:
        return f"{path} in container {self.label}" if self.in_root else path


def _open_source(side: _Side, cp: CopyPath, follow: bool) -> int:
    """An O_PATH fd of what `cp` names; its last component is followed only with -L or a trailing
    `/` (docker copies a symlink itself otherwise)."""
    try:
        if cp.base == "":
            fd = os.dup(side.root_fd) if side.in_root else os.open("/", os.O_PATH | os.O_CLOEXEC)
        elif follow or cp.dir_required:
            fd = side.open_follow(cp.path)
        else:
            parent = side.open_dir(cp.parent)
            try:
                fd = os.open(cp.base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            finally:
                os.close(parent)
    except FileNotFoundError:
        if side.in_root:
            raise CopyPathNotFound(f"Could not find the file {cp.path} in container {side.label}") from None
        raise CopyPathNotFound(f"lstat {cp.text}: no such file or directory") from None
    except OSError as err:
        raise CopyError(f"{side.describe(cp.path)}: {securefs.strerror(err)}") from None
    if cp.dir_required and not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotADirectory(f"{side.describe(cp.text)}: not a directory")
    return fd


@dataclass
class _Dest:
    kind: str      # "dir": fd is the directory; "file": fd is the parent, name an existing non-directory;
    fd: int        # "missing": fd is the parent, name is to be created
    name: str = ""


def _resolve_dest(side: _Side, cp: CopyPath) -> _Dest:
    """docker's CopyInfoDestinationPath: symlinks are followed, the last one too (a dangling one
    names what to create); in a container, each step resolves inside the rootfs."""
    path = cp.path
    for _ in range(MAX_SYMLINKS):
        parent, base = posixpath.split(path)
        if base == "":
            return _Dest("dir", os.dup(side.root_fd) if side.in_root else os.open("/", os.O_PATH | os.O_CLOEXEC))
        try:
            pfd = side.open_dir(parent)
        except FileNotFoundError:
            raise CopyPathNotFound(f"{side.describe(parent)}: no such directory") from None
        except OSError as err:
            raise CopyError(f"{side.describe(parent)}: {securefs.strerror(err)}") from None
        st = securefs.lstat_at(pfd, base)
        if st is not None and stat.S_ISLNK(st.st_mode):
            target = os.readlink(base, dir_fd=pfd)
            path = posixpath.normpath(posixpath.join(side.real(pfd), target))
            if path.startswith("//"):
                path = "/" + path.lstrip("/")
            os.close(pfd)
            continue
        if st is not None and stat.S_ISDIR(st.st_mode):
            try:
                fd = os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            except OSError as err:
                raise CopyError(f"{side.describe(path)}: {securefs.strerror(err)}") from None
            finally:
                os.close(pfd)
            return _Dest("dir", fd)
        return _Dest("file" if st is not None else "missing", pfd, base)
    raise CopyError(f"{side.describe(cp.text)}: too many levels of symbolic links")


def _proc(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


@dataclass
class PathStat:
    """A path in a container as docker's archive endpoints describe it."""
    name: str          # the base name of the path as asked ("." for `DIR/.`, "/" for the root)
    size: int
    mode: int          # st_mode (lstat)
    mtime_ns: int
    link_target: str   # a symlink's target resolved inside the rootfs, absolute; "" otherwise


def _path_stat(side: _Side, cp: CopyPath, fd: int) -> PathStat:
    st = os.fstat(fd)
    link = ""
    if stat.S_ISLNK(st.st_mode):
        try:
            target_fd = side.open_follow(cp.path)
        except OSError:  # dangling or a loop: where it points, one step
            parent = side.open_dir(cp.parent)
            try:
                link = posixpath.normpath(posixpath.join(side.real(parent), os.readlink("", dir_fd=fd)))
            finally:
                os.close(parent)
            link = "/" + link.lstrip("/")
        else:
            try:
                link = side.real(target_fd)
            finally:
                os.close(target_fd)
    clean = posixpath.normpath("/" + cp.text.lstrip("/"))
    if clean == "/":
        name = "/"
    elif posixpath.basename(cp.text.rstrip("/")) == ".":
        name = "."
    else:
        name = posixpath.basename(clean)
    return PathStat(name, st.st_size, st.st_mode, st.st_mtime_ns, link)


# ---- the service ---------------------------------------------------------------------------

class FileService:
    def __init__(self, containers):
        self.containers = containers
        self.store = containers.store

    # -- the container's filesystem

    def lowers(self, c) -> list[str]:
        """The image's layer directories, top first (as the container is mounted)."""
        from berth.oci.digest import Digest
        image = self.store.images.get(Digest.parse(c.image_id))
        if image is None:
            raise StoreError(f"the image of container {c.name} ({c.image_id[7:19]}) is gone")
        return [self.store.layers.diff_path(chain) for chain in reversed(image.chain)]

    @contextmanager
    def mounted(self, text: str, write: bool = False):
        """(container, O_PATH fd of its merged rootfs): the running container's mount, or a temporary
        one. The container's lock is held throughout: it cannot start, stop being finalized or be
        removed meanwhile."""
        c = self.containers.get(text)  # reconciles first: it takes the lock itself
        records = self.containers.records
        target = os.path.join(records.dir(c.id), "rootfs")
        with records.lock(c.id):
            c = records.get(c.id)
            if write and c.config.get("read_only"):
                raise CopyForbidden("container rootfs is marked read-only")
            mounted_here = False
            if not rootfs_mount.is_mounted(target):
                if c.status in RUNNING:
                    raise Conflict(f"container {c.name} is {c.status} but its rootfs is not mounted")
                bundle = records.dir(c.id)
                rootfs_mount.mount_overlay(self.lowers(c), os.path.join(bundle, "upper"),
                                           os.path.join(bundle, "work"), target)
                mounted_here = True
            try:
                fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    yield c, fd
                finally:
                    os.close(fd)
            finally:
                if mounted_here:
                    rootfs_mount.unmount(target)

    # -- cp

    def copy_out(self, text: str, src: str, dest: str, *, archive_mode: bool = False, follow: bool = False,
                 out=None) -> int:
        """docker cp CONTAINER:SRC DEST (DEST "-": a tar stream to `out`). Returns the bytes copied."""
        scp = CopyPath.container(src)
        with self.mounted(text) as (c, root_fd):
            side = _Side(root_fd, True, c.name)
            fd = _open_source(side, scp, follow)
            try:
                if dest == "-":
                    counter = CountingWriter(out)
                    archive.write_tree(fd, counter, arcname="." if scp.contents else scp.base)
                    return counter.count
                host_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    return self._copy(fd, scp, _Side(host_fd, False, ""), CopyPath.host(dest), archive_mode)
                finally:
                    os.close(host_fd)
            finally:
                os.close(fd)

    def copy_in(self, text: str, src: str, dest: str, *, archive_mode: bool = False, follow: bool = False,
                stream=None) -> int:
        """docker cp SRC CONTAINER:DEST (SRC "-": a tar stream read from `stream`)."""
        dcp = CopyPath.container(dest)
        if src == "-":
            with self.mounted(text, write=True) as (c, root_fd):
                side = _Side(root_fd, True, c.name)
                d = _resolve_dest(side, dcp)
                try:
                    if d.kind != "dir":
                        raise CopyError(f'destination "{c.name}:{dcp.text}" must be a directory')
                    result = archive.extract(stream, _proc(d.fd), whiteouts="none", same_owner=archive_mode)
                    return result.tar_size
                finally:
                    os.close(d.fd)
        scp = CopyPath.host(src)
        host_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = _open_source(_Side(host_fd, False, ""), scp, follow)
        finally:
            os.close(host_fd)
        try:
            with self.mounted(text, write=True) as (c, root_fd):
                return self._copy(fd, scp, _Side(root_fd, True, c.name), dcp, archive_mode)
        finally:
            os.close(fd)

    # -- the Docker API's archive endpoints: a path's stat, a tar of a path, a tar extracted into a directory

    def stat_path(self, text: str, path: str) -> "PathStat":
        """What `path` names in the container, its last component not followed (unless `path` ends
        in `/`), as docker's HEAD /containers/{id}/archive."""
        cp = CopyPath.container(path)
        with self.mounted(text) as (c, root_fd):
            side = _Side(root_fd, True, c.name)
            fd = _open_source(side, cp, follow=False)
            try:
                return _path_stat(side, cp, fd)
            finally:
                os.close(fd)

    def archive_path(self, text: str, path: str, out, on_stat=None) -> "PathStat":
        """A tar of `path` to the binary file `out`, its entries named after the path's base name
        (`PATH/.`: the directory's contents as `./...`); on_stat(PathStat) is called before the
        first byte is written (the API sends the stat as a header)."""
        cp = CopyPath.container(path)
        with self.mounted(text) as (c, root_fd):
            side = _Side(root_fd, True, c.name)
            fd = _open_source(side, cp, follow=False)
            try:
                found = _path_stat(side, cp, fd)
                if on_stat is not None:
                    on_stat(found)
                archive.write_tree(fd, out, arcname="." if cp.contents else cp.base)
                return found
            finally:
                os.close(fd)

    def extract_archive(self, text: str, path: str, stream, *, no_overwrite_dir_non_dir: bool = False,
                        copy_uid_gid: bool = False) -> int:
        """Extract the tar read from `stream` into the directory `path` (symlinks followed inside the
        rootfs), as docker's PUT /containers/{id}/archive; every entry stays inside that directory.
        Without copy_uid_gid the files belong to root, as docker cp makes them. Returns the tar's size."""
        dcp = CopyPath.container(path)
        with self.mounted(text, write=True) as (c, root_fd):
            d = _resolve_dest(_Side(root_fd, True, c.name), dcp)
            try:
                if d.kind == "missing":
                    raise CopyPathNotFound(f"Could not find the file {dcp.path} in container {c.name}")
                if d.kind != "dir":
                    raise NotADirectory(f"extraction point {dcp.path} in container {c.name} is not a directory")
                return archive.extract(stream, _proc(d.fd), whiteouts="none", same_owner=copy_uid_gid,
                                       no_overwrite_dir_non_dir=no_overwrite_dir_non_dir).tar_size
            finally:
                os.close(d.fd)

    def _copy(self, src_fd: int, scp: CopyPath, side: _Side, dcp: CopyPath, archive_mode: bool) -> int:
        """docker's PrepareArchiveCopy: where the source goes and under which name."""
        src_is_dir = stat.S_ISDIR(os.fstat(src_fd).st_mode)
        src_name = scp.base
        d = _resolve_dest(side, dcp)
        made = None
        try:
            if d.kind == "dir":
                root, arcname = d.fd, (None if src_is_dir and scp.contents else src_name)
                if arcname:
                    _no_type_clash(side, d.fd, arcname, src_is_dir, dcp)
            elif d.kind == "file":
                if src_is_dir:
                    raise CopyError(f"cannot copy a directory to a file: {side.describe(dcp.text)}")
                if dcp.dir_required:
                    raise NotADirectory(f"{side.describe(dcp.text)}: not a directory")
                root, arcname = d.fd, d.name
            elif src_is_dir:  # a new directory named like the destination, with the source's contents
                try:
                    os.mkdir(d.name, 0o700, dir_fd=d.fd)
                    made = os.open(d.name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d.fd)
                except OSError as err:
                    raise CopyError(f"{side.describe(dcp.path)}: {securefs.strerror(err)}") from None
                root, arcname = made, "."
            else:
                if dcp.dir_required:
                    raise CopyPathNotFound(f"{side.describe(dcp.text)}: no such directory")
                root, arcname = d.fd, d.name
            from berth.archive.pipe import WriterPipe
            with WriterPipe(lambda out: archive.write_tree(src_fd, out, arcname=arcname)) as stream:
                result = archive.extract(stream, _proc(root), whiteouts="none", same_owner=archive_mode)
            return result.size
        finally:
            os.close(d.fd)
            if made is not None:
                os.close(made)

    # -- diff

    def diff(self, text: str) -> list[tuple[str, str]]:
        """docker diff: ("A"|"C"|"D", "/path") for the upper dir against the image's layers."""
        c = self.containers.get(text)
        upper = os.path.join(self.containers.records.dir(c.id), "upper")
        lowers = Lowers(self.lowers(c))
        changes: list[tuple[str, str]] = []
        changed_dirs: set[str] = set()
        fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._diff_dir(fd, "", lowers, changes, changed_dirs)
        finally:
            os.close(fd)
        changes.sort(key=lambda ch: ch[1].split("/"))
        return changes

    def _diff_dir(self, dir_fd, rel_dir, lowers, changes, changed_dirs):
        for name in sorted(os.listdir(dir_fd), key=os.fsencode):
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            rel = f"{rel_dir}/{name}"
            if is_stub(rel[1:], st, lowers):
                continue
            sub = None
            if stat.S_ISDIR(st.st_mode):
                try:
                    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
                except OSError:
                    continue  # replaced while we looked
            try:
                kind = None
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    kind = "D"
                elif sub is not None and getxattr(sub, OVERLAY_OPAQUE_XATTR) == b"y":
                    kind = "D"  # docker reports an opaque directory as deleted (its children as added)
                else:
                    low = lowers.lookup(rel[1:])
                    if low is None:
                        kind = "A"
                    elif not (sub is not None and stat.S_ISDIR(low.st_mode)
                              and _same_dir(st, low, sub, rel[1:], lowers)):
                        kind = "C"
                if sub is not None and kind is not None:
                    changed_dirs.add(rel)
                if kind in ("A", "D"):
                    parent = posixpath.dirname(rel)
                    if parent != "/" and parent not in changed_dirs:
                        changes.append(("C", parent))
                        changed_dirs.add(parent)
                if kind:
                    changes.append((kind, rel))
                if sub is not None:
                    self._diff_dir(sub, rel, lowers, changes, changed_dirs)
            finally:
                if sub is not None:
                    os.close(sub)

    # -- commit

    def commit(self, text: str, repo: str | None = None, *, author: str = "", message: str = "",
               changes: list[str] = (), pause: bool = True, config: dict | None = None):
        """docker commit: the upper dir as a new layer on the container's image, with the container's
        configuration, `config` (docker's container config, the API's body) merged over it, and
        `changes` (Dockerfile instructions) applied."""
        from berth.oci.digest import Digest
        from berth.oci.image import ImageConfig
        from berth.oci.reference import Reference
        from berth.timefmt import rfc3339
        c = self.containers.get(text)
        refs = [Reference.parse(repo)] if repo else []
        store = self.store
        image = store.images.get(Digest.parse(c.image_id))
        if image is None:
            raise StoreError(f"the image of container {c.name} ({c.image_id[7:19]}) is gone")
        base = ImageConfig.parse(store.content.read(image.id)).doc
        container_cfg = container_config(base.get("config") or {}, c.config)
        merged = merge_config(config, container_cfg) if config else container_cfg
        run_config = apply_changes(merged, changes)  # before anything is written: errors stop here
        lower_dirs = self.lowers(c)
        upper = os.path.join(self.containers.records.dir(c.id), "upper")
        with fsutil.Staging(store.tmp, "commit-") as staging:
            tar = os.path.join(staging.path, "layer.tar")
            paused = False
            if pause and c.status == "running":
                self.containers.pause(c.id)
                paused = True
            try:
                with open(tar, "wb", buffering=1 << 20) as f:
                    archive.write_tree(upper, f, overlay_upper=True, skip=commit_skip(upper, lower_dirs))
            finally:
                if paused:
                    self.containers.unpause(c.id)
            empty = os.path.getsize(tar) == 1024  # no entry: docker adds no layer, only history
            layers = store.images.layers(image)
            if not empty:
                layers = layers + [store.layers.add(lambda: open(tar, "rb"), image.chain[-1] if image.chain else None)]
        now = rfc3339()
        doc = copy.deepcopy(base)
        doc["created"] = now
        doc["config"] = run_config
        doc["container"] = c.id
        for key, value in (("author", author), ("comment", message)):
            if value:
                doc[key] = value
            else:
                doc.pop(key, None)
        doc["rootfs"] = {"type": "layers", "diff_ids": [str(layer.diff_id) for layer in layers]}
        entry = {"created": now, "created_by": " ".join(container_cfg.get("Cmd") or [])}  # docker: the container's
        if author:
            entry["author"] = author
        if message:
            entry["comment"] = message
        if empty:
            entry["empty_layer"] = True
        doc["history"] = list(base.get("history") or []) + [entry]
        committed = store.images.add(json.dumps(doc, separators=(",", ":")).encode(), layers, refs)
        from berth.container.service import container_event
        store.events.append(container_event(c, "commit", comment=message, imageID=str(committed.id),
                                            imageRef=refs[0].familiar if refs else ""))
        return committed

    # -- export

    def export(self, text: str, out) -> None:
        """docker export: the container's merged filesystem as one tar, to a binary file or a path (which
        appears only once the tar is whole)."""
        if isinstance(out, str):
            with fsutil.replace_atomically(out) as f:
                return self.export(text, f)
        with self.mounted(text) as (_, root_fd):
            archive.write_tree(root_fd, out)


def _no_type_clash(side, dir_fd, name, src_is_dir, dcp):
    """docker's NoOverwriteDirNonDir for the top entry: never replace a directory by a file or back."""
    st = securefs.lstat_at(dir_fd, name)
    if st is None or stat.S_ISDIR(st.st_mode) == src_is_dir:
        return
    where = side.describe(posixpath.join(side.real(dir_fd), name))
    if src_is_dir:
        raise CopyTypeClash(f"cannot overwrite non-directory {where} with directory")
    raise CopyTypeClash(f"cannot overwrite directory {where} with non-directory")


def _same_time(a: int, b: int) -> bool:
    """docker's sameFsTime: equal, or equal seconds where one side has no nanoseconds."""
    return a == b or (a // 10**9 == b // 10**9 and (a % 10**9 == 0 or b % 10**9 == 0))


def _same_dir(st, low, sub_fd, rel, lowers) -> bool:
    """docker: a directory in both with the same size, mode and mtime is no change by itself."""
    if st.st_mode != low.st_mode:
        return False
    if st.st_size == low.st_size and _same_time(st.st_mtime_ns, low.st_mtime_ns):
        return True
    return _only_stubs(st, low, sub_fd, rel, lowers)


def _only_stubs(st, low, sub_fd, rel, lowers) -> bool:
    """A directory copied up only because the runtime made mount points in it is no change."""
    if rel not in STUB_PARENTS or (st.st_mode, st.st_uid, st.st_gid) != (low.st_mode, low.st_uid, low.st_gid):
        return False
    if getxattr(sub_fd, OVERLAY_OPAQUE_XATTR) == b"y":
        return False
    names = os.listdir(sub_fd)
    return bool(names) and all(is_stub(f"{rel}/{n}", os.stat(n, dir_fd=sub_fd, follow_symlinks=False), lowers)
                               for n in names)





# ---- commit: the container's configuration and Dockerfile-style changes --------------------

def container_config(image_config: dict, record: dict) -> dict:
    """The image config's `config` with what the container runs with (docker's container.Config)."""
    from berth.container.spec import recorded_entrypoint
    cfg = copy.deepcopy(image_config)
    recorded = recorded_entrypoint(record)
    if recorded is not None:
        entrypoint = recorded or None
        cmd = list(record.get("cmd") or []) or None  # --entrypoint clears the image's CMD
    else:
        entrypoint = image_config.get("Entrypoint") or None
        cmd = list(record.get("cmd") or []) or image_config.get("Cmd") or None
    for key, value in (("Entrypoint", entrypoint), ("Cmd", cmd)):
        if value:
            cfg[key] = list(value)
        else:
            cfg.pop(key, None)
    cfg["Env"] = list(record.get("env") or image_config.get("Env") or [])
    workdir = record.get("workdir") or ""
    if workdir and not (workdir == "/" and not image_config.get("WorkingDir")):
        cfg["WorkingDir"] = workdir
    user = record.get("user") or ""
    if user:
        cfg["User"] = user
    else:
        cfg.pop("User", None)
    labels = record.get("labels") or {}
    if labels:
        cfg["Labels"] = dict(labels)
    stop_signal = record.get("stop_signal")
    if stop_signal and (stop_signal != "SIGTERM" or image_config.get("StopSignal")):
        cfg["StopSignal"] = stop_signal
    return cfg


_STRING_LISTS = ("Cmd", "Entrypoint", "Env")
_STRING_MAPS = ("Labels",)
_SETS = ("ExposedPorts", "Volumes")
_STRINGS = ("WorkingDir", "User", "StopSignal")


def merge_config(given: dict, current: dict) -> dict:
    """docker's commit merge: what `given` sets wins, the rest comes from `current` (Env, Labels,
    ExposedPorts and Volumes are merged key by key; CMD is kept only when neither Entrypoint nor Cmd
    is given). Fields other than those an image config carries are ignored."""
    for key in _STRING_LISTS:
        value = given.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ChangeError(f"invalid {key} in the commit configuration: expected a list of strings")
    for key in _STRING_MAPS + _SETS:
        value = given.get(key)
        if value is not None and not (isinstance(value, dict) and all(isinstance(k, str) for k in value)):
            raise ChangeError(f"invalid {key} in the commit configuration: expected an object")
    for key in _STRINGS:
        if given.get(key) is not None and not isinstance(given[key], str):
            raise ChangeError(f"invalid {key} in the commit configuration: expected a string")
    for key, value in (given.get("Labels") or {}).items():
        if not isinstance(value, str):
            raise ChangeError(f"invalid label {key!r} in the commit configuration: expected a string value")
    cfg = copy.deepcopy(current)
    for key in _STRINGS:
        if given.get(key):
            cfg[key] = given[key]
    if given.get("Env"):
        names = {e.partition("=")[0] for e in given["Env"]}
        cfg["Env"] = list(given["Env"]) + [e for e in cfg.get("Env") or [] if e.partition("=")[0] not in names]
    for key in _STRING_MAPS + _SETS:
        if given.get(key):
            cfg[key] = {**(cfg.get(key) or {}), **given[key]}
    if given.get("Entrypoint"):
        cfg["Entrypoint"] = list(given["Entrypoint"])
        cfg.pop("Cmd", None)  # docker: a new entrypoint does not inherit the old command
    if given.get("Cmd"):
        cfg["Cmd"] = list(given["Cmd"])
    return cfg


_CHANGE_COMMANDS = {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER",
                    "VOLUME", "WORKDIR"}


def apply_changes(config: dict, changes) -> dict:
    """docker commit --change: Dockerfile instructions applied to an image's `config` by the
    builder's own parser and rules, words expanded against the image's environment."""
    from berth import dockerfile as df  # only commit --change needs the parser
    from berth.container import imageconfig
    cfg = copy.deepcopy(config)
    cmd_set = False
    for change in changes:
        try:
            for ins in df.parse_instructions(change, "--change"):
                if ins.keyword not in _CHANGE_COMMANDS:
                    raise ChangeError(f"{ins.keyword} is not a valid change command")
                ins = ins.expand(dict(e.partition("=")[::2] for e in cfg.get("Env") or []))
                imageconfig.apply(cfg, ins, imageconfig.DEFAULT_SHELL, cmd_set)
                cmd_set = cmd_set or isinstance(ins, df.Cmd)
        except df.DockerfileError as e:
            raise ChangeError(f"--change {change!r}: {e.problem}") from None
    return cfg
