"""RUN steps in real containers: output, exit status, user, network, and the layer they leave."""
from __future__ import annotations

import os
import stat

import pytest

from berth.build.run import StepRootfs, layer_from_dir
from berth.engine import Engine


@pytest.fixture
def stage(busybox):
    """(engine, lowers, parent chain) of the bootstrapped busybox image."""
    engine = Engine(busybox.root)
    image = engine.images.get("busybox")
    lowers = [engine.store.layers.diff_path(c) for c in reversed(image.chain)]
    yield engine, lowers, image.chain[-1]
    engine.close()


def test_run_output_exit_code_and_layer(stage):
    engine, lowers, parent = stage
    out = []
    with StepRootfs(engine.store, engine.containers.runtime(), lowers) as step:
        code = step.run(["sh", "-c", "echo hello; echo oops >&2; mkdir -p /app; echo data > /app/f; rm /bin/ls"],
                        env=["A=1"], output=out.append)
        assert code == 0
        layer = step.layer(parent)
    text = b"".join(out)
    assert b"hello" in text and b"oops" in text
    diff = engine.store.layers.diff_path(layer.chain_id)
    with open(os.path.join(diff, "app", "f")) as f:
        assert f.read() == "data\n"
    whiteout = os.lstat(os.path.join(diff, "bin", "ls"))  # overlay format: a 0/0 character device
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert layer.parent == parent
    # the store's busybox layer itself is untouched
    assert os.path.exists(os.path.join(lowers[0], "bin", "ls"))


def test_run_status_user_env_workdir_and_no_network(stage):
    engine, lowers, _ = stage
    runtime = engine.containers.runtime()
    with StepRootfs(engine.store, runtime, lowers) as step:
        assert step.run(["sh", "-c", "exit 3"], env=[]) == 3
    out = []
    with StepRootfs(engine.store, runtime, lowers) as step:
        step.run(["sh", "-c", "id -u; echo $GREETING; pwd; cat /proc/net/dev | tail -n +3 | cut -d: -f1"],
                 env=["GREETING=hi there"], user="nobody", workdir="/tmp", network="none", output=out.append)
    lines = [line.strip() for line in b"".join(out).decode().splitlines()]
    assert lines == ["65534", "hi there", "/tmp", "lo"]


def test_an_unchanged_step_gives_an_empty_layer_and_dirs_become_layers(stage, tmp_path):
    engine, lowers, parent = stage
    with StepRootfs(engine.store, engine.containers.runtime(), lowers) as step:
        step.run(["true"], env=[])
        layer = step.layer(parent)
    assert os.listdir(engine.store.layers.diff_path(layer.chain_id)) == []
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "app.conf").write_text("x=1\n")
    copied = layer_from_dir(engine.store, str(tmp_path), layer.chain_id, source_date_epoch=0)
    with open(os.path.join(engine.store.layers.diff_path(copied.chain_id), "etc", "app.conf")) as f:
        assert f.read() == "x=1\n"
    assert os.lstat(os.path.join(engine.store.layers.diff_path(copied.chain_id), "etc", "app.conf")).st_mtime == 0
    leftovers = [n for n in os.listdir(engine.store.tmp) if n.startswith("build-run-")]
    assert leftovers == []
