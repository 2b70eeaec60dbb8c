"""Users and groups by name in a rootfs's own /etc/passwd and /etc/group, read safely: `-u`/USER
for a container or a RUN step, --chown for COPY/ADD."""
from __future__ import annotations

from berth.archive import securefs
from berth.errors import BerthError

MAX_DB = 1 << 20


def _read_in_root(rootfs: str, path: str) -> str:
    try:
        data = securefs.read_in_root(rootfs, path, MAX_DB)
    except OSError:
        return ""
    return (data or b"").decode("utf-8", "replace")


def _entries(text: str):
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and not line.startswith("#"):
            yield parts


def resolve(rootfs: str, spec: str) -> tuple[int, int, list[int], str]:
    """Returns (uid, gid, supplementary gids, home). The supplementary gids are docker's: the
    primary gid first, then the groups of /etc/group that list the user by name."""
    user, _, group = (spec or "0").partition(":")
    passwd = _read_in_root(rootfs, "/etc/passwd")
    groups = _read_in_root(rootfs, "/etc/group")
    uid = gid = None
    home, username = "/", None
    for parts in _entries(passwd):
        if parts[0] == user or (user.isdigit() and parts[2] == user):
            uid, gid, username = int(parts[2]), int(parts[3]), parts[0]
            home = parts[5] if len(parts) > 5 and parts[5] else "/"
            break
    if uid is None:
        if not user.isdigit():
            raise BerthError(f"unable to find user {user}: no matching entries in passwd file")
        uid, gid = int(user), 0
    if group:
        gid = None
        for parts in _entries(groups):
            if parts[0] == group or (group.isdigit() and parts[2] == group):
                gid = int(parts[2])
                break
        if gid is None:
            if not group.isdigit():
                raise BerthError(f"unable to find group {group}: no matching entries in group file")
            gid = int(group)
    # as docker: the primary group, and unless -u names a group, every group that lists the user
    extra = [gid]
    if username and not group:
        for parts in _entries(groups):
            members = parts[3].split(",") if parts[3] else []
            if username in members and parts[2].isdigit() and int(parts[2]) not in extra:
                extra.append(int(parts[2]))
    return uid, gid, extra, home


def chown_ids(rootfs: str, spec: str) -> tuple[int, int]:
    """--chown's USER[:GROUP] as numeric ids, names looked up in the stage's own files. Unlike USER
    at run time, a user without a group gets the GID equal to its UID (the Dockerfile reference)."""
    def lookup(name: str, path: str, what: str) -> int:
        if name.isdigit():
            return int(name)
        for parts in _entries(_read_in_root(rootfs, path)):
            if parts[0] == name and parts[2].isdigit():
                return int(parts[2])
        raise BerthError(f"unable to find {what} {name}: no matching entries in {path}")
    user, _, group = spec.partition(":")
    uid = lookup(user, "/etc/passwd", "user")
    return uid, lookup(group, "/etc/group", "group") if group else uid
