"""Registry settings (<root>/registries.json): insecure registries and pull mirrors."""
from __future__ import annotations

import json
import os

from berth.engine import Engine
from client_helpers import push_files_image


def write_config(berth, doc) -> None:
    os.makedirs(berth.root, exist_ok=True)
    with open(os.path.join(berth.root, "registries.json"), "w") as f:
        json.dump(doc, f)


def test_insecure_registries_skip_tls_checks(berth):
    write_config(berth, {"insecure": ["registry.example:5000"]})
    with Engine(berth.root) as engine:
        assert engine.registries.session("registry.example:5000").tls_verify is False
        strict = engine.registries.session("other.example:5000")
        assert strict.tls_verify is True and strict.insecure is False


def test_a_mirror_serves_first_and_a_missing_one_falls_through(berth, registry, start_registry):
    origin = start_registry()
    digest, _ = push_files_image(origin.client(), "mirrored/app", "1", [{"from-origin": b"1"}])
    # the mirror has its own copy (same name) under the origin's repository name
    mirror_digest, _ = push_files_image(registry.client(), "mirrored/app", "1", [{"from-mirror": b"2"}])
    origin_host, mirror_host = f"127.0.0.1:{origin.port}", f"127.0.0.1:{registry.port}"
    write_config(berth, {"mirrors": {origin_host: ["127.0.0.1:1", mirror_host]}})  # the first is unreachable
    out = berth.out("pull", f"{origin_host}/mirrored/app:1")
    assert f"Digest: {mirror_digest}" in out
    write_config(berth, {"mirrors": {origin_host: [mirror_host]}})
    push_files_image(origin.client(), "only/origin", "1", [{"f": b"3"}])
    out = berth.out("pull", f"{origin_host}/only/origin:1")  # the mirror lacks it: the registry serves
    assert "Digest: sha256:" in out


def test_a_malformed_registries_file_is_one_clear_error(berth):
    os.makedirs(berth.root, exist_ok=True)
    with open(os.path.join(berth.root, "registries.json"), "w") as f:
        f.write('{"mirrors": [')
    err = berth.run("pull", "127.0.0.1:1/x:1", check=False)
    assert err.returncode == 1 and b"registries.json" in err.stderr and len(err.stderr.splitlines()) == 1
