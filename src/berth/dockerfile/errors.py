"""Problem: what the modules below parse() raise where the file and line are not known; parse()
re-raises it as berth.errors.DockerfileError, which callers catch."""
from __future__ import annotations


class Problem(Exception):
    """A problem found below the level that knows the file and line; re-raised as DockerfileError."""
