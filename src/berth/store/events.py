"""The event log: what happened to containers, images, volumes and networks, whichever berth process
did it (a CLI command, the API server, a monitor's exit command), for `berth events` and the API's
GET /events.

One table of berth.db. Writers append in the transaction of the change they report where there is
one (`db.append_events`); sqlite lets one writer commit at a time, so `seq` numbers events in the
order they became visible, and a reader that remembers the last `seq` it saw misses nothing that
commits later. The log keeps the newest db.EVENTS_KEPT events: older ones are trimmed as new ones
come, so it never grows without bound.
"""
from __future__ import annotations

from berth import cjson
from berth.record import Record
from berth.store.db import EVENTS_KEPT, append_events

__all__ = ["EVENTS_KEPT", "Event", "EventLog"]


class Event(Record):
    seq: int
    time_ns: int
    type: str
    action: str
    actor: str
    attributes: dict


class EventLog:
    def __init__(self, store):
        self.db = store.db

    def append(self, *events: tuple[str, str, str, dict]) -> None:
        """(type, action, actor ID, attributes) events, in the caller's transaction if one is open."""
        append_events(self.db, events)

    def newest(self) -> int:
        """The seq of the newest event (0: none yet): a follower starts after it."""
        row = self.db.execute("SELECT MAX(seq) FROM events").fetchone()
        return row[0] or 0

    def after(self, seq: int, limit: int = 500) -> list[Event]:
        """Up to `limit` events that came after `seq`, oldest first."""
        rows = self.db.execute("SELECT seq, time_ns, type, action, actor, attributes FROM events "
                               "WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
        return [Event(r[0], r[1], r[2], r[3], r[4], _attributes(r[5])) for r in rows]


def _attributes(text: str) -> dict:
    try:
        doc = cjson.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}
