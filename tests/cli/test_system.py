"""`berth info` / `system info` through the real CLI: docker's field names, counts that follow the store."""
import json
import os


def test_info_counts_and_fields(busybox):
    busybox.run("run", "-d", "--name", "up", "busybox", "sleep", "300")
    busybox.run("run", "--name", "down", "busybox", "true")
    doc = json.loads(busybox.out("info", "--format", "json"))
    assert (doc["Containers"], doc["ContainersRunning"], doc["ContainersStopped"], doc["Images"]) == (2, 1, 1, 1)
    assert doc["DockerRootDir"] == os.path.abspath(busybox.root) and doc["DefaultRuntime"] in doc["Runtimes"]
    assert doc["NCPU"] == os.cpu_count() and doc["OSType"] == "linux"
    assert busybox.out("system", "info", "-f", "{{.ContainersRunning}}/{{.Containers}}") == "1/2\n"
    text = busybox.out("info")
    assert " Containers: 2\n  Running: 1\n" in text and f"Berth Root Dir: {os.path.abspath(busybox.root)}" in text
    busybox.run("rm", "-f", "up")
