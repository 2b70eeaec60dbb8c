"""Image events as docker logs them: import, tag, save, load, untag, delete, prune; by the image's ID,
with its labels and a name."""
import os
import time

import pytest

from helpers import Berth

BUSYBOX_TAR = "/var/tmp/berth-peers/busybox.tar"


@pytest.fixture
def store(tmp_path):
    if not os.path.exists(BUSYBOX_TAR):
        pytest.skip(f"{BUSYBOX_TAR} is missing (../shared/peers/setup --fixtures)")
    return Berth(tmp_path / "store")


def _shown(store, since: float) -> list[tuple]:
    return [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"].get("name"))
            for e in store.jsonlines("events", "--since", f"{since:.9f}", "--until", f"{time.time():.9f}",
                                     "--format", "json", "--filter", "type=image")]


def test_an_image_s_life_in_events(store, tmp_path):
    since = time.time()
    store.run("import", BUSYBOX_TAR, "box:1")
    image_id = store.json("image", "inspect", "box:1")[0]["Id"]
    store.run("tag", "box:1", "box:2")
    archive = tmp_path / "box.tar"
    store.run("save", "-o", archive, "box:1")
    store.run("rmi", "box:2")
    store.run("rmi", "box:1")
    store.run("load", "-i", archive)
    store.run("rmi", "box:1")
    assert _shown(store, since) == [("import", image_id, image_id), ("tag", image_id, "box:2"),
                                    ("save", image_id, image_id), ("untag", image_id, image_id),
                                    ("untag", image_id, image_id), ("delete", image_id, image_id),
                                    ("load", image_id, image_id), ("untag", image_id, image_id),
                                    ("delete", image_id, image_id)]


def test_a_build_logs_its_tags_with_the_image_s_labels(store, tmp_path):
    store.run("import", BUSYBOX_TAR, "box:1")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM box:1\nLABEL team=infra\n")
    since = time.time()
    store.run("build", "-q", "-t", "built:1", "-t", "built:2", tmp_path / "ctx")
    image_id = store.json("image", "inspect", "built:1")[0]["Id"]
    tagged = store.jsonlines("events", "--since", f"{since:.9f}", "--until", f"{time.time():.9f}", "--format",
                             "json", "--filter", "event=tag")
    assert [(e["Actor"]["ID"], e["Actor"]["Attributes"]) for e in tagged] == [
        (image_id, {"name": "built:1", "team": "infra"}), (image_id, {"name": "built:2", "team": "infra"})]


def test_prune_is_logged_with_what_it_reclaimed(store):
    store.run("import", BUSYBOX_TAR)  # no name: dangling
    since = time.time()
    store.run("image", "prune", "-f")
    shown = store.jsonlines("events", "--since", f"{since:.9f}", "--until", f"{time.time():.9f}", "--format",
                            "json", "--filter", "type=image")
    assert [e["Action"] for e in shown] == ["delete", "prune"]
    assert int(shown[-1]["Actor"]["Attributes"]["reclaimed"]) > 0 and shown[-1]["Actor"]["ID"] == ""
