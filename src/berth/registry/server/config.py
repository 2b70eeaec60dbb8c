"""`berth registry serve --config FILE`: the serve flags as a JSON object; flags given on the
command line win over the file, the file wins over the defaults.

    {"addr": ":5000", "storage": "/srv/registry", "htpasswd": "htpasswd", "read_only": false,
     "max_upload_size": "5g", "purge_uploads_after": "72h", "ui": true, "metrics": false,
     "header_timeout": "10s", "idle_timeout": "2m", "body_timeout": 30, "max_connections": 500,
     "max_open_uploads": 16}

Relative paths in the file are relative to the file's directory, so it works from any cwd.
`checked` turns the merged settings into a ServerConfig, the one record the engine's registry server
is made from (the CLI, a systemd unit's config file, or Python all fill it the same way). Kept free
of heavy imports: the CLI loads it while parsing.
"""
from __future__ import annotations

import json
import os

from berth.errors import BerthError
from berth.record import Record


class NotGiven:
    """A serve flag's default: tells a flag left off from one set to its default, and shows the real
    default in --help."""

    def __init__(self, key: str):
        self.key = key

    def __str__(self):
        default = DEFAULTS[self.key]
        return "" if default is None or isinstance(default, bool) else str(default)

    def __repr__(self):
        return f"NotGiven({self.key!r})"

    def __bool__(self):
        return False


DEFAULTS = {"addr": "127.0.0.1:5000", "storage": None, "htpasswd": None, "auth": None, "token_policy": None,
            "token_realm": None,
            "token_issuer": "berth-token-service", "token_ttl": "5m", "tls_cert": None, "tls_key": None,
            "read_only": False, "max_upload_size": "10g", "purge_uploads_after": "168h", "ui": True,
            "metrics": True, "header_timeout": "30s", "idle_timeout": "120s", "body_timeout": "60s",
            "max_connections": None, "max_open_uploads": 64}
_TYPES = {"addr": (str,), "storage": (str,), "htpasswd": (str,), "auth": (str,), "token_policy": (str,),
          "token_issuer": (str,), "token_ttl": (str, int, float), "tls_cert": (str,), "tls_key": (str,),
          "token_realm": (str,),
          "read_only": (bool,), "max_upload_size": (str, int), "purge_uploads_after": (str, int, float),
          "ui": (bool,), "metrics": (bool,), "header_timeout": (str, int, float), "idle_timeout": (str, int, float),
          "body_timeout": (str, int, float), "max_connections": (int,), "max_open_uploads": (int,)}
_CHOICES = {"auth": ("basic", "token")}
_PATHS = ("storage", "htpasswd", "token_policy", "tls_cert", "tls_key")
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def load(path: str) -> dict:
    """The settings in the file, checked: only known keys, each of its type."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise BerthError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise BerthError(f"config file {path} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BerthError(f"config file {path} must hold a JSON object of settings")
    base = os.path.dirname(os.path.abspath(path))
    settings = {}
    for key, value in doc.items():
        if key not in _TYPES:
            raise BerthError(f"config file {path}: unknown setting {key!r} (known: {', '.join(sorted(_TYPES))})")
        types = _TYPES[key]
        # bool is an int in Python: refuse true as a size
        if value is not None and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            wanted = " or ".join(_TYPE_NAMES[t] for t in types)
            raise BerthError(f"config file {path}: setting {key!r} must be {wanted}, not {json.dumps(value)}")
        if key in _CHOICES and value is not None and value not in _CHOICES[key]:
            raise BerthError(f"config file {path}: setting {key!r} must be one of {', '.join(_CHOICES[key])}")
        if key in _PATHS and value:
            value = os.path.join(base, os.path.expanduser(value))
        settings[key] = value
    return settings


def merge(given: dict, path: str | None) -> dict:
    """Every setting: from `given` (the command line; a NotGiven where a flag was left off), else the
    file at `path`, else the default."""
    from_file = load(path) if path else {}
    out = dict(DEFAULTS)
    out.update({k: v for k, v in from_file.items() if v is not None})
    out.update({k: v for k, v in given.items() if not isinstance(v, NotGiven)})
    return out


class ServerConfig(Record):
    host: str = "127.0.0.1"
    port: int = 5000
    storage: str = None             # None: the store's registry/ directory
    auth: str = None                # None (open), basic or token
    htpasswd: str = None
    token_policy: str = None
    token_issuer: str = DEFAULTS["token_issuer"]
    token_ttl: float = 300.0
    token_realm: str = None
    tls_cert: str = None
    tls_key: str = None
    read_only: bool = False
    max_upload_size: int = None     # bytes; None: no limit
    max_open_uploads: int = 64
    purge_uploads_after: float = 168 * 3600.0
    header_timeout: float = 30.0
    idle_timeout: float = 120.0
    body_timeout: float = 60.0
    max_connections: int = None     # None: what the open-file limit allows
    ui: bool = True
    metrics: bool = True

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"


def checked(settings: dict) -> ServerConfig:
    """A ServerConfig from merged settings (merge()), refusing values and combinations that cannot work."""
    from berth.units import parse_duration, parse_size
    host, sep, port = str(settings["addr"]).rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise BerthError(f"invalid address {settings['addr']!r}: use HOST:PORT (e.g. 127.0.0.1:5000 or :5000)")
    seconds = {key: parse_duration(settings[key], f"--{key.replace('_', '-')}")
               for key in ("token_ttl", "purge_uploads_after", "header_timeout", "idle_timeout", "body_timeout")}
    for key in ("token_ttl", "header_timeout", "idle_timeout", "body_timeout"):
        if seconds[key] <= 0:
            raise BerthError(f"--{key.replace('_', '-')} must be positive")
    for key in ("max_connections", "max_open_uploads"):
        if settings[key] is not None and settings[key] < 1:
            raise BerthError(f"--{key.replace('_', '-')} must be at least 1")
    size = settings["max_upload_size"]
    if bool(settings["tls_cert"]) != bool(settings["tls_key"]):
        raise BerthError("--tls-cert and --tls-key go together")
    auth = settings["auth"] or ("basic" if settings["htpasswd"] else None)
    if auth == "basic" and not settings["htpasswd"]:
        raise BerthError("--auth basic needs --htpasswd FILE")
    if auth == "token" and not settings["token_policy"]:
        raise BerthError("--auth token needs --token-policy FILE (JSON: user -> repository pattern -> actions)")
    if settings["token_policy"] and auth != "token":
        raise BerthError("--token-policy is only used with --auth token")
    if settings["token_realm"] and auth != "token":
        raise BerthError("--token-realm is only used with --auth token")
    return ServerConfig(
        host=host.strip("[]"), port=int(port), storage=settings["storage"], auth=auth, htpasswd=settings["htpasswd"],
        token_policy=settings["token_policy"], token_issuer=settings["token_issuer"], token_realm=settings["token_realm"],
        tls_cert=settings["tls_cert"], tls_key=settings["tls_key"], read_only=settings["read_only"],
        max_upload_size=(parse_size(size, "--max-upload-size") or None) if size not in (None, "") else None,
        max_open_uploads=settings["max_open_uploads"], max_connections=settings["max_connections"],
        ui=settings["ui"], metrics=settings["metrics"], **seconds)
