"""A writer's output as a readable stream: `produce(out)` runs in a thread and writes into a pipe.

Used where one side of the archive module writes (write_tree, compression) and the other reads
(extract, an HTTP upload), so nothing is staged on disk or in memory.
"""
from __future__ import annotations

import os
import threading

from berth.archive import CHUNK


class WriterPipe:
    """Read what `produce(out)` writes. `finish()` reads what the consumer left (a tar reader may
    stop at the end-of-archive blocks), waits for the writer and re-raises its error; `result` is
    then produce's return value. `abandon()` drops the rest: the writer stops on a broken pipe.
    As a context manager: finish on success, abandon when the block raised; then a writer's own
    failure (not the broken pipe the abandon causes) is the cause to report, raised in its place."""

    def __init__(self, produce):
        read_fd, write_fd = os.pipe()
        self.result = None
        self._error: BaseException | None = None

        def run():
            try:
                with open(write_fd, "wb", buffering=CHUNK) as out:
                    self.result = produce(out)
            except BaseException as e:  # re-raised by finish(), in the consumer's thread
                self._error = e
        self._stream = open(read_fd, "rb", buffering=CHUNK)
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)

    def readinto(self, b) -> int:
        return self._stream.readinto(b)

    def readable(self) -> bool:
        return True

    def finish(self):
        while self._stream.read(CHUNK):
            pass
        self._stream.close()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.result

    def abandon(self) -> None:
        self._stream.close()
        self._thread.join()

    def close(self) -> None:
        self.finish()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
            return
        self.abandon()
        if self._error is not None and not isinstance(self._error, BrokenPipeError):
            raise self._error from exc
