"""Images by ID (config digest) and by name; layers referenced by images are never deleted."""
from __future__ import annotations

import time

from berth.charsets import LOWER_HEX, made_of
from berth.errors import Conflict, ImageNotFound, InvalidReference, StoreError
from berth.oci import mediatype
from berth.oci.descriptor import Descriptor
from berth.oci.digest import Digest
from berth.oci.image import ImageConfig, Manifest, canonical_json
from berth.oci.reference import Reference
from berth.record import Record
from berth.store.db import transaction
from berth.store.layers import Layer


class Image(Record):
    id: Digest
    manifest: Digest
    created: str
    size: int
    added: float
    chain: list[Digest] = []
    tags: list[Reference] = []
    repo_digests: list[str] = []


class ImageStore:
    def __init__(self, store):
        self.store = store
        self.db = store.db

    # ---- reading -----------------------------------------------------------------------

    def _load(self, row) -> Image:
        image_id = row["id"]
        chain = [Digest.parse(r[0]) for r in self.db.execute(
            "SELECT chain_id FROM image_layers WHERE image_id=? ORDER BY idx", (image_id,))]
        tags = [Reference.parse(r[0]) for r in self.db.execute(
            "SELECT name FROM tags WHERE image_id=? ORDER BY tagged DESC, name", (image_id,))]
        digests = [r[0] for r in self.db.execute(
            "SELECT name FROM repo_digests WHERE image_id=? ORDER BY name", (image_id,))]
        return Image(Digest.parse(image_id), Digest.parse(row["manifest"]), row["created"], row["size"],
                     row["added"], chain, tags, digests)

    def get(self, image_id: Digest) -> Image | None:
        row = self.db.execute("SELECT * FROM images WHERE id=?", (str(image_id),)).fetchone()
        return self._load(row) if row else None

    def list(self) -> list[Image]:
        return [self._load(r) for r in self.db.execute("SELECT * FROM images ORDER BY added DESC")]

    def config(self, image: Image) -> ImageConfig:
        return ImageConfig.parse(self.store.content.read(image.id))

    def manifest(self, image: Image) -> bytes:
        return self.store.content.read(image.manifest)

    def layers(self, image: Image) -> list[Layer]:
        return [self.store.layers.get(c) for c in image.chain]

    def resolve(self, text: str) -> Image:
        """An image by name[:tag], name@digest, full ID or unique ID prefix (docker's order)."""
        ref = None
        try:
            ref = Reference.parse(text)
        except InvalidReference:
            pass
        if ref is not None:
            if ref.digest is not None:
                row = self.db.execute("SELECT image_id FROM repo_digests WHERE name=?",
                                      (f"{ref.name}@{ref.digest}",)).fetchone()
                if row is None:
                    row = self.db.execute("SELECT id AS image_id FROM images WHERE manifest=? OR id=?",
                                          (str(ref.digest), str(ref.digest))).fetchone()
            else:
                row = self.db.execute("SELECT image_id FROM tags WHERE name=?", (str(ref),)).fetchone()
            if row is not None:
                return self.get(Digest.parse(row[0]))
        prefix = text.removeprefix("sha256:")  # an ID or a prefix of one, with or without its algorithm
        is_id = len(prefix) <= 64 and made_of(prefix, LOWER_HEX)
        if is_id:
            rows = self.db.execute("SELECT id FROM images WHERE id LIKE ?", (f"sha256:{prefix}%",)).fetchall()
            if len(rows) == 1:
                return self.get(Digest.parse(rows[0][0]))
            if len(rows) > 1:
                raise StoreError(f"ambiguous image ID prefix {text!r}: matches {len(rows)} images")
        if ref is None and not is_id:
            raise InvalidReference(f"invalid reference format: {text!r}")
        raise ImageNotFound(f"No such image: {text}")

    def containers_using(self, image_id: Digest) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM containers WHERE image_id=?", (str(image_id),))]

    def users_of_layer(self, chain_id: Digest) -> list[Digest]:
        return [Digest.parse(r[0]) for r in self.db.execute(
            "SELECT DISTINCT image_id FROM image_layers WHERE chain_id=?", (str(chain_id),))]

    # ---- writing -----------------------------------------------------------------------

    def add(self, config_bytes: bytes, layers: list[Layer], tags: list[Reference] = (),
            repo_digests: list[str] = ()) -> Image:
        """Record an image whose layers are already in the store; move `tags` onto it."""
        config = ImageConfig.parse(config_bytes)
        diff_ids = config.diff_ids
        if [layer.diff_id for layer in layers] != diff_ids:
            raise StoreError("image layers do not match the config's rootfs.diff_ids")
        content = self.store.content
        image_id = Digest.of_bytes(config_bytes)
        manifest = Manifest(mediatype.OCI_MANIFEST,
                            Descriptor(mediatype.OCI_CONFIG, image_id, len(config_bytes)),
                            tuple(Descriptor(mediatype.OCI_LAYER, layer.diff_id, layer.tar_size) for layer in layers))
        # Blobs are written under the lock too, so a concurrent delete of the same image cannot
        # remove them between their write and the row that references them.
        with self.store.write_lock(), transaction(self.db):
            content.write_bytes(config_bytes)
            manifest_digest = content.write_bytes(canonical_json(manifest.to_dict()))
            for layer in layers:
                if self.store.layers.get(layer.chain_id) is None:
                    raise StoreError(f"layer {layer.chain_id} vanished while the image was added; retry")
            if self.db.execute("SELECT 1 FROM images WHERE id=?", (str(image_id),)).fetchone() is None:
                self.db.execute("INSERT INTO images(id, manifest, created, size, added) VALUES (?,?,?,?,?)",
                                (str(image_id), str(manifest_digest), config.created,
                                 sum(layer.size for layer in layers), time.time()))
                self.db.executemany("INSERT INTO image_layers(image_id, idx, chain_id) VALUES (?,?,?)",
                                    [(str(image_id), i, str(layer.chain_id)) for i, layer in enumerate(layers)])
            for ref in tags:
                self._tag(image_id, ref)
            for name in repo_digests:
                self.db.execute("INSERT OR REPLACE INTO repo_digests(name, image_id) VALUES (?,?)", (name, str(image_id)))
        return self.get(image_id)

    def _tag(self, image_id: Digest, ref: Reference) -> None:
        if ref.digest is not None or not ref.tag:
            raise InvalidReference(f"refusing to create a tag with a digest reference: {ref.familiar}")
        self.db.execute("INSERT OR REPLACE INTO tags(name, image_id, tagged) VALUES (?,?,?)",
                        (str(ref), str(image_id), time.time()))

    def tag(self, image: Image, ref: Reference) -> None:
        with self.store.write_lock(), transaction(self.db):
            if self.get(image.id) is None:
                raise ImageNotFound(f"No such image: {image.id}")
            self._tag(image.id, ref)

    def untag(self, ref: Reference) -> bool:
        with self.store.write_lock(), transaction(self.db):
            return self.db.execute("DELETE FROM tags WHERE name=?", (str(ref),)).rowcount > 0

    def delete(self, image: Image, force: bool = False) -> list[Digest]:
        """Delete the image record, its names, and every layer no other image uses.

        Returns the chainIDs of deleted layers.
        """
        with self.store.write_lock():
            with transaction(self.db):
                current = self.get(image.id)
                if current is None:
                    raise ImageNotFound(f"No such image: {image.id.short}")
                if current.tags and not force:
                    raise Conflict(f"image {image.id.short} is still tagged")
                if self.containers_using(image.id):
                    raise Conflict(f"image {image.id.short} is used by a container")
                self.db.execute("DELETE FROM images WHERE id=?", (str(image.id),))
                unused = [c for c in current.chain if not self.users_of_layer(c)]
            self.store.content.delete(current.id)
            if not self.db.execute("SELECT 1 FROM images WHERE manifest=?", (str(current.manifest),)).fetchone():
                self.store.content.delete(current.manifest)
            for chain_id in unused:
                self.store.layers.remove(chain_id)
        return unused
