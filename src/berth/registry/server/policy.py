"""Per-repository permissions for the token service, read from a JSON policy file.

The file maps a user to repository patterns (fnmatch globs: `team/*`, `*`, `base/alpine`) and the
actions allowed on matching repositories: "pull", "push", "delete", or "*" for all three:

    {
      "alice":     {"team/*": ["pull", "push", "delete"], "*": ["pull"]},
      "*":         {"shared/*": ["pull", "push"]},
      "anonymous": {"public/*": ["pull"]}
    }

"anonymous" is a client that sent no credentials; "*" is every user who logged in. A logged-in
user gets the union of their own entry, the "*" entry and the "anonymous" entry (whatever anyone
may do, a known user may do too); an anonymous client only the "anonymous" entry. Pushing needs
"pull" as well as "push" (clients ask for both, and the registry checks both), as in docker
distribution. `fnmatch`'s `*` also matches `/`, so `team/*` covers `team/a/b`.

Listing the catalog (`/v2/_catalog`, scope `registry:catalog:*`) is granted to users whose rules
include pull on the pattern `*`: the catalog names every repository, so it goes only to whoever
may pull every repository.
"""
from __future__ import annotations

import fnmatch
import json

from berth.errors import BerthError

ACTIONS = ("pull", "push", "delete")
ANONYMOUS = "anonymous"
ANY_USER = "*"


class Policy:
    def __init__(self, rules: dict[str, list[tuple[str, frozenset[str]]]]):
        self.rules = rules  # user -> [(pattern, actions)]

    @classmethod
    def load(cls, path: str) -> "Policy":
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except OSError as e:
            raise BerthError(f"cannot read token policy {path}: {e.strerror}") from None
        except ValueError as e:
            raise BerthError(f"token policy {path} is not valid JSON: {e}") from None
        return cls.parse(doc, path)

    @classmethod
    def parse(cls, doc, source: str = "policy") -> "Policy":
        if not isinstance(doc, dict):
            raise BerthError(f"{source}: expected a JSON object of user -> {{pattern: [actions]}}")
        rules = {}
        for user, patterns in doc.items():
            if not isinstance(patterns, dict):
                raise BerthError(f"{source}: user {user!r}: expected an object of pattern -> [actions]")
            entries = []
            for pattern, actions in patterns.items():
                if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
                    raise BerthError(f"{source}: {user!r} {pattern!r}: actions must be a list of strings")
                unknown = set(actions) - {*ACTIONS, "*"}
                if unknown:
                    raise BerthError(f"{source}: {user!r} {pattern!r}: unknown action {sorted(unknown)[0]!r} "
                                     f"(use {', '.join(ACTIONS)} or *)")
                entries.append((pattern, frozenset(ACTIONS) if "*" in actions else frozenset(actions)))
            rules[user] = entries
        return cls(rules)

    def _entries(self, user: str | None):
        users = [ANONYMOUS] if not user else [user, ANY_USER, ANONYMOUS]
        for name in users:
            yield from self.rules.get(name, ())

    def allowed(self, user: str | None, repository: str) -> frozenset[str]:
        """The actions `user` (None or "" for anonymous) may perform on `repository`."""
        granted = set()
        for pattern, actions in self._entries(user):
            if fnmatch.fnmatchcase(repository, pattern):
                granted |= actions
        return frozenset(granted)

    def may_list_catalog(self, user: str | None) -> bool:
        return any(pattern == "*" and "pull" in actions for pattern, actions in self._entries(user))

    def grants_anonymous(self) -> bool:
        return any(actions for _, actions in self.rules.get(ANONYMOUS, ()))
