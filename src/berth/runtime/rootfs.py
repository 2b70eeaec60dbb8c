"""A container's root filesystem: overlayfs of the image's shared layers plus a private upper dir."""
from __future__ import annotations

import errno
import os

from berth import libc
from berth.errors import BerthError

MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8  # never unmount where a symlink points
MAX_MOUNT_DATA = 4000  # the kernel copies at most one page of mount options


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str = "") -> None:
    try:
        libc.mount(source, target, fstype, flags, data)
    except OSError as e:
        raise BerthError(f"mount {fstype or source} on {target}: {e.strerror}") from None


def mount_overlay(lowers: list[str], upper: str, work: str, target: str, volatile: bool = False) -> None:
    """Mount lowers (top first) with upper/work at target. `volatile` (for a container whose upper
    dir is thrown away with it) skips overlayfs's syncs of the upper dir, unmount included."""
    if not lowers:
        raise BerthError("an image needs at least one layer to run")
    data = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    if len(data) > MAX_MOUNT_DATA:
        raise BerthError(f"too many layers to mount ({len(lowers)}): overlay options exceed one page")
    if volatile:
        try:
            return mount("overlay", target, "overlay", 0, data + ",volatile")
        except BerthError:  # kernels before 5.10 have no volatile mode
            pass
    mount("overlay", target, "overlay", 0, data)


def unmount(target: str) -> None:
    """Unmount target if it is a mount point. The kernel says so (EINVAL otherwise): os.path.ismount
    cannot see a bind mount from the same filesystem, as a FROM scratch build step makes."""
    try:
        libc.umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):
            raise BerthError(f"unmount {target}: {e.strerror}") from None


def is_mounted(target: str) -> bool:
    return os.path.ismount(target)


# docker's and podman's answer when the host has no name server a container can reach
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
SYSTEMD_RESOLV = "/run/systemd/resolve/resolv.conf"  # the upstream servers behind resolved's 127.0.0.53


def _nameserver(line: str) -> str | None:
    words = line.split()
    return words[1] if words[:1] == ["nameserver"] and len(words) > 1 else None


def namespaced_resolv(host: str, upstream: str = "") -> str:
    """resolv.conf for a container in its own network namespace, where the host's loopback name
    servers cannot be reached: those are dropped; if none is left, systemd-resolved's `upstream`
    servers are used, and failing those the public fallback, as docker does."""
    def reachable(text):
        return [line for line in text.splitlines(keepends=True)
                if not (_nameserver(line) or "").startswith(("127.", "::1"))]
    lines = reachable(host)
    if not any(_nameserver(line) for line in lines) and upstream:
        lines = reachable(upstream)
    if not any(_nameserver(line) for line in lines):
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines += [f"nameserver {ip}\n" for ip in FALLBACK_NAMESERVERS]
    return "".join(lines)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def etc_mounts(bundle: str, hostname: str, network: str, read_only: bool = False, address: str = "",
               resolv: str | None = None, extra_hosts: list[tuple[str, str]] = (), address6: str = "") -> list:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf written into the bundle and bind-mounted over
    the image's: the host's resolver for --network host, namespaced_resolv's for bridge, none for
    none, unless `resolv` is given; `extra_hosts` (name, address) go into /etc/hosts (--add-host)."""
    from berth.runtime.spec import Mount
    if resolv is None:
        resolv = read_host_resolv(network)
    files = {"hostname": f"{hostname}\n",
             "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                      f"{address or '127.0.1.1'}\t{hostname}\n" + (f"{address6}\t{hostname}\n" if address6 else "")
                      + "".join(f"{ip}\t{name}\n" for name, ip in extra_hosts),
             "resolv.conf": resolv}
    mounts = []
    for name, content in files.items():
        path = os.path.join(bundle, name)
        with open(path, "w") as f:
            f.write(content)
        os.chmod(path, 0o644)
        mounts.append(Mount(f"/etc/{name}", path, "bind", ["rbind", "rprivate"] + (["ro"] if read_only else [])))
    return mounts


def read_host_resolv(network: str) -> str:
    """The host's resolv.conf as a container with this network mode sees it (see etc_mounts)."""
    if network == "host":
        return _read("/etc/resolv.conf")
    if network == "bridge":
        return namespaced_resolv(_read("/etc/resolv.conf"), _read(SYSTEMD_RESOLV))
    return ""


def resolv_conf(base: str, nameservers: list[str] = (), search: list[str] = (), options: list[str] = ()) -> str:
    """docker's --dns, --dns-search, --dns-option over a resolv.conf: each replaces the lines of its kind."""
    kept = [line for line in base.splitlines()
            if not ((nameservers and _nameserver(line)) or (search and line.split()[:1] in (["search"], ["domain"]))
                    or (options and line.split()[:1] == ["options"]))]
    kept += [f"nameserver {n}" for n in nameservers]
    if search:
        kept.append("search " + " ".join(search))
    if options:
        kept.append("options " + " ".join(options))
    return "".join(line + "\n" for line in kept)
