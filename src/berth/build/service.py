"""Builds as an engine service: read the context a BuildRequest names, run the Builder, write the
image ID where asked."""
from __future__ import annotations

from berth.build.request import BuildRequest


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
        for ref in request.references:
            self.engine.images.log_event(image, "tag", ref.familiar)
        if request.iidfile:
            from berth.store.fsutil import replace_atomically
            with replace_atomically(request.iidfile) as f:
                f.write(str(image.id).encode())
        return image
