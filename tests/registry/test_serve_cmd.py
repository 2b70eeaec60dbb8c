"""`berth registry serve`: flags, TLS, shutdown on SIGTERM/SIGINT."""
import shutil
import signal
import ssl
import subprocess
import urllib.request

import pytest

from registry_helpers import BERTH


def test_help_and_bad_flags(tmp_path):
    out = subprocess.run(BERTH + ["--root", str(tmp_path), "registry", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "serve" in out.stdout
    out = subprocess.run(BERTH + ["--root", str(tmp_path), "registry", "serve", "--help"], capture_output=True, text=True)
    assert "--htpasswd" in out.stdout and "--max-upload-size" in out.stdout
    for args, message in ((["--addr", "nonsense"], "invalid address"),
                          (["--tls-cert", "x.pem"], "go together"),
                          (["--max-upload-size", "lots"], "invalid --max-upload-size"),
                          (["--purge-uploads-after", "soon"], "invalid duration")):
        out = subprocess.run(BERTH + ["--root", str(tmp_path), "registry", "serve", *args],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 1 and message in out.stderr, (args, out.stderr)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_shutdown(start_registry, sig):
    server = start_registry()
    assert server.client().get("/v2/").status == 200
    assert server.stop(sig) == 0


def test_port_in_use(start_registry, tmp_path):
    server = start_registry()
    out = subprocess.run(BERTH + ["--root", str(tmp_path), "registry", "serve", "--addr", f"127.0.0.1:{server.port}"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "cannot listen" in out.stderr


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl not installed")
def test_tls(start_registry, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = start_registry("--tls-cert", cert, "--tls-key", key)
    assert server.url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"{server.url}/v2/", context=context, timeout=10) as resp:
        assert resp.status == 200 and resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    with pytest.raises(Exception):  # plain HTTP to a TLS port gets no registry answer
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/v2/", timeout=10).read()
