"""The event stream of `berth events` and the API's GET /events: the store's event log (written by
every berth process: the CLI, the API server, the monitors' exit commands) as docker's event
messages, filtered as docker filters them, replayed between `since` and `until`, then followed.

Following polls the log (one indexed SELECT, every 10 ms while events come, backing off to 4 a
second while none do): sqlite has no change notification across processes, and a poll is cheap
next to what makes an event (starting a container).
"""
from __future__ import annotations

import time

from berth.filters import Filters

FILTER_KEYS = ("config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope",
               "secret", "service", "type", "volume")
# keys that name an actor of their type: an event passes when its actor's ID or name starts with a value
_NAMED_KEYS = ("config", "container", "daemon", "network", "node", "plugin", "secret", "service", "volume")
# actions whose text goes on (exec_create: CMD): a filter value matches them as a prefix
_PREFIXED_ACTIONS = ("exec_create", "exec_start", "health_status")
POLL_FIRST, POLL_MAX = 0.01, 0.25
_BATCH = 500


def message(event) -> dict:
    """docker's JSON of one event (API 1.44): with the legacy status, id and from of container and
    image events, in docker's key order."""
    doc: dict = {}
    if event.type in ("container", "image"):
        doc.update(status=event.action, id=event.actor)
        if event.type == "container" and event.attributes.get("image"):
            doc["from"] = event.attributes["image"]
    doc.update(Type=event.type, Action=event.action, Actor={"ID": event.actor, "Attributes": event.attributes},
               scope="local", time=event.time_ns // 1_000_000_000, timeNano=event.time_ns)
    return doc


def event_filter(given: dict | None):
    """A predicate on events for docker's events filters ({key: [values]}): values of one key are
    alternatives, keys must all hold; an unknown key is an InvalidArgument."""
    f = Filters(given, FILTER_KEYS)
    if not f.given:
        return lambda event: True
    actions = f.values("event")
    prefixed = any(a in _PREFIXED_ACTIONS for a in actions)
    types, scopes = f.values("type"), f.values("scope")
    named = [(key, tuple(f.values(key))) for key in _NAMED_KEYS if key in f]
    images = set(f.values("image"))

    def keep(event) -> bool:
        if actions and not (event.action in actions
                            or (prefixed and any(event.action.startswith(a) for a in actions))):
            return False
        if (types and event.type not in types) or (scopes and "local" not in scopes):
            return False
        name = event.attributes.get("name", "")
        for _, values in named:  # docker: any of these keys narrows every type of event, not just its own
            if not any(event.actor.startswith(v) or name.startswith(v) for v in values):
                return False
        if images:
            # image events by the image's ID or name, container events by their image, tags aside
            text = name if event.type == "image" else event.attributes.get("image", "")
            if not images & {event.actor, text, _untagged(event.actor), _untagged(text)}:
                return False
        return f.labels(event.attributes)
    return keep


def _untagged(text: str) -> str:
    """busybox:latest -> busybox, as docker compares image names in filters (anything else as given)."""
    from berth.errors import InvalidReference
    from berth.oci.reference import Reference
    try:
        return Reference.parse(text).familiar_name
    except (InvalidReference, ValueError):
        return text


class EventService:
    def __init__(self, store):
        self.log = store.events

    def stream(self, since: int | None = None, until: int | None = None, filters: dict | None = None):
        """docker's event messages (dicts), oldest first: with `since` or `until` (nanoseconds since
        the epoch) the logged ones between them first, then, until `until` (without it: for ever),
        each new one as it is logged. Yields None each time it has caught up and is about to wait: a
        consumer's chance to stop (a client that went away, an output to flush). Bad filters fail
        here, before anything is read."""
        keep = event_filter(filters)
        if since is not None and until is not None and until < since:
            from berth.errors import InvalidArgument
            raise InvalidArgument("`since` time cannot be after `until` time")
        return self._follow(since, until, keep)

    def _follow(self, since, until, keep):
        # as docker: the past only when a bound asks for it, else what comes from now on
        last = 0 if since is not None or until is not None else self.log.newest()
        delay = POLL_FIRST
        while True:
            now = time.time_ns()  # before the read: what it finds was logged by now
            batch = self.log.after(last, _BATCH)
            for event in batch:
                last = event.seq
                if (since is None or event.time_ns >= since) and (until is None or event.time_ns <= until) \
                        and keep(event):
                    yield message(event)
            if len(batch) == _BATCH:
                continue
            if until is not None and now >= until:
                return
            yield None
            if batch:
                delay = POLL_FIRST
            else:
                delay = min(delay * 2, POLL_MAX)
            time.sleep(delay if until is None else max(0.0, min(delay, (until - now) / 1e9)))
