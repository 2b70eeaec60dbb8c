"""JSON Web Tokens signed with HS256 (RFC 7519 / RFC 7515 compact form), just what the token
service needs: `encode` a claim set, `verify` one back.

Only HS256 is accepted on the way in: a token naming another algorithm (notably "none") is
refused before its signature is looked at, and signatures are compared in constant time. Each part
must be canonical unpadded base64url (RFC 7515 section 2), so one token has exactly one spelling:
Python's decoder alone skips characters outside the alphabet, which let junk ride after a valid
signature. The JSON parts are bounded in size and depth (`safejson`); `verify` raises
InvalidToken and nothing else.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time

from berth import safejson

_HEADER = {"alg": "HS256", "typ": "JWT"}
MAX_TOKEN = 8192  # ours are a few hundred bytes; aiohttp refuses longer header lines anyway
_MAX_DEPTH = 8  # claims nest 3 levels: {"access": [{"actions": [...]}]}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidToken(Exception):
    """The token is malformed, forged, expired, or meant for someone else; the message says which."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise InvalidToken("malformed token encoding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed token encoding") from None
    if _b64(data) != text:  # stray bits in the last character
        raise InvalidToken("malformed token encoding")
    return data


def _sign(signing_input: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


def encode(claims: dict, secret: bytes) -> str:
    header = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_b64(_sign(signing_input, secret))}"


def _json_part(part: str | bytes, what: str) -> dict:
    """The JSON object in a token part (base64url text, or its bytes already decoded)."""
    try:
        value = safejson.loads(_unb64(part) if isinstance(part, str) else part, MAX_TOKEN, _MAX_DEPTH)
    except safejson.InvalidJSON:
        raise InvalidToken(f"token {what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidToken(f"token {what} is not a JSON object")
    return value


def verify(token: str, secret: bytes, issuer: str, audience: str, leeway: float = 30.0,
           now: float | None = None) -> dict:
    """The claims of a token this service signed, still valid, issued by `issuer` for `audience`."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        raise InvalidToken("malformed token")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    header = _json_part(parts[0], "header")
    if header.get("alg") != "HS256":
        raise InvalidToken(f"unsupported token algorithm {str(header.get('alg'))[:40]!r}")
    payload = _unb64(parts[1])
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")  # ASCII: both parts are base64url
    if not hmac.compare_digest(_sign(signing_input, secret), _unb64(parts[2])):
        raise InvalidToken("token signature is invalid")
    claims = _json_part(payload, "claims")
    now = time.time() if now is None else now
    for name in ("exp", "nbf"):
        if not isinstance(claims.get(name), (int, float)) or isinstance(claims.get(name), bool):
            raise InvalidToken(f"token has no numeric {name} claim")
    if now > claims["exp"] + leeway:
        raise InvalidToken("token has expired")
    if now + leeway < claims["nbf"]:
        raise InvalidToken("token is not valid yet")
    if claims.get("iss") != issuer:
        raise InvalidToken("token has the wrong issuer")
    audiences = claims.get("aud")
    if audience not in (audiences if isinstance(audiences, list) else [audiences]):
        raise InvalidToken("token is meant for another service")
    return claims
