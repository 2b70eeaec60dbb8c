"""Helpers for registry tests: the server as a subprocess, a plain HTTP client, push helpers."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import select
import signal
import subprocess
import sys
import time

BERTH = [sys.executable, "-m", "berth"]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


class Server:
    """`berth registry serve` on 127.0.0.1 with port 0: the server picks a free port and prints it."""

    def __init__(self, root, *args, log=None, preexec_fn=None):
        """`log`: a file for the server's stderr (else a pipe); `preexec_fn` runs in the child."""
        self.root = str(root)
        self.args = [str(a) for a in args]
        self.log, self.preexec_fn = log, preexec_fn
        self.proc = None
        self.url = self.port = None

    @property
    def storage(self) -> str:
        if "--storage" in self.args:
            return self.args[self.args.index("--storage") + 1]
        return os.path.join(self.root, "registry")

    def start(self, timeout: float = 20) -> "Server":
        stderr = open(self.log, "ab") if self.log else subprocess.PIPE
        try:
            self.proc = subprocess.Popen(BERTH + ["--root", self.root, "registry", "serve", "--addr", "127.0.0.1:0",
                                                  *self.args], stdout=subprocess.PIPE, stderr=stderr,
                                         preexec_fn=self.preexec_fn)
        finally:
            if self.log:
                stderr.close()
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                self.stop()
                raise AssertionError("registry did not report 'listening' in time")
            byte = os.read(self.proc.stdout.fileno(), 1)
            if not byte:
                err = self.stderr_text()
                raise AssertionError(f"registry exited ({self.proc.wait()}): {err}")
            line += byte
        text = line.decode().strip()
        assert text.startswith("listening on "), text
        self.url = text.removeprefix("listening on ")
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stderr_text(self) -> str:
        """What the server wrote to stderr (all of it once it exited; with `log`, so far)."""
        if self.log:
            with open(self.log, "rb") as f:
                return f.read().decode(errors="replace")
        return self.proc.stderr.read().decode(errors="replace")

    def client(self, auth: tuple[str, str] | None = None) -> "Client":
        return Client(self.port, auth)

    def stop(self, sig=signal.SIGKILL) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15) if self.proc else None
        for stream in (self.proc.stdout, self.proc.stderr) if self.proc else ():
            if stream is not None:
                stream.close()
        return code


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    @property
    def error_codes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]

    def __repr__(self):
        return f"<{self.status} {self.body[:200]!r}>"


class Client:
    def __init__(self, port: int, auth=None, host: str = "127.0.0.1"):
        self.host, self.port, self.auth = host, port, auth

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> Response:
        headers = dict(headers or {})
        if self.auth and "Authorization" not in headers:
            import base64
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    # -- pushing
    def push_blob(self, repo: str, data: bytes, algorithm: str = "sha256") -> str:
        digest = digest_of(data, algorithm)
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", body=data,
                            headers={"Content-Type": "application/octet-stream"})
        assert resp.status == 201, resp
        return digest

    def push_manifest(self, repo: str, reference: str, manifest: bytes, media_type: str = OCI_MANIFEST) -> Response:
        return self.request("PUT", f"/v2/{repo}/manifests/{reference}", body=manifest,
                            headers={"Content-Type": media_type})

    def push_image(self, repo: str, tag: str, layers=(b"layer one",), media_type: str = OCI_MANIFEST,
                   config: bytes | None = None, extra: dict | None = None) -> tuple[str, bytes]:
        """Push blobs and a manifest; returns (manifest digest, manifest bytes)."""
        config = config if config is not None else json.dumps({"architecture": "amd64", "os": "linux",
                                                               "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        manifest = image_manifest(self.push_blob(repo, config), len(config),
                                  [(self.push_blob(repo, layer), len(layer)) for layer in layers],
                                  media_type, extra)
        resp = self.push_manifest(repo, tag, manifest, media_type)
        assert resp.status == 201, resp
        return resp.headers["Docker-Content-Digest"], manifest


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def image_manifest(config_digest: str, config_size: int, layers, media_type: str = OCI_MANIFEST,
                   extra: dict | None = None) -> bytes:
    docker = media_type == DOCKER_MANIFEST
    doc = {"schemaVersion": 2, "mediaType": media_type,
           "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG, "digest": config_digest,
                      "size": config_size},
           "layers": [{"mediaType": DOCKER_LAYER if docker else OCI_LAYER, "digest": d, "size": s} for d, s in layers]}
    doc.update(extra or {})
    return json.dumps(doc, indent=2).encode()


def index_manifest(children: list[tuple[str, int, str]], media_type: str = OCI_INDEX) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": media_type,
           "manifests": [{"mediaType": mt, "digest": d, "size": s,
                          "platform": {"architecture": "amd64", "os": "linux"}} for d, s, mt in children]}
    return json.dumps(doc).encode()


def blob_path(storage: str, digest: str) -> str:
    algorithm, hexpart = digest.split(":")
    return os.path.join(storage, "blobs", algorithm, hexpart[:2], hexpart)


def files_under(root: str) -> set[str]:
    out = set()
    for dirpath, _, files in os.walk(root):
        out.update(os.path.relpath(os.path.join(dirpath, f), root) for f in files)
    return out


class OpenWatch:
    """Every open and read of the files in some directories, by anyone (inotify): proof that a server
    never touched them. O_PATH opens, which read nothing, are not reported by the kernel."""
    IN_ACCESS, IN_OPEN = 0x1, 0x20
    IN_NONBLOCK = os.O_NONBLOCK

    def __init__(self, *directories: str):
        import ctypes
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(self.IN_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        self.names = {}
        for directory in directories:
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), self.IN_OPEN | self.IN_ACCESS)
            assert wd >= 0, os.strerror(ctypes.get_errno())
            self.names[wd] = directory

    def events(self) -> list[str]:
        """Paths opened or read since the last call (a directory listed shows as the directory)."""
        import struct
        out = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return out
            offset = 0
            while offset < len(data):
                wd, _mask, _cookie, length = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16:offset + 16 + length].rstrip(b"\0").decode(errors="replace")
                out.append(os.path.join(self.names[wd], name))
                offset += 16 + length

    def close(self) -> None:
        os.close(self.fd)
