"""HTTP to one registry: scheme choice, auth challenges and tokens, retries, redirects, resumable blobs.

Synchronous and thread-friendly (one connection per request): layers are fetched by the store's
worker threads, each streaming its own blob. http.client keeps the CLI's start-up small.
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse

from berth.archive import CHUNK
from berth.errors import DigestMismatch, RegistryClientError
from berth.netutil import USER_AGENT, error_reason, is_loopback

RETRIES = 4                 # attempts after the first for 5xx, 429 and dropped connections
BACKOFF = 0.25              # seconds before the first retry, doubled each time
TIMEOUT = 60.0
def parse_challenge(header: str) -> tuple[str, dict]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params, key, i = {}, "", 0
    while i < len(rest):
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip().strip(",").strip().lower()
        if rest[eq + 1:eq + 2] == '"':
            end = eq + 2
            value = []
            while end < len(rest) and rest[end] != '"':
                if rest[end] == "\\" and end + 1 < len(rest):
                    end += 1
                value.append(rest[end])
                end += 1
            params[key] = "".join(value)
            i = end + 1
        else:
            end = rest.find(",", eq)
            end = len(rest) if end < 0 else end
            params[key] = rest[eq + 1:end].strip()
            i = end + 1
    return scheme.lower(), params


def error_message(status: int, body: bytes) -> tuple[str, str]:
    """(code, message) from the spec's error body, or a short text."""
    try:
        first = json.loads(body)["errors"][0]
        return first.get("code", ""), first.get("message", "") or first.get("code", "")
    except (ValueError, KeyError, IndexError, TypeError):
        text = body.decode(errors="replace").strip().splitlines()
        return "", (text[0][:200] if text else http.client.responses.get(status, f"HTTP {status}"))


class Session:
    """Requests to one registry host (`host[:port]`) with the given credentials (user, password)."""

    def __init__(self, host: str, credentials: tuple[str, str] | None = None, insecure: bool = False):
        self.host = host
        self.credentials = credentials
        # as docker's insecure registries (and loopback ones, which docker treats so by default):
        # https first with any certificate, then plain http
        self.insecure = insecure or is_loopback(host)
        self.scheme: str | None = None
        self._auth: dict[str, str] = {}        # scope (or "" for Basic) -> Authorization header value
        self._lock = threading.Lock()

    @property
    def tls_verify(self) -> bool:
        return not self.insecure

    # ---- connections -----------------------------------------------------------------------

    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            context = ssl.create_default_context()
            if self.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(netloc, timeout=TIMEOUT, context=context, blocksize=CHUNK)
        return http.client.HTTPConnection(netloc, timeout=TIMEOUT, blocksize=CHUNK)  # bodies go in 1 MiB writes

    def _scheme(self) -> str:
        if self.scheme is None:
            error = None
            for scheme in ("https", "http") if self.insecure else ("https",):
                self.scheme = scheme
                try:
                    close(self._send("GET", "/v2/", {}, None))
                    return scheme
                except (ssl.SSLError, ConnectionError, OSError, http.client.HTTPException) as e:
                    error = e
            self.scheme = None
            raise RegistryClientError(f"cannot reach registry {self.host}: {error_reason(error)}")
        return self.scheme

    def _send(self, method: str, url: str, headers: dict, body, netloc: str | None = None):
        """One request on a fresh connection; returns the response (its connection closes with it)."""
        scheme = self.scheme or "https"
        if url.startswith(("http://", "https://")):
            parts = urllib.parse.urlsplit(url)
            scheme, netloc = parts.scheme, parts.netloc
            url = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        conn = self._connect(scheme, netloc or self.host)
        conn.request(method, url, body=body, headers={"User-Agent": USER_AGENT, **headers})
        response = conn.getresponse()
        response._berth_conn = conn  # closed with the response by close()
        return response

    # ---- requests --------------------------------------------------------------------------

    def request(self, method: str, path: str, *, scope: str = "", headers: dict | None = None, body=None,
                ok: tuple[int, ...] = (200,), retry: bool = True):
        """Send with auth, retries and redirects; returns the open response when its status is in
        `ok`, else raises RegistryClientError with the registry's message. `body` may be bytes or a
        callable returning a fresh body (so a retry can resend it)."""
        self._scheme()
        headers = dict(headers or {})
        attempt, auth_tries, delay, url, authorized_host = 0, 0, BACKOFF, path, True
        while True:
            send_headers = dict(headers)
            auth = self._auth.get(scope) or self._auth.get("")
            if auth and authorized_host:
                send_headers["Authorization"] = auth
            try:
                response = self._send(method, url, send_headers, body() if callable(body) else body)
            except (ConnectionError, socket.timeout, http.client.HTTPException, OSError) as e:
                if not retry or attempt >= RETRIES:
                    raise RegistryClientError(f"{method} {self.host}{path}: {error_reason(e)}") from None
                attempt, delay = attempt + 1, _sleep(delay)
                continue
            status = response.status
            if status in ok:
                return response
            if status == 401 and auth_tries < 2 and authorized_host:
                # first: no credentials sent yet; second: a token without the scope this needs
                challenge = response.getheader("WWW-Authenticate") or ""
                _drain(response)
                auth_tries += 1
                if self._authenticate(challenge, scope):
                    continue
                if "Authorization" in send_headers:
                    raise RegistryClientError(f"{self.host}: invalid username or password", 401, "UNAUTHORIZED")
                raise RegistryClientError(f"{self.host}: authentication required (berth login {self.host})", 401,
                                          "UNAUTHORIZED")
            if status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                base = url if url.startswith(("http://", "https://")) else f"{self.scheme}://{self.host}{url}"
                target = urllib.parse.urljoin(base, response.getheader("Location"))
                _drain(response)
                # a blob store on another host must not see the registry's credentials
                authorized_host = urllib.parse.urlsplit(target).netloc == self.host
                url = target
                if status == 303:
                    method, body = "GET", None
                continue
            if (status >= 500 or status == 429) and retry and attempt < RETRIES:
                _drain(response)
                attempt, delay = attempt + 1, _sleep(delay)
                continue
            data = _drain(response, limit=64 << 10)
            code, message = error_message(status, data)
            if status == 401 and not self.credentials:
                message = f"authentication required (berth login {self.host}): {message or 'unauthorized'}"
            elif status == 401:
                message = f"{message or 'unauthorized'} (wrong user name or password?)"
            raise RegistryClientError(f"{self.host}: {message}", status, code)

    def _basic(self) -> str:
        user, password = self.credentials
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def _authenticate(self, challenge: str, scope: str) -> bool:
        """Answer a 401 challenge; True when a new Authorization header is ready."""
        kind, params = parse_challenge(challenge)
        if kind == "basic":
            if not self.credentials or self._auth.get(""):
                return False
            self._auth[""] = self._basic()
            return True
        if kind != "bearer" or "realm" not in params:
            return False
        # what the registry asks for, plus what we need (a mount also needs pull on its source)
        wanted = dict.fromkeys(f"{params.get('scope', '')} {scope}".split())
        query = [("service", params["service"])] if params.get("service") else []
        query += [("scope", s) for s in wanted]
        if self.credentials:
            query.append(("account", self.credentials[0]))
        realm = params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"Authorization": self._basic()} if self.credentials else {}
        try:
            response = self._send("GET", url, headers, None)
        except (ConnectionError, OSError, http.client.HTTPException) as e:
            raise RegistryClientError(f"token service {realm}: {error_reason(e)}") from None
        data = _drain(response, limit=1 << 20)
        if response.status == 401:
            raise RegistryClientError(f"{self.host}: invalid username or password", 401, "UNAUTHORIZED")
        if response.status != 200:
            raise RegistryClientError(f"token service {realm}: {error_message(response.status, data)[1]}",
                                      response.status)
        try:
            doc = json.loads(data)
            token = doc.get("token") or doc.get("access_token")
        except ValueError:
            token = None
        if not token:
            raise RegistryClientError(f"token service {realm} sent no token")
        with self._lock:
            self._auth[scope] = f"Bearer {token}"
        return True

    def get_bytes(self, path: str, *, scope: str, headers: dict | None = None, limit: int) -> tuple[bytes, object]:
        response = self.request("GET", path, scope=scope, headers=headers)
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            close(response)
            raise RegistryClientError(f"{self.host}{path}: response of {length} bytes exceeds the {limit} byte limit")
        data = response.read(limit + 1)
        close(response)
        if len(data) > limit:
            raise RegistryClientError(f"{self.host}{path}: response exceeds the {limit} byte limit")
        return data, response

    def open_blob(self, path: str, *, scope: str, size: int | None = None, on_read=None) -> "BlobReader":
        return BlobReader(self, path, scope, size, on_read)


class BlobReader:
    """A blob's bytes as a file; a dropped connection resumes with a Range request where it stopped."""

    def __init__(self, session: Session, path: str, scope: str, size: int | None, on_read=None):
        self.session, self.path, self.scope, self.size = session, path, scope, size
        self.on_read = on_read  # called with the byte count of every read (progress display)
        self.offset = 0
        self._response = session.request("GET", path, scope=scope)
        length = self._response.getheader("Content-Length")
        if size is not None and length and length.isdigit() and int(length) != size:
            close(self._response)
            raise DigestMismatch(f"blob size mismatch: {session.host}{path} is {length} bytes, the manifest says {size}")

    def read(self, n: int = -1) -> bytes:
        tries = 0
        while True:
            try:
                data = self._response.read(n if n is not None and n >= 0 else None)
            except (ConnectionError, socket.timeout, http.client.HTTPException, OSError) as e:
                error = e
            else:
                self.offset += len(data)
                if data and self.on_read:
                    self.on_read(len(data))
                if data or n == 0 or self.size is None or self.offset >= self.size:
                    return data
                # http.client returns b"" both at the end and when the peer hung up early: the
                # bytes still owed by Content-Length tell them apart
                error = None
                if not self._response.length:
                    raise DigestMismatch(f"blob size mismatch: {self.session.host}{self.path} ended after {self.offset} "
                                         f"bytes, the manifest says {self.size}")
            if tries == RETRIES:
                raise RegistryClientError(f"{self.session.host}{self.path}: connection lost at byte {self.offset}"
                                          + (f" ({error_reason(error)})" if error else ""))
            tries += 1
            self._resume()

    def _resume(self) -> None:
        close(self._response)
        time.sleep(BACKOFF)
        response = self.session.request("GET", self.path, scope=self.scope,
                                         headers={"Range": f"bytes={self.offset}-"}, ok=(200, 206))
        if response.status == 200:  # the server ignored Range: skip what we already have
            skip = self.offset
            while skip:
                chunk = response.read(min(skip, 1 << 20))
                if not chunk:
                    break
                skip -= len(chunk)
        self._response = response

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        close(self._response)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def close(response) -> None:
    try:
        response.close()
    finally:
        conn = getattr(response, "_berth_conn", None)
        if conn is not None:
            conn.close()


def _drain(response, limit: int = 1 << 20) -> bytes:
    try:
        return response.read(limit)
    except (ConnectionError, OSError, http.client.HTTPException):
        return b""
    finally:
        close(response)


def _sleep(delay: float) -> float:
    time.sleep(delay)
    return delay * 2
