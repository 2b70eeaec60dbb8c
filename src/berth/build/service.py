"""Builds: BuildRequest, the typed request every front end fills (the CLI's `build`, the Docker API's
POST /build), and BuildService, which reads the context it names and runs the Builder."""
from __future__ import annotations

from berth.record import Record


class BuildRequest(Record):
    context: str = None             # a directory on the host; None: `stream` holds the context
    stream: object = None           # a binary file: without `context`, a tar context (possibly compressed) or a
                                    # Dockerfile alone; with it, the Dockerfile when `dockerfile` is "-"
    dockerfile: str = None          # a host path with a directory context, a path inside a tar stream
    tags: list = []                 # references, as text
    target: str = None
    build_args: dict = {}
    no_cache: bool = False
    pull: bool = False
    network: str = "bridge"         # for RUN: bridge, host or none
    labels: dict = {}
    source_date_epoch: int = None
    explain: bool = False           # say, for every step not taken from the cache, which input changed
    secrets: dict = {}              # RUN --mount=type=secret: id -> file on the host
    output: object = None           # called with each progress line
    iidfile: str = None             # the image ID is written here (atomically)

    def say(self, line: str) -> None:
        if self.output is not None:
            self.output(line)

    @property
    def references(self) -> list:
        from berth.oci.reference import Reference
        return [Reference.parse(t) for t in self.tags]


class BuildService:
    def __init__(self, engine):
        self.engine = engine

    def build(self, request: BuildRequest):
        """Build the image the request describes; returns it (tagged with request.tags)."""
        from berth.build.builder import Builder
        from berth.build.context import BuildContext, read_dockerfile
        request.references  # a malformed tag is refused before any work
        if request.context is None:
            ctx = BuildContext.from_stream(request.stream, self.engine.store.tmp, request.dockerfile)
        else:
            if request.dockerfile == "-":
                ctx = BuildContext.from_directory(request.context, dockerfile_data=read_dockerfile(request.stream))
            else:
                ctx = BuildContext.from_directory(request.context, request.dockerfile)
        with ctx:
            image = Builder(self.engine).build(ctx, request)
        if request.iidfile:
            from berth.store.fsutil import replace_atomically
            with replace_atomically(request.iidfile) as f:
                f.write(str(image.id).encode())
        return image
