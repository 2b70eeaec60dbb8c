"""Building image configs for images berth makes itself (import, bootstrap, commit)."""
from __future__ import annotations

import json

from berth.oci.platform import Platform

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def rfc3339(ts: float | None = None) -> str:
    import datetime as _dt  # here: `berth run` reads DEFAULT_PATH from this module, and never a time
    t = _dt.datetime.now(_dt.timezone.utc) if ts is None else _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def parse_time(text: str) -> float | None:
    """RFC 3339 (Go writes nanoseconds; Python 3.11 truncates them) -> epoch seconds."""
    import datetime as _dt
    try:
        t = _dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return (t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)).timestamp()


def new_config(diff_ids, *, cmd=None, env=None, created=None, created_by="", comment="",
               history_created=None) -> bytes:
    platform = Platform.host()
    created = created or rfc3339()
    doc = {
        "architecture": platform.architecture,
        "os": platform.os,
        "created": created,
        "config": {"Env": env if env is not None else [DEFAULT_PATH]},
        "rootfs": {"type": "layers", "diff_ids": [str(d) for d in diff_ids]},
        "history": [{"created": history_created or created, "created_by": created_by,
                     **({"comment": comment} if comment else {})}],
    }
    if platform.variant:
        doc["variant"] = platform.variant
    if cmd:
        doc["config"]["Cmd"] = cmd
    return json.dumps(doc, separators=(",", ":")).encode()
