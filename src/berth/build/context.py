"""The build context: the Dockerfile's text, and the files COPY/ADD may read with .dockerignore applied.

Three sources, as `docker build` has:
- a directory (`berth build DIR`): read in place; nothing is copied up front. Lookups resolve
  inside it (symlinks cannot point out of it), symlinks are kept as symlinks, and what
  .dockerignore excludes is invisible to COPY;
- a tar stream (`berth build - < ctx.tar[.gz|.bz2|.xz|.zst]`): extracted by the archive module
  (which refuses every entry that would land outside) into a staging directory under the store's
  tmp/, removed by close();
- a plain Dockerfile on stdin (`berth build - < Dockerfile`): no context at all.

The Dockerfile is read even when .dockerignore names it (and so is the ignore file); like docker,
COPY then does not see an ignored Dockerfile or .dockerignore. The ignore rules come from
`<Dockerfile>.dockerignore` beside the Dockerfile when it exists, else from `.dockerignore` at the
context root.
"""
from __future__ import annotations

import os

from berth.archive import securefs
from berth.build.ignore import IgnoreMatcher, parse_ignore_file
from berth.build.sources import SourceRoot
from berth.errors import ContextError

DEFAULT_DOCKERFILE = "Dockerfile"
MAX_DOCKERFILE = 16 << 20  # a Dockerfile is text; refuse to buffer more than this


class BuildContext:
    """What the builder reads. `root` is None when there is no context (Dockerfile from stdin)."""

    def __init__(self, root: str | None, dockerfile: bytes, dockerfile_name: str,
                 ignore: IgnoreMatcher, staging=None):
        self.root = root
        self.dockerfile = dockerfile            # the Dockerfile's bytes
        self.dockerfile_name = dockerfile_name  # for messages: as the user named it
        self.ignore = ignore
        self._staging = staging

    # -- loading

    @classmethod
    def from_directory(cls, path: str, dockerfile: str | None = None,
                       dockerfile_data: bytes | None = None) -> "BuildContext":
        """`berth build PATH [-f FILE]`: FILE is a host path (relative to the current directory, as
        docker's -f), default PATH/Dockerfile (or PATH/dockerfile). dockerfile_data: `-f -`."""
        if not os.path.isdir(path):
            raise ContextError(f'unable to prepare context: path "{path}" not found')
        root = os.path.abspath(path)
        df_path = None
        if dockerfile_data is None:
            df_path = _host_dockerfile(root, dockerfile)
            data = _read_host_file(df_path, dockerfile or DEFAULT_DOCKERFILE)
        else:
            data = dockerfile_data
        ignore = _ignore_rules(root, df_path, host_side=True)
        return cls(root, data, dockerfile or DEFAULT_DOCKERFILE, ignore)

    @classmethod
    def from_stream(cls, stream, tmp_dir: str, dockerfile: str | None = None) -> "BuildContext":
        """`berth build -`: a tar (possibly compressed) is the context, its Dockerfile at `dockerfile`
        inside it; anything else is the Dockerfile itself, with no context."""
        head = _read_head(stream, 512)
        if not _looks_like_archive(head):
            return cls(None, read_dockerfile(stream, head), "-", IgnoreMatcher())
        from berth import archive
        from berth.archive.compression import Prefixed
        from berth.store.fsutil import Staging
        staging = Staging(tmp_dir, "context-")
        try:
            archive.extract(Prefixed(head, stream), staging.path, whiteouts="none",
                            xattrs=False, same_owner=False)
            name = dockerfile or DEFAULT_DOCKERFILE
            data = _read_in_root(staging.path, name)
            if data is None and dockerfile is None:
                data = _read_in_root(staging.path, "dockerfile")
            if data is None:
                raise ContextError(f"Cannot locate specified Dockerfile: {name}")
            ignore = _ignore_rules(staging.path, name, host_side=False)
            return cls(staging.path, data, name, ignore, staging)
        except BaseException:
            staging.cleanup()
            raise

    # -- use

    def source_root(self) -> SourceRoot:
        """The context as a SourceRoot for copying.plan_copy / lookups (close it after use)."""
        if self.root is None:
            raise ContextError("COPY failed: no build context (the Dockerfile came from stdin); "
                               "use COPY --from")
        return SourceRoot(self.root, self.ignore)

    def plan(self, sources: list[str], dest: str, **options):
        """copying.plan_copy against this context (its .dockerignore applied); close the plan."""
        from berth.build.copying import plan_copy
        if self.root is None:
            raise ContextError("COPY failed: no build context (the Dockerfile came from stdin); "
                               "use COPY --from")
        return plan_copy(self.root, sources, dest, ignore=self.ignore, **options)

    def close(self) -> None:
        if self._staging is not None:
            self._staging.cleanup()
            self._staging = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_dockerfile(stream, head: bytes = b"") -> bytes:
    """A Dockerfile from a stream (`-f -`, `build -`), refused beyond MAX_DOCKERFILE."""
    data = head + stream.read(MAX_DOCKERFILE + 1 - len(head))
    if len(data) > MAX_DOCKERFILE:
        raise ContextError("the Dockerfile read from stdin is larger than 16 MiB")
    return data


# ---- helpers -----------------------------------------------------------------------------------

def _host_dockerfile(root: str, dockerfile: str | None) -> str:
    if dockerfile:
        path = os.path.abspath(dockerfile)
        if not os.path.isfile(path):
            raise ContextError(f"Cannot locate specified Dockerfile: {dockerfile}")
        return path
    for name in (DEFAULT_DOCKERFILE, DEFAULT_DOCKERFILE.lower()):
        path = os.path.join(root, name)
        if os.path.isfile(path):
            return path
    raise ContextError(f"Cannot locate specified Dockerfile: {DEFAULT_DOCKERFILE}")


def _read_host_file(path: str, shown: str) -> bytes:
    """The user's own file, named on the command line: read as given, bounded in size."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_DOCKERFILE + 1)
    except OSError as err:
        raise ContextError(f"cannot read {shown}: {err.strerror}") from None
    if len(data) > MAX_DOCKERFILE:
        raise ContextError(f"{shown} is larger than 16 MiB")
    return data


def _read_in_root(root: str, path: str) -> bytes | None:
    try:
        data = securefs.read_in_root(root, path, MAX_DOCKERFILE + 1)
    except OSError as err:
        raise ContextError(f"cannot read {path} in the build context: {err.strerror}") from None
    if data is not None and len(data) > MAX_DOCKERFILE:
        raise ContextError(f"{path} is larger than 16 MiB")
    return data


def _ignore_rules(root: str, dockerfile: str | None, host_side: bool) -> IgnoreMatcher:
    """`<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's `.dockerignore`."""
    data = None
    if dockerfile:
        if host_side:
            candidate = dockerfile + ".dockerignore"
            if os.path.isfile(candidate):
                data = _read_host_file(candidate, os.path.basename(candidate))
        else:
            data = _read_in_root(root, dockerfile + ".dockerignore")
    if data is None:
        data = _read_in_root(root, ".dockerignore")
    return IgnoreMatcher(parse_ignore_file(data)) if data else IgnoreMatcher()


def _read_head(stream, n: int) -> bytes:
    head = b""
    while len(head) < n:  # a pipe may hand out fewer bytes than asked for
        more = stream.read(n - len(head))
        if not more:
            break
        head += more
    return head


def _looks_like_archive(head: bytes) -> bool:
    """docker's DetectArchiveReader: compressed, or a tar header."""
    from berth.archive.compression import detect_compression
    if detect_compression(head):
        return True
    from berth.archive.tarformat import looks_like_tar_header
    return looks_like_tar_header(head)
