"""The event log: bounded, ordered by commit across processes, and part of the transaction of the
change it reports."""
import multiprocessing

import pytest

from berth.store import Store, db
from berth.store.db import transaction


def _append(root: str, writer: int, count: int, go) -> None:
    go.wait()
    store = Store(root)
    for n in range(count):
        store.events.append(("container", "start", f"{writer}", {"n": str(n)}))
    store.close()


def test_concurrent_writers_lose_nothing_and_seq_follows_the_commits(tmp_path):
    root = str(tmp_path / "s")
    log = Store(root).events
    start = log.newest()
    go = multiprocessing.get_context("fork").Event()
    writers = [multiprocessing.get_context("fork").Process(target=_append, args=(root, w, 60, go)) for w in range(4)]
    for p in writers:
        p.start()
    go.set()
    for p in writers:
        p.join(60)
        assert p.exitcode == 0
    events = log.after(start, limit=1000)
    assert len(events) == 240
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 240
    times = [e.time_ns for e in events]
    assert times == sorted(times)  # stamped inside the transaction: commit order is time order
    for writer in range(4):  # each writer's own events in its order
        mine = [int(e.attributes["n"]) for e in events if e.actor == str(writer)]
        assert mine == list(range(60))


def test_the_log_keeps_only_the_newest_events(tmp_path):
    log = Store(str(tmp_path / "s")).events
    total = db.EVENTS_KEPT * 2 + 150
    for n in range(total):
        log.append(("image", "tag", "sha256:x", {"n": str(n)}))
    kept = log.after(0, limit=10 * db.EVENTS_KEPT)
    assert db.EVENTS_KEPT <= len(kept) < db.EVENTS_KEPT + 100
    assert kept[-1].attributes["n"] == str(total - 1)
    assert [int(e.attributes["n"]) for e in kept] == list(range(total - len(kept), total))
    assert log.newest() == kept[-1].seq


def test_several_events_at_once_are_trimmed_too(tmp_path):
    log = Store(str(tmp_path / "s")).events
    for n in range(db.EVENTS_KEPT // 3 + 5):  # three at a time: crosses the trim points between appends
        log.append(*[("network", "connect", "n", {"n": str(3 * n + i)}) for i in range(3)])
    kept = log.after(0, limit=10 * db.EVENTS_KEPT)
    assert db.EVENTS_KEPT <= len(kept) < db.EVENTS_KEPT + 100


def test_an_event_rolls_back_with_its_change(tmp_path):
    store = Store(str(tmp_path / "s"))
    log = store.events
    with pytest.raises(RuntimeError):
        with transaction(store.db):
            log.append(("volume", "create", "v", {"driver": "local"}))
            raise RuntimeError("the change failed")
    assert log.after(0) == []
    log.append(("volume", "create", "v", {"driver": "local"}))
    (event,) = log.after(0)
    assert (event.type, event.action, event.actor, event.attributes) == ("volume", "create", "v", {"driver": "local"})


def test_a_store_of_the_previous_schema_gets_the_log(tmp_path):
    root = tmp_path / "s"
    Store(str(root)).close()
    conn = db.connect(str(root / "berth.db"))
    conn.execute("DROP TABLE events")
    conn.execute(f"PRAGMA user_version={db.SCHEMA_VERSION - 1}")
    conn.close()
    log = Store(str(root)).events
    log.append(("network", "create", "n1", {"name": "n", "type": "bridge"}))
    assert [e.actor for e in log.after(0)] == ["n1"]
