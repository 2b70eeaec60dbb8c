"""Kubernetes documents -> a plan of what `kube play` makes: pods with their ContainerSpecs, the
volumes they use (with the files of ConfigMaps and Secrets), Services, and a warning for every
field berth does not carry out. Pure: no I/O, nothing looked up on this host (the hostPath checks,
image pulls and name conflicts are play.py's preflight), so every rule here is unit-tested.

Every field the translation reads is checked for its type; every field it does not know is one
warning naming its path (`spec.containers[0].lifecycle`): `_Doc.fields` walks each mapping against
the keys its reader knows. Approximations of Kubernetes, by design:
- a Job's pod restarts in place (restart policy on-failure:backoffLimit) instead of new pods;
- a startupProbe delays the container's one health check (its window becomes StartPeriod);
- one health check per container: the livenessProbe (which restarts), else the readinessProbe. A
  check made of a readinessProbe gates the pod's Services (health_gates_traffic: the pod gets no
  traffic while it is not healthy); a readinessProbe with the livenessProbe's handler shares its
  check (and schedule), one with another handler is left out, with a warning;
- status.podIP is known only once the pod's infra container runs: play fills it in then (POD_IP).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re

from berth.container.spec import ContainerSpec, MountSpec
from berth.network.balancer import ServicePort
from berth.errors import InvalidArgument
from berth.record import Record

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' rand.SafeEncodeString alphabet (no vowels, no 0/1/3)
DEFAULT_NETWORK = "berth-kube"
POD_IP = "\x00berth:status.podIP\x00"  # a value only known once the pod's infra container runs
SECOND = 1_000_000_000

LABEL_KIND, LABEL_NAME, LABEL_NAMESPACE = "berth.kube.kind", "berth.kube.name", "berth.kube.namespace"
LABEL_POD = "berth.kube.pod"          # on a pod's own volumes (emptyDir, configMap, secret)
LABEL_NETWORK = "berth.kube.network"  # on the default network when play made it
WORKLOADS = ("Pod", "Deployment", "ReplicaSet", "DaemonSet", "Job")
KINDS = WORKLOADS + ("ConfigMap", "Secret", "PersistentVolumeClaim", "Service")

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DATA_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}
_HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                    "BlockDevice")


class VolumePlan(Record):
    name: str
    labels: dict
    files: dict = None      # {relative path: (bytes, mode)}: made holding these (an emptyDir: {}); None: a PVC
    options: dict = {}      # the local driver's options (an emptyDir of medium Memory: a tmpfs)
    claim: bool = False     # a PersistentVolumeClaim's: made if missing, kept by `down` without --volumes


class HostPathCheck(Record):
    path: str
    type: str
    where: str              # document and field, for the error


class ContainerPlan(Record):
    name: str               # as the pod spec names it
    spec: ContainerSpec     # its name is <pod>-<name>, its pod the pod
    pull_policy: str        # Always | IfNotPresent | Never
    credentials: tuple = None   # (user, password) from the pod's imagePullSecrets for the image's registry
    sub_paths: list = []    # (index in spec.mounts, volume name, path in it): bound when the volume exists
    where: str = ""
    ports: dict = {}        # {name: containerPort}
    local_fallback: bool = False  # the policy is the default Always (no imagePullPolicy): a copy here
                                  # serves when the registry cannot be reached (a laptop offline), with a warning


class PodPlan(Record):
    name: str
    where: str              # "Deployment/web (document 2)"
    kind: str               # of the workload
    workload: str
    namespace: str
    labels: dict            # the pod's own and berth's
    annotations: dict
    hostname: str
    network: str            # the play's network, or "host"
    publish: list           # pods.create's publish texts
    aliases: list           # more names of the pod on its network (its Services')
    volumes: list           # VolumePlan, the pod's own
    claims: list            # names of the PVC volumes it uses
    host_paths: list        # HostPathCheck
    init: list              # ContainerPlan, run in order to completion first
    containers: list        # ContainerPlan
    job: bool = False

    def ports(self) -> dict:
        """{port name: number} of its app containers."""
        return {name: port for c in self.containers for name, port in c.ports.items()}


class ServicePlan(Record):
    name: str
    namespace: str
    where: str
    ports: list             # ServicePort
    pods: list              # names of the pods it selects
    labels: dict


class Plan(Record):
    pods: list
    claims: list            # VolumePlan of the PVCs (declared or referenced)
    services: list
    network: str
    default_network: bool   # the network is berth-kube (play makes it when missing)
    warnings: list


class Targets(Record):
    """What `kube down` looks for: workloads by (kind, name, namespace), PVC and Service names."""
    workloads: list
    claims: list
    services: list
    network: str


# ---- entry points ------------------------------------------------------------------------------

def build(documents: list, network: str | None = None, configmaps: list = (), random=None) -> Plan:
    """The plan of documents (yamlfile.Document); `configmaps`: documents of --configmap files (only
    ConfigMaps); `random(n)`: n characters of ALPHABET (a test gives a fixed one)."""
    random = random or _random
    warnings: list[str] = []
    docs = [_Doc(d, warnings) for d in documents]
    for d in docs:
        if d.kind not in KINDS:
            raise InvalidArgument(f"{d.source}: document {d.index}: kind {d.kind!r} is not supported "
                                  f"(use {', '.join(KINDS)}); nothing was created")
    extra = [_Doc(d, warnings) for d in configmaps]
    for d in extra:
        if d.kind != "ConfigMap":
            raise InvalidArgument(f"{d.source}: document {d.index}: --configmap files hold ConfigMaps, not {d.kind}")
    seen = set()
    for d in docs + extra:
        key = (d.kind, d.namespace, d.name)
        if key in seen:
            raise InvalidArgument(f"{d.source}: document {d.index}: a second {d.kind} named {d.name!r}")
        seen.add(key)
        d.check_metadata()
    data = _Data()
    for d in extra + docs:
        if d.kind == "ConfigMap":
            data.configmaps[(d.namespace, d.name)] = _configmap(d)
        elif d.kind == "Secret":
            data.secrets[(d.namespace, d.name)] = _secret(d)
    net = network or DEFAULT_NETWORK
    claims: dict[str, VolumePlan] = {}
    for d in docs:
        if d.kind == "PersistentVolumeClaim":
            claims[d.name] = _claim(d)
    pods: list[PodPlan] = []
    templates: list[tuple[_Doc, dict, list]] = []  # (document, template labels, its pods)
    for d in docs:
        if d.kind in WORKLOADS:
            made = _workload(d, data, net, random)
            templates.append((d, made[0].labels if made else _template_labels(d), made))
            pods += made
    names = [p.name for p in pods]
    for name in names:
        if names.count(name) > 1:
            raise InvalidArgument(f"two pods would be named {name!r}")
    for p in pods:
        for claim in p.claims:
            claims.setdefault(claim, VolumePlan(claim, {LABEL_KIND: "PersistentVolumeClaim", LABEL_NAME: claim,
                                                        LABEL_NAMESPACE: p.namespace}, claim=True))
    services = [_service(d, templates) for d in docs if d.kind == "Service"]
    by_name = {p.name: p for p in pods}
    for s in services:
        for pod in s.pods:
            p = by_name[pod]
            if p.network != "host":
                p.aliases += [a for a in (s.name, f"{s.name}.{s.namespace}.svc.cluster.local") if a not in p.aliases]
    return Plan(pods, list(claims.values()), services, net, network is None, warnings)


def targets(documents: list, network: str | None = None) -> Targets:
    """What play made for these documents, without resolving anything (down needs no ConfigMap)."""
    workloads, claims, services = [], [], []
    for d in documents:
        namespace = d.namespace
        if d.kind in WORKLOADS:
            workloads.append((d.kind, d.name, namespace))
            spec = d.body.get("spec") if isinstance(d.body.get("spec"), dict) else {}
            if d.kind != "Pod":
                template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
                spec = template.get("spec") if isinstance(template.get("spec"), dict) else {}
            for v in spec.get("volumes") or []:
                pvc = v.get("persistentVolumeClaim") if isinstance(v, dict) else None
                if isinstance(pvc, dict) and isinstance(pvc.get("claimName"), str):
                    claims.append(pvc["claimName"])
        elif d.kind == "PersistentVolumeClaim":
            claims.append(d.name)
        elif d.kind == "Service":
            services.append((d.name, namespace))
        elif d.kind not in KINDS:
            raise InvalidArgument(f"{d.source}: document {d.index}: kind {d.kind!r} is not supported "
                                  f"(use {', '.join(KINDS)})")
    return Targets(workloads, list(dict.fromkeys(claims)), services, network or DEFAULT_NETWORK)


def template_hash(template) -> str:
    """Kubernetes' pod-template-hash in form: 10 characters of ALPHABET, stable for one template."""
    digits = str(int.from_bytes(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()[:8], "big"))
    return "".join(ALPHABET[ord(ch) % len(ALPHABET)] for ch in digits[:10])


def _random(n: int) -> str:
    return "".join(ALPHABET[b % len(ALPHABET)] for b in os.urandom(n))


def expand(text: str, env: dict) -> str:
    """Kubernetes' $(VAR) expansion: a defined VAR is replaced, $$ is a $, anything else stays."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch != "$" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append(text[i:])
                break
            name = text[i + 2:end]
            out.append(env[name] if name in env else text[i:end + 1])
            i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def parse_cpu(text) -> float:
    """A CPU quantity (2, 1.5, 500m) in CPUs."""
    value = _quantity(text, "cpu")
    if value <= 0:
        raise ValueError("must be more than 0")
    return value


def parse_memory(text) -> int:
    """A memory quantity (128Mi, 1G, 1e6, 4096) in bytes, rounded up as Kubernetes does."""
    import math
    value = _quantity(text, "memory")
    if value <= 0:
        raise ValueError("must be more than 0")
    return math.ceil(value)


_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "n": 1e-9, "u": 1e-6,
           "m": 1e-3, "": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def _quantity(text, what: str) -> float:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"expected a {what} quantity")
    match = re.fullmatch(r"\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)((?:[KMGTPE]i)|[numkKMGTPE]|[eE][-+]?[0-9]+)?",
                         str(text).strip())
    if not match:
        raise ValueError(f"invalid {what} quantity {text!r} (e.g. {'500m or 1.5' if what == 'cpu' else '128Mi'})")
    number, suffix = float(match.group(1)), match.group(2) or ""
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * 10 ** int(suffix[1:])
    return number * _SUFFIX[suffix]


# ---- documents -------------------------------------------------------------------------------------

class _Doc:
    """One document while it is read: its errors and warnings name it and the field."""

    def __init__(self, doc, warnings: list):
        self.doc, self.body, self.kind, self.name = doc, doc.body, doc.kind, doc.name
        self.index, self.source, self.namespace = doc.index, doc.source, doc.namespace
        self.warnings = warnings

    @property
    def where(self) -> str:
        return f"{self.kind}/{self.name} (document {self.index})"

    def fail(self, path: str, reason: str):
        raise InvalidArgument(f"{self.source}: document {self.index} ({self.kind}/{self.name}): {path}: {reason}")

    def warn(self, path: str, reason: str) -> None:
        self.warnings.append(f"{self.kind}/{self.name}: {path}: {reason}")

    def fields(self, obj, path: str, known, empty_ok=()) -> dict:
        """`obj` as a mapping ({} for null); each key not in `known` is one warning. `empty_ok`: keys
        that carry nothing when empty or null (creationTimestamp: null, status: {}), so no warning."""
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            self.fail(path or "(document)", "expected a mapping")
        for key in obj:
            if key in known:
                continue
            if key in empty_ok and not obj[key]:
                continue
            self.warn(_join(path, str(key)), "not supported by berth, ignored")
        return obj

    def get(self, obj: dict, key: str, path: str, kind: type | tuple, default=None):
        """obj[key] checked to be of `kind` (bool is no int here); `default` when absent or null."""
        value = obj.get(key)
        if value is None:
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            self.fail(_join(path, key), f"expected {_type_name(kinds)}, got a boolean")
        if not isinstance(value, kinds):
            self.fail(_join(path, key), f"expected {_type_name(kinds)}, got {_type_name((type(value),))}")
        return value

    def string_map(self, obj: dict, key: str, path: str) -> dict:
        value = self.get(obj, key, path, dict, {})
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str):
                self.fail(_join(path, f"{key}.{k}"), "expected string keys and values (quote numbers and booleans)")
        return dict(value)

    def check_metadata(self) -> None:
        meta = self.fields(self.body.get("metadata"), "metadata", ("name", "namespace", "labels", "annotations"),
                           empty_ok=("creationTimestamp",))
        self.fields(self.body, "", ("apiVersion", "kind", "metadata", "spec", "data", "binaryData", "stringData",
                                    "type", "immutable"), empty_ok=("status",))
        if self.kind != "Secret" and self.kind != "ConfigMap":
            for key in ("data", "binaryData", "stringData", "type", "immutable"):
                if key in self.body:
                    self.warn(key, f"not a field of a {self.kind}, ignored")
        if not (_DNS_SUBDOMAIN.fullmatch(self.name) and len(self.name) <= 253):
            self.fail("metadata.name", f"{self.name!r} is not a valid name: lower-case letters, digits, '-' and '.'")
        if not _DNS_LABEL.fullmatch(self.namespace):
            self.fail("metadata.namespace", f"{self.namespace!r} is not a valid namespace")
        self.string_map(meta, "labels", "metadata")
        self.string_map(meta, "annotations", "metadata")

    @property
    def labels(self) -> dict:
        return dict((self.body.get("metadata") or {}).get("labels") or {})


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(kinds: tuple) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list",
             dict: "a mapping", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


class _Data:
    """The ConfigMaps and Secrets of the play, by (namespace, name)."""

    def __init__(self):
        self.configmaps: dict[tuple, dict] = {}   # {key: bytes}
        self.secrets: dict[tuple, dict] = {}      # {"type": str, "data": {key: bytes}}


def _configmap(d: _Doc) -> dict:
    out = {}
    for key, value in d.string_map(d.body, "data", "").items():
        _data_key(d, "data", key)
        out[key] = value.encode()
    for key, value in d.string_map(d.body, "binaryData", "").items():
        _data_key(d, "binaryData", key)
        if key in out:
            d.fail(f"binaryData.{key}", "the key is in data too")
        out[key] = _base64(d, f"binaryData.{key}", value)
    d.get(d.body, "immutable", "", bool)
    return out


def _secret(d: _Doc) -> dict:
    data = {}
    for key, value in d.string_map(d.body, "data", "").items():
        _data_key(d, "data", key)
        data[key] = _base64(d, f"data.{key}", value)
    for key, value in d.string_map(d.body, "stringData", "").items():
        _data_key(d, "stringData", key)
        data[key] = value.encode()  # stringData wins over data, as the API server merges them
    d.get(d.body, "immutable", "", bool)
    return {"type": d.get(d.body, "type", "", str, "Opaque"), "data": data}


def _data_key(d: _Doc, field: str, key: str) -> None:
    if not _DATA_KEY.fullmatch(key) or key in (".", "..") or len(key) > 253:
        d.fail(f"{field}.{key}", "a key is letters, digits, '-', '_' and '.' (and not . or ..)")


def _base64(d: _Doc, path: str, text: str) -> bytes:
    import binascii
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        d.fail(path, "not valid base64 (use stringData for plain text)")


def _claim(d: _Doc) -> VolumePlan:
    spec = d.fields(d.body.get("spec"), "spec", ("accessModes", "resources", "storageClassName", "volumeMode"))
    if spec.get("resources"):
        d.warn("spec.resources", "a local volume has no size limit")
    if spec.get("storageClassName") is not None:
        d.warn("spec.storageClassName", "a local volume has no storage class")
    mode = d.get(spec, "volumeMode", "spec", str, "Filesystem")
    if mode != "Filesystem":
        d.fail("spec.volumeMode", "only Filesystem volumes")
    return VolumePlan(d.name, {**d.labels, LABEL_KIND: "PersistentVolumeClaim", LABEL_NAME: d.name,
                               LABEL_NAMESPACE: d.namespace}, claim=True)


# ---- workloads -----------------------------------------------------------------------------------

_WORKLOAD_SPEC = {
    "Deployment": ("replicas", "selector", "template", "strategy", "revisionHistoryLimit", "progressDeadlineSeconds",
                   "minReadySeconds", "paused"),
    "ReplicaSet": ("replicas", "selector", "template", "minReadySeconds"),
    "DaemonSet": ("selector", "template", "updateStrategy", "minReadySeconds", "revisionHistoryLimit"),
    "Job": ("template", "backoffLimit", "completions", "parallelism", "activeDeadlineSeconds",
            "ttlSecondsAfterFinished", "selector", "manualSelector", "completionMode", "suspend"),
}
# fields of a workload's spec that only steer a cluster's rollouts: read, no effect on one machine
_ROLLOUT = ("strategy", "revisionHistoryLimit", "progressDeadlineSeconds", "minReadySeconds", "paused",
            "updateStrategy", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "manualSelector",
            "completionMode", "suspend")


def _template_labels(d: _Doc) -> dict:
    if d.kind == "Pod":
        return d.labels
    spec = d.body.get("spec") or {}
    return dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})


def _workload(d: _Doc, data: _Data, network: str, random) -> list[PodPlan]:
    berth_labels = {LABEL_KIND: d.kind, LABEL_NAME: d.name, LABEL_NAMESPACE: d.namespace}
    if d.kind == "Pod":
        meta = d.body.get("metadata") or {}
        return [_pod(d, d.body.get("spec"), "spec", d.name, {**meta.get("labels", {}), **berth_labels},
                     dict(meta.get("annotations") or {}), data, network)]
    spec = d.fields(d.body.get("spec"), "spec", _WORKLOAD_SPEC[d.kind])
    for key in _ROLLOUT:
        if key in spec and key in _WORKLOAD_SPEC[d.kind]:
            d.warn(f"spec.{key}", "a rollout setting of a cluster: no effect here")
    template = d.get(spec, "template", "spec", dict)
    if template is None:
        d.fail("spec.template", "required")
    tmeta = d.fields(template.get("metadata"), "spec.template.metadata", ("labels", "annotations"),
                     empty_ok=("creationTimestamp",))
    labels = d.string_map(tmeta, "labels", "spec.template.metadata")
    annotations = d.string_map(tmeta, "annotations", "spec.template.metadata")
    d.fields(template, "spec.template", ("metadata", "spec"))
    _check_selector(d, spec, labels)
    replicas = 1
    if d.kind in ("Deployment", "ReplicaSet"):
        replicas = d.get(spec, "replicas", "spec", int, 1)
        if replicas < 0:
            d.fail("spec.replicas", "cannot be negative")
    backoff = None
    if d.kind == "Job":
        backoff = d.get(spec, "backoffLimit", "spec", int, 6)
        if backoff < 0:
            d.fail("spec.backoffLimit", "cannot be negative")
        for key in ("completions", "parallelism"):
            if d.get(spec, key, "spec", int, 1) != 1:
                d.warn(f"spec.{key}", "berth runs a Job's pod once: 1 is used")
    tspec = d.get(template, "spec", "spec.template", dict)
    if tspec is None:
        d.fail("spec.template.spec", "required")
    prefix = f"{d.name}-{template_hash(template)}" if d.kind == "Deployment" else d.name
    pods = []
    for _ in range(replicas):
        for attempt in range(100):  # a suffix drawn twice in one play is drawn again
            name = f"{prefix}-{random(5)}"
            if name not in {p.name for p in pods}:
                break
        pods.append(_pod(d, tspec, "spec.template.spec", name, {**labels, **berth_labels}, annotations, data,
                         network, job_backoff=backoff))
        d = _Quiet(d)  # the replicas after the first repeat its warnings
    return pods


class _Quiet(_Doc):
    """A document read again (the next replica): its warnings were given once already."""

    def __init__(self, d: _Doc):
        self.__dict__.update(d.__dict__)
        self.warnings = []


def _check_selector(d: _Doc, spec: dict, labels: dict) -> None:
    selector = d.get(spec, "selector", "spec", dict)
    if selector is None:
        if d.kind == "Job":
            return
        d.fail("spec.selector", "required")
    d.fields(selector, "spec.selector", ("matchLabels", "matchExpressions"))
    if selector.get("matchExpressions"):
        d.warn("spec.selector.matchExpressions", "not checked against the template's labels")
    match = d.string_map(selector, "matchLabels", "spec.selector")
    missing = {k: v for k, v in match.items() if labels.get(k) != v}
    if missing:
        d.fail("spec.selector.matchLabels", f"{missing} does not match the template's labels {labels}")


_POD_SPEC = ("containers", "initContainers", "volumes", "restartPolicy", "hostname", "hostNetwork", "securityContext",
             "imagePullSecrets", "terminationGracePeriodSeconds")


def _pod(d: _Doc, spec, path: str, name: str, labels: dict, annotations: dict, data: _Data, network: str,
         job_backoff: int | None = None) -> PodPlan:
    spec = d.fields(spec, path, _POD_SPEC)
    restart_default = "Always" if d.kind != "Job" else None
    restart = d.get(spec, "restartPolicy", path, str, restart_default)
    if restart not in _RESTART:
        if restart is None:
            d.fail(f"{path}.restartPolicy", "a Job's pod needs OnFailure or Never")
        d.fail(f"{path}.restartPolicy", f"{restart!r}: use Always, OnFailure or Never")
    if d.kind in ("Deployment", "ReplicaSet", "DaemonSet") and restart != "Always":
        d.fail(f"{path}.restartPolicy", f"a {d.kind}'s pods restart Always")
    if d.kind == "Job" and restart == "Always":
        d.fail(f"{path}.restartPolicy", "a Job's pod restarts OnFailure or Never")
    if d.kind == "Job":  # docker's on-failure:0 would retry forever: no retries is "no"
        policy = f"on-failure:{job_backoff}" if job_backoff else "no"
    else:
        policy = _RESTART[restart]
    host_network = d.get(spec, "hostNetwork", path, bool, False)
    hostname = d.get(spec, "hostname", path, str, None) or None
    if hostname is not None and (not _DNS_LABEL.fullmatch(hostname) or len(hostname) > 63):
        d.fail(f"{path}.hostname", f"{hostname!r} is not a valid host name")
    hostname = hostname or name[:63].rstrip("-.")  # kubelet's default: the pod's name, cut to 63 characters
    grace = d.get(spec, "terminationGracePeriodSeconds", path, int)
    if grace is not None and grace < 0:
        d.fail(f"{path}.terminationGracePeriodSeconds", "cannot be negative")
    pod_security = _pod_security(d, spec.get("securityContext"), f"{path}.securityContext")
    credentials = _pull_secrets(d, spec, path, data)
    pod = PodPlan(name, d.where, d.kind, d.name, d.namespace, labels, annotations, hostname,
                  "host" if host_network else network, [], [], [], [], [], [], [], job=d.kind == "Job")
    mounts = _volumes(d, spec, path, pod, data)
    containers = d.get(spec, "containers", path, list)
    if not containers:
        d.fail(f"{path}.containers", "a pod needs at least one container")
    seen = set()
    for field, init in (("initContainers", True), ("containers", False)):
        for i, c in enumerate(d.get(spec, field, path, list, [])):
            cpath = f"{path}.{field}[{i}]"
            made = _container(d, c, cpath, pod, init, mounts, pod_security, credentials, data,
                              policy="no" if init else policy, grace=grace, host_network=host_network)
            if made.name in seen:
                d.fail(f"{cpath}.name", f"a second container named {made.name!r}")
            seen.add(made.name)
            (pod.init if init else pod.containers).append(made)
    return pod


def _pull_secrets(d: _Doc, spec: dict, path: str, data: _Data) -> dict:
    """{registry: (user, password)} from the pod's imagePullSecrets (Secrets of this play)."""
    out = {}
    for i, ref in enumerate(d.get(spec, "imagePullSecrets", path, list, [])):
        rpath = f"{path}.imagePullSecrets[{i}]"
        d.fields(ref, rpath, ("name",))
        name = d.get(ref, "name", rpath, str)
        secret = data.secrets.get((d.namespace, name))
        if secret is None:  # a cluster goes on without it, so does berth; berth's logins still apply
            d.warn(f"{rpath}.name", f"no Secret {name!r} in the YAML: berth's stored logins are used")
            continue
        kinds = {"kubernetes.io/dockerconfigjson": ".dockerconfigjson", "kubernetes.io/dockercfg": ".dockercfg"}
        if secret["type"] not in kinds or kinds[secret["type"]] not in secret["data"]:
            d.fail(f"{rpath}.name", f"Secret {name!r} is not of type kubernetes.io/dockerconfigjson "
                                    "with a .dockerconfigjson key")
        try:
            doc = json.loads(secret["data"][kinds[secret["type"]]])
            auths = doc.get("auths", {}) if secret["type"] == "kubernetes.io/dockerconfigjson" else doc
            for server, entry in auths.items():
                if "auth" in entry:
                    user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
                    if not sep:
                        raise ValueError("auth is not user:password")
                else:
                    user, password = entry["username"], entry["password"]
                out.setdefault(_registry_host(server), (str(user), str(password)))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            d.fail(f"{rpath}.name", f"Secret {name!r}: not a docker config with auths ({e})")
    return out


def _registry_host(server: str) -> str:
    host = server.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io", "docker.io") else host


# ---- volumes ---------------------------------------------------------------------------------------

class _Source(Record):
    """How a pod's volume is mounted into its containers."""
    kind: str               # volume | bind | skip
    source: str = ""        # volume name or host path
    readonly: bool = False  # always (configMap, secret, a read-only claim)
    files: bool = False     # a configMap or secret: subPath may name one of its files


def _volumes(d: _Doc, spec: dict, path: str, pod: PodPlan, data: _Data) -> dict:
    out = {}
    for i, v in enumerate(d.get(spec, "volumes", path, list, [])):
        vpath = f"{path}.volumes[{i}]"
        if not isinstance(v, dict):
            d.fail(vpath, "expected a mapping")
        name = d.get(v, "name", vpath, str)
        if not name or not _DNS_LABEL.fullmatch(name):
            d.fail(f"{vpath}.name", f"{name!r} is not a valid volume name")
        if name in out:
            d.fail(f"{vpath}.name", f"a second volume named {name!r}")
        sources = [k for k in v if k != "name"]
        if len(sources) != 1:
            d.fail(vpath, f"a volume has exactly one source, got {', '.join(sources) or 'none'}")
        kind = sources[0]
        body = v[kind] if v[kind] is not None else {}
        spath = f"{vpath}.{kind}"
        labels = {LABEL_POD: pod.name, LABEL_KIND: pod.kind, LABEL_NAME: pod.workload, LABEL_NAMESPACE: pod.namespace}
        volume_name = f"{pod.name}-{name}"
        if kind in ("configMap", "secret"):
            out[name] = _Source("volume", volume_name, True, True)
            pod.volumes.append(VolumePlan(volume_name, labels, _projected(d, body, spath, kind, data)))
        elif kind == "emptyDir":
            d.fields(body, spath, ("medium", "sizeLimit"))
            medium = d.get(body, "medium", spath, str, "")
            if medium not in ("", "Memory"):
                d.fail(f"{spath}.medium", f"{medium!r}: use \"\" or Memory")
            options = {}
            if medium == "Memory":
                options = {"type": "tmpfs", "device": "tmpfs"}
                if body.get("sizeLimit") is not None:
                    options["o"] = f"size={_memory(d, body['sizeLimit'], f'{spath}.sizeLimit')}"
            elif body.get("sizeLimit") is not None:
                d.warn(f"{spath}.sizeLimit", "a disk emptyDir has no size limit")
            out[name] = _Source("volume", volume_name)
            pod.volumes.append(VolumePlan(volume_name, labels, {}, options))
        elif kind == "hostPath":
            d.fields(body, spath, ("path", "type"))
            host = d.get(body, "path", spath, str)
            if not host or not host.startswith("/"):
                d.fail(f"{spath}.path", "an absolute path is required")
            htype = d.get(body, "type", spath, str, "")
            if htype not in _HOST_PATH_TYPES:
                d.fail(f"{spath}.type", f"{htype!r}: use one of {', '.join(map(repr, _HOST_PATH_TYPES))}")
            host = os.path.normpath(host)
            pod.host_paths.append(HostPathCheck(host, htype, f"{d.where}: {spath}"))
            out[name] = _Source("bind", host)
        elif kind == "persistentVolumeClaim":
            d.fields(body, spath, ("claimName", "readOnly"))
            claim = d.get(body, "claimName", spath, str)
            if not claim or not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", claim):
                d.fail(f"{spath}.claimName", f"{claim!r} is not a valid claim name")
            out[name] = _Source("volume", claim, d.get(body, "readOnly", spath, bool, False))
            if claim not in pod.claims:
                pod.claims.append(claim)
        else:
            d.warn(spath, "this volume type is not supported: its mounts are left out")
            out[name] = _Source("skip")
    return out


def _projected(d: _Doc, body, spath: str, kind: str, data: _Data) -> dict:
    """The files of a configMap or secret volume: {path: (bytes, mode)}."""
    ref = "name" if kind == "configMap" else "secretName"
    d.fields(body, spath, (ref, "items", "defaultMode", "optional"))
    name = d.get(body, ref, spath, str)
    if not name:
        d.fail(f"{spath}.{ref}", "required")
    optional = d.get(body, "optional", spath, bool, False)
    mode = _mode(d, body, "defaultMode", spath, 0o644)
    table = data.configmaps if kind == "configMap" else data.secrets
    found = table.get((d.namespace, name))
    what = "ConfigMap" if kind == "configMap" else "Secret"
    if found is None:
        if optional:
            return {}
        d.fail(f"{spath}.{ref}", f"no {what} {name!r} in the YAML (or --configmap files)")
    values = found if kind == "configMap" else found["data"]
    items = d.get(body, "items", spath, list)
    if items is None:
        return {key: (value, mode) for key, value in values.items()}
    files = {}
    for i, item in enumerate(items):
        ipath = f"{spath}.items[{i}]"
        d.fields(item, ipath, ("key", "path", "mode"))
        key, rel = d.get(item, "key", ipath, str), d.get(item, "path", ipath, str)
        if not key or not rel:
            d.fail(ipath, "key and path are required")
        check_relative(rel, lambda reason: d.fail(f"{ipath}.path", reason))
        if rel in files:
            d.fail(f"{ipath}.path", f"{rel!r}: a second item with this path (Kubernetes refuses it too)")
        if key not in values:
            if optional:
                continue
            d.fail(f"{ipath}.key", f"{what} {name!r} has no key {key!r}")
        files[rel] = (values[key], _mode(d, item, "mode", ipath, mode))
    return files


def check_relative(rel: str, fail) -> None:
    """A path inside a volume: relative, no `..`, no empty part."""
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in rel:
        fail(f"{rel!r}: a relative path without '..', '.' or empty parts is required")


def _mode(d: _Doc, obj: dict, key: str, path: str, default: int) -> int:
    value = d.get(obj, key, path, int, default)
    if not 0 <= value <= 0o777:
        d.fail(f"{path}.{key}", f"{value} is not a file mode (0 to 0777, 511 in decimal)")
    return value


# ---- containers ----------------------------------------------------------------------------------

_CONTAINER = ("name", "image", "command", "args", "workingDir", "env", "envFrom", "ports", "resources",
              "securityContext", "livenessProbe", "readinessProbe", "startupProbe", "imagePullPolicy",
              "volumeMounts", "stdin", "tty")


def _container(d: _Doc, c, path: str, pod: PodPlan, init: bool, mounts: dict, pod_security: dict,
               credentials: dict, data: _Data, policy: str, grace, host_network: bool) -> ContainerPlan:
    c = d.fields(c, path, _CONTAINER)
    name = d.get(c, "name", path, str)
    if not name or not _DNS_LABEL.fullmatch(name) or len(name) > 63:
        d.fail(f"{path}.name", f"{name!r} is not a valid container name (lower-case letters, digits and '-')")
    image = d.get(c, "image", path, str)
    if not image:
        d.fail(f"{path}.image", "required")
    given = d.get(c, "imagePullPolicy", path, str, None)
    pull = given or _default_pull(image)
    if pull not in _PULL_POLICIES:
        d.fail(f"{path}.imagePullPolicy", f"{pull!r}: use Always, IfNotPresent or Never")
    env_list, env = _env(d, c, path, pod, data)
    # command replaces the image's ENTRYPOINT (and so its CMD), args its CMD; empty is unset
    command = [expand(_string(d, a, f"{path}.command[{i}]"), env)
               for i, a in enumerate(d.get(c, "command", path, list, []))] or None
    args = [expand(_string(d, a, f"{path}.args[{i}]"), env)
            for i, a in enumerate(d.get(c, "args", path, list, []))] or None
    workdir = d.get(c, "workingDir", path, str)
    if workdir and not workdir.startswith("/"):
        d.fail(f"{path}.workingDir", "an absolute path is required")
    named_ports = _ports(d, c, path, pod, host_network)
    spec = ContainerSpec(image, args, command, name=f"{pod.name}-{name}", env=env_list, workdir=workdir or None,
                         pod=pod.name, pod_init=init, restart=policy, stop_timeout=grace,
                         stdin=d.get(c, "stdin", path, bool, False), tty=d.get(c, "tty", path, bool, False))
    _resources(d, c, path, spec)
    _security(d, c.get("securityContext"), f"{path}.securityContext", pod_security, spec)
    _probes(d, c, path, spec, named_ports, init)
    sub_paths = _mounts(d, c, path, mounts, spec)
    registry = _registry_of(image)
    return ContainerPlan(name, spec, pull, credentials.get(registry), sub_paths, f"{d.where}: {path}", named_ports,
                         local_fallback=not given and pull == "Always")


def _string(d: _Doc, value, path: str) -> str:
    if not isinstance(value, str):
        d.fail(path, "expected a string (quote numbers and booleans)")
    if "\x00" in value:
        d.fail(path, "a NUL character is not allowed")
    return value


def _default_pull(image: str) -> str:
    """Kubernetes' default: Always for :latest or no tag, else IfNotPresent (a digest is pinned)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return "Always" if not tag or tag == "latest" else "IfNotPresent"


def _registry_of(image: str) -> str:
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _env(d: _Doc, c: dict, path: str, pod: PodPlan, data: _Data) -> tuple[list[str], dict]:
    values: dict[str, str] = {}
    for i, item in enumerate(d.get(c, "envFrom", path, list, [])):
        ipath = f"{path}.envFrom[{i}]"
        d.fields(item, ipath, ("configMapRef", "secretRef", "prefix"))
        prefix = d.get(item, "prefix", ipath, str, "")
        refs = [k for k in ("configMapRef", "secretRef") if k in item]
        if len(refs) != 1:
            d.fail(ipath, "one of configMapRef or secretRef is required")
        rpath = f"{ipath}.{refs[0]}"
        ref = d.fields(item[refs[0]], rpath, ("name", "optional"))
        name = d.get(ref, "name", rpath, str)
        source = _lookup(data, refs[0], d.namespace, name)
        if source is None:
            if d.get(ref, "optional", rpath, bool, False):
                continue
            d.fail(f"{rpath}.name", f"no {_what(refs[0])} {name!r} in the YAML (or --configmap files)")
        for key, raw in source.items():
            if not _ENV_NAME.fullmatch(prefix + key):
                d.warn(rpath, f"key {key!r} is not a valid environment variable name: left out")
                continue
            values[prefix + key] = _env_text(d, raw, f"{rpath}: key {key!r}")
    for i, item in enumerate(d.get(c, "env", path, list, [])):
        ipath = f"{path}.env[{i}]"
        d.fields(item, ipath, ("name", "value", "valueFrom"))
        name = d.get(item, "name", ipath, str)
        if not name or not _ENV_NAME.fullmatch(name):
            d.fail(f"{ipath}.name", f"{name!r} is not a valid environment variable name")
        if item.get("valueFrom") is not None:
            if "value" in item:
                d.fail(ipath, "value and valueFrom are exclusive")
            value = _value_from(d, item["valueFrom"], f"{ipath}.valueFrom", pod, data)
            if value is None:
                continue
        else:
            value = expand(_string(d, item.get("value", ""), f"{ipath}.value") if item.get("value") is not None
                           else "", values)
        values[name] = value
    return [f"{k}={v}" for k, v in values.items()], values


def _lookup(data: _Data, ref: str, namespace: str, name: str):
    if ref.startswith("configMap"):
        return data.configmaps.get((namespace, name))
    found = data.secrets.get((namespace, name))
    return None if found is None else found["data"]


def _what(ref: str) -> str:
    return "ConfigMap" if ref.startswith("configMap") else "Secret"


def _env_text(d: _Doc, raw: bytes, where: str) -> str:
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        d.fail(where, "not UTF-8 text, cannot be an environment variable")
    if "\x00" in text:
        d.fail(where, "a NUL character cannot be in an environment variable")
    return text


def _value_from(d: _Doc, body, path: str, pod: PodPlan, data: _Data) -> str | None:
    body = d.fields(body, path, ("configMapKeyRef", "secretKeyRef", "fieldRef", "resourceFieldRef"))
    if len(body) != 1:
        d.fail(path, "exactly one of configMapKeyRef, secretKeyRef or fieldRef")
    kind = next(iter(body))
    rpath = f"{path}.{kind}"
    if kind in ("configMapKeyRef", "secretKeyRef"):
        ref = d.fields(body[kind], rpath, ("name", "key", "optional"))
        name, key = d.get(ref, "name", rpath, str), d.get(ref, "key", rpath, str)
        optional = d.get(ref, "optional", rpath, bool, False)
        source = _lookup(data, kind, d.namespace, name)
        if source is None or key not in source:
            if optional:
                return None
            if source is None:
                d.fail(f"{rpath}.name", f"no {_what(kind)} {name!r} in the YAML (or --configmap files)")
            d.fail(f"{rpath}.key", f"{_what(kind)} {name!r} has no key {key!r}")
        return _env_text(d, source[key], f"{rpath}: key {key!r}")
    if kind == "fieldRef":
        ref = d.fields(body[kind], rpath, ("fieldPath", "apiVersion"))
        field = d.get(ref, "fieldPath", rpath, str)
        labels = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", field or "")
        if field == "metadata.name":
            return pod.name
        if field == "metadata.namespace":
            return pod.namespace
        if field in ("status.podIP", "status.podIPs"):
            return POD_IP
        if labels:
            return (pod.labels if labels.group(1) == "labels" else pod.annotations).get(labels.group(2), "")
        d.warn(f"{rpath}.fieldPath", f"{field!r} is not supported (metadata.name, metadata.namespace, "
                                     "metadata.labels['...'], metadata.annotations['...'], status.podIP): left out")
        return None
    d.warn(rpath, "not supported: the variable is left out")
    return None


def _ports(d: _Doc, c: dict, path: str, pod: PodPlan, host_network: bool) -> dict:
    """The container's ports by name; hostPorts published on the pod."""
    named = {}
    for i, p in enumerate(d.get(c, "ports", path, list, [])):
        ppath = f"{path}.ports[{i}]"
        d.fields(p, ppath, ("containerPort", "hostPort", "hostIP", "protocol", "name"))
        port = d.get(p, "containerPort", ppath, int)
        if port is None or not 0 < port < 65536:
            d.fail(f"{ppath}.containerPort", "a port number 1-65535 is required")
        proto = d.get(p, "protocol", ppath, str, "TCP")
        if proto not in ("TCP", "UDP", "SCTP"):
            d.fail(f"{ppath}.protocol", f"{proto!r}: use TCP, UDP or SCTP")
        name = d.get(p, "name", ppath, str)
        if name is not None:
            if name in named:
                d.fail(f"{ppath}.name", f"a second port named {name!r}")
            named[name] = port
        host_port = d.get(p, "hostPort", ppath, int)
        host_ip = d.get(p, "hostIP", ppath, str, "")
        if not host_port:
            if host_ip:
                d.warn(f"{ppath}.hostIP", "no hostPort: nothing is published")
            continue
        if not 0 < host_port < 65536:
            d.fail(f"{ppath}.hostPort", "a port number 1-65535")
        if host_network:
            if host_port != port:
                d.fail(f"{ppath}.hostPort", "with hostNetwork the hostPort is the containerPort")
            continue
        if proto == "SCTP":
            d.fail(f"{ppath}.protocol", "berth publishes TCP and UDP ports only")
        if host_ip and not re.fullmatch(r"[0-9.]+", host_ip):
            d.fail(f"{ppath}.hostIP", f"{host_ip!r}: an IPv4 address")
        text = f"{host_ip + ':' if host_ip else ''}{host_port}:{port}/{proto.lower()}"
        if text not in pod.publish:
            pod.publish.append(text)
    return named


def _memory(d: _Doc, value, path: str) -> int:
    try:
        return parse_memory(value)
    except ValueError as e:
        d.fail(path, str(e))


def _resources(d: _Doc, c: dict, path: str, spec: ContainerSpec) -> None:
    rpath = f"{path}.resources"
    body = d.fields(c.get("resources"), rpath, ("limits", "requests", "claims"))
    if body.get("claims"):
        d.warn(f"{rpath}.claims", "dynamic resources are not supported")
    limits = d.get(body, "limits", rpath, dict, {})
    for key, value in limits.items():
        lpath = f"{rpath}.limits.{key}"
        if key == "cpu":
            try:
                spec.cpus = parse_cpu(value)
            except ValueError as e:
                d.fail(lpath, str(e))
        elif key == "memory":
            spec.memory = _memory(d, value, lpath)
        else:
            d.warn(lpath, "only cpu and memory limits are enforced: ignored")
    if d.get(body, "requests", rpath, dict):
        d.warn(f"{rpath}.requests", "requests are not enforced (one machine schedules nothing)")


def _pod_security(d: _Doc, body, path: str) -> dict:
    body = d.fields(body, path, ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "fsGroup",
                                 "supplementalGroups"))
    for key in ("fsGroup", "supplementalGroups"):
        if body.get(key) is not None:
            d.warn(f"{path}.{key}", "not supported, ignored")
    return _user_fields(d, body, path)


def _user_fields(d: _Doc, body: dict, path: str) -> dict:
    out = {}
    for key in ("runAsUser", "runAsGroup"):
        value = d.get(body, key, path, int)
        if value is not None:
            if value < 0:
                d.fail(f"{path}.{key}", "cannot be negative")
            out[key] = value
    if body.get("runAsNonRoot") is not None:
        out["runAsNonRoot"] = d.get(body, "runAsNonRoot", path, bool)
    profile = d.fields(body.get("seccompProfile"), f"{path}.seccompProfile", ("type", "localhostProfile"))
    if profile:
        kind = d.get(profile, "type", f"{path}.seccompProfile", str)
        if kind not in ("RuntimeDefault", "Unconfined", "Localhost"):
            d.fail(f"{path}.seccompProfile.type", f"{kind!r}: use RuntimeDefault, Unconfined or Localhost")
        if kind == "Localhost":
            d.warn(f"{path}.seccompProfile", "Localhost profiles are not supported: the default profile is used")
        else:
            out["seccomp"] = kind
    out["where"] = path
    return out


def _security(d: _Doc, body, path: str, pod_level: dict, spec: ContainerSpec) -> None:
    body = d.fields(body, path, ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "capabilities",
                                 "readOnlyRootFilesystem", "privileged", "allowPrivilegeEscalation"))
    own = _user_fields(d, body, path)
    merged = {**{k: v for k, v in pod_level.items() if k != "where"}, **{k: v for k, v in own.items() if k != "where"}}
    uid, gid = merged.get("runAsUser"), merged.get("runAsGroup")
    if uid is not None:
        spec.user = f"{uid}:{gid}" if gid is not None else str(uid)
    elif gid is not None:
        d.warn(f"{own['where'] if 'runAsGroup' in own else pod_level['where']}.runAsGroup",
               "runAsGroup without runAsUser is not supported: the image's user is used")
    if merged.get("runAsNonRoot"):
        if uid == 0:
            d.fail(f"{path}.runAsNonRoot", "runAsNonRoot with runAsUser 0")
        if uid is None:
            d.warn(f"{path}.runAsNonRoot", "not checked against the image's user (set runAsUser)")
    if merged.get("seccomp") == "Unconfined":
        spec.security_opt = spec.security_opt + ["seccomp=unconfined"]
    caps = d.fields(body.get("capabilities"), f"{path}.capabilities", ("add", "drop"))
    for key in ("add", "drop"):
        names = d.get(caps, key, f"{path}.capabilities", list, [])
        for i, n in enumerate(names):
            if not isinstance(n, str) or not re.fullmatch(r"[A-Za-z_]+", n):
                d.fail(f"{path}.capabilities.{key}[{i}]", "a capability name such as NET_ADMIN")
        setattr(spec, "cap_add" if key == "add" else "cap_drop", [n.upper() for n in names])
    spec.read_only = d.get(body, "readOnlyRootFilesystem", path, bool, False)
    spec.privileged = d.get(body, "privileged", path, bool, False)
    if d.get(body, "allowPrivilegeEscalation", path, bool, True) is False:
        if spec.privileged:
            d.fail(f"{path}.allowPrivilegeEscalation", "cannot be false for a privileged container")
        spec.security_opt = spec.security_opt + ["no-new-privileges"]


def _probes(d: _Doc, c: dict, path: str, spec: ContainerSpec, ports: dict, init: bool) -> None:
    probes = {k: c.get(k) for k in ("livenessProbe", "readinessProbe", "startupProbe") if c.get(k) is not None}
    if init:
        for k in probes:
            d.warn(f"{path}.{k}", "an init container has no probes: ignored")
        return
    made = {k: _probe(d, v, f"{path}.{k}", ports) for k, v in probes.items()}
    liveness, readiness = made.get("livenessProbe"), made.get("readinessProbe")
    check = liveness or readiness
    if liveness and readiness:
        if liveness["Test"] != readiness["Test"]:
            d.warn(f"{path}.readinessProbe", "one health check per container: the livenessProbe's is used")
        else:  # one check serves both: it restarts the container and gates the pod's traffic
            spec.health_gates_traffic = True
            if liveness != readiness:
                d.warn(f"{path}.readinessProbe", "one health check per container: it probes on the "
                                                 "livenessProbe's schedule")
    elif readiness:
        spec.health_gates_traffic = True
    if liveness:
        spec.health_on_failure = "restart"
    startup = made.get("startupProbe")
    if startup:
        if check is None:
            d.warn(f"{path}.startupProbe", "a startupProbe alone gives no health check: ignored")
        else:  # an approximation: the check's start period covers the startup probe's window
            check["StartPeriod"] = (check.get("StartPeriod", 0) + startup.get("StartPeriod", 0)
                                    + startup["Retries"] * startup["Interval"])
    if check and check.get("StartPeriod"):  # Kubernetes probes every periodSeconds, not at docker's 5 s start interval
        check["StartInterval"] = check["Interval"]
    spec.healthcheck = check


def _probe(d: _Doc, body, path: str, ports: dict) -> dict | None:
    body = d.fields(body, path, ("exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "periodSeconds",
                                 "timeoutSeconds", "failureThreshold", "successThreshold"))
    handlers = [k for k in ("exec", "httpGet", "tcpSocket", "grpc") if k in body]
    if len(handlers) != 1:
        d.fail(path, "exactly one of exec, httpGet or tcpSocket")
    kind = handlers[0]
    hpath = f"{path}.{kind}"
    if kind == "grpc":
        d.warn(hpath, "gRPC probes are not supported: the probe is left out")
        return None
    if kind == "exec":
        h = d.fields(body[kind], hpath, ("command",))
        command = [_string(d, a, f"{hpath}.command[{i}]") for i, a in enumerate(d.get(h, "command", hpath, list, []))]
        if not command:
            d.fail(f"{hpath}.command", "required")
        test = ["CMD", *command]
    elif kind == "httpGet":
        h = d.fields(body[kind], hpath, ("path", "port", "scheme", "httpHeaders", "host"))
        if h.get("host") is not None:
            d.warn(f"{hpath}.host", "the probe always asks the pod itself")
        scheme = d.get(h, "scheme", hpath, str, "HTTP")
        if scheme not in ("HTTP", "HTTPS"):
            d.fail(f"{hpath}.scheme", f"{scheme!r}: use HTTP or HTTPS")
        headers = []
        for i, header in enumerate(d.get(h, "httpHeaders", hpath, list, [])):
            hp = f"{hpath}.httpHeaders[{i}]"
            d.fields(header, hp, ("name", "value"))
            hname, hvalue = d.get(header, "name", hp, str), d.get(header, "value", hp, str, "")
            if not hname or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", hname) or "\n" in hvalue \
                    or "\r" in hvalue:
                d.fail(hp, "a header name (a token) and a value on one line")
            headers.append(f"{hname}: {hvalue}")
        probe_path = d.get(h, "path", hpath, str, "/") or "/"
        if not probe_path.startswith("/"):
            probe_path = "/" + probe_path
        test = ["HTTP-GET", str(_probe_port(d, h, hpath, ports)), probe_path, scheme.lower(), *headers]
    else:
        h = d.fields(body[kind], hpath, ("port", "host"))
        if h.get("host") is not None:
            d.warn(f"{hpath}.host", "the probe always asks the pod itself")
        test = ["TCP-SOCKET", str(_probe_port(d, h, hpath, ports))]
    numbers = {}
    for key, default, least in (("initialDelaySeconds", 0, 0), ("periodSeconds", 10, 1), ("timeoutSeconds", 1, 1),
                                ("failureThreshold", 3, 1), ("successThreshold", 1, 1)):
        numbers[key] = d.get(body, key, path, int, default)
        if numbers[key] < least:
            d.fail(f"{path}.{key}", f"at least {least}")
    if numbers["successThreshold"] != 1:
        d.warn(f"{path}.successThreshold", "one success makes a container healthy again")
    check = {"Test": test, "Interval": numbers["periodSeconds"] * SECOND, "Timeout": numbers["timeoutSeconds"] * SECOND,
             "Retries": numbers["failureThreshold"]}
    if numbers["initialDelaySeconds"]:
        check["StartPeriod"] = numbers["initialDelaySeconds"] * SECOND
    return check


def _probe_port(d: _Doc, h: dict, path: str, ports: dict) -> int:
    port = d.get(h, "port", path, (int, str))
    if isinstance(port, str):
        if port.isdigit():
            port = int(port)
        elif port in ports:
            return ports[port]
        else:
            d.fail(f"{path}.port", f"no container port named {port!r}")
    if port is None or not 0 < port < 65536:
        d.fail(f"{path}.port", "a port number 1-65535 or a container port's name is required")
    return port


def _mounts(d: _Doc, c: dict, path: str, sources: dict, spec: ContainerSpec) -> list:
    sub_paths = []
    for i, m in enumerate(d.get(c, "volumeMounts", path, list, [])):
        mpath = f"{path}.volumeMounts[{i}]"
        d.fields(m, mpath, ("name", "mountPath", "readOnly", "subPath"))
        name, target = d.get(m, "name", mpath, str), d.get(m, "mountPath", mpath, str)
        if name not in sources:
            d.fail(f"{mpath}.name", f"no volume named {name!r} in the pod")
        if not target or not target.startswith("/") or os.path.normpath(target) == "/":
            d.fail(f"{mpath}.mountPath", "an absolute path other than / is required")
        source = sources[name]
        if source.kind == "skip":
            continue
        readonly = source.readonly or d.get(m, "readOnly", mpath, bool, False)
        sub = d.get(m, "subPath", mpath, str, "")
        if sub:
            check_relative(sub, lambda reason: d.fail(f"{mpath}.subPath", reason))
            if source.kind == "bind":
                spec.mounts.append(MountSpec("bind", target, os.path.join(source.source, sub), readonly))
            elif source.files:
                sub_paths.append((len(spec.mounts), source.source, sub))
                spec.mounts.append(MountSpec("bind", target, "", readonly))
            else:
                d.fail(f"{mpath}.subPath", "berth mounts subPath of configMap, secret and hostPath volumes only")
            continue
        if source.kind == "bind":
            spec.mounts.append(MountSpec("bind", target, source.source, readonly))
        else:
            spec.mounts.append(MountSpec("volume", target, source.source, readonly))
    return sub_paths


# ---- services -------------------------------------------------------------------------------------

_SERVICE = ("selector", "ports", "type", "clusterIP")


def _service(d: _Doc, templates: list) -> ServicePlan:
    spec = d.fields(d.body.get("spec"), "spec", _SERVICE)
    kind = d.get(spec, "type", "spec", str, "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer"):
        d.fail("spec.type", f"{kind!r}: berth plays ClusterIP, NodePort and LoadBalancer Services")
    cluster_ip = d.get(spec, "clusterIP", "spec", str, "")
    if cluster_ip:
        d.warn("spec.clusterIP", "a Service has no address of its own here: its name resolves to its pods")
    selector = d.string_map(spec, "selector", "spec")
    if not selector:
        d.warn("spec.selector", "no selector: the Service selects no pod")
    pods = [p for doc, labels, made in templates if doc.namespace == d.namespace and selector
            and all(labels.get(k) == v for k, v in selector.items()) for p in made]
    named = {}
    for p in reversed(pods):
        named.update(p.ports())
    ports, seen = [], set()
    for i, p in enumerate(d.get(spec, "ports", "spec", list, [])):
        ppath = f"spec.ports[{i}]"
        d.fields(p, ppath, ("name", "protocol", "port", "targetPort", "nodePort"))
        name = d.get(p, "name", ppath, str, "")
        proto = d.get(p, "protocol", ppath, str, "TCP")
        if proto not in ("TCP", "UDP"):
            d.fail(f"{ppath}.protocol", f"{proto!r}: berth publishes TCP and UDP")
        port = d.get(p, "port", ppath, int)
        if port is None or not 0 < port < 65536:
            d.fail(f"{ppath}.port", "a port number 1-65535 is required")
        node_port = d.get(p, "nodePort", ppath, int)
        if node_port is not None and not 0 < node_port < 65536:
            d.fail(f"{ppath}.nodePort", "a port number 1-65535")
        target = d.get(p, "targetPort", ppath, (int, str), port)
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        if isinstance(target, str):
            if target not in named:
                d.fail(f"{ppath}.targetPort", f"no container port named {target!r} in the pods the Service selects")
            target = named[target]
        if not 0 < target < 65536:
            d.fail(f"{ppath}.targetPort", "a port number 1-65535 or a container port's name")
        host_port = node_port or port
        if (host_port, proto) in seen:
            d.fail(ppath, f"host port {host_port}/{proto} is given twice")
        seen.add((host_port, proto))
        ports.append(ServicePort(name, proto.lower(), host_port, target))
    if not ports:
        d.fail("spec.ports", "a Service needs at least one port")
    return ServicePlan(d.name, d.namespace, d.where, ports, [p.name for p in pods],
                       {**d.labels, LABEL_KIND: "Service", LABEL_NAME: d.name, LABEL_NAMESPACE: d.namespace})
