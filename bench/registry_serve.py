#!/usr/bin/env python3
"""Benchmark: the registry server's read path, berth against Debian's distribution, side by side.

Both servers run here with their own fresh storage (berth `registry serve` with its defaults:
metrics, UI, connection guards; distribution 2.8 as ../shared/peers/setup configures it: in-memory
blob descriptor cache, delete enabled) on 127.0.0.1, are seeded over HTTP the same way, and are
measured with `wrk` (keep-alive connections, RUNS interleaved rounds, the order alternating, medians):
  headline: manifest GET by tag and by digest, manifest HEAD by tag, blob GET (a BLOB_MB MB blob);
  repos:    manifest GET by tag spread at random over N repositories (a tag each), N = 1 .. 10,000;
  clients:  manifest GET by tag with C concurrent connections, C = 1 .. 256;
  paging:   walking /v2/_catalog and /v2/<name>/tags/list 100 at a time (Link headers) at 10,000;
  gc:       `berth registry gc` and `docker-registry garbage-collect` over N small unreferenced blobs.
Results go into BENCHMARKS.md (SECTION). `--only headline,repos` runs a subset; `--no-write` prints only.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import berth_cmd, publish

SECTION = "## registry serving (manifest and blob GET, scale curves; berth against distribution)"
WORK = Path(os.environ.get("BERTH_BENCH_CACHE", "/var/tmp/berth-bench")) / "registry-serve"
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "3"))
BLOB_MB = 32
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
GOALS = {"GET by tag": 1.5, "GET by digest": 1.5, "HEAD by tag": 1.5, "blob GET": 1.0}
REPO_COUNTS = (1, 100, 1000, 10000)
CLIENTS = (1, 16, 64, 256)
GC_BLOBS = tuple(int(n) for n in os.environ.get("BENCH_GC_BLOBS", "1000,10000,100000").split(","))


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Peer:
    """One registry process on its own storage."""

    def __init__(self, kind: str, port: int):
        self.kind, self.port = kind, port
        self.dir = WORK / kind
        self.proc = None

    def start(self) -> "Peer":
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        log = open(self.dir / "log", "wb")
        if self.kind == "berth":
            cmd = [*berth_cmd(), "--root", str(self.dir / "root"), "registry", "serve",
                   "--addr", f"127.0.0.1:{self.port}"]
        else:
            config = self.dir / "config.yml"
            config.write_text("version: 0.1\nlog: {level: error}\nstorage:\n  cache: {blobdescriptor: inmemory}\n"
                              f"  filesystem: {{rootdirectory: {self.dir / 'data'}}}\n  delete: {{enabled: true}}\n"
                              f"http: {{addr: 127.0.0.1:{self.port}}}\n")
            cmd = ["docker-registry", "serve", str(config)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/v2/")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"{self.kind} did not start: {(self.dir / 'log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def request(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read(), response
        finally:
            if own:
                conn.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def push_blob(peer: Peer, conn, repo: str, data: bytes, mount_from: str | None = None) -> str:
    digest = digest_of(data)
    if mount_from:
        status, _, _ = peer.request("POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from={mount_from}", conn=conn)
        if status == 201:
            return digest
        raise SystemExit(f"{peer.kind}: mount into {repo} answered {status}")
    status, _, response = peer.request("POST", f"/v2/{repo}/blobs/uploads/", conn=conn)
    assert status == 202, (peer.kind, status)
    location = response.getheader("Location")
    location = re.sub(r"^https?://[^/]+", "", location)
    sep = "&" if "?" in location else "?"
    status, body, _ = peer.request("PUT", f"{location}{sep}digest={digest}", body=data,
                                   headers={"Content-Type": "application/octet-stream"}, conn=conn)
    assert status == 201, (peer.kind, status, body[:300])
    return digest


def manifest_for(config: bytes, layer_digest: str, layer_size: int) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": digest_of(config), "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "digest": layer_digest, "size": layer_size}]}, indent=3).encode()


def put_manifest(peer: Peer, conn, repo: str, tag: str, data: bytes) -> None:
    status, body, _ = peer.request("PUT", f"/v2/{repo}/manifests/{tag}", body=data,
                                   headers={"Content-Type": MANIFEST}, conn=conn)
    assert status == 201, (peer.kind, status, body[:300])


def seed_repositories(peer: Peer, count: int, start: int = 0) -> bytes:
    """Repositories scale/r<i> (i < count), each with tag `latest` of the same small image."""
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    layer = b"a small layer" * 64
    conn = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=60)
    if start == 0:
        push_blob(peer, conn, "scale/r0", config)
        push_blob(peer, conn, "scale/r0", layer)
    manifest = manifest_for(config, digest_of(layer), len(layer))
    conn.close()

    def one(i: int) -> None:
        c = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=60)
        try:
            repo = f"scale/r{i}"
            if i:
                push_blob(peer, c, repo, config, mount_from="scale/r0")
                push_blob(peer, c, repo, layer, mount_from="scale/r0")
            put_manifest(peer, c, repo, "latest", manifest)
        finally:
            c.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(start, count)))
    return manifest


def wrk(url: str, connections: int = 16, script: str | None = None, headers=()) -> float:
    """Requests per second of one wrk run."""
    cmd = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{SECONDS}s"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors[1]} error responses from {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])


def ab_head(url: str, connections: int = 16, headers=()) -> float:
    """Requests per second of HEAD requests with ApacheBench: wrk waits for a body after a HEAD
    answer with a Content-Length, so it cannot measure HEAD."""
    cmd = ["ab", "-k", "-i", "-q", "-c", str(connections), "-t", str(SECONDS), "-n", "1000000"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    failed = re.search(r"(?:Failed requests|Non-2xx responses):\s+(\d+)", out)
    if failed and int(failed[1]):
        raise SystemExit(f"ab saw {failed[1]} failed requests to {url}:\n{out}")
    return float(re.search(r"Requests per second:\s+([\d.]+)", out)[1])


def lua(name: str, text: str) -> str:
    path = WORK / name
    path.write_text(text)
    return str(path)


def interleaved(peers, measure) -> dict[str, float]:
    """Median of RUNS rounds of `measure(peer)` per peer, the order alternating each round."""
    results = {p.kind: [] for p in peers}
    for i in range(RUNS + 1):  # the first round warms up
        for peer in (peers if i % 2 == 0 else peers[::-1]):
            value = measure(peer)
            if i:
                results[peer.kind].append(value)
    return {k: statistics.median(v) for k, v in results.items()}


def headline(peers) -> list[str]:
    accept = f"Accept: {MANIFEST}"
    blob = os.urandom(BLOB_MB << 20)
    manifest = None
    for peer in peers:
        conn = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=120)
        config = b'{"architecture":"amd64","os":"linux"}'
        push_blob(peer, conn, "bench/app", config)
        layer = push_blob(peer, conn, "bench/app", blob)
        manifest = manifest_for(config, layer, len(blob))
        put_manifest(peer, conn, "bench/app", "v1", manifest)
        conn.close()
    ops = {
        "GET by tag": lambda p: wrk(p.url("/v2/bench/app/manifests/v1"), headers=[accept]),
        "GET by digest": lambda p: wrk(p.url(f"/v2/bench/app/manifests/{digest_of(manifest)}"), headers=[accept]),
        "HEAD by tag": lambda p: ab_head(p.url("/v2/bench/app/manifests/v1"), headers=[accept]),
        "blob GET": lambda p: wrk(p.url(f"/v2/bench/app/blobs/{digest_of(blob)}"), connections=2),
    }
    lines = ["| operation | berth | distribution | berth / distribution | goal |", "| --- | ---: | ---: | ---: | ---: |"]
    for label, op in ops.items():
        med = interleaved(peers, op)
        ratio = med["berth"] / med["distribution"]
        if label == "blob GET":
            shown = {k: f"{v * BLOB_MB / 1024:.2f} GB/s" for k, v in med.items()}
        else:
            shown = {k: f"{v:,.0f} req/s" for k, v in med.items()}
        goal = GOALS[label]
        lines.append(f"| manifest {label} (16 connections) | {shown['berth']} | {shown['distribution']} | "
                     f"{ratio:.2f} | ≥ {goal} ({'met' if ratio >= goal else 'NOT met'}) |"
                     if label != "blob GET" else
                     f"| blob GET, {BLOB_MB} MB (2 connections) | {shown['berth']} | {shown['distribution']} | "
                     f"{ratio:.2f} | ≥ {goal} ({'met' if ratio >= goal else 'NOT met'}) |")
        print("  " + lines[-1], flush=True)
    return lines


def repos_curve(peers) -> list[str]:
    """At each size N (N repositories stored), requests spread at random over all N, measured in
    the same interleaved rounds as requests to one repository of them: the machine's load drifts
    between sizes, so flatness is read against that reference, not against another size's run."""
    lines = ["| repositories | berth req/s | distribution req/s | berth / distribution | "
             "berth: N against 1 repository | distribution: N against 1 |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    seeded = 0
    for count in REPO_COUNTS:
        for peer in peers:
            seed_repositories(peer, count, seeded)
        seeded = count
        spread = lua(f"repos{count}.lua", "request = function()\n  return wrk.format(nil, \"/v2/scale/r\" .. "
                     f"math.random(0, {count - 1}) .. \"/manifests/latest\", {{Accept = \"{MANIFEST}\"}})\nend\n")
        one = lua("repos-one.lua", "request = function()\n  return wrk.format(nil, \"/v2/scale/r\" .. "
                  f"math.random(0, 0) .. \"/manifests/latest\", {{Accept = \"{MANIFEST}\"}})\nend\n")
        results = {(p.kind, which): [] for p in peers for which in ("spread", "one")}
        for i in range(RUNS + 1):
            for peer in (peers if i % 2 == 0 else peers[::-1]):
                for which, script in (("spread", spread), ("one", one))[::1 if i % 2 == 0 else -1]:
                    value = wrk(peer.url("/"), script=script)
                    if i:
                        results[(peer.kind, which)].append(value)
        med = {k: statistics.median(v) for k, v in results.items()}
        b, d = med[("berth", "spread")], med[("distribution", "spread")]
        lines.append(f"| {count:,} | {b:,.0f} | {d:,.0f} | {b / d:.2f} | {b / med[('berth', 'one')]:.2f} | "
                     f"{d / med[('distribution', 'one')]:.2f} |")
        print("  " + lines[-1], flush=True)
    return lines


def clients_curve(peers) -> list[str]:
    lines = ["| connections | berth req/s | distribution req/s | berth / distribution |", "| ---: | ---: | ---: | ---: |"]
    for peer in peers:
        if peer.request("GET", "/v2/scale/r0/manifests/latest")[0] != 200:
            seed_repositories(peer, 1)
    for c in CLIENTS:
        med = interleaved(peers, lambda p: wrk(p.url("/v2/scale/r0/manifests/latest"), connections=c,
                                               headers=[f"Accept: {MANIFEST}"]))
        lines.append(f"| {c} | {med['berth']:,.0f} | {med['distribution']:,.0f} | {med['berth'] / med['distribution']:.2f} |")
        print("  " + lines[-1], flush=True)
    return lines


def walk(peer: Peer, path: str, key: str) -> tuple[float, int, int]:
    """Seconds to page through a listing 100 at a time, how many entries and pages it had."""
    conn = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=60)
    start = time.perf_counter()
    seen, pages, nxt = 0, 0, f"{path}?n=100"
    while nxt:
        pages += 1
        status, body, response = peer.request("GET", nxt, conn=conn)
        assert status == 200, (peer.kind, status, body[:200])
        seen += len(json.loads(body)[key] or [])
        link = response.getheader("Link")
        nxt = re.search(r"<([^>]+)>", link)[1] if link else None
        nxt = re.sub(r"^https?://[^/]+", "", nxt) if nxt else None
    conn.close()
    return time.perf_counter() - start, seen, pages


def paging(peers) -> list[str]:
    count = REPO_COUNTS[-1]
    for peer in peers:
        if peer.request("GET", f"/v2/scale/r{count - 1}/manifests/latest")[0] != 200:
            seed_repositories(peer, count)
        # 10,000 tags on one repository, all the same manifest
        _, manifest, _ = peer.request("GET", "/v2/scale/r0/manifests/latest", headers={"Accept": MANIFEST})

        def tag(i, peer=peer, manifest=manifest):
            c = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=60)
            put_manifest(peer, c, "scale/r0", f"t{i:05d}", manifest)
            c.close()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(tag, range(count)))
    lines = ["| listing, 100 per page | berth first walk (s) | distribution first walk (s) | berth repeats (s) | "
             "distribution repeats (s) | berth / distribution, repeats |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for label, path, key in ((f"catalog, {count:,} repositories", "/v2/_catalog", "repositories"),
                             (f"tags list, {count + 1:,} tags", "/v2/scale/r0/tags/list", "tags")):
        results = {p.kind: [] for p in peers}
        shape = {}
        first = {}
        for i in range(4):
            for peer in (peers if i % 2 == 0 else peers[::-1]):
                seconds, seen, pages = walk(peer, path, key)
                if i == 0:
                    first[peer.kind] = seconds
                    continue
                results[peer.kind].append(seconds)
                shape[peer.kind] = f"{seen:,} in {pages} page(s)"
        note = f" (berth {shape['berth']}, distribution {shape['distribution']})"
        med = {k: statistics.median(v) for k, v in results.items()}
        lines.append(f"| {label}{note} | {first['berth']:.2f} | {first['distribution']:.2f} | {med['berth']:.2f} | "
                     f"{med['distribution']:.2f} | {med['berth'] / med['distribution']:.3f} |")
        print("  " + lines[-1], flush=True)
    return lines


def gc_curve() -> list[str]:
    """Both collectors over N unreferenced small blobs written straight into each layout (the
    same files either server would have written), stopped servers, grace 0 for berth."""
    lines = ["| small unreferenced blobs | `berth registry gc` (s) | `docker-registry garbage-collect` (s) | berth / distribution |",
             "| ---: | ---: | ---: | ---: |"]
    for count in GC_BLOBS:
        times = {}
        for kind in ("berth", "distribution"):
            root = WORK / f"gc-{kind}"
            shutil.rmtree(root, ignore_errors=True)
            blobs = root / ("registry/blobs/sha256" if kind == "berth" else "data/docker/registry/v2/blobs/sha256")
            for i in range(count):
                data = f"blob {i}".encode()
                hexd = hashlib.sha256(data).hexdigest()
                d = blobs / hexd[:2] / (hexd if kind == "distribution" else "")
                d.mkdir(parents=True, exist_ok=True)
                (d / ("data" if kind == "distribution" else hexd)).write_bytes(data)
            (root / ("registry/repositories" if kind == "berth" else "data/docker/registry/v2/repositories")).mkdir(
                parents=True, exist_ok=True)
            old = time.time() - 7200
            for dirpath, _, files in os.walk(blobs):
                for f in files:
                    os.utime(os.path.join(dirpath, f), (old, old))
            os.sync()
            if kind == "berth":
                cmd = [*berth_cmd(), "--root", str(root), "registry", "gc", "--grace", "0"]
            else:
                config = root / "config.yml"
                config.write_text(f"version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: "
                                  f"{{rootdirectory: {root / 'data'}}}\n  delete: {{enabled: true}}\n")
                cmd = ["docker-registry", "garbage-collect", str(config)]
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times[kind] = time.perf_counter() - start
            left = sum(len(files) for _, _, files in os.walk(blobs))
            if left:
                raise SystemExit(f"{kind} gc left {left} of {count} blobs")
            shutil.rmtree(root, ignore_errors=True)
        lines.append(f"| {count:,} | {times['berth']:.2f} | {times['distribution']:.2f} | "
                     f"{times['berth'] / times['distribution']:.2f} |")
        print("  " + lines[-1], flush=True)
    return lines


def main() -> int:
    if not shutil.which("wrk") or not shutil.which("docker-registry"):
        print("registry_serve: skipped, needs wrk and docker-registry (../shared/peers/setup)")
        return 0
    only = {"headline", "repos", "clients", "paging", "gc"}
    if "--only" in sys.argv:
        only = set(sys.argv[sys.argv.index("--only") + 1].split(","))
    WORK.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(["docker-registry", "--version"], capture_output=True, text=True).stdout.strip()
    parts = []
    peers = [Peer("berth", 5131), Peer("distribution", 5132)]
    try:
        for peer in peers:
            peer.start()
        for name, title, fn in (("headline", "manifest and blob reads (wrk, 16 keep-alive connections)", headline),
                                ("repos", "manifest GET by tag against repositories (a tag each, requests spread "
                                          "over all at random)", repos_curve),
                                ("clients", "manifest GET by tag against concurrent connections", clients_curve),
                                ("paging", "catalog and tags list paging", paging)):
            if name in only:
                print(f"{name} ...", flush=True)
                parts += [f"### {title}", "", *fn(peers), ""]
    finally:
        for peer in peers:
            peer.stop()
    if "gc" in only:
        print("gc ...", flush=True)
        parts += ["### garbage collection against stored blobs", "", *gc_curve(), ""]
    lines = [SECTION, "",
             f"- date: {time.strftime('%Y-%m-%d')}; nproc {os.cpu_count()}; distribution: {version}; "
             f"1-min load average {os.getloadavg()[0]:.1f} at the end",
             f"- method: `bench/run registry_serve` (bench/registry_serve.py); each server on its own fresh "
             f"storage on 127.0.0.1; wrk {SECONDS} s per run (HEAD: ApacheBench `ab -k -i`, as wrk cannot), 1 warm-up and {RUNS} timed rounds, interleaved "
             "(order alternating), medians; sections: " + ", ".join(sorted(only)), "", *parts]
    publish(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
