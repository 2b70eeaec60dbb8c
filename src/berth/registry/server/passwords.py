"""Checking passwords against bcrypt hashes (htpasswd) without letting the checks hurt serving.

bcrypt is slow on purpose (cost 10: some 60 ms of CPU per check), so a flood of wrong passwords
is a flood of CPU work. The checks:

- run on their own small thread pool at a lower CPU priority, never on the pool that serves
  storage I/O, with a bounded queue: when it is full, or a client already has checks running,
  more are refused at once (429 TOOMANYREQUESTS, Retry-After: 1);
- back off per client address (IPv6 by /64, a host's usual allotment): from the 5th failure on,
  each failure locks the client out for 1, 2, 4 ... at most 60 s, answered 429 TOOMANYREQUESTS
  with Retry-After and no check. A refusal rather than a delay, which would hold a connection per
  attempt; docker, podman and skopeo show the error and stop. Failures are forgotten after 10
  quiet minutes;
- are remembered when they succeed, for 2 minutes, keyed by an HMAC of user and password under a
  per-process random key (the password is not kept): clients send credentials with every
  request, and a remembered pair needs no bcrypt, even from a locked-out address, so a
  legitimate client sharing an address with an attacker keeps working;
- cost the same for an unknown user as for a wrong password (a check against a dummy hash of the
  users' usual cost), so user names cannot be found by timing.

Addresses are those of the TCP peer: behind a reverse proxy all clients share the proxy's, and
X-Forwarded-For is not trusted, since any client can send it.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hashlib
import hmac
import ipaddress
import math
import os
import threading
import time

from berth.registry.server.errors import RegistryError

FAILURES_ALLOWED = 5  # failures before a client is locked out
LOCKOUT_MAX = 60.0  # seconds
FORGET_AFTER = 600.0  # seconds without a failure after which a client's failures are forgotten
REMEMBER_FOR = 120.0  # seconds a successful check is remembered
CHECKS_PER_CLIENT = 2  # checks one client may have queued or running
_REMEMBERED_MAX = 4096
_CLIENTS_MAX = 10000
_BCRYPT_MAX_PASSWORD = 72  # bytes bcrypt reads; it refuses longer ones, older versions ignored the rest
_NICENESS = 10


class _Client:
    __slots__ = ("failures", "last_failure", "locked_until", "checking")

    def __init__(self):
        self.failures = 0
        self.last_failure = 0.0
        self.locked_until = 0.0
        self.checking = 0


def client_key(address: str | None) -> str:
    """Whom failures are counted against: the IPv4 address, or the IPv6 /64."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _lower_priority() -> None:
    try:  # on Linux, the thread's own niceness: requests are served before passwords are checked
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICENESS)
    except (OSError, AttributeError):
        pass


def _checkpw(password: bytes, hashed: bytes, known_user: bool) -> bool:
    import bcrypt
    ok = bcrypt.checkpw(password[:_BCRYPT_MAX_PASSWORD], hashed)
    return ok and known_user


def _cost(hashed: bytes) -> int | None:
    parts = hashed.split(b"$")  # b"", b"2y", b"10", salt+hash
    try:
        return int(parts[2]) if len(parts) >= 4 else None
    except ValueError:
        return None


class PasswordChecker:
    def __init__(self, users: dict[str, bytes], workers: int | None = None, queue: int | None = None,
                 clock=time.monotonic):
        import bcrypt
        self.users = users
        self.clock = clock
        costs = collections.Counter(c for c in map(_cost, users.values()) if c is not None and 4 <= c <= 31)
        cost = costs.most_common(1)[0][0] if costs else 10
        self._dummy = bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(cost))
        self._key = os.urandom(32)
        workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="password-check",
                                                           initializer=_lower_priority)
        self._queue_limit = queue or 8 * workers
        self._queued = 0
        self._running: dict[bytes, asyncio.Future] = {}  # checks in progress, by credentials
        self._remembered: collections.OrderedDict[bytes, float] = collections.OrderedDict()
        self._clients: collections.OrderedDict[str, _Client] = collections.OrderedDict()

    async def check(self, user: str, password: bytes, address: str | None) -> bool:
        """Whether the password is the user's; raises TOOMANYREQUESTS instead of checking when the
        client is locked out or too many checks are waiting."""
        name = user.encode("utf-8", "surrogateescape")
        # length-prefixed: ("a", "b:c") and ("a:b", "c") must not share a key
        key = hmac.new(self._key, len(name).to_bytes(4, "big") + name + password, hashlib.sha256).digest()
        now = self.clock()
        expires = self._remembered.get(key)
        if expires is not None:
            if expires > now:
                return True
            del self._remembered[key]
        address_key = client_key(address)
        client = self._client(address_key, now)
        if client.locked_until > now:
            raise _too_many("too many failed logins from your address",
                            math.ceil(client.locked_until - now))
        if client.checking >= CHECKS_PER_CLIENT:
            raise _too_many("too many logins in progress from your address", 1)
        attempt = self._verify(key, user, password)
        client.checking += 1

        def settle(future: asyncio.Future) -> None:
            # also when the client hung up meanwhile: the check was made, so it counts
            client.checking -= 1
            if future.cancelled() or future.exception() is not None:
                return
            if future.result():
                self._remember(key, self.clock())
                client.failures = 0
            else:
                self._failed(address_key, client, self.clock())

        attempt.add_done_callback(settle)
        return await asyncio.shield(attempt)

    def _verify(self, key: bytes, user: str, password: bytes) -> asyncio.Future:
        running = self._running.get(key)
        if running is not None:  # the same credentials on several connections at once (docker does)
            return running
        if self._queued >= self._queue_limit:
            raise _too_many("too many logins in progress", 1)
        stored = self.users.get(user)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, _checkpw, password, stored or self._dummy, stored is not None)
        self._queued += 1
        self._running[key] = future

        def done(_):
            self._queued -= 1
            self._running.pop(key, None)

        future.add_done_callback(done)
        return future

    def _client(self, key: str, now: float) -> _Client:
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = _Client()
            while len(self._clients) > _CLIENTS_MAX:
                self._clients.popitem(last=False)
        elif client.failures and now - client.last_failure > FORGET_AFTER:
            client.failures, client.locked_until = 0, 0.0
        return client

    def _failed(self, address_key: str, client: _Client, now: float) -> None:
        client.failures += 1
        client.last_failure = now
        if client.failures >= FAILURES_ALLOWED:
            client.locked_until = now + min(2.0 ** (client.failures - FAILURES_ALLOWED), LOCKOUT_MAX)
        if self._clients.get(address_key) is client:  # evicted ones leave the oldest first
            self._clients.move_to_end(address_key)

    def _remember(self, key: bytes, now: float) -> None:
        self._remembered[key] = now + REMEMBER_FOR
        self._remembered.move_to_end(key)
        while self._remembered and (len(self._remembered) > _REMEMBERED_MAX
                                    or next(iter(self._remembered.values())) <= now):
            self._remembered.popitem(last=False)


def _too_many(message: str, retry_after: int) -> RegistryError:
    return RegistryError("TOOMANYREQUESTS", message, headers={"Retry-After": str(max(1, retry_after))})
