"""POST /build: `DOCKER_BUILDKIT=0 docker build` against berth's API server (docker's classic
builder: steps, build args, a multi-stage target, -q), and its errors."""
import io
import json
import tarfile
import urllib.parse

MULTI_STAGE = """\
FROM busybox AS base
ARG GREETING=hello
RUN echo "$GREETING from the base stage" > /greeting
FROM base AS tools
RUN echo tools > /tools
FROM busybox
COPY --from=base /greeting /greeting
COPY data.txt /data.txt
LABEL stage=final
CMD ["cat", "/greeting", "/data.txt"]
"""


def _context(tmp_path, dockerfile: str, **files):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (ctx / name).write_text(text)
    return ctx


def _tar(**files) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_classic_build_with_a_build_arg_and_a_target(api, tmp_path):
    ctx = _context(tmp_path, MULTI_STAGE, **{"data.txt": "context data\n"})
    proc = api.docker("build", "-t", "built:args", "-t", "built:second", "--build-arg", "GREETING=hi",
                      "--label", "from=api", ctx)
    out = proc.stdout.decode()
    # (berth, like BuildKit, builds only the stages the result needs: `tools` is skipped)
    assert "Step 1/8 : FROM busybox AS base" in out, out
    assert "Step 3/8 : RUN echo \"$GREETING from the base stage\" > /greeting" in out, out
    assert "Successfully built " in out and "Successfully tagged built:args" in out, out
    assert "Successfully tagged built:second" in out, out
    assert api.docker_out("run", "--rm", "built:args") == "hi from the base stage\ncontext data\n"
    labels = api.request("GET", "/v1.44/images/built:second/json").json()["Config"]["Labels"]
    assert labels == {"stage": "final", "from": "api"}

    proc = api.docker("build", "--target", "tools", "-t", "built:tools", ctx)  # stops after `tools`
    assert "Step 5/5 : RUN echo tools > /tools" in proc.stdout.decode() and "COPY" not in proc.stdout.decode()
    assert api.docker_out("run", "--rm", "built:tools", "cat", "/greeting", "/tools") == \
        "hello from the base stage\ntools\n"


def test_quiet_build_prints_only_the_image_id(api, tmp_path):
    ctx = _context(tmp_path, "FROM busybox\nRUN echo noisy\nLABEL quiet=yes\n")
    out = api.docker_out("build", "-q", ctx)
    image_id = out.strip()
    assert out == image_id + "\n" and image_id.startswith("sha256:"), out
    assert api.request("GET", f"/v1.44/images/{image_id}/json").json()["Config"]["Labels"] == {"quiet": "yes"}


def test_build_errors(api, tmp_path):
    # no Dockerfile in the context: a 400 before any output, one message
    missing = api.request("POST", "/v1.44/build?t=nodockerfile", body=_tar(**{"other.txt": "x"}),
                          headers={"Content-Type": "application/x-tar"})
    assert missing.status == 400, missing
    assert missing.json() == {"message": "Cannot locate specified Dockerfile: Dockerfile"}
    bad_args = api.request("POST", "/v1.44/build?buildargs=" + urllib.parse.quote("{not json"),
                           body=_tar(Dockerfile="FROM busybox\n"))
    assert bad_args.status == 400 and "buildargs" in bad_args.message, bad_args
    # a failing RUN after output started: docker's error line, the CLI exits with the RUN's status
    ctx = _context(tmp_path, "FROM busybox\nRUN echo before the failure; exit 3\n")
    proc = api.docker("build", ctx, check=False)
    assert proc.returncode == 3, proc
    assert "before the failure" in proc.stdout.decode()
    assert "RUN 'echo before the failure; exit 3' failed with exit code 3" in proc.stderr.decode()
    streamed = api.request("POST", "/v1.44/build", body=_tar(Dockerfile="FROM busybox\nRUN exit 4\n"))
    assert streamed.status == 200
    last = streamed.lines()[-1]
    assert last["errorDetail"] == {"message": last["error"], "code": 4}, last
    assert not any("aux" in line for line in streamed.lines())
    json.dumps(last)  # (one JSON document per line)
