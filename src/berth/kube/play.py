"""`kube play` and `kube down`: a plan (plan.py) carried out through the Engine, and undone.

play checks everything it can before it makes anything (the network asked for exists, no pod,
container or volume name is taken, no workload of the file runs already, hostPath types, host ports
free, every image pulled or present as its pull policy says); then it makes the network, volumes,
pods and containers, and starts them (init containers first, one by one, to completion). If a step
fails, what this play made so far is removed and the error names the document. An init container
that fails is the exception: its pod stays, as a cluster shows it (Init:Error), for its logs.

down finds what play made by berth's labels on pods, volumes and Services (berth.kube.kind, .name,
.namespace), never by name alone, so a pod or Service of the same name made otherwise (or played from
another namespace) stays.
"""
from __future__ import annotations

import time

from berth.errors import BerthError, Conflict, InvalidArgument, NotFound
from berth.kube import plan as kplan
from berth.record import Record


class Made(Record):
    """What one play made."""
    pods: list = []         # (pod plan, pod ID, [container IDs])
    volumes: list = []      # names
    network: str = None     # the default network, when this play made it
    services: list = []     # names


class Removed(Record):
    pods: list = []         # (name, ID)
    volumes: list = []
    services: list = []
    network: str = None


class JobResult(Record):
    job: str
    pod: str
    container: str
    exit_code: int


def play(engine, the_plan: kplan.Plan, start: bool = True, report=None) -> Made:
    """Check, then make everything of the plan; `report(line)` hears about pulls and warnings."""
    report = report or (lambda line: None)
    network_missing = _preflight(engine, the_plan, report)
    made = Made()
    try:
        if network_missing:
            engine.networks.create(the_plan.network, labels={kplan.LABEL_NETWORK: "true"})
            made.network = the_plan.network
        for claim in the_plan.claims:
            try:
                engine.volumes.inspect(claim.name)
            except NotFound:
                engine.volumes.create(claim.name, labels=claim.labels)
                made.volumes.append(claim.name)
        for pod in the_plan.pods:
            with _naming(pod.where):
                made.pods.append(_make_pod(engine, pod, start, made, report))
        for service in the_plan.services:
            with _naming(service.where):
                _publish(engine, service, made)
        if start:
            for pod, _, ids in made.pods:
                _start_pod(engine, pod, ids)
    except _InitFailed as e:
        raise BerthError(str(e)) from None  # the pod stays for inspection; the rest too, for `kube down`
    except BaseException:
        _undo(engine, made)
        raise
    return made


class _InitFailed(BerthError):
    pass


class _naming:
    """Errors inside name the document they come from."""

    def __init__(self, where: str):
        self.where = where

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if isinstance(error, BerthError) and not isinstance(error, _InitFailed) and error.args \
                and not str(error.args[0]).startswith(self.where):
            error.args = (f"{self.where}: {error.args[0]}",) + error.args[1:]
        return False


def _make_pod(engine, pod: kplan.PodPlan, start: bool, made: Made, report) -> tuple:
    for v in pod.volumes:
        engine.volumes.create(v.name, labels=v.labels, options=v.options or None, files=v.files)
        made.volumes.append(v.name)
    created = engine.pods.create(pod.name, publish=list(pod.publish), network=pod.network, hostname=pod.hostname,
                                 labels=pod.labels, annotations=pod.annotations, aliases=list(pod.aliases))
    entry = (pod, created.id, [])
    made.pods.append(entry)  # removed on failure from here on; replaced by the caller's append
    address = ""
    uses_ip = any(kplan.POD_IP in text for c in pod.init + pod.containers for text in _texts(c.spec))
    if start and uses_ip:  # the pod's address exists once its infra container runs
        engine.containers.start(created.infra_id)
        address = engine.pods.inspect(created.id)["InfraConfig"]["IPAddress"]
    elif uses_ip:
        report(f"warning: {pod.where}: status.podIP: the pod is not started (--start=false): left empty")
    for c in pod.init + pod.containers:
        spec = _resolved(engine, c, address)
        entry[2].append(engine.containers.create(spec).id)
    made.pods.pop()
    return entry


def _texts(spec) -> list[str]:
    return list(spec.env) + list(spec.command or []) + list(spec.entrypoint or [])


def _resolved(engine, c: kplan.ContainerPlan, address: str):
    """The container's spec with the pod's address and the paths of subPath mounts filled in."""
    from berth.container.spec import ContainerSpec, MountSpec
    spec = ContainerSpec(**{k: (list(v) if isinstance(v, list) else v) for k, v in c.spec.__dict__.items()})
    fill = (lambda t: t.replace(kplan.POD_IP, address))
    spec.env = [fill(e) for e in spec.env]
    spec.command = [fill(a) for a in spec.command] if spec.command is not None else None
    spec.entrypoint = [fill(a) for a in spec.entrypoint] if spec.entrypoint is not None else None
    for index, volume, sub in c.sub_paths:
        m = spec.mounts[index]
        source = f"{engine.volumes.inspect(volume)['Mountpoint']}/{sub}"
        spec.mounts[index] = MountSpec("bind", m.target, source, m.readonly)
    return spec


def _start_pod(engine, pod: kplan.PodPlan, ids: list) -> None:
    inits, apps = ids[:len(pod.init)], ids[len(pod.init):]
    for c, cid in zip(pod.init, inits):
        engine.containers.start(cid)
        code = engine.containers.wait(cid)
        if code != 0:
            tail = b"".join(data for _, _, data in engine.containers.logs(cid, tail=5))
            shown = " | ".join(line for line in tail.decode(errors="replace").splitlines() if line.strip())[-400:]
            raise _InitFailed(f"{pod.where}: init container {c.name} exited with code {code}"
                              f"{f' (its last output: {shown})' if shown else ''}; pod {pod.name} is kept for "
                              f"inspection (berth pod logs {pod.name}; berth kube down removes it)")
    for c, cid in zip(pod.containers, apps):
        with _naming(pod.where):
            engine.containers.start(cid)


def _publish(engine, service: kplan.ServicePlan, made: Made) -> None:
    """The Service's ports on the host, spread over its pods as kube-proxy spreads them."""
    pods = {plan.name: pod_id for plan, pod_id, _ in made.pods}
    engine.networks.publish_service(service.name, ports=list(service.ports),
                                    backends=[pods[name] for name in service.pods if name in pods],
                                    labels=service.labels)
    made.services.append(service.name)


def _undo(engine, made: Made) -> None:
    """Remove what this play made, newest first; each removal on its own (one failing stops none)."""
    steps = [lambda n=name: _quietly(_unpublish, engine, n) for name in reversed(made.services)]
    steps += [lambda i=pod_id: engine.pods.remove(i, force=True) for _, pod_id, _ in reversed(made.pods)]
    steps += [lambda n=name: engine.volumes.remove(n, force=True) for name in reversed(made.volumes)]
    if made.network:
        steps.append(lambda: engine.networks.remove(made.network))
    for step in steps:
        try:
            step()
        except (BerthError, OSError, LookupError):
            pass


def _quietly(fn, *args):
    try:
        fn(*args)
    except (BerthError, OSError, LookupError):
        pass


def _unpublish(engine, name: str) -> None:
    engine.networks.remove_service(name)


# ---- preflight -------------------------------------------------------------------------------------

def _preflight(engine, the_plan: kplan.Plan, report) -> bool:
    """Everything checked before anything is made; True when the default network is to be made."""
    network_missing = False
    if the_plan.network not in ("bridge", "host", "none"):
        try:
            doc = engine.networks.inspect(the_plan.network)
        except NotFound:
            if not the_plan.default_network:
                raise NotFound(f"no network {the_plan.network!r}: create it first (berth network create)") from None
            network_missing = True
        else:
            if the_plan.default_network and not (doc.get("Labels") or {}).get(kplan.LABEL_NETWORK):
                report(f"warning: network {the_plan.network} was not made by kube play: its pods join it")
    _check_names(engine, the_plan)
    for pod in the_plan.pods:
        for check in pod.host_paths:
            _check_host_path(check)
    _check_ports(engine, the_plan)
    _images(engine, the_plan, report)
    return network_missing


def _check_names(engine, the_plan: kplan.Plan) -> None:
    workloads = {(p.kind, p.workload, p.namespace): p.where for p in the_plan.pods}
    for row in engine.pods.list():
        labels = row.get("Labels") or {}
        key = (labels.get(kplan.LABEL_KIND), labels.get(kplan.LABEL_NAME), labels.get(kplan.LABEL_NAMESPACE))
        if key in workloads:
            raise Conflict(f"{workloads[key]}: already played (pod {row['Name']}): use --replace, or kube down first")
    for pod in the_plan.pods:
        _absent(lambda: engine.pods.get(pod.name), f"{pod.where}: the pod name {pod.name!r} is already in use")
        for c in pod.init + pod.containers:
            _absent(lambda: engine.containers.get(c.spec.name),
                    f"{pod.where}: the container name {c.spec.name!r} is already in use")
        for v in pod.volumes:
            _absent(lambda: engine.volumes.inspect(v.name), f"{pod.where}: the volume {v.name!r} already exists")
    taken = {doc["Name"] for doc in engine.networks.services()}
    for service in the_plan.services:  # one name per host store: Services of two namespaces clash
        if service.name in taken:
            raise Conflict(f"{service.where}: the service name {service.name!r} is already in use")


def _absent(lookup, message: str) -> None:
    try:
        lookup()
    except NotFound:
        return
    raise Conflict(message)


def _check_host_path(check: kplan.HostPathCheck) -> None:
    """Kubernetes' hostPath type checks; DirectoryOrCreate and FileOrCreate make what is missing."""
    import errno
    import os
    import stat
    path, kind = check.path, check.type
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise InvalidArgument(f"{check.where}: hostPath {path}: {e.strerror}") from None
    if kind == "":
        if st is None:
            raise InvalidArgument(f"{check.where}: hostPath {path} does not exist (type DirectoryOrCreate makes it)")
        return
    wanted = {"Directory": stat.S_ISDIR, "DirectoryOrCreate": stat.S_ISDIR, "File": stat.S_ISREG,
              "FileOrCreate": stat.S_ISREG, "Socket": stat.S_ISSOCK, "CharDevice": stat.S_ISCHR,
              "BlockDevice": stat.S_ISBLK}[kind]
    if st is None:
        try:
            if kind == "DirectoryOrCreate":
                os.makedirs(path, mode=0o755, exist_ok=True)
                return
            if kind == "FileOrCreate":
                if not os.path.isdir(os.path.dirname(path)):
                    raise InvalidArgument(f"{check.where}: hostPath {path}: its directory does not exist")
                # not through a dangling symlink: the file is made where the YAML says
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
                return
        except OSError as e:  # a file where a directory is to be, a dangling symlink, a read-only mount
            reason = "a dangling symlink" if e.errno == errno.ELOOP else e.strerror
            raise InvalidArgument(f"{check.where}: hostPath {path} cannot be made (type {kind}): {reason}") from None
        raise InvalidArgument(f"{check.where}: hostPath {path} does not exist (type {kind})")
    if not wanted(st.st_mode):
        raise InvalidArgument(f"{check.where}: hostPath {path} is not a {kind.replace('OrCreate', '').lower()}"
                              f" (type {kind})")


def _check_ports(engine, the_plan: kplan.Plan) -> None:
    """No two pods or Services of the plan share a host port, and no container (of any store), service
    or host process holds one it publishes."""
    wanted = {}
    owners = [(pod.where, [_split_publish(text)[1:] for text in pod.publish]) for pod in the_plan.pods]
    owners += [(s.where, [(p.host_port, p.protocol) for p in s.ports]) for s in the_plan.services]
    for where, ports in owners:
        for key in ports:
            if key in wanted:
                raise Conflict(f"{where}: host port {key[0]}/{key[1]} is published by {wanted[key]} too")
            wanted[key] = where
    for pod in the_plan.pods:
        with _naming(pod.where):
            engine.networks.check_ports(publish=list(pod.publish))
    for service in the_plan.services:
        with _naming(service.where):
            engine.networks.check_ports(services=list(service.ports))


def _split_publish(text: str) -> tuple[str, int, str]:
    rest, _, proto = text.partition("/")
    parts = rest.split(":")
    addr = parts[0] if len(parts) == 3 else ""
    return addr, int(parts[-2]), proto


def _images(engine, the_plan: kplan.Plan, report) -> None:
    """Each image as its pull policy says: Always pulled, IfNotPresent pulled when missing, Never present.
    Kubernetes' default Always (no imagePullPolicy, a :latest image) falls back to a copy here when the
    pull fails, as a local run should work offline; an explicit Always does not."""
    done = set()
    for pod in the_plan.pods:
        for c in pod.init + pod.containers:
            image, policy = c.spec.image, c.pull_policy
            if (image, policy) in done:
                continue
            done.add((image, policy))
            present = True
            try:
                engine.images.get(image)
            except NotFound:
                present = False
            if policy == "Never" and not present:
                raise NotFound(f"{c.where}: image {image} is not here and imagePullPolicy is Never")
            if policy == "Always" or not present:
                report(f"pulling {image} ({c.where})")
                try:
                    engine.registries.pull(image, credentials=c.credentials)
                except BerthError as e:
                    if present and c.local_fallback:
                        report(f"warning: {c.where}: cannot pull {image} ({e}): using the copy here")
                        continue
                    hint = " (imagePullPolicy: IfNotPresent uses the local copy)" if present else ""
                    e.args = (f"{c.where}: cannot pull {image}: {e}{hint}",)
                    raise e from None


# ---- down, and Jobs ----------------------------------------------------------------------------------

def down(engine, targets: kplan.Targets, volumes: bool = False) -> Removed:
    """Remove what play made for these documents (PVC volumes only with `volumes`); idempotent."""
    removed = Removed()
    workloads = set(targets.workloads)
    ours = [row for row in engine.pods.list() if (
        (row.get("Labels") or {}).get(kplan.LABEL_KIND), (row.get("Labels") or {}).get(kplan.LABEL_NAME),
        (row.get("Labels") or {}).get(kplan.LABEL_NAMESPACE)) in workloads]
    # gracefully, as Kubernetes deletes pods: SIGTERM to all, then each one's grace period
    try:
        engine.pods.stop_many([row["Id"] for row in ours])
    except NotFound:  # another down (or pod rm) took one meanwhile: the removals skip it too
        pass
    for row in ours:
        try:
            engine.pods.remove(row["Id"], force=True)
        except NotFound:
            continue
        removed.pods.append((row["Name"], row["Id"]))
    services = set(targets.services)
    for doc in engine.networks.services():
        labels = doc.get("Labels") or {}
        if labels.get(kplan.LABEL_KIND) == "Service" and (doc["Name"], labels.get(kplan.LABEL_NAMESPACE)) in services:
            try:
                engine.networks.remove_service(doc["Name"])
                removed.services.append(doc["Name"])
            except NotFound:  # removed meanwhile
                pass
    for v in engine.volumes.list():
        labels = v.get("Labels") or {}
        key = (labels.get(kplan.LABEL_KIND), labels.get(kplan.LABEL_NAME), labels.get(kplan.LABEL_NAMESPACE))
        own = kplan.LABEL_POD in labels and key in workloads
        claim = (volumes and labels.get(kplan.LABEL_KIND) == "PersistentVolumeClaim"
                 and v["Name"] in targets.claims)
        if own or claim:
            engine.volumes.remove(v["Name"], force=True)
            removed.volumes.append(v["Name"])
    try:
        doc = engine.networks.inspect(targets.network)
    except NotFound:
        doc = None
    if doc and (doc.get("Labels") or {}).get(kplan.LABEL_NETWORK) and not doc.get("Containers"):
        try:
            engine.networks.remove(targets.network)
            removed.network = targets.network
        except Conflict:  # something joined it meanwhile
            pass
    return removed


def wait_jobs(engine, made: Made, poll: float = 0.05) -> list[JobResult]:
    """Wait until every container of every Job's pod has finished (no restart pending)."""
    results = []
    for pod, _, ids in made.pods:
        if not pod.job:
            continue
        for c, cid in zip(pod.containers, ids[len(pod.init):]):
            delay = poll
            while True:
                record = engine.containers.get(cid)
                code = _finished(record)
                if code is not None:
                    results.append(JobResult(pod.workload, pod.name, c.name, code))
                    break
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
    return results


def _finished(c) -> int | None:
    """The exit code of a container done for good (no restart to come), else None."""
    if c.status in ("running", "paused", "restarting", "created"):
        return None
    code = c.state.get("exit_code")
    policy = c.config.get("restart") or {}
    if code == 0 or policy.get("name", "no") == "no":
        return code
    retries = policy.get("max_retries") or 0
    if policy.get("name") == "on-failure" and retries and c.state.get("restart_count", 0) >= retries:
        return code
    return None
