"""Multi-document Kubernetes YAML, read with PyYAML's safe loader (libyaml's when built with it):
only plain data, no tags that build objects. Each document must be a mapping with `kind` and
`metadata.name`; a syntax error names the file, line and column.

An alias is loaded as a second reference to its anchor's object, so a small file can stand for an
exponentially large document ("billion laughs": nine aliases of nine aliases of ...) or a recursive
one (`&a [*a]`); whatever walks it later (the pod-template-hash's JSON, files written into volumes)
would spend that size. So the documents are measured with their aliases expanded (each object once,
in time linear in the file) and refused beyond MAX_EXPANDED, or when a node contains itself."""
from __future__ import annotations

from berth.errors import InvalidArgument

MAX_BYTES = 16 << 20  # a play file is configuration, not data
MAX_EXPANDED = 2 * MAX_BYTES  # scalars' characters and nodes, aliases expanded: room for anchors' honest use


class Document:
    """One document of the file: its number in it (from 1, as a reader counts them), kind, name and the
    mapping itself."""

    def __init__(self, index: int, kind: str, name: str, body: dict, source: str):
        self.index, self.kind, self.name, self.body, self.source = index, kind, name, body, source

    @property
    def namespace(self) -> str:
        return (self.body.get("metadata") or {}).get("namespace") or "default"

    def __repr__(self) -> str:
        return f"Document({self.index}, {self.kind}/{self.name})"


def load(text: bytes | str, source: str) -> list[Document]:
    """The documents of `text` (empty ones skipped, as kubectl does); `source` names the file in errors."""
    import yaml
    if len(text) > MAX_BYTES:
        raise InvalidArgument(f"{source}: too large for a kube file ({len(text)} bytes, at most {MAX_BYTES})")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        raw = list(yaml.load_all(text, Loader=loader))
        total = 0
        sizes: dict[int, int] = {}
        for index, body in enumerate(raw, 1):
            total += _expanded_size(body, sizes, set(), source, index)
            if total > MAX_EXPANDED:
                raise InvalidArgument(f"{source}: document {index}: its aliases expand it beyond {MAX_EXPANDED} "
                                      "bytes (a YAML bomb?)")
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise InvalidArgument(f"{source}: invalid YAML at {where}: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise InvalidArgument(f"{source}: invalid YAML: {e}") from None
    except RecursionError:
        raise InvalidArgument(f"{source}: invalid YAML: nested too deeply") from None
    docs = []
    for index, body in enumerate(raw, 1):
        if body is None:
            continue
        if not isinstance(body, dict):
            raise InvalidArgument(f"{source}: document {index}: expected a mapping with kind and metadata, "
                                  f"got {_kind_of(body)}")
        kind = body.get("kind")
        if not isinstance(kind, str) or not kind:
            raise InvalidArgument(f"{source}: document {index}: no kind")
        metadata = body.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"{source}: document {index} ({kind}): no metadata.name")
        namespace = metadata.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise InvalidArgument(f"{source}: document {index} ({kind}/{name}): metadata.namespace: expected a string")
        docs.append(Document(index, kind, name, body, source))
    if not docs:
        raise InvalidArgument(f"{source}: no documents")
    return docs


def _expanded_size(node, sizes: dict, open_nodes: set, source: str, index: int) -> int:
    """The size of `node` with every alias expanded: characters of scalars, one per other scalar and
    per mapping or list entry; `sizes` holds those of the mappings and lists measured already (an
    alias's second use costs a lookup), `open_nodes` the ones being measured (met again: a cycle)."""
    if isinstance(node, (str, bytes)):
        return len(node) + 1
    if not isinstance(node, (dict, list)):
        return 1
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise InvalidArgument(f"{source}: document {index}: a recursive alias (a node that contains itself)")
    open_nodes.add(key)
    items = node.items() if isinstance(node, dict) else ((None, v) for v in node)
    size = 1
    for k, v in items:
        size += _expanded_size(k, sizes, open_nodes, source, index) + _expanded_size(v, sizes, open_nodes, source, index)
        if size > MAX_EXPANDED:  # no need to measure further (and the sum stays small)
            break
    open_nodes.discard(key)
    sizes[key] = size
    return size


def read(path: str, stdin=None) -> tuple[bytes, str]:
    """The bytes of `path` ("-": stdin) and the name errors give it."""
    import sys
    if path == "-":
        stream = stdin or sys.stdin.buffer
        data = stream.read(MAX_BYTES + 1)
        return data, "<stdin>"
    try:
        with open(path, "rb") as f:
            return f.read(MAX_BYTES + 1), path
    except OSError as e:
        raise InvalidArgument(f"cannot read {path}: {e.strerror}") from None


def _kind_of(value) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), type(value).__name__)
