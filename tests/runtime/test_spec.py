"""The OCI runtime spec berth writes (runtime/spec.py)."""
from berth.runtime import spec


def test_console_size_only_for_a_terminal():
    sized = spec.ProcessSpec(args=["sh"], env=[], terminal=True, console_size=(33, 77)).to_dict()
    assert sized["consoleSize"] == {"height": 33, "width": 77}
    assert "consoleSize" not in spec.ProcessSpec(args=["sh"], env=[], console_size=(33, 77)).to_dict()
    assert "consoleSize" not in spec.ProcessSpec(args=["sh"], env=[], terminal=True).to_dict()


def test_seccomp_section_follows_the_setting():
    process = spec.ProcessSpec(args=["sh"], env=[], capabilities=["CAP_CHOWN", "CAP_SYS_ADMIN"])
    linux = spec.build(process, hostname="h", mounts=[])["linux"]
    assert linux["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert "mount" in linux["seccomp"]["syscalls"][0]["names"]  # the process's capabilities choose the groups
    assert "seccomp" not in spec.build(process, hostname="h", mounts=[], seccomp_setting="unconfined")["linux"]
