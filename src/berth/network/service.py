"""Networks as docker's CLI knows them: the built-in `bridge` (berth0), `host` and `none`, and
user-defined bridge networks, each its own Linux bridge with its own subnet, isolated from the others,
with a name server that resolves its containers by name (dns.py). Endpoints (a container's address on
a network) are kept in the store; this service wires them into containers' namespaces.
"""
from __future__ import annotations

import os
import time

from berth import cjson
from berth.errors import Conflict, InvalidArgument, NetworkError, NetworkNotFound
from berth.network import bridge

BUILTIN = ("bridge", "host", "none")
DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}
NETWORK_KEYS = ("name", "id", "driver", "label", "type", "dangling")
RESOLVER_START_WAIT = 2.0  # seconds a container start waits for the name server network create started


def builtin_id(name: str) -> str:
    import hashlib  # here: OpenSSL's load is ~3 ms, and only the built-in networks' inspect needs it
    return hashlib.sha256(f"berth-builtin-network:{name}".encode()).hexdigest()


class NetworkService:
    def __init__(self, store, unready=lambda: set()):
        """`unready()`: the backends (containers holding a network namespace) that are running but
        not Ready, which Services leave out; the container service knows (health checks)."""
        self.store = store
        self.records = store.networks
        self._unready = unready

    # ---- networks ------------------------------------------------------------------------

    def create(self, name: str, driver: str = "bridge", subnet=None, gateway=None, ip_range=None,
               internal: bool = False, labels: dict | None = None, options: dict | None = None, ipv6: bool = False):
        """A user-defined bridge network, its bridge made now (as docker's). `subnet`, `gateway` and
        `ip_range`: a value or a list of them, at most one of each address family; with `ipv6` the
        network gets an IPv6 subnet too (the one given, else a /64 of berth's pool)."""
        from berth.network import ipam
        from berth.store.networks import Network
        import re
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name or ""):
            raise InvalidArgument(f"invalid network name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        if name in BUILTIN:
            raise Conflict(f"network with name {name} already exists")
        if driver != "bridge":
            raise InvalidArgument(f"network driver {driver!r} is not available: only bridge")
        (subnet, subnet6), (gateway, gateway6), (ip_range, ip_range6) = (
            _by_family(subnet, "--subnet"), _by_family(gateway, "--gateway"), _by_family(ip_range, "--ip-range"))
        if (subnet6 or gateway6 or ip_range6) and not ipv6:
            raise InvalidArgument("an IPv6 --subnet, --gateway or --ip-range needs --ipv6")
        if ipv6 and not os.path.exists("/proc/sys/net/ipv6"):
            raise NetworkError("this host has no IPv6 (the kernel's ipv6 module is not loaded)")
        unknown = set(options or {}) - {"com.docker.network.bridge.name", "com.docker.network.driver.mtu"}
        if unknown:
            raise InvalidArgument(f"unknown network option(s): {', '.join(sorted(unknown))}")
        network_id = os.urandom(32).hex()
        with _host_lock():
            routes = _host_routes()
            subnet, gateway, ip_range = ipam.plan(subnet, gateway, ip_range, routes)
            if ipv6:
                subnet6, gateway6 = ipam.plan6(subnet6, gateway6, ip_range6, _host_routes6()
                                               + [n.subnet6 for n in self.records.list() if n.subnet6])
            network = self.records.add(Network(network_id, name, "bridge", subnet, gateway, ip_range, internal,
                                               f"{bridge.USER_PREFIX}{network_id[:12]}", dict(labels or {}),
                                               dict(options or {}), time.time(), subnet6 or "", gateway6 or ""))
            try:
                bridge.create_network_bridge(network)
            except BaseException:
                bridge.delete_network_bridge(network)
                self.records.remove(network.id)
                raise
        self.store.events.append(("network", "create", network.id, {"name": network.name, "type": network.driver}))
        self._prestart_resolver(network)
        return network

    def get(self, text: str):
        return self.records.find(text)

    def list(self, filters: dict | None = None) -> list[dict]:
        """docker's `network ls` rows (built-in ones first, as docker lists them): as docker's list
        since API 1.28, without the containers of each network (inspect has them)."""
        docs = [self._builtin_doc(n, containers=False) for n in BUILTIN]
        docs += [self._doc(n, containers=False) for n in self.records.list()]
        if not filters:
            return docs
        from berth.filters import Filters
        f = Filters(filters, NETWORK_KEYS)
        dangling = f.boolean("dangling")
        types = f.values("type")
        for t in types:
            if t not in ("builtin", "custom"):
                raise InvalidArgument(f"invalid filter 'type={t}'")
        unused = (lambda d: d["Name"] not in BUILTIN and not self.records.endpoints(d["Id"]))
        return [d for d in docs
                if f.search("name", d["Name"]) and f.search("id", d["Id"]) and f.labels(d["Labels"] or {})
                and ("driver" not in f or d["Driver"] in f.values("driver"))
                and (not types or ("builtin" if d["Name"] in BUILTIN else "custom") in types)
                and (dangling is None or dangling == unused(d))]

    def inspect(self, text: str) -> dict:
        if text in BUILTIN:
            return self._builtin_doc(text)
        return self._doc(self.records.find(text))

    def remove(self, text: str) -> str:
        if text in BUILTIN:
            raise Conflict(f"{text} is a pre-defined network and cannot be removed")
        network = self.records.find(text)
        if self.records.endpoints(network.id):
            raise Conflict(f"error while removing network: network {network.name} id {network.id} has active "
                           "endpoints")
        with _host_lock():
            self.records.remove(network.id)
            bridge.delete_network_bridge(network)
        self.store.events.append(("network", "destroy", network.id, {"name": network.name, "type": network.driver}))
        return network.name

    def prune(self) -> list[str]:
        """Remove every user network no container is on; returns their names."""
        removed = []
        for network in self.records.list():
            if not self.records.endpoints(network.id):
                try:
                    removed.append(self.remove(network.id))
                except Conflict:  # a container joined meanwhile
                    pass
        self.store.events.append(("network", "prune", "", {"reclaimed": "0"}))
        return removed

    # ---- endpoints of containers -------------------------------------------------------------

    def resolve_attachments(self, attachments: list) -> list[dict]:
        """The user networks a new container asks for ([{name, aliases, ip}]), checked: as recorded in
        its configuration ({id, name, aliases, ip})."""
        from berth.network import ipam
        out, seen = [], set()
        for a in attachments:
            network = self.records.find(a["name"])
            if network.id in seen:
                raise InvalidArgument(f"network {network.name} is given twice")
            seen.add(network.id)
            ip = ipam.check_requested(a["ip"], network.subnet, network.gateway) if a.get("ip") else None
            ip6 = _requested6(network, a.get("ip6"))
            out.append({"id": network.id, "name": network.name, "aliases": list(a.get("aliases") or []), "ip": ip,
                        "ip6": ip6})
        return out

    def interfaces(self, c, default_route: bool = True) -> list:
        """The container's interfaces on its user networks, their endpoints made (or kept from an
        earlier run), the bridges and name servers there; the first carries the default route."""
        from berth.network import ipam
        out = []
        for index, a in enumerate(self.attachments(c)):
            try:
                network = self.records.find(a["id"])
            except NetworkNotFound:
                raise NetworkError(f"network {a['name']} was removed") from None
            ensure_bridge_of(network)
            endpoint = self.records.allocate(network.id, c.id, ipam.candidates(network.subnet, network.gateway,
                                                                               network.ip_range),
                                             a["aliases"], a.get("ip"), *_candidates6(network), a.get("ip6"))
            out.append(_interface(network, endpoint, c.id,
                                  route=default_route and index == 0 and not network.internal))
            self.ensure_resolver(network)
        return out

    def attachments(self, c, records=None) -> list[dict]:
        """The user networks of a container: those it was created with, then those connected since.
        `records`: the store's network records, or a store.networks.Snapshot of them."""
        records = records or self.records
        created = list(c.config.get("networks") or [])
        known = {a["id"] for a in created}
        for endpoint in records.container_endpoints(c.id):
            if endpoint.network_id not in known:
                network = records.find(endpoint.network_id)
                created.append({"id": network.id, "name": network.name, "aliases": endpoint.aliases, "ip": None,
                                "ip6": None})
        return created

    def connect(self, c, text: str, aliases: list[str] = (), ip: str | None = None, running: bool = False,
                ip6: str | None = None) -> None:
        """`network connect`: the endpoint now; a running container gets its interface at once."""
        from berth.network import ipam
        if c.config["network"] in ("host", "none") or c.config["network"].startswith("container:"):
            raise Conflict(f"container {c.name} cannot be connected to a network: it uses --network "
                           f"{c.config['network']}")
        network = self.records.find(text)
        if self.records.endpoint(network.id, c.id) or any(a["id"] == network.id for a in c.config.get("networks", [])):
            raise Conflict(f"endpoint with name {c.name} already exists in network {network.name}")
        wanted = ipam.check_requested(ip, network.subnet, network.gateway) if ip else None
        wanted6 = _requested6(network, ip6)
        ensure_bridge_of(network)
        endpoint = self.records.allocate(network.id, c.id, ipam.candidates(network.subnet, network.gateway,
                                                                           network.ip_range), list(aliases), wanted,
                                         *_candidates6(network), wanted6)
        if running:
            try:
                bridge.add_interface(c.id, _interface(network, endpoint, c.id))
            except BaseException:
                self.records.release(network.id, c.id)
                raise
            self.ensure_resolver(network)
            # a stopped container joins the network when it starts: its start logs the connect
            self.store.events.append(("network", "connect", network.id,
                                      {"container": c.id, "name": network.name, "type": network.driver}))

    def disconnect(self, c, text: str, running: bool = False) -> None:
        network = self.records.find(text)
        if any(a["id"] == network.id for a in c.config.get("networks", [])):
            raise Conflict(f"container {c.name} was created on network {network.name}: it can only leave it "
                           "with `rm` (its configuration does not change)")
        if self.records.endpoint(network.id, c.id) is None:
            raise NetworkError(f"container {c.name} is not connected to network {network.name}")
        if running:
            bridge.remove_interface(bridge.user_veth(c.id, network.id))
        self.records.release(network.id, c.id)
        if running:
            self.store.events.append(("network", "disconnect", network.id,
                                      {"container": c.id, "name": network.name, "type": network.driver}))

    def _prestart_resolver(self, network) -> None:
        """Start the name server of a new network without waiting for it, as docker's is there from
        the start: the first container on the network then finds it running (or starting: the
        marker tells ensure_resolver to wait for it rather than start another)."""
        import sys
        from berth.runtime.process import start_detached
        marker = self.records.resolver_lock(network.id) + ".starting"
        try:
            with open(marker, "w") as f:
                f.write(str(time.time() + RESOLVER_START_WAIT))
            start_detached([sys.executable, "-m", "berth", "--root", self.store.root, "network", "resolver",
                            network.id])
        except OSError:  # the first container starts one then
            pass

    def ensure_resolver(self, network) -> None:
        """Start the network's name server unless it runs (its lock tells) or is starting."""
        import subprocess
        import sys
        from berth.store import fsutil
        lock = self.records.resolver_lock(network.id)
        marker = lock + ".starting"

        def serving() -> bool:  # it holds its lock, and its sockets are bound (the marker is gone)
            with fsutil.flock(lock, blocking=False) as free:
                return not free and not os.path.exists(marker)
        if serving():
            return
        try:
            with open(marker) as f:
                starting_until = float(f.read() or 0)
        except (OSError, ValueError):
            starting_until = 0.0
        while time.time() < starting_until:
            time.sleep(0.005)
            if serving():
                return
        proc = subprocess.Popen([sys.executable, "-m", "berth", "--root", self.store.root, "network", "resolver",
                                 network.id], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            line = proc.stdout.readline()  # "ready", or nothing: another one won the race, or it failed
        finally:
            proc.stdout.close()
        if line.strip() != b"ready":
            with fsutil.flock(self.records.resolver_lock(network.id), blocking=False) as free:
                if free:
                    raise NetworkError(f"the name server of network {network.name} did not start")

    def serve_resolver(self, text: str, ready) -> None:
        """Run a network's name server (`berth network resolver ID`, started by ensure_resolver)."""
        from berth.network import dns
        from berth.store import fsutil
        network = self.records.find(text)
        lock = self.records.resolver_lock(network.id)

        def serving() -> None:  # bound: nobody need wait for it any more
            try:
                os.unlink(lock + ".starting")
            except FileNotFoundError:
                pass
            ready()
        with fsutil.flock(lock, blocking=False) as free:
            if free:
                dns.serve(self.store, network, serving)

    # ---- services (kube play's Services) ----------------------------------------------------

    def check_ports(self, publish: list[str] = (), services: list = ()) -> None:
        """PortAllocated (docker's message) if a host port that these `-p` texts or ServicePorts would
        publish is taken by a container of any store, a service or a host process; reserves nothing."""
        from berth.network import hostports
        from berth.network.bridge import parse_publish
        hostports.check_free([p for text in publish for p in parse_publish(text)] + list(services))

    def publish_service(self, name: str, ports: list, backends: list[str], labels: dict | None = None) -> dict:
        """A service: its host ports (reserved as published ports are: PortAllocated if taken)
        spread at random, per connection, over the running and Ready ones of `backends` (pods, or
        containers: the container holding each one's network namespace; _unready) at each port's
        target port."""
        import re
        from berth.network import balancer, hostports
        from berth.store.services import Service
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,252}", name or ""):
            raise InvalidArgument(f"invalid service name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        ports = balancer.checked_ports(ports)
        if isinstance(backends, str):
            raise InvalidArgument("backends: a list of pod or container IDs is needed")
        containers = list(dict.fromkeys(self._backend_container(str(b)) for b in backends))
        chain = balancer.chain_name(self.store.root, name)
        with self._services_lock():
            try:
                self.store.services.find(name)
            except LookupError:
                pass
            else:
                raise Conflict(f"service {name} already exists")
            hostports.reserve("service", chain, ports)
            added = False
            try:
                record = self.store.services.add(Service(name, chain, [p.__dict__ for p in ports], list(backends),
                                                         containers, dict(labels or {}), time.time()))
                added = True
                balancer.install(chain, ports, self._service_addresses(record))
                hostports.settle(chain, ports)
            except BaseException:
                balancer.uninstall(chain)
                if added:
                    self.store.services.remove(name)
                hostports.release(chain, ports)
                raise
        return self._service_doc(record)

    def remove_service(self, name: str) -> None:
        """The service's rules, its chain, its host ports and its record (its backends stay)."""
        from berth.network import balancer, hostports
        with self._services_lock():
            record = self.store.services.find(name)
            balancer.uninstall(record.chain)
            hostports.release(record.chain, _service_ports(record))
            self.store.services.remove(name)

    def services(self) -> list[dict]:
        """Every service: Name, Chain, Ports, Backends (as given), Containers (theirs), Endpoints
        (address:port of the running ones, per port name), Labels, Created."""
        return [self._service_doc(s) for s in self.store.services.list()]

    def reconcile_services(self, cid: str) -> None:
        """Container `cid` was attached or detached: the services it serves are sent to their running,
        Ready backends again (a service whose chain is gone, after a reboot, is set up again). Never fails
        the start or stop that calls it: a service that cannot be served says so on stderr."""
        names = self.store.services.of_container(cid)
        if not names:
            return
        from berth.errors import BerthError
        with self._services_lock():
            for name in names:
                try:
                    self._serve(self.store.services.find(name))
                except LookupError:  # removed meanwhile
                    continue
                except BerthError as e:
                    import sys
                    sys.stderr.write(f"WARNING: service {name} is not served: {e}\n")

    def readiness_changed(self, c) -> None:
        """Container `c`, an app container of a pod or one whose health check gates its Services'
        traffic, turned ready or not ready (its run began or ended, or its check's status changed
        between healthy and not): the services of its pod (or of it) are sent to their ready
        backends again."""
        holder = c.id
        if c.config.get("pod") and not c.config.get("pod_infra"):
            try:
                holder = self.store.pods.find(c.config["pod"]).infra_id
            except LookupError:  # the pod is being removed
                return
        self.reconcile_services(holder)

    def _serve(self, record) -> None:
        from berth.network import balancer, hostports
        ports = _service_ports(record)
        addresses = self._service_addresses(record)
        if balancer.chain_exists(record.chain):
            balancer.rebuild(record.chain, ports, addresses)
            return
        hostports.reserve("service", record.chain, ports)
        try:
            balancer.install(record.chain, ports, addresses)
            hostports.settle(record.chain, ports)
        except BaseException:
            balancer.uninstall(record.chain)
            hostports.release(record.chain, ports)
            raise

    def _services_lock(self):
        from berth.store import fsutil
        return fsutil.flock(os.path.join(self.store.locks, "services"))

    def _backend_container(self, text: str) -> str:
        """The container whose network namespace serves backend `text`: a pod's infra container, a
        container (or the one whose network it shares)."""
        from berth.errors import PodNotFound
        try:
            return self.store.pods.find(text).infra_id
        except PodNotFound:
            pass
        c = self.store.containers.find(text)
        for _ in range(8):  # container:X of container:Y ...
            mode = c.config["network"]
            if not mode.startswith("container:"):
                break
            c = self.store.containers.find(mode.partition(":")[2])
        if c.config["network"] in ("host", "none"):
            raise InvalidArgument(f"container {c.name} cannot be a service backend: it uses --network "
                                  f"{c.config['network']}")
        return c.id

    def _service_addresses(self, record) -> list[str]:
        """The addresses of the backends attached now (their network.json is there from attach to
        detach) and ready (_unready): where the service sends connections."""
        out, unready = [], self._unready()
        for cid in record.containers:
            if cid in unready:
                continue
            try:
                with open(os.path.join(self.store.containers.dir(cid), "network.json")) as f:
                    address = cjson.load(f).get("address")
            except (OSError, ValueError, AttributeError):
                continue
            if address and address not in out:
                out.append(address)
        return out

    def _service_doc(self, record) -> dict:
        addresses = self._service_addresses(record)
        return {"Name": record.name, "Chain": record.chain, "Ports": [dict(p) for p in record.ports],
                "Backends": list(record.backends), "Containers": list(record.containers),
                "Endpoints": {p["name"]: [f"{a}:{p['target_port']}" for a in addresses] for p in record.ports},
                "Labels": dict(record.labels), "Created": _iso(record.created)}

    # ---- documents -------------------------------------------------------------------------

    def _doc(self, network, containers: bool = True) -> dict:
        prefix, prefix6 = network.subnet.split("/")[1], network.subnet6.partition("/")[2]
        endpoints, containers = self.records.endpoints(network.id) if containers else [], {}
        for e in endpoints:
            name = self.store.containers.get(e.container_id).name
            containers[e.container_id] = {"Name": name, "EndpointID": "", "MacAddress": "",
                                          "IPv4Address": f"{e.address}/{prefix}",
                                          "IPv6Address": f"{e.address6}/{prefix6}" if e.address6 else ""}
        ipam_config = [{"Subnet": network.subnet, "Gateway": network.gateway}]
        if network.ip_range:
            ipam_config[0]["IPRange"] = network.ip_range
        if network.subnet6:
            ipam_config.append({"Subnet": network.subnet6, "Gateway": network.gateway6})
        return {"Name": network.name, "Id": network.id, "Created": _iso(network.created), "Scope": "local",
                "Driver": network.driver, "EnableIPv6": bool(network.subnet6),
                "IPAM": {"Driver": "default", "Options": {}, "Config": ipam_config},
                "Internal": network.internal, "Attachable": False, "Ingress": False,
                "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": containers,
                "Options": {"com.docker.network.bridge.name": network.bridge, **network.options},
                "Labels": network.labels}

    def _builtin_doc(self, name: str, containers: bool = True) -> dict:
        found, containers = self.store.containers.list() if containers else [], {}
        for c in found:
            if c.config.get("network") == name and c.status in ("running", "paused"):
                containers[c.id] = {"Name": c.name, "EndpointID": "", "MacAddress": "", "IPv4Address": "",
                                    "IPv6Address": ""}
        config = [{"Subnet": bridge.SUBNET, "Gateway": bridge.GATEWAY}] if name == "bridge" else []
        return {"Name": name, "Id": builtin_id(name), "Created": _iso(0), "Scope": "local", "Driver": DRIVERS[name],
                "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": config},
                "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
                "ConfigOnly": False, "Containers": containers,
                "Options": {"com.docker.network.bridge.name": bridge.BRIDGE} if name == "bridge" else {},
                "Labels": {}}


def _service_ports(record) -> list:
    from berth.network.balancer import ServicePort
    return [ServicePort(**p) for p in record.ports]


def _by_family(values, flag: str) -> tuple[str | None, str | None]:
    """(IPv4 value, IPv6 value) of a --subnet, --gateway or --ip-range given once or twice."""
    from berth.network import ipam
    if values is None or isinstance(values, str):
        values = [values] if values else []
    v4 = [v for v in values if not ipam.is_ipv6(v)]
    v6 = [v for v in values if ipam.is_ipv6(v)]
    if len(v4) > 1 or len(v6) > 1:
        raise InvalidArgument(f"{flag}: at most one IPv4 and one IPv6 value")
    return (v4[0] if v4 else None), (v6[0] if v6 else None)


def _requested6(network, address: str | None) -> str | None:
    """A container's --ip6 on the network, checked."""
    from berth.network import ipam
    if not address:
        return None
    if not network.subnet6:
        raise InvalidArgument(f"invalid --ip6 {address}: network {network.name} has no IPv6 (create it with --ipv6)")
    return ipam.check_requested6(address, network.subnet6, network.gateway6)


def _candidates6(network) -> tuple:
    """allocate()'s candidates6: the IPv6 addresses of an IPv6 network, None for IPv4 only."""
    from berth.network import ipam
    return (ipam.candidates6(network.subnet6, network.gateway6) if network.subnet6 else None,)


def _interface(network, endpoint, cid: str, route: bool = False):
    return bridge.Interface(network.bridge, endpoint.address, int(network.subnet.split("/")[1]), network.gateway,
                            route=route, host_name=bridge.user_veth(cid, network.id),
                            address6=endpoint.address6, prefix6=int(network.subnet6.partition("/")[2] or 0),
                            gateway6=network.gateway6)


def ensure_bridge_of(network) -> None:
    """The network's bridge, made again if it is gone (a reboot)."""
    if not os.path.exists(f"/sys/class/net/{network.bridge}"):
        with _host_lock():
            bridge.create_network_bridge(network)


def _host_lock():
    from berth.store import fsutil
    os.makedirs(bridge.LEASES, mode=0o700, exist_ok=True)
    return fsutil.flock(os.path.join(os.path.dirname(bridge.LEASES), "networks.lock"))


def _host_routes() -> list[str]:
    """The IPv4 networks this host routes to (its own, other bridges'): a new subnet must not overlap."""
    out = []
    for line in bridge._run(bridge._tool("ip"), "-4", "route", "show").splitlines():
        dest = line.split()[0] if line.split() else "default"
        if dest != "default":
            out.append(dest if "/" in dest else f"{dest}/32")
    return out + [bridge.SUBNET]


_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole",
                "nat", "anycast"}


def _host_routes6() -> list[str]:
    """The IPv6 networks this host routes to (not link-local, not multicast): a new subnet must not overlap."""
    out = []
    if not os.path.exists("/proc/sys/net/ipv6"):
        return out
    for line in bridge._run(bridge._tool("ip"), "-6", "route", "show").splitlines():
        words = line.split()
        if words[:1] and words[0] in _ROUTE_TYPES:  # `unreachable fd00::/64 ...`
            words = words[1:]
        dest = words[0] if words else "default"
        if ":" in dest and not dest.startswith(("fe80:", "ff")):  # not default, link-local or multicast
            out.append(dest if "/" in dest else f"{dest}/128")
    return out


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + "Z"
