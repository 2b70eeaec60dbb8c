"""The registry server as an engine service: `serve` runs it from one ServerConfig, `gc` collects its
storage. Front ends only fill the config and present what comes back."""
from __future__ import annotations

import os

from berth.errors import BerthError


class RegistryServerService:
    def __init__(self, engine):
        self.engine = engine

    def storage_dir(self, config_storage: str | None) -> str:
        return config_storage or self.engine.store.registry_storage

    def serve(self, config, on_ready, say=lambda line: None) -> None:
        """Serve until interrupted; `on_ready(url)` once listening, `say(line)` for notices."""
        import asyncio  # lazily: aiohttp and friends cost every other berth command start-up time

        from berth.registry.server.app import run
        from berth.registry.server.connections import Limits
        from berth.registry.server.context import Registry, Settings
        from berth.registry.server.filesystem import FilesystemStorage
        ssl_context = _ssl_context(config) if config.tls_cert else None
        storage = FilesystemStorage(self.storage_dir(config.storage))
        purged = storage.purge_uploads(config.purge_uploads_after)
        if purged:
            say(f"removed {purged} stale upload(s)")
        limits = Limits(max_connections=config.max_connections, header_timeout=config.header_timeout,
                        idle_timeout=config.idle_timeout, body_timeout=config.body_timeout)
        settings = Settings(read_only=config.read_only, max_upload_size=config.max_upload_size, ui=config.ui,
                            metrics=config.metrics, purge_uploads_after=config.purge_uploads_after,
                            max_open_uploads=config.max_open_uploads, limits=limits)
        registry = Registry(storage, settings, **_auth(config, storage.root))
        try:
            asyncio.run(run(registry, config.host, config.port, ssl_context, on_ready=on_ready))
        except OSError as e:
            raise BerthError(f"cannot listen on {config.addr}: {e.strerror or e}") from None

    def gc(self, storage: str | None, grace: float, delete_untagged: bool, dry_run: bool, report):
        """Delete the blobs no manifest references (see gc.collect); `report(line)` per deletion."""
        root = self.storage_dir(storage)
        if not os.path.isdir(os.path.join(root, "blobs")):
            raise BerthError(f"no registry storage at {root}")
        from berth.registry.server.filesystem import FilesystemStorage
        from berth.registry.server.gc import collect
        return collect(FilesystemStorage(root), grace=grace, delete_untagged=delete_untagged, dry_run=dry_run,
                       report=report)


def _ssl_context(config):
    import ssl
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as e:
        raise BerthError(f"cannot load TLS certificate {config.tls_cert} / key {config.tls_key}: {e}") from None
    return context


def _auth(config, storage_root: str) -> dict:
    """The Registry's authenticator, authorizer and token service for the config's auth mode."""
    from berth.registry.server.auth import AuthenticatedOnly, HtpasswdAuthenticator
    if config.auth == "basic":
        return {"authenticator": HtpasswdAuthenticator(config.htpasswd), "authorizer": AuthenticatedOnly()}
    if config.auth != "token":
        return {}
    from berth.registry.server.policy import Policy
    from berth.registry.server.token import TokenAuthenticator, TokenAuthorizer, TokenService, load_secret
    service = TokenService(load_secret(storage_root), Policy.load(config.token_policy),
                           HtpasswdAuthenticator(config.htpasswd) if config.htpasswd else None,
                           issuer=config.token_issuer, ttl=config.token_ttl, realm=config.token_realm)
    return {"authenticator": TokenAuthenticator(service), "authorizer": TokenAuthorizer(service),
            "token_service": service}
