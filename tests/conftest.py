"""Fixtures: a private store per test, with or without a busybox image; debian bootstrapped once
per session and `berth load`ed into each test's store that asks for it.

The debian bootstrap (~40-60 s) starts in the background as soon as collection shows a test needs
it, and those tests run last, so the bootstrap overlaps everything else."""
import os
import shutil
import subprocess
import tempfile

import pytest

from helpers import BERTH, Berth, mounts_under

DEBIAN_FIXTURES = {"debian", "debian_archive"}
_bootstrap: dict = {}


def _start_debian_bootstrap() -> None:
    if _bootstrap:
        return
    workdir = tempfile.mkdtemp(prefix="berth-test-debian-")
    store = os.path.join(workdir, "store")
    archive = os.path.join(workdir, "debian.tar")
    script = (f"{' '.join(BERTH)} --root {store} image bootstrap debian --suite bookworm && "
              f"{' '.join(BERTH)} --root {store} save -o {archive} debian:bookworm && rm -rf {store}")
    proc = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    _bootstrap.update(workdir=workdir, archive=archive, proc=proc)


def pytest_collection_modifyitems(session, config, items):
    needs = [i for i in items if DEBIAN_FIXTURES & set(getattr(i, "fixturenames", ()))]
    if not needs:
        return
    given = os.environ.get("BERTH_TEST_DEBIAN_ARCHIVE")
    if not (given and os.path.exists(given)):
        _start_debian_bootstrap()
    late = set(map(id, needs))
    items[:] = [i for i in items if id(i) not in late] + needs


def pytest_sessionfinish(session, exitstatus):
    if _bootstrap:
        proc = _bootstrap["proc"]
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
        workdir = _bootstrap["workdir"]
        for target in sorted(mounts_under(workdir), key=len, reverse=True):  # an interrupted debootstrap's
            subprocess.run(["umount", "-l", target], capture_output=True)
        if not mounts_under(workdir):  # never delete through a mount
            shutil.rmtree(workdir, ignore_errors=True)



@pytest.fixture
def berth(tmp_path):
    return Berth(tmp_path / "store")


@pytest.fixture
def busybox(berth):
    berth.run("image", "bootstrap", "busybox")
    return berth


@pytest.fixture(scope="session")
def debian_archive():
    """A docker-archive of `berth image bootstrap debian --suite bookworm`, made once per session.
    BERTH_TEST_DEBIAN_ARCHIVE may name one saved earlier, to skip the bootstrap."""
    given = os.environ.get("BERTH_TEST_DEBIAN_ARCHIVE")
    if given and os.path.exists(given):
        return given
    _start_debian_bootstrap()  # when collection did not (a test selected by other means)
    proc = _bootstrap["proc"]
    out, err = proc.communicate()
    if proc.returncode != 0 or not os.path.exists(_bootstrap["archive"]):
        pytest.fail(f"debian bootstrap failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return _bootstrap["archive"]


@pytest.fixture
def debian(berth, debian_archive):
    berth.run("load", "-i", debian_archive)
    return berth
