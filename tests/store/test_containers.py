"""Container records: the exit code a removed container leaves behind for its waiters."""
import io
import os

from berth.store import Store, containers
from helpers import image_config, layer_tar


def _store_with_containers(tmp_path, *codes):
    store = Store(str(tmp_path / "s"))
    layer = store.layers.add(lambda: io.BytesIO(layer_tar({"etc/": None})), None)
    image = store.images.add(image_config([str(layer.diff_id)]), [layer])
    records = store.containers
    ids = []
    for n, code in enumerate(codes):
        cid = f"{n:x}" * 64
        records.add(cid, f"c{n}", str(image.id), {}, [])
        records.update_state(cid, status="exited", exit_code=code)
        ids.append(cid)
    return store, records, ids


def test_exit_code_outlives_the_container_while_a_waiter_holds_it(tmp_path, monkeypatch):
    store, records, (a, b, c) = _store_with_containers(tmp_path, 7, 8, 9)
    for cid in (a, b, c):
        with records.lock(cid):  # as a start, stop or removal takes it
            pass
    with records.waiting(a):
        records.remove(a)
        assert records.removed_exit_code(a) == 7
        monkeypatch.setattr(containers, "EXIT_KEPT", -1)  # from here on, every kept code is old
        records.remove(b)  # forgets the old codes nobody waits for: b's own, not a's
        assert (records.removed_exit_code(a), records.removed_exit_code(b)) == (7, None)
    records.remove(c)  # a's waiter has gone
    assert records.removed_exit_code(a) is None
    assert not [n for n in os.listdir(store.locks) if n.startswith(("wait-", "ctr-"))]


def test_exit_codes_are_kept_for_a_while_without_waiters(tmp_path):
    _, records, (a, b) = _store_with_containers(tmp_path, 3, 0)
    records.remove(a)
    records.remove(b)
    assert (records.removed_exit_code(a), records.removed_exit_code(b)) == (3, 0)
    assert records.removed_exit_code("f" * 64) is None
