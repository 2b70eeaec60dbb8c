"""Helpers for API tests: `berth system service` as a subprocess on a unix socket, the docker CLI
pointed at it, a plain HTTP client over the socket for what the CLI does not show, and a pty to
drive `-it` sessions."""
from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

from helpers import BERTH, Berth

DOCKER = "/usr/local/bin/docker"        # docker 28.x
OLD_DOCKER = "/usr/bin/docker"          # Debian's 20.10 (API 1.41)
# the machine's docker CLI, and Debian's 20.10 one (`../shared/peers/setup --docker`) where installed
DOCKER_CLIS = [p for p in (DOCKER, OLD_DOCKER) if os.access(p, os.X_OK)]
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
        # a socket path has at most 108 bytes: a short directory of its own, whatever the test's name
        self.socket_dir = tempfile.mkdtemp(prefix="berth-api-")
        self.socket = os.path.join(self.socket_dir, "docker.sock")
        self.docker_config = os.path.join(self.workdir, "docker-config")
        self.log = os.path.join(self.workdir, "service.log")
        self.proc = None
        os.makedirs(self.docker_config, exist_ok=True)

    @property
    def berth(self) -> Berth:
        return Berth(self.root)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

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
        if os.path.isdir(self.socket_dir) and not os.listdir(self.socket_dir):
            os.rmdir(self.socket_dir)

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

    out = docker_out

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
        """`body`: bytes or str as given; a dict or list as JSON."""
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        conn = UnixHTTPConnection(self.socket, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return Response(response.status, response.headers, response.read())
        finally:
            conn.close()


    def json(self, method: str, path: str, body=None, status: int = 200):
        """The JSON answer of a request that must answer `status`."""
        response = self.request(method, path, body)
        assert response.status == status, f"{method} {path}: {response!r}"
        return response.json() if response.body else None


def http_get(url: str) -> str:
    """The body at url, or "" while nothing answers there yet (for wait_for)."""
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.read().decode()
    except OSError:
        return ""


def registry_auth(user: str, password: str, server: str) -> str:
    """docker's X-Registry-Auth header: base64url of the JSON AuthConfig."""
    doc = {"username": user, "password": password, "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def path_stat(response: Response) -> dict:
    return json.loads(base64.b64decode(response.headers["X-Docker-Container-Path-Stat"]))


def run_in_pty(argv: list[str], env: dict, typed: list[tuple[bytes, bytes]], rows: int = 30, cols: int = 100,
               timeout: float = 30) -> tuple[bytes, int]:
    """Run argv on a new pty of rows x cols; for each (wait_for, keys): wait until the output shows
    wait_for, then type keys. Returns (all output, exit code)."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = b""
    deadline = time.monotonic() + timeout

    def read_until(token: bytes | None) -> None:
        nonlocal out
        while token is None or token not in out:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {token!r}; output so far: {out[-500:]!r}"
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    assert token is None, f"the program ended before {token!r}; output: {out[-500:]!r}"
                    return
                out += chunk
    try:
        for wait_for, keys in typed:
            read_until(wait_for)
            os.write(fd, keys)
        read_until(None)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return out, os.waitstatus_to_exitcode(status)
