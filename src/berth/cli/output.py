"""Docker-style presentation: human sizes and ages, aligned tables, JSON and Go-like templates."""
from __future__ import annotations

import json
import re
import sys
import time

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]


def human_size(size: float) -> str:
    """go-units HumanSizeWithPrecision(size, 3): decimal units, 3 significant digits."""
    i = 0
    while size >= 1000 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    text = f"{size:.3g}"
    if "e" in text:  # 999.95 rounds to 1e+03: show it in the next unit instead
        i, text = i + 1, "1"
    return f"{text}{_UNITS[i]}"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    s = int(seconds)
    if seconds < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def ago(epoch: float | None) -> str:
    if epoch is None:
        return "N/A"
    return human_duration(max(0.0, time.time() - epoch)) + " ago"


def table(headers: list[str], rows: list[list[str]], out=None) -> None:
    """Columns padded like docker's tabwriter (width of the widest cell + 3 spaces)."""
    out = out or sys.stdout
    widths = [max([len(h)] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
    for row in [headers] + rows:
        cells = [str(c).ljust(widths[i]) for i, c in enumerate(row)]
        out.write("   ".join(cells).rstrip() + "\n")


_FIELD = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}")


def render(template: str, obj) -> str:
    """The subset of Go templates people type: {{.Field}}, {{.A.B}}, {{json .Field}}, {{json .}}."""
    template = template.replace("\\n", "\n").replace("\\t", "\t")

    def value(m):
        v = obj
        for part in filter(None, m.group(2).split(".")):
            v = v.get(part, "") if isinstance(v, dict) else ""
        if m.group(1):
            return json.dumps(v)
        if isinstance(v, (dict, list)):
            return json.dumps(v)
        return str(v)
    return _FIELD.sub(value, template)


def emit(objs: list[dict], fmt: str | None, default) -> None:
    """`--format json` (one object per line, as docker), a template per object, or the default view."""
    if fmt == "json":
        for o in objs:
            print(json.dumps(o))
    elif fmt and fmt != "table":
        for o in objs:
            print(render(fmt, o))
    else:
        default()
