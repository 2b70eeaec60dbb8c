"""docker's filters for `images` (berth.filters holds the shared rules): dangling, label, before,
since and reference (docker's FamiliarMatch: a Go path.Match pattern against `name:tag`, or against
the name alone)."""
from __future__ import annotations

from berth.filters import Filters

IMAGE_KEYS = ("dangling", "label", "before", "since", "reference")


def filter_images(images: list, given: dict, service) -> list:
    """The images that pass; an image's tags are cut to those a reference filter matches."""
    from berth import pathmatch
    from berth.timefmt import parse_time
    f = Filters(given, IMAGE_KEYS)
    dangling = f.boolean("dangling")
    patterns = [pathmatch.compile_pattern(_familiar(p), doublestar=False) for p in f.values("reference")]
    before = [parse_time(service.get(ref).created) or 0 for ref in f.values("before")]
    since = [parse_time(service.get(ref).created) or 0 for ref in f.values("since")]
    out = []
    for image in images:
        if dangling is not None and dangling != (not image.tags):
            continue
        created = parse_time(image.created) or 0
        if any(created >= t for t in before) or any(created <= t for t in since):
            continue
        if "label" in f and not f.labels(service.store.images.config(image).config.get("Labels") or {}):
            continue
        if patterns:
            tags = [t for t in image.tags if any(p.fullmatch(f"{t.familiar_name}:{t.tag}") or
                                                 p.fullmatch(t.familiar_name) for p in patterns)]
            if not tags:
                continue
            image = type(image)(**{**image.__dict__, "tags": tags})
        out.append(image)
    return out


def _familiar(pattern: str) -> str:
    """A pattern that is a plain reference (docker.io/library/busybox:1) in its familiar form
    (busybox:1), which is what it is matched against."""
    from berth import pathmatch
    from berth.oci.reference import Reference
    if pathmatch.has_magic(pattern):
        return pattern
    try:
        ref = Reference.parse(pattern, default_tag=False)
    except ValueError:
        return pattern
    return ref.familiar_name + (f":{ref.tag}" if ref.tag else "")
