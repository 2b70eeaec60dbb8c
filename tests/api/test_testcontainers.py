"""testcontainers-python against berth: a DockerContainer starts, its mapped port answers, and it is
gone after the `with` block."""
from __future__ import annotations


from api_helpers import http_get
from container_helpers import wait_for


def test_a_container_with_a_mapped_port(api, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", api.url)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")  # its reaper image would come from Docker Hub
    from testcontainers.core.container import DockerContainer
    command = ["sh", "-c", "mkdir /www && echo from-testcontainers > /www/index.html && exec httpd -f -p 80 -h /www"]
    with DockerContainer("busybox").with_command(command).with_exposed_ports(80) as container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(80)
        url = f"http://{'127.0.0.1' if host == 'localhost' else host}:{port}/"
        assert wait_for(lambda: http_get(url), what="the mapped port") == "from-testcontainers\n"
        name = container.get_wrapped_container().name
    assert name not in api.out("ps", "-a", "--format", "{{.Names}}").split()
