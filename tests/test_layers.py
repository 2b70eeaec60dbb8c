"""The layers of ARCHITECTURE.md, checked on every import in src/berth (including the ones inside
functions): nothing goes up a layer, front ends reach only the facade, the foundation and the
typed requests, and packages of one layer import each other without a cycle."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "berth"
FRONT_ENDS = "front ends"


def _tables() -> tuple[dict, set]:
    """({top-level name: (layer rank, layer name)}, {typed request module}) from ARCHITECTURE.md."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    layers, requests = {}, set()
    rows = re.findall(r"^\| ([a-z ]+) \| (.*`.*) \|$", text, flags=re.M)
    order = [name for name, _ in rows if name in ("front ends", "facade", "services", "mechanism", "storage",
                                                   "foundation")]
    for name, cells in rows:
        names = re.findall(r"`([\w.]+)`", cells)
        if not names:  # a table's header
            continue
        if name in order:
            for member in names:
                layers[member] = (len(order) - order.index(name), name)
        else:  # the typed requests table: the module is the first name
            requests.add("berth." + names[0])
    return layers, requests


def _imports(path: Path, src: Path = SRC):
    """(the importing module, each berth module it imports) for one source file."""
    rel = path.relative_to(src.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    module = ".".join(parts)
    package = parts if path.name == "__init__.py" else parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((module, a.name) for a in node.names if a.name.split(".")[0] == "berth")
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            if base.split(".")[0] != "berth":
                continue
            for alias in node.names:  # `from berth.x import y`: y may be a module of its own
                candidate = f"{base}.{alias.name}"
                where = src.parent / Path(*candidate.split("."))
                is_module = where.with_suffix(".py").exists() or where.is_dir()
                yield module, candidate if is_module else base


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_import_respects_the_layers():
    layers, requests = _tables()
    problems, same_layer = [], {}
    for path in sorted(SRC.rglob("*.py")):
        for importer, imported in _imports(path):
            a, b = _top(importer), _top(imported)
            if a == b:
                continue
            if a not in layers or b not in layers:
                problems.append(f"{importer} -> {imported}: {a if a not in layers else b} is in no layer of "
                                "ARCHITECTURE.md")
                continue
            (rank_a, layer_a), (rank_b, layer_b) = layers[a], layers[b]
            if rank_b > rank_a:
                problems.append(f"{importer} -> {imported}: {layer_a} may not import {layer_b}")
            elif layer_a == FRONT_ENDS and layer_b in ("services", "mechanism", "storage") and not any(
                    imported == r or imported.startswith(r + ".") for r in requests):
                problems.append(f"{importer} -> {imported}: a front end reaches the engine's {layer_b}")
            elif rank_a == rank_b:
                same_layer.setdefault(a, {}).setdefault(b, importer)
    for a, targets in same_layer.items():
        for b, where in targets.items():
            if a < b and a in same_layer.get(b, {}):
                problems.append(f"cycle between {a} and {b}: {where} -> {b}, {same_layer[b][a]} -> {a}")
    assert not problems, "\n".join(problems)


def test_the_table_names_every_package():
    layers, requests = _tables()
    present = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
               if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert present - set(layers) == set(), "packages missing from ARCHITECTURE.md's layer table"
    for module in requests:
        assert (SRC.parent / Path(*module.split("."))).with_suffix(".py").exists(), module


def test_the_check_sees_imports_inside_functions(tmp_path):
    """The checker itself: a lazy import of the container service from the store is seen."""
    fake = tmp_path / "berth"
    (fake / "store").mkdir(parents=True)
    (fake / "container").mkdir()
    for d in (fake, fake / "store", fake / "container"):
        (d / "__init__.py").write_text("")
    (fake / "container" / "service.py").write_text("")
    (fake / "store" / "bad.py").write_text("def f():\n    from berth.container import service\n")
    found = list(_imports(fake / "store" / "bad.py", fake))
    assert found == [("berth.store.bad", "berth.container.service")]
