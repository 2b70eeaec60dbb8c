"""`berth build` end to end, on the bootstrapped busybox: stages, cache, explanations, errors."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import tarfile

import pytest

from helpers import snapshot

MULTI = """\
FROM busybox AS base
ARG GREETING=hello
ENV APP=/app
WORKDIR $APP
COPY hello.txt ./
RUN echo "$GREETING from build" > built.txt && rm -f /bin/ls
LABEL stage=base

FROM busybox AS other
RUN echo never > /never

FROM busybox
COPY --from=base /app /app
USER nobody
EXPOSE 8080
VOLUME /data
STOPSIGNAL SIGINT
ENTRYPOINT ["cat"]
CMD ["/app/built.txt"]
"""


def write(ctx, files: dict):
    for name, text in files.items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return ctx


def build(berth, ctx, *args, check=True):
    return berth.run("build", *args, ctx, check=check)


def image_id(proc) -> str:
    return proc.stdout.decode().strip().splitlines()[-1]


def test_multi_stage_build_runs_and_keeps_only_what_the_target_needs(busybox, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": MULTI, "hello.txt": "hi\n"})
    proc = build(busybox, ctx, "-t", "built:1", "--build-arg", "GREETING=bonjour")
    assert b"RUN echo never" not in proc.stderr  # stage `other` is not needed
    assert busybox.out("run", "--rm", "built:1") == "bonjour from build\n"
    cfg = busybox.json("image", "inspect", "built:1")[0]["Config"]
    assert cfg["User"] == "nobody" and cfg["Entrypoint"] == ["cat"] and cfg["Cmd"] == ["/app/built.txt"]
    assert "8080/tcp" in cfg["ExposedPorts"] and "/data" in cfg["Volumes"] and cfg["StopSignal"] == "SIGINT"
    assert busybox.out("run", "--rm", "--entrypoint", "ls", "built:1", "/bin/ls") == "/bin/ls\n"  # final stage
    base = build(busybox, ctx, "--target", "base", "-t", "built:base")
    assert busybox.run("run", "--rm", "built:base", "ls", "/bin/ls", check=False).returncode != 0
    assert busybox.json("image", "inspect", "built:base")[0]["Config"]["WorkingDir"] == "/app"
    assert image_id(base).startswith("sha256:")


def test_cache_hits_give_the_same_image_and_misses_are_explained(busybox, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": MULTI, "hello.txt": "hi\n"})
    first = image_id(build(busybox, ctx))
    again = build(busybox, ctx, "--explain")
    assert image_id(again) == first and b"cache miss" not in again.stderr
    (ctx / "hello.txt").touch()  # mtime only: still cached
    assert image_id(build(busybox, ctx)) == first
    (ctx / "hello.txt").write_text("changed\n")
    changed = build(busybox, ctx, "--explain")
    assert image_id(changed) != first
    assert b"cache miss: the content of the copied files changed" in changed.stderr
    env = build(busybox, ctx, "--explain", "--build-arg", "GREETING=hey")
    assert b"environment changed (GREETING)" in env.stderr


def test_reproducible_with_source_date_epoch(busybox, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": MULTI, "hello.txt": "hi\n"})
    one = image_id(build(busybox, ctx, "--no-cache", "--source-date-epoch", "1700000000"))
    two = image_id(build(busybox, ctx, "--no-cache", "--source-date-epoch", "1700000000"))
    assert one == two
    assert busybox.json("image", "inspect", one)[0]["Created"].startswith("2023-11-14T22:13:20")


@pytest.mark.parametrize("dockerfile, files, message", [
    ("FROM busybox\nRUN echo out; exit 3\n", {}, b"Dockerfile:2: RUN 'echo out; exit 3' failed with exit code 3"),
    ("FROM busybox\nCOPY missing.txt /\n", {}, b"missing.txt"),
    ("FROM busybox\nFROBNICATE x\n", {}, b"Dockerfile:2"),
    ("FROM busybox\nRUN <<EOF\necho never ends\n", {}, b"Dockerfile:2"),
    ("FROM busybox\nCOPY --from=nowhere /x /x\n", {}, b"nowhere"),
])
def test_failures_are_clear_and_tag_nothing(busybox, tmp_path, dockerfile, files, message):
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile, **files})
    before = busybox.out("images", "--format", "{{.Repository}}:{{.Tag}}")
    proc = build(busybox, ctx, "-t", "broken:1", check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert busybox.out("images", "--format", "{{.Repository}}:{{.Tag}}") == before


def test_a_failing_run_shows_its_output(busybox, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo the-reason >&2; exit 5\n"})
    proc = build(busybox, ctx, check=False)
    assert b"the-reason" in proc.stderr and b"exit code 5" in proc.stderr


def test_dockerignore_and_onbuild_triggers(busybox, tmp_path):
    parent = write(tmp_path / "parent", {"Dockerfile": "FROM busybox\nONBUILD COPY app.txt /app.txt\n"})
    build(busybox, parent, "-t", "parent:1")
    assert busybox.json("image", "inspect", "parent:1")[0]["Config"]["OnBuild"] == ["COPY app.txt /app.txt"]
    child = write(tmp_path / "child", {"Dockerfile": "FROM parent:1\nCOPY . /ctx/\n", "app.txt": "from child\n",
                                       "secret.key": "x", ".dockerignore": "*.key\n"})
    build(busybox, child, "-t", "child:1")
    assert busybox.out("run", "--rm", "child:1", "cat", "/app.txt") == "from child\n"
    listing = busybox.out("run", "--rm", "child:1", "ls", "-a", "/ctx").split()
    assert "app.txt" in listing and "secret.key" not in listing
    assert not busybox.json("image", "inspect", "child:1")[0]["Config"].get("OnBuild")


def test_build_from_stdin_dockerfile_and_iidfile(busybox, tmp_path):
    iid = tmp_path / "iid"
    proc = busybox.run("build", "--iidfile", iid, "-", input=b"FROM busybox\nRUN echo stdin > /s\n")
    assert iid.read_text() == image_id(proc)
    assert busybox.out("run", "--rm", image_id(proc), "cat", "/s") == "stdin\n"


def test_a_failed_build_leaves_the_store_clean(busybox, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN false\n"})
    busybox.run("ps")  # the store's container directories exist before, as after any command
    before = {k: v for k, v in snapshot(busybox.root).items() if not k.startswith(("layers/", "tmp/"))}
    build(busybox, ctx, check=False)
    after = {k: v for k, v in snapshot(busybox.root).items() if not k.startswith(("layers/", "tmp/"))}
    # runc makes its (empty) state root on first use; nothing else may appear
    assert {k for k in after if k not in before and not k.startswith("runtime")} == set()
    assert not [n for n in os.listdir(os.path.join(busybox.root, "runtime", "runc"))]
    assert [n for n in os.listdir(os.path.join(busybox.root, "tmp")) if not n.startswith(".")] == []


def test_run_mounts_cache_tmpfs_bind_and_secret(busybox, tmp_path):
    dockerfile = """\
FROM busybox
RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/log; wc -l < /cache/log > /count'
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo tmp > /scratch/x; ls /scratch > /tmpfs-seen'
RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cat /mnt/data.txt > /bound
RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /secret-len
"""
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile, "data.txt": "from the context\n"})
    secret = tmp_path / "token"
    secret.write_text("s3cr3t\n")
    first = image_id(build(busybox, ctx, "--secret", f"id=token,src={secret}"))
    second = image_id(build(busybox, ctx, "--no-cache", "--secret", f"id=token,src={secret}"))
    out = busybox.out("run", "--rm", second, "sh", "-c", "cat /count /tmpfs-seen /bound /secret-len")
    assert out.split("\n")[:4] == ["2", "x", "from the context", "7"]  # the cache mount kept the first build's log
    for image in (first, second):  # nothing of the mounts is in the image, stubs included
        listing = busybox.run("run", "--rm", image, "ls", "-d", "/scratch", "/mnt/data.txt", "/cache",
                              "/run/secrets/token", check=False)
        assert listing.returncode != 0 and listing.stdout == b""
    # nor the directories the runtime made only to hold a mount point (/run/secrets, /mnt)
    base = set(busybox.out("run", "--rm", "busybox", "ls", "-a", "/").split())
    made = set(busybox.out("run", "--rm", second, "ls", "-a", "/").split()) - base
    assert made == {"count", "tmpfs-seen", "bound", "secret-len"}, made
    missing = write(tmp_path / "other", {"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=nope cat /run/secrets/nope\n"})
    proc = build(busybox, missing, check=False)
    assert proc.returncode != 0 and b"secret 'nope' was not given" in proc.stderr



def test_bind_mount_of_the_context_is_filtered_copy_on_write_and_keyed_by_content(busybox, tmp_path):
    dockerfile = ("FROM busybox\n"
                  "RUN --mount=type=bind,rw,target=/ctx sh -c 'ls -A /ctx /ctx/sub > /seen; cat /ctx/data.txt > /data; "
                  "echo x > /ctx/planted; rm /ctx/data.txt; chmod 4755 /ctx/sub/keep.txt; ln -s / /ctx/sub/root'\n")
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile, "data.txt": "one\n", "secret.env": "s1\n",
                                   "sub/keep.txt": "k\n", "sub/drop.log": "d\n", ".dockerignore": "secret.env\nsub/*.log\n"})
    before = snapshot(ctx)
    first = image_id(build(busybox, ctx))
    assert snapshot(ctx) == before  # what the rw mount wrote stayed in the step's throw-away layer
    out = busybox.out("run", "--rm", first, "sh", "-c", "cat /seen /data")
    # as COPY sees the context: what .dockerignore leaves out is not there
    assert out == "/ctx:\n.dockerignore\nDockerfile\ndata.txt\nsub\n\n/ctx/sub:\nkeep.txt\none\n"
    (ctx / "secret.env").write_text("s2\n")  # ignored: not part of the key
    again = build(busybox, ctx)
    assert image_id(again) == first and b"CACHED" in again.stderr
    os.utime(ctx / "data.txt", (1, 1))
    (ctx / "data.txt").write_text("two\n")  # same size, the content is what counts
    changed = image_id(build(busybox, ctx))
    assert changed != first and busybox.out("run", "--rm", changed, "cat", "/data") == "two\n"
    missing = write(tmp_path / "missing", {"Dockerfile": "FROM busybox\nRUN --mount=type=bind,source=secret.env,target=/s true\n",
                                           ".dockerignore": "secret.env\n", "secret.env": "s\n"})
    proc = build(busybox, missing, check=False)
    assert proc.returncode != 0 and b"Dockerfile:2: RUN --mount source 'secret.env' does not exist" in proc.stderr


def test_bind_mount_from_a_stage_is_keyed_by_the_stage(busybox, tmp_path):
    dockerfile = ("FROM busybox AS src\nCOPY v.txt /v.txt\n"
                  "FROM busybox\nRUN --mount=type=bind,from=src,source=/v.txt,target=/v cat /v > /got\n")
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile, "v.txt": "1\n"})
    first = image_id(build(busybox, ctx))
    (ctx / "v.txt").write_text("2\n")
    second = image_id(build(busybox, ctx))
    assert second != first and busybox.out("run", "--rm", second, "cat", "/got") == "2\n"


def test_copy_heredocs(busybox, tmp_path):
    dockerfile = ("FROM busybox\n"
                  "ENV NAME=world\n"
                  "COPY <<EOF /greeting.txt\nhello $NAME\nEOF\n"
                  "COPY --chmod=755 <<\"EOF\" /usr/local/bin/hi\n#!/bin/sh\necho hi $NAME\nEOF\n"
                  "COPY <<one <<two /conf/\nfirst\none\nsecond\ntwo\n")
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    image = image_id(build(busybox, ctx))
    out = busybox.out("run", "--rm", image, "sh", "-c",
                      "cat /greeting.txt /conf/one /conf/two; hi; stat -c %a /usr/local/bin/hi")
    assert out.splitlines() == ["hello world", "first", "second", "hi world", "755"]


# ---- ADD <url>, --link, symbolic --chmod ---------------------------------------------------------

LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"  # 1445412480


def tgz_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("inside.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"in\n"))
    return gzip.compress(buf.getvalue(), mtime=0)


def stats(berth, image, *paths) -> list[str]:
    """`mode uid:gid mtime path` of each path, as the image has them."""
    out = berth.out("run", "--rm", image, "stat", "-c", "%a %u:%g %Y %n", *paths)
    return out.splitlines()


def test_add_url_downloads_into_the_image_without_extracting(busybox, tmp_path, http_server):
    archive = tgz_bytes()
    tgz = http_server.add("/e2e/app.tar.gz?version=1", archive, Last_Modified=LAST_MODIFIED)
    txt = http_server.add("/e2e/notes.txt", b"remote notes\n")
    nameless = http_server.add("/e2e/listing/", b"generated\n", Content_Disposition='attachment; filename="list.txt"')
    dockerfile = (f"FROM busybox\nADD {tgz} /dl/\nADD {txt} /named.txt\nADD --chown=1:2 {txt} {nameless} /owned/\n"
                  f"WORKDIR /w\nADD {nameless} unnamed-here\nRUN mkdir /exists\nADD {txt} /exists\n")
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    image = image_id(build(busybox, ctx))
    assert stats(busybox, image, "/dl/app.tar.gz", "/named.txt", "/owned/notes.txt", "/owned/list.txt",
                 "/w/unnamed-here", "/exists/notes.txt") == [
        "600 0:0 1445412480 /dl/app.tar.gz", "600 0:0 0 /named.txt", "600 1:2 0 /owned/notes.txt",
        "600 1:2 0 /owned/list.txt", "600 0:0 0 /w/unnamed-here", "600 0:0 0 /exists/notes.txt"]
    assert busybox.out("run", "--rm", image, "sh", "-c", "ls /dl; cat /named.txt /w/unnamed-here") == \
        "app.tar.gz\nremote notes\ngenerated\n"
    assert busybox.run("run", "--rm", image, "cat", "/dl/app.tar.gz").stdout == archive
    assert [n for n in os.listdir(os.path.join(busybox.root, "tmp")) if not n.startswith(".")] == []


PINNED = b"pinned content\n"
PINNED_SHA256 = "sha256:" + hashlib.sha256(PINNED).hexdigest()


@pytest.mark.parametrize("dockerfile, message", [
    ("FROM busybox\nRUN true\nADD {server}/e2e/missing.txt /x\n",
     b"Dockerfile:3: failed to GET {server}/e2e/missing.txt with status 404 Not Found"),
    ("FROM busybox\nADD --checksum=sha256:" + "0" * 64 + " {server}/e2e/pinned.txt /x\n",
     b"Dockerfile:2: checksum mismatch for {server}/e2e/pinned.txt: expected sha256:" + b"0" * 64
     + b", got " + PINNED_SHA256.encode()),
    ("FROM busybox\nADD --checksum=" + PINNED_SHA256 + " hello.txt /x\n",
     b"Dockerfile:2: checksum can't be specified for non-HTTP(S) sources"),
    ("FROM busybox\nADD --checksum=" + PINNED_SHA256 + " {server}/e2e/pinned.txt hello.txt /x/\n",
     b"Dockerfile:2: checksum can't be specified for multiple sources"),
    ("FROM busybox\nADD --checksum=md5:abc {server}/e2e/pinned.txt /x\n", b"Dockerfile:2: --checksum: invalid digest"),
    ("FROM busybox\nCOPY {server}/e2e/pinned.txt /x\n", b"Dockerfile:2: source can't be a URL for COPY"),
    ("FROM busybox\nADD https://github.com/moby/buildkit.git#v0.10.1 /b\n",
     b"Dockerfile:2: ADD from a git repository is not supported"),
    ("FROM busybox\nADD {server}/e2e/dir/ /d/\n", b"Dockerfile:2: cannot determine filename for source"),
    ("FROM busybox\nADD {server}/e2e/pinned.txt hello.txt /x\n",
     b"Dockerfile:2: When using ADD with more than one source file, the destination must be a directory"),
    ("FROM busybox\nCOPY --chmod=u+q hello.txt /\n", b"Dockerfile:2: invalid chmod parameter: 'u+q'"),
    ("FROM busybox\nCOPY --chmod=8 hello.txt /\n", b"Dockerfile:2: invalid chmod parameter: '8'"),
])
def test_add_url_and_chmod_errors_name_the_line(busybox, tmp_path, http_server, dockerfile, message):
    http_server.add("/e2e/pinned.txt", PINNED)
    http_server.add("/e2e/dir/", b"no name for this")
    server = http_server.url("").encode()
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile.replace("{server}", server.decode()), "hello.txt": "hi\n"})
    proc = build(busybox, ctx, "-t", "broken:1", check=False)
    assert proc.returncode != 0 and message.replace(b"{server}", server) in proc.stderr, proc.stderr
    assert [n for n in os.listdir(os.path.join(busybox.root, "tmp")) if not n.startswith(".")] == []


def test_add_url_cache_follows_the_remote_content(busybox, tmp_path, http_server):
    pinned = http_server.add("/cache/pinned.txt", PINNED)
    changing = http_server.add("/cache/changing.txt", b"version 1\n")
    dockerfile = f"FROM busybox\nADD --checksum={PINNED_SHA256} {pinned} /pinned.txt\nADD {changing} /changing.txt\n"
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    first = image_id(build(busybox, ctx))
    again = build(busybox, ctx, "--explain")
    assert image_id(again) == first and again.stderr.count(b"CACHED") == 2
    # a checksum names the content: the cached step does not download it again
    assert http_server.requests.count("/cache/pinned.txt") == 1
    assert http_server.requests.count("/cache/changing.txt") == 2
    http_server.add("/cache/changing.txt", b"version 2\n")
    changed = build(busybox, ctx, "--explain")
    assert image_id(changed) != first
    assert b"cache miss: the content of the copied files changed" in changed.stderr
    assert busybox.out("run", "--rm", image_id(changed), "cat", "/pinned.txt", "/changing.txt") == \
        "pinned content\nversion 2\n"
    http_server.add("/cache/changing.txt", b"version 2\n", Last_Modified=LAST_MODIFIED)
    touched = build(busybox, ctx)  # the same content with another mtime: what a fresh build would give
    assert image_id(touched) != image_id(changed)
    assert stats(busybox, image_id(touched), "/changing.txt") == ["600 0:0 1445412480 /changing.txt"]


def test_copy_link_gives_the_files_a_plain_copy_gives(busybox, tmp_path):
    steps = """\
FROM busybox
RUN mkdir -m 1777 /shared && ln -s /shared /via-link && mkdir -p /app && chown 7:7 /app
COPY {link}hello.txt /shared/
COPY {link}--chown=5:6 dir/ /via-link/sub/
COPY {link}--chmod=640 hello.txt /app/
ADD {link}tree.tar /x/
"""
    ctx = write(tmp_path / "ctx", {"hello.txt": "hi\n", "dir/a.txt": "a\n", "dir/deeper/b.txt": "b\n"})
    with tarfile.open(ctx / "tree.tar", "w") as tf:
        tf.add(ctx / "dir", arcname="tree")
    (ctx / "Dockerfile.plain").write_text(steps.format(link=""))
    (ctx / "Dockerfile.link").write_text(steps.format(link="--link "))
    listing = "ls -lnR --full-time /shared /via-link /app /x; stat -c '%a %u:%g %F' /shared /via-link /app"
    plain = image_id(build(busybox, ctx, "-f", ctx / "Dockerfile.plain"))
    linked = image_id(build(busybox, ctx, "-f", ctx / "Dockerfile.link"))
    ours = busybox.out("run", "--rm", linked, "sh", "-c", listing)
    assert ours == busybox.out("run", "--rm", plain, "sh", "-c", listing)
    assert ours.splitlines()[-3:] == ["1777 0:0 directory", "777 0:0 symbolic link", "755 7:7 directory"]
    assert "-rw-r-----    1 0        0" in ours and "b.txt" in ours


def test_symbolic_chmod_in_a_build(busybox, tmp_path, http_server):
    url = http_server.add("/chmod/data.bin", b"data")
    dockerfile = (f"FROM busybox\nCOPY --chmod=u+x,go-w tool.sh /bin/\nCOPY --chmod=a+rX,o-r tree/ /tree/\n"
                  f"ADD --chmod=go+r {url} /dl/\nCOPY --chmod=a=rX <<EOF /doc.txt\nhello\nEOF\n")
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile, "tool.sh": "#!/bin/sh\n", "tree/f": "f",
                                   "tree/sub/x": "x"})
    os.chmod(ctx / "tool.sh", 0o664)
    os.chmod(ctx / "tree/f", 0o600)
    os.chmod(ctx / "tree/sub/x", 0o700)
    os.chmod(ctx / "tree/sub", 0o700)
    image = image_id(build(busybox, ctx))
    modes = busybox.out("run", "--rm", image, "stat", "-c", "%a %n", "/bin/tool.sh", "/tree/f", "/tree/sub",
                        "/tree/sub/x", "/dl/data.bin", "/doc.txt")
    assert modes.splitlines() == ["744 /bin/tool.sh", "640 /tree/f", "751 /tree/sub", "751 /tree/sub/x",
                                  "644 /dl/data.bin", "444 /doc.txt"]


def test_a_context_nested_too_deeply_is_one_error_line(busybox, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY . /ctx/\n"})
    fd = os.open(ctx, os.O_RDONLY)
    for _ in range(1100):  # deeper than the walk's recursion allows
        os.mkdir("a", dir_fd=fd)
        fd, old = os.open("a", os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.close(fd)
    try:
        proc = build(busybox, ctx, "-q", check=False)
        assert (proc.returncode, proc.stderr) == (1, b"Error: a directory tree is nested too deeply\n")
        assert [n for n in os.listdir(os.path.join(busybox.root, "tmp")) if not n.startswith(".")] == []
    finally:  # pytest's own clean-up (shutil.rmtree) recurses, and fails, on a tree this deep
        subprocess.run(["rm", "-rf", str(ctx / "a")], check=True)
