"""RUN --mount=type=bind from the build context: the context as COPY sees it, never the user's files.

The context directory is the lower layer of an overlay over a throw-away upper dir, so what an `rw`
mount writes lands in that upper dir and goes with it (BuildKit mounts a snapshot the same way),
and what .dockerignore leaves out is hidden by whiteouts there (BuildKit only ever has the filtered
context it was sent). The cache key covers the content the mount shows (`digest`), as COPY's does.
"""
from __future__ import annotations

import os
import stat
from contextlib import closing

from berth.archive import securefs
from berth.build.checksum import sources_digest
from berth.build.sources import Source, SourceRoot
from berth.runtime import rootfs
from berth.store import fsutil

_NO_SYMLINKS = securefs.RESOLVE_IN_ROOT | securefs.RESOLVE_NO_SYMLINKS


def digest(root: SourceRoot, source: Source) -> str:
    """What the cache key holds for a mount of `source`: its content, as COPY's key does."""
    return sources_digest(root, [source])


class ContextView:
    """The filtered, copy-on-write context, mounted under the store's tmp; `path(source)` is where
    the source appears in it."""

    def __init__(self, root: SourceRoot, tmp: str):
        self.root = root
        self.staging = fsutil.Staging(tmp, "context-mount-")
        self.upper, self.merged = (os.path.join(self.staging.path, d) for d in ("upper", "merged"))
        self.mounted = False

    def __enter__(self):
        try:
            for sub in ("upper", "work", "merged"):
                os.mkdir(os.path.join(self.staging.path, sub), 0o755)
            lower = os.open(f"/proc/self/fd/{self.root.fd}", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:  # named by fd: a context path may hold the ',' and ':' that overlay options split on
                self._hide_ignored(lower)
                rootfs.mount_overlay([f"/proc/self/fd/{lower}"], self.upper,
                                     os.path.join(self.staging.path, "work"), self.merged, volatile=True)
                self.mounted = True
            finally:
                os.close(lower)
        except BaseException:
            self.__exit__()
            raise
        return self

    def path(self, source: Source) -> str:
        return os.path.join(self.merged, source.real) if source.real else self.merged

    def __exit__(self, *exc):
        if self.mounted:
            rootfs.unmount(self.merged)
            self.mounted = False
        self.staging.cleanup()

    def _hide_ignored(self, lower: int) -> None:
        """A whiteout in the upper dir for each entry of a kept directory that COPY would not take."""
        if not self.root.ignore:
            return
        kept, dirs = set(), []
        with closing(self.root.walk(Source("", "", True))) as nodes:
            for node in nodes:
                if not node.end:
                    kept.add(node.rel)
                    if stat.S_ISDIR(node.st.st_mode):
                        dirs.append(node.rel)
        for rel in dirs:
            fd = securefs.openat2(lower, rel or ".", os.O_RDONLY | os.O_DIRECTORY, _NO_SYMLINKS)
            try:
                names = os.listdir(fd)
            finally:
                os.close(fd)
            hidden = [name for name in names if (f"{rel}/{name}" if rel else name) not in kept]
            if hidden:
                where = self._upper_dir(lower, rel)
                for name in hidden:
                    os.mknod(os.path.join(where, name), stat.S_IFCHR | 0o600, os.makedev(0, 0))

    def _upper_dir(self, lower: int, rel: str) -> str:
        """`rel` made in the upper dir with its lower directory's mode and owner, which the merged
        directory shows once the upper one exists."""
        path = self.upper
        parts = rel.split("/") if rel else []
        for i, part in enumerate(parts):
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                fd = securefs.openat2(lower, "/".join(parts[:i + 1]), os.O_PATH | os.O_DIRECTORY, _NO_SYMLINKS)
                try:
                    st = os.fstat(fd)
                finally:
                    os.close(fd)
                os.mkdir(path)
                os.chown(path, st.st_uid, st.st_gid)
                os.chmod(path, stat.S_IMODE(st.st_mode))
        return path
