"""Registry credentials: berth's own login store, then docker's config (auths, credHelpers, credsStore).

berth's store is `<root>/auth.json` in docker's config format ({"auths": {host: {"auth": base64}}}),
mode 0600 and written atomically, so `berth login` never touches docker's files. docker's
`~/.docker/config.json` (or $DOCKER_CONFIG/config.json) is read as docker reads it, including the
`docker-credential-<helper> get` protocol for credential helpers.
"""
from __future__ import annotations

import base64
import json
import os

from berth.errors import BerthError

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


def api_host(registry: str) -> str:
    """Where a registry's API lives: docker.io answers at registry-1.docker.io."""
    return "registry-1.docker.io" if registry == "docker.io" else registry


def _keys(registry: str) -> tuple[str, ...]:
    if registry in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        return DOCKER_HUB_KEYS
    return (registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v2/")


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise BerthError(f"cannot read credentials file {path}: {e}") from None
    return doc if isinstance(doc, dict) else {}


def _decode(entry: dict, where: str) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise BerthError(f"malformed auth entry in {where}") from None
        return (user, password) if sep else None
    if entry.get("username") and entry.get("password") is not None:
        return entry["username"], entry["password"]
    return None


def _from_auths(doc: dict, registry: str, where: str) -> tuple[str, str] | None:
    auths = doc.get("auths") or {}
    for key in _keys(registry):
        if key in auths:
            found = _decode(auths[key], where)
            if found:
                return found
    return None


def _from_helper(helper: str, registry: str) -> tuple[str, str] | None:
    import shutil
    import subprocess
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise BerthError(f"credential helper docker-credential-{helper} (named in docker's config) is not installed")
    for key in _keys(registry):
        proc = subprocess.run([program, "get"], input=key, capture_output=True, text=True, timeout=30)
        if proc.returncode == 0:
            try:
                doc = json.loads(proc.stdout)
                return doc["Username"], doc["Secret"]
            except (ValueError, KeyError, TypeError):
                raise BerthError(f"docker-credential-{helper} gave a malformed answer") from None
    return None


def docker_config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def lookup(berth_auth_file: str, registry: str) -> tuple[str, str] | None:
    """(user, password) for `registry`, or None for anonymous access."""
    found = _from_auths(_read_json(berth_auth_file), registry, berth_auth_file)
    if found:
        return found
    path = docker_config_path()
    doc = _read_json(path)
    helpers = doc.get("credHelpers") or {}
    for key in _keys(registry):
        if key in helpers:
            return _from_helper(helpers[key], registry)
    found = _from_auths(doc, registry, path)
    if found:
        return found
    if doc.get("credsStore"):
        return _from_helper(doc["credsStore"], registry)
    return None


def store(berth_auth_file: str, registry: str, user: str, password: str) -> None:
    from berth.store.fsutil import atomic_write, flock
    with flock(berth_auth_file + ".lock"):
        doc = _read_json(berth_auth_file)
        doc.setdefault("auths", {})[registry] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        atomic_write(berth_auth_file, json.dumps(doc, indent=2).encode(), mode=0o600)


def remove(berth_auth_file: str, registry: str) -> bool:
    from berth.store.fsutil import atomic_write, flock
    with flock(berth_auth_file + ".lock"):
        doc = _read_json(berth_auth_file)
        if registry not in doc.get("auths", {}):
            return False
        del doc["auths"][registry]
        atomic_write(berth_auth_file, json.dumps(doc, indent=2).encode(), mode=0o600)
        return True
