"""`kube generate`: the pure part from hand-made records (every mapping, every warning), then real
containers and pods through the CLI, each output checked against Kubernetes' own schemas in strict
mode (kubernetes-validate, its newest Kubernetes version) and against DNS-1123 names, which the
schemas do not check."""
from __future__ import annotations

import re

import pytest
import yaml

from berth.errors import InvalidArgument
from berth.kube.generate import collect, generate, to_yaml

import kubernetes_validate

K8S_VERSION = kubernetes_validate.latest_version()
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
SECOND = 1_000_000_000
DIGEST = "sha256:" + "ab" * 32
BUSYBOX_CONFIG = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]}


def valid(documents: list[dict]) -> list[dict]:
    """The documents, once each passed strict validation and its names are DNS-1123 labels."""
    for doc in documents:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        spec = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]
        for c in spec.get("containers", []):
            assert DNS_LABEL.fullmatch(c["name"]), c["name"]
        for v in spec.get("volumes", []) if isinstance(spec, dict) else []:
            assert DNS_LABEL.fullmatch(v["name"]), v["name"]
        assert re.fullmatch(r"[a-z0-9.-]+", doc["metadata"]["name"]), doc["metadata"]["name"]
    return documents


def record(**cfg) -> dict:
    """A container record's config as ContainerService records one for `berth run busybox sh`."""
    base = {"image": "busybox", "args": ["sh"], "entrypoint": None, "cmd": [], "env": list(BUSYBOX_CONFIG["Env"]),
            "workdir": "/", "user": "", "hostname": "0123456789ab", "tty": False, "stdin": False, "mounts": [],
            "read_only": False, "network": "bridge", "networks": [], "ports": [], "dns": [], "dns_search": [],
            "dns_options": [], "extra_hosts": [], "domainname": "", "pod": None, "pod_infra": False,
            "resources": {"memory": None, "memory_swap": None, "cpus": None, "pids_limit": None},
            "privileged": False, "cap_add": [], "cap_drop": [], "tmpfs": {}, "no_new_privileges": False,
            "seccomp": "default", "security_opt": [], "restart": {"name": "no", "max_retries": 0},
            "stop_signal": "SIGTERM", "stop_timeout": 10, "init": False, "auto_remove": False, "labels": {},
            "healthcheck": None, "shell": None, "runtime": "runc"}
    base.update(cfg)
    return base


def container(name="web", image_config=None, repo_digests=(), volumes=None, bind_types=None, **cfg) -> dict:
    return {"name": name, "id": "0123456789ab" + "0" * 52, "config": record(**cfg),
            "image": {"name": cfg.get("image", "busybox"), "repo_digests": list(repo_digests),
                      "config": dict(BUSYBOX_CONFIG if image_config is None else image_config)},
            "volumes": volumes or {}, "bind_types": bind_types or {}}


def alone(c: dict, ports=()) -> dict:
    return {"name": c["name"], "is_pod": False, "hostname": None, "labels": {}, "share": [], "memory": None,
            "cpus": None, "ports": list(ports), "network": c["config"]["network"], "containers": [c]}


def port(container_port, host_port, host_ip="", protocol="tcp") -> dict:
    return {"host_ip": host_ip, "host_port": host_port, "container_port": container_port, "protocol": protocol}


def pod_of(result) -> dict:
    return next(d for d in result.documents if d["kind"] in ("Pod", "Deployment"))


def only_container(result) -> dict:
    doc = pod_of(result)
    spec = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]
    assert len(spec["containers"]) == 1
    return spec["containers"][0]


# ---- the pure part ------------------------------------------------------------------------

def test_command_and_args_follow_kubernetes_semantics():
    # the image's command: nothing
    assert "args" not in only_container(generate([alone(container())]))
    # a CMD of its own, no ENTRYPOINT in the image: args replace CMD
    c = only_container(generate([alone(container(args=["httpd", "-f"], cmd=["httpd", "-f"]))]))
    assert c["args"] == ["httpd", "-f"] and "command" not in c
    # the image's ENTRYPOINT stays: args are the CMD part only
    ep = {"Entrypoint": ["/entry.sh"], "Cmd": ["serve"]}
    c = only_container(generate([alone(container(image_config=ep, args=["/entry.sh", "debug"], cmd=["debug"]))]))
    assert c["args"] == ["debug"] and "command" not in c
    # --entrypoint: command, and args for the rest (the image's CMD is gone, as in docker)
    c = only_container(generate([alone(container(image_config=ep, entrypoint=["/bin/sh"], args=["/bin/sh", "-c", "x"],
                                                 cmd=["-c", "x"]))]))
    assert c["command"] == ["/bin/sh"] and c["args"] == ["-c", "x"]
    c = only_container(generate([alone(container(image_config=ep, entrypoint=["/bin/true"], args=["/bin/true"]))]))
    assert c["command"] == ["/bin/true"] and "args" not in c
    # --entrypoint "": the command alone
    c = only_container(generate([alone(container(image_config=ep, entrypoint=[], args=["echo", "hi"],
                                                 cmd=["echo", "hi"]))]))
    assert c["command"] == ["echo", "hi"] and "args" not in c
    # a literal $( would be a variable reference in Kubernetes
    c = only_container(generate([alone(container(args=["sh", "-c", "echo $(hostname)"],
                                                 cmd=["sh", "-c", "echo $(hostname)"]))]))
    assert c["args"] == ["sh", "-c", "echo $$(hostname)"]


def test_env_and_working_dir_beyond_the_images():
    image = {"Env": ["PATH=/bin", "LANG=C"], "WorkingDir": "/app", "Cmd": ["sh"]}
    c = only_container(generate([alone(container(image_config=image, env=["PATH=/bin", "LANG=C.UTF-8", "A=1",
                                                                          "B=$(A)"], workdir="/app"))]))
    assert c["env"] == [{"name": "LANG", "value": "C.UTF-8"}, {"name": "A", "value": "1"},
                        {"name": "B", "value": "$$(A)"}]
    assert "workingDir" not in c
    # an image without PATH gets berth's default, which a cluster's runtime adds too
    c = only_container(generate([alone(container(image_config={"Cmd": ["sh"]}, env=BUSYBOX_CONFIG["Env"],
                                                 workdir="/srv"))]))
    assert "env" not in c and c["workingDir"] == "/srv"


def test_image_by_digest_when_a_registry_has_it_else_a_warning():
    result = generate([alone(container(image="127.0.0.1:5000/app:v1", repo_digests=[
        f"127.0.0.1:5001/other@{DIGEST}", f"127.0.0.1:5000/app@{DIGEST}"]))])
    assert only_container(result)["image"] == f"127.0.0.1:5000/app@{DIGEST}"
    assert not [w for w in result.warnings if "image" in w]
    result = generate([alone(container(image="localonly:1"))])
    assert only_container(result)["image"] == "localonly:1"
    assert [w for w in result.warnings if w.startswith("image localonly:1 exists only on this machine")]


def test_ports_and_service():
    ports = [port(80, 30080), port(53, 8053, protocol="udp"), port(443, 8443, host_ip="127.0.0.1"), port(80, 30081)]
    result = generate([alone(container(), ports)], service=True)
    valid(result.documents)
    assert only_container(result)["ports"] == [
        {"containerPort": 80, "hostPort": 30080}, {"containerPort": 53, "hostPort": 8053, "protocol": "UDP"},
        {"containerPort": 443, "hostPort": 8443, "hostIP": "127.0.0.1"}, {"containerPort": 80, "hostPort": 30081}]
    pod = pod_of(result)
    svc = result.documents[-1]
    assert svc["kind"] == "Service" and svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["selector"] == {"app": "web"} and pod["metadata"]["labels"]["app"] == "web"
    assert svc["spec"]["ports"] == [
        {"name": "tcp-80", "port": 80, "targetPort": 80, "nodePort": 30080},
        {"name": "udp-53", "port": 53, "targetPort": 53, "protocol": "UDP"},
        {"name": "tcp-443", "port": 443, "targetPort": 443}]
    assert any("host port 8053 is outside" in w for w in result.warnings)
    assert any("80/tcp is published twice" in w for w in result.warnings)
    # nothing published: no Service, said so
    result = generate([alone(container())], service=True)
    assert [d["kind"] for d in result.documents] == ["Pod"] and any("no ports" in w for w in result.warnings)


def test_limits_and_security_context():
    c = only_container(generate([alone(container(
        resources={"memory": 64 << 20, "memory_swap": 128 << 20, "cpus": 0.5, "pids_limit": None}, user="1000:2000",
        cap_add=["CAP_NET_ADMIN"], cap_drop=["ALL"], read_only=True, no_new_privileges=True))]))
    assert c["resources"] == {"limits": {"cpu": "500m", "memory": "64Mi"}}
    assert c["securityContext"] == {"runAsUser": 1000, "runAsGroup": 2000,
                                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
    result = generate([alone(container(resources={"memory": 10_000_001, "memory_swap": -1, "cpus": 1.5,
                                                  "pids_limit": 100}, user="nobody", privileged=True,
                                       seccomp="unconfined"))])
    c = only_container(result)
    assert c["resources"] == {"limits": {"cpu": "1500m", "memory": "10000001"}}
    assert c["securityContext"] == {"privileged": True}
    text = "\n".join(result.warnings)
    assert "user 'nobody' is a name" in text and "--memory-swap" in text and "--pids-limit" in text
    valid(result.documents)


def test_health_checks_become_liveness_probes():
    def probe(check, shell=None):
        return only_container(generate([alone(container(healthcheck=check, shell=shell))])).get("livenessProbe")
    assert probe({"Test": ["CMD", "/bin/check", "-q"], "Interval": 1500_000_000, "Timeout": 1_000_000,
                  "Retries": 5, "StartPeriod": 2 * SECOND}) == {
        "exec": {"command": ["/bin/check", "-q"]}, "initialDelaySeconds": 2, "periodSeconds": 2,
        "timeoutSeconds": 1, "failureThreshold": 5}
    # docker's defaults written out: Kubernetes' own differ
    assert probe({"Test": ["CMD-SHELL", "wget -q localhost"]}) == {
        "exec": {"command": ["/bin/sh", "-c", "wget -q localhost"]}, "periodSeconds": 30, "timeoutSeconds": 30,
        "failureThreshold": 3}
    assert probe({"Test": ["CMD-SHELL", "x"]}, shell=["/bin/bash", "-ec"])["exec"]["command"] == ["/bin/bash", "-ec", "x"]
    assert probe({"Test": ["HTTP-GET", "8080", "/healthz", "https", "X-Probe: yes"], "Interval": 5 * SECOND})[
        "httpGet"] == {"port": 8080, "path": "/healthz", "scheme": "HTTPS",
                       "httpHeaders": [{"name": "X-Probe", "value": "yes"}]}
    assert probe({"Test": ["TCP-SOCKET", 6379]})["tcpSocket"] == {"port": 6379}
    assert probe({"Test": ["NONE"]}) is None and probe(None) is None
    result = generate([alone(container(healthcheck={"Test": ["CMD", "true"], "StartInterval": SECOND}))])
    assert any("start interval" in w for w in result.warnings)
    for check in ({"Test": ["CMD", "true"]}, {"Test": ["HTTP-GET", "80", "/"]}, {"Test": ["TCP-SOCKET", "80"]}):
        valid(generate([alone(container(healthcheck=check))]).documents)


def test_a_readiness_check_stays_a_readiness_probe():
    check = {"Test": ["CMD", "test", "-f", "/ready"], "Interval": SECOND}
    def probes(**cfg):
        c = only_container(generate([alone(container(healthcheck=check, **cfg))]))
        return sorted(k for k in c if k.endswith("Probe")), c
    assert probes(health_gates_traffic=True)[0] == ["readinessProbe"]
    names, c = probes(health_gates_traffic=True, health_on_failure="restart")  # one handler, both roles
    assert names == ["livenessProbe", "readinessProbe"] and c["livenessProbe"] == c["readinessProbe"]
    assert probes()[0] == ["livenessProbe"]


def test_restart_policies_and_deployments():
    def policy(name, kind="pod", retries=0):
        result = generate([alone(container(restart={"name": name, "max_retries": retries}))], kind,
                          replicas=3 if kind == "deployment" else None)
        doc = pod_of(result)
        spec = doc["spec"]["template"]["spec"] if kind == "deployment" else doc["spec"]
        return spec["restartPolicy"], result
    assert [policy(n)[0] for n in ("always", "unless-stopped", "on-failure", "no")] == [
        "Always", "Always", "OnFailure", "Never"]
    assert any("no retry limit" in w for w in policy("on-failure", retries=3)[1].warnings)
    chosen, result = policy("no", "deployment")
    assert chosen == "Always" and any("restart Always" in w for w in result.warnings)
    doc = valid(result.documents)[0]
    assert doc["kind"] == "Deployment" and doc["spec"]["replicas"] == 3
    assert doc["spec"]["selector"]["matchLabels"] == doc["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
    with pytest.raises(InvalidArgument, match="--replicas is only for --type deployment"):
        generate([alone(container())], "pod", replicas=2)
    with pytest.raises(InvalidArgument, match="--type"):
        generate([alone(container())], "job")


def test_volumes_claims_host_paths_and_tmpfs():
    mounts = [{"type": "volume", "source": "My_Data", "target": "/data", "readonly": False},
              {"type": "volume", "source": "f" * 64, "target": "/var/lib/image-volume", "readonly": False},
              {"type": "volume", "source": "e" * 64, "target": "/scratch", "readonly": False},
              {"type": "bind", "source": "/etc/hosts", "target": "/h", "readonly": True},
              {"type": "bind", "source": "/srv", "target": "/srv", "readonly": False, "propagation": "rslave"},
              {"type": "tmpfs", "source": "", "target": "/run", "readonly": False,
               "options": ["size=64m", "mode=1777"]}]
    volumes = {"My_Data": {"anonymous": False, "options": {}}, "f" * 64: {"anonymous": True, "options": {}},
               "e" * 64: {"anonymous": True, "options": {}}}
    result = generate([alone(container(image_config={**BUSYBOX_CONFIG, "Volumes": {"/var/lib/image-volume": {}}},
                                       mounts=mounts, volumes=volumes,
                                       bind_types={"/etc/hosts": "File", "/srv": "Directory"}))])
    valid(result.documents)
    claim = result.documents[0]
    assert claim == {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "my-data"},
                     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    spec = pod_of(result)["spec"]
    assert spec["volumes"] == [
        {"name": "my-data", "persistentVolumeClaim": {"claimName": "my-data"}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "etc-hosts-host", "hostPath": {"path": "/etc/hosts", "type": "File"}},
        {"name": "srv-host", "hostPath": {"path": "/srv", "type": "Directory"}},
        {"name": "run-tmpfs", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]
    assert spec["containers"][0]["volumeMounts"] == [
        {"name": "my-data", "mountPath": "/data"}, {"name": "scratch", "mountPath": "/scratch"},
        {"name": "etc-hosts-host", "mountPath": "/h", "readOnly": True},
        {"name": "srv-host", "mountPath": "/srv", "mountPropagation": "HostToContainer"},
        {"name": "run-tmpfs", "mountPath": "/run"}]
    text = "\n".join(result.warnings)
    assert "my-data requests 1Gi, a default" in text and "volume My_Data is claimed as my-data" in text
    assert "bind mount /etc/hosts becomes a hostPath" in text and "bind mount /srv becomes a hostPath" in text
    assert "tmpfs /run option mode=1777" in text
    # two volumes one claim name would merge: refused
    clash = [{"type": "volume", "source": "a_b", "target": "/x", "readonly": False},
             {"type": "volume", "source": "a.b_", "target": "/y", "readonly": False}]
    clash_volumes = {n: {"anonymous": False, "options": {}} for n in ("a_b", "a.b_")}
    generate([alone(container(mounts=clash[:1], volumes=clash_volumes))])
    clash[1]["source"] = "A_B"
    clash_volumes["A_B"] = clash_volumes["a_b"]
    with pytest.raises(InvalidArgument, match="volumes a_b and A_B would both be claim a-b"):
        generate([alone(container(mounts=clash, volumes=clash_volumes))])


def test_a_pods_containers_names_and_labels():
    a = container("shop-web", args=["httpd"], cmd=["httpd"], image_config={**BUSYBOX_CONFIG,
                                                                            "ExposedPorts": {"80/tcp": {}}},
                  labels={"team": "x"})
    b = container("Shop_Worker.1", pod="p")
    subject = {"name": "shop", "is_pod": True, "hostname": "shop", "share": ["net", "ipc", "uts"],
               "labels": {"tier": "front", "berth.internal": "1", "note": "two words", "bad key!": "v"},
               "memory": 64 << 20, "cpus": None, "ports": [port(9000, 9000), port(80, 8080)], "network": "bridge",
               "containers": [b, a]}
    result = generate([subject])
    valid(result.documents)
    doc = pod_of(result)
    assert doc["metadata"] == {"name": "shop", "labels": {"app": "shop", "tier": "front"},
                               "annotations": {"note": "two words"}}
    worker, web = doc["spec"]["containers"]
    assert (worker["name"], web["name"]) == ("shop-worker-1", "web")
    # each published port on the container whose image exposes it, the rest on the first
    assert web["ports"] == [{"containerPort": 80, "hostPort": 8080}]
    assert worker["ports"] == [{"containerPort": 9000, "hostPort": 9000}]
    text = "\n".join(result.warnings)
    assert "label 'bad key!'" in text and "its labels (team)" in text and "limits (memory, cpus)" in text
    # a container of its own keeps its labels on its pod
    doc = pod_of(generate([alone(container(labels={"team": "x"}))]))
    assert doc["metadata"]["labels"] == {"app": "web", "team": "x"}
    with pytest.raises(InvalidArgument, match="DNS-1123"):
        generate([alone(container("__"))])
    with pytest.raises(InvalidArgument, match="would be named 'a-b'"):
        generate([{**subject, "containers": [container("a_b"), container("a.b")]}])


def test_what_kubernetes_cannot_express_is_named():
    result = generate([alone(container(
        dns=["9.9.9.9"], dns_search=["example.org"], dns_options=["ndots:2"], extra_hosts=["db:10.0.0.5",
                                                                                         "gw:host-gateway"],
        domainname="example.org", stop_signal="SIGINT", stop_timeout=3, init=True, auto_remove=True,
        hostname="myhost", network="mynet", tty=True, stdin=True))])
    valid(result.documents)
    spec = pod_of(result)["spec"]
    assert spec["hostname"] == "myhost" and spec["terminationGracePeriodSeconds"] == 3
    assert spec["hostAliases"] == [{"ip": "10.0.0.5", "hostnames": ["db"]}]
    assert spec["dnsConfig"] == {"nameservers": ["9.9.9.9"], "searches": ["example.org"],
                                 "options": [{"name": "ndots", "value": "2"}]}
    assert spec["containers"][0]["tty"] is True and spec["containers"][0]["stdin"] is True
    text = "\n".join(result.warnings)
    for said in ("--add-host gw:host-gateway", "--domainname", "stop signal SIGINT", "--init", "--rm",
                 "network mynet", "--dns"):
        assert said in text, (said, text)


def test_the_validation_is_not_vacuous():
    doc = pod_of(generate([alone(container())]))
    valid([doc])
    broken = {**doc, "spec": {**doc["spec"], "containers": [{**doc["spec"]["containers"][0], "bogus": 1}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        valid([broken])
    with pytest.raises(kubernetes_validate.ValidationError):
        valid([{**doc, "spec": {**doc["spec"], "containers": [{"name": "x", "ports": [{"containerPort": "80"}]}]}}])


def test_yaml_reads_naturally():
    text = to_yaml(generate([alone(container(args=["echo", "on"], cmd=["echo", "on"]))]).documents)
    assert text.startswith("---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n")
    assert list(yaml.safe_load(text)["spec"]["containers"][0]["args"]) == ["echo", "on"]  # "on" stays a string


# ---- real containers and pods -----------------------------------------------------------

def _generate(berth, *args) -> tuple[list[dict], str]:
    proc = berth.run("kube", "generate", *args)
    return valid([d for d in yaml.safe_load_all(proc.stdout) if d]), proc.stderr.decode()


def test_a_container(berth, tmp_path):
    berth.run("image", "bootstrap", "busybox")
    (tmp_path / "site").mkdir()
    berth.run("run", "-d", "--name", "web", "-p", "127.0.0.1:30111:80", "-e", "GREETING=hi", "-m", "32m",
              "--cpus", "0.25", "--cap-drop", "net_raw", "--restart", "on-failure", "--health-cmd", "true",
              "-v", "webdata:/data", "-v", f"{tmp_path / 'site'}:/www:ro", "--tmpfs", "/cache",
              "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    docs, warnings = _generate(berth, "web")
    assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Pod"]
    spec = docs[1]["spec"]
    assert spec["restartPolicy"] == "OnFailure"
    (c,) = spec["containers"]
    assert c["name"] == "web" and c["image"] == "busybox" and c["args"] == ["httpd", "-f", "-p", "80", "-h", "/www"]
    assert c["env"] == [{"name": "GREETING", "value": "hi"}]
    assert c["ports"] == [{"containerPort": 80, "hostPort": 30111, "hostIP": "127.0.0.1"}]
    assert c["resources"] == {"limits": {"cpu": "250m", "memory": "32Mi"}}
    assert c["securityContext"] == {"capabilities": {"drop": ["NET_RAW"]}}
    assert c["livenessProbe"]["exec"]["command"] == ["/bin/sh", "-c", "true"]
    assert {m["mountPath"]: m.get("readOnly", False) for m in c["volumeMounts"]} == {
        "/data": False, "/www": True, "/cache": False}
    assert {v["name"]: next(k for k in v if k != "name") for v in spec["volumes"]} == {
        "webdata": "persistentVolumeClaim", f"{_label(tmp_path / 'site')}-host": "hostPath",
        "cache-tmpfs": "emptyDir"}
    assert "Warning: image busybox exists only on this machine" in warnings
    assert "ties the pod to a node" in warnings and "PersistentVolumeClaim webdata requests 1Gi" in warnings
    # -f: the same YAML in a file
    berth.run("kube", "generate", "-f", tmp_path / "web.yaml", "web")
    assert [d for d in yaml.safe_load_all((tmp_path / "web.yaml").read_text()) if d] == docs


def _label(path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(path).lower()).strip("-")[:50].rstrip("-")


def test_a_pod_with_two_containers_and_a_service(berth):
    berth.run("image", "bootstrap", "busybox")
    berth.run("pod", "create", "--name", "shop", "-p", "30112:80", "-p", "127.0.0.1:8125:8125/udp",
              "--label", "tier=front")
    berth.run("run", "-d", "--pod", "shop", "--name", "shop-web", "busybox", "httpd", "-f", "-p", "80")
    berth.run("run", "-d", "--pod", "shop", "--name", "worker", "-e", "QUEUE=jobs", "busybox", "sleep", "300")
    docs, warnings = _generate(berth, "shop")
    (pod,) = docs
    assert pod["kind"] == "Pod" and pod["metadata"]["labels"] == {"app": "shop", "tier": "front"}
    web, worker = pod["spec"]["containers"]
    assert (web["name"], worker["name"]) == ("web", "worker")  # no infra container; podman's prefix gone
    assert web["args"] == ["httpd", "-f", "-p", "80"] and worker["env"] == [{"name": "QUEUE", "value": "jobs"}]
    assert web["ports"] == [{"containerPort": 80, "hostPort": 30112},
                            {"containerPort": 8125, "hostPort": 8125, "hostIP": "127.0.0.1", "protocol": "UDP"}]
    docs, warnings = _generate(berth, "--service", "shop")
    pod, svc = docs
    assert svc["kind"] == "Service" and svc["spec"]["selector"] == {"app": "shop"}
    assert svc["spec"]["ports"] == [{"name": "tcp-80", "port": 80, "targetPort": 80, "nodePort": 30112},
                                    {"name": "udp-8125", "port": 8125, "targetPort": 8125, "protocol": "UDP"}]
    assert "host port 8125 is outside Kubernetes' NodePort range" in warnings
    docs, warnings = _generate(berth, "-s", "-t", "deployment", "--replicas", "2", "shop")
    deployment, svc = docs
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["restartPolicy"] == "Always"


def test_bad_names_are_clear_errors(berth):
    from container_helpers import expect_error
    berth.run("image", "bootstrap", "busybox")
    expect_error(berth, "kube", "generate", "nosuch", says="no container or pod named nosuch")
    berth.run("create", "--name", "c", "busybox")
    expect_error(berth, "kube", "generate", "--replicas", "2", "c", says="--type deployment")
    expect_error(berth, "kube", "generate", "-t", "job", "c", says="pod, deployment")


def test_a_pushed_image_by_digest_a_local_one_warned(berth, tmp_path):
    from registry_helpers import Server
    berth.run("image", "bootstrap", "busybox")
    server = Server(tmp_path / "registry").start()
    try:
        name = f"127.0.0.1:{server.port}/team/app:v1"
        berth.run("tag", "busybox", name)
        berth.run("push", name)
        digests = berth.json("image", "inspect", name)[0]["RepoDigests"]
        berth.run("create", "--name", "pushed", name)
        # an image made here and never pushed (busybox itself now has a registry copy)
        berth.run("run", "--name", "maker", "busybox", "touch", "/made")
        berth.run("commit", "maker", "localapp:1")
        berth.run("create", "--name", "local", "localapp:1")
        with berth_engine(berth) as engine:
            subjects = collect(engine, ["pushed", "local"])
        result = generate(subjects)
        valid(result.documents)
        images = {d["metadata"]["name"]: d["spec"]["containers"][0]["image"] for d in result.documents}
        assert images["pushed"] == f"127.0.0.1:{server.port}/team/app@{digests[0].split('@')[1]}"
        assert images["pushed"] in digests
        assert images["local"] == "localapp:1"
        warned = [w for w in result.warnings if "exists only on this machine" in w]
        assert len(warned) == 1 and warned[0].startswith("image localapp:1 ")
    finally:
        server.stop()


def berth_engine(berth):
    from berth.engine import Engine
    return Engine(berth.root)


# ---- generate, remove, play: the same containers again ------------------------------------

def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str:
    import urllib.request
    try:
        return urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return ""


def _observed(berth, name: str) -> dict:
    """What a user set on a container and sees in inspect (the image by ID: the same image)."""
    doc = berth.json("inspect", name)[0]
    return {"image": doc["Image"], "env": [e for e in doc["Config"]["Env"] if not e.startswith("PATH=")],
            "memory": doc["HostConfig"]["Memory"], "stop_timeout": doc["Config"].get("StopTimeout"),
            "mounts": sorted((m["Type"], m.get("Name"), m["Destination"], m["RW"]) for m in doc["Mounts"])}


def _round_trip(berth, tmp_path, subject: str, remove: tuple) -> str:
    """kube generate SUBJECT to a file, remove SUBJECT, kube play the file: the file's path."""
    path = tmp_path / f"{subject}.yaml"
    berth.run("kube", "generate", "-f", path, subject)
    valid([d for d in yaml.safe_load_all(path.read_text()) if d])
    berth.run(*remove)
    proc = berth.run("kube", "play", path)
    assert "Warning" not in proc.stderr.decode(), proc.stderr  # nothing of generate's output is unsupported
    return str(path)


def test_a_generated_container_plays_back_the_same(berth, tmp_path):
    from container_helpers import wait_for
    berth.run("image", "bootstrap", "busybox")
    berth.run("tag", "busybox", "roundtrip:1")  # a tag: its default pull policy IfNotPresent stays offline
    port = _free_port()
    # $( is literal in berth, a variable reference in Kubernetes: generate writes $$( and play reads it back
    berth.run("run", "-d", "--name", "app", "-p", f"127.0.0.1:{port}:80", "-e", "GREETING=hi",
              "-e", "ODD=a$(GREETING)c", "-v", "appdata:/data", "--memory", "32m", "--stop-timeout", "1",
              "roundtrip:1", "httpd", "-f", "-p", "80", "-h", "/data")
    berth.run("exec", "app", "sh", "-c", "echo kept > /data/marker")
    assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/marker")) == "kept\n"
    before = _observed(berth, "app")
    ports = berth.json("inspect", "app")[0]["HostConfig"]["PortBindings"]
    path = _round_trip(berth, tmp_path, "app", ("rm", "-f", "app"))
    after = _observed(berth, "app-app")  # kube play names a pod's container <pod>-<name>
    assert after == before and before["env"] == ["GREETING=hi", "ODD=a$(GREETING)c"]
    assert before["memory"] == 32 << 20
    assert before["stop_timeout"] == 1
    assert berth.json("pod", "inspect", "app")[0]["InfraConfig"]["PortBindings"] == ports
    # the named volume came back as the claim, with its data, and is served on the same host port
    assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/marker")) == "kept\n"
    berth.run("kube", "down", path)
    assert berth.out("volume", "ls", "-q") == "appdata\n"


def test_a_generated_pod_plays_back_the_same(berth, tmp_path):
    from container_helpers import wait_for
    berth.run("image", "bootstrap", "busybox")
    berth.run("tag", "busybox", "roundtrip:1")
    port = _free_port()
    berth.run("pod", "create", "--name", "shop", "-p", f"127.0.0.1:{port}:80")
    # --stop-timeout 1 (terminationGracePeriodSeconds): httpd as PID 1 ignores SIGTERM, kube down waits it out
    berth.run("run", "-d", "--pod", "shop", "--name", "shop-web", "-e", "PAGE=front", "--stop-timeout", "1",
              "roundtrip:1", "sh", "-c",
              "mkdir -p /www && echo $PAGE > /www/index.html && exec httpd -f -p 80 -h /www")
    berth.run("run", "-d", "--pod", "shop", "--name", "shop-worker", "-e", "QUEUE=jobs", "--memory", "16m",
              "--stop-timeout", "1", "roundtrip:1", "sleep", "300")
    assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/")) == "front\n"
    before = {name: _observed(berth, name) for name in ("shop-web", "shop-worker")}
    ports = berth.json("pod", "inspect", "shop")[0]["InfraConfig"]["PortBindings"]
    path = _round_trip(berth, tmp_path, "shop", ("pod", "rm", "-f", "shop"))
    after = {name: _observed(berth, name) for name in ("shop-web", "shop-worker")}
    assert after == before and before["shop-worker"]["env"] == ["QUEUE=jobs"]
    assert berth.json("pod", "inspect", "shop")[0]["InfraConfig"]["PortBindings"] == ports
    assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/")) == "front\n"
    berth.run("kube", "down", path)
