"""examples/four-ways: the seed's four ways to make an image build, run, and order by size."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "four-ways")


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("cc"), reason="ways 1 and 2 compile on the host: needs cc")
def test_four_ways(debian, tmp_path):
    debian.run("image", "bootstrap", "busybox")
    env = {**os.environ, "BERTH": f"{sys.executable} -m berth --root {debian.root}"}
    proc = subprocess.run([os.path.join(EXAMPLE, "build.sh")], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("hello from a four-ways build") == 4
    size = {way: debian.json("image", "inspect", f"four-ways/{way}:1")[0]["Size"]
            for way in ("basic", "slim", "in-container", "multi-stage")}
    assert size["in-container"] > size["basic"] > size["multi-stage"]
    assert abs(size["multi-stage"] - size["slim"]) < 1_000_000, size  # both: busybox + one static binary
    assert debian.run("run", "--rm", "four-ways/multi-stage:1", "ls", "/usr/bin/gcc", check=False).returncode != 0
    assert debian.run("run", "--rm", "four-ways/in-container:1", "ls", "/usr/bin/gcc", check=False).returncode == 0
    assert not os.path.exists(os.path.join(EXAMPLE, "hello"))  # the host-built binary is not left behind
