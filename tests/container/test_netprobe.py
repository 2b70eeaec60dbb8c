"""HTTP-GET and TCP-SOCKET health checks (container.netprobe), the forms `kube play` maps Kubernetes'
httpGet and tcpSocket probes to: made by the checker from the container's network namespace to
its address, never exec'd in it. Real containers, as root; busybox's httpd serves. The containers
are made as kube play makes them, from a ContainerSpec (the CLI's --health-cmd has no such form)."""
from __future__ import annotations

import socket

from container_helpers import inspect, wait_for

# a site in /www: / (200), /sub (a directory: 302 to /sub/), /cgi-bin/header (200 with the header
# X-Probe: yes and kubelet's kind of User-Agent, 403 otherwise); nothing else (404)
_SITE = r"""mkdir -p /www/sub /www/cgi-bin && echo ok > /www/index.html && echo sub > /www/sub/index.html
cat > /www/cgi-bin/header <<'EOF'
#!/bin/sh
case "$HTTP_X_PROBE $HTTP_USER_AGENT" in
  "yes kube-probe/"*) printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nseen\n' ;;
  *) printf 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nnot seen\n' ;;
esac
EOF
chmod +x /www/cgi-bin/header
exec httpd -f -p {listen} -h /www"""


def _serve(listen: str = "80") -> list[str]:
    return ["sh", "-c", _SITE.replace("{listen}", listen)]


def _create(berth, name: str, test: list, command: list, timeout: str = "2s", **spec) -> str:
    """Create a container with Healthcheck.Test `test` (probes every 200 ms, unhealthy after 2
    failures) as kube play does, and start it."""
    from berth.container.spec import ContainerSpec
    from berth.dockerfile import parse_go_duration
    from berth.engine import Engine
    check = {"Test": test, "Interval": 200_000_000, "Timeout": parse_go_duration(timeout), "Retries": 2}
    with Engine(berth.root) as engine:
        cid = engine.containers.create(ContainerSpec("busybox", command, name=name, healthcheck=check, **spec)).id
    berth.run("start", name)
    return cid


def _health_when(berth, name: str, status: str) -> dict:
    return wait_for(lambda: (h := inspect(berth, name)["State"]["Health"])["Status"] == status and h,
                    what=f"{name} {status}")


def _address(berth, name: str) -> str:
    return inspect(berth, name)["NetworkSettings"]["IPAddress"]


def test_http_get_passes_on_2xx_and_3xx_and_fails_on_404(busybox):
    _create(busybox, "up", ["HTTP-GET", "80", "/", "http"], _serve())
    _create(busybox, "moved", ["HTTP-GET", "80", "/sub", "http"], _serve())  # 302: passes, as kubelet
    _create(busybox, "missing", ["HTTP-GET", "80", "/missing", "http"], _serve())
    h = _health_when(busybox, "up", "healthy")
    assert h["Log"][-1]["ExitCode"] == 0 and h["Log"][-1]["Output"] == "HTTP probe: status 200"
    h = _health_when(busybox, "moved", "healthy")
    assert h["Log"][-1]["Output"] == "HTTP probe: status 302"
    h = _health_when(busybox, "missing", "unhealthy")
    assert h["FailingStreak"] >= 2
    assert all(e["ExitCode"] == 1 and e["Output"] == "HTTP probe: status 404" for e in h["Log"])


def test_http_get_sends_the_headers(busybox):
    _create(busybox, "with", ["HTTP-GET", "80", "/cgi-bin/header", "http", "X-Probe: yes"], _serve())
    _create(busybox, "without", ["HTTP-GET", "80", "/cgi-bin/header", "http"], _serve())
    _health_when(busybox, "with", "healthy")
    h = _health_when(busybox, "without", "unhealthy")
    assert h["Log"][-1]["Output"] == "HTTP probe: status 403"


def test_http_get_failures_say_why(busybox):
    # https to a plain-http server: the TLS handshake fails; a closed port: refused
    _create(busybox, "tls", ["HTTP-GET", "80", "/", "https"], _serve())
    _create(busybox, "closed", ["HTTP-GET", "81", "/", "http"], _serve())
    h = _health_when(busybox, "tls", "unhealthy")
    assert h["Log"][-1]["Output"].startswith(f"HTTP probe failed: GET https://{_address(busybox, 'tls')}:80/: ")
    assert h["Log"][-1]["ExitCode"] == 1
    h = _health_when(busybox, "closed", "unhealthy")
    assert h["Log"][-1]["Output"] == f"HTTP probe failed: GET http://{_address(busybox, 'closed')}:81/: " \
                                     "Connection refused"


def test_http_get_past_its_timeout(busybox):
    # a server that accepts and never answers (nc, its input a sleep): the probe is cut at its timeout
    _create(busybox, "mute", ["HTTP-GET", "8080", "/", "http"], ["sh", "-c", "sleep 300 | nc -l -p 8080"],
            timeout="300ms")
    entry = wait_for(lambda: inspect(busybox, "mute")["State"]["Health"]["Log"], what="a probe")[0]
    assert (entry["ExitCode"], entry["Output"]) == (-1, "Health check exceeded timeout (300ms)")


def test_tcp_socket_passes_on_a_listening_port_and_fails_on_a_closed_one(busybox):
    _create(busybox, "open", ["TCP-SOCKET", "80"], _serve())
    _create(busybox, "shut", ["TCP-SOCKET", "81"], _serve())
    h = _health_when(busybox, "open", "healthy")
    assert h["Log"][-1]["Output"] == f"TCP probe: connected to {_address(busybox, 'open')}:80"
    h = _health_when(busybox, "shut", "unhealthy")
    assert h["Log"][-1] == {**h["Log"][-1], "ExitCode": 1,
                            "Output": f"TCP probe failed: {_address(busybox, 'shut')}:81: Connection refused"}


def test_a_container_on_another_ones_network_is_probed_at_that_address(busybox):
    """As a pod's members share the infra container's network: the probe goes to its address."""
    _create(busybox, "server", ["HTTP-GET", "80", "/", "http"], _serve())
    _create(busybox, "sidecar", ["TCP-SOCKET", "80"], ["sleep", "300"], network="container:server")
    h = _health_when(busybox, "sidecar", "healthy")
    assert h["Log"][-1]["Output"] == f"TCP probe: connected to {_address(busybox, 'server')}:80"


def test_without_an_address_the_probe_goes_to_loopback(busybox):
    with socket.socket() as s:  # a free port of the host's loopback, for a host-network container
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _create(busybox, "hosted", ["TCP-SOCKET", str(port)], _serve(f"127.0.0.1:{port}"), network="host")
    h = _health_when(busybox, "hosted", "healthy")
    assert h["Log"][-1]["Output"] == f"TCP probe: connected to 127.0.0.1:{port}"


def test_a_failing_http_liveness_probe_restarts_the_container(busybox):
    """kube play's livenessProbe: HTTP-GET with --health-on-failure restart. The checker leaves the
    container's namespace after each probe, so the restart it makes sets up the new run's network
    in the host's: the new run serves again, at its new address, and is healthy."""
    _create(busybox, "liveness", ["HTTP-GET", "80", "/", "http"], _serve(), health_on_failure="restart",
            stop_timeout=0)
    first = inspect(busybox, "liveness")
    _health_when(busybox, "liveness", "healthy")
    busybox.run("exec", "liveness", "rm", "/www/index.html")  # 404 from now on, until the next run makes it
    doc = wait_for(lambda: (d := inspect(busybox, "liveness"))["RestartCount"] >= 1 and d["State"]["Running"] and d,
                   what="restarted")
    assert doc["State"]["Pid"] != first["State"]["Pid"]
    h = _health_when(busybox, "liveness", "healthy")
    assert [e["Output"] for e in h["Log"]][-1] == "HTTP probe: status 200"
    assert "HTTP probe: status 404" in [e["Output"] for e in h["Log"]]
    assert inspect(busybox, "liveness")["RestartCount"] == 1
