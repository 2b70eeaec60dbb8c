"""Attachment: one client's connection to a running container's stdio (run without -d, start -a,
attach), through the monitor's attach socket. The front end keeps its terminal (raw mode, size
changes, signals it forwards); this carries the bytes, the resizes and the signals."""
from __future__ import annotations

from berth.runtime import attach


class Attachment:
    def __init__(self, service, container, sock, finish=None):
        """`finish(container ID)` waits for the exit and returns its code (default: service.wait)."""
        self.service, self.container, self.sock = service, container, sock
        self.bundle = service.records.dir(container.id)
        self.finish = finish or service.wait
        self.exit_code = None

    def pump(self, stdin_fd: int | None, stdout_fd: int, stderr_fd: int) -> int:
        """Copy stdin in and the output out until the output ends; returns the exit code."""
        try:
            attach.pump(self.sock, stdin_fd, stdout_fd, stderr_fd)
        finally:
            self.close()
        self.exit_code = self.finish(self.container.id)
        return self.exit_code

    def resize(self, rows: int, columns: int) -> None:
        attach.resize(self.bundle, rows, columns)

    def signal(self, signum: int) -> None:
        """docker's --sig-proxy: a signal the client got goes to the container."""
        try:
            self.service.runtime(self.container.config.get("runtime")).kill(self.container.id, signum)
        except Exception:  # it has exited meanwhile
            pass

    def close(self) -> None:
        self.sock.close()

