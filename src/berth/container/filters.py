"""docker's filters for `ps` and `volume ls` (berth.filters holds the shared rules)."""
from __future__ import annotations

from berth.errors import InvalidArgument
from berth.filters import Filters

STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
CONTAINER_KEYS = ("status", "name", "id", "label", "ancestor", "exited", "volume", "health")
HEALTH = ("starting", "healthy", "unhealthy", "none")
VOLUME_KEYS = ("name", "dangling", "label", "driver")


def container_filter(given: dict, images, health_status=None):
    """(a test for a container, whether stopped ones are listed too). name and id are searched in the
    name and the full ID; ancestor is an image or any image made from it; volume is a volume's name,
    a bind's host path or where it is mounted; health is `health_status(c)` (starting, healthy,
    unhealthy, or none for a container without checks)."""
    f = Filters(given, CONTAINER_KEYS)
    for value in f.values("status"):
        if value not in STATES:
            raise InvalidArgument(f"invalid filter 'status={value}'")
    for value in f.values("health"):
        if value not in HEALTH:
            raise InvalidArgument(f"Unrecognized filter value for health: {value}")
    codes = set()
    for value in f.values("exited"):
        try:
            codes.add(int(value))
        except ValueError:
            raise InvalidArgument(f"invalid filter 'exited={value}': not a number") from None
    ancestors = []  # the chains of the images named: an image made from one starts with its chain
    for ref in f.values("ancestor"):
        try:
            ancestors.append(images.get(ref).chain)
        except LookupError:
            pass
    chains: dict = {}

    def descends(c) -> bool:
        if c.image_id not in chains:
            try:
                chains[c.image_id] = images.get(c.image_id).chain
            except LookupError:
                chains[c.image_id] = None
        chain = chains[c.image_id]
        return chain is not None and any(chain[:len(a)] == a for a in ancestors)

    def keep(c) -> bool:
        if not (f.search("name", c.name, "/" + c.name) and f.search("id", c.id) and f.labels(c.config["labels"])):
            return False
        if "status" in f and c.status not in f.values("status"):
            return False
        if codes and not (c.status == "exited" and c.state["started_at"] and c.state["exit_code"] in codes):
            return False
        volumes = f.values("volume")
        if volumes and not any(m["target"] in volumes or (m["source"] and m["source"] in volumes)
                               for m in c.config["mounts"]):
            return False
        if "health" in f and health_status(c) not in f.values("health"):
            return False
        return "ancestor" not in f or descends(c)
    return keep, "status" in f


def volume_filter(given: dict, users):
    """A test for a volume document; `users(name)` lists the containers that use it (dangling)."""
    f = Filters(given, VOLUME_KEYS)
    dangling = f.boolean("dangling")

    def keep(v) -> bool:
        if not (f.labels(v["Labels"] or {}) and f.search("name", v["Name"])):
            return False
        if "driver" in f and v["Driver"] not in f.values("driver"):
            return False
        return dangling is None or dangling == (not users(v["Name"]))
    return keep
