"""Pods as podman's CLI knows them. A pod is its infra container (catatonit -P from a pause image
made on this machine), which holds the namespaces its containers join, plus a record of its settings.
Its containers are ordinary containers whose configuration names the pod (ContainerSpec.pod); the
container service joins them to the infra container's namespaces and the pod's cgroup.
"""
from __future__ import annotations

import os
import time

from berth.errors import Conflict, InvalidArgument

SHAREABLE = ("net", "ipc", "uts")


class PodService:
    def __init__(self, store, images, containers):
        self.store, self.images, self.containers = store, images, containers
        self.records = store.pods

    def create(self, name: str | None = None, publish: list[str] = (), network: str | None = None,
               share: list[str] = SHAREABLE, hostname: str | None = None, memory: str | None = None,
               cpus: str | None = None, labels: dict | None = None, annotations: dict | None = None,
               aliases: list[str] = ()):
        """A pod and its infra container (created, started by the pod's first container or `pod start`).
        `publish`, `memory` and `cpus` as podman's flags take them (a malformed one is a FlagError).
        `aliases`: more names of the pod on its user network (kube play's Services)."""
        from berth.container import options as opts
        from berth.container.names import random_name
        from berth.container.spec import ContainerSpec
        from berth.network.bridge import parse_publish
        with opts.flag_errors():
            publish = [p for text in publish for p in parse_publish(text)]
            memory = opts.parse_size(memory, "memory") if memory else None
            cpus = opts.parse_cpus(cpus) if cpus else None
        if name is not None and not opts.valid_name(name):
            raise InvalidArgument(f"invalid pod name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        share = list(dict.fromkeys(share))
        unknown = set(share) - set(SHAREABLE)
        if unknown:
            raise InvalidArgument(f"invalid --share {','.join(sorted(unknown))}: use net, ipc and uts")
        if "net" not in share and (publish or network):
            raise InvalidArgument("a pod that does not share its network cannot publish ports or have a --network")
        if network in ("host", "none") and publish:
            raise InvalidArgument(f"conflicting options: port publishing and --network {network}")
        name = name or random_name()
        if self.records.name_taken(name):
            raise Conflict(f"the pod name {name!r} is already in use")
        pod_id = os.urandom(32).hex()
        infra = self.containers.create(ContainerSpec(
            str(self.images.pause_image().id), name=f"{pod_id[:12]}-infra", network=network,
            networks=[{"name": network, "aliases": [name, *[a for a in aliases if a != name]], "ip": None}]
            if network not in (None, "bridge", "host", "none") else [],
            ports=list(publish), hostname=(hostname or name) if "uts" in share else None,
            labels={"berth.pod": name}, pod_infra=pod_id))
        try:
            return self.records.add(pod_id, name, infra.id, {"share": share, "hostname": hostname or name,
                                                             "memory": memory, "cpus": cpus,
                                                             "labels": dict(labels or {}),
                                                             "annotations": dict(annotations or {})})
        except BaseException:
            self.containers.remove(infra.id, force=True)
            raise

    def get(self, text: str):
        return self.records.find(text)

    def members(self, pod) -> list:
        """The pod's containers, the infra container first."""
        found = [c for c in self.containers.list(all=True) if c.config.get("pod") == pod.id]
        return sorted(found, key=lambda c: (not c.config.get("pod_infra"), c.created))

    def start(self, text: str):
        pod = self.records.find(text)
        for c in self.members(pod):
            if c.status not in ("running", "paused") and not c.config.get("pod_init"):  # they ran once
                self.containers.start(c.id)
        return pod

    def stop(self, text: str, timeout: int | None = None):
        return self.stop_many([text], timeout)[0]

    def stop_many(self, texts: list[str], timeout: int | None = None) -> list:
        """Every container of these pods stopped together (as podman's `pod stop`), the infra containers
        last; returns the pods."""
        pods = [self.records.find(text) for text in texts]
        live = [c for pod in pods for c in self.members(pod) if c.status in ("running", "paused", "restarting")]
        self.containers.stop_many([c.id for c in live if not c.config.get("pod_infra")], timeout)
        self.containers.stop_many([c.id for c in live if c.config.get("pod_infra")], timeout)
        return pods

    def restart(self, text: str, timeout: int | None = None):
        self.stop(text, timeout)
        return self.start(text)

    def kill(self, text: str, signal: str = "KILL"):
        pod = self.records.find(text)
        for c in reversed(self.members(pod)):
            if c.status == "running":
                self.containers.kill(c.id, signal)
        return pod

    def remove(self, text: str, force: bool = False):
        """The pod, its containers (running ones only with force) and its cgroup."""
        from berth.runtime.cgroups import remove_group
        pod = self.records.find(text)
        members = self.members(pod)
        running = [c.name for c in members if c.status in ("running", "paused") and not c.config.get("pod_infra")]
        if running and not force:
            raise Conflict(f"pod {pod.name} has running containers ({', '.join(running)}): stop them or use -f")
        for c in reversed(members):
            self.containers.remove(c.id, force=True, volumes=True, pod_removal=True)
        self.records.remove(pod.id)
        remove_group(f"/berth/pod-{pod.id[:12]}")
        return pod

    def prune(self) -> list[str]:
        """Remove every pod none of whose containers runs."""
        removed = []
        for pod in self.records.list():
            if not any(c.status in ("running", "paused") and not c.config.get("pod_infra")
                       for c in self.members(pod)):
                removed.append(self.remove(pod.id, force=True).id)
        return removed

    def status(self, pod) -> str:
        """podman's pod status: Created, Running, Degraded (some running), Exited, Paused."""
        states = [c.status for c in self.members(pod) if not c.config.get("pod_infra") and not c.config.get("pod_init")]
        infra = next((c for c in self.members(pod) if c.config.get("pod_infra")), None)
        if not states:
            return "Running" if infra and infra.status == "running" else "Created"
        if all(s == "running" for s in states):
            return "Running"
        if all(s == "paused" for s in states):
            return "Paused"
        if any(s == "running" for s in states):
            return "Degraded"
        return "Created" if all(s == "created" for s in states) else "Exited"

    def inspect(self, text: str) -> dict:
        from berth.container.views import port_bindings
        pod = self.records.find(text)
        members = self.members(pod)
        infra = next(c for c in members if c.config.get("pod_infra"))
        net = self.containers.network_settings(infra) or {}
        return {"Id": pod.id, "Name": pod.name, "Created": _iso(pod.created), "State": self.status(pod),
                "Hostname": pod.config.get("hostname", ""), "Labels": pod.config.get("labels", {}),
                "Annotations": pod.config.get("annotations", {}),
                "SharedNamespaces": pod.config["share"], "InfraContainerID": infra.id,
                "CgroupPath": f"/berth/pod-{pod.id[:12]}",
                "InfraConfig": {"PortBindings": port_bindings(infra.config.get("ports", [])),
                                "Networks": [infra.config["network"]], "IPAddress": net.get("address", "")},
                "Limits": {"Memory": pod.config.get("memory"), "CPUs": pod.config.get("cpus")},
                "NumContainers": len(members),
                "Containers": [{"Id": c.id, "Name": c.name, "State": c.status} for c in members]}

    def list(self) -> list[dict]:
        """podman's `pod ls` rows."""
        rows = []
        for pod in self.records.list():
            members = self.members(pod)
            rows.append({"Id": pod.id, "Name": pod.name, "Status": self.status(pod), "Created": pod.created,
                         "InfraId": pod.infra_id, "Containers": len(members), "Labels": pod.config.get("labels", {})})
        return rows

    def logs(self, text: str, **options):
        """(container name, stream, time, bytes) of every container of the pod, in time order."""
        pod = self.records.find(text)
        records = []
        for c in self.members(pod):
            if not c.config.get("pod_infra"):
                records += [(ts, c.name, stream, data) for stream, ts, data in self.containers.logs(c.id, **options)]
        for ts, name, stream, data in sorted(records, key=lambda r: r[0]):
            yield name, stream, ts, data

    def top(self, text: str) -> tuple[list[str], list[list[str]]]:
        """`pod top`: the processes of every running container, with the container's name."""
        pod = self.records.find(text)
        headers, rows = None, []
        for c in self.members(pod):
            if c.status == "running":
                h, r = self.containers.top(c.id)
                headers = ["CONTAINER"] + h
                rows += [[c.name] + row for row in r]
        if headers is None:
            raise Conflict(f"pod {pod.name} has no running container")
        return headers, rows


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
