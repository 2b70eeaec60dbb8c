"""Resource usage from the container's cgroup (v1 hierarchies on this machine, v2 where unified)."""
from __future__ import annotations

import os
import time

V1 = "/sys/fs/cgroup"


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            value = f.read().strip()
    except OSError:
        return None
    if value == "max":
        return None
    try:
        return int(value)
    except ValueError:
        return None


def paths(group: str) -> dict[str, str]:
    """The directories of a cgroup (its path as the OCI spec gives it, /berth/ID) per controller."""
    rel = group.strip("/")
    if os.path.exists(os.path.join(V1, "cgroup.controllers")):
        base = os.path.join(V1, rel)
        return {"memory": base, "cpu": base, "pids": base, "v2": base}
    return {"memory": os.path.join(V1, "memory", rel), "cpu": os.path.join(V1, "cpuacct", rel),
            "cpu_quota": os.path.join(V1, "cpu", rel), "pids": os.path.join(V1, "pids", rel)}


def limits(group: str) -> dict:
    p = paths(group)
    if "v2" in p:
        cpu_max = open(os.path.join(p["v2"], "cpu.max")).read().split() if os.path.exists(os.path.join(p["v2"], "cpu.max")) else ["max"]
        return {"memory": _read_int(os.path.join(p["v2"], "memory.max")),
                "pids": _read_int(os.path.join(p["v2"], "pids.max")),
                "cpu_quota": None if cpu_max[0] == "max" else int(cpu_max[0]),
                "cpu_period": int(cpu_max[1]) if len(cpu_max) > 1 else None}
    return {"memory": _read_int(os.path.join(p["memory"], "memory.limit_in_bytes")),
            "pids": _read_int(os.path.join(p["pids"], "pids.max")),
            "cpu_quota": _read_int(os.path.join(p["cpu_quota"], "cpu.cfs_quota_us")),
            "cpu_period": _read_int(os.path.join(p["cpu_quota"], "cpu.cfs_period_us"))}


def _usage(p: dict) -> tuple[int, int, int]:
    if "v2" in p:
        cpu = 0
        try:
            for line in open(os.path.join(p["v2"], "cpu.stat")):
                if line.startswith("usage_usec"):
                    cpu = int(line.split()[1]) * 1000
        except OSError:
            pass
        return (cpu, _read_int(os.path.join(p["v2"], "memory.current")) or 0,
                _read_int(os.path.join(p["v2"], "pids.current")) or 0)
    return (_read_int(os.path.join(p["cpu"], "cpuacct.usage")) or 0,
            _read_int(os.path.join(p["memory"], "memory.usage_in_bytes")) or 0,
            _read_int(os.path.join(p["pids"], "pids.current")) or 0)


def sample(group: str, running: bool, interval: float = 0.2) -> dict:
    """CPU % over a short interval (100% = one CPU), memory use and limit, pid count."""
    if not running:
        return {"cpu_percent": 0.0, "memory": 0, "memory_limit": 0, "pids": 0}
    p = paths(group)
    cpu0, _, _ = _usage(p)
    t0 = time.monotonic()
    time.sleep(interval)
    cpu1, mem, pids = _usage(p)
    elapsed = time.monotonic() - t0
    limit = limits(group)["memory"]
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu_percent": max(0.0, (cpu1 - cpu0) / (elapsed * 1e9) * 100), "memory": mem,
            "memory_limit": limit if limit and limit < total else total, "pids": pids}


def oom_killed(group: str) -> bool:
    """Whether the kernel OOM-killed a process of this container: the memory cgroup's oom_kill
    counter (v1 memory.oom_control, v2 memory.events). Read it before the runtime deletes the cgroup."""
    p = paths(group)
    path = os.path.join(p["v2"], "memory.events") if "v2" in p else os.path.join(p["memory"], "memory.oom_control")
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) > 0
    except (OSError, ValueError):
        pass
    return False


def set_group_limits(group: str, memory: int | None, cpus: float | None) -> None:
    """Limits on a cgroup that holds other cgroups (a pod's): made if missing; what its children use
    together stays within them."""
    p = paths(group)
    for directory in {p["memory"], p["cpu"], p.get("cpu_quota", p["cpu"]), p["pids"]}:
        os.makedirs(directory, exist_ok=True)
    if "v2" in p:
        if memory:
            _write(os.path.join(p["v2"], "memory.max"), str(memory))
        if cpus:
            _write(os.path.join(p["v2"], "cpu.max"), f"{int(cpus * 100000)} 100000")
        return
    if memory:
        _write(os.path.join(p["memory"], "memory.limit_in_bytes"), str(memory))
    if cpus:
        _write(os.path.join(p["cpu_quota"], "cpu.cfs_period_us"), "100000")
        _write(os.path.join(p["cpu_quota"], "cpu.cfs_quota_us"), str(int(cpus * 100000)))


def remove_group(group: str) -> None:
    """Remove an (empty) cgroup in every controller; what is not there is fine."""
    for directory in set(paths(group).values()):
        try:
            os.rmdir(directory)
        except (FileNotFoundError, OSError):
            pass


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)
