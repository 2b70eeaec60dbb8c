"""The store facade: opens (and recovers) a root, hands out its parts."""
from __future__ import annotations

import os
from functools import cached_property

from berth.store import db, fsutil
from berth.store.content import ContentStore
from berth.store.images import ImageStore
from berth.store.layers import LayerStore


class Store:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        os.chmod(self.root, 0o700)  # store files are not for other host users
        self.tmp = self.subdir("tmp")
        self.locks = self.subdir("locks")
        self.db = db.connect(os.path.join(self.root, "berth.db"))
        self.content = ContentStore(self.subdir("blobs"), self.tmp)
        self.layers = LayerStore(self.subdir("layers"), self.tmp, self.locks, self.content, self.db)
        self.images = ImageStore(self)
        self.recover()

    # the parts that not every command needs: made on first use
    @cached_property
    def containers(self):
        from berth.store.containers import ContainerStore
        return ContainerStore(self)

    @cached_property
    def volumes(self):
        from berth.store.volumes import VolumeStore
        return VolumeStore(self)

    @cached_property
    def networks(self):
        from berth.store.networks import NetworkStore
        return NetworkStore(self)

    @cached_property
    def pods(self):
        from berth.store.pods import PodStore
        return PodStore(self)

    @cached_property
    def services(self):
        from berth.store.services import ServiceStore
        return ServiceStore(self)

    @cached_property
    def events(self):
        """The event log (`berth events`, GET /events)."""
        from berth.store.events import EventLog
        return EventLog(self)

    @cached_property
    def build_cache(self):
        from berth.store.buildcache import BuildCacheStore
        return BuildCacheStore(self)

    @cached_property
    def exits(self) -> str:
        """Exit files: the monitors write a container's exit code here."""
        return self.subdir("exits")

    @cached_property
    def runtime_state(self) -> str:
        """The OCI runtime's own state directory (its --root)."""
        return os.path.join(self.root, "runtime")

    @property
    def auth_file(self) -> str:
        """Registry credentials (`login`), 0600."""
        return os.path.join(self.root, "auth.json")

    @property
    def registries_file(self) -> str:
        """Per-registry client settings."""
        return os.path.join(self.root, "registries.json")

    @property
    def registry_storage(self) -> str:
        """The default storage of `registry serve`."""
        return os.path.join(self.root, "registry")

    def subdir(self, name: str) -> str:
        """A directory of the store, made (private) if missing."""
        path = os.path.join(self.root, name)
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def write_lock(self):
        """Serializes changes to references (images, tags, layer deletion) across processes."""
        return fsutil.flock(os.path.join(self.locks, "store"))

    def recover(self) -> None:
        """Remove what a killed process left half-written: staging entries and orphan layer dirs.

        Best effort: what cannot be removed is reported in one line on stderr and left for the next
        command to retry; recovery never makes the command itself fail."""
        problems = []
        try:
            if os.listdir(self.tmp):
                problems += [f"{path} ({why})" for path, why in fsutil.remove_stale_staging(self.tmp)]
        except Exception as err:  # noqa: BLE001
            problems.append(f"{self.tmp} ({fsutil.error_text(err)})")
        try:
            with fsutil.flock(os.path.join(self.locks, "store"), blocking=False) as got:
                if got:
                    self.layers.remove_orphans()
        except Exception as err:  # noqa: BLE001
            problems.append(f"orphan layers in {self.layers.root} ({fsutil.error_text(err)})")
        if problems:
            import sys
            try:
                sys.stderr.write(f"WARNING: cannot remove what interrupted work left: {'; '.join(problems)}\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        self.db.close()
