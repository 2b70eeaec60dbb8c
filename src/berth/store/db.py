"""The state database: sqlite in WAL mode, safe for several berth processes at once."""
from __future__ import annotations

try:
    # the C module itself: sqlite3's Python layer imports datetime for adapters berth never uses,
    # milliseconds of every command
    import _sqlite3 as sqlite3
except ImportError:  # an interpreter that lays sqlite3 out differently
    import sqlite3

from .fsutil import flock

SCHEMA_VERSION = 11

EVENTS_KEPT = 1000   # the event log keeps the newest 1000 events (docker keeps 256, in memory)
_TRIM_EVERY = 100    # ... trimmed once every 100 appends: between 1000 and 1099 rows

_SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    chain_id  TEXT PRIMARY KEY,
    diff_id   TEXT NOT NULL,
    parent    TEXT,
    size      INTEGER NOT NULL,     -- file content bytes, as docker reports layer sizes
    tar_size  INTEGER NOT NULL,
    blob      TEXT,                 -- original blob digest, kept only when tar-split cannot rebuild it
    created   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    id        TEXT PRIMARY KEY,     -- config digest
    manifest  TEXT NOT NULL,        -- digest of the (local) manifest blob
    created   TEXT NOT NULL,        -- from the config
    size      INTEGER NOT NULL,
    added     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    chain_id  TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, idx)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS tags (
    name      TEXT PRIMARY KEY,     -- docker.io/library/busybox:latest
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    tagged    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS containers (
    id        TEXT PRIMARY KEY,
    name      TEXT UNIQUE NOT NULL,
    image_id  TEXT NOT NULL REFERENCES images(id),
    config    TEXT NOT NULL,        -- JSON, immutable: a changed configuration is a new container
    created   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS container_state (
    id            TEXT PRIMARY KEY REFERENCES containers(id) ON DELETE CASCADE,
    status        TEXT NOT NULL,    -- created | running | paused | restarting | exited
    pid           INTEGER NOT NULL DEFAULT 0,
    monitor_pid   INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER NOT NULL DEFAULT 0,
    oom_killed    INTEGER NOT NULL DEFAULT 0,
    started_at    REAL,
    finished_at   REAL,
    restart_count INTEGER NOT NULL DEFAULT 0,
    stopped_by_user INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS container_exits (  -- exit codes of removed containers, for waiters
    id        TEXT PRIMARY KEY,
    exit_code INTEGER NOT NULL,
    removed   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS networks (     -- user-defined bridge networks
    id        TEXT PRIMARY KEY,
    name      TEXT UNIQUE NOT NULL,
    driver    TEXT NOT NULL,
    subnet    TEXT NOT NULL,            -- CIDR
    gateway   TEXT NOT NULL,
    ip_range  TEXT NOT NULL,            -- CIDR the addresses are drawn from ('' = the subnet)
    internal  INTEGER NOT NULL,
    bridge    TEXT NOT NULL,            -- the Linux bridge's name
    labels    TEXT NOT NULL,            -- JSON
    options   TEXT NOT NULL,            -- JSON
    created   REAL NOT NULL,
    subnet6   TEXT NOT NULL DEFAULT '', -- IPv6 CIDR ('' = no IPv6)
    gateway6  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS network_endpoints (  -- a container's place on a network, kept across restarts
    network_id   TEXT NOT NULL REFERENCES networks(id),
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    address      TEXT NOT NULL,
    aliases      TEXT NOT NULL,     -- JSON list
    address6     TEXT,              -- on an IPv6 network (NULL: none)
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, address),
    UNIQUE (network_id, address6)
);
CREATE TABLE IF NOT EXISTS pods (         -- containers sharing namespaces held by an infra container
    id        TEXT PRIMARY KEY,
    name      TEXT UNIQUE NOT NULL,
    infra_id  TEXT NOT NULL,
    config    TEXT NOT NULL,            -- JSON: share, limits, labels
    created   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS services (     -- host ports spread over backends (network/balancer.py)
    name      TEXT PRIMARY KEY,
    chain     TEXT NOT NULL,            -- its nat chain, BERTH-SVC-<12 hex>
    ports     TEXT NOT NULL,            -- JSON list of {name, protocol, host_port, target_port}
    backends  TEXT NOT NULL,            -- JSON list: the pod or container IDs as given
    labels    TEXT NOT NULL,            -- JSON
    created   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS service_backends (  -- the containers whose namespaces serve a service
    service      TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
    container_id TEXT NOT NULL,         -- no reference: a removed pod's container just stops serving
    PRIMARY KEY (service, container_id)
);
CREATE INDEX IF NOT EXISTS service_backends_container ON service_backends(container_id);
CREATE TABLE IF NOT EXISTS volumes (
    name      TEXT PRIMARY KEY,
    driver    TEXT NOT NULL,
    options   TEXT NOT NULL,        -- JSON
    labels    TEXT NOT NULL,        -- JSON
    anonymous INTEGER NOT NULL,
    created   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS container_volumes (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    volume       TEXT NOT NULL REFERENCES volumes(name),
    destination  TEXT NOT NULL,
    PRIMARY KEY (container_id, destination)
);
CREATE TABLE IF NOT EXISTS blob_sources (  -- compressed blobs of a layer seen in registries (pull, push)
    diff_id    TEXT NOT NULL,
    digest     TEXT NOT NULL,         -- the blob digest registries know the layer by
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL,
    repository TEXT NOT NULL,         -- registry/repository that has it: a source for cross-repo mounts
    PRIMARY KEY (diff_id, digest, repository)
);
CREATE TABLE IF NOT EXISTS build_cache (  -- a build step's inputs -> its result
    key        TEXT PRIMARY KEY,      -- sha256 of the parent step's key and this step's inputs
    parent     TEXT NOT NULL,
    keyword    TEXT NOT NULL,         -- RUN, COPY, ADD, WORKDIR
    inputs     TEXT NOT NULL,         -- JSON: what the key covers, to explain a miss
    chain_id   TEXT,                  -- the layer made (NULL: none)
    config     TEXT NOT NULL,         -- the image config after the step
    created    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS build_cache_parent ON build_cache(parent, keyword);
CREATE TABLE IF NOT EXISTS events (     -- what happened, as docker's events report it (store/events.py)
    seq        INTEGER PRIMARY KEY,     -- commit order: one writer at a time, the newest row never deleted
    time_ns    INTEGER NOT NULL,
    type       TEXT NOT NULL,           -- container | image | volume | network
    action     TEXT NOT NULL,           -- create, start, die, ... (exec_create: CMD)
    actor      TEXT NOT NULL,           -- the ID of what it happened to
    attributes TEXT NOT NULL            -- JSON object of strings: name, image, labels, exitCode, ...
);
CREATE TABLE IF NOT EXISTS repo_digests (
    name      TEXT PRIMARY KEY,     -- docker.io/library/busybox@sha256:...
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
"""


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        # Switching a new database to WAL answers "database is locked" at once, without waiting,
        # when another process opens it at the same moment: creation and migration are serialised.
        with flock(path + ".init-lock"):
            _initialise(conn)
    return conn


def _initialise(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")  # persistent: later connections open in WAL
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:  # another process got here first
        return
    with transaction(conn):
        if 0 < version < 5:  # until schema 5 the monitor was conmon
            conn.execute("ALTER TABLE container_state RENAME COLUMN conmon_pid TO monitor_pid")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        _add_ipv6_columns(conn)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _add_ipv6_columns(conn: sqlite3.Connection) -> None:
    """Schema 10: IPv6 on user networks, added to tables made before it (CREATE ... IF NOT EXISTS
    leaves them as they were)."""
    def columns(table):
        return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
    if "subnet6" not in columns("networks"):
        conn.execute("ALTER TABLE networks ADD COLUMN subnet6 TEXT NOT NULL DEFAULT ''")
        conn.execute("ALTER TABLE networks ADD COLUMN gateway6 TEXT NOT NULL DEFAULT ''")
    if "address6" not in columns("network_endpoints"):
        conn.execute("ALTER TABLE network_endpoints ADD COLUMN address6 TEXT")
        conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS network_endpoints_address6 "
                     "ON network_endpoints(network_id, address6)")


def append_events(conn: sqlite3.Connection, events) -> None:
    """Append (type, action, actor ID, attributes) events to the event log: inside the caller's
    transaction when one is open (a change and its event commit together, and `run` pays no extra
    commit), else in a transaction of their own. Here rather than in events.py, which is for the
    readers: every command that changes something writes, and this costs no import."""
    if not events:
        return
    if not conn.in_transaction:
        with transaction(conn):
            append_events(conn, events)
        return
    from berth import cjson
    import time
    seq = 0
    for kind, action, actor, attributes in events:
        seq = conn.execute("INSERT INTO events(time_ns, type, action, actor, attributes) VALUES (?,?,?,?,?)",
                           (time.time_ns(), kind, action, actor, cjson.dumps(attributes))).lastrowid
    if seq % _TRIM_EVERY < len(events):
        conn.execute("DELETE FROM events WHERE seq <= ?", (seq - EVENTS_KEPT,))


class transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, *_):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
