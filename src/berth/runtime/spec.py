"""The OCI runtime spec (config.json) for a container: pure data in, a dict out."""
from __future__ import annotations

import resource

from berth.record import Record
from berth.runtime import seccomp, security

# docker's default, capped at what this host allows (raising a hard limit needs CAP_SYS_RESOURCE in
# the host's user namespace, and some machines set it lower).
DEFAULT_RLIMIT_NOFILE = min(1048576, resource.getrlimit(resource.RLIMIT_NOFILE)[1])


class Mount(Record):
    destination: str
    source: str
    type: str = "bind"
    options: list[str] = []

    def to_dict(self) -> dict:
        return {"destination": self.destination, "type": self.type, "source": self.source, "options": self.options}


class ProcessSpec(Record):
    args: list[str]
    env: list[str]
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    groups: list[int] = []
    terminal: bool = False
    console_size: tuple | None = None  # (rows, columns) of the terminal the container starts with
    capabilities: list[str] = security.DEFAULT_CAPABILITIES
    no_new_privileges: bool = False

    def to_dict(self) -> dict:
        caps = list(self.capabilities)
        return {
            "terminal": self.terminal,
            **({"consoleSize": {"height": self.console_size[0], "width": self.console_size[1]}}
               if self.terminal and self.console_size else {}),
            "user": {"uid": self.uid, "gid": self.gid, **({"additionalGids": self.groups} if self.groups else {})},
            "args": self.args, "env": self.env, "cwd": self.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": DEFAULT_RLIMIT_NOFILE, "soft": DEFAULT_RLIMIT_NOFILE}],
            "noNewPrivileges": self.no_new_privileges,
        }


class Resources(Record):
    memory: int | None = None          # bytes
    memory_swap: int | None = None     # bytes, memory + swap; -1 unlimited; None: twice the memory, as docker
    cpus: float | None = None
    pids_limit: int | None = None

    def to_dict(self) -> dict:
        r: dict = {"devices": [{"allow": False, "access": "rwm"}]}
        if self.memory:
            r["memory"] = {"limit": self.memory,
                           "swap": self.memory_swap if self.memory_swap is not None else 2 * self.memory}
        if self.cpus:
            period = 100000
            r["cpu"] = {"quota": int(self.cpus * period), "period": period}
        if self.pids_limit:
            r["pids"] = {"limit": self.pids_limit}
        return r


def standard_mounts() -> list[Mount]:
    return [
        Mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        Mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        Mount("/dev/shm", "shm", "tmpfs", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        Mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        Mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        Mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
    ]


def build(process: ProcessSpec, *, hostname: str, mounts: list[Mount], readonly_rootfs: bool = False,
          network: str = "none", netns_path: str | None = None, resources: Resources | None = None,
          cgroups_path: str = "", masked: bool = True, seccomp_setting="default", domainname: str = "",
          join: dict | None = None) -> dict:
    """`seccomp_setting`: "default" (berth's profile for the process's capabilities), "unconfined"
    or a profile loaded by seccomp.from_option."""
    join = join or {}  # namespace type -> the path of one to join (a pod's)
    namespaces = [{"type": t, **({"path": join[t]} if t in join else {})}
                  for t in ("pid", "ipc", "uts", "mount", "cgroup")]
    if network != "host":
        namespaces.append({"type": "network", **({"path": netns_path} if netns_path else {})})
    linux = {
        "namespaces": namespaces,
        "resources": (resources or Resources()).to_dict(),
        "cgroupsPath": cgroups_path,
        "maskedPaths": security.MASKED_PATHS if masked else [],
        "readonlyPaths": security.READONLY_PATHS if masked else [],
    }
    if domainname:  # as a sysctl of the container's UTS namespace: runc before 1.2 ignores "domainname"
        linux["sysctl"] = {"kernel.domainname": domainname}
    filter_section = seccomp.linux_section(seccomp_setting, process.capabilities)
    if filter_section is not None:
        linux["seccomp"] = filter_section
    return {
        "ociVersion": "1.0.2",
        "process": process.to_dict(),
        "root": {"path": "rootfs", "readonly": readonly_rootfs},
        "hostname": hostname,
        "mounts": [m.to_dict() for m in standard_mounts() + mounts],
        "linux": linux,
    }
