"""POST /build: docker's classic builder API (`DOCKER_BUILDKIT=0 docker build`).

The body is the context as a tar (possibly compressed) or a Dockerfile alone; the build service
unpacks it, entry by entry, into a staging directory of the store (nothing is held in memory).
The answer is docker's JSON stream: {"stream": ...} lines with the steps and the RUN output,
{"aux": {"ID": ...}} with the image, and an error as the last line once output has started
(before that, an HTTP status: a missing Dockerfile is a 400).
"""
from __future__ import annotations

import asyncio
import json
import re

from aiohttp import web

from berth.api.app import BadRequest, flag, route
from berth.api.bridge import BodyReader, json_lines

NETWORKS = {"": "bridge", "default": "bridge", "bridge": "bridge", "host": "host", "none": "none"}
# Resource limits of RUN containers: docker's client sends them at their defaults; others are refused.
_LIMITS = ("memory", "memswap", "cpushares", "cpusetcpus", "cpusetmems", "cpuperiod", "cpuquota", "shmsize")
QUIET_KEPT = 1 << 20        # bytes of a quiet build's output kept to show if it fails
_STEP = re.compile(r"\[(\d+)/(\d+)\] (.*)", re.S)


def _json_query(request: web.Request, name: str, kind: type, default):
    text = request.query.get(name, "")
    if not text:
        return default
    try:
        value = json.loads(text)
    except ValueError:
        raise BadRequest(f"invalid {name}: {text!r} is not JSON") from None
    if value is None:
        return default
    if not isinstance(value, kind):
        raise BadRequest(f"invalid {name}: expected a JSON {kind.__name__}")
    return value


def _string_map(request: web.Request, name: str, allow_null: bool = False) -> dict:
    doc = _json_query(request, name, dict, {})
    out = {}
    for key, value in doc.items():
        if value is None and allow_null:
            continue  # docker: a build arg named without a value, none in the client's environment
        if not isinstance(value, str):
            raise BadRequest(f"invalid {name}: the value of {key!r} is not a string")
        out[key] = value
    return out


def _refuse_unsupported(request: web.Request) -> None:
    q = request.query
    if q.get("remote"):
        raise BadRequest("remote build contexts (remote=) are not supported: send the context as the body")
    if q.get("version", "1") not in ("", "1"):
        raise BadRequest("only the classic builder (version=1) is offered: BuildKit sessions are not supported")
    if flag(request, "squash"):
        raise BadRequest("squash is not supported")
    for name in _LIMITS:
        if q.get(name, "") not in ("", "0", "-1"):
            raise BadRequest(f"{name} is not supported by berth's builder (RUN steps run without limits)")
    for name in ("extrahosts", "outputs"):
        if q.get(name):
            raise BadRequest(f"{name} is not supported by berth's builder")
    for name in ("cachefrom", "ulimits"):
        if _json_query(request, name, list, []):
            raise BadRequest(f"{name} is not supported by berth's builder")
    platform = q.get("platform", "")
    if platform:
        from berth.oci.platform import Platform
        try:
            asked = Platform.parse(platform)
        except ValueError as e:
            raise BadRequest(str(e)) from None
        host = Platform.host()
        if (asked.os, asked.architecture) != (host.os, host.architecture):
            raise BadRequest(f"platform {platform} is not this machine's ({host}): berth builds for the host only")


def docker_line(line: str) -> str:
    """A line of berth's build output as the classic builder prints it."""
    step = _STEP.fullmatch(line)
    if step:
        return f"Step {step[1]}/{step[2]} : {step[3]}\n"
    if line == "  CACHED":
        return " ---> Using cache\n"
    return (line[2:] if line.startswith("  ") else line) + "\n"  # a RUN's output, unindented


async def build(request: web.Request) -> web.StreamResponse:
    from berth.build.request import BuildRequest
    _refuse_unsupported(request)
    network = NETWORKS.get(request.query.get("networkmode", ""))
    if network is None:
        raise BadRequest(f"network mode {request.query['networkmode']!r} is not supported for RUN: "
                         "use default, bridge, host or none")
    quiet = flag(request, "q")
    tags = [t for t in request.query.getall("t", []) if t]
    build_args, labels = _string_map(request, "buildargs", allow_null=True), _string_map(request, "labels")
    stream = BodyReader(request, asyncio.get_running_loop())

    def run(engine, put):
        held: list[str] = []  # -q: the output is shown only when the build fails, as dockerd does

        def say(line):
            if not quiet:
                put({"stream": docker_line(line)})
            elif sum(map(len, held)) < QUIET_KEPT:
                held.append(docker_line(line))
        wanted = BuildRequest(stream=stream, dockerfile=request.query.get("dockerfile") or None, tags=tags,
                              target=request.query.get("target") or None, build_args=build_args, labels=labels,
                              no_cache=flag(request, "nocache"), pull=flag(request, "pull"), network=network,
                              output=say)
        try:
            image = engine.builds.build(wanted)
        except Exception:
            if held:
                put({"stream": "".join(held)})
            raise
        return image, wanted.references

    def last(result):
        image, refs = result
        docs = [{"aux": {"ID": str(image.id)}}]
        if quiet:
            return docs + [{"stream": f"{image.id}\n"}]
        docs.append({"stream": f"Successfully built {image.id.hex[:12]}\n"})
        return docs + [{"stream": f"Successfully tagged {ref.familiar}\n"} for ref in refs]
    return await json_lines(request, run, last)


def add_routes(router) -> None:
    route(router, "POST", "/build", build)
