"""berth.Engine: the one facade the CLI, the API server and Python users call."""
from __future__ import annotations

import os
from functools import cached_property

DEFAULT_ROOT = "/var/lib/berth"


class Engine:
    def __init__(self, root: str | None = None):
        self.root = root or os.environ.get("BERTH_ROOT") or DEFAULT_ROOT

    @cached_property
    def store(self):
        from berth.store import Store
        return Store(self.root)

    @cached_property
    def images(self):
        from berth.image.service import ImageService
        return ImageService(self.store)

    @cached_property
    def containers(self):
        from berth.container.service import ContainerService
        return ContainerService(self.store, self.images)

    @cached_property
    def volumes(self):
        from berth.container.volumes import VolumeService
        return VolumeService(self.store)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
