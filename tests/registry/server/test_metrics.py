"""/metrics: exact counters for a controlled push and pull, and a well-formed exposition format."""
import json
import math
import re

from registry_helpers import digest_of, image_manifest

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = rf'({_NAME})="((?:[^"\\\n]|\\[\\"n])*)"'
_SAMPLE = re.compile(rf"({_NAME})(?:\{{((?:{_LABEL},?)*)\}})? (\S+)")


def parse(text: str) -> dict:
    """{(name, frozenset(labels.items())): value}, checking every line against the text format."""
    assert text.endswith("\n")
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            assert re.fullmatch(rf"# HELP {_NAME} .*", line), line
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped") and name not in types, line
            types[name] = kind
        else:
            match = _SAMPLE.fullmatch(line)
            assert match, line
            name, labels, value = match[1], match[2] or "", match[len(match.groups())]
            family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
            assert family in types, f"sample before its TYPE: {line}"
            pairs = {k: v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
                     for k, v in re.findall(_LABEL, labels)}
            key = (name, frozenset(pairs.items()))
            assert key not in samples, f"duplicate sample {line}"
            samples[key] = math.inf if value == "+Inf" else float(value)
    for name, kind in types.items():  # buckets are cumulative and end with +Inf = _count
        if kind != "histogram":
            continue
        series = {}
        for (sample, labels), value in samples.items():
            if sample == name + "_bucket":
                le = dict(labels)["le"]
                rest = frozenset((k, v) for k, v in labels if k != "le")
                series.setdefault(rest, []).append((math.inf if le == "+Inf" else float(le), value))
        for rest, buckets in series.items():
            buckets.sort()
            counts = [count for _, count in buckets]
            assert counts == sorted(counts) and buckets[-1][0] == math.inf
            assert samples[(name + "_count", rest)] == counts[-1]
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


def test_counters_after_push_and_pull(start_registry):
    server = start_registry()
    client = server.client()
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = b"a layer pushed in chunks" * 50
    config_digest = client.push_blob("m/app", config)  # one POST with the whole blob
    start = client.request("POST", "/v2/m/app/blobs/uploads/")
    assert start.status == 202
    location = start.headers["Location"]
    assert client.request("PATCH", location, body=layer).status == 202
    assert client.request("PUT", f"{location}?digest={digest_of(layer)}").status == 201
    manifest = image_manifest(config_digest, len(config), [(digest_of(layer), len(layer))])
    assert client.push_manifest("m/app", "v1", manifest).status == 201
    assert client.get("/v2/m/app/manifests/v1").body == manifest
    assert client.get(f"/v2/m/app/blobs/{digest_of(layer)}").body == layer
    assert client.head(f"/v2/m/app/blobs/{digest_of(layer)}").status == 200  # a HEAD is no pull
    mount = client.request("POST", f"/v2/m/copy/blobs/uploads/?mount={digest_of(layer)}&from=m/app")
    assert mount.status == 201
    assert client.get("/v2/m/app/manifests/nope").status == 404

    first = client.get("/metrics")
    assert first.status == 200 and first.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse(first.body.decode())
    requests = "berth_registry_http_requests_total"
    expected = {("POST", "/v2/{name}/blobs/uploads/", "201"): 2, ("POST", "/v2/{name}/blobs/uploads/", "202"): 1,
                ("PATCH", "/v2/{name}/blobs/uploads/{upload}", "202"): 1,
                ("PUT", "/v2/{name}/blobs/uploads/{upload}", "201"): 1,
                ("PUT", "/v2/{name}/manifests/{reference}", "201"): 1,
                ("GET", "/v2/{name}/manifests/{reference}", "200"): 1,
                ("GET", "/v2/{name}/manifests/{reference}", "404"): 1,
                ("GET", "/v2/{name}/blobs/{reference}", "200"): 1, ("HEAD", "/v2/{name}/blobs/{reference}", "200"): 1}
    got = {(dict(labels)["method"], dict(labels)["route"], dict(labels)["status"]): v
           for (name, labels), v in samples.items() if name == requests}
    assert got == expected
    assert value(samples, "berth_registry_blobs_pushed_total") == 2
    assert value(samples, "berth_registry_blobs_mounted_total") == 1
    assert value(samples, "berth_registry_blobs_pulled_total") == 1
    assert value(samples, "berth_registry_manifests_pushed_total") == 1
    assert value(samples, "berth_registry_manifests_pulled_total") == 1
    assert value(samples, "berth_registry_blob_upload_duration_seconds_count") == 2
    assert value(samples, "berth_registry_blob_upload_duration_seconds_bucket", le="+Inf") == 2
    assert value(samples, "berth_registry_http_received_bytes_total") == len(config) + len(layer) + len(manifest)
    not_found = len(client.get("/v2/m/app/manifests/nope").body)
    sent = value(samples, "berth_registry_http_sent_bytes_total")
    assert sent == len(manifest) + len(layer) + not_found

    samples = parse(client.get("/metrics").body.decode())  # the first scrape and the second 404 now count
    assert value(samples, requests, method="GET", route="/metrics", status="200") == 1
    assert value(samples, "berth_registry_http_sent_bytes_total") == sent + len(first.body) + not_found
    assert value(samples, "berth_registry_http_request_duration_seconds_count", route="/metrics") == 1


def test_route_labels_stay_bounded(start_registry):
    server = start_registry()
    client = server.client()
    for i in range(5):
        client.get(f"/v2/repo{i}/tags/list")
        client.get(f"/nothing/here/{i}")
    samples = parse(client.get("/metrics").body.decode())
    routes = {dict(labels)["route"] for name, labels in samples if name == "berth_registry_http_requests_total"}
    assert routes == {"/v2/{name}/tags/list", "unmatched"}


def test_text_format_escaping():
    from berth.registry.server.metrics import Counter, Histogram, Metrics
    counter = Counter("x_total", "help with \\ and\nnewline", ("label",))
    counter.inc('a "quoted" \\ back\nslash')
    histogram = Histogram("h_seconds", "h", (0.5, 1))
    for v in (0.1, 0.7, 3):
        histogram.observe(v)
    metrics = Metrics()
    metrics.families = lambda: (counter, histogram)
    text = metrics.render()
    assert "# HELP x_total help with \\\\ and\\nnewline\n" in text
    assert 'x_total{label="a \\"quoted\\" \\\\ back\\nslash"} 1\n' in text
    samples = parse(text)
    assert value(samples, "x_total", label='a "quoted" \\ back\nslash') == 1
    assert [value(samples, "h_seconds_bucket", le=le) for le in ("0.5", "1.0", "+Inf")] == [1, 2, 3]
    assert value(samples, "h_seconds_sum") == 3.8 and value(samples, "h_seconds_count") == 3
