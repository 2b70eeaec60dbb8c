"""A container's health check with docker's semantics: its configuration (the image's HEALTHCHECK
under the create request's), the state machine over probe results, and the state file.

The configuration is docker's HealthConfig as a dict ({"Test": [...], "Interval": ns, "Timeout": ns,
"StartPeriod": ns, "StartInterval": ns, "Retries": n}; zero fields left out, as docker's JSON does),
recorded in the container's config. Its state ({"Status", "FailingStreak", "Log"}, docker's
State.Health) is `health.json` in the container's directory: reset by every start, written by that
run's checker (container.healthcheck) after each probe, always whole (temp file, fsync, rename).

Test takes docker's forms, [] (the image's), ["NONE"], ["CMD", program, args...] and
["CMD-SHELL", command], which run in the container, and two of berth's own that map Kubernetes'
probes (`kube play`); the checker performs these itself, from the container's network namespace
to the container's own address (its first network's, 127.0.0.1 without one), as kubelet connects
to the pod's IP:

- ["HTTP-GET", PORT, PATH, SCHEME, "Name: value"...]: a GET of PATH (from /) on PORT (1-65535)
  over SCHEME (http or https; https without verifying the certificate, as kubelet), the header
  lines given sent with it; a status from 200 to 399 passes (redirects are not followed).
- ["TCP-SOCKET", PORT]: passes when a TCP connection to PORT is accepted.

Either fails (exit code 1) on any other answer or a connection error, and counts as timed out
(exit code -1) past Timeout, as an exec probe does.

What the container does when it turns unhealthy is podman's --health-on-failure (ON_FAILURE),
recorded beside the HealthConfig in the container's config and carried out by the checker.
"""
from __future__ import annotations

import os

from berth import cjson
from berth.charsets import ALNUM, made_of
from berth.errors import InvalidOption
from berth.record import Record

FIELDS = ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries")
DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")
MINIMUM = 1_000_000  # docker's MinimumDuration (1 ms) for a duration that is given
MAXIMUM = 2**63 - 1  # Go's time.Duration
SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG = 5          # probes kept in the Log
MAX_OUTPUT = 4096    # bytes of a probe's output kept ("..." marks what was cut)
STATUSES = ("starting", "healthy", "unhealthy")
FILE = "health.json"
ON_FAILURE = ("none", "kill", "restart", "stop")  # podman's --health-on-failure actions
SCHEMES = ("http", "https")
_TOKEN = ALNUM + "!#$%&'*+.^_`|~-"  # the characters of an HTTP header name (RFC 9110's token)


def compact(check: dict | None) -> dict | None:
    """docker's HealthConfig as its JSON has it: empty and zero fields left out."""
    if check is None:
        return None
    return {k: check[k] for k in FIELDS if check.get(k)}


def validate(check: dict | None) -> None:
    """A create request's health check, as dockerd checks it (a given duration is at least 1 ms,
    retries are not negative), and Test in one of its forms (the module's docstring)."""
    if check is None:
        return
    test = check.get("Test") or []
    kind = test[0] if test else None
    if kind in ("HTTP-GET", "TCP-SOCKET"):
        network_probe(test)
    elif not (kind is None or (kind == "NONE" and len(test) == 1)
              or (kind in ("CMD", "CMD-SHELL") and len(test) > 1 and (kind == "CMD" or len(test) == 2))):
        raise InvalidOption(f"invalid Healthcheck.Test {test!r}: use [] (the image's), [\"NONE\"], "
                            "[\"CMD\", program, args...], [\"CMD-SHELL\", command], "
                            "[\"HTTP-GET\", port, path, scheme, headers...] or [\"TCP-SOCKET\", port]")
    if kind == "CMD" and not test[1]:
        raise InvalidOption("invalid Healthcheck.Test: the program to run is empty")
    for field in DURATIONS:
        value = check.get(field) or 0
        if value and value < MINIMUM:
            raise InvalidOption(f"{field} in Healthcheck cannot be less than 1ms")
        if value > MAXIMUM:
            raise InvalidOption(f"{field} in Healthcheck is out of range (at most {MAXIMUM} nanoseconds)")
    if (check.get("Retries") or 0) < 0:
        raise InvalidOption("Retries in Healthcheck cannot be negative")


def merge(image: dict | None, request: dict | None) -> dict | None:
    """The container's health check: the request's, its unset fields taken from the image's (docker's
    rule); None when neither has one."""
    image = _from_image(image)
    if request is None:
        return compact(image)
    merged = {k: request.get(k) for k in FIELDS}
    if image:
        for k in FIELDS:
            if not merged[k]:
                merged[k] = image.get(k)
    return compact(merged)


def _from_image(check) -> dict | None:
    """An image's Healthcheck, its fields of the wrong type dropped (the image is not ours to trust;
    an unusable Test means no checks, as dockerd runs none for a Test it does not know)."""
    if not isinstance(check, dict):
        return None
    out = {}
    test = check.get("Test")
    if isinstance(test, list) and all(isinstance(t, str) for t in test):
        out["Test"] = list(test)
    for k in (*DURATIONS, "Retries"):
        value = check.get(k)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            out[k] = value
    return out


def validate_on_failure(action: str | None) -> str:
    """podman's --health-on-failure action ("none" when not given)."""
    if action in (None, ""):
        return "none"
    if action not in ON_FAILURE:
        raise InvalidOption(f'invalid argument "{action}" for "--health-on-failure" flag: '
                            f"use none, kill, restart or stop")
    return action


class HttpGet(Record):
    port: int
    path: str
    scheme: str
    headers: list = []  # [(name, value)]


class TcpSocket(Record):
    port: int


def network_probe(test: list) -> HttpGet | TcpSocket:
    """An HTTP-GET or TCP-SOCKET Test, checked (InvalidOption says what is wrong)."""
    kind, args = test[0], list(test[1:])
    if kind == "TCP-SOCKET":
        if len(args) != 1:
            raise InvalidOption(f"invalid Healthcheck.Test {test!r}: use [\"TCP-SOCKET\", port]")
        return TcpSocket(_port(args[0], test))
    if len(args) < 3:
        raise InvalidOption(f"invalid Healthcheck.Test {test!r}: use [\"HTTP-GET\", port, path, scheme, "
                            "\"Name: value\" headers...]")
    port, path, scheme = _port(args[0], test), args[1], args[2]
    if not path.startswith("/") or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in path):
        raise InvalidOption(f"invalid path {path!r} in Healthcheck.Test: it starts with / and has no spaces "
                            "or control characters")
    if scheme not in SCHEMES:
        raise InvalidOption(f"invalid scheme {scheme!r} in Healthcheck.Test: use http or https")
    headers = []
    for line in args[3:]:
        name, sep, value = line.partition(":")
        value = value.strip(" \t")
        if not sep or not made_of(name, _TOKEN) or any(ord(ch) < 32 and ch != "\t" or ord(ch) == 127
                                                       for ch in value):
            raise InvalidOption(f"invalid header {line!r} in Healthcheck.Test: use \"Name: value\" (a token "
                                "name, no control characters)")
        headers.append((name, value))
    return HttpGet(port, path, scheme, headers)


def _port(text, test: list) -> int:
    if not (isinstance(text, str) and text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise InvalidOption(f"invalid port {text!r} in Healthcheck.Test {test[0]}: use a number from 1 to 65535")
    return int(text)


def probe(check: dict | None, shell: list | None) -> list[str] | HttpGet | TcpSocket | None:
    """What a probe does: a command to run in the container, or a network probe the checker makes;
    None when the container has no checks (no health check, NONE, or a Test berth does not run:
    an image's in an unknown or malformed form, as dockerd runs none)."""
    test = (check or {}).get("Test") or []
    if test and test[0] in ("HTTP-GET", "TCP-SOCKET"):
        try:
            return network_probe(test)
        except InvalidOption:
            return None
    return probe_command(check, shell)


def probe_command(check: dict | None, shell: list | None) -> list[str] | None:
    """What an exec probe runs in the container; None for any other Test (no exec probe)."""
    test = (check or {}).get("Test") or []
    if len(test) < 2 or test[0] not in ("CMD", "CMD-SHELL"):
        return None
    if test[0] == "CMD":
        return list(test[1:])
    return list(shell or ["/bin/sh", "-c"]) + list(test[1:])


class Settings:
    """A health check's timing with docker's defaults, in seconds."""

    def __init__(self, check: dict):
        seconds = lambda field, default: (check.get(field) or default) / SECOND  # noqa: E731
        self.interval = seconds("Interval", DEFAULT_INTERVAL)
        self.timeout = seconds("Timeout", DEFAULT_TIMEOUT)
        self.start_period = seconds("StartPeriod", 0)
        self.start_interval = seconds("StartInterval", DEFAULT_START_INTERVAL)
        self.retries = check.get("Retries") or DEFAULT_RETRIES
        self.timeout_text = go_duration(check.get("Timeout") or DEFAULT_TIMEOUT)

    def next_wait(self, status: str, since_start: float) -> float:
        """Seconds to the next probe (docker's schedule): the interval, or within the start period
        the start interval while starting, but never past the end of the start period."""
        if since_start >= self.start_period:
            return self.interval
        remaining = self.start_period - since_start
        if remaining < self.interval:
            return remaining
        return min(self.start_interval, remaining) if status == "starting" else self.interval


def fresh(previous: dict | None) -> dict:
    """The state a run starts with: starting, no failures, the Log of earlier runs kept (docker)."""
    return {"Status": "starting", "FailingStreak": 0, "Log": list((previous or {}).get("Log") or [])}


def apply(state: dict, result: dict, settings: Settings, started_at: float) -> dict:
    """docker's rule for one probe's result ({"Start", "End", "ExitCode", "Output"}; Start and End
    epoch seconds): a success is healthy at once; failures count towards unhealthy, except those
    that start within the start period while the container has not been healthy yet."""
    from berth.timefmt import rfc3339
    entry = {"Start": rfc3339(result["Start"]), "End": rfc3339(result["End"]), "ExitCode": result["ExitCode"],
             "Output": result["Output"]}
    state["Log"] = (list(state.get("Log") or []) + [entry])[-MAX_LOG:]
    if result["ExitCode"] == 0:
        state["FailingStreak"] = 0
        state["Status"] = "healthy"
    elif not (state.get("Status") == "starting" and result["Start"] - started_at < settings.start_period):
        state["FailingStreak"] = state.get("FailingStreak", 0) + 1
        if state["FailingStreak"] >= settings.retries:
            state["Status"] = "unhealthy"
    return state


def path(bundle: str) -> str:
    return os.path.join(bundle, FILE)


def read(bundle: str) -> dict | None:
    try:
        with open(path(bundle), "rb") as f:
            doc = cjson.loads(f.read())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("Status") in STATUSES else None


def write(bundle: str, state: dict) -> None:
    from berth.store import fsutil
    fsutil.atomic_write(path(bundle), cjson.dumps(state).encode(), mode=0o644)


def shown(state: dict | None, running: bool) -> dict | None:
    """State.Health as inspect shows it: unhealthy once the checks stopped (the container stopped or
    was paused), as dockerd reports it."""
    if state is None:
        return None
    return {"Status": state["Status"] if running else "unhealthy",
            "FailingStreak": state.get("FailingStreak", 0), "Log": state.get("Log") or []}


def go_duration(nanos: int) -> str:
    """Go's time.Duration.String(): 30s, 1m30s, 200ms, 1.5s (docker's messages show durations so)."""
    if nanos == 0:
        return "0s"
    sign, n = ("-" if nanos < 0 else ""), abs(nanos)

    def fraction(value: int, unit: int) -> str:
        whole, rest = divmod(value, unit)
        digits = f"{rest:0{len(str(unit)) - 1}d}".rstrip("0") if rest else ""
        return f"{whole}.{digits}" if digits else str(whole)
    if n < 1_000:
        return f"{sign}{n}ns"
    if n < 1_000_000:
        return f"{sign}{fraction(n, 1_000)}µs"
    if n < SECOND:
        return f"{sign}{fraction(n, 1_000_000)}ms"
    hours, rest = divmod(n, 3600 * SECOND)
    minutes, rest = divmod(rest, 60 * SECOND)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + fraction(rest, SECOND) + "s"
    return sign + text
