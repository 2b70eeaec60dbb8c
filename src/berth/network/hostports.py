"""Host ports: who publishes which (protocol, host address, port), across every berth store on this
host, and docker's "port is already allocated" when a second one asks for it.

A reservation is a file /run/berth/ports/<protocol>-<port>/<address> (0.0.0.0: every address),
created with O_EXCL as the address leases are, so two starts never both get a port, and a reboot
frees them all. A port published on every address clashes with any address of it, and the other way
round; that cross-check is made under a host-wide lock (ports.lock). The file holds its owner as JSON:
a container (its ID) or a service (its chain), and the process that reserved it (pid and start time).
A reservation whose reserving process is gone and whose owner no longer runs (a container's
namespace with no process in it, or none; a service's chain gone) is stale: the next one to ask
reclaims it. Once the owner holds its ports (its container runs, its service's rules are in),
`settle` forgets the reserving process: a long-lived one (the API server) would otherwise keep the
ports of a container that died without cleanup for as long as it runs. A probe bind() finds host
processes listening on the port (berth holds no socket).
"""
from __future__ import annotations

import errno
import os

from berth import cjson
from berth.errors import PortAllocated

PORTS = "/run/berth/ports"
LOCK = "/run/berth/ports.lock"
EVERY_ADDRESS = "0.0.0.0"


class Wanted:
    """What a reservation asks for: (protocol, host address or "" for every one, port)."""
    __slots__ = ("protocol", "host_ip", "host_port")

    def __init__(self, protocol: str, host_ip: str, host_port: int):
        self.protocol, self.host_ip, self.host_port = protocol, host_ip or EVERY_ADDRESS, int(host_port)

    @property
    def directory(self) -> str:
        return os.path.join(PORTS, f"{self.protocol}-{self.host_port}")

    def message(self) -> str:
        return f"Bind for {self.host_ip}:{self.host_port} failed: port is already allocated"


def _wanted(ports) -> list[Wanted]:
    """PortMappings, ServicePorts (every address) or Wanted, as Wanted."""
    return [p if isinstance(p, Wanted) else Wanted(p.protocol, getattr(p, "host_ip", ""), p.host_port)
            for p in ports]


def _lock():
    from berth.store import fsutil
    os.makedirs(PORTS, mode=0o700, exist_ok=True)
    return fsutil.flock(LOCK)


def reserve(kind: str, owner: str, ports) -> None:
    """Reserve every port for `owner` (kind "container": its ID; "service": its chain), or none: the
    first one taken raises PortAllocated with docker's message. Ports `owner` holds already stay its."""
    wanted = _wanted(ports)
    if not wanted:
        return
    me = cjson.dumps({"kind": kind, "id": owner, "pid": os.getpid(), "start": _start_time(os.getpid())})
    made: list[str] = []
    with _lock():
        try:
            for w in wanted:
                _check(w, owner)
                os.makedirs(w.directory, mode=0o700, exist_ok=True)
                path = os.path.join(w.directory, w.host_ip)
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                except FileExistsError:
                    if _owner(path).get("id") == owner:
                        continue  # its own already (a port given twice, a service being restored)
                    raise PortAllocated(w.message()) from None
                with os.fdopen(fd, "w") as f:
                    f.write(me)
                made.append(path)
        except BaseException:
            for path in made:
                _unlink(path)
                _remove_if_empty(os.path.dirname(path))
            raise


def check_free(ports) -> None:
    """Raise PortAllocated if a live owner holds one of `ports` or a host process listens on it;
    reserves nothing (a preflight: what starts next reserves them)."""
    wanted = [w for w in _wanted(ports) if w.host_port]  # port 0: the kernel picks a free one
    if wanted:
        with _lock():
            for w in wanted:
                _check(w, owner="")


def _check(w: Wanted, owner: str) -> None:
    """Raise PortAllocated if another live owner holds the port on an address that overlaps, or a host
    process listens on it; stale reservations in the way are removed."""
    try:
        taken = os.listdir(w.directory)
    except FileNotFoundError:
        taken = []
    for address in taken:
        if w.host_ip != EVERY_ADDRESS and address not in (EVERY_ADDRESS, w.host_ip):
            continue  # another single address: no clash
        path = os.path.join(w.directory, address)
        doc = _owner(path)
        if doc.get("id") == owner:
            continue
        if _live(doc):
            raise PortAllocated(w.message())
        _unlink(path)
    if _host_listens(w):
        raise PortAllocated(w.message())


def release(owner: str, ports=None) -> None:
    """Give back `owner`'s reservations: of `ports`, or (None) every one it holds."""
    with _lock():
        for directory, path, _ in _held(owner, ports):
            _unlink(path)
            _remove_if_empty(directory)


def settle(owner: str, ports=None) -> None:
    """`owner` holds its reservations (of `ports`, or every one) now: from here on they are live
    while it is, whoever reserved them."""
    from berth.atomicfile import atomic_write
    with _lock():
        for _, path, doc in _held(owner, ports):
            if doc.get("pid"):
                atomic_write(path, cjson.dumps({**doc, "pid": 0, "start": ""}).encode(), mode=0o600)


def _held(owner: str, ports) -> list[tuple[str, str, dict]]:
    """(directory, path, document) of `owner`'s reservations: of `ports`, or (None) all; under the lock."""
    if ports is not None:
        directories = sorted({w.directory for w in _wanted(ports)})
    else:
        try:
            directories = [os.path.join(PORTS, d) for d in os.listdir(PORTS)]
        except FileNotFoundError:
            return []
    found = []
    for directory in directories:
        try:
            addresses = os.listdir(directory)
        except FileNotFoundError:
            continue
        for address in addresses:
            path = os.path.join(directory, address)
            doc = _owner(path)
            if doc.get("id") == owner:
                found.append((directory, path, doc))
    return found


def reserved(protocol: str, port: int) -> bool:
    """Whether any address of the port is reserved (a free port to pick must not be)."""
    try:
        return bool(os.listdir(Wanted(protocol, "", port).directory))
    except FileNotFoundError:
        return False


def holders(owner: str) -> list[str]:
    """The reservations `owner` holds, as <protocol>-<port>/<address> (for tests and inspection)."""
    out = []
    try:
        directories = os.listdir(PORTS)
    except FileNotFoundError:
        return out
    for d in directories:
        try:
            addresses = os.listdir(os.path.join(PORTS, d))
        except FileNotFoundError:
            continue
        out += [f"{d}/{a}" for a in addresses if _owner(os.path.join(PORTS, d, a)).get("id") == owner]
    return sorted(out)


def free_port(protocol: str) -> int:
    """A port the kernel has free (its pick, as docker's) that no berth owner has reserved either."""
    import socket
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        if not reserved(protocol, port):
            return port
    from berth.errors import NetworkError
    raise NetworkError(f"no free {protocol} port found that berth has not reserved")


def _owner(path: str) -> dict:
    try:
        with open(path) as f:
            doc = cjson.loads(f.read() or "{}")
    except (FileNotFoundError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _remove_if_empty(directory: str) -> None:
    try:
        os.rmdir(directory)
    except OSError:  # another owner's address is still there
        pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat): with the pid,
    it names one process even after the pid is used again."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""


def _live(doc: dict) -> bool:
    """Whether a reservation's owner still holds it: its reserving process runs (a start or publish
    under way), or the owner does."""
    if not doc:
        return False  # empty or unreadable: a reserver killed between create and write
    pid = doc.get("pid")
    if isinstance(pid, int) and doc.get("start") and _start_time(pid) == doc["start"]:
        return True
    if doc.get("kind") == "container":
        return _namespace_in_use(str(doc.get("id", "")))
    if doc.get("kind") == "service":
        from berth.network import balancer
        return balancer.chain_exists(str(doc.get("id", "")))
    return True  # an owner of a kind this berth does not know: leave it be


def _namespace_in_use(cid: str) -> bool:
    """Whether the container's network namespace exists and a process is in it (a container that
    died without being cleaned up leaves it empty)."""
    from berth.network.bridge import namespace
    try:
        st = os.stat(namespace(cid))
    except OSError:
        return False
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ns = os.stat(f"/proc/{entry}/ns/net")
            except OSError:
                continue
            if (ns.st_dev, ns.st_ino) == (st.st_dev, st.st_ino):
                return True
    return False


def _host_listens(w: Wanted) -> bool:
    """Whether a host process holds the port (a listening TCP socket, a bound UDP one): a probe bind.
    TCP probes with SO_REUSEADDR, so that only listeners count, not connections in TIME_WAIT."""
    import socket
    kind = socket.SOCK_DGRAM if w.protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        if w.protocol == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((w.host_ip, w.host_port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False
