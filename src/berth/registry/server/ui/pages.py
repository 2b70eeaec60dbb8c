"""HTML for the web UI: whole pages from the dicts `views` builds.

Self-contained (inline CSS, no scripts, no external assets) so it works offline. Every value that
reaches the page goes through `_e` (html.escape, quotes included): repository names, tags,
annotations and labels are whatever pushers chose.
"""
from __future__ import annotations

import time
from html import escape as _escape
from urllib.parse import quote

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;background:#f4f6f9}
header{background:#1d3557;color:#fff;padding:10px 24px}header a{color:#fff;text-decoration:none;font-weight:600}
main{max-width:1180px;margin:0 auto;padding:16px 24px}
h1{font-size:20px;margin:8px 0 14px;word-break:break-all}h2{font-size:16px;margin:22px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e3e7ed;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n,th.n{text-align:right;white-space:nowrap}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
a{color:#1d5fa8}.muted{color:#6b7785}.crumbs{margin:0 0 6px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:10px}
.card{background:#fff;box-shadow:0 1px 2px #0002;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:18px}dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;
background:#fff;box-shadow:0 1px 2px #0002;padding:10px 14px;margin:0}dt{font-weight:600}dd{margin:0}
"""


def _e(value) -> str:
    return _escape(str(value), quote=True)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _size(size: int) -> str:
    return f'<span title="{_e(size)} bytes">{_e(human_size(size))}</span>'


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return _e(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp)))


def repository_url(name: str) -> str:
    return "/ui/r/" + quote(name, safe="/")


def manifest_url(name: str, reference: str) -> str:
    return f"{repository_url(name)}/manifests/{quote(reference, safe=':')}"


def _link(url: str, text: str, code: bool = False) -> str:
    inner = f"<code>{_e(text)}</code>" if code else _e(text)
    return f'<a href="{_e(url)}">{inner}</a>'


def _short(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else digest


def _table(headers: list[str], rows: list[list[str]], numeric: tuple = ()) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    head = "".join(f'<th{" class=n" if i in numeric else ""}>{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{cell}</td>'
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs(items: list[tuple[str, str]]) -> str:
    """A definition list; values are HTML already."""
    shown = [(k, v) for k, v in items if v]
    if not shown:
        return '<p class="muted">none</p>'
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in shown) + "</dl>"


def _mapping(values: dict) -> str:
    return _pairs([(k, f"<code>{_e(v)}</code>") for k, v in sorted(values.items())])


def document(title: str, body: str, crumbs: list[tuple[str, str]] = ()) -> str:
    trail = ""
    if crumbs:
        trail = '<p class="crumbs">' + " / ".join(_link(url, text) if url else _e(text)
                                                   for url, text in crumbs) + "</p>"
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{_e(title)} · berth registry</title><style>{_CSS}</style></head>"
            f'<body><header><a href="/">berth registry</a></header><main>{trail}{body}</main></body></html>\n')


def repositories_page(data: dict) -> str:
    s = data["storage"]
    cards = [("repositories", _e(s["repositories"])), ("blobs", _e(s["blobs"])),
             ("stored", _size(s["stored_bytes"])), ("without dedup", _size(s["without_dedup_bytes"])),
             ("dedup saves", _size(s["saved_bytes"]))]
    summary = ('<div class="cards" id="storage">' + "".join(f'<div class="card"><b>{v}</b>{_e(k)}</div>'
                                                            for k, v in cards) + "</div>"
               f'<p class="muted">{_e(s["repositories"])} repositories, {_e(s["blobs"])} blobs, '
               f'{_e(human_size(s["stored_bytes"]))} stored, {_e(human_size(s["without_dedup_bytes"]))} '
               f'without dedup, saves {_e(human_size(s["saved_bytes"]))}</p>')
    rows = [[_link(repository_url(r["name"]), r["name"]), _e(r["tags"]), _e(r["manifests"]), _size(r["size"])]
            for r in data["repositories"]]
    body = ("<h1>Repositories</h1>" + summary +
            _table(["Repository", "Tags", "Manifests", "Size"], rows, numeric=(1, 2, 3)))
    return document("Repositories", body)


def _manifest_cells(name: str, row: dict) -> list[str]:
    return [_link(manifest_url(name, row["digest"]), _short(row["digest"]), code=True),
            f'<code>{_e(row["media_type"])}</code>', _e(", ".join(row["platforms"])), _size(row["size"])]


def repository_page(data: dict) -> str:
    name = data["name"]
    tags = [[_link(manifest_url(name, t["tag"]), t["tag"])] + _manifest_cells(name, t) + [_when(t["updated"])]
            for t in data["tags"]]
    body = (f"<h1>{_e(name)}</h1><p>{_e(len(data['tags']))} tags · {_size(data['size'])} in this repository</p>"
            "<h2>Tags</h2>" + _table(["Tag", "Digest", "Media type", "Platforms", "Size", "Pushed"], tags,
                                     numeric=(4,)))
    if data["untagged"]:
        body += "<h2>Untagged manifests</h2>" + _table(
            ["Digest", "Media type", "Platforms", "Size"], [_manifest_cells(name, m) for m in data["untagged"]],
            numeric=(3,))
    return document(name, body, [("/", "repositories"), ("", name)])


def _descriptor_rows(name: str, descriptors: list[dict], link: bool, platform: bool = False) -> list[list[str]]:
    rows = []
    for d in descriptors:
        digest = (_link(manifest_url(name, d["digest"]), d["digest"], code=True) if link
                  else f'<code>{_e(d["digest"])}</code>')
        row = [digest, f'<code>{_e(d["media_type"])}</code>']
        if platform:
            row.append(_e(d.get("platform", "")))
        rows.append(row + [_size(d["size"])])
    return rows


def manifest_page(data: dict) -> str:
    name, digest = data["repository"], data["digest"]
    facts = [("Digest", f"<code>{_e(digest)}</code>"), ("Media type", f"<code>{_e(data['media_type'])}</code>"),
             ("Tags", _e(", ".join(data["tags"]))), ("Manifest size", _size(data["size"])),
             ("Total size", _size(data["total_size"])),
             ("Artifact type", f"<code>{_e(data['artifact_type'])}</code>" if data["artifact_type"] else ""),
             ("Subject", _link(manifest_url(name, data["subject"]), data["subject"], code=True)
              if data["subject"] else "")]
    body = f"<h1>{_e(name)}@{_e(_short(digest))}</h1>" + _pairs(facts)
    if data["kind"] == "index":
        body += "<h2>Manifests</h2>" + _table(["Digest", "Media type", "Platform", "Size"],
                                              _descriptor_rows(name, data["manifests"], True, True), numeric=(3,))
    else:
        config = data["config"]
        image = config.get("image")
        body += "<h2>Config</h2>"
        items = [("Digest", f"<code>{_e(config.get('digest', ''))}</code>"),
                 ("Media type", f"<code>{_e(config.get('media_type', ''))}</code>"),
                 ("Size", _size(config.get("size", 0)))]
        if image:
            items += [("Platform", _e(image["platform"])), ("Created", _e(image["created"])),
                      ("Author", _e(image["author"])),
                      ("Entrypoint", f"<code>{_e(image['entrypoint'])}</code>" if image["entrypoint"] else ""),
                      ("Cmd", f"<code>{_e(image['cmd'])}</code>" if image["cmd"] else ""),
                      ("Working dir", f"<code>{_e(image['working_dir'])}</code>" if image["working_dir"] else ""),
                      ("User", _e(image["user"])),
                      ("Env", "<br>".join(f"<code>{_e(v)}</code>" for v in image["env"]))]
        body += _pairs(items)
        if image and image["labels"]:
            body += "<h2>Labels</h2>" + _mapping(image["labels"])
        body += (f"<h2>Layers ({_e(len(data['layers']))})</h2>" +
                 _table(["Digest", "Media type", "Size"], _descriptor_rows(name, data["layers"], False), numeric=(2,)))
    if data["annotations"]:
        body += "<h2>Annotations</h2>" + _mapping(data["annotations"])
    referrers = [[_link(manifest_url(name, r["digest"]), r["digest"], code=True),
                  f'<code>{_e(r.get("artifact_type", ""))}</code>', _size(r["size"])] for r in data["referrers"]]
    body += "<h2>Referrers</h2>" + _table(["Digest", "Artifact type", "Size"], referrers, numeric=(2,))
    return document(f"{name}@{_short(digest)}", body,
                    [("/", "repositories"), (repository_url(name), name), ("", _short(digest))])


def not_found_page(message: str) -> str:
    return document("Not found", f"<h1>Not found</h1><p>{_e(message)}</p>", [("/", "repositories")])
