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

Registry-wide resources are granted by a key `registry:<resource>` in place of a pattern, with
the actions ["*"] (repository names contain no `:`, so such a key never matches a repository):

    "registry:catalog"   the list of every repository (/v2/_catalog; token scope registry:catalog:*)
    "registry:metrics"   /metrics and the web UI's front page, whose storage totals are registry-wide
                         (token scope registry:metrics:*)

    {"prometheus": {"registry:metrics": ["*"]}, "admin": {"*": ["*"], "registry:metrics": ["*"]}}

The catalog is also granted to users whose rules include pull on the pattern `*` (whoever may pull
every repository may as well list them). The metrics grant is only ever explicit: a token that
grants nothing, as an anonymous one, never reads registry-wide numbers.
"""
from __future__ import annotations

import fnmatch
import json

from berth.errors import BerthError

ACTIONS = ("pull", "push", "delete")
ANONYMOUS = "anonymous"
ANY_USER = "*"
REGISTRY_PREFIX = "registry:"
REGISTRY_RESOURCES = ("catalog", "metrics")


class Policy:
    def __init__(self, rules: dict[str, list[tuple[str, frozenset[str]]]],
                 registry_grants: dict[str, frozenset[str]] | None = None):
        self.rules = rules  # user -> [(pattern, actions)]
        self.registry_grants = registry_grants or {}  # user -> registry-wide resources

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
        rules, registry_grants = {}, {}
        for user, patterns in doc.items():
            if not isinstance(patterns, dict):
                raise BerthError(f"{source}: user {user!r}: expected an object of pattern -> [actions]")
            entries, resources = [], set()
            for pattern, actions in patterns.items():
                if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
                    raise BerthError(f"{source}: {user!r} {pattern!r}: actions must be a list of strings")
                if pattern.startswith(REGISTRY_PREFIX):
                    resource = pattern[len(REGISTRY_PREFIX):]
                    if resource not in REGISTRY_RESOURCES:
                        raise BerthError(f"{source}: {user!r}: unknown registry resource {pattern!r} (use "
                                         f"{', '.join(REGISTRY_PREFIX + r for r in REGISTRY_RESOURCES)})")
                    if set(actions) != {"*"}:
                        raise BerthError(f"{source}: {user!r} {pattern!r}: a registry resource takes "
                                         'the actions ["*"]')
                    resources.add(resource)
                    continue
                unknown = set(actions) - {*ACTIONS, "*"}
                if unknown:
                    raise BerthError(f"{source}: {user!r} {pattern!r}: unknown action {sorted(unknown)[0]!r} "
                                     f"(use {', '.join(ACTIONS)} or *)")
                entries.append((pattern, frozenset(ACTIONS) if "*" in actions else frozenset(actions)))
            rules[user] = entries
            registry_grants[user] = frozenset(resources)
        return cls(rules, registry_grants)

    @staticmethod
    def _users(user: str | None) -> list[str]:
        return [ANONYMOUS] if not user else [user, ANY_USER, ANONYMOUS]

    def _entries(self, user: str | None):
        for name in self._users(user):
            yield from self.rules.get(name, ())

    def allowed(self, user: str | None, repository: str) -> frozenset[str]:
        """The actions `user` (None or "" for anonymous) may perform on `repository`."""
        granted = set()
        for pattern, actions in self._entries(user):
            if fnmatch.fnmatchcase(repository, pattern):
                granted |= actions
        return frozenset(granted)

    def may_read_registry(self, user: str | None, resource: str) -> bool:
        """Whether `user` may read the registry-wide `resource` (one of REGISTRY_RESOURCES)."""
        if any(resource in self.registry_grants.get(name, ()) for name in self._users(user)):
            return True
        return resource == "catalog" and any(pattern == "*" and "pull" in actions
                                             for pattern, actions in self._entries(user))

    def may_list_catalog(self, user: str | None) -> bool:
        return self.may_read_registry(user, "catalog")

    def grants_anonymous(self) -> bool:
        return bool(self.registry_grants.get(ANONYMOUS)) or any(actions for _, actions in self.rules.get(ANONYMOUS, ()))
