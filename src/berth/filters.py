"""docker's list filters: `--filter KEY=VALUE` on the command line, `filters={"key": ["value"]}` in the
API. The rules every list shares live here; each service evaluates its own keys with them.

Values of one key are alternatives (except `label`, where each must hold); different keys must all
hold. `name`-like keys are regular expressions searched in the text, as docker's.
"""
from __future__ import annotations

from berth.errors import InvalidArgument


class Filters:
    def __init__(self, given: dict | None, allowed: tuple[str, ...]):
        self.given: dict[str, list[str]] = {}
        for key, values in (given or {}).items():
            if key not in allowed:
                raise InvalidArgument(f"invalid filter '{key}'")
            self.given[key] = [str(v) for v in ([values] if isinstance(values, str) else values)]

    def __contains__(self, key: str) -> bool:
        return key in self.given

    def values(self, key: str) -> list[str]:
        return self.given.get(key, [])

    def search(self, key: str, *texts: str) -> bool:
        """Any of the key's patterns, as regular expressions, found in any of the texts (true when the
        key is not given). A pattern that is no regular expression matches nothing."""
        if key not in self.given:
            return True
        import re
        for pattern in self.given[key]:
            for text in texts:
                try:
                    if re.search(pattern, text):
                        return True
                except re.error:
                    pass
        return False

    def labels(self, labels: dict, key: str = "label") -> bool:
        """Every KEY or KEY=VALUE of the key holds for the labels."""
        for spec in self.given.get(key, []):
            name, eq, value = spec.partition("=")
            if name not in labels or (eq and labels[name] != value):
                return False
        return True

    def boolean(self, key: str) -> bool | None:
        """A true/false key (dangling=true): its value, or None when not given."""
        found = None
        for value in self.given.get(key, []):
            if value.lower() not in ("true", "1", "false", "0"):
                raise InvalidArgument(f"invalid filter '{key}={value}'")
            found = value.lower() in ("true", "1")
        return found
