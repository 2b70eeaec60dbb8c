"""RUN --mount: the Mount record and the parsing and checks of one --mount value, as BuildKit does
them (before and after the value's variables are expanded)."""
from __future__ import annotations

import csv
import re
from typing import Callable

from berth.dockerfile.errors import Problem
from berth.record import Record

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")


class Mount(Record):
    """One `RUN --mount=...`. Defaults follow BuildKit: bind and secret/ssh read-only, cache
    and tmpfs writable, cache sharing `shared`. Numbers stay None when not given."""
    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    id: str = ""
    sharing: str = ""
    readonly: bool = True
    required: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: str = ""
    env: str | None = None


_MOUNT_KEYS = ("type", "from", "source", "src", "target", "dst", "destination", "ro", "readonly",
               "rw", "readwrite", "required", "id", "sharing", "mode", "uid", "gid", "size", "env")


def parse_mount(text: str, expand: Callable[[str], str] | None = None) -> Mount:
    """One --mount value (`type=cache,target=/x,sharing=locked,...`, CSV quoting allowed).

    Without `expand` (parse time) values are taken as written and, when any contains a `$`, only
    the keys are checked (the values are checked again after expansion); `from` may not use
    variables at all, as in BuildKit. Raises Problem."""
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error as e:
        raise Problem(f"invalid mount {text!r}: {e}") from None
    validate = expand is not None or "$" not in text
    mount = Mount()
    readonly: bool | None = None
    required = False
    for field in fields:
        key, has_value, value = field.partition("=")
        key = key.lower()
        if not has_value:
            if not field:
                continue
            if key in ("ro", "readonly"):
                readonly = True
            elif key in ("rw", "readwrite"):
                readonly = False
            elif key == "required":
                required = True
            else:
                raise Problem(f"invalid field '{field}' must be a key=value pair")
            continue
        if key not in _MOUNT_KEYS:
            raise Problem(f"unexpected key '{key}' in '{field}'")
        if expand is not None:
            value = expand(value)
        elif key == "from" and re.search(r"\$.", value):
            raise Problem(f"'{field}' doesn't support variable expansion, define alias stage instead")
        if key == "type":
            mount.type = value.lower() if validate else value
            if validate and mount.type not in MOUNT_TYPES:
                raise Problem(f'unsupported mount type "{value}"')
        elif key == "from":
            mount.from_ = value
        elif key in ("source", "src"):
            mount.source = value
        elif key in ("target", "dst", "destination"):
            mount.target = value
        elif key in ("ro", "readonly", "rw", "readwrite", "required"):
            flag = _go_bool(value, key) if validate else True
            if key == "required":
                required = flag
            else:
                readonly = flag if key in ("ro", "readonly") else not flag
        elif key == "id":
            mount.id = value
        elif key == "sharing":
            mount.sharing = value.lower()
            if validate and mount.sharing not in ("shared", "private", "locked"):
                raise Problem(f'unsupported sharing value "{value}"')
        elif key in ("mode", "uid", "gid"):
            if validate:
                base = 8 if key == "mode" else 10
                try:
                    number = int(value, base)
                    if number < 0 or number >= 2**32 or not value.isdigit():
                        raise ValueError
                except ValueError:
                    raise Problem(f"invalid value {value!r} for {key}") from None
                setattr(mount, key, number)
        elif key == "size":
            mount.size = value
        elif key == "env":
            mount.env = value
    if not validate:
        return mount
    kind = mount.type
    if required and kind not in ("secret", "ssh"):
        raise Problem(f"unexpected key 'required' for mount type '{kind}'")
    mount.required = required
    if kind not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if getattr(mount, key) is not None:
                raise Problem(f'{key} not allowed for "{kind}" type mounts')
    if mount.sharing and kind != "cache":
        raise Problem(f"invalid cache sharing set for {kind} mount")
    if kind == "cache" and not mount.sharing:
        mount.sharing = "shared"
    if kind == "secret" and mount.from_:
        raise Problem("secret mount should not have a from")
    if kind in ("bind", "cache", "tmpfs") and not mount.target:
        raise Problem(f"mount type={kind} requires a target")
    mount.readonly = readonly if readonly is not None else kind not in ("cache", "tmpfs")
    return mount


def _go_bool(value: str, key: str) -> bool:
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise Problem(f"invalid value for {key}: {value}")
