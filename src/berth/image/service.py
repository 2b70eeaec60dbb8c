"""Image operations behind `berth images`, `rmi`, `tag`, `save`, `load`, `import`, `system df`, ..."""
from __future__ import annotations

import os
import sys

from berth.errors import BerthError, Conflict, InvalidReference, StoreError
from berth.oci.reference import Reference
from berth.store import fsutil

SAVE_FORMATS = ("docker-archive", "oci-archive", "oci-dir")


class ImageService:
    def __init__(self, store):
        self.store = store

    # ---- reading -----------------------------------------------------------------------

    def list(self, all: bool = False, filters: dict | None = None):
        """Newest first; `filters` as docker's `images --filter` (dangling, label, before, since,
        reference)."""
        images = self.store.images.list()
        if not filters:
            return images
        from berth.image.filters import filter_images
        return filter_images(images, filters, self)

    def get(self, text: str):
        return self.store.images.resolve(text)

    def inspect(self, text: str) -> dict:
        from berth.image import views
        return views.inspect(self.store, self.get(text))

    def history(self, text: str) -> list[dict]:
        from berth.image import views
        return views.history(self.store, self.get(text))

    def disk_usage(self) -> dict:
        from berth.image import views
        return views.disk_usage(self.store)

    def tree(self, text: str) -> dict:
        from berth.image import views
        return views.tree(self.store, self.get(text))

    # ---- names and removal -------------------------------------------------------------

    def tag(self, source: str, target: str) -> None:
        image = self.get(source)
        ref = Reference.parse(target)
        self.store.images.tag(image, ref)
        self.log_event(image, "tag", ref.familiar)

    def log_event(self, image, action: str, name: str | None = None) -> None:
        """An image event as docker logs one: the image's labels, and its name (by default its ID)."""
        labels = {}
        if action not in ("delete", "prune"):  # a deleted image has no config left to read
            try:
                labels = self.store.images.config(image).config.get("Labels") or {}
            except (OSError, LookupError, BerthError):
                pass
        self.store.events.append(("image", action, str(image.id), {**labels, "name": name or str(image.id)}))

    def remove(self, text: str, force: bool = False) -> list[tuple[str, str]]:
        """docker rmi: untag by name; delete the image once no name is left. Returns events."""
        image = self.get(text)
        events = []
        by_name = self._is_tag(text, image)
        users = self.store.images.containers_using(image.id)
        if users and not force:
            what = f'repository reference "{by_name.familiar}"' if by_name else image.id.short
            raise Conflict(f"conflict: unable to remove {what} (must force) - container {users[0][:12]} "
                           f"is using its referenced image {image.id.short}")
        if by_name is not None and (len(image.tags) > 1 or users):
            self.store.images.untag(by_name)
            self.log_event(image, "untag")
            return [("Untagged", by_name.familiar)]
        if users:  # forced by ID: the names go, the image stays for its containers (as docker)
            for tag in image.tags:
                self.store.images.untag(tag)
                self.log_event(image, "untag")
                events.append(("Untagged", tag.familiar))
            return events
        if by_name is not None and len(image.tags) > 1 and not force:
            self.store.images.untag(by_name)
            self.log_event(image, "untag")
            return [("Untagged", by_name.familiar)]
        if by_name is None and len(image.tags) > 1 and not force:
            raise Conflict(f"conflict: unable to delete {image.id.short} (must be forced) - "
                           "image is referenced in multiple repositories")
        for tag in image.tags:
            self.store.images.untag(tag)
            self.log_event(image, "untag")
            events.append(("Untagged", tag.familiar))
        for name in image.repo_digests:
            events.append(("Untagged", Reference.parse(name).familiar))
        self.store.images.delete(image, force=True)
        self.log_event(image, "delete")
        events.append(("Deleted", str(image.id)))
        return events

    @staticmethod
    def _is_tag(text: str, image):
        try:
            ref = Reference.parse(text)
        except InvalidReference:
            return None
        return ref if ref.digest is None and ref in image.tags else None

    def prune(self, all: bool = False) -> tuple[list[tuple[str, str]], int]:
        events, reclaimed = [], 0
        for image in self.store.images.list():
            if (image.tags and not all) or self.store.images.containers_using(image.id):
                continue
            for tag in image.tags:
                self.store.images.untag(tag)
                self.log_event(image, "untag")
                events.append(("untagged", tag.familiar))
            sizes = {c: self.store.layers.get(c).size for c in image.chain}
            removed = self.store.images.delete(image, force=True)
            self.log_event(image, "delete")
            reclaimed += sum(sizes[c] for c in removed)
            events.append(("deleted", str(image.id)))
        self.store.events.append(("image", "prune", "", {"reclaimed": str(reclaimed)}))
        return events, reclaimed

    # ---- making images -----------------------------------------------------------------

    def import_(self, source: str, ref: str | None, message: str = "", stream=None):
        """A rootfs tar (optionally compressed; '-' for stdin) becomes a one-layer image."""
        refs = [Reference.parse(ref)] if ref else []
        comment = message or f"Imported from {source}"
        with fsutil.Staging(self.store.tmp, "import-") as staging:
            if source == "-":
                from berth.transport.load import spool
                source = spool(stream or sys.stdin.buffer, staging.path)
            elif not os.path.isfile(source):
                raise BerthError(f"open {source}: no such file")
            layer = self.store.layers.add(lambda: open(source, "rb"), None)
        from berth.image.config import new_config
        config = new_config([layer.diff_id], env=[], created_by="", comment=comment)
        image = self.store.images.add(config, [layer], refs)
        self.log_event(image, "import")
        return image

    def pause_image(self):
        """The image of pods' infra containers: this machine's catatonit, which does nothing but hold
        the pod's namespaces (`catatonit -P`), built here once (as podman builds its own). Its tag
        is the binary's size and mtime (as dpkg installs it): found again without reading or
        hashing the binary, and without the imports of a build, ~10 ms of every `pod create`."""
        source = "/usr/bin/catatonit"
        try:
            st = os.stat(source)
        except FileNotFoundError:
            raise BerthError(f"pods need {source} (apt-get install catatonit)") from None
        ref = Reference.parse(f"localhost/berth-pause:{st.st_mtime_ns}-{st.st_size}")
        try:
            return self.get(str(ref))
        except LookupError:
            pass
        import shutil
        from berth import archive
        from berth.image.config import new_config
        with fsutil.Staging(self.store.tmp, "pause-") as staging:
            root = os.path.join(staging.path, "rootfs")
            os.mkdir(root, 0o755)
            shutil.copy2(source, os.path.join(root, "catatonit"))
            tar = os.path.join(staging.path, "layer.tar")
            with open(tar, "wb") as out:
                archive.write_tree(root, out, source_date_epoch=0)
            layer = self.store.layers.add(lambda: open(tar, "rb"), None)
        config = new_config([layer.diff_id], cmd=["/catatonit", "-P"], env=[], created="1970-01-01T00:00:00Z",
                            created_by="berth: catatonit -P, the infra container of pods")
        return self.store.images.add(config, [layer], [ref])

    def bootstrap(self, kind: str, ref: str | None = None, suite: str = "bookworm", mirror: str | None = None):
        from berth.image.bootstrap import bootstrap
        name = Reference.parse(ref or (kind if kind == "busybox" else f"debian:{suite}"))
        config, layers = bootstrap(self.store, kind, suite=suite, mirror=mirror)
        image = self.store.images.add(config, layers, [name])
        self.log_event(image, "import")
        return image

    # ---- archives ----------------------------------------------------------------------

    def load(self, path: str | None = None, stream=None):
        from berth.transport.load import load
        if path is not None and not os.path.exists(path):
            raise BerthError(f"open {path}: no such file or directory")
        loaded = load(self.store, path=path, stream=stream)
        for image, _ in loaded:
            self.log_event(image, "load")
        return loaded

    def save(self, texts: list[str], output: str | None, fmt: str = "docker-archive", stream=None) -> None:
        """Write images to `output` (atomically: a temp file renamed into place) or to `stream`."""
        if fmt not in SAVE_FORMATS:
            raise BerthError(f"unknown save format {fmt!r}: choose one of {', '.join(SAVE_FORMATS)}")
        images, saved = [], []
        for text in texts:
            image = self.get(text)
            named = self._is_tag(text, image)
            tags = [named] if named else list(image.tags)
            images.append((tags, self.store.content.read(image.id), self.store.images.layers(image)))
            saved.append(image)
        if fmt == "oci-dir":
            if not output:
                raise BerthError("--format oci-dir needs -o DIRECTORY")
            from berth.transport import oci_layout
            oci_layout.write_dir(output, images, self._write_layer)
        else:
            from berth.transport import docker_archive, oci_layout
            writer = docker_archive.write if fmt == "docker-archive" else oci_layout.write_archive
            if output is None:
                writer(stream, images, self._write_layer)
                stream.flush()
            else:
                with fsutil.replace_atomically(output) as f:
                    writer(f, images, self._write_layer)
        for image in saved:
            self.log_event(image, "save")

    def _write_layer(self, layer, out) -> None:
        from berth.archive.hashing import HashingWriter
        checked = HashingWriter(out)
        self.store.layers.write_tar(layer, checked)
        if checked.digest() != layer.diff_id:
            raise StoreError(f"layer {layer.diff_id} is corrupt in the store (rebuilt as {checked.digest()})")

