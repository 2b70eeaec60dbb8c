"""BuildRequest: the typed request for a build that every front end fills (the CLI's `build`, the
Docker API's POST /build); BuildService (service.py) carries it out."""
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
