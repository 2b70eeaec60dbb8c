"""The seed's point: images share identical layers, so many images cost little disk."""
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest

from helpers import Berth, docker_archive, layer_tar


@pytest.fixture(scope="session")
def debian_layer(tmp_path_factory, debian_archive):
    """A real debootstrap'ed Debian (bootstrap debian, shared by the session), as its layer tar file."""
    d = tmp_path_factory.mktemp("debian")
    berth = Berth(d / "store")
    berth.run("load", "-i", debian_archive)
    doc = berth.json("inspect", "debian:bookworm")[0]
    assert doc["Config"]["Cmd"] == ["bash"]
    lower = doc["GraphDriver"]["Data"]["LowerDir"]
    assert os.path.exists(os.path.join(lower, "usr/bin/apt-get")) and os.path.exists(os.path.join(lower, "etc/debian_version"))
    with tarfile.open(debian_archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        member = manifest[0]["Layers"][0]
        out = d / "layer.tar"
        with tf.extractfile(member) as layer, open(out, "wb") as f:
            shutil.copyfileobj(layer, f, 1 << 20)
    return out


def du(path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def test_two_images_on_one_base_cost_one_base(tmp_path, debian_layer):
    base_size = os.path.getsize(debian_layer)
    assert base_size > 100_000_000
    archive = tmp_path / "two.tar"
    docker_archive(archive, [
        {"tags": ["web:1"], "layers": [debian_layer, layer_tar({"srv/": None, "srv/web": b"w" * 1_000_000})]},
        {"tags": ["worker:1"], "layers": [debian_layer, layer_tar({"srv/": None, "srv/job": b"j" * 2_000_000})]},
    ])
    berth = Berth(tmp_path / "store")
    berth.run("load", "-i", archive)
    used = du(berth.root)
    # one unpacked base + 3 MB of own layers + metadata; two copies would be > 2x base
    assert used < base_size * 1.1 + 3_000_000, (used, base_size)
    df = berth.out("system", "df", "-v")
    rows = {line.split()[0]: line for line in df.splitlines() if line.startswith(("web ", "worker "))}
    for row in rows.values():
        shared = re.split(r"\s{3,}", row)[5]
        assert shared.endswith("MB") and float(shared[:-2]) > 100
    tree = berth.out("image", "tree", "web:1")
    assert "shared with worker:1" in tree
    assert "sharing saves" in df
