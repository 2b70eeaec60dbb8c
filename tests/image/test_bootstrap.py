import os

from helpers import Berth


def test_busybox_bootstrap_is_reproducible_and_complete(tmp_path):
    a, b = Berth(tmp_path / "a"), Berth(tmp_path / "b")
    out = a.out("image", "bootstrap", "busybox").split()
    assert out[0] == "busybox:latest"
    b.run("image", "bootstrap", "busybox", "mybox:1")
    assert a.json("inspect", "busybox")[0]["Id"] == b.json("inspect", "mybox:1")[0]["Id"]
    doc = a.json("inspect", "busybox")[0]
    assert doc["Config"]["Cmd"] == ["sh"] and any(e.startswith("PATH=") for e in doc["Config"]["Env"])
    diff = doc["GraphDriver"]["Data"]["LowerDir"]
    assert os.readlink(os.path.join(diff, "bin/sh")) == "busybox"
    assert os.stat(os.path.join(diff, "tmp")).st_mode & 0o1777 == 0o1777
    with open(os.path.join(diff, "etc/passwd")) as f:
        assert f.readline().startswith("root:x:0:0:")


def test_unknown_kind_is_a_usage_error(berth):
    p = berth.run("image", "bootstrap", "alpine", check=False)
    assert p.returncode == 125 and b"alpine" in p.stderr and len(p.stderr.splitlines()) == 1
