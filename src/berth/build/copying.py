"""COPY and ADD: which sources, where they land, and writing them into a root filesystem.

Docker's rules (Dockerfile reference, BuildKit's behaviour where the two builders differ):
- sources are relative to the source root (context, or a stage/image rootfs with --from); a
  leading `/` or `..` cannot leave it; wildcards follow Go's filepath.Match plus `**`; a wildcard
  matching nothing is no error (BuildKit), a missing plain path is;
- a directory source copies its contents, not itself; a named symlink source is followed;
- the destination is relative to WORKDIR; ending in `/` (or being `.`) makes it a directory, and
  more than one source requires that; a single file to any other destination is written as that
  file, unless the destination already is a directory;
- missing destination directories are created with mode 0755 and the --chown owner;
- copied files are owned by 0:0 unless --chown (or `keep_owner` for a --from copy that keeps them),
  keep their mode unless --chmod, and keep their mtime;
- a directory never replaces a non-directory (`cannot copy to non-directory`) nor a file a
  directory; other conflicts are resolved in favour of what is copied;
- ADD extracts local tar archives (compression detected by content) into the destination; ADD
  <url> copies what the builder downloaded (download.py) like a local file, never extracted;
- --chmod is octal (`755`) or chmod(1)'s symbolic form (`u+x,go-w`, BuildKit's dockerfile 1.10+),
  the latter applied to each copied entry's own mode.

The target root is hostile (earlier steps ran arbitrary commands in it): every destination path is
resolved with openat2(RESOLVE_IN_ROOT), entries are created relative to directory fds with
O_NOFOLLOW/O_EXCL, an existing symlink in the way is replaced, never written through.
"""
from __future__ import annotations

import errno
import os
import posixpath
import stat
from contextlib import closing

from berth import archive, pathmatch
from berth.archive import CHUNK, securefs
from berth.build.checksum import sources_digest
from berth.build.ignore import IgnoreMatcher
from berth.build.sources import Node, Selection, Source, SourceRoot, clean_source, split_pivot
from berth.errors import ArchiveError, BerthError, CopyError, IgnoreFileError
from berth.record import Record

_RESOLVE = securefs.RESOLVE_IN_ROOT | securefs.RESOLVE_NO_MAGICLINKS
_DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
MAX_SYMLINKS = 40
REMOTE_PREFIXES = ("http://", "https://", "git@", "git://", "ssh://")
GIT_PREFIXES = ("git@", "git://", "ssh://")


class CopyResult(Record):
    files: int = 0      # non-directory entries written (files, links, devices)
    dirs: int = 0       # directories created or updated
    size: int = 0       # bytes of file content written


def is_remote(source: str) -> bool:
    """ADD <url>: the builder downloads it first (into a staging dir that plan_downloads then reads,
    with mode 0600 as docker gives downloads); plan_copy only reads local roots."""
    return source.startswith(REMOTE_PREFIXES)


def is_git(source: str) -> bool:
    """A git repository as BuildKit tells them apart: git@, git://, ssh://, or an http(s) URL whose
    path ends in `.git` (`https://github.com/moby/buildkit.git#v0.10.1`)."""
    if source.startswith(GIT_PREFIXES):
        return True
    from urllib.parse import urlsplit
    return source.startswith(REMOTE_PREFIXES) and urlsplit(source).path.endswith(".git")


def parse_chmod(text: str) -> "int | SymbolicMode":
    """--chmod: octal (`755`, `0644`) as permission bits, else chmod(1)'s symbolic form."""
    if text[:1].isdigit():
        if len(text) > 5 or any(c not in "01234567" for c in text) or int(text, 8) > 0o7777:
            raise _invalid_chmod(text)
        return int(text, 8)
    return SymbolicMode(text)


def _invalid_chmod(text: str) -> CopyError:
    return CopyError(f"invalid chmod parameter: {text!r}: use octal (755) or symbolic (u+x,go-w) permissions")


class SymbolicMode:
    """chmod(1)'s symbolic mode: comma-separated clauses `[ugoa]*` then one or more actions, each an
    operator `+ - =` with permissions `[rwxXst]*` or one class to copy them from (`g=u`).

    Applied as BuildKit applies it (BSD setmode with a umask of 0), to each copied entry's own mode:
    no class means all (`+x` is `a+x`); `=` sets the named classes' bits and keeps the others (and
    the sticky bit, unless `t` is named); `s` is setuid for u, setgid for g, nothing for o; `t` needs
    u, g or a (or no class). `X` is execute for a directory, or for an entry that some class could
    already execute, before this mode applied; BuildKit's Go port only honours it after `+`.
    """
    _CLASS_BITS = {"u": 0o4700, "g": 0o2070, "o": 0o0007}
    _SHIFT = {"u": 6, "g": 3, "o": 0}
    _PERM_BITS = {"r": 0o444, "w": 0o222, "x": 0o111, "s": 0o6000, "X": 0, "t": 0}

    def __init__(self, text: str):
        self.text = text
        self.actions: list[tuple] = []  # (op, classes, mask, bits, x_bits, copy_from)
        if not text:
            raise _invalid_chmod(text)
        for clause in text.split(","):
            self._clause(clause)

    def _clause(self, clause: str) -> None:
        who = clause[:len(clause) - len(clause.lstrip("ugoa"))]
        rest = clause[len(who):]
        if not rest:
            raise _invalid_chmod(self.text)  # an empty clause, or classes without an operator
        classes = "ugo" if not who or "a" in who else "".join(c for c in "ugo" if c in who)
        mask = 0
        for c in classes:
            mask |= self._CLASS_BITS[c]
        sticky = 0o1000 if classes != "o" else 0  # `o+t` means nothing (BSD)
        while rest:
            op, rest = rest[0], rest[1:]
            if op not in "+-=":
                raise _invalid_chmod(self.text)
            perms = rest[:len(rest) - len(rest.lstrip("rwxXstugo"))]
            rest = rest[len(perms):]
            if perms in ("u", "g", "o"):
                self.actions.append((op, classes, mask, 0, 0, perms))
                continue
            if any(p not in self._PERM_BITS for p in perms):
                raise _invalid_chmod(self.text)  # a class to copy from goes alone (`g=u`, not `g=ur`)
            bits = 0
            for p in perms:
                bits |= self._PERM_BITS[p]
            action_mask = mask | (sticky if "t" in perms else 0)
            bits = (bits | (sticky if "t" in perms else 0)) & action_mask
            x_bits = 0o111 & mask if "X" in perms else 0
            self.actions.append((op, classes, action_mask, bits, x_bits, ""))

    def apply(self, mode: int) -> int:
        """The permission bits for an entry whose mode (st_mode, type included) is `mode`."""
        original = stat.S_IMODE(mode)
        executable = stat.S_ISDIR(mode) or bool(original & 0o111)
        bits_now = original
        for op, classes, mask, bits, x_bits, copy_from in self.actions:
            if copy_from:
                value = (bits_now >> self._SHIFT[copy_from]) & 0o7
                bits = clear = 0
                for c in classes:
                    bits |= value << self._SHIFT[c]
                    clear |= 0o7 << self._SHIFT[c]
            else:
                bits |= x_bits if executable else 0
                clear = mask
            if op == "+":
                bits_now |= bits
            elif op == "-":
                bits_now &= ~bits
            else:
                bits_now = (bits_now & ~clear) | bits
        return bits_now

    def __repr__(self) -> str:
        return f"SymbolicMode({self.text!r})"


def _new_mode(chmod: "int | SymbolicMode | None", st_mode: int) -> int:
    """The permission bits a copied entry gets: --chmod's, or its source's."""
    if chmod is None:
        return stat.S_IMODE(st_mode)
    if isinstance(chmod, SymbolicMode):
        return chmod.apply(st_mode)
    return chmod


def destination(dest: str, workdir: str = "/") -> tuple[str, bool]:
    """(absolute clean path, is a directory) for a COPY destination under WORKDIR."""
    if not dest:
        raise CopyError("destination can not be empty")
    path = pathmatch.clean(posixpath.join("/", workdir or "/", dest))
    is_dir = dest.endswith("/") or path == "/" or posixpath.basename(dest) in (".", "..")
    return path, is_dir


class CopyPlan:
    """The sources of one COPY/ADD resolved against a root, ready to be hashed or copied."""

    def __init__(self, root: SourceRoot, sources: list[Source], dest: str, dest_is_dir: bool, *,
                 selection: Selection, unpack: bool, keep_owner: bool, instruction: str):
        self.root = root
        self.sources = sources
        self.dest = dest
        self.dest_is_dir = dest_is_dir
        self.selection = selection
        self.unpack = unpack
        self.keep_owner = keep_owner
        self.instruction = instruction

    def close(self) -> None:
        self.root.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def checksum(self) -> str:
        """The content digest for the build cache (see checksum.py)."""
        return sources_digest(self.root, self.sources, self.selection, owners=self.keep_owner)

    def materialize(self, target_root: str, *, chown: tuple[int, int] | None = None,
                    chmod: "int | SymbolicMode | None" = None) -> CopyResult:
        """Copy into `target_root` (a stage's rootfs or overlay mount). chown: numeric (uid, gid)
        already resolved by the builder; chmod: parse_chmod's value, for every file and directory."""
        owner = chown if chown is not None else (None if self.keep_owner else (0, 0))
        target = _Target(target_root, owner, chmod, self.instruction)
        try:
            for src in self.sources:
                self._one(target, src)
        except BerthError:
            raise
        except OSError as err:
            raise CopyError(f"{self.instruction} failed: {err.strerror or err}") from None
        finally:
            target.close()
        return target.result

    def _one(self, target: "_Target", src: Source) -> None:
        keep = src.keep
        if src.is_dir:
            with closing(self.root.walk(src, self.selection)) as nodes:  # its fds closed on errors too
                target.copy_tree(nodes, _join(self.dest, keep))
            return
        tar = _open_tar(self.root, src) if self.unpack else None
        if tar is not None:
            with tar:
                target.extract(tar, _join(self.dest, posixpath.dirname(keep) if keep else ""))
            return
        name = keep or posixpath.basename(src.path)
        if self.dest_is_dir or keep or target.is_dir(self.dest):
            path = _join(self.dest, name)
        else:
            path = self.dest
        with closing(self.root.walk(src, self.selection)) as nodes:
            target.copy_file(nodes, path)


def _join(base: str, rel: str) -> str:
    return pathmatch.clean(posixpath.join(base, rel)) if rel else base


def plan_copy(root: str, sources: list[str], dest: str, *, workdir: str = "/",
              ignore: IgnoreMatcher | None = None, excludes: list[str] = (), parents: bool = False,
              unpack: bool = False, keep_owner: bool = False, instruction: str = "COPY",
              label: str = "build context") -> CopyPlan:
    """Resolve COPY/ADD `sources` inside `root` (the context with its .dockerignore, or a stage's
    rootfs for --from) for `dest`. The plan holds the root open: close it (or use `with`).

    unpack: ADD's extraction of local tar archives. keep_owner: a --from copy that keeps the
    source's owners when no --chown is given (docker resets context files to 0:0 either way).
    """
    if not sources:
        raise CopyError(f"{instruction} requires at least two arguments")
    for s in sources:
        if is_remote(s):
            raise CopyError(f"{instruction} failed: {s}: remote sources are fetched by the builder")
    dest_path, dest_is_dir = destination(dest, workdir)
    if parents:
        dest_is_dir = True
    try:
        exclude_matcher = IgnoreMatcher(list(excludes)) if excludes else None
    except IgnoreFileError as err:
        raise CopyError(f"{instruction} --exclude: {err}") from None
    src_root = SourceRoot(root, ignore, label)
    try:
        resolved = _resolve_all(src_root, sources, parents, instruction, label)
        if exclude_matcher:
            # --exclude=*.txt with `COPY hom* /d/`: a source itself is left out by its name
            resolved = [s for s in resolved if not exclude_matcher.excluded(posixpath.basename(s.path))]
        check_many_sources(max(len(sources), len(resolved)), dest_is_dir, instruction)
        return CopyPlan(src_root, resolved, dest_path, dest_is_dir,
                        selection=Selection(ignore, exclude_matcher), unpack=unpack,
                        keep_owner=keep_owner, instruction=instruction)
    except BaseException:
        src_root.close()
        raise


def check_many_sources(count: int, dest_is_dir: bool, instruction: str) -> None:
    if count > 1 and not dest_is_dir:
        raise CopyError(f"When using {instruction} with more than one source file, "
                        "the destination must be a directory and end with a /")


def plan_downloads(root: str, files: list[str], dest: str, *, workdir: str = "/",
                   instruction: str = "ADD") -> CopyPlan:
    """ADD <url>: the files the builder downloaded into `root` (`files` relative to it, each named as
    it will be named under a directory destination), copied like local files but never extracted,
    and taken as named (a `[` in a URL's file name is no wildcard). Owned 0:0 unless --chown."""
    dest_path, dest_is_dir = destination(dest, workdir)
    src_root = SourceRoot(root, None, "download")
    sources = [Source(path, path, False) for path in files]
    return CopyPlan(src_root, sources, dest_path, dest_is_dir, selection=Selection(), unpack=False,
                    keep_owner=False, instruction=instruction)


def _resolve_all(root: SourceRoot, sources: list[str], parents: bool, instruction: str,
                 label: str) -> list[Source]:
    out: list[Source] = []
    for text in sources:
        pivot, path = split_pivot(text) if parents else ("", clean_source(text))
        try:
            wildcard = pathmatch.has_magic(path)
            names = root.glob(path) if wildcard else [path]  # nothing matched is no error (BuildKit)
        except pathmatch.BadPattern as err:
            raise CopyError(f"{instruction} failed: {err}") from None
        for name in names:
            src = root.lookup(name)
            if src is None and wildcard:
                continue  # matched, but left out by .dockerignore: as if it were not there
            if src is None:
                where = "in build context or excluded by .dockerignore" if label == "build context" \
                    else f"in {label}"
                raise CopyError(f"{instruction} failed: file not found {where}: {name or '.'}")
            if parents:
                keep = name
                if pivot and (name == pivot or name.startswith(pivot + "/")):
                    keep = name[len(pivot):].lstrip("/")
                src.keep = keep
            out.append(src)
    return out


# ---- ADD archives ------------------------------------------------------------------------------

def _open_tar(root: SourceRoot, src: Source):
    """The source opened at its start if it is a tar stream (plain or gzip/bzip2/xz/zstd), judged
    by content only, as docker does; else None."""
    from berth.archive.compression import open_decompressed
    from berth.archive.tarformat import looks_like_tar_header
    fd = root.open(src.real)
    if fd is None:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        f = open(os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC), "rb")
    finally:
        os.close(fd)
    try:
        reader, _ = open_decompressed(f)
        if looks_like_tar_header(reader.read(512)):
            f.seek(0)
            return f
    except (ArchiveError, OSError, EOFError, ValueError):
        pass
    f.close()
    return None


# ---- the destination side ----------------------------------------------------------------------

def make_dir(root: str, path: str, instruction: str) -> bool:
    """`mkdir -p` of the image path `path` in `root` (0755, 0:0), symlinks followed inside the root
    as COPY follows them, in one walk; whether anything was made."""
    target = _Target(root, None, None, instruction)
    try:
        fd, created = target.ensure_dir(path)
        os.close(fd)
        return created
    finally:
        target.close()


class _Target:
    """A root filesystem being written to. Paths are absolute image paths (`/a/b`)."""

    def __init__(self, path: str, owner: tuple[int, int] | None, chmod: "int | SymbolicMode | None",
                 instruction: str):
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.prefix = securefs.fd_path(self.fd).rstrip("/") + "/"
        self.owner = owner
        self.chmod = chmod
        self.instruction = instruction
        self.result = CopyResult()
        self.links: dict[tuple[int, int], tuple[str, str]] = {}
        self.buf = bytearray(CHUNK)

    def close(self) -> None:
        os.close(self.fd)

    def fail(self, message: str) -> CopyError:
        return CopyError(f"{self.instruction} failed: {message}")

    def real(self, fd: int) -> str:
        """The image path of an open fd (no symlink in it)."""
        where = securefs.fd_path(fd) + "/"
        if where == self.prefix:
            return "/"
        if not where.startswith(self.prefix):
            raise self.fail(f"{where[:-1]}: resolved outside the target root")
        return "/" + where[len(self.prefix):-1]

    # -- directories

    def is_dir(self, path: str) -> bool:
        try:
            fd = securefs.openat2(self.fd, path.lstrip("/") or ".", os.O_PATH | os.O_DIRECTORY, _RESOLVE)
        except OSError:
            return False
        os.close(fd)
        return True

    def ensure_dir(self, path: str) -> tuple[int, bool]:
        """(read fd, created) of directory `path`, made like `mkdir -p` (0755, the copy's owner) with
        symlinks followed inside the root, a dangling one to where it points."""
        parts = [p for p in path.split("/") if p]
        created = False
        for _ in range(MAX_SYMLINKS):
            fd = securefs.openat2(self.fd, ".", _DIR_OPEN, _RESOLVE)
            restart = None
            try:
                for i, part in enumerate(parts):
                    sofar = "/".join(parts[:i + 1])
                    try:
                        nfd, made, restart = self._dir_step(fd, sofar, part)
                    except NotADirectoryError:
                        raise self.fail(f"cannot copy to non-directory: /{sofar}") from None
                    except OSError as err:
                        raise self.fail(f"/{sofar}: {securefs.strerror(err)}") from None
                    if restart is not None:
                        restart = posixpath.join(restart, *parts[i + 1:])
                        break
                    created = created or made
                    os.close(fd)
                    fd = nfd
            except BaseException:
                os.close(fd)
                raise
            if restart is None:
                return fd, created
            os.close(fd)
            parts = [p for p in pathmatch.clean(restart).split("/") if p]
        raise self.fail(f"{path}: too many levels of symbolic links")

    def _dir_step(self, parent_fd: int, sofar: str, part: str) -> tuple[int, bool, str | None]:
        """Open (or make) directory `part` in parent_fd, whose image path is dirname(/sofar):
        (fd, made, None), or (-1, False, where) when `part` is a dangling symlink to `where`."""
        try:
            # from the image root each time: a symlink on the way resolves as it would in the image
            return securefs.openat2(self.fd, sofar, _DIR_OPEN, _RESOLVE), False, None
        except FileNotFoundError:
            pass
        st = securefs.lstat_at(parent_fd, part)
        if st is not None and stat.S_ISLNK(st.st_mode):
            target = os.readlink(part, dir_fd=parent_fd)
            return -1, False, posixpath.join(self.real(parent_fd), target)
        made = False
        try:
            os.mkdir(part, 0o700, dir_fd=parent_fd)
            made = True
        except FileExistsError:
            pass  # appeared meanwhile: opened below like any other
        nfd = securefs.openat2(self.fd, sofar, _DIR_OPEN, _RESOLVE)
        if made:
            try:
                self._set_owner_mode(nfd, 0o755)
            except BaseException:
                os.close(nfd)
                raise
        return nfd, made, None

    def _set_owner_mode(self, fd: int, mode: int) -> None:
        if self.owner is not None:
            os.fchown(fd, *self.owner)
        os.fchmod(fd, mode)  # after chown, which clears setuid/setgid

    def _finish(self, fd: int, st: os.stat_result) -> None:
        """Owner, mode and mtime of a copied file or directory, from its source."""
        if self.owner is not None:
            os.fchown(fd, *self.owner)
        else:
            os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, _new_mode(self.chmod, st.st_mode))
        os.utime(fd, ns=(st.st_mtime_ns, st.st_mtime_ns))

    # -- resolving a file destination

    def resolve_file(self, path: str) -> tuple[int, str, str]:
        """(parent read fd, name, shown path) for writing the file `path`; a symlink there is
        followed inside the root (docker writes where it points), a dangling one to its target."""
        for _ in range(MAX_SYMLINKS):
            parent, base = posixpath.split(path)
            pfd, _ = self.ensure_dir(parent)
            st = securefs.lstat_at(pfd, base)
            if st is not None and stat.S_ISLNK(st.st_mode):
                target = os.readlink(base, dir_fd=pfd)
                path = pathmatch.clean(posixpath.join(self.real(pfd), target))
                os.close(pfd)
                if path == "/":
                    raise self.fail("cannot overwrite directory / with non-directory")
                continue
            return pfd, base, posixpath.join(self.real(pfd), base)
        raise self.fail(f"{path}: too many levels of symbolic links")

    # -- copying

    def copy_file(self, nodes, path: str) -> None:
        """A non-directory source (its walk yields just the top node) written as `path`."""
        for node in nodes:
            pfd, name, shown = self.resolve_file(path)
            try:
                self.place(pfd, name, node, shown)
            finally:
                os.close(pfd)

    def copy_tree(self, nodes, where: str) -> None:
        """A directory source: its contents merged into directory `where`."""
        stack: list[tuple[int, bool, str]] = []  # (dir fd, apply source metadata at the end, shown)
        try:
            for node in nodes:
                if node.end:
                    # leaving a directory: its metadata now that its children are written; the
                    # destination itself only when this copy made it (an existing one keeps its own)
                    fd, apply, _ = stack.pop()
                    try:
                        if apply:
                            self._finish(fd, node.st)
                    finally:
                        os.close(fd)
                    self.result.dirs += 1
                    continue
                if node.rel == "":
                    fd, created = self.ensure_dir(where)
                    stack.append((fd, created, where))
                    continue
                parent_fd, _, shown = stack[-1]
                child_shown = posixpath.join(shown, node.name)
                made = self.place(parent_fd, node.name, node, child_shown)
                if made is not None:
                    stack.append((made, True, child_shown))
        finally:
            for fd, _, _ in stack:
                os.close(fd)

    def place(self, dfd: int, name: str, node: Node, shown: str) -> int | None:
        """Write one entry as `name` in `dfd`; a directory returns its open fd (its metadata is
        set when the walk leaves it, after its children)."""
        st = node.st
        existing = securefs.lstat_at(dfd, name)
        if stat.S_ISDIR(st.st_mode):
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                raise self.fail(f"cannot copy to non-directory: {shown}")
            if existing is None:
                os.mkdir(name, 0o700, dir_fd=dfd)
            return os.open(name, _DIR_OPEN | os.O_NOFOLLOW, dir_fd=dfd)
        if existing is not None:
            if stat.S_ISDIR(existing.st_mode):
                raise self.fail(f"cannot overwrite directory {shown} with non-directory")
            os.unlink(name, dir_fd=dfd)  # a symlink in the way is replaced, never written through
        kind = node.kind
        if kind == "file":
            self._regular(dfd, name, node)
        elif kind == "symlink":
            os.symlink(node.readlink(), name, dir_fd=dfd)
            uid, gid = self.owner if self.owner is not None else (st.st_uid, st.st_gid)
            os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)
            os.utime(name, ns=(st.st_mtime_ns, st.st_mtime_ns), dir_fd=dfd, follow_symlinks=False)
        elif kind in ("char", "block", "fifo"):
            os.mknod(name, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dir_fd=dfd)
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            try:
                proc = f"/proc/self/fd/{fd}"
                uid, gid = self.owner if self.owner is not None else (st.st_uid, st.st_gid)
                os.chown(proc, uid, gid)
                os.chmod(proc, _new_mode(self.chmod, st.st_mode))
                os.utime(proc, ns=(st.st_mtime_ns, st.st_mtime_ns))
            finally:
                os.close(fd)
        else:
            return None  # sockets are not copied (docker skips them too)
        self.result.files += 1
        return None

    def _regular(self, dfd: int, name: str, node: Node) -> None:
        st = node.st
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links and self._link(key, dfd, name):
            return
        src = node.open_file()
        try:
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o600, dir_fd=dfd)
            try:
                self.result.size += self._copy_data(src, out)
                self._finish(out, st)
            finally:
                os.close(out)
        finally:
            os.close(src)
        if st.st_nlink > 1:
            self.links[key] = (self.real(dfd), name)

    def _link(self, key, dfd: int, name: str) -> bool:
        """Hardlinks within one copy stay hardlinks."""
        parent, first = self.links[key]
        try:
            pfd = securefs.open_no_symlinks(self.fd, parent.lstrip("/"), os.O_PATH | os.O_DIRECTORY)
        except OSError:
            return False
        try:
            os.link(first, name, src_dir_fd=pfd, dst_dir_fd=dfd, follow_symlinks=False)
        except OSError:
            return False
        finally:
            os.close(pfd)
        self.result.files += 1
        return True

    def _copy_data(self, src: int, out: int) -> int:
        total = 0
        try:
            while True:
                n = os.copy_file_range(src, out, CHUNK)
                if n == 0:
                    return total
                total += n
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF):
                raise
        view = memoryview(self.buf)  # fallback: plain reads and writes, one CHUNK at a time
        while True:
            n = os.readv(src, [view])
            if n == 0:
                return total
            done = 0
            while done < n:
                done += os.write(out, view[done:n])
            total += n

    # -- ADD archives

    def extract(self, tar, where: str) -> None:
        """A local tar archive unpacked into directory `where`, by the archive module (which keeps
        every entry inside that directory). Owners and modes come from the archive, and docker makes
        the directories it unpacks into as 0:0 even with --chown (which is for copied files)."""
        owner, self.owner = self.owner, (0, 0)
        try:
            dfd, _ = self.ensure_dir(where)
        finally:
            self.owner = owner
        try:
            result = archive.extract(tar, f"/proc/self/fd/{dfd}", whiteouts="none")
            self.result.files += result.entries
            self.result.size += result.size
        finally:
            os.close(dfd)
