"""Per-layer transfer progress for pull and push: live lines on a terminal, plain lines otherwise.

The registry client calls start/advance/done from its worker threads; this only draws. On a
terminal every layer keeps one line (bytes, speed, time left) redrawn at most 10 times a second;
in a pipe or log each layer gets a line when it starts and when it ends.
"""
from __future__ import annotations

import sys
import threading
import time

from berth.cli.output import human_size


class Progress:
    def __init__(self, stream=None, live: bool | None = None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._rows: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._drawn = 0
        self._last_draw = 0.0

    def start(self, key: str, total: int | None, status: str = "Downloading") -> None:
        with self._lock:
            self._rows[key] = {"total": total, "done": 0, "status": status, "started": time.monotonic()}
            if not self.live:
                size = f" {human_size(total)}" if total else ""
                self._write(f"{key[:12]}: {status.lower()}{size}\n")
            self._draw()

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            row = self._rows.get(key)
            if row is not None:
                row["done"] += n
                self._draw()

    def done(self, key: str, status: str) -> None:
        with self._lock:
            row = self._rows.setdefault(key, {"total": None, "done": 0, "started": time.monotonic()})
            row["status"], row["finished"] = status, True
            if not self.live:
                self._write(f"{key[:12]}: {status}\n")
            self._draw(force=True)

    def _line(self, key: str, row: dict) -> str:
        if row.get("finished") or not row["total"]:
            return f"{key[:12]}: {row['status']}"
        elapsed = max(time.monotonic() - row["started"], 1e-3)
        speed = row["done"] / elapsed
        left = (row["total"] - row["done"]) / speed if speed > 0 else 0
        width = 24
        filled = int(width * min(row["done"] / row["total"], 1.0))
        bar = "=" * max(filled - 1, 0) + (">" if filled else "") + " " * (width - filled)
        return (f"{key[:12]}: {row['status']} [{bar}] {human_size(row['done'])}/{human_size(row['total'])} "
                f"{human_size(speed)}/s {int(left)}s")

    def _draw(self, force: bool = False) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        lines = [f"\x1b[2K{self._line(k, r)}" for k, r in self._rows.items()]
        self._write(up + "\n".join(lines) + "\n")
        self._drawn = len(lines)

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
