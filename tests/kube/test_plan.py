"""kube.plan and kube.yamlfile: Kubernetes documents translated into typed requests, without I/O."""
from __future__ import annotations

import base64
import json

import pytest

from berth.errors import InvalidArgument
from berth.kube import plan, yamlfile
from berth.network.balancer import ServicePort

S = 1_000_000_000


def _draws():
    """x…x, then x…b, x…c, …: predictable suffixes for the pods of one plan."""
    count = iter(range(1000))
    return lambda n: "x" * (n - 1) + ("x" + plan.ALPHABET)[next(count) % 28]


def plan_of(text: str, network=None, configmaps: str | None = None) -> plan.Plan:
    extra = yamlfile.load(configmaps, "cm.yaml") if configmaps else []
    return plan.build(yamlfile.load(text, "play.yaml"), network, extra, random=_draws())


def error_of(text: str, configmaps: str | None = None) -> str:
    with pytest.raises(InvalidArgument) as e:
        plan_of(text, configmaps=configmaps)
    return str(e.value)


def pod(containers: str, extra: str = "", name: str = "p") -> str:
    return f"""
kind: Pod
metadata: {{name: {name}}}
spec:
  {extra}
  containers:
{containers}
"""


def one(text: str) -> plan.ContainerPlan:
    return plan_of(text).pods[0].containers[0]


BUSYBOX = "  - {name: c, image: 'busybox:1'}\n"


# ---- yamlfile -----------------------------------------------------------------------------------

def test_yaml_syntax_error_names_file_line_and_column():
    with pytest.raises(InvalidArgument) as e:
        yamlfile.load("kind: Pod\nmetadata:\n  name: [unclosed\n", "bad.yaml")
    assert "bad.yaml" in str(e.value) and "line 4" in str(e.value) and "column" in str(e.value)


@pytest.mark.parametrize("text, says", [
    ("- a\n- b\n", "document 1: expected a mapping"),
    ("kind: Pod\nmetadata: {name: a}\n---\njust text\n", "document 2: expected a mapping"),
    ("metadata: {name: a}\n", "document 1: no kind"),
    ("kind: Pod\nmetadata: {}\n", "document 1 (Pod): no metadata.name"),
    ("kind: Pod\n", "document 1 (Pod): no metadata.name"),
    ("", "no documents"),
    ("kind: Pod\nmetadata: {name: a, namespace: 3}\n", "metadata.namespace"),
    ("!!python/object:os.system {}\n", "invalid YAML"),
])
def test_documents_that_are_not_objects_are_refused(text, says):
    with pytest.raises(InvalidArgument) as e:
        yamlfile.load(text, "f.yaml")
    assert says in str(e.value)


def test_empty_documents_are_skipped_and_indexes_kept():
    docs = yamlfile.load("---\n---\nkind: Pod\nmetadata: {name: a, namespace: ns}\n", "f.yaml")
    assert [(d.index, d.kind, d.name, d.namespace) for d in docs] == [(2, "Pod", "a", "ns")]


def _laughs(levels: int) -> str:
    """A Deployment whose template holds "billion laughs": each level nine aliases of the one before,
    9**levels strings from a file of a few hundred bytes."""
    lines = ["kind: Deployment", "metadata: {name: web}", "spec:", "  selector: {matchLabels: {app: web}}",
             "  template:", "    metadata: {labels: {app: web}}", "    x:", '      l0: &l0 ["lol"]']
    lines += [f"      l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines + ["    spec:", "      containers: [{name: c, image: busybox}]", ""])


def test_aliases_that_expand_beyond_the_size_limit_are_refused_at_once():
    """9**12 strings: the template's hash alone (its JSON) would take hours and all memory."""
    import time
    started = time.monotonic()
    with pytest.raises(InvalidArgument) as e:
        yamlfile.load(_laughs(12), "bomb.yaml")
    assert "bomb.yaml: document 1: its aliases expand it beyond" in str(e.value)
    assert time.monotonic() - started < 5


def test_a_recursive_alias_is_refused():
    with pytest.raises(InvalidArgument) as e:
        yamlfile.load("kind: Pod\nmetadata: {name: a}\nspec: &s {x: *s}\n", "f.yaml")
    assert "document 1: a recursive alias" in str(e.value)


def test_anchors_within_the_limit_are_read_as_usual():
    made = plan_of(_laughs(3))  # 9**3 strings
    assert len(made.pods) == 1 and any("spec.template.x" in w for w in made.warnings)


# ---- kinds and names ------------------------------------------------------------------------------

def test_unknown_kind_is_one_error_naming_kind_and_document():
    message = error_of(pod(BUSYBOX) + "---\nkind: StatefulSet\nmetadata: {name: db}\n")
    assert "document 2" in message and "'StatefulSet'" in message and "nothing was created" in message


def test_pod_translation():
    p = plan_of(pod("""\
  - name: web
    image: nginx:1.25
    command: [/bin/sh, -c]
    args: [exec nginx]
    workingDir: /srv
    ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 53, hostPort: 5353, protocol: UDP, hostIP: 127.0.0.1}]
""", name="web")).pods[0]
    assert (p.name, p.kind, p.workload, p.namespace, p.hostname, p.network) == (
        "web", "Pod", "web", "default", "web", plan.DEFAULT_NETWORK)
    assert p.labels == {plan.LABEL_KIND: "Pod", plan.LABEL_NAME: "web", plan.LABEL_NAMESPACE: "default"}
    assert p.publish == ["8080:80/tcp", "127.0.0.1:5353:53/udp"]
    spec = p.containers[0].spec
    assert (spec.name, spec.pod, spec.image, spec.entrypoint, spec.command, spec.workdir, spec.restart) == (
        "web-web", "web", "nginx:1.25", ["/bin/sh", "-c"], ["exec nginx"], "/srv", "always")
    assert p.containers[0].pull_policy == "IfNotPresent"


def test_args_alone_keep_the_images_entrypoint_and_empty_lists_are_unset():
    spec = one(pod("  - {name: c, image: 'b:1', args: [a, b], command: []}\n")).spec
    assert spec.entrypoint is None and spec.command == ["a", "b"]


def test_deployment_replicas_are_named_as_kubernetes_names_them():
    text = """
kind: Deployment
metadata: {name: web, namespace: shop, labels: {tier: front}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}, annotations: {note: x}}
    spec: {containers: [{name: c, image: 'b:1'}]}
"""
    docs = yamlfile.load(text, "d.yaml")
    made = plan.build(docs).pods
    assert len(made) == 3 and len({p.name for p in made}) == 3
    template_hash = plan.template_hash(docs[0].body["spec"]["template"])
    assert len(template_hash) == 10 and set(template_hash) <= set(plan.ALPHABET)
    for p in made:
        prefix, suffix = p.name.rsplit("-", 1)
        assert prefix == f"web-{template_hash}" and len(suffix) == 5 and set(suffix) <= set(plan.ALPHABET)
        assert p.labels == {"app": "web", plan.LABEL_KIND: "Deployment", plan.LABEL_NAME: "web",
                            plan.LABEL_NAMESPACE: "shop"}
        assert p.annotations == {"note": "x"}
    # the hash follows the template, nothing else
    other = text.replace("replicas: 3", "replicas: 1").replace("b:1", "b:2")
    assert plan.template_hash(yamlfile.load(other, "d")[0].body["spec"]["template"]) != template_hash


@pytest.mark.parametrize("kind, extra", [("ReplicaSet", "replicas: 2\n  selector: {matchLabels: {app: a}}"),
                                         ("DaemonSet", "selector: {matchLabels: {app: a}}")])
def test_replicaset_and_daemonset_names(kind, extra):
    made = plan_of(f"""
kind: {kind}
metadata: {{name: rs}}
spec:
  {extra}
  template:
    metadata: {{labels: {{app: a}}}}
    spec: {{containers: [{{name: c, image: 'b:1'}}]}}
""").pods
    assert [p.name for p in made] == ["rs-xxxxx", "rs-xxxxb"][:2 if kind == "ReplicaSet" else 1]


def test_the_default_host_name_is_the_pods_name_cut_to_63_characters_as_kubelet_makes_it():
    """Only a hostname the YAML gives must be a DNS label: a dotted or long workload name plays."""
    dotted = plan_of("kind: Deployment\nmetadata: {name: web.v2}\nspec:\n  selector: {matchLabels: {app: w}}\n"
                     "  template:\n    metadata: {labels: {app: w}}\n    spec:\n"
                     "      containers: [{name: c, image: busybox}]\n").pods[0]
    assert dotted.hostname == dotted.name and dotted.name.startswith("web.v2-")
    long = plan_of(pod(BUSYBOX, name=f"{'a' * 62}-b")).pods[0]
    assert long.hostname == "a" * 62  # 63 characters end with '-': cut too
    assert "'Web' is not a valid host name" in error_of(pod(BUSYBOX, extra="hostname: Web"))


def test_replicas_with_one_random_draw_get_distinct_names():
    draws = iter(["aaaaa", "aaaaa", "bbbbb"])
    made = plan.build(yamlfile.load("""
kind: ReplicaSet
metadata: {name: rs}
spec:
  replicas: 2
  selector: {matchLabels: {app: a}}
  template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c, image: 'b:1'}]}}
""", "f"), random=lambda n: next(draws)).pods
    assert [p.name for p in made] == ["rs-aaaaa", "rs-bbbbb"]


def test_job_restart_policy_and_backoff():
    def job(restart: str, backoff: str = "") -> str:
        return f"""
kind: Job
metadata: {{name: j}}
spec:
  {backoff}
  template:
    spec:
      restartPolicy: {restart}
      containers: [{{name: c, image: 'b:1'}}]
"""
    p = plan_of(job("Never")).pods[0]
    assert p.name == "j-xxxxx" and p.job and p.containers[0].spec.restart == "on-failure:6"
    assert plan_of(job("OnFailure", "backoffLimit: 2")).pods[0].containers[0].spec.restart == "on-failure:2"
    assert plan_of(job("Never", "backoffLimit: 0")).pods[0].containers[0].spec.restart == "no"
    assert "restarts OnFailure or Never" in error_of(job("Always"))
    assert "needs OnFailure or Never" in error_of(job("null"))


def test_restart_policy_of_a_pod():
    for given, wanted in (("Always", "always"), ("OnFailure", "on-failure"), ("Never", "no")):
        assert one(pod(BUSYBOX, f"restartPolicy: {given}")).spec.restart == wanted
    assert "use Always, OnFailure or Never" in error_of(pod(BUSYBOX, "restartPolicy: Sometimes"))


@pytest.mark.parametrize("text, says", [
    (pod(BUSYBOX, name="Bad_Name"), "metadata.name"),
    (pod("  - {name: Web, image: 'b:1'}\n"), "spec.containers[0].name"),
    (pod("  - {name: c}\n"), "spec.containers[0].image: required"),
    (pod(""), "spec.containers: a pod needs at least one container"),
    (pod(BUSYBOX + BUSYBOX), "a second container named 'c'"),
    (pod(BUSYBOX) + "---\n" + pod(BUSYBOX), "document 2: a second Pod named 'p'"),
    (pod("  - {name: c, image: 'b:1', command: [1]}\n"), "spec.containers[0].command[0]: expected a string"),
    (pod("  - {name: c, image: 'b:1', workingDir: rel}\n"), "workingDir: an absolute path"),
    (pod("  - {name: c, image: 'b:1', imagePullPolicy: Sometimes}\n"), "imagePullPolicy"),
    (pod(BUSYBOX, "hostNetwork: 'yes'"), "spec.hostNetwork: expected a boolean, got a string"),
    ("kind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {app: x}}\n  template:\n"
     "    metadata: {labels: {app: y}}\n    spec: {containers: [{name: c, image: 'b:1'}]}\n",
     "spec.selector.matchLabels: {'app': 'x'} does not match"),
    ("kind: Deployment\nmetadata: {name: d}\nspec: {replicas: -1, selector: {}, template: {spec: {}}}\n",
     "spec.replicas: cannot be negative"),
    ("kind: Deployment\nmetadata: {name: d}\nspec: {selector: {}}\n", "spec.template: required"),
])
def test_bad_workloads_are_clear_errors(text, says):
    message = error_of(text)
    assert says in message and "play.yaml: document" in message


# ---- environment -------------------------------------------------------------------------------------

DATA = """
kind: ConfigMap
metadata: {name: cfg}
data: {COLOR: blue, SIZE: "3", bad key: x}
---
kind: Secret
metadata: {name: sec}
data: {TOKEN: %s}
stringData: {USER: admin}
---
""" % base64.b64encode(b"t0ken").decode()


def test_env_values_references_and_expansion():
    c = one(DATA.replace("bad key", "bad_key") + pod("""\
  - name: c
    image: 'b:1'
    envFrom: [{configMapRef: {name: cfg}, prefix: CFG_}, {secretRef: {name: sec}}]
    env:
    - {name: A, value: "1"}
    - {name: B, value: "$(A)-$(COLOR)-$(CFG_COLOR)-$$(A)-$(NOPE)"}
    - {name: T, valueFrom: {secretKeyRef: {name: sec, key: TOKEN}}}
    - {name: K, valueFrom: {configMapKeyRef: {name: cfg, key: SIZE}}}
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: GONE, valueFrom: {configMapKeyRef: {name: nope, key: x, optional: true}}}
    command: [echo, "$(A)", "$(IP)"]
"""))
    env = dict(e.split("=", 1) for e in c.spec.env)
    assert env["B"] == "1-$(COLOR)-blue-$(A)-$(NOPE)"
    assert (env["A"], env["T"], env["K"], env["POD"], env["NS"], env["USER"], env["TOKEN"]) == (
        "1", "t0ken", "3", "p", "default", "admin", "t0ken")
    assert env["IP"] == plan.POD_IP and "GONE" not in env
    assert c.spec.entrypoint == ["echo", "1", plan.POD_IP]


def test_expand_follows_kubernetes():
    env = {"A": "x", "B": "$(A)"}
    assert plan.expand("$(A)$(B)$$(A)$(C)$A$(unclosed", env) == "x$(A)$(A)$(C)$A$(unclosed"
    assert plan.expand("$", env) == "$" and plan.expand("a$$", env) == "a$"


@pytest.mark.parametrize("env, says", [
    ("[{name: X, valueFrom: {configMapKeyRef: {name: cfg, key: NOPE}}}]",
     "env[0].valueFrom.configMapKeyRef.key: ConfigMap 'cfg' has no key 'NOPE'"),
    ("[{name: X, valueFrom: {configMapKeyRef: {name: other, key: A}}}]", "no ConfigMap 'other'"),
    ("[{name: X, valueFrom: {secretKeyRef: {name: sec, key: NOPE}}}]", "Secret 'sec' has no key 'NOPE'"),
    ("[{name: '1X', value: a}]", "env[0].name"),
    ("[{name: X, value: 3}]", "env[0].value: expected a string"),
    ("[{name: X, value: a, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]", "exclusive"),
])
def test_env_errors_name_the_document_and_key(env, says):
    message = error_of(DATA.replace("bad key", "bad_key") + pod(f"  - {{name: c, image: 'b:1', env: {env}}}\n"))
    assert "document 3 (Pod/p)" in message and says in message


def test_secret_data_must_be_base64():
    message = error_of("kind: Secret\nmetadata: {name: s}\ndata: {KEY: 'not base64!'}\n")
    assert "data.KEY: not valid base64" in message and "document 1 (Secret/s)" in message


def test_configmap_keys_are_checked():
    assert "data.bad key" in error_of(DATA)
    assert "data.n: expected string" in error_of("kind: ConfigMap\nmetadata: {name: c}\ndata: {n: 3}\n")


def test_configmap_files_given_with_configmap_flag():
    c = one(pod("  - {name: c, image: 'b:1', env: [{name: X, valueFrom: {configMapKeyRef: {name: ext, key: k}}}]}\n"),
            ) if False else plan_of(
        pod("  - {name: c, image: 'b:1', env: [{name: X, valueFrom: {configMapKeyRef: {name: ext, key: k}}}]}\n"),
        configmaps="kind: ConfigMap\nmetadata: {name: ext}\ndata: {k: v}\n").pods[0].containers[0]
    assert "X=v" in c.spec.env
    assert "--configmap files hold ConfigMaps" in error_of(pod(BUSYBOX), configmaps=pod(BUSYBOX, name="q"))


# ---- resources, security, probes ---------------------------------------------------------------------

@pytest.mark.parametrize("cpu, cpus", [("500m", 0.5), ("1.5", 1.5), (2, 2.0), ("100m", 0.1)])
def test_cpu_limits(cpu, cpus):
    assert one(pod(f"  - {{name: c, image: 'b:1', resources: {{limits: {{cpu: '{cpu}'}}}}}}\n")).spec.cpus == cpus


@pytest.mark.parametrize("memory, size", [("64Mi", 64 << 20), ("1Gi", 1 << 30), ("512Ki", 512 << 10),
                                          ("1M", 10**6), ("1G", 10**9), ("2K", 2000), ("4096", 4096),
                                          ("1e6", 10**6)])
def test_memory_limits(memory, size):
    assert one(pod(f"  - {{name: c, image: 'b:1', resources: {{limits: {{memory: '{memory}'}}}}}}\n")).spec.memory \
        == size


@pytest.mark.parametrize("limits, says", [("{cpu: lots}", "limits.cpu: invalid cpu quantity"),
                                          ("{memory: 12Q}", "limits.memory: invalid memory quantity"),
                                          ("{cpu: '0'}", "limits.cpu: must be more than 0")])
def test_bad_limits(limits, says):
    assert says in error_of(pod(f"  - {{name: c, image: 'b:1', resources: {{limits: {limits}}}}}\n"))


def test_security_context_pod_and_container_level():
    p = plan_of(pod("""\
  - name: a
    image: 'b:1'
    securityContext:
      runAsUser: 1000
      capabilities: {add: [NET_ADMIN], drop: [ALL]}
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
  - name: b
    image: 'b:1'
    securityContext: {privileged: true, seccompProfile: {type: Unconfined}}
""", "securityContext: {runAsUser: 7, runAsGroup: 8}")).pods[0]
    a, b = (c.spec for c in p.containers)
    assert (a.user, a.cap_add, a.cap_drop, a.read_only, a.security_opt, a.privileged) == (
        "1000:8", ["NET_ADMIN"], ["ALL"], True, ["no-new-privileges"], False)
    assert (b.user, b.privileged, b.security_opt) == ("7:8", True, ["seccomp=unconfined"])
    assert "runAsNonRoot with runAsUser 0" in error_of(
        pod("  - {name: c, image: 'b:1', securityContext: {runAsUser: 0, runAsNonRoot: true}}\n"))


def test_probes_become_health_checks():
    c = one(pod("""\
  - name: c
    image: 'b:1'
    ports: [{containerPort: 8080, name: http}]
    livenessProbe:
      httpGet: {path: /healthz, port: http, scheme: HTTPS, httpHeaders: [{name: X-A, value: b}]}
      periodSeconds: 5
      timeoutSeconds: 2
      failureThreshold: 4
      initialDelaySeconds: 3
    startupProbe: {exec: {command: ["true"]}, periodSeconds: 2, failureThreshold: 10}
"""))
    assert c.spec.healthcheck == {"Test": ["HTTP-GET", "8080", "/healthz", "https", "X-A: b"], "Interval": 5 * S,
                                  "Timeout": 2 * S, "Retries": 4, "StartPeriod": (3 + 20) * S,
                                  "StartInterval": 5 * S}  # probed every periodSeconds from the start
    assert c.spec.health_on_failure == "restart"
    r = one(pod("  - {name: c, image: 'b:1', readinessProbe: {tcpSocket: {port: 6379}}}\n")).spec
    assert r.healthcheck == {"Test": ["TCP-SOCKET", "6379"], "Interval": 10 * S, "Timeout": S, "Retries": 3}
    assert r.health_on_failure is None
    e = one(pod("  - {name: c, image: 'b:1', livenessProbe: {exec: {command: [cat, /ok]}}}\n")).spec
    assert e.healthcheck["Test"] == ["CMD", "cat", "/ok"]


def test_a_readiness_check_gates_the_pods_traffic():
    def made(probes: str):
        p = plan_of(pod(f"  - {{name: c, image: 'b:1', {probes}}}\n"))
        return p.pods[0].containers[0].spec, [w for w in p.warnings if "Probe" in w]
    ready = "readinessProbe: {exec: {command: [test, -f, /ready]}, periodSeconds: 1}"
    spec, warnings = made(ready)
    assert (spec.health_gates_traffic, spec.health_on_failure, warnings) == (True, None, [])
    assert spec.healthcheck == {"Test": ["CMD", "test", "-f", "/ready"], "Interval": S, "Timeout": S, "Retries": 3}
    spec, _ = made("livenessProbe: {exec: {command: [a]}}")
    assert (spec.health_gates_traffic, spec.health_on_failure) == (False, "restart")
    # the same handler: one check restarts the container and gates the traffic
    spec, warnings = made("livenessProbe: {exec: {command: [test, -f, /ready]}, periodSeconds: 1}, " + ready)
    assert (spec.health_gates_traffic, spec.health_on_failure, warnings) == (True, "restart", [])
    spec, warnings = made("livenessProbe: {exec: {command: [test, -f, /ready]}, periodSeconds: 2}, " + ready)
    assert (spec.health_gates_traffic, spec.healthcheck["Interval"]) == (True, 2 * S)
    assert len(warnings) == 1 and "livenessProbe's schedule" in warnings[0]
    # another handler: the livenessProbe's check, which gates nothing (as before)
    spec, warnings = made("livenessProbe: {tcpSocket: {port: 80}}, " + ready)
    assert (spec.health_gates_traffic, spec.healthcheck["Test"]) == (False, ["TCP-SOCKET", "80"])
    assert len(warnings) == 1 and "the livenessProbe's is used" in warnings[0]
    spec, _ = made("readinessProbe: {grpc: {port: 1}}")  # left out: no check, nothing gated
    assert (spec.health_gates_traffic, spec.healthcheck) == (False, None)


@pytest.mark.parametrize("probe, says", [
    ("{httpGet: {port: web}}", "no container port named 'web'"),
    ("{exec: {command: [a]}, tcpSocket: {port: 1}}", "exactly one of exec, httpGet or tcpSocket"),
    ("{exec: {command: [a]}, periodSeconds: 0}", "periodSeconds: at least 1"),
    ("{exec: {}}", "exec.command: required"),
])
def test_bad_probes(probe, says):
    assert says in error_of(pod(f"  - {{name: c, image: 'b:1', livenessProbe: {probe}}}\n"))


def test_pull_policy_defaults_as_kubernetes():
    for image, policy in (("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
                          ("reg:5000/a/b", "Always"), ("reg:5000/a/b:2", "IfNotPresent"),
                          ("a@sha256:" + "0" * 64, "IfNotPresent")):
        assert one(pod(f"  - {{name: c, image: '{image}'}}\n")).pull_policy == policy, image


def test_image_pull_secrets_give_credentials_for_their_registry():
    config = {"auths": {"https://reg.example:5000/v1/": {"auth": base64.b64encode(b"me:pw").decode()},
                        "other.example": {"username": "u", "password": "p"}}}
    secret = base64.b64encode(json.dumps(config).encode()).decode()
    text = (f"kind: Secret\nmetadata: {{name: pull}}\ntype: kubernetes.io/dockerconfigjson\n"
            f"data: {{.dockerconfigjson: {secret}}}\n---\n")
    p = plan_of(text + pod("  - {name: a, image: 'reg.example:5000/x:1'}\n  - {name: b, image: 'busybox:1'}\n",
                           "imagePullSecrets: [{name: pull}]")).pods[0]
    assert [c.credentials for c in p.containers] == [("me", "pw"), None]
    warned = plan_of(pod(BUSYBOX, "imagePullSecrets: [{name: missing}]"))
    assert any("imagePullSecrets[0].name: no Secret 'missing'" in w for w in warned.warnings)
    opaque = "kind: Secret\nmetadata: {name: pull}\nstringData: {a: b}\n---\n"
    assert "not of type kubernetes.io/dockerconfigjson" in error_of(opaque + pod(BUSYBOX,
                                                                               "imagePullSecrets: [{name: pull}]"))


# ---- volumes ------------------------------------------------------------------------------------------

def test_volumes_of_every_supported_kind():
    text = DATA.replace("bad key", "bad_key") + pod("""\
  - name: c
    image: 'b:1'
    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg}
    - {name: sec, mountPath: /etc/sec}
    - {name: scratch, mountPath: /tmp/s}
    - {name: mem, mountPath: /tmp/m}
    - {name: host, mountPath: /host, readOnly: true}
    - {name: data, mountPath: /data}
    - {name: cfg, mountPath: /etc/one.conf, subPath: dir/color}
""", """volumes:
  - {name: cfg, configMap: {name: cfg, defaultMode: 0600, items: [{key: COLOR, path: dir/color}, {key: SIZE, path: size, mode: 0444}]}}
  - {name: sec, secret: {secretName: sec}}
  - {name: scratch, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
  - {name: host, hostPath: {path: /srv/data/, type: DirectoryOrCreate}}
  - {name: data, persistentVolumeClaim: {claimName: store}}""")
    the_plan = plan_of(text)
    p = the_plan.pods[0]
    volumes = {v.name: v for v in p.volumes}
    assert volumes["p-cfg"].files == {"dir/color": (b"blue", 0o600), "size": (b"3", 0o444)}
    assert volumes["p-sec"].files == {"TOKEN": (b"t0ken", 0o644), "USER": (b"admin", 0o644)}
    assert volumes["p-scratch"].files == {} and volumes["p-scratch"].options == {}
    assert volumes["p-mem"].options == {"type": "tmpfs", "device": "tmpfs", "o": f"size={16 << 20}"}
    assert volumes["p-cfg"].labels == {plan.LABEL_POD: "p", plan.LABEL_KIND: "Pod", plan.LABEL_NAME: "p",
                                       plan.LABEL_NAMESPACE: "default"}
    assert p.host_paths == [plan.HostPathCheck("/srv/data", "DirectoryOrCreate", "Pod/p (document 3): "
                                               "spec.volumes[4].hostPath")]
    assert [v.name for v in the_plan.claims] == ["store"] and p.claims == ["store"]
    c = p.containers[0]
    assert [(m.type, m.target, m.source, m.readonly) for m in c.spec.mounts] == [
        ("volume", "/etc/cfg", "p-cfg", True), ("volume", "/etc/sec", "p-sec", True),
        ("volume", "/tmp/s", "p-scratch", False), ("volume", "/tmp/m", "p-mem", False),
        ("bind", "/host", "/srv/data", True), ("volume", "/data", "store", False),
        ("bind", "/etc/one.conf", "", True)]
    assert c.sub_paths == [(6, "p-cfg", "dir/color")]


@pytest.mark.parametrize("volumes, mounts, says", [
    ("[{name: v, configMap: {name: nope}}]", "[]", "volumes[0].configMap.name: no ConfigMap 'nope'"),
    ("[{name: v, configMap: {name: cfg, items: [{key: NOPE, path: x}]}}]", "[]",
     "items[0].key: ConfigMap 'cfg' has no key 'NOPE'"),
    ("[{name: v, configMap: {name: cfg, items: [{key: COLOR, path: ../x}]}}]", "[]", "items[0].path"),
    ("[{name: v, configMap: {name: cfg, items: [{key: COLOR, path: /x}]}}]", "[]", "items[0].path"),
    ("[{name: v, configMap: {name: cfg, items: [{key: COLOR, path: x}, {key: SIZE, path: x}]}}]", "[]",
     "items[1].path: 'x': a second item with this path"),
    ("[{name: v, configMap: {name: cfg, defaultMode: 4096}}]", "[]", "defaultMode: 4096 is not a file mode"),
    ("[{name: v, hostPath: {path: rel}}]", "[]", "hostPath.path: an absolute path"),
    ("[{name: v, hostPath: {path: /x, type: Pipe}}]", "[]", "hostPath.type"),
    ("[{name: v, emptyDir: {medium: HugePages}}]", "[]", "emptyDir.medium"),
    ("[{name: v, emptyDir: {}, hostPath: {path: /x}}]", "[]", "exactly one source"),
    ("[{name: v, emptyDir: {}}, {name: v, emptyDir: {}}]", "[]", "a second volume named 'v'"),
    ("[]", "[{name: w, mountPath: /w}]", "volumeMounts[0].name: no volume named 'w'"),
    ("[{name: v, emptyDir: {}}]", "[{name: v, mountPath: rel}]", "mountPath: an absolute path"),
    ("[{name: v, emptyDir: {}}]", "[{name: v, mountPath: /w, subPath: a}]", "subPath of configMap, secret"),
    ("[{name: v, configMap: {name: cfg}}]", "[{name: v, mountPath: /w, subPath: ../a}]", "subPath"),
])
def test_bad_volumes(volumes, mounts, says):
    message = error_of(DATA.replace("bad key", "bad_key")
                       + pod(f"  - {{name: c, image: 'b:1', volumeMounts: {mounts}}}\n", f"volumes: {volumes}"))
    assert says in message, message


def test_optional_configmap_volume_is_empty():
    p = plan_of(pod(BUSYBOX, "volumes: [{name: v, configMap: {name: nope, optional: true}}]")).pods[0]
    assert p.volumes[0].files == {}


# ---- warnings for what berth does not do ----------------------------------------------------------------

UNSUPPORTED = [
    ("spec.containers[0].lifecycle", pod("  - {name: c, image: 'b:1', lifecycle: {preStop: {}}}\n")),
    ("spec.containers[0].terminationMessagePath", pod("  - {name: c, image: 'b:1', terminationMessagePath: /x}\n")),
    ("spec.nodeSelector", pod(BUSYBOX, "nodeSelector: {disk: ssd}")),
    ("spec.dnsPolicy", pod(BUSYBOX, "dnsPolicy: ClusterFirst")),
    ("spec.securityContext.fsGroup", pod(BUSYBOX, "securityContext: {fsGroup: 2000}")),
    ("spec.containers[0].resources.requests", pod("  - {name: c, image: 'b:1', resources: {requests: {cpu: 1}}}\n")),
    ("spec.containers[0].resources.limits.nvidia.com/gpu",
     pod("  - {name: c, image: 'b:1', resources: {limits: {nvidia.com/gpu: 1}}}\n")),
    ("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
     pod("  - {name: c, image: 'b:1', env: [{name: X, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]}\n")),
    ("spec.containers[0].env[0].valueFrom.resourceFieldRef",
     pod("  - {name: c, image: 'b:1', env: [{name: X, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}]}\n")),
    ("spec.volumes[0].nfs", pod(BUSYBOX, "volumes: [{name: v, nfs: {server: s, path: /}}]")),
    ("spec.containers[0].livenessProbe.grpc", pod("  - {name: c, image: 'b:1', livenessProbe: {grpc: {port: 1}}}\n")),
    ("spec.containers[0].readinessProbe",
     pod("  - {name: c, image: 'b:1', livenessProbe: {exec: {command: [a]}}, readinessProbe: {exec: {command: [b]}}}\n")),
    ("spec.containers[0].volumeMounts[0].mountPropagation",
     pod("  - {name: c, image: 'b:1', volumeMounts: [{name: v, mountPath: /v, mountPropagation: None}]}\n",
         "volumes: [{name: v, emptyDir: {}}]")),
    ("metadata.ownerReferences", "kind: Pod\nmetadata: {name: p, ownerReferences: [{}]}\nspec:\n  containers:\n"
     + BUSYBOX),
    ("status", pod(BUSYBOX) + "status: {phase: Running}\n"),
    ("spec.strategy", "kind: Deployment\nmetadata: {name: d}\nspec:\n  strategy: {type: Recreate}\n  selector: "
     "{matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: 'b:1'}]}}\n"),
    ("spec.parallelism", "kind: Job\nmetadata: {name: j}\nspec:\n  parallelism: 2\n  template: {spec: "
     "{restartPolicy: Never, containers: [{name: c, image: 'b:1'}]}}\n"),
    ("spec.resources", "kind: PersistentVolumeClaim\nmetadata: {name: v}\nspec: {accessModes: [ReadWriteOnce], "
     "resources: {requests: {storage: 1Gi}}}\n"),
    ("spec.sessionAffinity", pod(BUSYBOX) + "---\nkind: Service\nmetadata: {name: s}\nspec: {selector: {a: b}, "
     "sessionAffinity: ClientIP, ports: [{port: 80}]}\n"),
]


@pytest.mark.parametrize("path, text", UNSUPPORTED, ids=[u[0] for u in UNSUPPORTED])
def test_each_unsupported_field_is_one_warning_naming_its_path(path, text):
    warnings = plan_of(text).warnings
    assert len([w for w in warnings if f": {path}:" in w]) == 1, warnings


def test_a_clean_pod_gives_no_warning_and_replicas_warn_once():
    assert plan_of(pod(BUSYBOX)).warnings == []
    assert plan_of("kind: Pod\nmetadata: {name: p, creationTimestamp: null}\nspec:\n  containers:\n" + BUSYBOX
                   + "status: {}\n").warnings == []
    made = plan_of("kind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 3\n  selector: {matchLabels: {a: b}}\n"
                   "  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: 'b:1', "
                   "lifecycle: {}}]}}\n")
    assert len(made.pods) == 3 and len(made.warnings) == 1


# ---- services, networks, down's targets ------------------------------------------------------------------

SERVICE = """
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: 'b:1', ports: [{containerPort: 8080, name: http}]}]}
---
kind: Pod
metadata: {name: other, labels: {app: other}}
spec: {containers: [{name: c, image: 'b:1'}]}
---
kind: Service
metadata: {name: front}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http, nodePort: 30080}, {name: raw, port: 81, protocol: UDP}]
"""


def test_service_selects_pods_and_gives_them_its_name():
    p = plan_of(SERVICE)
    web = [x for x in p.pods if x.workload == "web"]
    other = next(x for x in p.pods if x.workload == "other")
    [s] = p.services
    assert s.pods == [x.name for x in web] and s.name == "front"
    assert s.ports == [ServicePort("", "tcp", 30080, 8080), ServicePort("raw", "udp", 81, 81)]
    assert s.labels[plan.LABEL_KIND] == "Service"
    assert all(x.aliases == ["front", "front.default.svc.cluster.local"] for x in web) and other.aliases == []


def test_service_errors():
    assert "targetPort: no container port named 'nope'" in error_of(SERVICE.replace("targetPort: http",
                                                                                      "targetPort: nope"))
    assert "ExternalName" in error_of(SERVICE.replace("type: NodePort", "type: ExternalName"))


def test_network_choice_and_host_network():
    assert plan_of(pod(BUSYBOX), network="mine").pods[0].network == "mine"
    assert not plan_of(pod(BUSYBOX), network="mine").default_network
    p = plan_of(pod("  - {name: c, image: 'b:1', ports: [{containerPort: 80, hostPort: 80}]}\n",
                    "hostNetwork: true")).pods[0]
    assert p.network == "host" and p.publish == []
    assert "with hostNetwork the hostPort is the containerPort" in error_of(
        pod("  - {name: c, image: 'b:1', ports: [{containerPort: 80, hostPort: 81}]}\n", "hostNetwork: true"))


def test_init_containers_run_once_and_have_no_probes():
    p = plan_of(pod(BUSYBOX, "initContainers: [{name: i, image: 'b:1', livenessProbe: {exec: {command: [a]}}}]"))
    [init] = p.pods[0].init
    assert init.spec.name == "p-i" and init.spec.restart == "no" and init.spec.healthcheck is None
    assert any("initContainers[0].livenessProbe" in w for w in p.warnings)


def test_down_targets_need_no_references():
    docs = yamlfile.load(SERVICE + "---\nkind: PersistentVolumeClaim\nmetadata: {name: data}\n---\n"
                         + pod(BUSYBOX, "volumes: [{name: v, persistentVolumeClaim: {claimName: other-data}}, "
                               "{name: w, configMap: {name: missing}}]", name="x"), "f")
    t = plan.targets(docs)
    assert t.workloads == [("Deployment", "web", "default"), ("Pod", "other", "default"), ("Pod", "x", "default")]
    assert t.claims == ["data", "other-data"] and t.services == [("front", "default")]
    assert t.network == plan.DEFAULT_NETWORK
