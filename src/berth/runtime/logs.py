"""Reading the monitor's k8s-file logs: `<RFC3339Nano> <stdout|stderr> <P|F> <text>` per line."""
from __future__ import annotations

import time
from collections import deque


def _parse(line: bytes):
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    ts, stream, tag = parts[0], parts[1], parts[2]
    text = parts[3] if len(parts) == 4 else b""
    # 'P' marks a partial line: the container wrote no newline (yet)
    return stream.decode(), ts.decode(), text if tag == b"P" else text + b"\n"


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
    from berth.errors import BerthError
    duration = _go_duration(text) if text != "0" else None
    if duration is not None:  # docker keeps whole seconds of it
        return (now_ns - duration) // 1_000_000_000 * 1_000_000_000
    secs, dot, frac = text.partition(".")
    if secs.isdigit() and (not dot or frac.isdigit()):
        return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9])
    if "-" not in text:
        raise BerthError(f'invalid value for "{what}": failed to parse value as time or duration: "{text}"')
    import datetime as dt
    head, dot, rest = text.partition(".")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    frac, zone = (rest[:digits], rest[digits:]) if dot else ("", "")
    try:
        when = dt.datetime.fromisoformat(head + zone)
    except ValueError as e:
        raise BerthError(f'invalid value for "{what}": parsing time "{text}": {e}') from None
    return int(when.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


def _tail(lines: list[bytes], count: int) -> list:
    """The records of the last `count` lines of the log, both streams together, as docker counts
    them: a line is a stream's partial records up to the one that ends it, and a stream's last
    partial records (output with no newline yet) are a line too."""
    kept: deque = deque()
    seen = 0
    growing: dict[str, bool] = {}  # stream -> is the line that earlier partial records would join kept?
    for line in reversed(lines):  # from the end: a partial record joins the line after it
        rec = _parse(line)
        if rec is None:
            continue
        stream, partial = rec[0], not rec[2].endswith(b"\n")
        if not (partial and stream in growing):
            seen += 1
            growing[stream] = seen <= count
        if growing[stream]:
            kept.appendleft(rec)
        elif seen > count and not any(growing.values()):
            break
    return list(kept)


class _Window:
    """docker's --since/--until over records in log order: nothing before `since` until the first
    record at or after it (times need not be monotonic), and nothing from the first one after `until`."""

    def __init__(self, since: int | None, until: int | None):
        self.since, self.until, self.done = since, until, False

    def admit(self, rec) -> bool:
        if self.done:
            return False
        if self.since is None and self.until is None:
            return True
        try:
            ns = time_ns(rec[1])
        except ValueError:  # a record without a readable time is not held back
            return True
        if self.since is not None:
            if ns < self.since:
                return False
            self.since = None
        if self.until is not None and ns > self.until:
            self.done = True
            return False
        return True


def read_log(path: str, follow: bool = False, tail: int | None = None, running=lambda: False,
             since: int | None = None, until: int | None = None):
    """Yields (stream, timestamp, data). With follow, keeps reading until the container stops.
    since/until: nanoseconds since the epoch."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    window = _Window(since, until)
    with f:
        lines = f.readlines()
        if tail is not None and tail >= 0:
            records = _tail(lines, tail)
        else:
            records = [r for r in map(_parse, lines) if r]
        for rec in records:
            if window.admit(rec):
                yield rec
            elif window.done:
                return
        if not follow:
            return
        pending = b""
        while True:
            chunk = f.readline()
            if chunk:
                pending += chunk
                if pending.endswith(b"\n"):
                    rec = _parse(pending)
                    pending = b""
                    if rec and window.admit(rec):
                        yield rec
                    elif window.done:
                        return
                continue
            if not running():
                rest = f.read()
                for line in (pending + rest).splitlines(keepends=True):
                    rec = _parse(line)
                    if rec and window.admit(rec):
                        yield rec
                return
            time.sleep(0.02)
