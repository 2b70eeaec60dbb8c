"""Connection bounds of a real `berth registry serve` over real sockets: head, body, idle and
send-stall timeouts, TLS handshakes, the connection limit, running out of file descriptors,
malformed requests."""
import os
import resource
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from registry_helpers import Client

ATTACKER = "127.0.0.2"  # another loopback address: the flood and the served clients are told apart


def _connect(port, source=ATTACKER):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.setblocking(False)
    return sock


def _closed_by_server(sock) -> tuple[bool, bytes]:
    """(whether the server closed the connection, what it sent before), without waiting."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return False, received
        except ConnectionResetError:
            return True, received
        if not chunk:
            return True, received
        received += chunk


def _wait_closed(socks, deadline_s, since=None):
    """{socket: (seconds from `since` (or now) until the server closed it, bytes it sent)}; fails
    past the deadline."""
    started = since if since is not None else time.monotonic()
    done, sent = {}, {s: b"" for s in socks}
    while len(done) < len(socks):
        assert time.monotonic() - started < deadline_s, f"{len(socks) - len(done)} connection(s) still open"
        for sock in socks:
            if sock not in done:
                closed, data = _closed_by_server(sock)
                sent[sock] += data
                if closed:
                    done[sock] = (time.monotonic() - started, sent[sock])
        time.sleep(0.02)
    return done


def _timed_get(client, path="/v2/"):
    started = time.monotonic()
    resp = client.get(path)
    return resp, time.monotonic() - started


def test_half_open_connections_time_out_while_others_are_served(start_registry, tmp_path):
    log = tmp_path / "serve.log"
    server = start_registry("--header-timeout", "2s", "--idle-timeout", "30s", log=log)
    silent = [_connect(server.port) for _ in range(75)]
    half = [_connect(server.port) for _ in range(75)]
    for sock in half:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nUser-Agent: slow")  # no end of head, ever
    opened = time.monotonic()
    client = Client(server.port)
    for _ in range(20):  # everyone else is served while those 150 are held
        resp, took = _timed_get(client)
        assert resp.status == 200 and took < 1.5, (resp, took)
    closed = _wait_closed(silent + half, deadline_s=20, since=opened)
    assert min(seconds for seconds, _ in closed.values()) >= 1.8  # not before the head timeout
    for sock in half:
        assert closed[sock][1].startswith(b"HTTP/1.1 408 "), closed[sock][1]
    for sock in silent:
        assert closed[sock][1] == b""  # nothing to answer: the connection just closes
    for sock in silent + half:
        sock.close()
    assert client.get("/v2/").status == 200
    assert "Traceback" not in server.stderr_text()


def test_head_timeout_is_not_reset_by_trickling_bytes(start_registry):
    server = start_registry("--header-timeout", "1s", "--idle-timeout", "30s")
    sock = _connect(server.port)
    started = time.monotonic()
    head = b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    closed = False
    for byte in head:  # one byte every 50 ms: 10 s in all, were it not cut off
        try:
            sock.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        closed, _ = _closed_by_server(sock)
        if closed:
            break
        time.sleep(0.05)
    took = time.monotonic() - started
    assert closed and 0.9 <= took < 4, took
    sock.close()


def test_idle_keep_alive_connection_closes_after_idle_timeout(start_registry):
    server = start_registry("--header-timeout", "1s", "--idle-timeout", "3s")
    sock = _connect(server.port)
    sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
    answered = time.monotonic()
    (seconds, data), = _wait_closed([sock], deadline_s=15).values()
    idle = time.monotonic() - answered
    assert data.startswith(b"HTTP/1.1 200 ")
    assert 2.5 <= idle < 8, idle  # the idle timeout, not the (shorter) head timeout
    sock.close()


def test_stalled_body_is_answered_408_and_rolled_back(start_registry):
    server = start_registry("--body-timeout", "1s", "--header-timeout", "5s")
    client = Client(server.port)
    location = client.request("POST", "/v2/slow/body/blobs/uploads/").headers["Location"]
    sock = _connect(server.port, source="127.0.0.1")
    sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                 f"Content-Length: 100000\r\n\r\n".encode() + b"x" * 1000)  # then nothing
    started = time.monotonic()
    (_, data), = _wait_closed([sock], deadline_s=10).values()
    took = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert 0.9 <= took < 5, took
    sock.close()
    resp = client.get(location)
    assert resp.status == 204 and resp.headers["Range"] == "0-0"  # the partial request left nothing


def test_slow_but_steady_body_is_not_cut_off(start_registry):
    server = start_registry("--body-timeout", "1s")
    client = Client(server.port)
    location = client.request("POST", "/v2/slow/steady/blobs/uploads/").headers["Location"]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                 f"Content-Length: 10\r\nConnection: close\r\n\r\n".encode())
    for _ in range(10):  # 3 s in all, well over the body timeout, but never 1 s without a byte
        sock.sendall(b"y")
        time.sleep(0.3)
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 202 "), reply
    assert client.get(location).headers["Range"] == "0-9"


def test_connections_beyond_the_limit_wait_instead_of_failing(start_registry, tmp_path):
    log = tmp_path / "serve.log"
    server = start_registry("--max-connections", "4", "--header-timeout", "2s", log=log)
    held = [_connect(server.port) for _ in range(4)]
    time.sleep(0.2)  # let the server accept them: they fill the limit
    resp, took = _timed_get(Client(server.port))
    assert resp.status == 200  # served once the held connections timed out, not refused
    assert took >= 1.0, took  # it did wait for a free place
    _wait_closed(held, deadline_s=10)
    for sock in held:
        sock.close()
    assert "Traceback" not in server.stderr_text()


def _nofile(limit):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def test_running_out_of_descriptors_is_logged_once(start_registry, tmp_path):
    log = tmp_path / "serve.log"
    # a limit set far above what 64 descriptors allow: accept() fails with EMFILE
    server = start_registry("--max-connections", "1000", "--header-timeout", "30s", log=log, preexec_fn=_nofile(64))
    held = [_connect(server.port) for _ in range(100)]
    deadline = time.monotonic() + 10
    while "cannot accept connections" not in server.stderr_text():
        assert time.monotonic() < deadline, server.stderr_text()
        time.sleep(0.1)
    time.sleep(2.5)  # accept is retried every second or so: more failures, no more lines
    text = server.stderr_text()
    assert text.count("cannot accept connections") == 1 and "Too many open files" in text, text
    assert "Traceback" not in text and len(text.splitlines()) < 5, text[:3000]
    for sock in held:
        sock.close()
    deadline = time.monotonic() + 15
    while True:  # descriptors free again: served again
        try:
            if Client(server.port).get("/v2/").status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_default_limit_fits_the_descriptor_limit(start_registry, tmp_path):
    log = tmp_path / "serve.log"
    server = start_registry("--header-timeout", "1s", log=log, preexec_fn=_nofile(48))
    held = [_connect(server.port) for _ in range(40)]  # more than 48 descriptors allow, with the server's own
    resp, took = _timed_get(Client(server.port))
    assert resp.status == 200
    for sock in held:
        sock.close()
    text = server.stderr_text()
    assert "cannot accept" not in text and "Traceback" not in text, text[:3000]


def test_malformed_requests_are_4xx_without_tracebacks(start_registry, tmp_path):
    log = tmp_path / "serve.log"
    server = start_registry(log=log)
    requests = [b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
                b"GET /v2/ HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(300)) + b"\r\n",
                b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 50]  # TLS to a plain port
    for raw in requests:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            try:
                sock.sendall(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass
            reply = b""
            try:
                while chunk := sock.recv(65536):
                    reply += chunk
            except ConnectionResetError:
                pass
        status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.") else None
        assert status is not None and 400 <= status < 500, (raw[:40], reply[:200])
    text = server.stderr_text()
    assert "Traceback" not in text, text[:3000]


def _tcp_state(sock) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def test_response_the_client_stops_reading_is_aborted(start_registry):
    server = start_registry("--body-timeout", "1s")
    client = Client(server.port)
    blob = os.urandom(16 << 20)  # more than the socket buffers of both ends hold
    digest = client.push_blob("slow/reader", blob)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(f"GET /v2/slow/reader/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    started = time.monotonic()
    established = 1
    while _tcp_state(sock) == established:  # reading nothing, until the server gives up
        assert time.monotonic() - started < 15, "the server still waits for the client to read"
        time.sleep(0.05)
    took = time.monotonic() - started
    received = b""
    try:
        while chunk := sock.recv(1 << 20):
            received += chunk
    except ConnectionResetError:
        pass
    sock.close()
    assert 0.9 <= took < 10, took
    assert len(received) < len(blob)  # cut off, not delivered
    assert client.get(f"/v2/slow/reader/blobs/{digest}").body == blob  # and others are served


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl not installed")
def test_tls_handshake_is_bounded_by_the_head_timeout(start_registry, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    log = tmp_path / "serve.log"
    server = start_registry("--tls-cert", cert, "--tls-key", key, "--header-timeout", "1s", log=log)
    silent, half = _connect(server.port), _connect(server.port)
    half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello
    closed = _wait_closed([silent, half], deadline_s=10)
    assert all(0.9 <= seconds < 8 for seconds, _ in closed.values()), closed
    for sock in (silent, half):
        sock.close()
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with context.wrap_socket(raw) as tls:  # others are served
            tls.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert tls.recv(100).startswith(b"HTTP/1.1 200 ")
    assert "Traceback" not in server.stderr_text()
