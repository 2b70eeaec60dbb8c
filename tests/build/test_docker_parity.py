"""`berth build` against docker's classic builder (`DOCKER_BUILDKIT=0 docker build`) on the corpus.

Each corpus Dockerfile is built by both from the same context (tests/build/dockerfiles, as its README
says) and the same base image (berth's bootstrapped busybox, loaded into docker under the same name).
Both images are saved and flattened the same way (layers applied in order, whiteouts honoured), then
compared: paths, types, mode bits, owners, content hashes, symlink targets, device numbers, and the
config fields docker runs a container from. Images are compared rather than `docker export`ed
containers so that the stubs docker's init layer adds (/etc/hosts, /.dockerenv, /dev, /proc, ...)
need no special casing: they are not part of either image.

Skipped when no docker engine answers `docker info`.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers import Berth

pytestmark = [pytest.mark.peers, pytest.mark.slow]

CORPUS = Path(__file__).parent / "dockerfiles"
CONTEXT = CORPUS  # the corpus README: this directory is the context, context/ holds what COPY/ADD use

# What docker's classic builder (dockerd 20.10) rejects: BuildKit-only syntax, or syntax newer than
# 20.10's parser. berth accepts these on purpose (it follows the current Dockerfile reference), so
# there is nothing to compare them with here; tests/build/test_dockerfile.py covers their parsing.
_BUILDKIT = "BuildKit-only syntax, the classic builder rejects it"
SKIP = {
    "02-from-platform-as.Dockerfile": "$BUILDPLATFORM is BuildKit's: the classic builder leaves it empty",
    "07-run-mount-cache.Dockerfile": f"RUN --mount: {_BUILDKIT}",
    "08-run-mount-bind-from.Dockerfile": f"RUN --mount: {_BUILDKIT}",
    "09-run-mount-tmpfs-secret-ssh.Dockerfile": f"RUN --mount (tmpfs, secret, ssh): {_BUILDKIT}",
    "10-run-network-security.Dockerfile": f"RUN --network/--security: {_BUILDKIT}",
    "11-run-heredoc.Dockerfile": f"heredocs: {_BUILDKIT}",
    "12-run-heredoc-chomp.Dockerfile": f"heredocs: {_BUILDKIT}",
    "13-run-heredoc-stdin.Dockerfile": f"heredocs: {_BUILDKIT}",
    "14-run-heredoc-shebang.Dockerfile": f"heredocs: {_BUILDKIT}",
    "15-run-heredoc-multi.Dockerfile": f"heredocs: {_BUILDKIT}",
    "16-copy-heredoc.Dockerfile": f"heredocs: {_BUILDKIT}",
    "17-copy-heredoc-multi.Dockerfile": f"heredocs: {_BUILDKIT}",
    "18-copy-flags.Dockerfile": f"COPY --link/--chmod: {_BUILDKIT}",
    "20-copy-exclude-parents.Dockerfile": f"COPY --exclude/--parents: {_BUILDKIT}",
    "22-add-flags.Dockerfile": f"ADD --link/--checksum/git sources: {_BUILDKIT}; also needs the network",
    "34-onbuild.Dockerfile": f"ONBUILD RUN with a heredoc: {_BUILDKIT}",
    "36-healthcheck.Dockerfile": "HEALTHCHECK --start-interval is newer than dockerd 20.10",
    "40-directives.Dockerfile": "the `check` directive is newer than dockerd 20.10's parser (which then "
                                "stops reading directives and ignores `escape`)",
    "43-multistage-target.Dockerfile": f"RUN --mount: {_BUILDKIT}",
    "44-variable-forms.Dockerfile": "${VAR-default} (no colon) is newer than dockerd 20.10",
    "47-proxy-and-platform-args.Dockerfile": "$TARGETPLATFORM is BuildKit's: the classic builder leaves it empty",
    "48-copy-heredoc-chmod.Dockerfile": f"heredocs and COPY --chmod: {_BUILDKIT}",
    "x-add-url-buildkit-flags": f"ADD --checksum/--link and symbolic --chmod: {_BUILDKIT} (test_builder.py "
                                "covers them)",
}
# Files whose build must fail with both, for the same reason.
BOTH_FAIL = {
    "05-run-forms.Dockerfile": "`RUN [echo, not json]` is shell form: /bin/sh reports `[echo,: not found`",
    "x-add-url-404": "the server answers 404",
    "x-add-url-no-name": "a URL path ending in / without Content-Disposition gives no file name for a dir/",
}

# Corpus files rewritten (by exact text replacement) so that the classic builder accepts them, to compare
# what the BuildKit-only parts were hiding: each rewrite only drops or replaces the rejected syntax.
VARIANTS = {
    "18-copy-flags.Dockerfile": [("--chmod=640 --link ", ""), ("--link=false ", "")],
    "22-add-flags.Dockerfile": [("--chmod=600 --link ", ""), ("ADD --keep-git-dir", "#"), ("ADD --checksum", "#"),
                                ("ADD --exclude=*.tmp", "ADD")],
    "34-onbuild.Dockerfile": [("onbuild run <<EOF\necho heredoc trigger\nEOF\n", "")],
    "36-healthcheck.Dockerfile": [("--start-interval=500ms ", "")],
    "43-multistage-target.Dockerfile": [("RUN --mount=type=bind,from=unrelated,target=/u true", "RUN true")],
    "44-variable-forms.Dockerfile": [(" D=${EMPTY-default}", ""), (" G=${EMPTY+alt}", "")],
}

# Behaviours the corpus does not reach (ownership, CMD/ENTRYPOINT interplay, ADD extraction, ...).
# They use the same context; EXTRA_FILES adds to it what they need (made by the fixture).
EXTRA = {
    "x-workdir-user": """\
FROM busybox
USER nobody
WORKDIR /made/by/nobody
RUN touch /tmp/mine && mkdir -p /tmp/sub/deeper
WORKDIR sub
COPY context/hello.txt ./
COPY --chown=nobody:nogroup context/hello.txt /owned/
COPY --chown=1234 context/dir /numeric
COPY --chown=nobody:root context/ /named/
USER 1000:1000
WORKDIR /by-uid
USER 4242
RUN touch /tmp/by-4242 && echo "$HOME" > /tmp/home-4242
USER nobody:0
RUN touch /tmp/by-nobody-0
""",
    "x-workdir-existing": """\
FROM busybox
RUN ln -s /tmp /lnk && mkdir -m 700 /private && chown 5:6 /private
WORKDIR /lnk/sub
WORKDIR /private
WORKDIR /private/../made
COPY --chown=7:8 context/hello.txt /private/
COPY --chown=7:8 context/hello.txt /lnk/sub/
WORKDIR /trailing/
WORKDIR ./in/
""",
    "x-entrypoint-cmd": """\
FROM busybox AS inherits
ENTRYPOINT ["/bin/echo"]
FROM busybox AS keeps
CMD ["kept"]
ENTRYPOINT ["/bin/echo", "-n"]
FROM keeps
ENTRYPOINT /bin/echo shell $HOME
""",
    "x-cmd-after-entrypoint": """\
FROM busybox
ENTRYPOINT ["top"]
CMD -b
CMD ["-b", "-n1"]
""",
    "x-metadata": """\
FROM busybox
ENV A=1 PATH=/opt:$PATH
ENV A=2 Z=last
EXPOSE 8000-8002/tcp 53/udp 80/TCP 80
VOLUME /data/ /logs
VOLUME ["/data"]
LABEL a=1 b=2
LABEL a=3 "c d"="e f"
STOPSIGNAL 9
HEALTHCHECK CMD false
HEALTHCHECK --interval=5s --timeout=1s --start-period=2m --retries=2 CMD ["CMD-SHELL", "true"]
USER 0
SHELL ["/bin/sh", "-xc"]
CMD echo $A
""",
    "x-copy-shapes": """\
FROM busybox
COPY context/dir /d
COPY context/ /ctx/
COPY context/*.txt /glob/
COPY context/hello.txt /renamed
COPY context/dir/a.txt context/hello.txt /two/
WORKDIR /w
COPY context/hello.txt rel/
COPY extra/ /extra/
COPY extra/link /followed
COPY extra/empty /empty-copy
COPY extra/run.sh extra/link /loose/
RUN ln -s /target-dir /link && mkdir /target-dir
COPY context/hello.txt /link/
""",
    "x-add-archives": """\
FROM busybox
ADD extra/tree.tar /untarred/
ADD extra/tree.tar.gz /untarred-gz
ADD extra/plain.gz /plain/
ADD --chown=5:6 extra/tree.tar /owned-tar/
RUN rm /untarred/top/a && rm -r /untarred-gz/top/sub
""",
    "x-base-without-path": """\
FROM parity-nopath
ENV GREETING=hi
ARG TOOL=sh
RUN echo "$PATH" > /path.txt && command -v $TOOL > /tool.txt && echo "$GREETING" > /greeting
CMD ["sh", "-c", "echo $PATH"]
""",
    "x-scratch": """\
FROM busybox AS src
RUN mkdir -p /out/dir && echo x > /out/dir/f && chmod 4755 /out/dir/f && ln -s dir/f /out/link \
 && chown -R 5:6 /out/dir && mkdir -m 700 /out/private
FROM scratch
COPY --from=src /out /
COPY --from=src /out/link /out/dir/ /two/
COPY --from=src /bin/busybox /bin/
WORKDIR /made
""",
}

NOTES = b"notes\n"


def _tgz(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo(name)
        info.size, info.mtime = len(data), 1_700_000_000
        tf.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


# ADD <url> from a server the test runs on 127.0.0.1 (dockerd, on the host, reaches it too); @SERVER@ is
# its address. SERVED: path (with query) -> (headers, body).
EXTRA.update({
    "x-add-url": """\
FROM busybox
ADD @SERVER@/parity/app.tar.gz /dl/
ADD @SERVER@/parity/notes.txt?v=1 /named.txt
ADD --chown=1:2 @SERVER@/parity/notes.txt @SERVER@/parity/app.tar.gz /owned/
ADD @SERVER@/parity/listing/ /disposition/
ADD @SERVER@/parity/listing/ /as-file
WORKDIR /w
ADD @SERVER@/parity/notes.txt rel/
RUN mkdir /exists
ADD @SERVER@/parity/notes.txt /exists
ADD @SERVER@/parity/redirect /redirected/
ADD @SERVER@/parity/notes.txt context/hello.txt /mixed/
""",
    "x-add-url-404": "FROM busybox\nADD @SERVER@/parity/missing.txt /x\n",
    "x-add-url-no-name": "FROM busybox\nADD @SERVER@/parity/bare/ /d/\n",
    "x-add-url-buildkit-flags": ("FROM busybox\nADD --link --chmod=u+x @SERVER@/parity/notes.txt /linked/\n"
                                 "ADD --checksum=sha256:" + hashlib.sha256(NOTES).hexdigest()
                                 + " @SERVER@/parity/notes.txt /pinned.txt\n"),
})
SERVED = {
    "/parity/app.tar.gz": ({"Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"},
                           _tgz("never-extracted.txt", b"a download stays an archive\n")),
    "/parity/notes.txt?v=1": ({}, b"notes, with a query\n"),
    "/parity/notes.txt": ({"Last-Modified": "Sun, 06 Nov 1994 08:49:37 GMT"}, NOTES),
    "/parity/listing/": ({"Content-Disposition": 'attachment; filename="list.txt"'}, b"a listing\n"),
    "/parity/bare/": ({}, b"nameless\n"),
    "/parity/target.txt": ({}, b"redirected\n"),
}
# Paths whose mtime is compared too (it comes from Last-Modified, else the epoch, in both builders).
MTIMES = {"x-add-url": ("/dl/app.tar.gz", "/named.txt", "/owned/notes.txt", "/owned/app.tar.gz",
                        "/disposition/list.txt", "/as-file", "/w/rel/notes.txt", "/exists/notes.txt",
                        "/redirected/redirect", "/mixed/notes.txt")}

# Known, intentional differences: {case: {config field: why}}; those fields are compared only as said.
KNOWN = {
    # The classic builder commits each step through the daemon's config merge, which fills a new
    # HEALTHCHECK's unset options from the previous one; the Dockerfile reference (and BuildKit) say
    # only the last HEALTHCHECK takes effect, as berth does. Only the test command is compared.
    "36-healthcheck.Dockerfile": {"Healthcheck": "Test"},
}

# Known, intentional differences in files: {case: {path: why}}; the mode bits of those paths are not
# compared. berth's COPY follows BuildKit where the two docker builders differ (build/copying.py):
_TOP_DIR = ("a directory COPY makes its missing destination with the source directory's mode (BuildKit, "
            "test_copying.py); the classic builder makes it 0755")
_SETUID = ("berth keeps setuid/setgid bits of copied files (BuildKit); the classic builder chowns every copied "
           "file after writing it, which makes the kernel drop them")
KNOWN_FILES = {
    "x-copy-shapes": {"/empty-copy": _TOP_DIR, "/extra/run.sh": _SETUID, "/loose/run.sh": _SETUID},
}

CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
                 "StopSignal", "Healthcheck", "OnBuild")


def _docker(*args, check=True, env=None):
    proc = subprocess.run(["docker", *map(str, args)], capture_output=True,
                          env={**os.environ, **(env or {})}, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}")
    return proc


def _docker_images() -> set[str]:
    return set(_docker("images", "-aq", "--no-trunc").stdout.decode().split())


class Engines:
    def __init__(self, berth: Berth, workdir: Path, extra_context: Path, server: str = ""):
        self.berth, self.workdir, self.extra_context = berth, workdir, extra_context
        self.server = server  # http://127.0.0.1:PORT serving SERVED


def _extra_context(root: Path) -> Path:
    """The corpus context plus extra/: tars (with owners and modes of their own) and a gzip that is no tar."""
    shutil.copytree(CORPUS / "context", root / "context")
    extra = root / "extra"
    extra.mkdir()
    (extra / "note.txt").write_text("extra\n")
    (extra / "run.sh").write_text("#!/bin/sh\n")
    (extra / "run.sh").chmod(0o4750)
    (extra / "empty").mkdir(mode=0o700)
    (extra / "empty").chmod(0o700)
    os.symlink("note.txt", extra / "link")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, mode, uid in (("top", tarfile.DIRTYPE, 0o750, 7), ("top/a", tarfile.REGTYPE, 0o600, 8),
                                      ("top/sub", tarfile.DIRTYPE, 0o755, 0), ("top/sub/b", tarfile.REGTYPE, 0o4755, 9),
                                      ("top/l", tarfile.SYMTYPE, 0o777, 0)):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, uid + 100, 1_700_000_000
            data = f"{name}\n".encode() if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            if kind == tarfile.SYMTYPE:
                info.linkname = "sub/b"
            tf.addfile(info, io.BytesIO(data))
    (extra / "tree.tar").write_bytes(buf.getvalue())
    (extra / "tree.tar.gz").write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    (extra / "plain.gz").write_bytes(gzip.compress(b"not a tar\n", mtime=0))
    return root


@pytest.fixture(scope="module")
def engines(tmp_path_factory, http_server):
    """A berth store with busybox, and the same busybox (same image ID) loaded into docker."""
    try:
        if _docker("info", check=False).returncode != 0:
            pytest.skip("no docker engine (`docker info` fails)")
    except FileNotFoundError:
        pytest.skip("no docker client installed")
    work = tmp_path_factory.mktemp("parity")
    berth = Berth(work / "store")
    berth.run("image", "bootstrap", "busybox")
    archive = berth.run("save", "busybox:latest").stdout
    before = _docker_images()
    proc = subprocess.run(["docker", "load"], input=archive, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    # a base without PATH in its config: the same rootfs imported into both (docker's and berth's
    # import leave Env out), for x-base-without-path
    berth.run("create", "--name", "rootfs", "busybox")
    rootfs = work / "rootfs.tar"
    berth.run("export", "-o", rootfs, "rootfs")
    berth.run("import", rootfs, "parity-nopath:latest")
    _docker("import", rootfs, "parity-nopath:latest")
    for path, (headers, body) in SERVED.items():
        http_server.add(path, body, **{name.replace("-", "_"): value for name, value in headers.items()})
    http_server.add("/parity/redirect", b"", status=302, Location=http_server.url("/parity/target.txt"))
    yield Engines(berth, work, _extra_context(work / "extra-context"), http_server.url(""))
    # every image the builds left (final and intermediate), never one that was there before
    for image in sorted(_docker_images() - before):
        _docker("rmi", "-f", image, check=False)


# ---- flattening ------------------------------------------------------------------------------

def _flatten(archive: bytes) -> dict:
    """A docker-archive's first image as {path: entry}, its layers applied in order with whiteouts."""
    outer = tarfile.open(fileobj=io.BytesIO(archive))
    manifest = json.load(outer.extractfile("manifest.json"))[0]
    config = json.load(outer.extractfile(manifest["Config"]))
    tree: dict[str, tuple] = {}
    mtimes: dict[str, int] = {}
    for name in manifest["Layers"]:
        layer = tarfile.open(fileobj=outer.extractfile(name))
        links = {}
        for member in layer:
            path = "/" + os.path.normpath(member.name).lstrip("./").lstrip("/")
            path = "/" if path in ("/", "/.") else path
            parent, base = os.path.split(path)
            if base == ".wh..wh..opq":
                for p in [p for p in tree if p.startswith(parent.rstrip("/") + "/")]:
                    del tree[p]
                continue
            if base.startswith(".wh."):
                gone = os.path.join(parent, base[4:])
                for p in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                    del tree[p]
                continue
            if path in tree and tree[path][0] == "dir" and not member.isdir():
                for p in [p for p in tree if p.startswith(path + "/")]:
                    del tree[p]
            owner = (member.uid, member.gid, member.mode & 0o7777)
            if member.isdir():
                entry = ("dir", *owner)
            elif member.issym():
                entry = ("symlink", member.uid, member.gid, member.linkname)
            elif member.islnk():
                # a hard link: compared as the file it shares content with
                target = "/" + os.path.normpath(member.linkname).lstrip("./").lstrip("/")
                entry = links.get(target) or tree.get(target)
            elif member.isreg():
                entry = ("file", *owner, hashlib.sha256(layer.extractfile(member).read()).hexdigest())
            elif member.ischr() or member.isblk():
                entry = ("chr" if member.ischr() else "blk", *owner, member.devmajor, member.devminor)
            elif member.isfifo():
                entry = ("fifo", *owner)
            else:
                entry = ("other", member.type, *owner)
            tree[path] = entry
            links[path] = entry
            mtimes[path] = int(member.mtime)
    tree.pop("/", None)  # the root's own entry: present in some layers, absent in others
    return {"files": tree, "mtimes": mtimes, "config": config.get("config") or {}, "author": config.get("author", "")}


def _normalize(cfg: dict, author: str) -> dict:
    out = {}
    for field in CONFIG_FIELDS:
        value = cfg.get(field)
        # null, missing and empty all mean "not set" when a container is made from the image
        out[field] = value if value not in (None, [], {}, "") else None
    # MAINTAINER: docker puts it in the image's top-level author
    out["author"] = author or None
    return out


# ---- building --------------------------------------------------------------------------------

def _berth_build(berth: Berth, path: Path, context: Path):
    proc = berth.run("build", "-q", "-f", path, context, check=False)
    return proc, (proc.stdout.decode().strip().splitlines() or [""])[-1]


def _docker_build(path: Path, context: Path):
    # the host network: docker's RUN steps then need no docker0 bridge, which this shared machine's
    # dockerd has been seen to lose (no corpus step depends on the network it runs in)
    proc = _docker("build", "-q", "--rm", "--force-rm", "--network", "host", "-f", path, context,
                   env={"DOCKER_BUILDKIT": "0"}, check=False)
    return proc, (proc.stdout.decode().strip().splitlines() or [""])[-1]


def _berth_image(berth: Berth, image: str) -> dict:
    return _flatten(berth.run("save", image).stdout)


def _docker_image(image: str) -> dict:
    return _flatten(_docker("save", image).stdout)


def _diff_files(ours: dict, theirs: dict) -> list[str]:
    problems = []
    for path in sorted(set(ours) | set(theirs)):
        a, b = ours.get(path), theirs.get(path)
        if a != b:
            problems.append(f"{path}: berth {a} != docker {b}")
    return problems


CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.Dockerfile"))


def _case(engines: Engines, name: str) -> tuple[Path, Path]:
    """The Dockerfile and context to build for one case."""
    if name in EXTRA:
        path = engines.workdir / f"{name}.Dockerfile"
        path.write_text(EXTRA[name].replace("@SERVER@", engines.server))
        return path, engines.extra_context
    if name in VARIANTS:
        text = (CORPUS / name).read_text()
        for old, new in VARIANTS[name]:
            assert old in text, f"{name}: the rewrite {old!r} no longer applies"
            text = text.replace(old, new)
        path = engines.workdir / name
        path.write_text(text)
        return path, CONTEXT
    return CORPUS / name, CONTEXT


@pytest.mark.parametrize("name", CORPUS_FILES + sorted(EXTRA))
def test_berth_build_matches_docker_classic_builder(engines, name):
    if name in SKIP and name not in VARIANTS:
        pytest.skip(SKIP[name])
    path, context = _case(engines, name)
    d_proc, d_id = _docker_build(path, context)
    b_proc, b_id = _berth_build(engines.berth, path, context)
    if name in BOTH_FAIL:
        assert d_proc.returncode != 0, f"docker built {name}: {BOTH_FAIL[name]}"
        assert b_proc.returncode != 0, f"berth built {name}: {BOTH_FAIL[name]}"
        return
    assert d_proc.returncode == 0, d_proc.stderr.decode(errors="replace")
    assert b_proc.returncode == 0, b_proc.stderr.decode(errors="replace")
    ours, theirs = _berth_image(engines.berth, b_id), _docker_image(d_id)
    for path in KNOWN_FILES.get(name, {}):
        for files in (ours["files"], theirs["files"]):
            if path in files and files[path][0] in ("dir", "file"):
                files[path] = files[path][:3] + files[path][4:]  # (type, uid, gid, [hash]): no mode
    problems = _diff_files(ours["files"], theirs["files"])
    problems += [f"{path}: mtime berth {ours['mtimes'].get(path)} != docker {theirs['mtimes'].get(path)}"
                 for path in MTIMES.get(name, ()) if ours["mtimes"].get(path) != theirs["mtimes"].get(path)]
    a, b = _normalize(ours["config"], ours["author"]), _normalize(theirs["config"], theirs["author"])
    for field, key in KNOWN.get(name, {}).items():
        a[field], b[field] = (a[field] or {}).get(key), (b[field] or {}).get(key)
    problems += [f"config {k}: berth {a[k]!r} != docker {b[k]!r}" for k in a if a[k] != b[k]]
    assert not problems, "\n".join(problems)
