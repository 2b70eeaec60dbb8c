"""Helpers for API tests: `berth system service` as a subprocess on a unix socket, the docker CLI
pointed at it, and a plain HTTP client over the socket for what the CLI does not show."""
from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import time

from helpers import BERTH, Berth

DOCKER = "/usr/local/bin/docker"        # docker 28.x
OLD_DOCKER = "/usr/bin/docker"          # Debian's 20.10 (API 1.41)
BUSYBOX_TAR = "/var/tmp/berth-peers/busybox.tar"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 120):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def lines(self) -> list:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]

    @property
    def message(self) -> str:
        return self.json()["message"]

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Service:
    """`berth --root ROOT system service --socket unix://DIR/docker.sock`, up once /_ping answers."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.root = os.path.join(self.workdir, "root")
        self.socket = os.path.join(self.workdir, "docker.sock")
        self.docker_config = os.path.join(self.workdir, "docker-config")
        self.log = os.path.join(self.workdir, "service.log")
        self.proc = None
        os.makedirs(self.docker_config, exist_ok=True)

    @property
    def berth(self) -> Berth:
        return Berth(self.root)

    def start(self, timeout: float = 30) -> "Service":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(BERTH + ["--root", self.root, "system", "service", "--socket",
                                                  f"unix://{self.socket}"], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"the service exited ({self.proc.returncode}): {self.log_text()}")
            try:
                if self.request("GET", "/_ping", timeout=5).status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the service did not answer /_ping in {timeout}s: {self.log_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_text(self) -> str:
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def import_busybox(self, name: str = "busybox") -> None:
        if os.path.exists(BUSYBOX_TAR):
            self.berth.run("import", BUSYBOX_TAR, name)
        else:
            self.berth.run("image", "bootstrap", "busybox", name)

    # ---- the docker CLI -----------------------------------------------------------------

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(DOCKER_HOST=f"unix://{self.socket}", DOCKER_CONFIG=self.docker_config, DOCKER_BUILDKIT="0")
        env.update(extra)
        return env

    def docker(self, *args, input=None, check=True, cli=DOCKER, cwd=None, env=None, timeout=180):
        proc = subprocess.run([cli, *map(str, args)], input=input, capture_output=True, cwd=cwd,
                              env=self.env(**(env or {})), timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                                 f"{proc.stderr.decode(errors='replace')}\nservice log:\n{self.log_text()[-3000:]}")
        return proc

    def docker_out(self, *args, **kw) -> str:
        return self.docker(*args, **kw).stdout.decode()

    def docker_fails(self, *args, says: str, **kw) -> str:
        """The command fails, and stderr says `says`, without a Go panic or a Python traceback."""
        proc = self.docker(*args, check=False, **kw)
        err = proc.stderr.decode(errors="replace")
        shown = f"docker {' '.join(map(str, args))} -> {proc.returncode}: {err!r}"
        assert proc.returncode != 0, shown
        assert says.lower() in err.lower(), shown
        assert "Traceback" not in err and "panic" not in err, shown
        return err

    # ---- raw HTTP ----------------------------------------------------------------------

    def request(self, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 120) -> Response:
        conn = UnixHTTPConnection(self.socket, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            return Response(response.status, response.headers, response.read())
        finally:
            conn.close()


def registry_auth(user: str, password: str, server: str) -> str:
    """docker's X-Registry-Auth header: base64url of the JSON AuthConfig."""
    doc = {"username": user, "password": password, "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def path_stat(response: Response) -> dict:
    return json.loads(base64.b64decode(response.headers["X-Docker-Container-Path-Stat"]))
