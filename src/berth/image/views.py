"""The shapes users see: docker's inspect JSON, history rows, `system df`, and berth's layer tree."""
from __future__ import annotations

from berth.timefmt import parse_time


_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time, as docker writes an unset one


def inspect(store, image) -> dict:
    config = store.images.config(image)
    doc = config.doc
    out = {
        "Id": str(image.id),
        "RepoTags": [t.familiar for t in image.tags],
        "RepoDigests": [_familiar_digest(d) for d in image.repo_digests],
        "Parent": "",
        "Comment": doc.get("comment", "") or _last_comment(config),
        "Created": config.created or _ZERO_TIME,
        "DockerVersion": doc.get("docker_version", ""),
        "Author": doc.get("author", ""),
        "Config": config.config,
        "Architecture": doc.get("architecture", ""),
        "Os": doc.get("os", ""),
        "Size": image.size,
        "GraphDriver": {"Name": "overlay", "Data": {
            "LowerDir": ":".join(store.layers.diff_path(c) for c in reversed(image.chain))}},
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in config.diff_ids]},
        "Metadata": {"LastTagTime": _ZERO_TIME},  # Go clients parse it: no empty string
        "Descriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": str(image.manifest),
                       "size": len(store.images.manifest(image))},
    }
    if doc.get("variant"):
        out["Variant"] = doc["variant"]
    return out


def _last_comment(config) -> str:
    history = config.history
    return history[-1].get("comment", "") if history else ""


def _familiar_digest(name: str) -> str:
    from berth.oci.reference import Reference
    return Reference.parse(name).familiar


def history(store, image) -> list[dict]:
    """Newest first, with each layer-creating step's layer size (docker's `history` rows)."""
    config = store.images.config(image)
    layers = store.images.layers(image)
    rows, layer_index = [], 0
    for h in config.history:
        size = 0
        if not h.get("empty_layer") and layer_index < len(layers):
            size = layers[layer_index].size
            layer_index += 1
        rows.append({"created": h.get("created", ""), "created_at": parse_time(h.get("created", "")),
                     "created_by": h.get("created_by", ""), "size": size, "comment": h.get("comment", "")})
    if not config.history:  # images without history: one row per layer
        rows = [{"created": config.created, "created_at": parse_time(config.created), "created_by": "",
                 "size": layer.size, "comment": ""} for layer in layers]
    rows.reverse()
    for i, row in enumerate(rows):
        row["id"] = str(image.id) if i == 0 else "<missing>"
    return rows


def disk_usage(store) -> dict:
    """Per image SIZE / SHARED SIZE / UNIQUE SIZE as docker computes them, and the store's total."""
    images = store.images.list()
    users: dict = {}
    for image in images:
        for c in image.chain:
            users.setdefault(c, set()).add(image.id)
    sizes = {layer.chain_id: layer.size for layer in store.layers.all()}
    rows = []
    for image in images:
        shared = sum(sizes.get(c, 0) for c in set(image.chain) if len(users[c]) > 1)
        rows.append({"image": image, "size": image.size, "shared_size": shared,
                     "unique_size": image.size - shared,
                     "containers": len(store.images.containers_using(image.id))})
    total = sum(sizes.get(c, 0) for c in users)
    active = {c for r in rows if r["containers"] for c in r["image"].chain}
    return {"images": rows, "total": total, "active": sum(1 for r in rows if r["containers"]),
            "reclaimable": total - sum(sizes.get(c, 0) for c in active),
            "layers": len(users), "sum_of_image_sizes": sum(i.size for i in images)}


def tree(store, image) -> dict:
    """Each layer of `image` (base first): its size, the step that made it, the other images using it."""
    config = store.images.config(image)
    steps = [h.get("created_by", "") for h in config.history if not h.get("empty_layer")]
    layers = store.images.layers(image)
    out = []
    for i, layer in enumerate(layers):
        others = [store.images.get(i2) for i2 in store.images.users_of_layer(layer.chain_id) if i2 != image.id]
        out.append({
            "index": i + 1, "diff_id": str(layer.diff_id), "chain_id": str(layer.chain_id), "size": layer.size,
            "created_by": steps[i] if i < len(steps) else "",
            "shared_with": sorted(_display_name(o) for o in others if o is not None),
        })
    shared = sum(row["size"] for row in out if row["shared_with"])
    return {"image": image, "layers": out, "size": image.size, "shared_size": shared,
            "unique_size": image.size - shared}


def _display_name(image) -> str:
    return image.tags[0].familiar if image.tags else image.id.short
