"""The Dockerfile language's errors: DockerfileError, which callers catch, and Problem, which the
modules below parse() raise where the file and line are not known."""
from __future__ import annotations

from berth.errors import BerthError


class DockerfileError(BerthError):
    """A Dockerfile cannot be parsed or evaluated; the message is `FILE:LINE: problem`."""

    def __init__(self, filename: str, line: int | None, problem: str):
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {problem}")
        self.filename, self.line, self.problem = filename, line, problem


class Problem(Exception):
    """A problem found below the level that knows the file and line; re-raised as DockerfileError."""
