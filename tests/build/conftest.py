"""`http_server`: files served over HTTP on 127.0.0.1 (a free port) for ADD <url>, one server per
test module. Tests register paths on it, each test its own, and may change them between builds."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Served:
    def __init__(self, port: int):
        self.port = port
        self.files: dict[str, tuple[int, dict, bytes]] = {}  # path (with query) -> (status, headers, body)
        self.requests: list[str] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes, status: int = 200, **headers) -> str:
        """Serve `body` at `path`; header names use `_` for `-` (Last_Modified=...). Returns the URL."""
        self.files[path] = (status, {k.replace("_", "-"): v for k, v in headers.items()}, body)
        return self.url(path)


@pytest.fixture(scope="module")
def http_server():
    served = None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            served.requests.append(self.path)
            status, headers, body = served.files.get(self.path, (404, {}, b"no such file\n"))
            self.send_response(status)
            headers = {"Content-Length": str(len(body)), **headers}  # a test may announce more than it sends
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served = Served(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()
    thread.join()
