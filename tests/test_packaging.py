"""A wheel of berth carries the per-container monitor, built and executable: containers need it and
`pip install` users never run `make setup`."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_holds_an_executable_monitor(tmp_path):
    # a copy of what the build reads: pip builds in the source tree (build/, *.egg-info)
    source = tmp_path / "source"
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info",
                                                                              "berth-monitor"))
    # no build isolation and no index: the venv's own setuptools, and no traffic off this machine
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(tmp_path), str(source)], check=True, capture_output=True,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}, cwd=tmp_path)
    (wheel,) = tmp_path.glob("berth-*.whl")
    assert not wheel.name.endswith("-none-any.whl"), "a wheel with a compiled program is platform-specific"
    with zipfile.ZipFile(wheel) as z:
        info = z.getinfo("berth/runtime/berth-monitor")
        assert (info.external_attr >> 16) & 0o111, "berth-monitor is not executable in the wheel"
        assert z.read(info)[:4] == b"\x7fELF"
