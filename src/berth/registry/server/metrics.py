"""Counters and histograms for `/metrics`, in the Prometheus text exposition format (version 0.0.4).

A middleware sees every request: its method, route *pattern* (never the raw path, so the number of
label sets stays bounded whatever names clients use), status and byte counts. Pushes and pulls are
read off the API route and status; an upload's duration runs from the POST that opened it to the
PUT that committed it.
"""
from __future__ import annotations

import math
import time

from aiohttp import web

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# an upload takes from milliseconds (a config blob) to minutes (a multi-GB layer on a slow link)
UPLOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
REQUEST_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_OPEN_UPLOADS_LIMIT = 10000  # start times kept for uploads not yet finished; abandoned ones age out

# API routes as `app.route_label` names them
UPLOAD_START = "/v2/{name}/blobs/uploads/"
UPLOAD_SESSION = "/v2/{name}/blobs/uploads/{upload}"
BLOB = "/v2/{name}/blobs/{reference}"
MANIFEST = "/v2/{name}/manifests/{reference}"


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _labels(names: tuple, values: tuple, extra: str = "") -> str:
    parts = [f'{n}="{escape_label(str(v))}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Counter:
    kind = "counter"

    def __init__(self, name: str, help: str, labels: tuple = ()):
        self.name, self.help, self.label_names = name, help, labels
        self.values: dict[tuple, float] = {}

    def inc(self, *labels, amount: float = 1) -> None:
        self.values[labels] = self.values.get(labels, 0) + amount

    def lines(self):
        if not self.label_names and not self.values:
            yield f"{self.name} 0"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.label_names, labels)} {format_value(value)}"


class Histogram:
    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: tuple, labels: tuple = ()):
        self.name, self.help, self.label_names = name, help, labels
        self.bounds = tuple(sorted(buckets)) + (math.inf,)
        self.series: dict[tuple, list] = {}  # labels -> [count per bucket (not cumulative), sum]

    def observe(self, value: float, *labels) -> None:
        counts, total = self.series.setdefault(labels, [[0] * len(self.bounds), 0.0])
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                counts[i] += 1
                break
        self.series[labels][1] = total + value

    def lines(self):
        series = self.series or ({(): [[0] * len(self.bounds), 0.0]} if not self.label_names else {})
        for labels, (counts, total) in sorted(series.items()):
            cumulative = 0
            for bound, count in zip(self.bounds, counts):
                cumulative += count
                le = f'le="{format_value(bound) if bound == math.inf else repr(float(bound))}"'
                yield f"{self.name}_bucket{_labels(self.label_names, labels, le)} {cumulative}"
            yield f"{self.name}_sum{_labels(self.label_names, labels)} {format_value(total)}"
            yield f"{self.name}_count{_labels(self.label_names, labels)} {cumulative}"


class Metrics:
    def __init__(self):
        self.requests = Counter("berth_registry_http_requests_total", "HTTP requests by method, route and status.",
                                ("method", "route", "status"))
        self.request_seconds = Histogram("berth_registry_http_request_duration_seconds",
                                         "Time to answer a request, by route.", REQUEST_BUCKETS, ("route",))
        self.received = Counter("berth_registry_http_received_bytes_total", "Request body bytes received.")
        self.sent = Counter("berth_registry_http_sent_bytes_total", "Response body bytes sent.")
        self.upload_seconds = Histogram("berth_registry_blob_upload_duration_seconds",
                                        "Time from opening a blob upload to committing it.", UPLOAD_BUCKETS)
        self.blobs_pushed = Counter("berth_registry_blobs_pushed_total", "Blobs committed by uploads.")
        self.blobs_mounted = Counter("berth_registry_blobs_mounted_total", "Blobs linked by cross-repository mounts.")
        self.blobs_pulled = Counter("berth_registry_blobs_pulled_total", "Blob downloads (GET, whole or ranged).")
        self.manifests_pushed = Counter("berth_registry_manifests_pushed_total", "Manifests stored by PUT.")
        self.manifests_pulled = Counter("berth_registry_manifests_pulled_total", "Manifest downloads (GET).")
        self._open_uploads: dict[str, float] = {}  # upload id -> monotonic time its POST arrived

    def families(self):
        return (self.requests, self.request_seconds, self.received, self.sent, self.upload_seconds,
                self.blobs_pushed, self.blobs_mounted, self.blobs_pulled, self.manifests_pushed,
                self.manifests_pulled)

    def render(self) -> str:
        out = []
        for family in self.families():
            out.append(f"# HELP {family.name} {_escape_help(family.help)}")
            out.append(f"# TYPE {family.name} {family.kind}")
            out.extend(family.lines())
        return "\n".join(out) + "\n"

    def observe(self, request, route: str, status, response, started: float) -> None:
        now = time.monotonic()
        method = request.method if request.method in _METHODS else "OTHER"
        self.requests.inc(method, route, str(status))
        self.request_seconds.observe(now - started, route)
        self.received.inc(amount=getattr(request.content, "total_bytes", 0))
        if response is not None and method != "HEAD" and status not in (204, 304):
            self.sent.inc(amount=response.content_length or 0)
        if route == UPLOAD_START and method == "POST":
            if status == 202:
                self._remember_upload(response.headers.get("Docker-Upload-UUID"), started)
            elif status == 201 and request.get("blob_mounted"):
                self.blobs_mounted.inc()
            elif status == 201:  # the whole blob in the POST
                self.blobs_pushed.inc()
                self.upload_seconds.observe(now - started)
        elif route == UPLOAD_SESSION:
            upload_id = request.path.rstrip("/").rsplit("/", 1)[-1]
            if method == "PUT" and status == 201:
                self.blobs_pushed.inc()
                self.upload_seconds.observe(now - self._open_uploads.pop(upload_id, started))
            elif method == "DELETE" and status == 204:
                self._open_uploads.pop(upload_id, None)
        elif route == BLOB and method == "GET" and status in (200, 206):
            self.blobs_pulled.inc()
        elif route == MANIFEST and method == "GET" and status == 200:
            self.manifests_pulled.inc()
        elif route == MANIFEST and method == "PUT" and status == 201:
            self.manifests_pushed.inc()

    def _remember_upload(self, upload_id: str | None, started: float) -> None:
        if not upload_id:
            return
        if len(self._open_uploads) >= _OPEN_UPLOADS_LIMIT:
            del self._open_uploads[next(iter(self._open_uploads))]  # the oldest
        self._open_uploads[upload_id] = started

    def middleware(self, route_label):
        """Record every request; `route_label(request)` names its route pattern."""
        @web.middleware
        async def record(request, handler):
            started = time.monotonic()
            status, response = "aborted", None  # "aborted": the client went away mid-request
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as e:
                status, response = e.status, e
                raise
            finally:
                self.observe(request, route_label(request), status, response, started)
        return record

    async def handler(self, request):
        await request.app["registry"].viewer(request, "metrics")
        return web.Response(body=self.render().encode(), headers={"Content-Type": CONTENT_TYPE})
