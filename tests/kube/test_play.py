"""kube play and kube down with real pods: a Deployment with a ConfigMap, Secret and PVC answering on
both replicas, data kept in the PVC across down and play, an init container filling an emptyDir,
Jobs and their exit codes, and bad input leaving nothing behind."""
from __future__ import annotations

import json
import re
import socket
import time
import urllib.request

from container_helpers import wait_for

from berth.engine import Engine
from berth.kube import plan, play, yamlfile

DEPLOYMENT = """
apiVersion: v1
kind: ConfigMap
metadata: {name: site}
data:
  index.html: "hello from the configmap\\n"
  GREETING: bonjour
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {PASSWORD: czNjcmV0}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: shared}
spec: {accessModes: [ReadWriteOnce]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1  # httpd as PID 1 ignores SIGTERM: down waits this out
      containers:
      - name: httpd
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [httpd, -f, -p, "80", -h, /www]
        envFrom: [{configMapRef: {name: site}}]
        env:
        - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: PASSWORD}}}
        - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        volumeMounts:
        - {name: www, mountPath: /www}
        - {name: data, mountPath: /data}
      volumes:
      - {name: www, configMap: {name: site, items: [{key: index.html, path: index.html}]}}
      - {name: data, persistentVolumeClaim: {claimName: shared}}
"""


def _get(url: str) -> str:
    try:
        return urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return ""


def _write(tmp_path, text: str, name: str = "play.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _inventory(berth) -> tuple:
    """What `pod ls`, `ps -a`, `volume ls` and `network ls` show."""
    return (berth.out("pod", "ls", "-q"), berth.out("ps", "-aq"), berth.out("volume", "ls", "-q"),
            berth.out("network", "ls", "-q"))


def _pods(berth) -> list[dict]:
    return [berth.json("pod", "inspect", name)[0] for name in berth.out("pod", "ls", "--format", "{{.Name}}").split()]


def _refused(berth, *args, says: str) -> str:
    """The command fails with one Error line (warnings aside), no traceback."""
    proc = berth.run(*args, check=False)
    err = proc.stderr.decode()
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert proc.returncode != 0 and "Traceback" not in err and len(errors) == 1, err
    assert says in errors[0], err
    return errors[0]


def test_deployment_with_configmap_secret_and_pvc(busybox, tmp_path):
    path = _write(tmp_path, DEPLOYMENT)
    before = _inventory(busybox)
    proc = busybox.run("kube", "play", path)
    assert proc.stderr == b"", proc.stderr  # nothing of this YAML is unsupported
    pods = _pods(busybox)
    assert len(pods) == 2 and all(p["Name"].startswith("web-") and p["Labels"][plan.LABEL_KIND] == "Deployment"
                                  for p in pods)
    for p in pods:  # each replica answers on its own address, with the ConfigMap's file
        address = p["InfraConfig"]["IPAddress"]
        assert wait_for(lambda: _get(f"http://{address}/index.html"), what=address) == "hello from the configmap\n"
        env = busybox.out("exec", f"{p['Name']}-httpd", "env")
        assert {"GREETING=bonjour", "PASSWORD=s3cret", f"MY_IP={address}"} <= set(env.splitlines())
    # the replicas find each other by name on the play's network
    first, second = pods[0]["Name"], pods[1]["Name"]
    out = busybox.out("exec", f"{first}-httpd", "wget", "-qO-", f"http://{second}/index.html")
    assert out == "hello from the configmap\n"
    busybox.run("exec", f"{first}-httpd", "sh", "-c", "echo kept > /data/marker")
    # a second play of the same file is refused, naming the pod
    _refused(busybox, "kube", "play", path, says="already played (pod web-")
    down = busybox.out("kube", "down", path)
    assert "Pods removed:" in down and "Network removed:\nberth-kube" in down
    assert busybox.out("volume", "ls", "-q") == "shared\n"  # the claim outlives down
    assert busybox.out("kube", "down", path) == "nothing to remove\n"
    busybox.run("kube", "play", path)
    name = _pods(busybox)[0]["Name"]
    assert busybox.out("exec", f"{name}-httpd", "cat", "/data/marker") == "kept\n"
    # --replace takes the earlier play down first
    old = {p["Name"] for p in _pods(busybox)}
    busybox.run("kube", "play", "--replace", path)
    assert len(_pods(busybox)) == 2 and not old & {p["Name"] for p in _pods(busybox)}
    busybox.run("kube", "down", "--volumes", path)
    assert _inventory(busybox) == before


def test_init_container_fills_an_empty_dir(busybox):
    text = """
kind: Pod
metadata: {name: site, annotations: {team: docs}}
spec:
  terminationGracePeriodSeconds: 1  # httpd as PID 1 ignores SIGTERM: down waits this out
  initContainers:
  - {name: one, image: busybox, imagePullPolicy: Never, command: [sh, -c, "echo first > /work/index.html"],
     volumeMounts: [{name: work, mountPath: /work}]}
  - {name: two, image: busybox, imagePullPolicy: Never, command: [sh, -c, "echo second >> /work/index.html"],
     volumeMounts: [{name: work, mountPath: /work}]}
  containers:
  - name: web
    image: busybox
    imagePullPolicy: Never
    command: [httpd, -f, -p, "8080", -h, /work]
    ports: [{containerPort: 8080, name: http}]
    volumeMounts: [{name: work, mountPath: /work}]
  volumes: [{name: work, emptyDir: {}}]
"""
    with Engine(busybox.root) as engine:
        made = play.play(engine, plan.build(yamlfile.load(text, "init.yaml")))
        [(pod, pod_id, ids)] = made.pods
        doc = engine.pods.inspect(pod_id)
        assert doc["Annotations"] == {"team": "docs"} and len(ids) == 3
        assert [engine.containers.get(i).status for i in ids[:2]] == ["exited", "exited"]
        address = doc["InfraConfig"]["IPAddress"]
        assert wait_for(lambda: _get(f"http://{address}:8080/")) == "first\nsecond\n"
        removed = play.down(engine, plan.targets(yamlfile.load(text, "init.yaml")))
        assert [name for name, _ in removed.pods] == ["site"] and removed.volumes == ["site-work"]
        assert engine.pods.list() == [] and engine.volumes.list() == []


def test_a_failing_init_container_stops_the_play_and_keeps_its_pod(busybox, tmp_path):
    path = _write(tmp_path, """
kind: Pod
metadata: {name: broken}
spec:
  initContainers:
  - {name: setup, image: busybox, imagePullPolicy: Never, command: [sh, -c, "echo cannot reach db; exit 4"]}
  containers:
  - {name: app, image: busybox, imagePullPolicy: Never, command: [sleep, "300"]}
""")
    error = _refused(busybox, "kube", "play", path, says="init container setup exited with code 4")
    assert "cannot reach db" in error and "pod broken is kept" in error
    states = {r["Names"]: r["State"] for r in busybox.jsonlines("ps", "-a", "--format", "json")}
    assert states["broken-setup"] == "exited" and states["broken-app"] == "created"
    busybox.run("kube", "down", path)
    assert busybox.out("pod", "ls", "-q") == ""


def test_jobs_report_their_exit_codes(busybox, tmp_path):
    path = _write(tmp_path, """
kind: Job
metadata: {name: ok}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: run, image: busybox, imagePullPolicy: Never, command: [sh, -c, "exit 0"]}]
---
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: run, image: busybox, imagePullPolicy: Never, command: [sh, -c, "exit 3"]}]
""")
    proc = busybox.run("kube", "play", "--wait", path, check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1, proc.stderr
    assert "Job ok: pod ok-" in out and "completed (exit code 0)" in out
    assert "Job bad: pod bad-" in out and "failed (exit code 3)" in out
    bad = next(r for r in busybox.jsonlines("ps", "-a", "--format", "json") if r["Names"].startswith("bad-"))
    assert busybox.json("inspect", bad["Names"])[0]["RestartCount"] == 1  # backoffLimit 1: one retry
    busybox.run("kube", "down", path)


def _taken_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_input_is_one_clear_error_and_leaves_nothing(busybox, tmp_path):
    port = _taken_port()
    busybox.run("run", "-d", "--name", "holder", "-p", f"{port}:80", "busybox", "sleep", "300")
    before = _inventory(busybox)
    good = """
kind: ConfigMap
metadata: {name: cfg}
data: {A: a}
---
kind: Pod
metadata: {name: first}
spec:
  containers: [{name: c, image: busybox, imagePullPolicy: Never, command: [sleep, "300"],
                volumeMounts: [{name: v, mountPath: /v}]}]
  volumes: [{name: v, configMap: {name: cfg}}]
---
"""
    cases = [
        ("kind: Pod\nmetadata:\n  name: [x\n", "line 4, column 1"),
        (good + "kind: CronJob\nmetadata: {name: c}\n", "document 3: kind 'CronJob' is not supported"),
        (good + "kind: Pod\nmetadata: {name: second}\nspec:\n  containers: [{name: c, image: busybox, env: "
         "[{name: X, valueFrom: {configMapKeyRef: {name: cfg, key: NOPE}}}]}]\n", "ConfigMap 'cfg' has no key 'NOPE'"),
        (good + "kind: Pod\nmetadata: {name: second}\nspec:\n  containers: [{name: c, image: '127.0.0.1:1/nothing:1'}]\n",
         "Pod/second (document 3): spec.containers[0]: cannot pull 127.0.0.1:1/nothing:1"),
        (good + f"kind: Pod\nmetadata: {{name: second}}\nspec:\n  containers: [{{name: c, image: busybox, "
         f"imagePullPolicy: Never, ports: [{{containerPort: 80, hostPort: {port}}}]}}]\n",
         f"Pod/second (document 3): Bind for 0.0.0.0:{port} failed: port is already allocated"),
        # made half-way, then a start fails: what was made goes again
        (good + "kind: Pod\nmetadata: {name: second}\nspec:\n  containers: [{name: c, image: busybox, "
         "imagePullPolicy: Never, command: [/no/such/program]}]\n", "Pod/second (document 3)"),
    ]
    for index, (text, says) in enumerate(cases):
        path = _write(tmp_path, text, f"case{index}.yaml")
        _refused(busybox, "kube", "play", path, says=says)
        assert _inventory(busybox) == before, (index, _inventory(busybox))


def test_a_host_path_that_cannot_be_made_is_one_clear_error(busybox, tmp_path):
    """FileOrCreate over a dangling symlink (not followed), DirectoryOrCreate under one: the error
    names the document and field, as every other of play's."""
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    before = _inventory(busybox)
    for index, (host, kind) in enumerate(((tmp_path / "dangling", "FileOrCreate"),
                                          (tmp_path / "dangling" / "sub", "DirectoryOrCreate"))):
        path = _write(tmp_path, f"kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers: [{{name: c, image: busybox, "
                                f"imagePullPolicy: Never, volumeMounts: [{{name: h, mountPath: /h}}]}}]\n"
                                f"  volumes: [{{name: h, hostPath: {{path: '{host}', type: {kind}}}}}]\n",
                      f"case{index}.yaml")
        _refused(busybox, "kube", "play", path,
                 says=f"Pod/p (document 1): spec.volumes[0].hostPath: hostPath {host} cannot be made (type {kind})")
        assert _inventory(busybox) == before
    assert not (tmp_path / "nowhere").exists()


def test_down_leaves_a_pod_of_the_same_name_it_did_not_make(busybox, tmp_path):
    path = _write(tmp_path, "kind: Pod\nmetadata: {name: mine}\nspec:\n  containers: [{name: c, image: busybox}]\n")
    busybox.run("pod", "create", "--name", "mine")
    assert busybox.out("kube", "down", path) == "nothing to remove\n"
    assert busybox.out("pod", "ls", "--format", "{{.Name}}") == "mine\n"
    _refused(busybox, "kube", "play", path, says="the pod name 'mine' is already in use")


def test_play_reads_stdin_and_start_false_only_creates(busybox):
    text = "kind: Pod\nmetadata: {name: idle}\nspec:\n  containers: [{name: c, image: busybox, " \
           "imagePullPolicy: Never, command: [sleep, '300']}]\n"
    proc = busybox.run("kube", "play", "--start=false", "-", input=text.encode())
    assert "\nPod:\n" in proc.stdout.decode()
    rows = busybox.jsonlines("ps", "-a", "--format", "json")
    assert {r["Names"]: r["State"] for r in rows if not r["Names"].endswith("-infra")} == {"idle-c": "created"}
    assert json.loads(busybox.out("pod", "inspect", "idle"))[0]["Labels"][plan.LABEL_NAME] == "idle"
    busybox.run("kube", "down", "-", input=text.encode())
    assert busybox.out("pod", "ls", "-q") == ""



def _service_yaml(port: int) -> str:
    """Two replicas, each serving its own hostname, behind a NodePort Service on `port`."""
    return """
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: httpd
        image: busybox
        imagePullPolicy: Never
        command: [sh, -c, "mkdir -p /www && hostname > /www/index.html && trap 'exit 0' TERM;
                  httpd -f -p 80 -h /www & wait"]
        ports: [{containerPort: 80}]
---""" + _service_on(port, "web")


def _iptables_lines(*needles: str) -> list[str]:
    import subprocess
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if any(n in line for n in needles)]


def _connect(port: int) -> str:
    """'open', 'refused' or another error's name, for a TCP connection to 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return type(e).__name__


def _nslookup(busybox, container: str, name: str) -> str:
    """nslookup's answer ("" while the name does not resolve)."""
    proc = busybox.run("exec", container, "nslookup", name, check=False)
    return proc.stdout.decode() if proc.returncode == 0 else ""


def test_a_service_spreads_its_node_port_over_both_replicas_and_resolves_by_name(busybox, tmp_path):
    port = _taken_port()
    path = _write(tmp_path, _service_yaml(port))
    busybox.run("kube", "play", path)
    pods = {p["Name"]: p["InfraConfig"]["IPAddress"] for p in _pods(busybox)}
    assert len(pods) == 2
    for address in pods.values():  # both replicas serve before the spread is counted
        wait_for(lambda: _get(f"http://{address}/"), what=address)
    answers = [_get(f"http://127.0.0.1:{port}/").strip() for _ in range(40)]
    assert set(answers) == set(pods), answers  # each connection is DNATed at random: both answer
    # the Service's name resolves, on the play's network, to a pod that backs it
    first = sorted(pods)[0]
    out = wait_for(lambda: _nslookup(busybox, f"{first}-httpd", "web"), what="nslookup web")
    resolved = set(re.findall(r"Address(?:\s+\d+)?:\s*(\d+\.\d+\.\d+\.\d+)", out.split("Name:", 1)[-1]))
    assert resolved and resolved <= set(pods.values()), out
    rules = _iptables_lines(f"--dport {port} ")
    chains = {m for line in rules for m in re.findall(r"BERTH-SVC-[0-9a-f]{12}", line)}
    assert len(chains) == 1, rules  # the check below looks for something that was there
    busybox.run("kube", "down", path)
    assert _connect(port) == "refused"
    assert _iptables_lines(chains.pop(), f"--dport {port} ") == []


def test_down_removes_only_the_services_played_from_its_namespace(busybox, tmp_path):
    """A Service's name is one per host store: a second namespace's is refused before anything is
    made, and its down leaves the first one's Service alone."""
    port, other = _taken_port(), _taken_port()
    service = ("kind: Service\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  type: NodePort\n"
               "  selector: {{app: web}}\n  ports: [{{port: 80, nodePort: {port}}}]\n")
    first = _write(tmp_path, service.format(ns="a", port=port), "a.yaml")
    second = _write(tmp_path, service.format(ns="b", port=other), "b.yaml")
    busybox.run("kube", "play", first)
    with Engine(busybox.root) as engine:
        assert [s["Name"] for s in engine.networks.services()] == ["web"]
    assert "Services removed" not in busybox.out("kube", "down", second)
    _refused(busybox, "kube", "play", second, says="Service/web (document 1): the service name 'web' is already in use")
    with Engine(busybox.root) as engine:
        assert [s["Labels"][plan.LABEL_NAMESPACE] for s in engine.networks.services()] == ["a"]
    assert "Services removed:\nweb\n" in busybox.out("kube", "down", first)
    with Engine(busybox.root) as engine:
        assert engine.networks.services() == []


def _restarted_and_healthy(busybox, name: str):
    """The container's inspect once it restarted at least once and is running and healthy again."""
    doc = busybox.json("inspect", name)[0]
    state = doc["State"]
    healthy = (state.get("Health") or {}).get("Status") == "healthy"
    return doc if doc["RestartCount"] >= 1 and state["Status"] == "running" and healthy else None


def _last_probes(busybox, name: str) -> list:
    """(status, exit code, start, end) of the container's last probes: short enough to survive
    pytest's truncation of an assertion's message."""
    health = busybox.json("inspect", name)[0]["State"].get("Health") or {}
    return [health.get("Status")] + [(p["ExitCode"], p["Start"][11:23], p["End"][11:23]) for p in health.get("Log") or []]


def _healthy(busybox, name: str) -> bool:
    return (busybox.json("inspect", name)[0]["State"].get("Health") or {}).get("Status") == "healthy"


PROBED = """
kind: Pod
metadata: {name: probed}
spec:
  containers:
  - name: web
    image: busybox
    imagePullPolicy: Never
    # the page is made again at every start: healthy again once restarted
    command: [sh, -c, "mkdir -p /www && echo ok > /www/health && trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait"]
    ports: [{containerPort: 80}]
    livenessProbe:
      httpGet: {path: /health, port: 80}
      initialDelaySeconds: 3
      periodSeconds: 1
      failureThreshold: 1
      timeoutSeconds: 5   # not Kubernetes' 1 s: a probe slowed by a loaded machine is no failure here
  - name: worker
    image: busybox
    imagePullPolicy: Never
    command: [sh, -c, "touch /tmp/alive && trap 'exit 0' TERM; sleep 600 & wait"]
    livenessProbe:
      exec: {command: [cat, /tmp/alive]}
      initialDelaySeconds: 3
      periodSeconds: 1
      failureThreshold: 1
      timeoutSeconds: 5
"""


def test_a_failed_liveness_probe_restarts_the_container(busybox, tmp_path):
    """httpGet and exec probes, each failing once a file is removed; initialDelaySeconds keeps a slow
    start (a loaded machine) from counting as a failure."""
    path = _write(tmp_path, PROBED)
    busybox.run("kube", "play", path)
    for name, other, made in (("probed-web", "probed-worker", "/www/health"),
                              ("probed-worker", "probed-web", "/tmp/alive")):
        wait_for(lambda: _healthy(busybox, name), timeout=20, what=f"{name} healthy")
        assert busybox.json("inspect", name)[0]["RestartCount"] == 0
        others = busybox.json("inspect", other)[0]["RestartCount"]
        busybox.run("exec", name, "rm", made)  # the probe fails from now on, until a restart makes it again
        wait_for(lambda: _restarted_and_healthy(busybox, name), timeout=20, what=f"{name} restarted and healthy")
        busybox.run("exec", name, "test", "-e", made)
        assert busybox.json("inspect", other)[0]["RestartCount"] == others  # the pod's other container stays
    busybox.run("kube", "down", path)


def _ready_pod(name: str, ready: bool, probed: bool = True, sidecar: bool = False) -> str:
    """A pod serving its hostname; `probed`: Ready while /www/ready exists (made at start when
    `ready`); `sidecar`: a second app container, without a readiness check."""
    touch = " && touch /www/ready" if ready else ""
    probe = """
    readinessProbe:
      exec: {command: [test, -f, /www/ready]}
      periodSeconds: 1
      failureThreshold: 1
      timeoutSeconds: 5   # Kubernetes' 1 s: a probe slowed by a loaded machine would make a ready pod unready"""
    second = """
  - name: sidecar
    image: busybox
    imagePullPolicy: Never
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]"""
    return f"""
kind: Pod
metadata: {{name: {name}, labels: {{app: gated}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox
    imagePullPolicy: Never
    command: [sh, -c, "mkdir -p /www && hostname > /www/index.html{touch} && trap 'exit 0' TERM;
              httpd -f -p 80 -h /www & wait"]{probe if probed else ""}{second if sidecar else ""}
---"""


def _service_on(port: int, app: str = "gated") -> str:
    """A NodePort Service named `app` over the pods labelled app=`app`."""
    return f"""
kind: Service
metadata: {{name: {app}}}
spec:
  type: NodePort
  selector: {{app: {app}}}
  ports: [{{port: 80, targetPort: 80, nodePort: {port}}}]
"""


def _traffic_checker(busybox, port: int, pods: dict):
    """served_by(*names): waits until the Service's connections reach exactly those pods, then checks
    its endpoints and 30 more connections."""
    def endpoints() -> list[str]:
        with Engine(busybox.root) as engine:
            [service] = engine.networks.services()
        [addresses] = service["Endpoints"].values()
        return sorted(a.partition(":")[0] for a in addresses)

    def answers(n: int) -> set[str]:
        return {_get(f"http://127.0.0.1:{port}/").strip() for _ in range(n)}

    def served_by(*names: str) -> None:
        # each connection is DNATed at random: 20 in a row miss a ready pod once in 2**19
        wait_for(lambda: answers(20) == set(names), timeout=15, what=f"only {names} to answer")
        assert endpoints() == sorted(pods[n] for n in names)
        got = answers(30)
        assert got == set(names), {n: _last_probes(busybox, f"{n}-httpd") for n in pods}
    return served_by


def test_a_service_sends_traffic_only_to_ready_pods(busybox, tmp_path):
    """Two pods whose readiness file exists get the Service's connections, a third, whose readiness
    never passes, none; removing one pod's file moves all of them to the other, making it again
    brings that pod back; so do stopping and starting its container."""
    port = _taken_port()
    path = _write(tmp_path, _ready_pod("ra", True) + _ready_pod("rb", True) + _ready_pod("never", False)
                  + _service_on(port))
    busybox.run("kube", "play", path)
    pods = {p["Name"]: p["InfraConfig"]["IPAddress"] for p in _pods(busybox)}
    assert sorted(pods) == ["never", "ra", "rb"]
    for name, address in pods.items():  # each serves: only readiness keeps one out
        wait_for(lambda: _get(f"http://{address}/").strip() == name, what=f"{name} to serve")
    served_by = _traffic_checker(busybox, port, pods)
    served_by("ra", "rb")
    busybox.run("exec", "rb-httpd", "rm", "/www/ready")  # not Ready from its next probe on
    started = time.monotonic()
    served_by("ra")
    assert time.monotonic() - started < 10
    busybox.run("exec", "rb-httpd", "touch", "/www/ready")
    served_by("ra", "rb")
    # a stopped container is not Ready, though its pod's infra container runs; started, it is once healthy
    busybox.run("stop", "-t", "1", "rb-httpd")
    served_by("ra")
    busybox.run("start", "rb-httpd")
    served_by("ra", "rb")
    assert _healthy(busybox, "ra-httpd") and not _healthy(busybox, "never-httpd")
    busybox.run("kube", "down", path)


def test_a_pod_whose_app_container_stopped_gets_no_traffic(busybox, tmp_path):
    """As Kubernetes: a pod is Ready only while every app container runs, those without a readiness
    check too. A sidecar stopped takes its pod out of the Service; started, it brings it back."""
    port = _taken_port()
    path = _write(tmp_path, "".join(_ready_pod(n, False, probed=False, sidecar=True) for n in ("wa", "wb"))
                  + _service_on(port))
    busybox.run("kube", "play", path)
    pods = {p["Name"]: p["InfraConfig"]["IPAddress"] for p in _pods(busybox)}
    served_by = _traffic_checker(busybox, port, pods)
    served_by("wa", "wb")
    busybox.run("stop", "-t", "1", "wb-sidecar")  # its httpd still runs and answers on the pod's address
    served_by("wa")
    assert _get(f"http://{pods['wb']}/").strip() == "wb"
    busybox.run("start", "wb-sidecar")
    served_by("wa", "wb")
    busybox.run("kube", "down", path)
