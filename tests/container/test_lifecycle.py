"""Container lifecycle through the CLI with real containers (runc + berth-monitor): exit codes, output
streams, logs, exec, identity (PID 1, hostname, env, user, workdir), the rootfs's upper dir, and
create/start/restart/rename/wait/ps/inspect/top/stats/pause."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import stat
import time

from container_helpers import (cgroup_dir, host_pid_alive, inspect, names, popen, read, state, wait_for)
from helpers import snapshot

LOOP = 'trap "exit 0" TERM; i=0; while true; do echo line$i; echo err$i >&2; i=$((i+1)); sleep 0.05; done'
IDLE = 'trap "exit 0" TERM; while true; do sleep 0.05; done'   # a PID 1 that stops at once on TERM
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) ")


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_run_rm_imports_no_regular_expressions_json_or_ctypes(busybox):
    """`re` (with `enum`, which `json` pulls in) is ~5 ms of start-up, `ctypes` ~1 ms: the path of
    `run` uses berth.cjson, berth.charsets and berth.libc instead. The modules loaded are read at
    the process's end."""
    import subprocess
    import sys
    code = ("import os, sys\n"
            "def report(code, _exit=os._exit):\n"
            "    print(sorted(m for m in ('re', 'json', 'enum', 'ctypes') if m in sys.modules), file=sys.stderr)\n"
            "    _exit(code)\n"
            "os._exit = report\n"
            "from berth.cli.main import main\n"
            "sys.argv[1:] = sys.argv[2:]\n"
            "main()\n")
    for args in (["run", "--rm", "--network", "none", "busybox", "true"],
                 ["run", "--rm", "--name", "n1", "-e", "A=1", "-m", "64m", "busybox", "true"]):
        proc = subprocess.run([sys.executable, "-c", code, "-", "--root", busybox.root, *args],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stderr.splitlines()[-1] == "[]", proc.stderr

def test_exit_codes_propagate_and_rm_removes(busybox):
    assert busybox.run("run", "--rm", "busybox", "sh", "-c", "exit 7", check=False).returncode == 7
    assert busybox.out("ps", "-aq") == ""
    assert os.listdir(os.path.join(busybox.root, "containers")) == []
    assert busybox.run("run", "--name", "ok", "busybox", "true").returncode == 0
    assert busybox.run("run", "--name", "nf", "busybox", "sh", "-c", "no-such-cmd",
                       check=False).returncode == 127
    assert busybox.run("run", "--name", "big", "busybox", "sh", "-c", "exit 255", check=False).returncode == 255
    assert {n: state(busybox, n)["ExitCode"] for n in ("ok", "nf", "big")} == {"ok": 0, "nf": 127, "big": 255}
    # a detached --rm container is removed by its monitor's cleanup once it exits
    cid = busybox.out("run", "-d", "--rm", "busybox", "sh", "-c", "exit 3").strip()
    wait_for(lambda: cid[:12] not in busybox.out("ps", "-aq")
             and not os.path.exists(os.path.join(busybox.root, "containers", cid)), what="--rm -d container removed")
    assert sorted(os.listdir(os.path.join(busybox.root, "containers"))) == sorted(
        inspect(busybox, n)["Id"] for n in ("ok", "nf", "big"))


def test_stdout_and_stderr_stay_separate(busybox):
    script = "echo out1; echo err1 >&2; echo out2; printf partial >&2"
    proc = busybox.run("run", "--name", "s", "busybox", "sh", "-c", script)
    assert proc.stdout == b"out1\nout2\n"
    assert proc.stderr == b"err1\npartial"
    logs = busybox.run("logs", "s")
    assert logs.stdout == b"out1\nout2\n"
    assert logs.stderr == b"err1\npartial"


def test_detached_logs_follow_tail_timestamps_and_stop(busybox):
    cid = busybox.out("run", "-d", "--name", "d", "busybox", "sh", "-c", LOOP).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    follower = popen(busybox, "logs", "-f", "d")
    wait_for(lambda: busybox.out("logs", "d").count("\n") >= 10, what="10 log lines")

    tail = busybox.run("logs", "--tail", "2", "d")
    lines = tail.stdout.decode().splitlines() + tail.stderr.decode().splitlines()
    assert len(lines) == 2, lines  # the last two lines of the combined log
    assert all(re.fullmatch(r"(line|err)\d+", x) for x in lines), lines
    assert busybox.run("logs", "--tail", "0", "d").stdout == b""

    stamped = busybox.run("logs", "-t", "d")
    out_lines = stamped.stdout.decode().splitlines()
    assert out_lines and all(TS.match(x) and re.search(r" line\d+$", x) for x in out_lines), out_lines[:3]
    assert all(TS.match(x) and re.search(r" err\d+$", x) for x in stamped.stderr.decode().splitlines())
    first = _time(re.sub(r"(\.\d{6})\d+", r"\1", out_lines[0].split(" ")[0]))
    assert abs((first - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 60

    started = time.monotonic()
    assert busybox.out("stop", "d") == "d\n"
    assert time.monotonic() - started < 5  # the TERM trap ends it: no 10 s kill timeout
    out, err = follower.communicate(timeout=10)  # follow ends when the container stops
    assert follower.returncode == 0, err
    final = busybox.run("logs", "d")
    assert out == final.stdout and err == final.stderr
    numbers = [int(x[4:]) for x in out.decode().splitlines()]
    assert numbers == list(range(len(numbers))) and len(numbers) >= 10
    assert state(busybox, "d")["Status"] == "exited" and state(busybox, "d")["ExitCode"] == 0


def test_exec_exit_code_user_workdir_env_stdin(busybox):
    busybox.run("run", "-d", "--name", "e", "-e", "FROM_RUN=1", "busybox", "sh", "-c", IDLE)
    assert busybox.run("exec", "e", "sh", "-c", "exit 3", check=False).returncode == 3
    assert busybox.run("exec", "e", "/no/such/binary", check=False).returncode == 127
    assert busybox.out("exec", "e", "id") == "uid=0(root) gid=0(root) groups=0(root)\n"
    assert busybox.out("exec", "-u", "nobody", "e", "id") == \
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
    assert busybox.out("exec", "-u", "1000:1000", "e", "id") == "uid=1000 gid=1000 groups=1000\n"
    # supplementary groups come from the container's own /etc/group, as for the main process
    busybox.run("exec", "e", "sh", "-c", "echo 'staff:x:50:nobody' >> /etc/group")
    assert busybox.out("exec", "-u", "nobody", "e", "id", "-G") == "65534 50\n"
    assert busybox.out("exec", "-w", "/tmp", "e", "pwd") == "/tmp\n"
    assert busybox.out("exec", "-e", "FOO=bar", "e", "sh", "-c", "echo $FOO $FROM_RUN") == "bar 1\n"
    assert busybox.out("exec", "e", "sh", "-c", "echo $$").strip() != "1"  # a new process, not PID 1
    assert busybox.out("exec", "-i", "e", "cat", input=b"piped\n") == "piped\n"
    assert busybox.out("exec", "e", "cat", input=b"not passed without -i") == ""
    # the exec'd process runs in the container's namespaces and cgroup
    pid = state(busybox, "e")["Pid"]
    assert busybox.out("exec", "e", "readlink", "/proc/self/ns/pid") == \
        os.readlink(f"/proc/{pid}/ns/pid") + "\n"
    busybox.run("stop", "e")
    err = busybox.run("exec", "e", "true", check=False)
    assert err.returncode != 0 and b"not running" in err.stderr


def test_pid1_is_the_container_process_and_hostname(busybox):
    script = "echo $$; hostname; cat /etc/hostname; echo $HOSTNAME; tr '\\0' ' ' < /proc/1/cmdline; echo"
    out = busybox.out("run", "--name", "h", "busybox", "sh", "-c", script)
    cid = inspect(busybox, "h")["Id"]
    assert out.splitlines() == ["1", cid[:12], cid[:12], cid[:12], f"sh -c {script} "]
    assert inspect(busybox, "h")["Config"]["Hostname"] == cid[:12]
    out = busybox.out("run", "--rm", "--hostname", "web.example", "busybox", "sh", "-c",
                      "hostname; cat /etc/hostname; echo $HOSTNAME; grep web /etc/hosts")
    assert out.splitlines()[:3] == ["web.example"] * 3 and "web.example" in out.splitlines()[3]

    # seen from the host: the recorded Pid is the container's PID 1, in its own pid namespace
    busybox.run("run", "-d", "--name", "p", "busybox", "sleep", "300")
    pid = state(busybox, "p")["Pid"]
    assert pid > 1 and host_pid_alive(pid)
    assert read(f"/proc/{pid}/cmdline") == "sleep\x00300\x00"
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert read(f"/proc/{pid}/status").split("NSpid:")[1].splitlines()[0].split()[-1] == "1"


def test_env_env_file_workdir_user_entrypoint(busybox, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\n\nFROM_FILE=1\nSHARED=file\nSPACED=two words\n")
    out = busybox.out("run", "--rm", "--env-file", env_file, "-e", "SHARED=flag", "-e", "PASSED", "-e", "UNSET_VAR",
                      "busybox", "env", env={"PASSED": "from host", "UNSET_VAR": ""})
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env["FROM_FILE"] == "1" and env["SHARED"] == "flag" and env["SPACED"] == "two words"
    assert env["PASSED"] == "from host" and env["HOME"] == "/root" and env["PATH"].startswith("/usr/local/sbin")
    assert "a comment" not in out

    assert busybox.out("run", "--rm", "-w", "/made/for/me", "busybox", "pwd") == "/made/for/me\n"
    assert busybox.out("run", "--rm", "-u", "nobody", "busybox", "sh", "-c", "id; echo $HOME") == \
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n/home\n"
    assert busybox.out("run", "--rm", "-u", "1000:1000", "busybox", "id") == "uid=1000 gid=1000 groups=1000\n"
    assert busybox.out("run", "--rm", "-u", "nobody:root", "busybox", "id") == \
        "uid=65534(nobody) gid=0(root) groups=0(root)\n"
    assert busybox.out("run", "--rm", "--entrypoint", "/bin/echo", "busybox", "a", "b") == "a b\n"
    assert "HOSTNAME=" in busybox.out("run", "--rm", "--entrypoint", "env", "busybox")
    err = busybox.run("run", "--rm", "-u", "nosuchuser", "busybox", "true", check=False)
    assert err.returncode != 0 and b"nosuchuser" in err.stderr


def test_users_from_the_images_own_passwd(debian):
    assert debian.out("run", "--rm", "-u", "daemon", "debian:bookworm", "sh", "-c", "id; echo $HOME") == \
        "uid=1(daemon) gid=1(daemon) groups=1(daemon)\n/usr/sbin\n"
    assert debian.out("run", "--rm", "-u", "www-data:daemon", "debian:bookworm", "id") == \
        "uid=33(www-data) gid=1(daemon) groups=1(daemon)\n"
    assert debian.out("run", "--rm", "-u", "33", "debian:bookworm", "id") == \
        "uid=33(www-data) gid=33(www-data) groups=33(www-data)\n"
    # the container's /etc/passwd, not the host's: a user that only the container knows
    debian.run("run", "-d", "--name", "d", "debian:bookworm", "sh", "-c",
               "useradd -u 4321 -m onlyhere && exec sleep 300")
    wait_for(lambda: debian.run("exec", "-u", "onlyhere", "d", "true", check=False).returncode == 0,
             what="useradd inside the container")
    assert debian.out("exec", "-u", "onlyhere", "d", "id", "-u") == "4321\n"
    assert debian.out("exec", "d", "bash", "-c", "echo $BASH_VERSION").startswith("5.")


def test_writes_go_to_the_upper_dir_only(busybox):
    layers = os.path.join(busybox.root, "layers")
    before = snapshot(layers)
    busybox.run("run", "--name", "w", "busybox", "sh", "-c",
                "echo new > /etc/newfile && echo extra >> /etc/passwd && rm /etc/group && mkdir /newdir")
    assert snapshot(layers) == before
    upper = inspect(busybox, "w")["GraphDriver"]["Data"]["UpperDir"]
    assert open(os.path.join(upper, "etc/newfile")).read() == "new\n"
    assert open(os.path.join(upper, "etc/passwd")).read().endswith("extra\n")
    whiteout = os.lstat(os.path.join(upper, "etc/group"))
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert os.path.isdir(os.path.join(upper, "newdir"))
    # a second container from the same image sees the image, not the first one's changes
    assert busybox.out("run", "--rm", "busybox", "sh", "-c",
                       "ls /etc/newfile /newdir 2>/dev/null; grep -c extra /etc/passwd; cat /etc/group") == \
        "0\nroot:x:0:\nnogroup:x:65534:\n"
    assert snapshot(layers) == before


def test_create_then_start_attached(busybox):
    cid = busybox.out("create", "--name", "c", "busybox", "sh", "-c", "echo hello; echo oops >&2; exit 4").strip()
    assert names(busybox) == [] and names(busybox, "-a") == ["c"]
    assert state(busybox, "c")["Status"] == "created"
    assert busybox.jsonlines("ps", "-a", "--format", "json")[0]["Status"] == "Created"
    proc = busybox.run("start", "-a", "c", check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (4, b"hello\n", b"oops\n")
    st = state(busybox, "c")
    assert st["Status"] == "exited" and st["ExitCode"] == 4
    proc = busybox.run("start", "-a", cid[:8], check=False)  # again, by ID prefix
    assert (proc.returncode, proc.stdout) == (4, b"hello\n")
    assert busybox.out("logs", "c") == "hello\nhello\n"


def test_restart_rename_and_wait(busybox, tmp_path):
    busybox.run("run", "-d", "--name", "r", "busybox", "sh", "-c", IDLE)
    first = state(busybox, "r")
    assert busybox.out("restart", "-t", "3", "r") == "r\n"
    second = state(busybox, "r")
    assert second["Status"] == "running" and second["Pid"] != first["Pid"] and host_pid_alive(second["Pid"])
    assert not host_pid_alive(first["Pid"])
    assert _time(second["StartedAt"]) > _time(first["StartedAt"])
    assert inspect(busybox, "r")["RestartCount"] == 0  # a user's restart is not a policy restart

    busybox.run("rename", "r", "r2")
    assert inspect(busybox, "r2")["Name"] == "/r2" and names(busybox) == ["r2"]
    assert busybox.run("inspect", "r", check=False).returncode != 0

    # wait blocks until the container exits: these two exit when the test says so
    gate = tmp_path / "gate"
    gate.mkdir()
    until_go = "while [ ! -e /g/go ]; do sleep 0.02; done; exit $CODE"
    busybox.run("run", "-d", "--name", "w", "-v", f"{gate}:/g", "-e", "CODE=3", "busybox", "sh", "-c", until_go)
    rm_id = busybox.out("run", "-d", "--rm", "-v", f"{gate}:/g", "-e", "CODE=6", "busybox", "sh", "-c",
                        until_go).strip()
    err = busybox.run("rename", "r2", "w", check=False)
    assert err.returncode != 0 and b"already in use" in err.stderr
    waiters = [popen(busybox, "wait", "w"), popen(busybox, "wait", rm_id)]
    wait_for(lambda: all(_waiting(busybox, cid) for cid in (inspect(busybox, "w")["Id"], rm_id)), what="waiters")
    assert [w.poll() for w in waiters] == [None, None]
    (gate / "go").write_text("")
    assert [w.communicate(timeout=20)[0] for w in waiters] == [b"3\n", b"6\n"]
    assert busybox.out("wait", "w") == "3\n"  # an exited container answers at once
    # the --rm one was removed by its monitor's cleanup; wait still told its exit code
    wait_for(lambda: rm_id[:12] not in busybox.out("ps", "-aq"), what="--rm container removed")


def _waiting(berth, cid: str) -> bool:
    """A `wait` on the container has found it and registered itself (its lock file is there)."""
    return os.path.exists(os.path.join(berth.root, "locks", f"wait-{cid[:32]}"))


def test_wait_tells_the_exit_code_of_auto_removed_containers(busybox, tmp_path):
    """50 `run -d --rm ... exit N` + `wait` pairs, 10 at a time: each waiter prints N, though the
    container's cleanup removes it right after it exits, before or while the waiter looks."""
    gate_root = tmp_path / "gates"
    for batch in range(5):
        gate = gate_root / str(batch)
        gate.mkdir(parents=True)
        codes = [batch * 10 + i + 1 for i in range(10)]
        ids = [busybox.out("run", "-d", "--rm", "-v", f"{gate}:/g", "busybox", "sh", "-c",
                           f"while [ ! -e /g/go ]; do sleep 0.01; done; exit {n}").strip() for n in codes]
        waiters = [popen(busybox, "wait", cid) for cid in ids]
        wait_for(lambda: all(_waiting(busybox, cid) for cid in ids), what="every waiter registered")
        (gate / "go").write_text("")
        answers = [w.communicate(timeout=30) for w in waiters]
        assert [out for out, _ in answers] == [f"{n}\n".encode() for n in codes], [err for _, err in answers]
        wait_for(lambda: busybox.out("ps", "-aq") == "", what="the --rm containers removed")
    # a wait that starts after the removal finds no container, as docker's
    err = busybox.run("wait", ids[0], check=False)
    assert err.returncode == 1 and b"No such container" in err.stderr


def test_ps_all_quiet_and_json(busybox):
    up = busybox.out("run", "-d", "--name", "up", "busybox", "sleep", "300").strip()
    busybox.run("run", "--name", "down", "busybox", "true")
    assert busybox.out("ps", "-q") == up[:12] + "\n"
    assert busybox.out("ps", "-q", "--no-trunc") == up + "\n"
    assert sorted(busybox.out("ps", "-aq").split()) == sorted([up[:12], inspect(busybox, "down")["Id"][:12]])
    rows = {r["Names"]: r for r in busybox.jsonlines("ps", "-a", "--format", "json")}
    assert set(rows) == {"up", "down"}
    assert rows["up"]["State"] == "running" and rows["up"]["Status"].startswith("Up ")
    assert rows["up"]["ID"] == up[:12] and rows["up"]["Image"] == "busybox"
    assert rows["down"]["State"] == "exited" and rows["down"]["Status"].startswith("Exited (0) ")
    table = busybox.out("ps").splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert len(table) == 2 and table[1].endswith("up")
    assert busybox.out("ps", "--format", "{{.Names}}:{{.State}}") == "up:running\n"


def test_inspect_state_and_mounts(busybox, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    before = time.time()
    busybox.run("run", "-d", "--name", "i", "-v", "vol:/data", "-v", f"{host}:/h:ro", "--tmpfs", "/scratch",
                "busybox", "sh", "-c", 'trap "exit 5" TERM; while true; do sleep 0.05; done')
    doc = inspect(busybox, "i")
    st = doc["State"]
    assert st["Status"] == "running" and st["Running"] is True and st["Paused"] is False
    assert st["OOMKilled"] is False and st["ExitCode"] == 0 and st["Error"] == ""
    assert host_pid_alive(st["Pid"]) and st["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert before - 1 < _time(st["StartedAt"]).timestamp() < time.time() + 1
    mounts = {m["Destination"]: m for m in doc["Mounts"]}
    assert set(mounts) == {"/data", "/h", "/scratch"}
    vol = busybox.json("volume", "inspect", "vol")[0]
    assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == "vol"
    assert mounts["/data"]["Source"] == vol["Mountpoint"] and mounts["/data"]["RW"] is True
    assert mounts["/h"]["Type"] == "bind" and mounts["/h"]["Source"] == str(host) and mounts["/h"]["RW"] is False
    assert mounts["/scratch"]["Type"] == "tmpfs"
    assert doc["Name"] == "/i" and doc["Path"] == "sh" and doc["Config"]["Image"] == "busybox"

    busybox.run("stop", "i")
    st = state(busybox, "i")
    assert st["Status"] == "exited" and st["Running"] is False and st["ExitCode"] == 5 and st["Pid"] == 0
    assert st["OOMKilled"] is False
    assert _time(st["StartedAt"]) <= _time(st["FinishedAt"]) <= dt.datetime.now(dt.timezone.utc)
    assert busybox.out("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "i") == "exited 5\n"


def test_top_and_stats(busybox):
    busybox.run("run", "-d", "--name", "t", "--memory", "64m", "busybox", "sh", "-c", "sleep 301 & sleep 302")
    pid = state(busybox, "t")["Pid"]
    lines = busybox.out("top", "t").splitlines()
    assert lines[0].split()[:2] == ["UID", "PID"] and lines[0].split()[-1] == "CMD"
    rows = [line.split(None, 7) for line in lines[1:]]
    assert any(r[1] == str(pid) for r in rows)
    assert sorted(r[7] for r in rows if r[7].startswith("sleep")) == ["sleep 301", "sleep 302"]

    stats = busybox.jsonlines("stats", "--no-stream", "--format", "json", "t")
    assert len(stats) == 1 and stats[0]["Name"] == "t" and stats[0]["PIDs"] == "2"
    used, limit = stats[0]["MemUsage"].split(" / ")
    assert limit == "64MiB" and used != "0B"
    table = busybox.out("stats", "--no-stream").splitlines()
    assert table[0].startswith("CONTAINER ID") and "t" in table[1].split()


def test_pause_and_unpause_freeze_the_processes(busybox, tmp_path):
    tick = tmp_path / "tick"
    tick.mkdir()
    busybox.run("run", "-d", "--name", "p", "-v", f"{tick}:/t", "busybox", "sh", "-c",
                "i=0; while true; do i=$((i+1)); echo $i > /t/n.tmp; mv /t/n.tmp /t/n; sleep 0.02; done")
    cid = inspect(busybox, "p")["Id"]
    counter = tick / "n"
    wait_for(lambda: counter.exists() and int(counter.read_text() or 0) > 3, what="counter")
    assert busybox.out("pause", "p") == "p\n"
    assert state(busybox, "p")["Status"] == "paused" and state(busybox, "p")["Paused"] is True
    assert read(os.path.join(cgroup_dir("freezer", cid), "freezer.state")).strip() == "FROZEN"
    assert busybox.jsonlines("ps", "--format", "json")[0]["Status"].endswith("(Paused)")
    frozen = counter.read_text()
    time.sleep(0.4)
    assert counter.read_text() == frozen
    assert busybox.run("pause", "p", check=False).returncode != 0
    busybox.run("unpause", "p")
    assert state(busybox, "p")["Status"] == "running"
    wait_for(lambda: counter.read_text() not in ("", frozen), what="counter moving again")
    assert busybox.run("unpause", "p", check=False).returncode != 0


def test_stdin_is_piped_with_i_only(busybox):
    assert busybox.run("run", "-i", "--rm", "busybox", "cat", input=b"hi\n").stdout == b"hi\n"
    proc = busybox.run("run", "-i", "--rm", "busybox", "sh", "-c", "read x; echo got:$x; exit 3",
                       input=b"abc\n", check=False)
    assert (proc.returncode, proc.stdout) == (3, b"got:abc\n")
    data = os.urandom(1 << 20)
    assert busybox.out("run", "-i", "--rm", "busybox", "md5sum", input=data).split()[0] == \
        hashlib.md5(data).hexdigest()
    assert busybox.run("run", "--rm", "busybox", "cat", input=b"not without -i").stdout == b""
    assert busybox.out("ps", "-aq") == ""
