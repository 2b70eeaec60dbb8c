"""The API server as a subprocess, and the docker CLI pointed at it."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from helpers import BERTH

# the machine's docker CLI, and Debian's 20.10 one (`../shared/peers/setup --docker`) where it differs
DOCKER_CLIS = [p for p in dict.fromkeys(("/usr/local/bin/docker", "/usr/bin/docker")) if os.access(p, os.X_OK)]


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Service:
    def __init__(self, berth):
        self.berth = berth
        self.dir = tempfile.mkdtemp(prefix="berth-api-")  # short: a socket path has 108 bytes
        self.socket = os.path.join(self.dir, "docker.sock")
        self.url = f"unix://{self.socket}"
        self.env = {**os.environ, "DOCKER_HOST": self.url, "DOCKER_CONFIG": os.path.join(self.dir, "docker-config")}
        self.proc = None

    def start(self) -> "Service":
        self.log = open(os.path.join(self.dir, "service.log"), "wb")
        self.proc = subprocess.Popen(BERTH + ["--root", self.berth.root, "system", "service", "--socket", self.url],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.request("GET", "/_ping")[0] == 200:
                    return self
            except OSError:
                pass
            assert self.proc.poll() is None, f"the service ended: {self.log_text()}"
            assert time.monotonic() < deadline, "the service did not answer /_ping"
            time.sleep(0.05)

    def log_text(self) -> str:
        with open(os.path.join(self.dir, "service.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, bytes, dict]:
        conn = UnixConnection(self.socket)
        try:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
            response = conn.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            conn.close()

    def json(self, method: str, path: str, body=None, status: int = 200):
        code, data, _ = self.request(method, path, body)
        assert code == status, f"{method} {path}: {code} {data[:500]!r}"
        return json.loads(data) if data else None

    def docker(self, *args, cli: str = DOCKER_CLIS[0] if DOCKER_CLIS else "docker", input=None, check=True,
               timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([cli, *map(str, args)], input=input, capture_output=True, env=self.env,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                                 f"{proc.stderr.decode(errors='replace')}\nservice log:\n{self.log_text()}")
        return proc

    def out(self, *args, **kw) -> str:
        return self.docker(*args, **kw).stdout.decode()


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
