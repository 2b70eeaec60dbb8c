"""docker's event messages and filters (berth.events), over a real store's log; and the follower's ends."""
import threading
import time

import pytest

from berth.errors import InvalidArgument
from berth.events import EventService, event_filter, message
from berth.store import Store
from berth.store.events import Event

CID = "c0ffee" + "0" * 58


def _event(kind="container", action="start", actor=CID, **attributes) -> Event:
    return Event(1, 1_700_000_000_123_456_789, kind, action, actor, attributes)


def test_message_is_docker_s_with_the_legacy_fields_where_docker_has_them():
    doc = message(_event(image="busybox", name="web"))
    assert list(doc) == ["status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert (doc["status"], doc["id"], doc["from"], doc["time"]) == ("start", CID, "busybox", 1_700_000_000)
    image = message(_event("image", "tag", "sha256:ab", name="app:1"))
    assert (image["status"], image["id"], "from" in image) == ("tag", "sha256:ab", False)
    volume = message(_event("volume", "create", "v", driver="local"))
    assert list(volume) == ["Type", "Action", "Actor", "scope", "time", "timeNano"]


@pytest.mark.parametrize("filters, kept", [
    ({"event": ["start"]}, True),
    ({"event": ["stop", "start"]}, True),
    ({"event": ["sta"]}, False),                      # exact, as docker
    ({"type": ["container"], "event": ["start"]}, True),
    ({"type": ["image"]}, False),
    ({"container": ["web"]}, True),
    ({"container": ["we"]}, True),                    # names and IDs by prefix, as docker
    ({"container": ["c0ffee"]}, True),
    ({"container": ["db", "web"]}, True),
    ({"container": ["db"]}, False),
    ({"network": ["web"]}, True),                     # docker checks every named key against any actor
    ({"label": ["tier=front"]}, True),
    ({"label": ["tier"]}, True),
    ({"label": ["tier=back"]}, False),
    ({"label": ["tier=front", "other"]}, False),      # each label must hold
    ({"image": ["busybox"]}, True),
    ({"image": ["busybox:latest"]}, True),
    ({"image": ["alpine"]}, False),
    ({"scope": ["local"]}, True),
    ({"scope": ["swarm"]}, False),
])
def test_filters_of_a_container_event(filters, kept):
    event = _event(image="busybox:latest", name="web", tier="front")
    assert event_filter(filters)(event) is kept


def test_filters_of_image_and_exec_events():
    tag = _event("image", "tag", "sha256:ab", name="app:1")
    assert event_filter({"image": ["app"]})(tag) and event_filter({"image": ["sha256:ab"]})(tag)
    assert not event_filter({"image": ["other"]})(tag)
    assert not event_filter({"container": ["web"]})(tag)
    exec_start = _event(action="exec_start: sh -c true", name="web", image="busybox")
    assert event_filter({"event": ["exec_start"]})(exec_start)  # the command goes on after the colon
    assert not event_filter({"event": ["exec_create"]})(exec_start)
    assert event_filter({})(exec_start) and event_filter(None)(exec_start)


def test_unknown_filter_keys_are_refused():
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        event_filter({"colour": ["red"]})


def test_the_stream_checks_before_it_reads(tmp_path):
    service = EventService(Store(str(tmp_path / "s")))
    with pytest.raises(InvalidArgument):
        service.stream(filters={"nope": ["x"]})
    with pytest.raises(InvalidArgument, match="cannot be after"):
        service.stream(since=2, until=1)


def test_a_follower_waits_for_new_events_and_ends_at_until(tmp_path):
    store = Store(str(tmp_path / "s"))
    store.events.append(("volume", "create", "before", {}))
    service = EventService(store)
    until = time.time_ns() + 3_000_000_000
    seen, ended = [], threading.Event()

    def follow():
        for doc in service.stream(until=until):  # no since: the past of the log too (until asks for it)
            if doc is not None:
                seen.append(doc["Actor"]["ID"])
        ended.set()
    threading.Thread(target=follow, daemon=True).start()
    writer = Store(str(tmp_path / "s"))  # another connection, as another process
    deadline = time.monotonic() + 10
    while "before" not in seen:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    writer.events.append(("volume", "create", "during", {}))
    in_time = time.time_ns() < until  # (3 s after the start: unless the machine stalled that long)
    assert ended.wait(10)
    assert seen == (["before", "during"] if in_time else seen[:2]) and seen[0] == "before"
    assert time.time_ns() >= until


def test_without_bounds_a_follower_starts_at_the_newest(tmp_path):
    store = Store(str(tmp_path / "s"))
    store.events.append(("volume", "create", "old", {}))
    stream = EventService(store).stream()
    assert next(stream) is None  # caught up: nothing of the past
    store.events.append(("volume", "create", "new", {}))
    item = next(stream)
    while item is None:
        item = next(stream)
    assert item["Actor"]["ID"] == "new"


def test_the_builtin_network_ids_run_writes_are_the_network_service_s():
    from berth.container.service import _BUILTIN_NETWORK_IDS
    from berth.network.service import builtin_id
    assert _BUILTIN_NETWORK_IDS == {name: builtin_id(name) for name in ("none", "host")}
