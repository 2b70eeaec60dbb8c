"""Reading the monitor's k8s-file logs: `<RFC3339Nano> <stdout|stderr> <P|F> <text>` per line."""
from __future__ import annotations

import time
from collections import deque

from berth.timefmt import time_ns


def _parse(line: bytes):
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    ts, stream, tag = parts[0], parts[1], parts[2]
    text = parts[3] if len(parts) == 4 else b""
    # 'P' marks a partial line: the container wrote no newline (yet)
    return stream.decode(), ts.decode(), text if tag == b"P" else text + b"\n"


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
