"""docker's POST /containers/create body -> ContainerSpec, with dockerd's checks of types and values
(the API server's counterpart of spec.from_flags).

Fields berth has no use for on this host (Isolation, ...) are accepted and ignored, as
dockerd ignores fields it does not know; a field of the wrong type is a 400 naming it."""
from __future__ import annotations

from berth.container import options as opts
from berth.container.spec import ContainerSpec
from berth.errors import InvalidArgument as BadRequest


def _typed(doc: dict, key: str, kind, default=None, where: str = ""):
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise BadRequest(f"invalid {where}{key}: expected {names}")
    return value


def _strings(doc: dict, key: str, where: str = "") -> list[str]:
    value = _typed(doc, key, list, [], where)
    if not all(isinstance(v, str) for v in value):
        raise BadRequest(f"invalid {where}{key}: expected a list of strings")
    return value


def _command(doc: dict, key: str) -> list | None:
    """Cmd and Entrypoint: a list, a string (one word, as docker-py may send) or null."""
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return _strings(doc, key)


def from_body(doc: dict, name: str | None) -> ContainerSpec:
    image = doc.get("Image")
    if not isinstance(image, str) or not image:
        raise BadRequest("config cannot be empty in order to create a container: Image is required")
    host = _typed(doc, "HostConfig", dict, {})
    hc = "HostConfig."
    with opts.flag_errors():
        mounts = _mounts(doc, host)
        network, networks = _networks(host, _typed(doc, "NetworkingConfig", dict, {}))
        return ContainerSpec(
            image, _command(doc, "Cmd"), _command(doc, "Entrypoint"), name=name or None,
            env=_strings(doc, "Env"), workdir=_typed(doc, "WorkingDir", str) or None,
            user=_typed(doc, "User", str) or None, hostname=_typed(doc, "Hostname", str) or None,
            domainname=_typed(doc, "Domainname", str) or None, tty=bool(_typed(doc, "Tty", bool, False)),
            stdin=bool(_typed(doc, "OpenStdin", bool, False)), mounts=mounts,
            read_only=bool(_typed(host, "ReadonlyRootfs", bool, False, hc)),
            network=network, networks=networks, ports=_ports(host),
            publish_all=bool(_typed(host, "PublishAllPorts", bool, False, hc)),
            dns=_strings(host, "Dns", hc), dns_search=_strings(host, "DnsSearch", hc),
            dns_options=_strings(host, "DnsOptions", hc), extra_hosts=_strings(host, "ExtraHosts", hc),
            memory=_typed(host, "Memory", int, 0, hc) or None, memory_swap=_typed(host, "MemorySwap", int, 0, hc) or None,
            cpus=_cpus(host), pids_limit=_pids(host),
            cap_add=_strings(host, "CapAdd", hc), cap_drop=_strings(host, "CapDrop", hc),
            privileged=bool(_typed(host, "Privileged", bool, False, hc)),
            security_opt=_strings(host, "SecurityOpt", hc), restart=_restart(host),
            stop_signal=_typed(doc, "StopSignal", str) or None, stop_timeout=_typed(doc, "StopTimeout", int),
            init=bool(_typed(host, "Init", bool, False, hc)),
            auto_remove=bool(_typed(host, "AutoRemove", bool, False, hc)),
            labels=_labels(doc), runtime=_typed(host, "Runtime", str) or None, healthcheck=_healthcheck(doc))


def _healthcheck(doc: dict) -> dict | None:
    """Healthcheck: docker's HealthConfig (Test, durations in nanoseconds, Retries), its types checked
    here and its values by the engine; null or absent: the image's."""
    check = _typed(doc, "Healthcheck", dict)
    if check is None:
        return None
    where = "Healthcheck."
    test = check.get("Test")
    out = {"Test": [test] if isinstance(test, str) else _strings(check, "Test", where)}
    for field in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        out[field] = _typed(check, field, int, 0, where)
    return out


def _labels(doc: dict) -> dict:
    labels = _typed(doc, "Labels", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise BadRequest("invalid Labels: expected string values")
    return labels


def _mounts(doc: dict, host: dict) -> list:
    hc = "HostConfig."
    mounts = [opts.parse_volume(b) for b in _strings(host, "Binds", hc)]
    for m in _typed(host, "Mounts", list, [], hc):
        if not isinstance(m, dict):
            raise BadRequest("invalid HostConfig.Mounts: expected objects")
        kind = m.get("Type") or "volume"
        if kind not in ("bind", "volume", "tmpfs"):
            raise BadRequest(f"mount type {kind!r} is not supported: use bind, volume or tmpfs")
        target, source = m.get("Target") or "", m.get("Source") or ""
        if not isinstance(target, str) or not target.startswith("/"):
            raise BadRequest(f"invalid mount target {target!r}: must be an absolute path")
        if kind == "bind" and (not isinstance(source, str) or not source.startswith("/")):
            raise BadRequest(f"invalid mount config for type \"bind\": invalid source {source!r}: "
                             "must be an absolute path")
        spec = opts.MountSpec(kind, target, source if kind != "tmpfs" else "", bool(m.get("ReadOnly")))
        if kind == "bind":
            spec.propagation = (m.get("BindOptions") or {}).get("Propagation") or ""
        if kind == "tmpfs":
            tmpfs = m.get("TmpfsOptions") or {}
            if tmpfs.get("SizeBytes"):
                spec.options.append(f"size={int(tmpfs['SizeBytes'])}")
            if tmpfs.get("Mode"):
                spec.options.append(f"mode={int(tmpfs['Mode']):o}")
        mounts.append(spec)
    for target, options in _typed(host, "Tmpfs", dict, {}, hc).items():
        mounts.append(opts.parse_tmpfs(f"{target}:{options}" if options else target))
    taken = {m.target for m in mounts}
    for target in _typed(doc, "Volumes", dict, {}):  # anonymous volumes (-v /path)
        if target not in taken:
            mounts.append(opts.parse_volume(target))
    return mounts


def _ports(host: dict) -> list:
    from berth.network.bridge import parse_publish
    ports = []
    for key, bindings in _typed(host, "PortBindings", dict, {}, "HostConfig.").items():
        port, _, proto = key.partition("/")
        for b in bindings or [{}]:
            if not isinstance(b, dict):
                raise BadRequest("invalid HostConfig.PortBindings: expected objects")
            ip, host_port = b.get("HostIp") or "", b.get("HostPort") or ""
            text = f"{ip}:{host_port}:{port}" if ip else f"{host_port}:{port}" if host_port else port
            ports += parse_publish(f"{text}/{proto or 'tcp'}")
    return ports


def _networks(host: dict, networking: dict) -> tuple[str | None, list]:
    mode = _typed(host, "NetworkMode", str, "", "HostConfig.")
    mode = None if mode in ("", "default") else mode
    endpoints = {("bridge" if n == "default" else n): e
                 for n, e in _typed(networking, "EndpointsConfig", dict, {}, "NetworkingConfig.").items()}
    if mode in (None, "bridge", "host", "none") and not endpoints or (mode or "").startswith("container:"):
        return mode, []
    if mode in ("host", "none"):
        return mode, []
    names = ([mode] if mode and mode != "bridge" else []) + [n for n in endpoints if n != mode]
    networks = []
    for n in names:
        e = endpoints.get(n) or {}
        if n == "bridge":
            continue
        ipam = e.get("IPAMConfig") or {}
        networks.append({"name": n, "aliases": [a for a in (e.get("Aliases") or []) if isinstance(a, str)],
                         "ip": ipam.get("IPv4Address") or None, "ip6": ipam.get("IPv6Address") or None})
    if not networks:
        return mode, []
    return networks[0]["name"], networks


def _cpus(host: dict) -> float | None:
    nano = _typed(host, "NanoCpus", int, 0, "HostConfig.")
    if nano:
        return nano / 1e9
    quota, period = _typed(host, "CpuQuota", int, 0, "HostConfig."), _typed(host, "CpuPeriod", int, 0, "HostConfig.")
    return quota / (period or 100000) if quota > 0 else None


def _pids(host: dict) -> int | None:
    limit = _typed(host, "PidsLimit", int, 0, "HostConfig.")
    return limit if limit and limit > 0 else None


def _restart(host: dict) -> str:
    policy = _typed(host, "RestartPolicy", dict, {}, "HostConfig.")
    name = policy.get("Name") or "no"
    count = policy.get("MaximumRetryCount") or 0
    return f"{name}:{count}" if name == "on-failure" and count else name
