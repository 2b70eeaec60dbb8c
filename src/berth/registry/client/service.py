"""Images to and from registries, behind `berth pull|push|login|logout|image copy` (engine.registries).

Settings live in `<root>/registries.json` (optional), in the spirit of docker's daemon.json:

    {"insecure": ["registry.local:5000"],            plain HTTP / unverified TLS allowed
     "mirrors": {"docker.io": ["mirror.local:5000"]}}  tried in order before the registry itself

Loopback registries are always allowed plain HTTP, as docker does. A mirror that is unreachable or
does not have the image is skipped; what a mirror does send is verified like any registry's.
"""
from __future__ import annotations

import json

from berth.errors import BerthError, InvalidReference
from berth.oci.reference import Reference
from berth.registry.client import credentials as creds


class RegistryClientService:
    def __init__(self, store, images):
        self.store = store
        self.images = images
        self.auth_file = store.auth_file
        self.config_file = store.registries_file
        self._config: dict | None = None

    @property
    def config(self) -> dict:
        if self._config is None:
            try:
                with open(self.config_file, encoding="utf-8") as f:
                    doc = json.load(f)
            except FileNotFoundError:
                doc = {}
            except (OSError, ValueError) as e:
                raise BerthError(f"cannot read {self.config_file}: {e}") from None
            if not isinstance(doc, dict) or not isinstance(doc.get("insecure", []), list) \
                    or not isinstance(doc.get("mirrors", {}), dict):
                raise BerthError(f"{self.config_file}: expected {{\"insecure\": [...], \"mirrors\": {{...}}}}")
            self._config = doc
        return self._config

    def session(self, registry: str, tls_verify: bool = True, credentials=None):
        """An HTTP session to `registry` with the stored (or given) credentials."""
        from berth.registry.client.session import Session
        if credentials is None:
            credentials = creds.lookup(self.auth_file, registry)
        insecure = not tls_verify or registry in self.config.get("insecure", [])
        return Session(creds.api_host(registry), credentials, insecure=insecure)

    def pull(self, text: str, platform: str | None = None, tls_verify: bool = True, progress=None,
             credentials: tuple[str, str] | None = None):
        """Pull an image (docker.io by default) for this machine's platform or `platform`.
        credentials: (user, password) for the registry (not its mirrors), in place of stored ones."""
        from berth.errors import RegistryClientError
        from berth.oci.platform import Platform
        from berth.registry.client.pull import pull
        ref = Reference.parse(text)
        chosen = Platform.parse(platform) if platform else Platform.host()
        for mirror in self.config.get("mirrors", {}).get(ref.registry, []):
            try:
                image = pull(self.store, self.session(mirror, tls_verify), ref, chosen, progress)
            except RegistryClientError:
                continue  # unreachable, or it lacks the image: next mirror, then the registry
            break
        else:
            image = pull(self.store, self.session(ref.registry, tls_verify, credentials), ref, chosen, progress)
        self._log(image, "pull", ref)
        return image

    def _log(self, image, action: str, ref: Reference) -> None:
        """pull and push as docker logs them: by the reference, named by its repository."""
        labels = {}
        if image is not None:
            try:
                labels = self.store.images.config(image).config.get("Labels") or {}
            except (OSError, LookupError, BerthError):
                pass
        self.store.events.append(("image", action, ref.familiar, {**labels, "name": ref.familiar_name}))

    def pull_all_tags(self, text: str, platform: str | None = None, tls_verify: bool = True, progress=None):
        """Pull every tag of a repository; returns [(tag, Image)]."""
        from berth.registry.client.pull import list_tags
        ref = Reference.parse(text, default_tag=False)
        if ref.tag or ref.digest:
            raise InvalidReference(f"--all-tags takes a repository without a tag or digest: {text}")
        tags = list_tags(self.session(ref.registry, tls_verify), ref)
        return [(t, self.pull(str(ref.with_tag(t)), platform, tls_verify, progress)) for t in tags]

    def push(self, text: str, destination: str | None = None, tls_verify: bool = True, report=None,
             credentials: tuple[str, str] | None = None):
        """Push a local image to `destination` (default: its own name); returns the manifest digest.
        credentials: (user, password) in place of the stored ones."""
        from berth.registry.client.push import push
        image = self.images.get(text)
        ref = Reference.parse(destination or text)
        if ref.digest is not None:
            raise InvalidReference(f"cannot push to a digest reference: {ref.familiar}")
        digest = push(self.store, self.session(ref.registry, tls_verify, credentials), image, ref, report)
        self._log(image, "push", ref)
        return digest

    def describe(self, text: str, tls_verify: bool = True, credentials: tuple[str, str] | None = None):
        """What the registry holds under a reference, without pulling: (descriptor of the manifest or
        index, the platforms it offers)."""
        from berth.registry.client.pull import describe
        ref = Reference.parse(text)
        return describe(self.session(ref.registry, tls_verify, credentials), ref)

    def copy(self, source: str, destination: str, tls_verify: bool = True, report=None):
        """Copy an image (or index) between registries without unpacking; returns its digest."""
        from berth.registry.client.copy import copy
        src, dst = Reference.parse(source), Reference.parse(destination)
        if dst.digest is not None:
            raise InvalidReference(f"cannot copy to a digest reference: {dst.familiar}")
        return copy(self.session(src.registry, tls_verify), src, self.session(dst.registry, tls_verify), dst, report)

    def login(self, registry: str, user: str, password: str, tls_verify: bool = True, remember: bool = True) -> None:
        """Check the credentials against the registry, then remember them (unless `remember` is
        false: the API's POST /auth only checks, the client keeps them)."""
        registry = registry_name(registry)
        session = self.session(registry, tls_verify, credentials=(user, password))
        session.request("GET", "/v2/", scope="", ok=(200,))
        if remember:
            creds.store(self.auth_file, registry, user, password)

    def logout(self, registry: str) -> bool:
        return creds.remove(self.auth_file, registry_name(registry))


def registry_name(text: str) -> str:
    """`https://r.example:5000/` or `r.example:5000` -> `r.example:5000`; docker's hub names -> docker.io."""
    host = text.split("://", 1)[-1].split("/", 1)[0]
    if not host:
        raise InvalidReference(f"invalid registry {text!r}")
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host
