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
    def builds(self):
        """Images from Dockerfiles (BuildRequest)."""
        from berth.build.service import BuildService
        return BuildService(self)

    @cached_property
    def files(self):
        """A container's files: cp, diff, commit, export."""
        from berth.container.files import FileService
        return FileService(self.containers)

    @cached_property
    def registries(self):
        """Pull, push, copy, login: images to and from registries."""
        from berth.registry.client.service import RegistryClientService
        return RegistryClientService(self.store, self.images)

    @cached_property
    def registry_server(self):
        """`registry serve` and `registry gc`, from one ServerConfig."""
        from berth.registry.server.service import RegistryServerService
        return RegistryServerService(self)

    @cached_property
    def system(self):
        """`system df` and `info`."""
        from berth.system import SystemService
        return SystemService(self)

    @cached_property
    def events(self):
        """What happened to containers, images, volumes and networks (`events`), from any berth process."""
        from berth.events import EventService
        return EventService(self.store)

    @property
    def volumes(self):
        return self.containers.volumes

    @cached_property
    def pods(self):
        """Pods: containers sharing one network, IPC and UTS, held by an infra container."""
        from berth.pod.service import PodService
        return PodService(self.store, self.images, self.containers)

    @property
    def networks(self):
        """User-defined networks (and the built-in bridge, host and none)."""
        return self.containers.networks

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
