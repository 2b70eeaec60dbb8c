"""`berth registry serve --config FILE`: settings from JSON, flags win, clear errors."""
import json
import os
import subprocess

import pytest

from registry_helpers import BERTH


def _config(tmp_path, **settings):
    path = tmp_path / "conf" / "registry.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(settings))
    return path


def test_settings_from_file_and_flags_override(start_registry, tmp_path):
    # the file's addr cannot be bound; the command line's (127.0.0.1:0, from the helper) wins
    path = _config(tmp_path, addr="256.0.0.1:1", storage="data", read_only=True, ui=False,
                   max_upload_size="1k", purge_uploads_after=3600)
    server = start_registry("--config", path)
    client = server.client()
    assert os.path.isdir(tmp_path / "conf" / "data" / "blobs")  # storage from the file, relative to it
    assert client.get("/").status == 404  # "ui": false
    resp = client.request("POST", "/v2/cfg/app/blobs/uploads/")
    assert resp.status == 405 and "read-only" in resp.body.decode()
    server.stop()

    server = start_registry("--config", path, "--read-only=false", "--no-ui=false")
    client = server.client()
    assert client.get("/").status == 200
    assert client.push_blob("cfg/app", b"small") and os.path.isdir(tmp_path / "conf" / "data" / "repositories" / "cfg")
    resp = client.request("POST", "/v2/cfg/app/blobs/uploads/?digest=sha256:" + "0" * 64, body=b"x" * 2000)
    assert resp.status == 413  # max_upload_size from the file still applies


@pytest.mark.parametrize("doc, message", [
    ({"colour": "blue"}, "unknown setting 'colour'"),
    ({"read_only": "yes"}, "setting 'read_only' must be true or false"),
    ({"max_upload_size": True}, "setting 'max_upload_size' must be a string or an integer"),
    ({"auth": "magic"}, "setting 'auth' must be one of basic, token"),
    ({"addr": "nonsense"}, "invalid address 'nonsense'"),
    (["addr"], "must hold a JSON object"),
])
def test_bad_config(tmp_path, doc, message):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(doc))
    out = subprocess.run(BERTH + ["--root", str(tmp_path), "registry", "serve", "--config", str(path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_help_shows_real_defaults(tmp_path):
    out = subprocess.run(BERTH + ["--root", str(tmp_path), "registry", "serve", "--help"],
                         capture_output=True, text=True, timeout=30)
    assert "--config FILE" in out.stdout and '(default "127.0.0.1:5000")' in out.stdout
    assert '(default "168h")' in out.stdout and "NotGiven" not in out.stdout and '(default "")' not in out.stdout


def test_unreadable_config(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    for name, message in (("broken.json", "is not valid JSON"), ("missing.json", "cannot read config file")):
        out = subprocess.run(BERTH + ["--root", str(tmp_path), "registry", "serve", "--config",
                                      str(tmp_path / name)], capture_output=True, text=True, timeout=30)
        assert out.returncode == 1 and message in out.stderr, out.stderr
