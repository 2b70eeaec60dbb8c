"""Who is asking (authentication) and what they may do (authorization).

The app asks an `Authenticator` for the user behind a request, then an `Authorizer` whether that
user may perform `actions` ("pull", "push", "delete") on a repository (None for registry-wide
requests such as the catalog). HTTP Basic against htpasswd lives here; the bearer-token flow with
per-repository permissions (`--auth token`) plugs in through `token.TokenAuthenticator` and
`token.TokenAuthorizer`.
"""
from __future__ import annotations

import base64
import re

from berth.errors import BerthError
from berth.registry.server.errors import RegistryError

REALM = "berth-registry"
_BCRYPT_PREFIXES = ("$2y$", "$2b$", "$2a$")
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")


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
    """HTTP Basic against an htpasswd file of bcrypt entries (`htpasswd -B`); the checks are
    `passwords.PasswordChecker`'s (own thread pool, back-off per client, remembered successes)."""

    def __init__(self, path: str):
        from berth.registry.server.passwords import PasswordChecker
        self.users = load_htpasswd(path)
        self.checker = PasswordChecker(self.users)

    async def authenticate(self, request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise challenge()
        try:  # any str method on a header may meet non-ASCII (aiohttp decodes headers as UTF-8)
            decoded = base64.b64decode(encoded.strip().encode("ascii"), validate=True)
            user, sep, password = decoded.decode("utf-8").partition(":")
        except (ValueError, UnicodeError):  # binascii.Error is a ValueError
            raise challenge("malformed Basic credentials") from None
        if not sep:
            raise challenge("malformed Basic credentials: no colon between user and password")
        if not await self.checker.check(user, password.encode(), request.remote):
            raise challenge("invalid username or password")
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
        if not _BCRYPT_HASH.fullmatch(hashed):
            raise BerthError(f"{path}:{number}: user {user!r} has a malformed bcrypt hash")
        users[user] = hashed.encode()
    if not users:
        raise BerthError(f"htpasswd file {path} has no users")
    return users
