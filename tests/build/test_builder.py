"""`berth build` end to end, on the bootstrapped busybox: stages, cache, explanations, errors."""
from __future__ import annotations

import os

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
    missing = write(tmp_path / "other", {"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=nope cat /run/secrets/nope\n"})
    proc = build(busybox, missing, check=False)
    assert proc.returncode != 0 and b"secret 'nope' was not given" in proc.stderr



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
