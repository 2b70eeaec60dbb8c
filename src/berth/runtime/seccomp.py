"""Seccomp for containers: berth's default profile, and docker-format profiles given by the user.

The default profile is an allow list with docker's semantics (the facts of moby's
profiles/seccomp default profile: which syscalls, which argument filters, which capability opens
which group): every syscall not listed gets EPERM, so one the kernel adds later is refused until
it is listed here. runc skips names its libseccomp does not know, and answers syscall numbers
above the highest one it could place with ENOSYS (so that libc falls back to an older call).

Written as plain data and rendered by hand, not with a seccomp library: it runs on every
`berth run`, and the OCI runtime compiles the filter anyway.
"""
from __future__ import annotations

import os

EPERM, ENOSYS, MAX_ERRNO = 1, 38, 4095

# ---- the default profile: what every container may call ------------------------------------------

_FILES = (
    "access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark",
    "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
    "fdatasync", "flock", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futimesat", "getcwd", "getdents", "getdents64", "lchown", "lchown32", "link", "linkat",
    "_llseek", "lseek", "lstat", "lstat64", "mkdir", "mkdirat", "mknod", "mknodat", "name_to_handle_at",
    "newfstatat", "open", "openat", "openat2", "pread64", "preadv", "preadv2", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "rename", "renameat", "renameat2",
    "rmdir", "sendfile", "sendfile64", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink",
    "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate", "truncate64", "umask", "unlink",
    "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vmsplice", "write", "writev", "cachestat",
    "listmount", "statmount",
)
_XATTRS = (
    "fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "getxattrat", "lgetxattr", "listxattr",
    "listxattrat", "llistxattr", "lremovexattr", "lsetxattr", "removexattr", "removexattrat", "setxattr",
    "setxattrat",
)
# waiting on many things at once, and the asynchronous I/O of the aio family (io_uring is not
# here: docker took it out of its default)
_EVENTS = (
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
    "epoll_wait_old", "eventfd", "eventfd2", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
    "io_setup", "io_submit", "ioctl", "_newselect", "poll", "ppoll", "ppoll_time64", "pselect6",
    "pselect6_time64", "select", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
)
_MEMORY = (
    "brk", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap", "mseal", "msync", "munlock", "munlockall",
    "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
)
_PROCESSES = (
    "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "get_robust_list",
    "get_thread_area", "getcpu", "getpgid", "getpgrp", "getpid", "getppid", "getrandom", "getsid", "gettid",
    "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "pidfd_open",
    "pidfd_send_signal", "prctl", "process_mrelease", "restart_syscall", "rseq", "seccomp", "set_robust_list",
    "set_thread_area", "set_tid_address", "setpgid", "setsid", "sysinfo", "tgkill", "tkill", "uname",
    "uretprobe", "vfork", "wait4", "waitid", "waitpid",
)
_SCHEDULING = (
    "getpriority", "getrlimit", "getrusage", "ioprio_get", "ioprio_set", "prlimit64", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "setpriority", "setrlimit", "times", "ugetrlimit",
)
_CREDENTIALS = (
    "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getuid", "getuid32", "setfsgid", "setfsgid32",
    "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32",
)
_SIGNALS = (
    "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sigaltstack",
    "sigprocmask", "sigreturn",
)
# reading clocks and timers; adjtimex and clock_adjtime only read without CAP_SYS_TIME
_TIME = (
    "adjtimex", "alarm", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "getitimer",
    "gettimeofday", "nanosleep", "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
)
_FUTEXES = ("futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake")
_IPC = (
    "ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "pipe", "pipe2", "semctl",
    "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget",
)
# socket(2) itself is filtered by address family below
_NETWORK = (
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen", "recv",
    "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg", "sendto", "setsockopt",
    "shutdown", "socketcall", "socketpair",
)
# tracing and reading other processes: safe since kernel 4.8, which closed the way past seccomp
_TRACING = ("process_vm_readv", "process_vm_writev", "ptrace")

_ALWAYS = (_FILES + _XATTRS + _EVENTS + _MEMORY + _PROCESSES + _SCHEDULING + _CREDENTIALS + _SIGNALS + _TIME
           + _FUTEXES + _IPC + _NETWORK)

# the calls of one machine's own ABI, by `uname -m`
_BY_MACHINE = {
    "x86_64": ("arch_prctl", "modify_ldt"),
    "aarch64": ("arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls",
                "sync_file_range2"),
    "ppc64le": ("swapcontext", "sync_file_range2"),
    "s390x": ("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
    "riscv64": ("riscv_flush_icache", "riscv_hwprobe"),
}
# the ABIs a container of this machine can call the kernel through (x86_64 runs i386 and x32 code too)
_ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    "s390x": ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
    "riscv64": ["SCMP_ARCH_RISCV64"],
}

# what a capability opens on top, as in docker's profile: the kernel checks the capability
# again, but the filter keeps the call away from kernel code a container has no use for otherwise
BY_CAPABILITY = {
    "CAP_SYS_ADMIN": (
        "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
        "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount", "mount_setattr", "move_mount",
        "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
        "syslog", "umount", "umount2", "unshare"),
    "CAP_DAC_READ_SEARCH": ("open_by_handle_at",),
    "CAP_SYS_BOOT": ("reboot",),
    "CAP_SYS_CHROOT": ("chroot",),
    "CAP_SYS_MODULE": ("delete_module", "finit_module", "init_module"),
    "CAP_SYS_PACCT": ("acct",),
    "CAP_SYS_PTRACE": ("kcmp", "pidfd_getfd", "process_madvise") + _TRACING,
    "CAP_SYS_RAWIO": ("ioperm", "iopl"),
    "CAP_SYS_TIME": ("clock_settime", "clock_settime64", "settimeofday", "stime"),
    "CAP_SYS_TTY_CONFIG": ("vhangup",),
    "CAP_SYS_NICE": ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
    "CAP_SYSLOG": ("syslog",),
    "CAP_BPF": ("bpf",),
    "CAP_PERFMON": ("perf_event_open",),
}

AF_ALG, AF_VSOCK = 38, 40
# personality(2) values a container may set: Linux, its 32-bit flavour, without and with
# UNAME26, and 0xffffffff, which only asks for the current one
_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
# clone(2) flags that make namespaces; argument 0, except on s390 where the flags come second
_CLONE_NAMESPACES = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        found = tuple(int(part) for part in os.uname().release.split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return found >= (major, minor)


def default_profile(capabilities) -> dict:
    """The OCI `linux.seccomp` section for a container with these (bounding) capabilities."""
    caps = set(capabilities)
    machine = os.uname().machine
    names = set(_ALWAYS)
    names.update(_BY_MACHINE.get(machine, ()))
    if _kernel_at_least(4, 8):
        names.update(_TRACING)
    for cap, granted in BY_CAPABILITY.items():
        if cap in caps:
            names.update(granted)
    rules = [{"names": sorted(names), "action": "SCMP_ACT_ALLOW"}]
    # every address family but the kernel crypto API (AF_ALG) and host-guest sockets (AF_VSOCK);
    # i386's socketcall(2) carries its arguments in memory, out of a filter's sight (docker's too)
    for op, value in (("SCMP_CMP_LT", AF_ALG), ("SCMP_CMP_EQ", AF_ALG + 1), ("SCMP_CMP_GT", AF_VSOCK)):
        rules.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": value, "op": op}]})
    for value in _PERSONALITIES:
        rules.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]})
    if "CAP_SYS_ADMIN" not in caps:
        # a thread or process, but no new namespaces; clone3 hides its flags in memory a filter
        # cannot read, so it gets ENOSYS and libc falls back to clone
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 1 if machine == "s390x" else 0, "value": _CLONE_NAMESPACES,
                                "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]})
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM,
            "architectures": [a for a in _ARCHITECTURES.get(machine, []) if a != "SCMP_ARCH_X32" or _this_kernel_runs_x32()],
            "syscalls": rules}


X32_ANSWER = "/run/berth/kernel-x32"  # "<boot id> <0|1>": the kernel cannot change without a reboot


def _this_kernel_runs_x32() -> bool:
    """_kernel_runs_x32 for the running kernel, asked once per boot (reading config.gz costs half a
    millisecond of every container start)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        return _kernel_runs_x32()
    try:
        with open(X32_ANSWER) as f:
            seen, _, answer = f.read().partition(" ")
        if seen == boot and answer in ("0", "1"):
            return answer == "1"
    except OSError:
        pass
    runs = _kernel_runs_x32()
    try:
        os.makedirs(os.path.dirname(X32_ANSWER), exist_ok=True)
        tmp = f"{X32_ANSWER}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(f"{boot} {int(runs)}")
        os.replace(tmp, X32_ANSWER)  # whole or not at all: concurrent starts write the same answer
    except OSError:
        pass
    return runs


def _kernel_runs_x32(config: str = "/proc/config.gz") -> bool:
    """Whether this kernel runs x32 binaries (CONFIG_X86_X32_ABI). Without it every x32 call fails
    with ENOSYS anyway, and leaving x32 out of the filter saves runc ~7 ms of every container start
    (an x32 call then ends the process with SIGSYS instead). Unknown (no /proc/config.gz): yes."""
    import zlib
    try:
        f = open(config, "rb")
    except OSError:
        return True
    with f:  # streamed: the option sits in the first few kB of a ~100 kB text
        inflate, text = zlib.decompressobj(16 + zlib.MAX_WBITS), b""
        while chunk := f.read(8192):
            text = text[-64:] + inflate.decompress(chunk)
            if b"CONFIG_X86_X32_ABI=y" in text:
                return True
            if b"# CONFIG_X86_X32_ABI is not set" in text:
                return False
    return False


# ---- profiles in docker's format (`--security-opt seccomp=PROFILE.json`) -------------------------

class ProfileError(ValueError):
    """A seccomp profile that is not one: what is wrong, and where."""


_ACTIONS = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
            "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"}  # SCMP_ACT_NOTIFY needs a listener: none here
_OPS = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ"}
_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}
# docker's names for this machine in includes/excludes "arches", and its SCMP_ARCH_ for archMap
_DOCKER_ARCH = {"x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
                "i686": ("x86", "SCMP_ARCH_X86"), "armv7l": ("arm", "SCMP_ARCH_ARM"),
                "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"), "s390x": ("s390x", "SCMP_ARCH_S390X"),
                "riscv64": ("riscv64", "SCMP_ARCH_RISCV64")}
MAX_PROFILE_BYTES = 1 << 20


def _is_int(value, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _name(value, where: str, pattern: str = "abcdefghijklmnopqrstuvwxyz0123456789_") -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or value.strip(pattern):
        raise ProfileError(f"{where}: {value!r} is not a name")
    return value


def _strings(doc: dict, key: str, where: str, check) -> list[str]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProfileError(f"{where}.{key}: a list is needed")
    return [check(v, f"{where}.{key}[{i}]") for i, v in enumerate(value)]


def _arch(value, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("SCMP_ARCH_"):
        raise ProfileError(f"{where}: {value!r} is not an SCMP_ARCH_ name")
    return _name(value, where, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _filter(doc, where: str) -> dict:
    """An includes or excludes object: arches, caps, minKernel ("major.minor")."""
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ProfileError(f"{where}: an object is needed")
    out = {"arches": _strings(doc, "arches", where, _name),
           "caps": _strings(doc, "caps", where, lambda v, w: _name(v, w, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_"))}
    kernel = doc.get("minKernel")
    if kernel not in (None, ""):
        parts = kernel.split(".") if isinstance(kernel, str) else []
        if len(parts) not in (1, 2) or not all(p.isdigit() and len(p) < 6 for p in parts):
            raise ProfileError(f"{where}.minKernel: {kernel!r} is not a kernel version (like \"4.8\")")
        out["minKernel"] = (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0)
    return out


def _rule(doc, where: str) -> dict:
    if not isinstance(doc, dict):
        raise ProfileError(f"{where}: an object is needed")
    if doc.get("name") and doc.get("names"):
        raise ProfileError(f"{where}: both 'name' and 'names' are given; use one")
    names = [_name(doc["name"], f"{where}.name")] if doc.get("name") else _strings(doc, "names", where, _name)
    if not names:
        raise ProfileError(f"{where}: no syscall names")
    action = doc.get("action")
    if action not in _ACTIONS:
        raise ProfileError(f"{where}.action: {action!r} is not one of {', '.join(sorted(_ACTIONS))}")
    rule = {"names": names, "action": action}
    if doc.get("errnoRet") is not None:
        if not _is_int(doc["errnoRet"], 0, MAX_ERRNO):
            raise ProfileError(f"{where}.errnoRet: an errno number (0 to {MAX_ERRNO}) is needed")
        rule["errnoRet"] = doc["errnoRet"]
    args = doc.get("args") or []
    if not isinstance(args, list) or len(args) > 6:
        raise ProfileError(f"{where}.args: a list of at most 6 argument filters is needed")
    rule_args = []
    for i, arg in enumerate(args):
        at = f"{where}.args[{i}]"
        if not isinstance(arg, dict):
            raise ProfileError(f"{at}: an object is needed")
        if not _is_int(arg.get("index"), 0, 5):
            raise ProfileError(f"{at}.index: an argument number 0 to 5 is needed")
        for key in ("value", "valueTwo"):
            if not _is_int(arg.get(key, 0), 0, (1 << 64) - 1):
                raise ProfileError(f"{at}.{key}: an unsigned 64-bit number is needed")
        if arg.get("op") not in _OPS:
            raise ProfileError(f"{at}.op: {arg.get('op')!r} is not one of {', '.join(sorted(_OPS))}")
        rule_args.append({"index": arg["index"], "value": arg.get("value", 0), "valueTwo": arg.get("valueTwo", 0),
                          "op": arg["op"]})
    if rule_args:
        rule["args"] = rule_args
    return {"rule": rule, "includes": _filter(doc.get("includes"), f"{where}.includes"),
            "excludes": _filter(doc.get("excludes"), f"{where}.excludes")}


def load_profile(text: str | bytes) -> dict:
    """A profile in docker's JSON format, checked through and reduced to what berth renders (as
    docker: `archMap` or `architectures`, `includes`/`excludes` by arch, capability and kernel).
    Raises ProfileError for anything else."""
    import json
    if len(text) > MAX_PROFILE_BYTES:
        raise ProfileError(f"larger than {MAX_PROFILE_BYTES} bytes")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ProfileError(f"not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ProfileError("a JSON object is needed")
    for key in ("listenerPath", "listenerMetadata"):
        if doc.get(key):
            raise ProfileError(f"{key}: seccomp notification agents are not supported")
    action = doc.get("defaultAction") or ""
    if action and action not in _ACTIONS:
        raise ProfileError(f"defaultAction: {action!r} is not one of {', '.join(sorted(_ACTIONS))}")
    out: dict = {"defaultAction": action}
    if doc.get("defaultErrnoRet") is not None:
        if not _is_int(doc["defaultErrnoRet"], 0, MAX_ERRNO):
            raise ProfileError(f"defaultErrnoRet: an errno number (0 to {MAX_ERRNO}) is needed")
        out["defaultErrnoRet"] = doc["defaultErrnoRet"]
    if doc.get("architectures") and doc.get("archMap"):
        raise ProfileError("both 'architectures' and 'archMap' are given; use one")
    out["architectures"] = _strings(doc, "architectures", "profile", _arch)
    arch_map = doc.get("archMap") or []
    if not isinstance(arch_map, list):
        raise ProfileError("archMap: a list is needed")
    out["archMap"] = []
    for i, entry in enumerate(arch_map):
        if not isinstance(entry, dict):
            raise ProfileError(f"archMap[{i}]: an object is needed")
        out["archMap"].append([_arch(entry.get("architecture"), f"archMap[{i}].architecture")]
                              + _strings(entry, "subArchitectures", f"archMap[{i}]", _arch))
    out["flags"] = _strings(doc, "flags", "profile", lambda v, w: v if v in _FLAGS else _bad_flag(v, w))
    syscalls = doc.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise ProfileError("syscalls: a list is needed")
    out["syscalls"] = [_rule(rule, f"syscalls[{i}]") for i, rule in enumerate(syscalls)]
    if out["defaultAction"] == "" and out["syscalls"]:
        raise ProfileError("defaultAction: missing")
    return out


def _bad_flag(value, where: str):
    raise ProfileError(f"{where}: {value!r} is not one of {', '.join(sorted(_FLAGS))}")


def _applies(rule: dict, arch: str, caps: set[str]) -> bool:
    inc, exc = rule["includes"], rule["excludes"]
    if arch in exc.get("arches", ()) or caps & set(exc.get("caps", ())):
        return False
    if "minKernel" in exc and _kernel_at_least(*exc["minKernel"]):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if not set(inc.get("caps", ())) <= caps:
        return False
    return "minKernel" not in inc or _kernel_at_least(*inc["minKernel"])


def render_profile(profile: dict, capabilities) -> dict | None:
    """The OCI `linux.seccomp` section of a loaded docker-format profile for a container with
    these capabilities; None for a profile with no default action and no rules (docker: no filter)."""
    if not profile["defaultAction"] and not profile["syscalls"]:
        return None
    arch, scmp_arch = _DOCKER_ARCH.get(os.uname().machine, ("", ""))
    caps = set(capabilities)
    architectures = list(profile["architectures"])
    for arches in profile["archMap"]:
        if arches[0] == scmp_arch:
            architectures = list(arches)
            break
    out = {"defaultAction": profile["defaultAction"], "architectures": architectures,
           "syscalls": [r["rule"] for r in profile["syscalls"] if _applies(r, arch, caps)]}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    if profile["flags"]:
        out["flags"] = profile["flags"]
    return out


def from_option(value: str):
    """The value of `--security-opt seccomp=VALUE`: "unconfined", "builtin" (the default profile)
    or the path of a profile in docker's format, which is read and checked now."""
    if value in ("unconfined", "builtin"):
        return "unconfined" if value == "unconfined" else "default"
    try:
        with open(value, "rb") as f:
            text = f.read(MAX_PROFILE_BYTES + 1)
    except OSError as e:
        raise ProfileError(f"opening seccomp profile ({value}) failed: {e.strerror}") from None
    try:
        return load_profile(text)
    except ProfileError as e:
        raise ProfileError(f"seccomp profile {value}: {e}") from None


def linux_section(setting, capabilities) -> dict | None:
    """The OCI `linux.seccomp` section for a container's setting ("default", "unconfined" or a
    loaded profile) and its capabilities; None: no filter."""
    if setting == "unconfined":
        return None
    if setting in (None, "default"):
        return default_profile(capabilities)
    return render_profile(setting, capabilities)
