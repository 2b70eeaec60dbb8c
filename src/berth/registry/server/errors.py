"""The spec's error codes, their HTTP statuses, and the `{"errors": [...]}` body."""
from __future__ import annotations

import json

from berth.errors import BerthError

# code -> (default HTTP status, message used when none is given)
CODES = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a blob unknown to the repository"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    # not in the spec's table; docker distribution's code for a bad `n` in tags/catalog paging
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
}


class RegistryError(BerthError):
    """A request the registry refuses; becomes an HTTP error response with the spec's body."""

    def __init__(self, code: str, message: str | None = None, status: int | None = None,
                 detail=None, headers: dict | None = None):
        default_status, default_message = CODES[code]
        super().__init__(message or default_message)
        self.code = code
        self.message = message or default_message
        self.status = status or default_status
        self.detail = detail
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        return error_body(self.code, self.message, self.detail)


def error_body(code: str, message: str, detail=None) -> bytes:
    entry = {"code": code, "message": message, "detail": detail if detail is not None else {}}
    return json.dumps({"errors": [entry]}).encode()
