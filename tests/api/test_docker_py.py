"""docker-py (PyPI `docker`) drives berth through its high-level API: containers, images, volumes,
networks, exec and streamed logs."""
from __future__ import annotations

import io
import tarfile

import docker
import pytest


@pytest.fixture
def client(api):
    c = docker.DockerClient(base_url=api.url, timeout=60)
    yield c
    c.close()


def test_containers_exec_and_logs(client):
    assert client.ping() and client.version()["ApiVersion"] == "1.44"
    box = client.containers.run("busybox", ["sh", "-c", "echo started; sleep 300"], detach=True, name="box",
                                environment={"COLOR": "blue"}, labels={"app": "demo"})
    box.reload()
    assert box.status == "running" and box.labels == {"app": "demo"}
    assert [c.name for c in client.containers.list(filters={"label": "app=demo"})] == ["box"]
    code, out = box.exec_run(["sh", "-c", "echo $COLOR; echo warn >&2; exit 2"])
    assert code == 2 and sorted(out.splitlines()) == [b"blue", b"warn"]  # two pipes: no order between them
    code, (out, err) = box.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert (code, out, err) == (0, b"o\n", b"e\n")
    stream = box.logs(stream=True, follow=True)
    assert next(stream) == b"started\n"
    stream.close()
    box.stop(timeout=1)
    box.reload()
    assert box.status == "exited"
    box.remove()
    assert client.containers.list(all=True) == []
    # run without detach: the output, and the exit status as ContainerError
    assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"
    with pytest.raises(docker.errors.ContainerError) as failed:
        client.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
    assert failed.value.exit_status == 3
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("nosuch")
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.run("nosuch.invalid/none:1", ["true"])


def test_images_volumes_and_networks(client):
    image = client.images.get("busybox")
    assert "busybox:latest" in image.tags
    image.tag("localhost/mine", "v1")
    assert "localhost/mine:v1" in client.images.get("localhost/mine:v1").tags
    client.images.remove("localhost/mine:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("localhost/mine:v1")
    volume = client.volumes.create("store", labels={"k": "v"})
    assert volume.attrs["Labels"] == {"k": "v"} and [v.name for v in client.volumes.list()] == ["store"]
    network = client.networks.create("pynet", driver="bridge")
    server = client.containers.run("busybox", ["sleep", "300"], detach=True, name="server", network="pynet",
                                   volumes={"store": {"bind": "/data", "mode": "rw"}})
    out = client.containers.run("busybox", ["nslookup", "server"], network="pynet", remove=True)
    server.reload()
    address = server.attrs["NetworkSettings"]["Networks"]["pynet"]["IPAddress"]
    assert f"Address: {address}".encode() in out
    network.reload()
    assert [c.name for c in network.containers] == ["server"]
    server.remove(force=True)
    network.remove()
    volume.remove()
    assert client.volumes.list() == [] and "pynet" not in [n.name for n in client.networks.list()]


def test_put_archive_and_get_archive(client):
    box = client.containers.run("busybox", ["sleep", "300"], detach=True, name="files")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        content = b"from docker-py\n"
        info = tarfile.TarInfo("note.txt")
        info.size, info.mode = len(content), 0o640
        tar.addfile(info, io.BytesIO(content))
    assert box.put_archive("/tmp", data.getvalue())
    assert box.exec_run(["cat", "/tmp/note.txt"]).output == b"from docker-py\n"
    stream, stat = box.get_archive("/tmp/note.txt")
    assert stat["name"] == "note.txt" and stat["size"] == 15 and stat["mode"] & 0o777 == 0o640
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        assert tar.extractfile("note.txt").read() == b"from docker-py\n"
    with pytest.raises(docker.errors.NotFound):
        box.get_archive("/nosuch")
    box.remove(force=True)


def test_ipv6_network(client):
    """POST /networks/create with EnableIPv6 and an IPv6 pool; a container's IPv6Address from its
    endpoint config, and one from `connect`."""
    pool = docker.types.IPAMPool(subnet="fd00:b5:7e71::/64", gateway="fd00:b5:7e71::1")
    network = client.networks.create("pynet6", driver="bridge", enable_ipv6=True,
                                     ipam=docker.types.IPAMConfig(pool_configs=[pool]))
    network.reload()
    assert network.attrs["EnableIPv6"] is True
    assert {"Subnet": "fd00:b5:7e71::/64", "Gateway": "fd00:b5:7e71::1"} in network.attrs["IPAM"]["Config"]
    api = client.api
    created = api.create_container("busybox", ["sleep", "300"], name="six", networking_config=api.create_networking_config(
        {"pynet6": api.create_endpoint_config(ipv6_address="fd00:b5:7e71::9")}),
        host_config=api.create_host_config(network_mode="pynet6"))
    api.start(created["Id"])
    settings = api.inspect_container(created["Id"])["NetworkSettings"]
    assert settings["Networks"]["pynet6"]["GlobalIPv6Address"] == "fd00:b5:7e71::9"
    other = client.containers.run("busybox", ["sleep", "300"], detach=True, name="joiner")
    network.connect(other, ipv6_address="fd00:b5:7e71::a")
    assert "fd00:b5:7e71::a/64" in other.exec_run(["ip", "-6", "addr"]).output.decode()
    network.reload()
    assert sorted(c["IPv6Address"] for c in network.attrs["Containers"].values()) == [
        "fd00:b5:7e71::9/64", "fd00:b5:7e71::a/64"]
    api.remove_container(created["Id"], force=True)
    other.remove(force=True)
    network.remove()
