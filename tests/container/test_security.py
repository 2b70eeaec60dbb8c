"""Security defaults of real containers, checked from inside them (as docker applies them):
capabilities, masked and read-only paths, /dev, seccomp, no-new-privileges, read-only rootfs, what
of the host is visible; and that the store itself is closed to other host users."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile

import pytest

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


def test_seccomp_is_active(busybox):
    script = "grep -E '^Seccomp(_filters)?:' /proc/self/status; unshare -U true; echo unshare=$?"
    out = busybox.run("run", "--rm", "busybox", "sh", "-c", script)
    st = _status(out.stdout.decode())
    assert st["Seccomp"] == "2" and int(st.get("Seccomp_filters", "1")) >= 1
    # a new user namespace needs no capability; only the filter refuses it
    assert "unshare=1" in out.stdout.decode() and b"Operation not permitted" in out.stderr
    out = busybox.run("run", "--rm", "busybox", "sh", "-c", "mount -t tmpfs none /tmp; echo mount=$?")
    assert b"mount=1" in out.stdout
    # CAP_SYS_ADMIN opens the namespace and mount syscalls again, as in docker's profile
    out = busybox.out("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
                      "unshare -U true; echo unshare=$?; mount -t tmpfs none /tmp && echo mounted")
    assert out == "unshare=0\nmounted\n"


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
