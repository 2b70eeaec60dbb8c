"""Times as docker writes and reads them: RFC 3339 with nanoseconds, Go durations, and the
--since/--until values of `logs` and `events`. Pure functions, no I/O."""
from __future__ import annotations

import time

from berth.errors import InvalidArgument


def rfc3339(ts: float | None = None) -> str:
    import datetime as _dt  # here: most commands never format a time
    t = _dt.datetime.now(_dt.timezone.utc) if ts is None else _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def parse_time(text: str) -> float | None:
    """RFC 3339 (Go writes nanoseconds; Python 3.11 truncates them) -> epoch seconds."""
    import datetime as _dt
    try:
        t = _dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return (t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)).timestamp()


def time_ns(ts: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time with up to 9 fraction digits (a record's time)."""
    import datetime as dt
    head, dot, rest = ts.partition(".")
    frac = ""
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, zone = rest[:digits], rest[digits:]
    else:
        head, zone = ts[:19], ts[19:]
    when = dt.datetime.fromisoformat(head + (zone or "Z"))
    return int(when.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


def docker_time(ts: str) -> str:
    """A record's time as `docker logs -t` shows it: RFC3339Nano in UTC, trailing zeros trimmed."""
    try:
        secs, nanos = divmod(time_ns(ts), 1_000_000_000)
    except ValueError:  # not a time: shown as the log has it
        return ts
    frac = f"{nanos:09d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + (f".{frac}" if frac else "") + "Z"


_GO_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def _go_duration(text: str) -> int | None:
    """Go's time.ParseDuration in nanoseconds (1h30m, 10m, 1.5s, -5m), or None."""
    import re
    m = re.fullmatch(r"([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|ms|s|m|h))+)", text)
    if not m:
        return None
    total = sum(float(n) * _GO_UNITS[u] for n, u in re.findall(r"(\d+\.?\d*|\.\d+)(ns|us|µs|ms|s|m|h)", m.group(2)))
    return int(-total if m.group(1) == "-" else total)


def parse_bound(what: str, text: str, now_ns: int) -> int:
    """docker's --since/--until value in nanoseconds: a duration back from now (10m, 1h30m), a Unix
    time (1700000000 or 1700000000.5), or an RFC 3339 date or time (local time when it has no zone)."""
    duration = _go_duration(text) if text != "0" else None
    if duration is not None:  # docker keeps whole seconds of it
        return (now_ns - duration) // 1_000_000_000 * 1_000_000_000
    secs, dot, frac = text.partition(".")
    if secs.isdigit() and (not dot or frac.isdigit()):
        return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9])
    if "-" not in text:
        raise InvalidArgument(f'invalid value for "{what}": failed to parse value as time or duration: "{text}"')
    import datetime as dt
    head, dot, rest = text.partition(".")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    frac, zone = (rest[:digits], rest[digits:]) if dot else ("", "")
    try:
        when = dt.datetime.fromisoformat(head + zone)
    except ValueError as e:
        raise InvalidArgument(f'invalid value for "{what}": parsing time "{text}": {e}') from None
    return int(when.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    s = int(seconds)
    if seconds < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def container_status(st: dict, now: float, health: str | None = None) -> str:
    """The STATUS column: Up 5 minutes, Up 5 minutes (healthy), Exited (0) 3 seconds ago, Created.
    `health`: a running container's health status (None or "none": it has no health checks)."""
    if st["status"] == "running":
        up = "Up " + human_duration(now - (st["started_at"] or now))
        if health and health != "none":
            return f"{up} (health: starting)" if health == "starting" else f"{up} ({health})"
        return up
    if st["status"] == "paused":
        return "Up " + human_duration(now - (st["started_at"] or now)) + " (Paused)"
    if st["status"] == "restarting":
        return f"Restarting ({st['exit_code']}) " + human_duration(now - (st["finished_at"] or now)) + " ago"
    if st["status"] == "exited":
        return f"Exited ({st['exit_code']}) " + human_duration(now - (st["finished_at"] or now)) + " ago"
    return st["status"].capitalize()
