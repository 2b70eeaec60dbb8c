"""Docker-style presentation: human sizes and ages, aligned tables, JSON and Go templates.

Templates (`--format`) are compiled by berth.cli.gotemplate, imported only when a format is given."""
from __future__ import annotations

import sys
import time

from berth.timefmt import human_duration  # noqa: F401  (the CLI's modules take it from here)

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


def ports_text(ports: list[dict]) -> str:
    """docker ps's PORTS: 127.0.0.1:8080->80/tcp, 0.0.0.0:9000->9000/udp, ..."""
    return ", ".join(f"{p['host_ip'] or '0.0.0.0'}:{p['host_port']}->{p['container_port']}/{p['protocol']}"
                     for p in ports)


def ago(epoch: float | None) -> str:
    if epoch is None:
        return "N/A"
    return human_duration(max(0.0, time.time() - epoch)) + " ago"


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter (padchar ' ', no flags) as docker uses it: a tab ends a cell; a column is as wide
    as its widest cell plus padding, at least minwidth, over each block of consecutive lines that have that
    column; a line's last cell is not padded. Trailing spaces are stripped from each line."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write(line0: int, line1: int) -> None:
        for line in lines[line0:line1]:
            out.append("".join(c.ljust(widths[j]) if j < len(widths) else c for j, c in enumerate(line)).rstrip(" "))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out)


def table(headers: list[str], rows: list[list[str]], out=None, minwidth: int = 10) -> None:
    """A default view: columns aligned as docker's (tabwriter, minwidth 10, padding 3)."""
    text = "".join("\t".join(str(c) for c in row) + "\n" for row in [headers] + rows)
    (out or sys.stdout).write(tabwrite(text, minwidth))


# Column titles of `--format 'table ...'`, as docker's list commands name them. emit() takes one of these
# (or any dict) as headers=; a field it lacks is titled by its name: CreatedAt -> CREATED AT.
CONTAINER_TITLES = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
                    "CreatedAt": "CREATED AT", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES",
                    "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
                    "State": "STATE", "LocalVolumes": "LOCAL VOLUMES"}
IMAGE_TITLES = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
                "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "SharedSize": "SHARED SIZE",
                "UniqueSize": "UNIQUE SIZE", "VirtualSize": "SIZE", "Containers": "CONTAINERS"}
HISTORY_TITLES = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                  "Size": "SIZE", "Comment": "COMMENT"}
POD_TITLES = {"Id": "POD ID", "Name": "NAME", "Status": "STATUS", "Created": "CREATED", "InfraId": "INFRA ID",
              "Containers": "# OF CONTAINERS", "Labels": "LABELS"}
NETWORK_TITLES = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
                  "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}
VOLUME_TITLES = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
                 "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE"}
STATS_TITLES = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
                "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                "PIDs": "PIDS"}
DF_TITLES = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
             "Reclaimable": "RECLAIMABLE"}


def default_title(field: str) -> str:
    """CreatedAt -> CREATED AT, CPUPerc -> CPU PERC, PIDs -> PIDS."""
    import re
    return " ".join(re.findall(r"[A-Z]+s?(?![a-z])|[A-Z]?[a-z]+|[0-9]+|[A-Z]+", field)).upper() or field.upper()


_compiled: dict = {}


def _compile(source: str, failure: str):
    from berth.cli import gotemplate
    tmpl = _compiled.get(source)
    if tmpl is None:
        try:
            tmpl = _compiled[source] = gotemplate.parse(source, text_escapes=True)
        except gotemplate.ParseError as e:
            raise gotemplate.ParseError(f"{failure}{e}") from None
    return tmpl


def render(template: str, obj) -> str:
    """One object through a Go template, as `inspect -f` does (and with docker's wording of errors).
    A literal backslash-n / backslash-t outside the actions is a newline / tab."""
    from berth.cli import gotemplate
    tmpl = _compile(template, "template parsing error: ")
    try:
        return tmpl.execute(obj)
    except gotemplate.ExecError as e:
        raise gotemplate.ExecError(f"template parsing error: {e}", e.partial) from None


def template(fmt: str):
    """`--format` of a command that writes one object at a time as it comes (events): a function of
    the object; `json` is `{{json .}}`."""
    from berth.cli import gotemplate
    tmpl = _compile("{{json .}}" if fmt == "json" else fmt, "failed to parse template: ")

    def run(obj) -> str:
        try:
            return tmpl.execute(obj, field_errors=True)
        except gotemplate.ExecError as e:
            raise gotemplate.ExecError(f"failed to execute template: {e}", e.partial) from None
    return run


def emit(objs: list[dict], fmt: str | None, default, headers: dict | None = None) -> None:
    """A list view: `--format json` (one compact object per line, as docker), a template per object, a
    `table TEMPLATE` (a header row of column titles, then a row per object, aligned as docker's), or the
    default view (no format, or `table`). headers maps field names to column titles (see CONTAINER_TITLES);
    a field it lacks is titled by its name."""
    if fmt == "json":
        from berth.cli.gotemplate import go_json
        sys.stdout.write("".join(go_json(o) + "\n" for o in objs))
        return
    if not fmt or fmt == "table":
        default()
        return
    from berth.cli import gotemplate
    is_table = fmt.startswith("table")
    tmpl = _compile((fmt[len("table"):] if is_table else fmt).strip(" "), "failed to parse template: ")
    try:
        rows = "".join(tmpl.execute(o, field_errors=True) + "\n" for o in objs)
    except gotemplate.ExecError as e:
        raise gotemplate.ExecError(f"failed to execute template: {e}", e.partial) from None
    if not is_table:
        sys.stdout.write(rows)
        return
    titles = headers or {}
    try:
        head = tmpl.execute(gotemplate.Titles(lambda f: titles.get(f) or default_title(f)),
                            funcs=gotemplate.HEADER_FUNCS)
    except gotemplate.ExecError as e:  # docker ignores a header that fails (`.A.B` on a title...)
        head = e.partial
    sys.stdout.write(tabwrite(head + "\n" + rows))
