"""The on-disk store: blobs by digest, layers unpacked once per chainID, images and their names.

The store creates and names every path under its root (default /var/lib/berth); no other package
joins a path to the root. Layout:
    berth.db                  state (sqlite, WAL): images, tags, layers and their references,
                              containers (config, state, volumes used; the exit codes of removed ones,
                              for their waiters), volumes, networks and their endpoints (addresses), pods,
                              services, build cache, blob sources; the event log (the newest 1000 events)
    blobs/sha256/<hex>        content: image configs, manifests, original layer blobs kept when needed
    layers/<chainid-hex>/     diff/ (the unpacked layer, overlayfs whiteout format) + tar-split
    containers/<id>/          a container's bundle: config.json, rootfs/ (the overlay mount), upper/,
                              work/, ctr.log, health.json (its health checks' state), and the
                              monitor's attach socket, ctl fifo and locks
    exits/<id>                exit codes, written by the monitors
    runtime/                  the OCI runtime's state (runc --root)
    volumes/<name>/           _data/ (the data, or a volume's mount point) and .filled
    build-cache-mounts/<key>/ RUN --mount=type=cache directories
    auth.json                 registry credentials (`login`), 0600
    registries.json           per-registry client settings
    registry/                 the default storage of `registry serve`
    tmp/                      staging (and health-*/: a health checker's probe files); anything left
                              here by a dead process is removed on open
    locks/                    flock files (store: reference changes; ctr-<id>; wait-<id>: a waiter;
                              a removed container's go with its kept exit code)
"""
from berth.store.store import Store

__all__ = ["Store"]
