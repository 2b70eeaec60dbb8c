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


def read_log(path: str, follow: bool = False, tail: int | None = None, running=lambda: False):
    """Yields (stream, timestamp, data). With follow, keeps reading until the container stops."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        lines = f.readlines()
        if tail is not None and tail >= 0:
            # --tail counts output lines, not partial records
            kept, count = deque(), 0
            for line in reversed(lines):
                rec = _parse(line)
                if rec is None:
                    continue
                if rec[2].endswith(b"\n"):
                    count += 1
                if count > tail:
                    break
                kept.appendleft(rec)
            records = list(kept)
        else:
            records = [r for r in map(_parse, lines) if r]
        yield from records
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
                    if rec:
                        yield rec
                continue
            if not running():
                rest = f.read()
                for line in (pending + rest).splitlines(keepends=True):
                    rec = _parse(line)
                    if rec:
                        yield rec
                return
            time.sleep(0.02)
