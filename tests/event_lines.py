"""An event follower (`berth events`, `docker events`) in the background: its JSON lines as they come,
waited for with a deadline."""
from __future__ import annotations

import json
import subprocess
import threading
import time


class EventLines:
    def __init__(self, argv: list[str], env: dict | None = None):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            doc = json.loads(line)
            with self._lock:
                self.events.append(doc)

    def seen(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def wait(self, predicate, timeout: float = 30.0, what: str = "events") -> list[dict]:
        """The events so far once predicate(events) holds; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.seen()
            if predicate(events):
                return events
            if time.monotonic() > deadline or (self.proc.poll() is not None and not self._reader.is_alive()):
                raise AssertionError(f"no {what} within {timeout}s (follower exit {self.proc.poll()}, "
                                     f"stderr {self._stderr()!r}); got: {[_short(e) for e in events]}")
            time.sleep(0.02)

    def wait_exit(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def _stderr(self) -> bytes:
        if self.proc.poll() is None:
            return b""
        return self.proc.stderr.read()[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _short(e: dict) -> str:
    return f"{e.get('Type')} {e.get('Action')} {e.get('Actor', {}).get('Attributes', {}).get('name', '')}"


def of_container(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["Type"] == "container" and e["Actor"]["Attributes"].get("name") == name]


def actions(events: list[dict]) -> list[str]:
    return [e["Action"] for e in events]
