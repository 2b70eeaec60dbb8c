"""The built-in token service (docker's registry token flow) and the bearer-token checks.

Flow: a request without a valid token gets 401 with
`WWW-Authenticate: Bearer realm="<base URL>/token",service="...",scope="repository:NAME:ACTIONS"`;
the client calls `GET /token?service=...&scope=...` (HTTP Basic credentials checked against the
htpasswd file, or none for anonymous access when the policy grants it) and receives an HS256 JWT
whose `access` claim lists, per requested scope, the actions the policy allows (asking for more
is never an error: the answer is the intersection). It then retries with `Authorization: Bearer`.

When a valid token lacks an action the request needs:
- 401 with `error="insufficient_scope"` and the needed scope, when fetching a new token could help
  (the policy would allow it, or the caller is anonymous and credentials might). Docker, podman
  and skopeo answer such a challenge by asking for a token with that scope.
- 403 DENIED when the caller is a known user whose policy never allows it: asking again cannot
  succeed, and clients then show "denied: requested access to the resource is denied" instead
  of looping or blaming the password. Docker distribution itself always answers 401 because its
  token server is a separate program whose policy it cannot see; ours is built in.

Registry-wide reads need a grant of their own (see `policy`): the catalog `registry:catalog:*`,
/metrics and the web UI's front page (registry-wide storage totals) `registry:metrics:*`. A valid
token alone, as an anonymous one granting nothing, only opens /v2/.

The realm is `--token-realm` when given (checked at start-up: an http(s) URL, nothing to escape in
a header). Otherwise it is built from the request's Host header, used only when it is a plain
host[:port]; any other Host gives the address the connection came in on. So the challenge never
carries text the client chose beyond a well-formed host name.

Tokens are signed with a secret generated once per storage directory (`token-secret`, mode 0600)
so they stay valid across restarts of the same registry. Only `GET /token` is served; containerd's
OAuth2 `POST` gets 405, on which it falls back to `GET`.
"""
from __future__ import annotations

import os
import re
import time

from aiohttp import web

from berth.registry.server import jwt, names
from berth.registry.server.auth import Authenticator, Authorizer, HtpasswdAuthenticator
from berth.registry.server.errors import RegistryError
from berth.registry.server.policy import ACTIONS, REGISTRY_RESOURCES, Policy
from berth.store.fsutil import atomic_write, flock

SECRET_FILE = "token-secret"
DEFAULT_SERVICE = "berth-registry"
DEFAULT_ISSUER = "berth-token-service"
TOKEN_PATH = "/token"
_SECRET_BYTES = 32
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]{{2,45}}\])(?::[0-9]{{1,5}})?")
_REALM = re.compile(r"https?://[!#-\[\]-~]+")  # printable ASCII without space, quote or backslash
_MAX_REALM = 1024


def check_realm(url: str) -> str:
    """`--token-realm`: an absolute http(s) URL that goes into a header as it is."""
    from urllib.parse import urlsplit
    from berth.errors import BerthError
    try:
        valid = len(url) <= _MAX_REALM and bool(_REALM.fullmatch(url)) and bool(urlsplit(url).hostname)
    except ValueError:  # urlsplit: a malformed [IPv6] host
        valid = False
    if not valid:
        raise BerthError(f"invalid token realm {url[:200]!r}: use an http(s) URL such as "
                         "https://registry.example.com/token (no spaces, quotes or backslashes)")
    return url


def load_secret(directory: str) -> bytes:
    """The signing secret kept in `directory`, created on first use (0600, written atomically)."""
    path = os.path.join(directory, SECRET_FILE)
    os.makedirs(directory, exist_ok=True)
    with flock(path + ".lock"):  # two servers starting at once must not each write their own
        try:
            with open(path, "rb") as f:
                secret = f.read()
        except FileNotFoundError:
            secret = os.urandom(_SECRET_BYTES).hex().encode()
            atomic_write(path, secret, mode=0o600)
    if len(secret) < _SECRET_BYTES:
        from berth.errors import BerthError
        raise BerthError(f"token secret {path} is too short; delete it to have a new one generated")
    return secret


class TokenIdentity(str):
    """The caller of one request: the token's subject ("" when anonymous) as the user name, with
    the access the token grants and the realm to send it to for another token. `has_token` is
    False when the request carried no token at all."""

    def __new__(cls, subject: str, access: dict, realm: str, has_token: bool):
        self = super().__new__(cls, subject)
        self.access, self.realm, self.has_token = access, realm, has_token
        return self


def scope(resource_type: str, name: str, actions) -> str:
    return f"{resource_type}:{name}:{','.join(actions)}"


def parse_scope(text: str) -> tuple[str, str, list[str]] | None:
    """`repository:team/app:pull,push` -> ("repository", "team/app", ["pull", "push"]); None if malformed."""
    resource_type, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not resource_type or not name:
        return None
    return resource_type, name, [a for a in actions.split(",") if a]


class TokenService:
    """Issues tokens (the /token endpoint) and checks the ones requests carry."""

    def __init__(self, secret: bytes, policy: Policy, users: HtpasswdAuthenticator | None = None,
                 issuer: str = DEFAULT_ISSUER, service: str = DEFAULT_SERVICE, ttl: float = 300.0,
                 realm: str | None = None):
        self.secret, self.policy, self.users = secret, policy, users
        self.issuer, self.service, self.ttl = issuer, service, ttl
        self.fixed_realm = check_realm(realm) if realm else None

    # -- issuing
    def grant(self, user: str, requested: list[str]) -> list[dict]:
        access = []
        for text in requested:
            parsed = parse_scope(text)
            if parsed is None:
                continue
            resource_type, name, actions = parsed
            if resource_type == "repository":
                try:
                    names.repository(name)
                except RegistryError:
                    continue
                wanted = ACTIONS if "*" in actions else actions
                allowed = self.policy.allowed(user, name)
                granted = [a for a in ACTIONS if a in wanted and a in allowed]
            elif resource_type == "registry" and name in REGISTRY_RESOURCES:
                granted = ["*"] if "*" in actions and self.policy.may_read_registry(user, name) else []
            else:
                continue
            access.append({"type": resource_type, "name": name, "actions": granted})
        return access

    def issue(self, user: str, requested: list[str], now: float | None = None) -> dict:
        now = int(time.time() if now is None else now)
        claims = {"iss": self.issuer, "sub": user, "aud": self.service, "exp": now + int(self.ttl),
                  "nbf": now, "iat": now, "jti": os.urandom(16).hex(), "access": self.grant(user, requested)}
        token = jwt.encode(claims, self.secret)
        return {"token": token, "access_token": token, "expires_in": int(self.ttl),
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}

    async def handle(self, request) -> web.Response:
        """GET /token?service=...&scope=...[&scope=...][&account=...]"""
        if request.method != "GET":
            return web.Response(status=405, headers={"Allow": "GET"}, text="only GET /token is supported\n")
        service = request.query.get("service")
        if service is not None and service != self.service:
            raise RegistryError("DENIED", f"this token service serves {self.service!r}, not {service!r}",
                                status=400)
        if request.headers.get("Authorization"):
            if self.users is None:
                raise RegistryError("UNAUTHORIZED", "this registry has no users; omit credentials",
                                    headers={"WWW-Authenticate": f'Basic realm="{self.service}"'})
            user = await self.users.authenticate(request)  # 401 on a wrong password or unknown user
        elif self.policy.grants_anonymous():
            user = ""
        else:
            raise RegistryError("UNAUTHORIZED", "credentials required",
                                headers={"WWW-Authenticate": f'Basic realm="{self.service}"'})
        # `account` only names who the client thinks it is; the credentials decide the subject
        requested = [part for value in request.query.getall("scope", []) for part in value.split()]
        return web.json_response(self.issue(user, requested))

    # -- checking
    def realm(self, request) -> str:
        if self.fixed_realm:
            return self.fixed_realm
        host = request.headers.get("Host", "")
        if len(host) > 255 or not _HOST.fullmatch(host):
            host = _local_address(request)
        return f"{request.scheme}://{host}{TOKEN_PATH}"

    def identity(self, request) -> TokenIdentity:
        realm = self.realm(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return TokenIdentity("", {}, realm, has_token=False)
        try:
            claims = jwt.verify(token.strip(), self.secret, self.issuer, self.service)
        except jwt.InvalidToken as e:
            raise self.challenge(realm, None, str(e), error="invalid_token") from None
        subject = claims.get("sub")
        return TokenIdentity(subject if isinstance(subject, str) else "", access_of(claims), realm, has_token=True)

    def challenge(self, realm: str, needed: str | None, message: str, error: str | None = None) -> RegistryError:
        header = f'Bearer realm="{realm}",service="{self.service}"'
        if needed:
            header += f',scope="{needed}"'
        if error:
            header += f',error="{error}"'
        return RegistryError("UNAUTHORIZED", message, headers={"WWW-Authenticate": header})

    def authorize(self, caller: TokenIdentity, repository: str | None, actions: tuple[str, ...]) -> None:
        if repository is None:
            if not actions:  # /v2/: any valid token will do
                if not caller.has_token:
                    raise self.challenge(caller.realm, None, "authentication required")
                return
            self.authorize_registry(caller, "catalog")
            return
        self._require(caller, "repository", repository, actions,
                      lambda: all(a in self.policy.allowed(caller, repository) for a in actions),
                      f"{','.join(actions)} {repository}")

    def authorize_registry(self, caller: TokenIdentity, resource: str) -> None:
        """A registry-wide read (`resource` in REGISTRY_RESOURCES) needs its `registry:<resource>:*` grant."""
        self._require(caller, "registry", resource, ("*",),
                      lambda: self.policy.may_read_registry(caller, resource), f"read the registry's {resource}")

    def _require(self, caller: TokenIdentity, resource_type: str, name: str, actions, possible, what: str) -> None:
        """Pass if the token holds `actions` on the resource; else 403 when the policy never allows
        it to this known user, else 401 naming the scope to ask for."""
        needed = scope(resource_type, name, actions)
        if not caller.has_token:
            raise self.challenge(caller.realm, needed, "authentication required")
        held = caller.access.get((resource_type, name), frozenset())
        if all(a in held for a in actions):
            return
        if caller and not possible():  # a known user whom a new token cannot help
            raise RegistryError("DENIED", f"{caller} may not {what}")
        raise self.challenge(caller.realm, needed, f"token does not grant {needed}", error="insufficient_scope")


class TokenAuthenticator(Authenticator):
    def __init__(self, service: TokenService):
        self.service = service

    async def authenticate(self, request) -> TokenIdentity:
        return self.service.identity(request)


class TokenAuthorizer(Authorizer):
    def __init__(self, service: TokenService):
        self.service = service

    def authorize(self, user, repository, actions) -> None:
        if not isinstance(user, TokenIdentity):  # never reached with TokenAuthenticator; fail closed
            raise RegistryError("UNAUTHORIZED", "authentication required")
        self.service.authorize(user, repository, actions)

    def sees_every_repository(self, user) -> bool:
        return False  # per-repository permissions: a mount must name its source

    def authorize_registry(self, user, resource: str) -> None:
        if not isinstance(user, TokenIdentity):
            raise RegistryError("UNAUTHORIZED", "authentication required")
        self.service.authorize_registry(user, resource)


def access_of(claims: dict) -> dict[tuple[str, str], frozenset[str]]:
    """(resource type, name) -> actions from a verified token's `access` claim; entries of any
    other shape grant nothing."""
    access = {}
    entries = claims.get("access")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("actions"), list):
            continue
        key = (entry.get("type"), entry.get("name"))
        if all(isinstance(part, str) for part in key):
            actions = frozenset(a for a in entry["actions"] if isinstance(a, str))
            access[key] = access.get(key, frozenset()) | actions
    return access


def _local_address(request) -> str:
    """host:port of the socket the request came in on (never anything the client wrote)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname or not isinstance(sockname, tuple):
        return "localhost"
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
