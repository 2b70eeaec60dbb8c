"""The web UI in a real browser: headless Chromium renders the pages of a registry with an image.

Skipped only when Chromium is not installed (scripts/install-deps installs Debian's `chromium`)."""
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
          "--disable-dev-shm-usage"]


def _chromium(tmp_path, *args):
    # a profile of its own per run: nothing shared with a user's browser or other runs
    out = subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.skipif(not CHROMIUM, reason="chromium not installed (scripts/install-deps installs it)")
def test_chromium_renders_the_ui(start_registry, tmp_path):
    server = start_registry()
    client = server.client()
    layers = [b"first browser layer", b"second browser layer"]
    digest, _ = client.push_image("browser/app", "v1", layers=layers)
    layer_digests = [client.get(f"/ui/r/browser/app/manifests/{digest}?format=json").json()["layers"][i]["digest"]
                     for i in range(2)]

    home = _chromium(tmp_path, "--dump-dom", f"{server.url}/")
    assert "browser/app" in home and "1 repositories" in home

    dom = _chromium(tmp_path, "--dump-dom", f"{server.url}/ui/r/browser/app/manifests/v1")
    assert "<h2>Layers (2)</h2>" in dom and digest in dom
    for layer in layer_digests:
        assert layer in dom

    shot = tmp_path / "manifest-page.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,900",
              f"{server.url}/ui/r/browser/app/manifests/v1")
    print(f"screenshot of the manifest page: {shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1280, 900)
    assert 10_000 < len(data) < 5_000_000
