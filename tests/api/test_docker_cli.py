"""The docker CLI (the machine's, and Debian's 20.10 where installed) drives berth through
`berth system service`: a scripted session of the commands people type every day."""
from __future__ import annotations

import json
import re

import pytest

from api_helpers import DOCKER_CLIS, http_get, run_in_pty
from container_helpers import wait_for

pytestmark = pytest.mark.skipif(not DOCKER_CLIS, reason="no docker CLI on this machine")
HTTPD = "mkdir -p /www && echo hello-from-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"


@pytest.mark.parametrize("cli", DOCKER_CLIS)
def test_version_info_and_images(api, cli):
    assert api.out("version", "--format", "{{.Server.APIVersion}}", cli=cli).strip() == "1.44"
    assert "berth" in api.out("version", cli=cli)
    info = json.loads(api.out("info", "--format", "{{json .}}", cli=cli))
    assert info["Images"] >= 1 and info["OSType"] == "linux" and info["Driver"] == "overlay"
    images = api.out("images", "--format", "{{.Repository}}:{{.Tag}}", cli=cli).split()
    assert "busybox:latest" in images


@pytest.mark.parametrize("cli", DOCKER_CLIS)
def test_pull_from_a_registry(api, registry, cli):
    """docker pull through the API: docker's progress lines, the digest, and the image listed."""
    name = f"127.0.0.1:{registry.port}/api/busybox:{'v28' if 'local' in cli else 'v20'}"
    api.berth.run("tag", "busybox", name)
    api.berth.run("push", name)
    api.berth.run("rmi", name)
    pulled = api.out("pull", name, cli=cli)
    assert "Digest: sha256:" in pulled and f"Downloaded newer image for {name}" in pulled, pulled
    listed = api.out("images", "--digests", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}", cli=cli)
    assert re.search(rf"^{re.escape(name)} sha256:[0-9a-f]{{64}}$", listed, re.M), listed
    failed = api.docker("pull", f"127.0.0.1:{registry.port}/api/nosuch:1", cli=cli, check=False)
    assert failed.returncode != 0 and b"nosuch" in failed.stderr


@pytest.mark.parametrize("cli", DOCKER_CLIS)
def test_container_lifecycle(api, cli):
    cid = api.out("run", "-d", "--name", "web", "-p", "127.0.0.1::80", "-e", "GREETING=hi", "busybox", "sh", "-c",
                  HTTPD, cli=cli).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    ps = api.out("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}", cli=cli)
    assert re.search(rf"^{cid[:12]} web Up ", ps, re.M), ps
    port = api.out("port", "web", "80", cli=cli).strip().rpartition(":")[2]
    body = wait_for(lambda: http_get(f"http://127.0.0.1:{port}/"), what="httpd through the published port")
    assert body == f"hello-from-{cid[:12]}\n"
    inspect = json.loads(api.out("inspect", "web", cli=cli))[0]
    assert inspect["State"]["Running"] and "GREETING=hi" in inspect["Config"]["Env"]
    # exec: output, exit status, stdin, a command that does not exist
    done = api.docker("exec", "web", "sh", "-c", "echo out; echo err >&2; exit 3", cli=cli, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (3, b"out\n", b"err\n")
    assert api.out("exec", "-i", "web", "cat", input=b"through stdin\n", cli=cli) == "through stdin\n"
    assert api.docker("exec", "web", "nosuchcommand", cli=cli, check=False).returncode == 127
    top = api.out("top", "web", cli=cli)
    assert "httpd -f -p 80" in top
    stats = api.out("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "web", cli=cli)
    assert stats.split() == ["web", "1"]
    api.docker("stop", "-t", "2", "web", cli=cli)
    assert api.out("ps", "-a", "--filter", "name=web", "--format", "{{.Status}}", cli=cli).startswith("Exited (")
    api.docker("start", "web", cli=cli)
    api.docker("rm", "-f", "web", cli=cli)
    assert api.out("ps", "-aq", cli=cli) == ""


@pytest.mark.parametrize("cli", DOCKER_CLIS)
def test_run_attached_rm_and_logs(api, cli):
    done = api.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 5", cli=cli, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (5, b"out\n", b"err\n")
    assert api.out("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo end", input=b"in\n", cli=cli) == "in\nend\n"
    assert api.out("ps", "-aq", cli=cli) == ""  # --rm: gone when the command returns
    api.docker("run", "-d", "--name", "counter", "busybox", "sh", "-c",
               "for i in 1 2 3; do echo line $i; sleep 0.2; done; echo oops >&2", cli=cli)
    followed = api.docker("logs", "-f", "counter", cli=cli)  # returns when the container ends
    assert followed.stdout == b"line 1\nline 2\nline 3\n" and followed.stderr == b"oops\n"
    tail = api.docker("logs", "--tail", "2", "counter", cli=cli)  # the last two lines of both streams
    assert (tail.stdout, tail.stderr) == (b"line 3\n", b"oops\n")
    stamped = api.out("logs", "-t", "counter", cli=cli).splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line \d$", line) for line in stamped), stamped
    assert api.out("wait", "counter", cli=cli).strip() == "0"


@pytest.mark.parametrize("cli", DOCKER_CLIS)
def test_run_and_exec_with_a_terminal(api, cli):
    keys = [(b"# ", b"echo $((6*7)); stty size\r"), (b"42", b"exit 4\r")]
    out, code = run_in_pty([cli, "run", "-it", "--rm", "busybox", "sh"], api.env(), keys)
    assert code == 4 and b"42" in out and b"30 100" in out, out
    api.docker("run", "-d", "--name", "box", "busybox", "sleep", "300", cli=cli)
    out, code = run_in_pty([cli, "exec", "-it", "box", "sh"], api.env(), keys, rows=24, cols=80)
    assert code == 4 and b"24 80" in out, out


@pytest.mark.parametrize("cli", DOCKER_CLIS)
def test_system_df_and_tag(api, cli):
    api.docker("tag", "busybox", "localhost/tools/box:7", cli=cli)
    assert "localhost/tools/box:7" in api.out("images", "--format", "{{.Repository}}:{{.Tag}}", cli=cli).split()
    api.docker("run", "-d", "--name", "dfbox", "busybox", "sh", "-c", "head -c 3000000 /dev/zero > /big; sleep 300",
               cli=cli)
    wait_for(lambda: "3MB" in api.out("system", "df", "-v", cli=cli), what="the container's writable layer in df")
    df = api.out("system", "df", cli=cli)
    assert re.search(r"^Images\s+1\s+1\s", df, re.M) and re.search(r"^Containers\s+1\s+1\s", df, re.M), df
    api.docker("rm", "-f", "dfbox", cli=cli)
    api.docker("rmi", "localhost/tools/box:7", cli=cli)


@pytest.mark.parametrize("cli", DOCKER_CLIS)
def test_volumes_and_networks(api, cli):
    api.docker("volume", "create", "--label", "team=a", "data", cli=cli)
    assert "data" in api.out("volume", "ls", "--format", "{{.Name}}", cli=cli).split()
    assert json.loads(api.out("volume", "inspect", "data", cli=cli))[0]["Labels"] == {"team": "a"}
    api.docker("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f", cli=cli)
    assert api.out("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f", cli=cli) == "kept\n"
    api.docker("network", "create", "--subnet", "10.97.3.0/24", "appnet", cli=cli)
    api.docker("run", "-d", "--name", "db", "--network", "appnet", "--network-alias", "database", "busybox",
               "sleep", "300", cli=cli)
    looked_up = api.out("run", "--rm", "--network", "appnet", "busybox", "nslookup", "database", cli=cli)
    address = json.loads(api.out("inspect", "db", cli=cli))[0]["NetworkSettings"]["Networks"]["appnet"]["IPAddress"]
    assert address.startswith("10.97.3.") and f"Address: {address}" in looked_up
    api.docker("network", "create", "other", cli=cli)
    api.docker("network", "connect", "other", "db", cli=cli)
    networks = json.loads(api.out("inspect", "db", cli=cli))[0]["NetworkSettings"]["Networks"]
    assert set(networks) == {"appnet", "other"}
    api.docker("network", "disconnect", "other", "db", cli=cli)
    assert "other" in api.out("network", "ls", "--format", "{{.Name}}", cli=cli).split()
    rm = api.docker("network", "rm", "appnet", cli=cli, check=False)
    assert rm.returncode != 0 and b"active endpoints" in rm.stderr
    api.docker("rm", "-f", "db", cli=cli)
    api.docker("network", "rm", "appnet", "other", cli=cli)
    api.docker("volume", "rm", "data", cli=cli)
    assert "data" not in api.out("volume", "ls", "--format", "{{.Name}}", cli=cli).split()



def test_update_of_limits(api):
    api.docker("run", "-d", "--name", "limited", "-m", "64m", "busybox", "sleep", "300")
    api.docker("update", "-m", "96m", "--restart", "always", "limited")
    host = json.loads(api.out("inspect", "limited"))[0]["HostConfig"]
    assert host["Memory"] == 96 << 20 and host["RestartPolicy"]["Name"] == "always"
    failed = api.docker("update", "--memory", "1m", "limited", check=False)
    assert failed.returncode != 0 and b"minimum memory limit" in failed.stderr
    api.docker("rm", "-f", "limited")
