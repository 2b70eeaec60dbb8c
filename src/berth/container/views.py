"""docker's `inspect` and `ps` shapes for containers."""
from __future__ import annotations

import datetime as _dt
import os

from berth.container.spec import recorded_entrypoint


def iso(ts: float | None) -> str:
    if not ts:
        return "0001-01-01T00:00:00Z"
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inspect(service, c) -> dict:
    cfg, st = c.config, c.state
    bundle = service.records.dir(c.id)
    mounts = []
    for m in cfg["mounts"]:
        entry = {"Type": m["type"], "Destination": m["target"], "RW": not m["readonly"],
                 "Propagation": m.get("propagation") or ("rprivate" if m["type"] != "tmpfs" else "")}
        if m["type"] == "volume":
            entry.update(Name=m["source"], Source=service.volumes.path(m["source"]), Driver="local", Mode="z")
        elif m["type"] == "bind":
            entry.update(Source=m["source"], Mode="")
        else:
            entry.update(Source="", Mode="")
        mounts.append(entry)
    res = cfg["resources"]
    return {
        "Id": c.id,
        "Created": iso(c.created),
        "Path": cfg["args"][0],
        "Args": cfg["args"][1:],
        "State": {
            "Status": st["status"], "Running": st["status"] == "running", "Paused": st["status"] == "paused",
            "Restarting": st["status"] == "restarting", "OOMKilled": bool(st["oom_killed"]), "Dead": False,
            "Pid": st["pid"], "MonitorPid": st["monitor_pid"],  # as podman's ConmonPid
            "ExitCode": st["exit_code"], "Error": st["error"], "StartedAt": iso(st["started_at"]),
            "FinishedAt": iso(st["finished_at"]),
            **({"Health": h} if (h := service.health_state(c)) else {}),  # as docker: only with checks
        },
        "Image": c.image_id,
        "ResolvConfPath": os.path.join(bundle, "resolv.conf"),
        "HostnamePath": os.path.join(bundle, "hostname"),
        "HostsPath": os.path.join(bundle, "hosts"),
        "LogPath": os.path.join(bundle, "ctr.log"),
        "Name": "/" + c.name,
        "RestartCount": st["restart_count"],
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "NetworkMode": cfg["network"], "RestartPolicy": {"Name": cfg["restart"]["name"],
                                                             "MaximumRetryCount": cfg["restart"]["max_retries"]},
            "AutoRemove": cfg["auto_remove"], "ReadonlyRootfs": cfg["read_only"], "Privileged": cfg["privileged"],
            "Memory": res["memory"] or 0, "MemorySwap": res["memory_swap"] or 0,
            "NanoCpus": int((res["cpus"] or 0) * 1e9), "PidsLimit": res["pids_limit"],
            "CapAdd": None, "CapDrop": None, "SecurityOpt": cfg.get("security_opt") or None,
            "Init": cfg["init"], "Runtime": cfg["runtime"],
            # the logs are kept and served as docker's json-file driver keeps them (clients such as
            # docker-py read a container's output only from drivers they know to keep it)
            "LogConfig": {"Type": "json-file", "Config": {}},
            "PortBindings": port_bindings(cfg.get("ports", [])),
            "Binds": [f"{m['source']}:{m['target']}{':ro' if m['readonly'] else ''}"
                      for m in cfg["mounts"] if m["type"] != "tmpfs" and m["source"]],
        },
        "GraphDriver": {"Name": "overlay", "Data": {"UpperDir": os.path.join(bundle, "upper"),
                                                    "WorkDir": os.path.join(bundle, "work"),
                                                    "MergedDir": os.path.join(bundle, "rootfs")}},
        "Mounts": mounts,
        "Config": {
            "Hostname": cfg["hostname"], "User": cfg["user"], "Tty": cfg["tty"], "OpenStdin": cfg["stdin"],
            "Env": cfg["env"], "Cmd": cfg["cmd"] or None, "Image": cfg["image"], "WorkingDir": cfg["workdir"],
            "Entrypoint": recorded_entrypoint(cfg) or None, "Labels": cfg["labels"],
            "StopSignal": cfg["stop_signal"], "StopTimeout": cfg["stop_timeout"],
            "Volumes": {m["target"]: {} for m in cfg["mounts"] if m["type"] == "volume"} or None,
            **({"Healthcheck": cfg["healthcheck"]} if cfg.get("healthcheck") is not None else {}),
            "HealthcheckOnFailureAction": cfg.get("health_on_failure") or "none",  # podman's
        },
        "NetworkSettings": _network_settings(cfg, service.network_settings(c), service.network_endpoints(c)),
    }


def port_bindings(ports: list[dict]) -> dict:
    """docker's HostConfig.PortBindings: {"80/tcp": [{"HostIp", "HostPort"}]}."""
    out: dict = {}
    for p in ports:
        out.setdefault(f"{p['container_port']}/{p['protocol']}", []).append(
            {"HostIp": p["host_ip"], "HostPort": str(p["host_port"])})
    return out


def _network_settings(cfg: dict, net: dict | None, endpoints: list[dict]) -> dict:
    """docker's NetworkSettings: the address while the container runs on the bridge (user networks: its
    address on each, kept while it exists), and its ports ("80/tcp": [{"HostIp", "HostPort"}])."""
    ports: dict = {}
    for p in cfg.get("ports", []):
        ports.setdefault(f"{p['container_port']}/{p['protocol']}", []).append(
            {"HostIp": p["host_ip"] or "0.0.0.0", "HostPort": str(p["host_port"])})
    networks = {}
    if not cfg.get("networks"):  # a built-in network (and maybe user networks connected since)
        address, gateway, prefix = (net["address"], net["gateway"], net["prefix"]) if net else ("", "", 0)
        networks[cfg["network"]] = {"IPAddress": address, "IPPrefixLen": prefix, "Gateway": gateway,
                                    "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": "",
                                    "Aliases": None, "NetworkID": ""}
    for e in endpoints:
        networks[e["name"]] = {"IPAddress": e["address"], "IPPrefixLen": e["prefix"], "Gateway": e["gateway"],
                               "GlobalIPv6Address": e["address6"], "GlobalIPv6PrefixLen": e["prefix6"] if e["address6"]
                               else 0, "IPv6Gateway": e["gateway6"] if e["address6"] else "",
                               "IPAMConfig": {"IPv4Address": e["requested"][0] or "",
                                              "IPv6Address": e["requested"][1] or ""} if any(e["requested"]) else None,
                               "Aliases": e["aliases"], "NetworkID": e["id"]}
    first = networks.get(cfg["network"]) or {"IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "GlobalIPv6Address": "",
                                             "GlobalIPv6PrefixLen": 0, "IPv6Gateway": ""}
    return {"IPAddress": first["IPAddress"], "IPPrefixLen": first["IPPrefixLen"], "Gateway": first["Gateway"],
            "GlobalIPv6Address": first["GlobalIPv6Address"], "GlobalIPv6PrefixLen": first["GlobalIPv6PrefixLen"],
            "IPv6Gateway": first["IPv6Gateway"], "Ports": ports, "Networks": networks}


def summary(service, c, now: float, networks=None) -> dict:
    """docker's container summary (GET /containers/json, `ps --format json`); `networks`: a
    store.networks.Snapshot when summing up many."""
    from berth.timefmt import container_status
    cfg = c.config
    settings = _network_settings(cfg, service.network_settings(c) if c.status == "running" else None,
                                 service.network_endpoints(c, networks))
    ports = [{"IP": p["host_ip"] or "0.0.0.0", "PrivatePort": p["container_port"], "PublicPort": p["host_port"],
              "Type": p["protocol"]} for p in cfg.get("ports", [])]
    entry = recorded_entrypoint(cfg) or []
    return {
        "Id": c.id, "Names": ["/" + c.name], "Image": cfg["image"], "ImageID": c.image_id,
        "Command": " ".join(list(entry) + list(cfg["cmd"] or [])) or " ".join(cfg["args"]),
        "Created": int(c.created), "Ports": ports, "Labels": cfg["labels"], "State": c.status,
        "Status": container_status(c.state, now, service.health_status(c) if c.status == "running" else None),
        "HostConfig": {"NetworkMode": cfg["network"]},
        "NetworkSettings": {"Networks": settings["Networks"]},
        "Mounts": [{"Type": m["type"], "Name": m["source"] if m["type"] == "volume" else "",
                    "Source": m["source"] if m["type"] == "bind" else "", "Destination": m["target"],
                    "RW": not m["readonly"], "Propagation": m.get("propagation") or ""} for m in cfg["mounts"]],
    }
