"""Where berth answers as docker does, through the CLI with real containers: prune prompts, exit
codes of run/create/exec, rm -f, volume create/inspect, logs --tail/-t/--since/--until, stop
--timeout, ps -n/-l/--filter, volume ls --filter, inspect's HostConfig, the swap limit, tmpfs
options, supplementary groups, --env-file, top and stats. The docker behaviour each test copies was
read from a docker engine, and from docker's sources where the two differ."""
from __future__ import annotations

import re
import time

from container_helpers import cgroup_dir, inspect, read, state

PRUNE_CONTAINERS = b"WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "


def _fails(berth, code: int, *args, says: str = "") -> str:
    """The command exits `code` with one `Error: ...` line on stderr; returns that line."""
    proc = berth.run(*args, check=False)
    err = proc.stderr.decode(errors="replace")
    shown = f"berth {' '.join(map(str, args))} -> {proc.returncode}: {err!r}"
    assert proc.returncode == code, shown
    assert err.startswith("Error: ") and err.count("\n") == 1, shown
    assert says.lower() in err.lower(), shown
    return err


def _names(berth, *flags) -> list[str]:
    return berth.out("ps", "--format", "{{.Names}}", *flags).split()


# ---- 1. prune asks first -----------------------------------------------------------------------

def test_prunes_ask_before_they_delete(busybox):
    busybox.run("create", "--name", "stopped", "busybox", "true")
    busybox.run("volume", "create", "keep")
    for answer in (b"n\n", b"\n", b"", b"yes\n"):  # no, an empty line, no answer (EOF); docker takes only y
        proc = busybox.run("container", "prune", input=answer)
        assert (proc.returncode, proc.stdout) == (0, PRUNE_CONTAINERS)
        proc = busybox.run("volume", "prune", "-a", input=answer)
        assert proc.stdout == (b"WARNING! This will remove all local volumes not used by at least one container.\n"
                               b"Are you sure you want to continue? [y/N] ")
    assert _names(busybox, "-a") == ["stopped"] and busybox.out("volume", "ls", "-q") == "keep\n"
    assert b"anonymous local volumes" in busybox.run("volume", "prune", input=b"n\n").stdout
    proc = busybox.run("image", "prune", "-a", input=b"n\n")
    assert proc.stdout.endswith(b"[y/N] ") and busybox.out("images", "-q") != ""

    out = busybox.run("container", "prune", input=b"y\n").stdout
    assert out.startswith(PRUNE_CONTAINERS + b"Deleted Containers:\n") and _names(busybox, "-a") == []
    assert b"Deleted Volumes:\nkeep\n" in busybox.run("volume", "prune", "-a", input=b"y\n").stdout
    # -f: no question, whatever stdin holds
    busybox.run("create", "--name", "stopped2", "busybox", "true")
    out = busybox.run("container", "prune", "-f", input=b"n\n").stdout.decode()
    assert out.startswith("Deleted Containers:\n") and _names(busybox, "-a") == []


# ---- 2. exit codes of run and create -------------------------------------------------------------

def test_run_and_create_exit_codes_are_dockers(busybox, tmp_path):
    busybox.run("create", "--name", "taken", "busybox", "true")
    # docker's: `run` exits 125 for any error of its own; `create` 125 for what its client finds in
    # the flags, 1 for what the engine refuses
    cases = [
        (("nosuch:latest",), 1, "no such image"),
        (("--memory", "abc", "busybox"), 125, "memory"),
        (("--restart", "bogus", "busybox"), 1, "restart policy"),
        (("-p", "99999", "busybox"), 125, "publish"),
        (("--cap-add", "BOGUS", "busybox"), 1, "capability"),
        (("--rm", "--restart", "always", "busybox"), 125, "conflicting"),
        (("-v", ":/x", "busybox"), 125, "volume"),
        (("--env-file", tmp_path / "missing", "busybox"), 125, "env file"),
        (("-w", "relative", "busybox"), 1, "working directory"),
        (("--name", "-bad", "busybox"), 1, "invalid container name"),
        (("--name", "taken", "busybox"), 1, "already in use"),
        (("--memory", "64m", "--memory-swap", "32m", "busybox"), 1, "memoryswap limit should be larger"),
    ]
    for args, create_code, says in cases:
        _fails(busybox, 125, "run", *args, "true", says=says)
        _fails(busybox, create_code, "create", *args, "true", says=says)
    # found only when it starts: docker's run still says 125, a start 1
    _fails(busybox, 125, "run", "-u", "nosuchuser", "busybox", "true", says="nosuchuser")
    busybox.run("create", "--name", "nouser", "-u", "nosuchuser", "busybox", "true")
    _fails(busybox, 1, "start", "nouser", says="nosuchuser")
    _fails(busybox, 1, "start", "nosuch", says="no such container")
    # the command itself: 126 cannot be run, 127 not found, else its own code
    assert busybox.run("run", "--rm", "busybox", "/etc", check=False).returncode == 126
    assert busybox.run("run", "--rm", "busybox", "nosuchcmd", check=False).returncode == 127
    assert busybox.run("run", "--rm", "busybox", "sh", "-c", "exit 125", check=False).returncode == 125
    assert sorted(_names(busybox, "-a")) == ["nouser", "taken"]


# ---- 3. exec exit codes ------------------------------------------------------------------------------

def test_exec_exit_codes(busybox):
    busybox.run("run", "-d", "--name", "e", "busybox", "sleep", "300")
    _fails(busybox, 126, "exec", "-u", "nosuchuser", "e", "true", says="nosuchuser")
    # docker 28's engine (moby #48552) tells the runtime's errors apart: not found 127 (a missing
    # command, and a missing -w directory), cannot be run 126; engines before it said 126 for all
    assert busybox.run("exec", "e", "nosuchcmd", check=False).returncode == 127
    assert busybox.run("exec", "-w", "/nonexist", "e", "true", check=False).returncode == 127
    assert busybox.run("exec", "e", "/etc", check=False).returncode == 126
    assert busybox.run("exec", "e", "sh", "-c", "exit 3", check=False).returncode == 3
    _fails(busybox, 1, "exec", "nosuch", "true", says="no such container")


# ---- 4. rm -f of what is not there ---------------------------------------------------------------------

def test_forced_rm_of_a_missing_container_says_nothing(busybox):
    busybox.run("create", "--name", "c", "busybox", "true")
    proc = busybox.run("rm", "-f", "nosuch", "c")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"c\n", b"")
    _fails(busybox, 1, "rm", "nosuch", says="no such container")


# ---- 5. volume create and inspect ------------------------------------------------------------------------

def test_volume_create_again_and_inspect_of_missing_ones(busybox):
    assert busybox.out("volume", "create", "good") == "good\n"
    assert busybox.out("volume", "create", "good") == "good\n"  # docker: no error, the same volume
    proc = busybox.run("volume", "inspect", "nosuch", check=False)
    assert (proc.returncode, proc.stdout) == (1, b"[]\n") and proc.stderr.startswith(b"Error: ")
    proc = busybox.run("volume", "inspect", "-f", "{{.Name}}", "good", "nosuch", check=False)
    assert (proc.returncode, proc.stdout) == (1, b"good\n") and b"nosuch" in proc.stderr
    proc = busybox.run("volume", "inspect", "good", "nosuch", check=False)
    assert proc.returncode == 1 and [d["Name"] for d in __import__("json").loads(proc.stdout)] == ["good"]


# ---- 6. logs ------------------------------------------------------------------------------------------------

def _logs(berth, *args) -> tuple[str, str]:
    proc = berth.run("logs", *args)
    return proc.stdout.decode(), proc.stderr.decode()


def test_logs_tail_counts_lines_of_both_streams(busybox):
    busybox.run("run", "--name", "lg", "busybox", "sh", "-c",
                "echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; printf nonl")
    # a trailing partial line is a line (docker: tail 1 is `nonl`)
    assert _logs(busybox, "--tail", "0", "lg") == ("", "")
    assert _logs(busybox, "-n", "1", "lg") == ("nonl", "")
    assert _logs(busybox, "--tail", "2", "lg") == ("nonl", "err1\n")
    assert _logs(busybox, "--tail", "3", "lg") == ("out1\nnonl", "err1\n")
    # a line written in parts is one line, even with the other stream in between
    busybox.run("run", "--name", "parts", "busybox", "sh", "-c",
                "printf a; sleep 0.1; echo x >&2; sleep 0.1; echo b")
    assert _logs(busybox, "--tail", "1", "parts") == ("ab\n", "")
    assert _logs(busybox, "--tail", "2", "parts") == ("ab\n", "x\n")


def test_logs_timestamps_since_and_until(busybox):
    busybox.run("run", "--name", "lg", "busybox", "sh", "-c", "echo one; sleep 1.1; echo two; sleep 1.1; echo three")
    lines = _logs(busybox, "-t", "lg")[0].splitlines()
    # RFC3339Nano in UTC, as docker: a Z, no trailing zeros in the fraction
    assert len(lines) == 3 and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z \w+", x)
                                   for x in lines), lines
    stamps = [x.split()[0] for x in lines]
    assert _logs(busybox, "--since", stamps[1], "lg")[0] == "two\nthree\n"
    assert _logs(busybox, "--until", stamps[1], "lg")[0] == "one\ntwo\n"
    assert _logs(busybox, "--since", stamps[1], "--until", stamps[1], "lg")[0] == "two\n"
    assert _logs(busybox, "--since", "10m", "lg")[0] == "one\ntwo\nthree\n"
    assert _logs(busybox, "--until", "1h30m", "lg")[0] == ""
    assert _logs(busybox, "--since", str(int(time.time()) + 60), "lg")[0] == ""
    assert _logs(busybox, "--since", "0", "--tail", "1", "lg")[0] == "three\n"
    _fails(busybox, 1, "logs", "--since", "soon", "lg", says="since")


# ---- 7. stop --timeout, ps -n/-l/--filter, volume ls --filter ----------------------------------------------

def test_stop_and_restart_take_timeout(busybox):
    busybox.run("run", "-d", "--name", "s", "busybox", "sleep", "300")  # sleep ignores TERM as PID 1
    started = time.monotonic()
    assert busybox.out("restart", "--timeout", "1", "s") == "s\n"
    assert busybox.out("stop", "--timeout", "1", "s") == "s\n"
    assert time.monotonic() - started < 8
    assert busybox.out("stop", "--time", "0", "s") == "s\n"


def test_ps_last_latest_and_filters(busybox):
    busybox.run("run", "--name", "three", "-l", "app=web", "-l", "tier=1", "-v", "data:/data", "busybox",
                "sh", "-c", "exit 3", check=False)
    busybox.run("run", "-d", "--name", "up", "-l", "app=db", "busybox", "sleep", "300")
    busybox.run("run", "--name", "zero", "busybox", "true")
    busybox.run("create", "--name", "new", "busybox", "true")
    assert _names(busybox, "-n", "2") == ["new", "zero"]  # newest first, whatever their state
    assert _names(busybox, "-l") == ["new"]
    cases = {
        ("status=exited",): ["zero", "three"],  # a status lists stopped ones without -a
        ("status=exited", "status=created"): ["new", "zero", "three"],
        ("status=running",): ["up"],
        ("exited=3",): [],
        ("exited=3", "-a"): ["three"],
        ("exited=0", "-a"): ["zero"],  # never started: not exited with 0
        ("name=e", "-a"): ["new", "zero", "three"],
        ("name=^/?up$", "-a"): ["up"],
        ("label=app", "-a"): ["up", "three"],
        ("label=app=web", "-a"): ["three"],
        ("label=app=web", "label=tier=1", "-a"): ["three"],  # every label must hold
        ("label=app=web", "label=tier=2", "-a"): [],
        ("ancestor=busybox", "-a"): ["new", "zero", "up", "three"],
        ("ancestor=busybox:latest", "status=running"): ["up"],  # different keys: all must hold
        ("ancestor=nosuch", "-a"): [],
        ("volume=data", "-a"): ["three"],
        ("volume=/data", "-a"): ["three"],
        ("id=" + inspect(busybox, "up")["Id"][:10],): ["up"],
    }
    for spec, expected in cases.items():
        args = [a if a == "-a" else f"--filter={a}" for a in spec]
        assert _names(busybox, *args) == expected, spec
    _fails(busybox, 1, "ps", "--filter", "colour=red", says="invalid filter")
    _fails(busybox, 1, "ps", "--filter", "status=sleepy", says="invalid filter")
    _fails(busybox, 125, "ps", "-f", "nokey", says="bad format of filter")


def test_volume_ls_filters(busybox):
    busybox.run("volume", "create", "--label", "team=a", "va")
    busybox.run("volume", "create", "vb")
    busybox.run("run", "-d", "--name", "u", "-v", "vb:/b", "busybox", "sleep", "300")

    def ls(*filters):
        return busybox.out("volume", "ls", "-q", *[f"--filter={f}" for f in filters]).split()
    assert ls("name=a") == ["va"] and ls("name=^v") == ["va", "vb"]
    assert ls("dangling=true") == ["va"] and ls("dangling=false") == ["vb"]
    assert ls("label=team") == ["va"] and ls("label=team=a") == ["va"] and ls("label=team=b") == []
    assert ls("name=v", "dangling=true") == ["va"]
    _fails(busybox, 1, "volume", "ls", "--filter", "colour=red", says="invalid filter")


# ---- 8. inspect and the swap limit ---------------------------------------------------------------------------

def test_inspect_reports_caps_tmpfs_and_dockers_swap(busybox):
    cid = busybox.out("run", "-d", "--name", "i", "--memory", "64m", "--cap-add", "net_admin", "--cap-add",
                      "CAP_SYS_TIME", "--cap-drop", "MKNOD", "--tmpfs", "/x", "--tmpfs", "/y:size=1m",
                      "busybox", "sleep", "300").strip()
    host = inspect(busybox, "i")["HostConfig"]
    assert (host["CapAdd"], host["CapDrop"]) == (["CAP_NET_ADMIN", "CAP_SYS_TIME"], ["CAP_MKNOD"])
    assert host["Tmpfs"] == {"/x": "", "/y": "size=1m"}
    # no --memory-swap: memory+swap is twice the memory (as much swap as memory), in the cgroup too
    assert (host["Memory"], host["MemorySwap"]) == (64 << 20, 128 << 20)
    assert int(read(f"{cgroup_dir('memory', cid)}/memory.memsw.limit_in_bytes")) == 128 << 20

    cid = busybox.out("run", "-d", "--name", "unlimited", "--memory", "64m", "--memory-swap", "-1",
                      "busybox", "sleep", "300").strip()
    assert inspect(busybox, "unlimited")["HostConfig"]["MemorySwap"] == -1
    assert int(read(f"{cgroup_dir('memory', cid)}/memory.memsw.limit_in_bytes")) > 1 << 60
    cid = busybox.out("run", "-d", "--name", "noswap", "--memory", "64m", "--memory-swap", "64m",
                      "busybox", "sleep", "300").strip()
    assert int(read(f"{cgroup_dir('memory', cid)}/memory.memsw.limit_in_bytes")) == 64 << 20
    plain = inspect(busybox, "noswap")["HostConfig"]
    assert plain["MemorySwap"] == 64 << 20
    _fails(busybox, 125, "run", "--memory", "64m", "--memory-swap", "32m", "busybox", "true",
           says="Minimum memoryswap limit should be larger than memory limit")
    _fails(busybox, 125, "run", "--memory-swap", "64m", "busybox", "true", says="always set the Memory limit")
    busybox.run("create", "--name", "none", "busybox", "true")
    host = inspect(busybox, "none")["HostConfig"]
    assert (host["CapAdd"], host["CapDrop"], host["Tmpfs"], host["MemorySwap"]) == (None, None, None, 0)


# ---- 9. tmpfs options, groups, env files ---------------------------------------------------------------------

def _mount_options(berth, *args) -> list[str]:
    out = berth.out("run", "--rm", *args, "busybox", "awk", '$2 == "/x" {print $4}', "/proc/mounts")
    return out.strip().split(",")


def test_tmpfs_is_noexec_nosuid_nodev_unless_told(busybox):
    opts = _mount_options(busybox, "--tmpfs", "/x")
    assert {"noexec", "nosuid", "nodev"} <= set(opts) and not any(o.startswith("size=") for o in opts)
    opts = _mount_options(busybox, "--mount", "type=tmpfs,dst=/x")
    assert {"noexec", "nosuid", "nodev"} <= set(opts)
    opts = _mount_options(busybox, "--tmpfs", "/x:exec,size=1m")
    assert "noexec" not in opts and {"nosuid", "nodev", "size=1024k"} <= set(opts)
    assert busybox.run("run", "--rm", "--tmpfs", "/x", "busybox", "sh", "-c",
                       "cp /bin/busybox /x/ && /x/busybox true", check=False).returncode == 126
    assert busybox.out("run", "--rm", "--tmpfs", "/x:exec", "busybox", "sh", "-c",
                       "cp /bin/busybox /x/ && /x/busybox echo ran") == "ran\n"


def test_supplementary_groups_come_from_the_containers_group_file(busybox):
    assert busybox.out("run", "--rm", "busybox", "id") == "uid=0(root) gid=0(root) groups=0(root)\n"
    # the group file as a container changed it counts from its next start (docker reads it at each)
    script = "grep -q wheel /etc/group || echo wheel:x:10:root >> /etc/group; echo staff:x:50:nobody >> /etc/group; id"
    assert busybox.out("run", "--name", "g", "busybox", "sh", "-c", script) == \
        "uid=0(root) gid=0(root) groups=0(root)\n"
    assert busybox.out("start", "-a", "g") == "uid=0(root) gid=0(root) groups=0(root),10(wheel)\n"
    busybox.run("run", "-d", "--name", "e", "busybox", "sleep", "300")
    busybox.run("exec", "e", "sh", "-c", "echo staff:x:50:nobody >> /etc/group")
    # exec -u: exactly that user's groups, none of the container's own (root's 0)
    assert busybox.out("exec", "-u", "nobody", "e", "id") == \
        "uid=65534(nobody) gid=65534(nogroup) groups=50(staff),65534(nogroup)\n"
    assert busybox.out("exec", "-u", "nobody:root", "e", "id") == "uid=65534(nobody) gid=0(root) groups=0(root)\n"
    assert busybox.out("exec", "-u", "1000", "e", "id") == "uid=1000 gid=0(root) groups=0(root)\n"
    assert busybox.out("exec", "-u", "nobody", "-w", "/tmp", "-e", "X=1", "e", "sh", "-c", "pwd; echo $X") == \
        "/tmp\n1\n"
    assert busybox.out("exec", "e", "id") == "uid=0(root) gid=0(root) groups=0(root)\n"


def test_env_file_keeps_what_follows_the_equals_sign(busybox, tmp_path):
    env = tmp_path / "env"
    env.write_text("A=1\nB=2 \n  C=3\n# comment\n\nD= x \n")
    out = busybox.out("run", "--rm", "--env-file", env, "busybox", "sh", "-c", 'echo "[$A][$B][$C][$D]"')
    assert out == "[1][2 ][3][ x ]\n"
    bad = tmp_path / "bad"
    bad.write_text("B C=1\n")
    _fails(busybox, 125, "run", "--rm", "--env-file", bad, "busybox", "true", says="contains whitespaces")


# ---- 10. top and stats -----------------------------------------------------------------------------------------

def test_top_shows_user_names_and_stats_name_the_container(busybox):
    busybox.run("run", "-d", "--name", "t", "busybox", "sleep", "300")
    lines = busybox.out("top", "t").splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    rows = [line.split(None, 7) for line in lines[1:]]
    assert [(r[0], r[1], r[7]) for r in rows] == [("root", str(state(busybox, "t")["Pid"]), "sleep 300")]
    row = busybox.jsonlines("stats", "--no-stream", "--format", "json", "t")[0]
    assert (row["Container"], row["Name"]) == ("t", "t")
    short = inspect(busybox, "t")["Id"][:12]
    assert busybox.out("stats", "--no-stream", "--format", "{{.Container}} {{.Name}}") == f"{short} t\n"
    assert busybox.out("stats", "--no-stream", "--format", "{{.Container}}", short[:6]) == short[:6] + "\n"


# ---- -t without a terminal -----------------------------------------------------------------------

def test_interactive_tty_needs_a_terminal_and_exec_t_works_without_one(busybox):
    proc = busybox.run("run", "-it", "--name", "nottyrun", "busybox", "cat", input=b"x\n", check=False)
    assert (proc.returncode, proc.stderr) == (1, b"Error: the input device is not a TTY\n")
    assert _names(busybox, "-a") == []  # refused before anything was made
    busybox.run("run", "-d", "--name", "t", "busybox", "sleep", "300")
    proc = busybox.run("exec", "-it", "t", "true", input=b"", check=False)
    assert (proc.returncode, proc.stderr) == (1, b"Error: the input device is not a TTY\n")
    assert busybox.run("exec", "-t", "t", "echo", "hi", input=b"").stdout == b"hi\n"
    busybox.run("rm", "-f", "t")
