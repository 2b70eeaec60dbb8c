"""Client tests share client_helpers.py, next to this file."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def distribution(tmp_path_factory):
    """Debian's docker-registry (CNCF distribution) on a free port of 127.0.0.1, started for these tests."""
    if not shutil.which("docker-registry"):
        pytest.skip("docker-registry is not installed (../shared/peers/setup)")
    root = tmp_path_factory.mktemp("distribution")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {root / 'data'}}}\n"
                      f"  delete: {{enabled: true}}\nhttp: {{addr: 127.0.0.1:{port}}}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("docker-registry did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()
