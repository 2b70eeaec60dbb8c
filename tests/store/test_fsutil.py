"""Staging directories under concurrent recovery: another process sweeping tmp/ for a dead owner's
leftovers never removes a directory whose owner is alive, however the two interleave."""
from __future__ import annotations

import multiprocessing
import os


def _owner(tmp: str, rounds: int, lost) -> None:
    from berth.store import fsutil
    for _ in range(rounds):
        staging = fsutil.Staging(tmp, "race-")
        try:
            with open(os.path.join(staging.path, "data"), "w") as f:  # fails if a sweep removed it
                f.write("x")
        except FileNotFoundError:
            lost.value += 1
        staging.cleanup()


def _sweeper(tmp: str, stop) -> None:
    from berth.store import fsutil
    while not stop.is_set():
        fsutil.remove_stale_staging(tmp)


def test_recovery_never_removes_a_live_staging_directory(tmp_path):
    ctx = multiprocessing.get_context("fork")
    lost, stop = ctx.Value("i", 0), ctx.Event()
    sweepers = [ctx.Process(target=_sweeper, args=(str(tmp_path), stop)) for _ in range(2)]
    owners = [ctx.Process(target=_owner, args=(str(tmp_path), 300, lost)) for _ in range(3)]
    for p in sweepers + owners:
        p.start()
    for p in owners:
        p.join(120)
    stop.set()
    for p in sweepers:
        p.join(30)
    assert all(p.exitcode == 0 for p in owners + sweepers)
    assert lost.value == 0
    assert os.listdir(tmp_path) == []
