"""Security defaults of real containers, checked from inside them (as docker applies them):
capabilities, masked and read-only paths, /dev, seccomp, no-new-privileges, read-only rootfs, what
of the host is visible; and that the store itself is closed to other host users."""
from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from berth.runtime import seccomp

from container_helpers import DOCKER_DEFAULT_CAPS, caps_mask, inspect, teardown
from helpers import Berth


def _status(text: str) -> dict:
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def test_default_capabilities_are_dockers(busybox):
    st = _status(busybox.out("run", "--rm", "busybox", "cat", "/proc/1/status"))
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert int(st[field], 16) == DOCKER_DEFAULT_CAPS, (field, st[field])
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0
    # a non-root user has no effective capabilities, and the bounding set is the same
    st = _status(busybox.out("run", "--rm", "-u", "nobody", "busybox", "cat", "/proc/self/status"))
    assert int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == DOCKER_DEFAULT_CAPS


def test_cap_add_and_cap_drop_change_the_set(busybox):
    def cap_eff(*flags):
        st = _status(busybox.out("run", "--rm", *flags, "busybox", "cat", "/proc/self/status"))
        return int(st["CapEff"], 16)
    assert cap_eff("--cap-add", "SYS_ADMIN", "--cap-drop", "NET_RAW", "--cap-drop", "chown") == \
        (DOCKER_DEFAULT_CAPS | caps_mask("SYS_ADMIN")) & ~caps_mask("NET_RAW", "CHOWN")
    assert cap_eff("--cap-drop", "ALL") == 0
    assert cap_eff("--cap-drop", "ALL", "--cap-add", "CAP_NET_BIND_SERVICE") == caps_mask("NET_BIND_SERVICE")
    assert cap_eff("--cap-add", "ALL") & caps_mask("SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "SYS_TIME") == \
        caps_mask("SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "SYS_TIME")
    # and the kernel enforces the result
    script = "touch /f && chown 65534 /f && echo chowned"
    assert busybox.out("run", "--rm", "busybox", "sh", "-c", script) == "chowned\n"
    proc = busybox.run("run", "--rm", "--cap-drop", "CHOWN", "busybox", "sh", "-c", script, check=False)
    assert proc.returncode != 0 and b"Operation not permitted" in proc.stderr


def test_masked_and_read_only_proc_and_sys(busybox):
    masked = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats"]
    on_host = [p for p in masked if os.path.exists(p)]
    assert any(open(p, "rb").read(1) for p in on_host if p != "/proc/kcore")  # something to hide
    script = ("for p in %s; do if [ -e $p ]; then echo $p $(cat $p | wc -c); else echo $p absent; fi; done; "
              "ls -A /sys/firmware | wc -l; "
              "echo x > /proc/sys/kernel/domainname 2>/dev/null && echo WROTE-SYSCTL; "
              "echo h > /proc/sysrq-trigger 2>/dev/null && echo WROTE-SYSRQ; "
              "grep -c . /proc/sys/kernel/ostype; "
              "touch /sys/x 2>/dev/null && echo WROTE-SYS; echo end") % " ".join(masked)
    lines = busybox.out("run", "--rm", "busybox", "sh", "-c", script).splitlines()
    sizes = dict(line.split(" ", 1) for line in lines[:len(masked)])
    for p in masked:
        if p in on_host:
            assert sizes[p] == "0", (p, sizes[p])  # present but empty: /dev/null bound over it
        else:
            assert sizes[p] == "absent", (p, sizes[p])
    assert os.listdir("/sys/firmware") and lines[len(masked)] == "0"  # host's is not empty; ours is
    assert lines[len(masked) + 1:] == ["1", "end"]  # readable, but none of the writes went through
    # the read-only ones are mounted read-only
    mountinfo = busybox.out("run", "--rm", "busybox", "cat", "/proc/self/mountinfo").splitlines()
    for path in ("/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/irq", "/proc/fs", "/sys"):
        if not os.path.exists(path):
            continue
        opts = [line.split()[5] for line in mountinfo if line.split()[4] == path]
        assert opts and opts[-1].split(",")[0] == "ro", (path, opts)


def test_dev_holds_only_the_standard_nodes(busybox):
    script = ("ls -A /dev; echo --; for n in null zero full random urandom tty; do "
              "stat -c '%n %F %t %T' /dev/$n; done; echo --; ls -A /dev/pts; echo --; "
              "mknod /tmp/disk b 8 0 && head -c1 /tmp/disk > /dev/null 2>&1 || echo disk-refused; "
              "mknod /tmp/mem c 1 1 && head -c1 /tmp/mem > /dev/null 2>&1 || echo mem-refused")
    top, nodes, pts, refused = busybox.out("run", "--rm", "busybox", "sh", "-c", script).split("--\n")
    standard = {"fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
                "tty", "urandom", "zero"}
    entries = set(top.split())
    assert standard <= entries and entries - standard <= {"console", "core"}, entries ^ standard
    assert nodes.splitlines() == [
        "/dev/null character special file 1 3", "/dev/zero character special file 1 5",
        "/dev/full character special file 1 7", "/dev/random character special file 1 8",
        "/dev/urandom character special file 1 9", "/dev/tty character special file 5 0"]
    assert pts.split() == ["ptmx"]
    # CAP_MKNOD makes the node; the devices cgroup refuses to open what is not allowed
    assert refused.split() == ["disk-refused", "mem-refused"]


PROBE_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp_probe.c")
PROBES = ["getpid", "nr400", "nr1000", "keyctl", "bpf", "io_uring_setup", "unshare_user", "clone_plain",
          "clone_newuser", "clone3", "socket_inet", "socket_vsock", "socket_alg", "personality_query",
          "personality_noaslr", "mount", "kcmp", "ptrace"]
X86_64 = os.uname().machine == "x86_64"
if X86_64:  # the same call through the i386 and x32 ABIs, which the filter must cover too
    PROBES += ["keyctl_i386", "keyctl_x32"]


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """seccomp_probe.c, built static: it makes raw syscalls and prints what each one answered."""
    if not shutil.which("cc"):
        pytest.skip("the seccomp probe is compiled in the test: needs cc")
    path = tmp_path_factory.mktemp("seccomp") / "probe"
    subprocess.run(["cc", "-static", "-O2", "-o", str(path), PROBE_SOURCE], check=True, capture_output=True)
    return str(path)


def _probe(berth, probe, *flags, script: str = "") -> tuple[str, dict]:
    """Run the probes in a busybox container started with `flags`: (the Seccomp mode the kernel
    shows for the container's process, {probe: "ok" or the errno name}). `script` runs first."""
    out = berth.out("run", "--rm", "-v", f"{probe}:/probe:ro", *flags, "busybox", "sh", "-c",
                    script + 'grep "^Seccomp:" /proc/self/status; exec /probe "$@"', "sh", *PROBES)
    lines = out.splitlines()
    mode = lines[-len(PROBES) - 1].split()[1]
    answers = dict(line.split() for line in lines[-len(PROBES):])
    return mode, {name: v if v == "ok" or v.startswith("sig") else errno.errorcode[int(v)]
                  for name, v in answers.items()}


def test_seccomp_default_is_an_allow_list(busybox, probe):
    mode, seen = _probe(busybox, probe)
    assert mode == "2"
    assert seen == {
        "getpid": "ok", "clone_plain": "ok", "socket_inet": "ok", "personality_query": "ok",
        "ptrace": "ESRCH",  # allowed, as docker's (kernel 4.8 closed the way past seccomp); nothing is traced
        # a number not in the list gets EPERM; one beyond every listed call gets ENOSYS (runc's stub
        # for syscalls newer than the profile, so that libc falls back, as under docker)
        "nr400": "EPERM", "nr1000": "ENOSYS",
        "keyctl": "EPERM", "bpf": "EPERM", "io_uring_setup": "EPERM", "kcmp": "EPERM", "mount": "EPERM",
        "unshare_user": "EPERM", "clone_newuser": "EPERM",  # namespaces: CAP_SYS_ADMIN only
        "clone3": "ENOSYS",  # so that libc falls back to clone, whose flags the filter can see
        "socket_vsock": "EPERM", "socket_alg": "EPERM",
        "personality_noaslr": "EPERM",
        # x32 is in the filter where the kernel runs x32; elsewhere an x32 call ends the process
        **({"keyctl_i386": "EPERM", "keyctl_x32": "EPERM" if seccomp._kernel_runs_x32() else "sig31"}
           if X86_64 else {})}
    # the same calls without the filter: the EPERMs above were the filter's, not the kernel's
    mode, free = _probe(busybox, probe, "--security-opt", "seccomp=unconfined")
    assert mode == "0" and free["nr400"] == "ENOSYS"
    for name in ("keyctl", "unshare_user", "clone_newuser", "clone3", "socket_vsock", "socket_alg",
                 "personality_noaslr", "kcmp") + (("keyctl_i386",) if X86_64 else ()):
        assert free[name] != "EPERM", (name, free[name])
    # and busybox's own tools meet it as users would
    proc = busybox.run("run", "--rm", "busybox", "sh", "-c",
                       "unshare -U true; echo unshare=$?; mount -t tmpfs none /tmp; echo mount=$?")
    assert proc.stdout == b"unshare=1\nmount=1\n" and b"Operation not permitted" in proc.stderr


def test_seccomp_capabilities_open_their_calls(busybox, probe):
    # CAP_SYS_ADMIN: mounts, namespaces (clone with any flags, clone3), bpf; not the rest
    mode, admin = _probe(busybox, probe, "--cap-add", "SYS_ADMIN")
    assert mode == "2"
    assert {k: admin[k] for k in ("mount", "unshare_user", "clone_newuser", "clone3", "bpf")} == {
        "mount": "ok", "unshare_user": "ok", "clone_newuser": "ok", "clone3": "EINVAL", "bpf": "EINVAL"}
    assert {k: admin[k] for k in ("keyctl", "kcmp", "nr400", "socket_vsock", "io_uring_setup")} == {
        "keyctl": "EPERM", "kcmp": "EPERM", "nr400": "EPERM", "socket_vsock": "EPERM", "io_uring_setup": "EPERM"}
    # CAP_SYS_PTRACE opens kcmp, CAP_BPF bpf; neither opens mounts or namespaces
    _, traced = _probe(busybox, probe, "--cap-add", "SYS_PTRACE", "--cap-add", "BPF")
    assert {k: traced[k] for k in ("kcmp", "bpf", "mount", "unshare_user", "clone3")} == {
        "kcmp": "ok", "bpf": "EINVAL", "mount": "EPERM", "unshare_user": "EPERM", "clone3": "ENOSYS"}
    # --privileged runs without a filter, as docker's
    mode, privileged = _probe(busybox, probe, "--privileged")
    assert mode == "0" and privileged["nr400"] == "ENOSYS"
    assert {k: privileged[k] for k in ("mount", "keyctl", "unshare_user", "kcmp")} == dict.fromkeys(
        ("mount", "keyctl", "unshare_user", "kcmp"), "ok")
    # ... unless it asks for one: the default profile, for all capabilities
    mode, builtin = _probe(busybox, probe, "--privileged", "--security-opt", "seccomp=builtin")
    assert mode == "2" and builtin["mount"] == "ok" and builtin["nr400"] == "EPERM" and builtin["keyctl"] == "EPERM"
    out = busybox.out("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
                      "unshare -U true; echo unshare=$?; mount -t tmpfs none /tmp && echo mounted")
    assert out == "unshare=0\nmounted\n"


def test_seccomp_profile_in_dockers_format(busybox, probe, tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES},
            {"name": "keyctl", "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EOPNOTSUPP,
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["kcmp"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["nosucharch"]}},
        ]}))
    script = "mkdir /made 2>&1; "
    opt = f"seccomp={profile}"
    for flags, keyctl in ((), "EOPNOTSUPP"), (("--cap-add", "SYS_ADMIN"), "ok"), (("--privileged",), "ok"):
        out = busybox.out("run", "--rm", "-v", f"{probe}:/probe:ro", "--security-opt", opt, *flags, "busybox",
                          "sh", "-c", script + "/probe keyctl kcmp nr400")
        assert out.splitlines() == ["mkdir: can't create directory '/made': Permission denied",
                                    f"keyctl {keyctl if keyctl == 'ok' else getattr(errno, keyctl)}",
                                    "kcmp ok", f"nr400 {errno.ENOSYS}"], (flags, out)
    busybox.run("create", "--name", "custom", "--security-opt", opt, "busybox", "true")
    assert inspect(busybox, "custom")["HostConfig"]["SecurityOpt"] == [opt]
    busybox.run("rm", "custom")
    # what is not a profile is refused before anything is made
    bad = tmp_path / "bad.json"
    cases = [(tmp_path / "missing.json", None, "opening seccomp profile"),
             (bad, "{not json", "not JSON"),
             (bad, '{"defaultAction": "SCMP_ACT_MAYBE"}', "defaultAction"),
             (bad, '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": '
                   '"SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}', "index"),
             (bad, '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read/../x"], '
                   '"action": "SCMP_ACT_ALLOW"}]}', "not a name"),
             (bad, '{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/agent.sock"}', "listenerPath")]
    for path, text, message in cases:
        if text is not None:
            path.write_text(text)
        for cmd in ("create", "run"):
            proc = busybox.run(cmd, "--security-opt", f"seccomp={path}", "busybox", "true", check=False)
            assert proc.returncode == 125 and message.encode() in proc.stderr, (cmd, text, proc.stderr)
    assert busybox.out("ps", "-aq") == ""


def test_no_new_privileges(busybox):
    script = "grep NoNewPrivs /proc/self/status"
    assert busybox.out("run", "--rm", "busybox", "sh", "-c", script).split() == ["NoNewPrivs:", "0"]
    assert busybox.out("run", "--rm", "--security-opt", "no-new-privileges", "busybox", "sh", "-c",
                       script).split() == ["NoNewPrivs:", "1"]
    assert busybox.out("run", "--rm", "--security-opt", "no-new-privileges:true", "busybox", "sh", "-c",
                       script).split() == ["NoNewPrivs:", "1"]


def test_read_only_rootfs(busybox):
    script = ("touch /x 2>&1; echo rc=$?; touch /tmp/ok && echo tmp-ok; touch /data/ok && echo data-ok; "
              "awk '$2 == \"/\" {print $4}' /proc/mounts")
    out = busybox.out("run", "--name", "ro", "--read-only", "--tmpfs", "/tmp", "-v", "data:/data", "busybox",
                      "sh", "-c", script).splitlines()
    assert out[0] == "touch: /x: Read-only file system" and out[1] == "rc=1"
    assert out[2:4] == ["tmp-ok", "data-ok"] and out[4].split(",")[0] == "ro"
    assert inspect(busybox, "ro")["HostConfig"]["ReadonlyRootfs"] is True
    assert busybox.out("run", "--rm", "busybox", "sh", "-c", "touch /x && echo rw") == "rw\n"


def test_host_is_not_visible(busybox, tmp_path):
    marker = tmp_path / "host-marker"
    marker.write_text("host\n")
    host_net = sorted(os.listdir("/sys/class/net"))
    script = (f"ls {marker} /work /work/main 2>&1 | grep -vc 'No such file'; ls /; echo --; "
              "ps -o pid,comm; echo --; ls /sys/class/net; echo --; hostname")
    out = busybox.out("run", "--rm", "busybox", "sh", "-c", script)
    found, procs, net, host = out.split("--\n")
    assert found.splitlines()[0] == "0"
    layer = os.listdir(os.path.join(busybox.root, "layers"))[0]
    image_root = set(os.listdir(os.path.join(busybox.root, "layers", layer, "diff")))
    assert set(found.splitlines()[1:]) == image_root  # the image's root, nothing of the host's
    assert [line.split()[1] for line in procs.splitlines()[1:]] == ["sh", "ps"]  # only its own processes
    assert set(net.split()) == {"lo", "eth0"} and set(host_net) - {"lo", "eth0"}  # its own network namespace
    assert host.strip() != os.uname().nodename


def test_store_is_closed_to_other_users(busybox):
    # a store whose parent other users can enter (pytest's tmp dirs are closed to them already)
    parent = tempfile.mkdtemp(prefix="berth-perm-", dir="/tmp")
    os.chmod(parent, 0o755)
    control = os.path.join(parent, "control")
    with open(control, "w") as f:
        f.write("readable\n")
    os.chmod(control, 0o644)
    store = Berth(os.path.join(parent, "store"))
    host = os.path.join(parent, "bind")
    os.mkdir(host)
    try:
        store.run("image", "bootstrap", "busybox")
        store.run("run", "-d", "--name", "s", "-v", "vol:/data", "-v", f"{host}:/h", "busybox", "sh", "-c",
                  "echo secret > /root/secret; echo s > /data/f; exec sleep 300")
        cid = inspect(store, "s")["Id"]
        root = store.root
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
        for entry in os.listdir(root):
            mode = os.stat(os.path.join(root, entry)).st_mode
            if stat.S_ISDIR(mode):
                assert stat.S_IMODE(mode) & 0o077 == 0, (entry, oct(mode))

        def as_nobody(*cmd):
            return subprocess.run(cmd, user=65534, group=65534, capture_output=True)
        assert as_nobody("cat", control).stdout == b"readable\n"  # the check itself works
        for path in (root, f"{root}/berth.db", f"{root}/containers/{cid}/config.json",
                     f"{root}/containers/{cid}/ctr.log", f"{root}/containers/{cid}/upper/root/secret",
                     f"{root}/volumes/vol/_data/f", f"{root}/layers", f"{root}/blobs"):
            assert os.path.exists(path), path
            proc = as_nobody("ls", "-l", path) if os.path.isdir(path) else as_nobody("cat", path)
            assert proc.returncode != 0 and b"Permission denied" in proc.stderr, (path, proc)
    finally:
        problems = teardown(store)
        shutil.rmtree(parent, ignore_errors=True)
    assert not problems, problems


@pytest.mark.parametrize("flag", ["--privileged"])
def test_privileged_lifts_the_defaults(busybox, flag):
    out = busybox.out("run", "--rm", flag, "busybox", "sh", "-c",
                      "grep CapEff /proc/self/status; cat /proc/timer_list | wc -c; "
                      "mount -t tmpfs none /tmp && echo mounted")
    cap, size, mounted = out.split("\n")[:3]
    assert int(cap.split()[1], 16) & caps_mask("SYS_ADMIN", "SYS_PTRACE") and int(size) > 0
    assert mounted == "mounted"
