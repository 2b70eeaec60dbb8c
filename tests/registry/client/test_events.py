"""Pull and push in the event log, as docker logs them: by the reference, named by its repository."""
from __future__ import annotations

import time

from helpers import Berth


def _events(store: Berth, since: float, *args) -> list[dict]:
    return store.jsonlines("events", "--since", f"{since:.9f}", "--until", f"{time.time():.9f}", "--format", "json",
                           "--filter", "type=image", *args)


def test_push_and_pull_are_logged(busybox, registry, tmp_path):
    remote = f"127.0.0.1:{registry.port}/logged/busybox:1"
    since = time.time()
    busybox.run("push", "busybox", remote)
    (push,) = _events(busybox, since)
    assert (push["Action"], push["Actor"]["ID"], push["Actor"]["Attributes"]["name"]) == \
        ("push", remote, f"127.0.0.1:{registry.port}/logged/busybox")
    other = Berth(tmp_path / "other")
    other.run("pull", remote)
    (pull,) = _events(other, since)
    assert (pull["Action"], pull["status"], pull["Actor"]["ID"], pull["Actor"]["Attributes"]["name"]) == \
        ("pull", "pull", remote, f"127.0.0.1:{registry.port}/logged/busybox")
