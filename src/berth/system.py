"""berth as a whole: disk usage (`system df`) and `info`, in docker's shapes."""
from __future__ import annotations

import os


class SystemService:
    def __init__(self, engine):
        self.engine = engine

    def df(self) -> dict:
        """`system df`: images (with the space they share), containers (their upper dirs) and volumes."""
        from berth.store.fsutil import disk_usage
        engine = self.engine
        usage = engine.images.disk_usage()
        usage["containers"] = [{"container": c, "size": disk_usage(os.path.join(engine.store.containers.dir(c.id),
                                                                               "upper"))}
                               for c in engine.containers.list(all=True)]
        usage["volumes"] = [{"volume": v, "size": disk_usage(v["Mountpoint"]),
                             "links": len(engine.volumes.users(v["Name"]))} for v in engine.volumes.list()]
        return usage

    def info(self) -> dict:
        """docker's `info` fields that berth has an answer for (the names of GET /info)."""
        import platform
        from importlib.metadata import version
        from berth.runtime.oci import cgroup_v2_only
        engine = self.engine
        states = [c.status for c in engine.containers.list(all=True)]
        runtime = engine.containers.runtime()
        return {
            "ID": "", "Name": platform.node(), "ServerVersion": version("berth"),
            "Containers": len(states), "ContainersRunning": states.count("running"),
            "ContainersPaused": states.count("paused"),
            "ContainersStopped": len(states) - states.count("running") - states.count("paused"),
            "Images": len(engine.images.list()), "Driver": "overlay", "DockerRootDir": engine.root,
            "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if cgroup_v2_only() else "1",
            "DefaultRuntime": runtime.name, "Runtimes": {runtime.name: {"path": runtime.path}},
            "KernelVersion": platform.release(), "OperatingSystem": _os_name(), "OSType": "linux",
            "Architecture": platform.machine(), "NCPU": os.cpu_count() or 1,
            "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "SecurityOptions": ["name=seccomp,profile=builtin"],
        }


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"
