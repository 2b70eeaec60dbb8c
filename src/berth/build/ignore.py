""".dockerignore: reading the file and deciding which context paths are left out.

Docker's rules (moby/patternmatcher): a line starting with `#` in column 1 is a comment; lines are
trimmed, blank ones skipped; `!` makes an exception; patterns are cleaned like Go's filepath.Clean
and a leading `/` dropped, so `/foo/bar`, `./foo/bar` and `foo/bar/` are the same rule. A rule
matches a path or any of its parent directories; the last rule that matches decides. An excluded
directory is still walked when an exception could re-include something below it.

`<Dockerfile>.dockerignore` next to the Dockerfile takes precedence over the context's
`.dockerignore` (BuildKit); only one of them is used.
"""
from __future__ import annotations

from berth import pathmatch
from berth.errors import IgnoreFileError

_BOM = "\ufeff"


def parse_ignore_file(data: bytes | str) -> list[str]:
    """The patterns of a .dockerignore file, normalised as docker's ignorefile.ReadAll does."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    if text.startswith(_BOM):
        text = text[1:]
    patterns = []
    for line in text.split("\n"):
        if line.startswith("#"):  # only in column 1: "  # x" is a pattern
            continue
        line = line.strip()
        if not line:
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
        if line:
            line = pathmatch.clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if exception else line)
    return patterns


class IgnoreRule:
    __slots__ = ("text", "exception", "regex", "parts")

    def __init__(self, text: str, exception: bool):
        self.text = text
        self.exception = exception
        self.regex = pathmatch.compile_pattern(text)
        self.parts = text.split("/")

    def matches(self, path: str) -> bool:
        """The path itself, or one of its parent directories (a rule `foo` covers `foo/bar`)."""
        if self.regex.fullmatch(path):
            return True
        end = path.find("/")
        while end != -1:
            if self.regex.fullmatch(path, 0, end):
                return True
            end = path.find("/", end + 1)
        return False

    def may_match_below(self, dir_parts: list[str]) -> bool:
        """Could this rule match some path strictly under the directory `dir_parts`?"""
        if "**" in self.text:
            return True  # any depth: be generous, walking more is only slower
        if len(self.parts) <= len(dir_parts):
            return False  # it can only name the directory or its parents: no difference below
        for part, name in zip(self.parts, dir_parts):
            if not pathmatch.compile_pattern(part, doublestar=False).fullmatch(name):
                return False
        return True

    def __repr__(self):
        return f"IgnoreRule({'!' if self.exception else ''}{self.text})"


class IgnoreMatcher:
    """Decides, for paths relative to the context root (`a/b`, no leading `/`), what is excluded."""

    def __init__(self, patterns: list[str] = ()):
        self.rules: list[IgnoreRule] = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            exception = text.startswith("!")
            if exception:
                text = text[1:]
                if not text:
                    raise IgnoreFileError('illegal exclusion pattern: "!"')
            text = pathmatch.clean(text)
            try:
                self.rules.append(IgnoreRule(text, exception))
            except pathmatch.BadPattern:
                raise IgnoreFileError(f"invalid .dockerignore pattern {raw!r}: syntax error in pattern") from None
        self.has_exceptions = any(r.exception for r in self.rules)

    def __bool__(self):
        return bool(self.rules)

    def excluded(self, path: str) -> bool:
        path = path.strip("/")
        if not path or path == ".":
            return False  # the context root itself is never left out
        result = False
        for rule in self.rules:
            # An exception only matters once something excluded the path, and the reverse.
            if rule.exception != result:
                continue
            if rule.matches(path):
                result = not rule.exception
        return result

    def may_include_below(self, directory: str) -> bool:
        """For an excluded directory: is it worth walking, because an exception could bring back
        something under it?"""
        if not self.has_exceptions:
            return False
        parts = directory.strip("/").split("/")
        return any(r.exception and r.may_match_below(parts) for r in self.rules)
