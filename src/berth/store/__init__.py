"""The on-disk store: blobs by digest, layers unpacked once per chainID, images and their names.

Layout under the root (default /var/lib/berth):
    berth.db                  state (sqlite, WAL) — images, tags, layers and their references, containers
                              (and, for their waiters, the exit codes of removed ones)
    blobs/sha256/<hex>        content: image configs, manifests, original layer blobs kept when needed
    layers/<chainid-hex>/     diff/ (the unpacked layer, overlayfs whiteout format) + tar-split
    tmp/                      staging; anything left here by a dead process is removed on open
    locks/                    flock files (wait-<id>: a `wait` in progress)
"""
from berth.store.store import Store

__all__ = ["Store"]
