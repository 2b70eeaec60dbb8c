"""Who is asking (authentication) and what they may do (authorization).

The app asks an `Authenticator` for the user behind a request, then an `Authorizer` whether that
user may perform `actions` ("pull", "push", "delete") on a repository (None for registry-wide
requests such as the catalog). HTTP Basic against htpasswd lives here; the bearer-token flow with
per-repository permissions (`--auth token`) plugs in through `token.TokenAuthenticator` and
`token.TokenAuthorizer`.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os

from berth.errors import BerthError
from berth.registry.server.errors import RegistryError

REALM = "berth-registry"
_BCRYPT_PREFIXES = ("$2y$", "$2b$", "$2a$")
_CACHE_LIMIT = 4096


def challenge(message: str = "authentication required") -> RegistryError:
    return RegistryError("UNAUTHORIZED", message, headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})


class Authenticator:
    """Anonymous access: every request is from user None."""

    async def authenticate(self, request) -> str | None:
        return None


class Authorizer:
    """Everyone may do everything (the default for a registry bound to localhost)."""

    def authorize(self, user: str | None, repository: str | None, actions: tuple[str, ...]) -> None:
        return None

    def sees_every_repository(self, user: str | None) -> bool:
        """Whether `user` may pull from every repository (so a blob mount needs no `from`)."""
        return True

    def authorize_registry(self, user: str | None, resource: str) -> None:
        """May `user` read the registry-wide `resource` ("metrics": /metrics and the storage totals)?
        Here whoever may use the API; the token service asks for an explicit grant."""
        self.authorize(user, None, ())


class AuthenticatedOnly(Authorizer):
    def authorize(self, user, repository, actions) -> None:
        if user is None:
            raise challenge()


class HtpasswdAuthenticator(Authenticator):
    """HTTP Basic against an htpasswd file of bcrypt entries (`htpasswd -B`)."""

    def __init__(self, path: str):
        self.users = load_htpasswd(path)
        # bcrypt costs ~0.1 s per check and clients send credentials on every request: remember
        # successful checks, keyed by a salted hash so passwords are not kept in memory.
        self._salt = os.urandom(16)
        self._verified: set[bytes] = set()

    async def authenticate(self, request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise challenge()
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise challenge("malformed Basic credentials") from None
        stored = self.users.get(user)
        if not sep or stored is None:
            raise challenge("invalid username or password")
        key = hashlib.sha256(self._salt + user.encode() + b"\0" + password.encode()).digest()
        if key in self._verified:
            return user
        import asyncio
        import bcrypt
        ok = await asyncio.get_running_loop().run_in_executor(None, bcrypt.checkpw, password.encode(), stored)
        if not ok:
            raise challenge("invalid username or password")
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified.add(key)
        return user


def load_htpasswd(path: str) -> dict[str, bytes]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise BerthError(f"cannot read htpasswd file {path}: {e.strerror}") from None
    users = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise BerthError(f"{path}:{number}: expected USER:HASH")
        if not hashed.startswith(_BCRYPT_PREFIXES):
            raise BerthError(f"{path}:{number}: user {user!r} has a non-bcrypt hash; only bcrypt entries are "
                             "supported (create them with `htpasswd -B`)")
        users[user] = hashed.encode()
    if not users:
        raise BerthError(f"htpasswd file {path} has no users")
    return users
