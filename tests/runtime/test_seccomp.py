"""berth's seccomp profile and docker-format profiles (runtime/seccomp.py), as data; the
containers that run under them are in tests/container/test_security.py."""
from __future__ import annotations

import json
import os
import re

import pytest

from berth.runtime import seccomp
from berth.runtime.security import DEFAULT_CAPABILITIES, available_capabilities


def _allowed(profile: dict) -> set[str]:
    """The names allowed without an argument filter."""
    return {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
            for n in r["names"]}


def test_default_profile_refuses_what_it_does_not_list():
    profile = seccomp.default_profile(DEFAULT_CAPABILITIES)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile["defaultErrnoRet"] == 1
    if os.uname().machine == "x86_64":
        assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"] + (
            ["SCMP_ARCH_X32"] if seccomp._kernel_runs_x32() else [])
    allowed = _allowed(profile)
    assert {"read", "openat", "execve", "futex", "ptrace", "chroot", "arch_prctl"} <= allowed
    for name in ("mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "kexec_load",
                 "init_module", "reboot", "io_uring_setup", "userfaultfd", "perf_event_open", "clone", "clone3",
                 "socket", "personality", "acct", "settimeofday", "iopl", "kcmp", "open_by_handle_at"):
        assert name not in allowed, name
    assert all(re.fullmatch(r"[a-z0-9_]+", n) for r in profile["syscalls"] for n in r["names"])
    main = profile["syscalls"][0]["names"]
    assert main == sorted(set(main))
    # argument filters: clone without namespace flags, clone3 ENOSYS, socket without AF_ALG and
    # AF_VSOCK, personality with docker's five values
    by_name: dict = {}
    for r in profile["syscalls"][1:]:
        by_name.setdefault(r["names"][0], []).append(r)
    assert by_name["clone"][0]["args"] == [{"index": 0, "value": 0x7E020000, "valueTwo": 0,
                                            "op": "SCMP_CMP_MASKED_EQ"}]
    assert by_name["clone3"] == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    assert [(a["op"], a["value"]) for r in by_name["socket"] for a in r["args"]] == [
        ("SCMP_CMP_LT", 38), ("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40)]
    assert sorted(r["args"][0]["value"] for r in by_name["personality"]) == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]


def test_capabilities_add_their_calls():
    base = _allowed(seccomp.default_profile(DEFAULT_CAPABILITIES))
    for cap, names in seccomp.BY_CAPABILITY.items():
        profile = seccomp.default_profile(DEFAULT_CAPABILITIES + [cap])
        assert _allowed(profile) - base == set(names) - base, cap
    admin = seccomp.default_profile(DEFAULT_CAPABILITIES + ["CAP_SYS_ADMIN"])
    assert {"mount", "unshare", "setns", "clone", "clone3", "bpf"} <= _allowed(admin)
    assert not any(r.get("args") for r in admin["syscalls"] if r["names"][0] in ("clone", "clone3"))
    assert not any(r["names"] == ["clone3"] for r in admin["syscalls"] if r["action"] != "SCMP_ACT_ALLOW")
    everything = _allowed(seccomp.default_profile(available_capabilities()))
    assert "keyctl" not in everything and "io_uring_setup" not in everything  # no capability opens these
    # the CAP_SYS_CHROOT of the default set is what allows chroot: dropping it closes the call
    dropped = [c for c in DEFAULT_CAPABILITIES if c != "CAP_SYS_CHROOT"]
    assert "chroot" in base and "chroot" not in _allowed(seccomp.default_profile(dropped))


def test_rendering_is_cheap():
    seccomp.default_profile(DEFAULT_CAPABILITIES)
    import time
    start = time.perf_counter()
    for _ in range(100):
        json.dumps(seccomp.default_profile(DEFAULT_CAPABILITIES))
    # it runs on every `berth run`: well under a millisecond each (generous for a loaded machine)
    assert (time.perf_counter() - start) / 100 < 0.02


def test_linux_section_for_each_setting():
    assert seccomp.linux_section("unconfined", DEFAULT_CAPABILITIES) is None
    assert seccomp.linux_section("default", DEFAULT_CAPABILITIES) == seccomp.default_profile(DEFAULT_CAPABILITIES)
    loaded = seccomp.load_profile('{"defaultAction": "SCMP_ACT_LOG"}')
    assert seccomp.linux_section(loaded, []) == {"defaultAction": "SCMP_ACT_LOG", "architectures": [],
                                                 "syscalls": []}
    # docker: a profile with no default action and no rules means no filter
    assert seccomp.linux_section(seccomp.load_profile("{}"), []) is None


def test_docker_profile_includes_and_excludes():
    machine_arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "")
    profile = seccomp.load_profile(json.dumps({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
        "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "ignored"},
            {"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]},
             "args": [{"index": 0, "value": 0x10000000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": [machine_arch]}},
            {"names": ["modify_ldt"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": [machine_arch]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["tuxcall"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
            {"names": ["kcmp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "excludes": {"minKernel": "99.0"}},
        ]}))

    def names(caps):
        return [r["names"] for r in seccomp.render_profile(profile, caps)["syscalls"]]
    plain = seccomp.render_profile(profile, DEFAULT_CAPABILITIES)
    assert plain["defaultErrnoRet"] == 1 and plain["flags"] == ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    if machine_arch == "amd64":
        assert plain["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    expect = [["read", "write"], ["clone"]] + ([["arch_prctl"]] if machine_arch else [["modify_ldt"]])
    assert names(DEFAULT_CAPABILITIES) == expect + [["ptrace"], ["kcmp"]]
    assert names(["CAP_SYS_ADMIN"]) == [["read", "write"], ["mount"]] + expect[2:] + [["ptrace"], ["kcmp"]]
    assert plain["syscalls"][-1] == {"names": ["kcmp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}


@pytest.mark.parametrize("text, message", [
    ("", "not JSON"),
    ("[]", "JSON object"),
    ('"SCMP_ACT_ALLOW"', "JSON object"),
    ("[" * 100000, "not JSON"),
    ('{"defaultAction": 1}', "defaultAction"),
    ('{"defaultAction": "SCMP_ACT_NOTIFY"}', "defaultAction"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}', "defaultErrnoRet"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1e3}', "defaultErrnoRet"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["x86_64"]}', "SCMP_ARCH_"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], '
     '"archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}', "both"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "archMap": {"architecture": "SCMP_ARCH_X86_64"}}', "archMap"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_EVERYTHING"]}', "flags"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/x.sock"}', "listenerPath"),
    ('{"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}', "defaultAction"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {"names": ["read"]}}', "syscalls"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [7]}', "syscalls[0]"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}', "no syscall names"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], '
     '"action": "SCMP_ACT_ALLOW"}]}', "both"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["READ"], "action": "SCMP_ACT_ALLOW"}]}',
     "not a name"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read\\u0000"], "action": "SCMP_ACT_ALLOW"}]}',
     "not a name"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "ALLOW"}]}', "action"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", '
     '"errnoRet": 70000}]}', "errnoRet"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
     '"args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}', "value"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
     '"args": [{"index": 0, "value": 18446744073709551616, "op": "SCMP_CMP_EQ"}]}]}', "value"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
     '"args": [{"index": true, "value": 1, "op": "SCMP_CMP_EQ"}]}]}', "index"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
     '"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}', "op"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
     '"includes": {"caps": "CAP_SYS_ADMIN"}}]}', "caps"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
     '"includes": {"minKernel": "4.x"}}]}', "minKernel"),
])
def test_what_is_not_a_profile_is_refused(text, message):
    with pytest.raises(seccomp.ProfileError, match=re.escape(message)):
        seccomp.load_profile(text)


def test_profile_too_large_is_refused():
    with pytest.raises(seccomp.ProfileError, match="larger than"):
        seccomp.load_profile(" " * (seccomp.MAX_PROFILE_BYTES + 1))


def test_option_values(tmp_path):
    assert seccomp.from_option("unconfined") == "unconfined"
    assert seccomp.from_option("builtin") == "default"
    with pytest.raises(seccomp.ProfileError, match="opening seccomp profile"):
        seccomp.from_option(str(tmp_path / "missing.json"))
    path = tmp_path / "p.json"
    path.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "keyctl", '
                    '"action": "SCMP_ACT_ERRNO"}]}')
    loaded = seccomp.from_option(str(path))
    assert seccomp.render_profile(loaded, [])["syscalls"] == [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]
    path.write_text('{"defaultAction": "SCMP_ACT_NOPE"}')
    with pytest.raises(seccomp.ProfileError, match=f"seccomp profile {re.escape(str(path))}: defaultAction"):
        seccomp.from_option(str(path))


def test_x32_is_filtered_where_the_kernel_runs_it(tmp_path):
    import gzip
    config = tmp_path / "config.gz"
    filler = "".join(f"CONFIG_FILLER_{i}=y\n" for i in range(5000))  # past the first read
    for text, runs in ((filler + "CONFIG_X86_X32_ABI=y\n", True), (filler + "# CONFIG_X86_X32_ABI is not set\n", False),
                       ("CONFIG_64BIT=y\n", False)):
        config.write_bytes(gzip.compress(text.encode()))
        assert seccomp._kernel_runs_x32(str(config)) is runs
    assert seccomp._kernel_runs_x32(str(tmp_path / "absent")) is True  # unknown: filtered, as docker's


def test_the_x32_answer_is_kept_for_the_boot(tmp_path, monkeypatch):
    answer = tmp_path / "kernel-x32"
    monkeypatch.setattr(seccomp, "X32_ANSWER", str(answer))
    asked = seccomp._kernel_runs_x32()
    assert seccomp._this_kernel_runs_x32() is asked
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot = f.read().strip()
    assert answer.read_text() == f"{boot} {int(asked)}"
    answer.write_text(f"{boot} {int(not asked)}")  # what is kept is what counts for this boot
    assert seccomp._this_kernel_runs_x32() is (not asked)
    answer.write_text(f"another-boot {int(not asked)}")  # another boot's answer is asked again
    assert seccomp._this_kernel_runs_x32() is asked
