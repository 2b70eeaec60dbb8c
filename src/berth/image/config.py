"""Building image configs for images berth makes itself (import, bootstrap, commit)."""
from __future__ import annotations

from berth import cjson
from berth.oci.platform import Platform
from berth.timefmt import rfc3339

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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
    return cjson.dumps(doc, separators=(",", ":")).encode()
