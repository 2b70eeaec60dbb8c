"""Parsing docker's container flags into plain values (no I/O): -v, --mount, --tmpfs, -e, sizes, policies."""
from __future__ import annotations

from contextlib import contextmanager

from berth.charsets import ALNUM, made_of
from berth.errors import FlagError, InvalidArgument, InvalidOption
from berth.record import Record
from berth.units import parse_size  # noqa: F401  (options.parse_size: one of the flag parsers)


def valid_name(text: str) -> bool:
    """A container's or volume's name, as docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`."""
    return made_of(text, ALNUM + "_.-") and text[0] in ALNUM


_PROPAGATION = {"private", "rprivate", "shared", "rshared", "slave", "rslave"}


@contextmanager
def flag_errors():
    """Report the refusals raised inside as FlagErrors."""
    try:
        yield
    except FlagError:
        raise
    except InvalidArgument as e:
        raise FlagError(str(e)) from None


def parse_int(text, what: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise InvalidOption(f"invalid {what} {text!r}: expected a whole number") from None


def parse_cpus(text) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise InvalidOption(f"invalid cpus {text!r}: expected a number such as 1.5") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidOption(f"invalid cpus {text!r}: expected a number such as 1.5")
    return value


def parse_pids_limit(text) -> int | None:
    """docker's --pids-limit: a positive count; 0 or -1 mean unlimited."""
    value = parse_int(text, "pids-limit")
    if value < -1:
        raise InvalidOption(f"invalid pids-limit {text!r}: use a positive number, or -1 for unlimited")
    return value if value > 0 else None


def parse_env(items: list[str], host_env: dict) -> list[str]:
    out = []
    for item in items:
        if not item:
            raise InvalidOption("invalid environment variable: empty")
        key, eq, _ = item.partition("=")
        if not key:
            raise InvalidOption(f"invalid environment variable {item!r}")
        if eq:
            out.append(item)
        elif key in host_env:  # `-e VAR` passes the host's value, as docker does
            out.append(f"{key}={host_env[key]}")
    return out


def read_env_file(path: str) -> list[str]:
    """docker's ParseEnvFile: leading white space goes, the rest of a line is kept (`B=2 ` is "2 ");
    a name with white space in it is refused."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InvalidOption(f"cannot read env file {path}: {e.strerror}") from None
    out = []
    for line in lines:
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        name = line.partition("=")[0]
        if any(c in name for c in " \t\n\v\f\r"):
            raise InvalidOption(f"invalid env file ({path}): variable {name!r} contains whitespaces")
        out.append(line)
    return out


def expose_ports(spec: str) -> list[str]:
    """EXPOSE's PORT[-END][/PROTO] as docker stores it: one key per port, the protocol in lower case."""
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidOption(f"invalid protocol to EXPOSE: {spec}")
    low, dash, high = port.partition("-")
    if not (low.isdigit() and (high.isdigit() or not dash)):
        raise InvalidOption(f"invalid port to EXPOSE: {spec}")
    first, last = int(low), int(high or low)
    if not 0 < first <= last <= 65535:
        raise InvalidOption(f"invalid port range to EXPOSE: {spec}")
    return [f"{p}/{proto}" for p in range(first, last + 1)]


def merge_env(base: list[str], extra: list[str]) -> list[str]:
    env: dict[str, str] = {}
    for item in base + extra:
        key, _, value = item.partition("=")
        env[key] = value
    return [f"{k}={v}" for k, v in env.items()]


class MountSpec(Record):
    type: str                 # bind | volume | tmpfs
    target: str
    source: str = ""          # host path (bind) or volume name ("" = anonymous volume)
    readonly: bool = False
    propagation: str = ""
    options: list[str] = []   # tmpfs options
    create_host_path: bool = False


def _target(path: str, spec: str) -> str:
    if not path.startswith("/"):
        raise InvalidOption(f"invalid mount {spec!r}: container path must be absolute")
    if path == "/":
        raise InvalidOption(f"invalid mount {spec!r}: cannot mount over /")
    return path


def parse_volume(spec: str) -> MountSpec:
    """-v [SOURCE:]TARGET[:OPTIONS] — SOURCE is a host path (absolute) or a volume name."""
    parts = spec.split(":")
    if len(parts) == 1:
        return MountSpec("volume", _target(parts[0], spec))
    if len(parts) > 3:
        raise InvalidOption(f"invalid volume specification {spec!r}")
    source, target = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    m = MountSpec("bind" if source.startswith("/") else "volume", _target(target, spec), source)
    if m.type == "volume" and not valid_name(source):
        raise InvalidOption(f"invalid volume name {source!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*, or an absolute host path")
    for o in opts:
        if o in ("ro", "readonly"):
            m.readonly = True
        elif o == "rw":
            m.readonly = False
        elif o in _PROPAGATION:
            m.propagation = o
        elif o in ("z", "Z", "nocopy", "copy"):
            pass  # SELinux relabel / copy-up flags: nothing to do on this host
        else:
            raise InvalidOption(f"invalid volume option {o!r} in {spec!r}")
    return m


def parse_mount(spec: str) -> MountSpec:
    """--mount type=bind|volume|tmpfs,source=...,target=...,readonly,bind-propagation=...,tmpfs-size=..."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not eq and key in ("readonly", "ro"):
            value = "true"
        fields[key] = value
    kind = fields.pop("type", "volume")
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidOption(f"invalid mount type {kind!r}: use bind, volume or tmpfs")
    target = fields.pop("target", "") or fields.pop("destination", "") or fields.pop("dst", "")
    if not target:
        raise InvalidOption(f"invalid mount {spec!r}: target is required")
    m = MountSpec(kind, _target(target, spec), fields.pop("source", "") or fields.pop("src", ""))
    if m.type == "bind" and not m.source.startswith("/"):
        raise InvalidOption(f"invalid mount {spec!r}: bind source must be an absolute host path")
    ro = fields.pop("readonly", fields.pop("ro", "false"))
    m.readonly = ro in ("", "1", "true")
    if "bind-propagation" in fields:
        m.propagation = fields.pop("bind-propagation")
        if m.propagation not in _PROPAGATION:
            raise InvalidOption(f"invalid bind-propagation {m.propagation!r}")
    if "tmpfs-size" in fields:
        m.options.append(f"size={parse_size(fields.pop('tmpfs-size'))}")
    if "tmpfs-mode" in fields:
        m.options.append(f"mode={int(fields.pop('tmpfs-mode'), 8):o}")
    fields.pop("volume-nocopy", None)
    if fields:
        raise InvalidOption(f"unknown mount option(s) {', '.join(sorted(fields))} in {spec!r}")
    return m


_TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev")
_OPPOSITE = {"exec": "noexec", "suid": "nosuid", "dev": "nodev"}


def tmpfs_options(given: list[str]) -> list[str]:
    """A tmpfs mount's options as docker makes them: noexec,nosuid,nodev unless the given ones say
    exec, suid or dev; no size unless given."""
    undone = {_OPPOSITE[o] for o in given if o in _OPPOSITE}
    return [o for o in _TMPFS_DEFAULTS if o not in undone] + [o for o in given if o not in _TMPFS_DEFAULTS]


def parse_tmpfs(spec: str) -> MountSpec:
    target, _, opts = spec.partition(":")
    return MountSpec("tmpfs", _target(target, spec), options=[o for o in opts.split(",") if o])


class RestartPolicy(Record):
    name: str = "no"
    max_retries: int = 0

    @classmethod
    def parse(cls, text: str) -> "RestartPolicy":
        name, _, count = (text or "no").partition(":")
        if name not in ("no", "always", "on-failure", "unless-stopped"):
            raise InvalidOption(f"invalid restart policy {text!r}: use no, always, on-failure[:N] or unless-stopped")
        if count and name != "on-failure":
            raise InvalidOption(f"invalid restart policy {text!r}: only on-failure takes a retry count")
        try:
            n = int(count) if count else 0
        except ValueError:
            raise InvalidOption(f"invalid restart policy {text!r}: retry count must be a number") from None
        if n < 0:
            raise InvalidOption(f"invalid restart policy {text!r}: negative retry count")
        return cls(name, n)

    def should_restart(self, exit_code: int, restarts: int, stopped_by_user: bool) -> bool:
        if stopped_by_user or self.name == "no":
            return False
        if self.name == "on-failure":
            return exit_code != 0 and (self.max_retries == 0 or restarts < self.max_retries)
        return True


SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
           "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
           "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
           "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31}


def parse_signal(text: str) -> int:
    t = str(text).strip().upper()
    if t.isdigit() and 0 < int(t) < 65:
        return int(t)
    t = t.removeprefix("SIG")
    if t in SIGNALS:
        return SIGNALS[t]
    if t.startswith("RTMIN") or t.startswith("RTMAX"):
        base = 34 if t.startswith("RTMIN") else 64
        off = t[5:]
        try:
            return base + int(off) if off else base
        except ValueError:
            pass
    raise InvalidOption(f"invalid signal {text!r}")


def parse_security_opts(items, privileged: bool = False) -> tuple[bool, object]:
    """--security-opt as docker takes them (KEY=VALUE, or KEY:VALUE): no-new-privileges[=BOOL]
    and seccomp=unconfined|builtin|PROFILE.json. Returns (no_new_privileges, seccomp setting):
    "default", "unconfined" (--privileged's default, as docker's) or the loaded profile."""
    from berth.runtime import seccomp
    no_new_privs, setting = False, "unconfined" if privileged else "default"
    for opt in items:
        key, sep, value = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = opt.partition(":")
        if key == "no-new-privileges" and value in ("", "true", "false"):
            no_new_privs = value != "false"
        elif key == "seccomp" and value:
            try:
                setting = seccomp.from_option(value)
            except seccomp.ProfileError as e:
                raise FlagError(str(e)) from None
        else:
            raise InvalidOption(f"unsupported --security-opt {opt!r}: berth knows no-new-privileges and "
                                "seccomp=unconfined|builtin|PROFILE.json")
    return no_new_privs, setting
