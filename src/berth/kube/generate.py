"""`kube generate`: Kubernetes YAML for real clusters from the containers and pods berth runs.

`collect` is the one function that asks the engine (container and pod records, image records and
configs, volumes, bind sources on disk) and turns its answers into plain "subjects": one per pod to
generate. Everything after it is pure: `generate` makes the documents (PersistentVolumeClaims, a Pod
or a Deployment per subject, a Service per subject with --service) and the warnings, and `to_yaml`
writes them out. What a container has that Kubernetes cannot express becomes a warning naming it,
never a silent loss.

Kubernetes semantics kept in mind: `command` replaces the image's ENTRYPOINT and `args` its CMD;
`$(NAME)` in command, args and env values is a variable reference there, so a literal `$(` is
written `$$(`; names are DNS-1123 labels.
"""
from __future__ import annotations

import math
import os
import re
import stat

from berth.errors import InvalidArgument

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # what berth and CRI runtimes add
DEFAULT_STOP_TIMEOUT = 10  # seconds: berth's (docker's) default; Kubernetes' grace period is 30
PVC_SIZE = "1Gi"
SECOND = 1_000_000_000
# docker's health check defaults, written out: Kubernetes' own (10 s period, 1 s timeout) differ
HEALTH_DEFAULTS = {"Interval": 30 * SECOND, "Timeout": 30 * SECOND, "Retries": 3}
RESTART_POLICIES = {"always": "Always", "unless-stopped": "Always", "on-failure": "OnFailure", "no": "Never"}
PROPAGATION = {"rslave": "HostToContainer", "slave": "HostToContainer", "rshared": "Bidirectional",
               "shared": "Bidirectional"}
TMPFS_PLAIN_OPTIONS = {"rw", "nosuid", "nodev", "noexec"}  # docker's defaults, and what emptyDir gives anyway
POD_ORDER = ("hostname", "hostNetwork", "restartPolicy", "terminationGracePeriodSeconds", "hostAliases", "dnsConfig",
             "containers", "volumes")
CONTAINER_ORDER = ("name", "image", "command", "args", "workingDir", "ports", "env", "resources", "securityContext",
                   "livenessProbe", "readinessProbe", "volumeMounts", "tty", "stdin")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class Generated:
    """The documents in output order, and the warnings to show (one line each)."""

    def __init__(self):
        self.documents: list[dict] = []
        self.warnings: list[str] = []

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


# ---- the engine's answers ---------------------------------------------------------------

def collect(engine, names: list[str]) -> list[dict]:
    """One subject per name (a pod, or a container that becomes a pod of its own), with every fact
    `generate` needs. A name is looked up as a pod first, then as a container."""
    from berth.errors import NotFound, PodNotFound
    subjects, seen = [], set()
    for name in names:
        try:
            pod = engine.pods.get(name)
        except PodNotFound:
            pod = None
        if pod is not None:
            if pod.id in seen:
                continue
            seen.add(pod.id)
            members = engine.pods.members(pod)
            infra = next(c for c in members if c.config.get("pod_infra"))
            subjects.append({
                "name": pod.name, "is_pod": True, "hostname": pod.config.get("hostname"),
                "labels": dict(pod.config.get("labels") or {}), "share": list(pod.config.get("share") or []),
                "memory": pod.config.get("memory"), "cpus": pod.config.get("cpus"),
                "ports": list(infra.config.get("ports") or []), "network": infra.config.get("network"),
                "containers": [_container_facts(engine, c) for c in members if not c.config.get("pod_infra")]})
            continue
        try:
            c = engine.containers.get(name)
        except LookupError:
            raise NotFound(f"no container or pod named {name}") from None
        if c.config.get("pod_infra"):
            raise InvalidArgument(f"{c.name} is the infra container of a pod: generate the pod instead")
        if c.id in seen:
            continue
        seen.add(c.id)
        facts = _container_facts(engine, c)
        ports, network = c.config.get("ports") or [], c.config.get("network")
        if c.config.get("pod"):  # a pod's member alone: it is reached through the pod's ports
            owner = next((p for p in engine.pods.list() if p["Id"] == c.config["pod"]), None)
            if owner is not None:
                infra = engine.containers.get(owner["InfraId"])
                ports, network = infra.config.get("ports") or [], infra.config.get("network")
        subjects.append({"name": c.name, "is_pod": False, "hostname": None, "labels": {}, "share": [],
                         "memory": None, "cpus": None, "ports": list(ports), "network": network,
                         "containers": [facts]})
    return subjects


def _container_facts(engine, c) -> dict:
    cfg = c.config
    image = engine.images.get(c.image_id)
    image_config = engine.images.inspect(str(image.id)).get("Config") or {}
    local = cfg.get("image") or ""
    if _looks_like_id(local, str(image.id)):
        local = image.tags[0].familiar if image.tags else str(image.id)
    volumes, binds = {}, {}
    for m in cfg.get("mounts") or []:
        if m["type"] == "volume" and m.get("source"):
            try:
                found = engine.volumes.inspect(m["source"])
            except LookupError:
                found = {}
            volumes[m["source"]] = {"anonymous": bool(found.get("Anonymous")), "options": found.get("Options") or {}}
        elif m["type"] == "bind":
            binds[m["source"]] = _host_path_type(m["source"])
    return {"name": c.name, "id": c.id, "config": cfg,
            "image": {"name": local, "repo_digests": list(image.repo_digests), "config": image_config},
            "volumes": volumes, "bind_types": binds}


def _looks_like_id(text: str, image_id: str) -> bool:
    bare = text.removeprefix("sha256:")
    return len(bare) >= 4 and image_id.removeprefix("sha256:").startswith(bare)


def _host_path_type(path: str) -> str:
    """hostPath's `type` for what is at `path` now ("" when nothing is: no check)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ""
    for test, kind in ((stat.S_ISDIR, "Directory"), (stat.S_ISREG, "File"), (stat.S_ISSOCK, "Socket"),
                       (stat.S_ISCHR, "CharDevice"), (stat.S_ISBLK, "BlockDevice")):
        if test(mode):
            return kind
    return ""


# ---- documents --------------------------------------------------------------------------

def generate(subjects: list[dict], kind: str = "pod", service: bool = False, replicas: int | None = None) -> Generated:
    """The documents for `subjects` (see `collect`): PersistentVolumeClaims first (a cluster needs
    them before the pods that claim them), then per subject its Pod or Deployment and its Service."""
    if kind not in ("pod", "deployment"):
        raise InvalidArgument(f"invalid --type {kind!r}: use pod or deployment")
    if replicas is not None and kind != "deployment":
        raise InvalidArgument("--replicas is only for --type deployment")
    if replicas is not None and replicas < 0:
        raise InvalidArgument(f"invalid --replicas {replicas}: it cannot be negative")
    if not subjects:
        raise InvalidArgument("nothing to generate: name at least one container or pod")
    out = Generated()
    claims: dict[str, dict] = {}
    workloads = []
    names = set()
    for subject in subjects:
        name = dns_label(subject["name"], "pod")
        if name in names:
            raise InvalidArgument(f"two pods would be named {name!r} in Kubernetes: rename one")
        names.add(name)
        if name != subject["name"]:
            out.warn(f"{subject['name']} is named {name} in Kubernetes (names there are DNS-1123 labels)")
        spec, labels, annotations = _pod_spec(subject, name, kind, out, claims)
        if kind == "deployment":
            workloads.append(_deployment(name, spec, labels, annotations, 1 if replicas is None else replicas, out))
        else:
            workloads.append({"apiVersion": "v1", "kind": "Pod",
                              "metadata": _metadata(name, labels, annotations), "spec": spec})
        if service:
            svc = _service(subject, name, out)
            if svc is not None:
                workloads.append(svc)
    for claim in claims.values():
        claim.pop("_volume", None)
        out.documents.append(claim)
        out.warn(f"PersistentVolumeClaim {claim['metadata']['name']} requests {PVC_SIZE}, a default "
                 "(berth's volumes have no size): set what the data needs")
    out.documents += workloads
    return out


def _metadata(name: str, labels: dict, annotations: dict) -> dict:
    meta = {"name": name, "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return meta


def _deployment(name: str, spec: dict, labels: dict, annotations: dict, replicas: int, out: Generated) -> dict:
    if spec.get("restartPolicy", "Always") != "Always":
        out.warn(f"{name}: a Deployment's pods restart Always (the containers' restart policy gives "
                 f"{spec['restartPolicy']})")
    spec["restartPolicy"] = "Always"
    if replicas > 1 and any(p.get("hostPort") for c in spec["containers"] for p in c.get("ports", [])):
        out.warn(f"{name}: {replicas} replicas with host ports need as many nodes (one replica per node "
                 "can take a host port)")
    if replicas > 1 and any("persistentVolumeClaim" in v for v in spec.get("volumes", [])):
        out.warn(f"{name}: {replicas} replicas share ReadWriteOnce claims (all on one node, or use ReadWriteMany)")
    template_meta = {"labels": labels}
    if annotations:
        template_meta["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": template_meta, "spec": spec}}}


def _service(subject: dict, name: str, out: Generated) -> dict | None:
    ports, seen = [], set()
    for p in subject["ports"]:
        key = (p["container_port"], p["protocol"])
        if key in seen:
            out.warn(f"{subject['name']}: port {p['container_port']}/{p['protocol']} is published twice: the "
                     f"Service has it once (host port {p['host_port']} left out)")
            continue
        seen.add(key)
        entry = {"name": f"{p['protocol']}-{p['container_port']}", "port": p["container_port"],
                 "targetPort": p["container_port"]}
        if p["protocol"] == "udp":
            entry["protocol"] = "UDP"
        if 30000 <= (p["host_port"] or 0) <= 32767:
            entry["nodePort"] = p["host_port"]
        elif p["host_port"]:
            out.warn(f"{subject['name']}: host port {p['host_port']} is outside Kubernetes' NodePort range "
                     "(30000-32767): the Service's nodePort is left to the cluster")
        ports.append(entry)
    if not ports:
        out.warn(f"{subject['name']} publishes no ports: no Service for it")
        return None
    svc_name = name if name[0].isalpha() else f"svc-{name}"[:63].rstrip("-")
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc_name, "labels": {"app": name}},
            "spec": {"type": "NodePort", "selector": {"app": name}, "ports": ports}}


def _pod_spec(subject: dict, name: str, kind: str, out: Generated, claims: dict) -> tuple[dict, dict, dict]:
    """(pod spec, pod labels, pod annotations)."""
    where = subject["name"]
    labels: dict = {"app": name}
    annotations: dict = {}
    _sort_labels(subject["labels"], labels, annotations, where, out)
    if subject["memory"] or subject["cpus"]:
        out.warn(f"pod {where}: its limits (memory, cpus) are the whole pod's; Kubernetes sets limits per "
                 "container: left out")
    missing = {"net", "ipc", "uts"} - set(subject["share"]) if subject["is_pod"] else set()
    if missing:
        out.warn(f"pod {where} does not share {', '.join(sorted(missing))}: a Kubernetes pod's containers always do")
    spec: dict = {}
    volumes = _Volumes(out, claims)
    containers, policies, grace = [], [], []
    used_names = set()
    ports_left = list(subject["ports"])
    for facts in subject["containers"]:
        cname = _container_name(facts["name"], subject["name"] if subject["is_pod"] else None)
        if cname in used_names:
            raise InvalidArgument(f"two containers of {where} would be named {cname!r} in Kubernetes: rename one")
        used_names.add(cname)
        container, extra = _container(facts, cname, volumes, out)
        if not subject["is_pod"]:
            _sort_labels(extra["labels"], labels, annotations, facts["name"], out)
        elif extra["labels"]:
            out.warn(f"container {facts['name']}: its labels ({', '.join(sorted(extra['labels']))}) have no place "
                     "in Kubernetes (labels are the pod's): left out")
        mine = [p for p in ports_left if f"{p['container_port']}/{p['protocol']}" in extra["exposed"]]
        if mine:
            container["ports"] = [_port(p) for p in mine]
            ports_left = [p for p in ports_left if p not in mine]
        containers.append(container)
        policies.append(extra["restart"])
        grace.append(extra["stop_timeout"])
        if extra.get("hostAliases"):
            spec.setdefault("hostAliases", []).extend(a for a in extra["hostAliases"] if a not in spec["hostAliases"])
        if extra.get("dnsConfig"):
            spec.setdefault("dnsConfig", {}).update(extra["dnsConfig"])
        if extra.get("hostNetwork"):
            spec["hostNetwork"] = True
    if not containers:
        raise InvalidArgument(f"pod {where} has no containers: nothing to generate")
    if ports_left:  # published ports no container's image exposes: the first container's
        containers[0].setdefault("ports", []).extend(_port(p) for p in ports_left)
    containers = [_ordered(c, CONTAINER_ORDER) for c in containers]
    _network(subject, spec, out)
    if subject["is_pod"]:
        hostname = subject["hostname"]
    else:  # a container without --hostname has its short ID as hostname
        only = subject["containers"][0]
        hostname = only["config"].get("hostname")
        hostname = None if hostname == only["id"][:12] else hostname
    if hostname and hostname not in (subject["name"], name):
        if _DNS_LABEL.fullmatch(hostname):
            spec["hostname"] = hostname
        else:
            out.warn(f"{where}: hostname {hostname!r} is not a DNS-1123 label Kubernetes takes: left out")
    policy = policies[0]
    if len(set(policies)) > 1:
        out.warn(f"pod {where}: its containers' restart policies differ; Kubernetes has one per pod: {policy}")
    spec["restartPolicy"] = policy
    if max(grace) != DEFAULT_STOP_TIMEOUT:
        spec["terminationGracePeriodSeconds"] = max(grace)
    spec["containers"] = containers
    if volumes.entries:
        spec["volumes"] = volumes.entries
    return _ordered(spec, POD_ORDER), labels, annotations


def _ordered(fields: dict, order: tuple) -> dict:
    """Fields in the order people read them."""
    return {k: fields[k] for k in order if k in fields}


def _network(subject: dict, spec: dict, out: Generated) -> None:
    network = subject["network"] or "bridge"
    if network == "host":
        spec["hostNetwork"] = True
    elif network == "none":
        out.warn(f"{subject['name']}: network none has no Kubernetes equivalent (pods always have a network)")
    elif network.startswith("container:") and not subject["is_pod"]:
        out.warn(f"{subject['name']}: another container's network ({network}) has no Kubernetes equivalent: "
                 "put both in one pod")
    elif network not in ("bridge",) and not network.startswith("container:"):
        out.warn(f"{subject['name']}: network {network} is the cluster's pod network in Kubernetes (reach "
                 "other pods through Services)")


def _container_name(name: str, pod: str | None) -> str:
    if pod and name.startswith(pod + "-") and len(name) > len(pod) + 1:
        name = name[len(pod) + 1:]
    return dns_label(name, "container")


def _port(p: dict) -> dict:
    port = {"containerPort": p["container_port"]}
    if p.get("host_port"):
        port["hostPort"] = p["host_port"]
    if p.get("host_ip") and p["host_ip"] not in ("0.0.0.0", "::"):
        port["hostIP"] = p["host_ip"]
    if p["protocol"] == "udp":
        port["protocol"] = "UDP"
    return port


def _container(facts: dict, name: str, volumes: "_Volumes", out: Generated) -> tuple[dict, dict]:
    """A container's entry, and what belongs to the pod: its labels, restart policy, stop timeout,
    exposed ports, host aliases, DNS settings."""
    cfg, image = facts["config"], facts["image"]
    ic = image["config"]
    where = f"container {facts['name']}"
    c: dict = {"name": name, "image": _image(image, out)}
    command, args = _command(cfg, ic)
    if command is not None:
        c["command"] = [_escape(a) for a in command]
    if args is not None:
        c["args"] = [_escape(a) for a in args]
    workdir = cfg.get("workdir") or "/"
    if workdir != (ic.get("WorkingDir") or "/"):
        c["workingDir"] = workdir
    env = _env(cfg.get("env") or [], ic.get("Env") or [])
    if env:
        c["env"] = env
    resources = _resources(cfg.get("resources") or {}, where, out)
    if resources:
        c["resources"] = resources
    security = _security(cfg, ic, where, out)
    if security:
        c["securityContext"] = security
    probe = _probe(cfg.get("healthcheck"), cfg.get("shell"), where, out)
    if probe:  # a readiness check (kube play made it of a readinessProbe) stays one; a restart on it is liveness too
        if not cfg.get("health_gates_traffic") or cfg.get("health_on_failure") == "restart":
            c["livenessProbe"] = probe
        if cfg.get("health_gates_traffic"):
            c["readinessProbe"] = dict(probe)
    mounts = volumes.mounts(facts, where)
    if mounts:
        c["volumeMounts"] = mounts
    if cfg.get("tty"):
        c["tty"] = True
    if cfg.get("stdin"):
        c["stdin"] = True
    extra = {"labels": {k: v for k, v in (cfg.get("labels") or {}).items()
                        if (ic.get("Labels") or {}).get(k) != v},
             "restart": _restart(cfg.get("restart") or {}, where, out),
             "stop_timeout": cfg.get("stop_timeout") if cfg.get("stop_timeout") is not None else DEFAULT_STOP_TIMEOUT,
             "exposed": set(ic.get("ExposedPorts") or {}) | {p + "/tcp" for p in ic.get("ExposedPorts") or {}
                                                               if "/" not in p}}
    _pod_level(cfg, extra, where, out)
    _unsupported(cfg, ic, where, out)
    return c, extra


def _image(image: dict, out: Generated) -> str:
    """The registry name with digest when berth knows a registry copy; else the local name, warned."""
    digests = image["repo_digests"]
    if digests:
        wanted = image["name"].split("@")[0]
        repo = wanted.rsplit(":", 1)[0] if ":" in wanted.rsplit("/", 1)[-1] else wanted
        same = [d for d in digests if d.split("@")[0] in (repo, f"docker.io/{repo}", f"docker.io/library/{repo}")]
        return (same or digests)[0]
    out.warn(f"image {image['name']} exists only on this machine (never pushed or pulled): a cluster cannot pull "
             "it; push it to a registry (berth push) and generate again")
    return image["name"]


def _entrypoint(cfg: dict) -> list | None:
    value = cfg.get("entrypoint")
    if isinstance(value, str):  # records from before the spec held lists
        return [value] if value else []
    return value


def _command(cfg: dict, ic: dict) -> tuple[list | None, list | None]:
    """(command, args) in Kubernetes' terms: command replaces ENTRYPOINT, args replace CMD; None
    where the image's stands."""
    argv = list(cfg.get("args") or [])
    image_entry = list(ic.get("Entrypoint") or [])
    if argv == image_entry + list(ic.get("Cmd") or []):
        return None, None
    entry = _entrypoint(cfg)
    if entry is None or list(entry) == image_entry:
        return None, argv[len(image_entry):]
    if not entry:  # --entrypoint "": the command alone
        return argv, None
    rest = argv[len(entry):]
    return list(entry), (rest or None)


def _escape(text: str) -> str:
    return text.replace("$(", "$$(")


def _env(env: list[str], image_env: list[str]) -> list[dict]:
    base = dict(e.partition("=")[::2] for e in image_env)
    out = []
    for entry in env:
        key, _, value = entry.partition("=")
        if base.get(key) == value or (key == "PATH" and key not in base and value == DEFAULT_PATH):
            continue
        out.append({"name": key, "value": _escape(value)})
    return out


def quantity_bytes(n: int) -> str | int:
    for suffix, unit in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def _resources(res: dict, where: str, out: Generated) -> dict:
    limits = {}
    if res.get("cpus"):
        limits["cpu"] = f"{max(1, round(res['cpus'] * 1000))}m"
    if res.get("memory"):
        limits["memory"] = quantity_bytes(res["memory"])
        swap = res.get("memory_swap")
        if swap is not None and swap != 2 * res["memory"]:
            out.warn(f"{where}: its swap limit (--memory-swap) has no Kubernetes equivalent")
    if res.get("pids_limit"):
        out.warn(f"{where}: its process limit (--pids-limit) has no per-container Kubernetes equivalent "
                 "(the kubelet sets one per pod)")
    return {"limits": limits} if limits else {}


def _security(cfg: dict, ic: dict, where: str, out: Generated) -> dict:
    sc: dict = {}
    user = cfg.get("user") or ""
    if user != (ic.get("User") or "") and user:
        uid, _, gid = user.partition(":")
        if uid.isdigit() and (not gid or gid.isdigit()):
            sc["runAsUser"] = int(uid)
            if gid:
                sc["runAsGroup"] = int(gid)
        else:
            out.warn(f"{where}: user {user!r} is a name; Kubernetes takes numeric IDs (runAsUser): left out")
    caps = {}
    if cfg.get("cap_add"):
        caps["add"] = [_cap(n) for n in cfg["cap_add"]]
    if cfg.get("cap_drop"):
        caps["drop"] = [_cap(n) for n in cfg["cap_drop"]]
    if caps:
        sc["capabilities"] = caps
    if cfg.get("privileged"):
        sc["privileged"] = True
    if cfg.get("read_only"):
        sc["readOnlyRootFilesystem"] = True
    if cfg.get("no_new_privileges"):
        if cfg.get("privileged") or "SYS_ADMIN" in caps.get("add", []) or "ALL" in caps.get("add", []):
            out.warn(f"{where}: no-new-privileges with privileged or CAP_SYS_ADMIN is refused by Kubernetes: "
                     "left out")
        else:
            sc["allowPrivilegeEscalation"] = False
    seccomp = cfg.get("seccomp")
    if seccomp == "unconfined" and not cfg.get("privileged"):
        sc["seccompProfile"] = {"type": "Unconfined"}
    elif seccomp not in (None, "default", "unconfined"):
        out.warn(f"{where}: its own seccomp profile needs a file on each node (seccompProfile Localhost): "
                 "left out")
    return sc


def _cap(name: str) -> str:
    name = name.upper()
    return name if name == "ALL" else name.removeprefix("CAP_")


def _seconds(ns: int) -> int:
    return max(1, math.ceil(ns / SECOND))


def _probe(check: dict | None, shell: list | None, where: str, out: Generated) -> dict | None:
    test = list((check or {}).get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    kind, rest = test[0], test[1:]
    if kind == "CMD" and rest:
        probe: dict = {"exec": {"command": rest}}
    elif kind == "CMD-SHELL" and rest:
        probe = {"exec": {"command": list(shell or ["/bin/sh", "-c"]) + [rest[0]]}}
    elif kind == "HTTP-GET" and rest:
        get: dict = {"port": _probe_port(rest[0])}
        if len(rest) > 1 and rest[1]:
            get["path"] = rest[1]
        if len(rest) > 2 and rest[2]:
            get["scheme"] = rest[2].upper()
        headers = []
        for header in rest[3:]:
            key, sep, value = header.partition(":")
            if not sep:
                key, sep, value = header.partition("=")
            headers.append({"name": key.strip(), "value": value.strip()})
        if headers:
            get["httpHeaders"] = headers
        probe = {"httpGet": get}
    elif kind == "TCP-SOCKET" and rest:
        probe = {"tcpSocket": {"port": _probe_port(rest[0])}}
    else:
        out.warn(f"{where}: health check {test!r} has no Kubernetes form: left out")
        return None
    values = {k: (check or {}).get(k) or HEALTH_DEFAULTS.get(k, 0) for k in ("Interval", "Timeout", "Retries",
                                                                          "StartPeriod")}
    if (check or {}).get("StartInterval") not in (None, 0, values["Interval"]):
        out.warn(f"{where}: its health check's start interval has no Kubernetes equivalent (the probe runs "
                 "every periodSeconds from the start)")
    if values["StartPeriod"]:
        probe["initialDelaySeconds"] = _seconds(values["StartPeriod"])
    probe["periodSeconds"] = _seconds(values["Interval"])
    probe["timeoutSeconds"] = _seconds(values["Timeout"])
    probe["failureThreshold"] = max(1, int(values["Retries"]))
    return probe


def _probe_port(value) -> int | str:
    text = str(value)
    return int(text) if text.isdigit() else text


def _restart(policy: dict, where: str, out: Generated) -> str:
    name = policy.get("name") or "no"
    if name == "on-failure" and policy.get("max_retries"):
        out.warn(f"{where}: on-failure:{policy['max_retries']} has no retry limit in Kubernetes (OnFailure "
                 "restarts with back-off, without end)")
    return RESTART_POLICIES.get(name, "Never")


def _pod_level(cfg: dict, extra: dict, where: str, out: Generated) -> None:
    """/etc/hosts entries, DNS settings and the host network: pod fields in Kubernetes."""
    aliases: dict[str, list] = {}
    for entry in cfg.get("extra_hosts") or []:
        host, _, address = entry.partition(":")
        if address == "host-gateway":
            out.warn(f"{where}: --add-host {entry} (the host's gateway) has no Kubernetes equivalent: left out")
            continue
        aliases.setdefault(address, []).append(host)
    if aliases:
        extra["hostAliases"] = [{"ip": ip, "hostnames": hosts} for ip, hosts in aliases.items()]
    dns: dict = {}
    if cfg.get("dns"):
        dns["nameservers"] = list(cfg["dns"])
        out.warn(f"{where}: its name servers (--dns) follow the cluster's in Kubernetes (dnsConfig)")
    if cfg.get("dns_search"):
        dns["searches"] = list(cfg["dns_search"])
    if cfg.get("dns_options"):
        dns["options"] = [dict(zip(("name", "value"), o.split(":", 1))) for o in cfg["dns_options"]]
    if dns:
        extra["dnsConfig"] = dns


def _unsupported(cfg: dict, ic: dict, where: str, out: Generated) -> None:
    """Settings Kubernetes has no field for: one warning each."""
    if cfg.get("domainname"):
        out.warn(f"{where}: its domain name (--domainname) has no Kubernetes equivalent (subdomain needs a "
                 "headless Service)")
    signal = cfg.get("stop_signal")
    if signal and signal not in ("SIGTERM", "TERM", "15") and signal != ic.get("StopSignal"):
        out.warn(f"{where}: its stop signal {signal} has no Kubernetes equivalent (pods stop with SIGTERM)")
    if cfg.get("init"):
        out.warn(f"{where}: --init has no Kubernetes equivalent (shareProcessNamespace gives a pod an init)")
    if cfg.get("auto_remove"):
        out.warn(f"{where}: --rm has no Kubernetes equivalent (a pod stays until deleted)")
    if cfg.get("health_on_failure") in ("kill", "stop"):
        out.warn(f"{where}: --health-on-failure={cfg['health_on_failure']} becomes a restart on a failed "
                 "livenessProbe")
    for option in cfg.get("security_opt") or []:
        key = option.partition("=")[0].partition(":")[0]
        if key not in ("no-new-privileges", "seccomp"):
            out.warn(f"{where}: --security-opt {option} has no Kubernetes equivalent: left out")
    for name in ("devices", "ulimits", "sysctls", "group_add", "oom_score_adj"):
        if cfg.get(name):
            out.warn(f"{where}: its {name} have no Kubernetes container equivalent: left out")


class _Volumes:
    """The pod's volumes (one per named volume, host path and tmpfs) and each container's mounts."""

    def __init__(self, out: Generated, claims: dict):
        self.out, self.claims = out, claims
        self.entries: list[dict] = []
        self.by_key: dict = {}

    def _add(self, key, base: str, source: dict) -> str:
        if key in self.by_key:
            return self.by_key[key]
        taken = {e["name"] for e in self.entries}
        name, n = base, 1
        while name in taken:
            n += 1
            suffix = f"-{n}"
            name = base[:63 - len(suffix)].rstrip("-") + suffix
        self.entries.append({"name": name, **source})
        self.by_key[key] = name
        return name

    def mounts(self, facts: dict, where: str) -> list[dict]:
        cfg, ic = facts["config"], facts["image"]["config"]
        image_volumes = set(ic.get("Volumes") or {})
        out = []
        for m in cfg.get("mounts") or []:
            kind, target = m["type"], m["target"]
            if kind == "volume":
                info = facts["volumes"].get(m["source"], {})
                if info.get("anonymous"):
                    if target in image_volumes:
                        continue  # the image's VOLUME: Kubernetes keeps that path in the container's layer
                    name = self._add(("anon", facts["id"], target), _path_label(target, "data"), {"emptyDir": {}})
                else:
                    claim = dns_subdomain(m["source"], "volume")
                    if claim != m["source"]:
                        self.out.warn(f"volume {m['source']} is claimed as {claim} in Kubernetes (names there are "
                                      "DNS-1123)")
                    if info.get("options"):
                        self.out.warn(f"volume {m['source']}: its driver options "
                                      f"({', '.join(sorted(info['options']))}) have no PersistentVolumeClaim "
                                      "equivalent: left out")
                    owner = self.claims.setdefault(claim, {
                        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": PVC_SIZE}}}})
                    first = owner.setdefault("_volume", m["source"])
                    if first != m["source"]:
                        raise InvalidArgument(f"volumes {first} and {m['source']} would both be claim {claim} in "
                                              "Kubernetes: rename one")
                    name = self._add(("pvc", claim), dns_label(claim, "volume", strict=False) or "volume",
                                     {"persistentVolumeClaim": {"claimName": claim}})
            elif kind == "bind":
                path_type = facts["bind_types"].get(m["source"], "")
                host_path = {"path": m["source"]}
                if path_type:
                    host_path["type"] = path_type
                self.out.warn(f"{where}: bind mount {m['source']} becomes a hostPath volume, which ties the pod "
                              "to a node that has that path")
                name = self._add(("host", m["source"]), _path_label(m["source"], "host") + "-host",
                                 {"hostPath": host_path})
            elif kind == "tmpfs":
                empty: dict = {"medium": "Memory"}
                readonly = False
                for option in m.get("options") or []:
                    key, _, value = option.partition("=")
                    if key == "size" and value:
                        try:
                            from berth.units import parse_size
                            empty["sizeLimit"] = quantity_bytes(parse_size(value))
                        except InvalidArgument:
                            self.out.warn(f"{where}: tmpfs {target} size {value!r} is not a size: left out")
                    elif key == "ro":
                        readonly = True
                    elif option not in TMPFS_PLAIN_OPTIONS:
                        self.out.warn(f"{where}: tmpfs {target} option {option} has no emptyDir equivalent: "
                                      "left out")
                name = self._add(("tmpfs", facts["id"], target), _path_label(target, "tmpfs") + "-tmpfs",
                                 {"emptyDir": empty})
                mount = {"name": name, "mountPath": target}
                if readonly or m.get("readonly"):
                    mount["readOnly"] = True
                out.append(mount)
                continue
            else:
                self.out.warn(f"{where}: {kind} mount at {target} has no Kubernetes equivalent: left out")
                continue
            mount = {"name": name, "mountPath": target}
            if m.get("readonly"):
                mount["readOnly"] = True
            propagation = PROPAGATION.get(m.get("propagation") or "")
            if propagation == "Bidirectional" and not cfg.get("privileged"):
                self.out.warn(f"{where}: {target}'s shared propagation needs a privileged container in "
                              "Kubernetes: left out")
            elif propagation:
                mount["mountPropagation"] = propagation
            out.append(mount)
        return out


def _path_label(path: str, fallback: str) -> str:
    label = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:50].rstrip("-")
    return label or fallback


# ---- names and labels -------------------------------------------------------------------

def dns_label(text: str, what: str, strict: bool = True) -> str:
    """`text` as a DNS-1123 label (lowercase letters, digits and '-', at most 63, alphanumeric at both
    ends): other characters become '-'. An error (or "" when not strict) when nothing is left."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].rstrip("-")
    if not label and strict:
        raise InvalidArgument(f"cannot make a Kubernetes name (a DNS-1123 label) of {what} name {text!r}: "
                              "it has no letter or digit")
    return label


def dns_subdomain(text: str, what: str) -> str:
    name = re.sub(r"[^a-z0-9.-]+", "-", text.lower())
    name = ".".join(p.strip("-") for p in name.split(".") if p.strip("-"))[:253].rstrip("-.")
    if not name or not _DNS_SUBDOMAIN.fullmatch(name):
        raise InvalidArgument(f"cannot make a Kubernetes name (DNS-1123) of {what} name {text!r}")
    return name


def _label_key_ok(key: str) -> bool:
    prefix, sep, name = key.rpartition("/")
    if sep and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return bool(_LABEL_NAME.fullmatch(name))


def _sort_labels(given: dict, labels: dict, annotations: dict, where: str, out: Generated) -> None:
    """Labels Kubernetes takes as labels; values it does not (too long, spaces...) as annotations;
    berth's own (berth.*) dropped; keys it takes in neither, warned."""
    for key, value in given.items():
        value = str(value)
        if key.startswith("berth."):
            continue
        if key == "app":
            if value != labels.get("app"):
                out.warn(f"{where}: label app={value} is replaced by app={labels.get('app')}, which the "
                         "Deployment's selector and the Service use")
            continue
        if not _label_key_ok(key):
            out.warn(f"{where}: label {key!r} is not a Kubernetes label key: left out")
        elif value == "" or _LABEL_NAME.fullmatch(value):
            labels.setdefault(key, value)
        else:
            annotations.setdefault(key, value)


# ---- output -----------------------------------------------------------------------------

def to_yaml(documents: list[dict]) -> str:
    import yaml
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False, explicit_start=True)
