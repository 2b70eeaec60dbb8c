"""Image commands: `berth images`, `image inspect|ls|rm|prune|tree|bootstrap`, `tag`, `rmi`, `save`, `load`, ..."""
from __future__ import annotations

import sys

from berth import cjson
from berth.cli.cmdline import Group, argument, command, confirm, echo, option, parse_filters

from berth.cli import output
from berth.cli.output import ago, emit, human_size, render, table
from berth.timefmt import parse_time


image = Group("image", "Manage images.",
              lazy={**{n: f"berth.cli.distribution:{n}_cmd" for n in ("pull", "push", "copy")},
                    "build": "berth.cli.build:build_cmd"})


def _image_rows(engine, show_all, filters):
    rows = []
    for img in engine.images.list(all=show_all, filters=filters):
        created = parse_time(img.created)
        for t in img.tags or [None]:
            rows.append({
                "Repository": t.familiar_name if t else "<none>", "Tag": t.tag if t else "<none>",
                "ID": str(img.id), "CreatedAt": img.created, "CreatedSince": ago(created),
                "Size": human_size(img.size), "VirtualSize": human_size(img.size),
                "Digest": img.repo_digests[0].rpartition("@")[2] if img.repo_digests else "<none>",
                "Containers": "N/A", "SharedSize": "N/A", "UniqueSize": "N/A",
                "_created": created or 0,
            })
    rows.sort(key=lambda r: -r["_created"])
    for r in rows:
        del r["_created"]
    return rows


@command("images")
@argument("repository", required=False)
@option("-a", "--all", "show_all", is_flag=True, help="Show all images.")
@option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@option("--no-trunc", is_flag=True, help="Don't truncate output.")
@option("--digests", is_flag=True, help="Show digests.")
@option("-f", "--filter", "filters", multiple=True,
        help="Filter output based on conditions provided (dangling, label, before, since, reference).")
@option("--format", "fmt", help="json, or a template such as '{{.Repository}}:{{.Tag}}'.")
def images_cmd(engine, repository, show_all, quiet, no_trunc, digests, filters, fmt):
    """List images."""
    given = parse_filters(filters, images_cmd)
    if repository:  # as docker: the argument is one more reference filter
        given.setdefault("reference", []).append(repository)
    rows = _image_rows(engine, show_all, given)
    short = (lambda i: i) if no_trunc else (lambda i: i.split(":", 1)[1][:12])
    if quiet:
        for ident in dict.fromkeys(short(r["ID"]) for r in rows):
            echo(ident)
        return
    for r in rows:
        r["ID"] = short(r["ID"])

    def show():
        headers = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
        table(headers, [[r["Repository"], r["Tag"]] + ([r["Digest"]] if digests else [])
                        + [r["ID"], r["CreatedSince"], r["Size"]] for r in rows])
    emit(rows, fmt, show, headers=output.IMAGE_TITLES)


@command("inspect")
@argument("names", nargs=-1, required=True)
@option("-f", "--format", "fmt", help="A template such as '{{.Id}}', or json.")
def inspect_cmd(engine, names, fmt):
    """Show low-level information on containers or images as JSON."""
    _inspect(engine, names, fmt, generic=True)


@command("inspect")
@argument("names", nargs=-1, required=True)
@option("-f", "--format", "fmt", help="A template such as '{{.Id}}', or json.")
def image_inspect_cmd(engine, names, fmt):
    """Show low-level information on images as JSON."""
    _inspect(engine, names, fmt, generic=False)


def _inspect(engine, names, fmt, generic: bool):
    from berth.errors import ContainerNotFound, ImageNotFound, InvalidReference
    found, missing = [], []
    for name in names:
        if generic:  # `berth inspect`: containers first, then images (as docker)
            try:
                found.append(engine.containers.inspect(name))
                continue
            except ContainerNotFound:
                pass
        try:
            found.append(engine.images.inspect(name))
        except (ImageNotFound, InvalidReference):
            missing.append(name)
    if fmt and fmt != "json":
        for doc in found:
            echo(render(fmt, doc))
    else:
        echo(cjson.dumps(found, indent=4))
    for name in missing:
        echo(f"Error: No such {'object' if generic else 'image'}: {name}", err=True)
    if missing:
        sys.exit(1)


@command("history")
@argument("name")
@option("-H", "--human", is_flag=True, default=True, help="Print sizes and dates in human readable format.")
@option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@option("--no-trunc", is_flag=True, help="Don't truncate output.")
@option("--format", "fmt", help="json, or a template.")
def history_cmd(engine, name, human, quiet, no_trunc, fmt):
    """Show the history of an image."""
    rows = engine.images.history(name)
    out = []
    for r in rows:
        ident = r["id"] if (no_trunc or r["id"] == "<missing>") else r["id"].split(":", 1)[1][:12]
        created_by = r["created_by"]
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        out.append({"ID": ident, "CreatedAt": r["created"], "CreatedSince": ago(r["created_at"]) if human else r["created"],
                    "CreatedBy": created_by, "Size": human_size(r["size"]) if human else str(r["size"]),
                    "Comment": r["comment"]})
    if quiet:
        echo("\n".join(o["ID"] for o in out))
        return
    emit(out, fmt, lambda: table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
                                 [[o["ID"], o["CreatedSince"], o["CreatedBy"], o["Size"], o["Comment"]] for o in out]),
         headers=output.HISTORY_TITLES)


@command("tag")
@argument("source")
@argument("target")
def tag_cmd(engine, source, target):
    """Create a tag TARGET that refers to SOURCE."""
    engine.images.tag(source, target)


@command("rmi")
@argument("names", nargs=-1, required=True)
@option("-f", "--force", is_flag=True, help="Force removal of the image.")
def rmi_cmd(engine, names, force):
    """Remove one or more images."""
    from berth.errors import BerthError
    failed = False
    for name in names:
        try:
            for kind, what in engine.images.remove(name, force=force):
                echo(f"{kind}: {what}")
        except BerthError as e:
            echo(f"Error: {e}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@command("prune")
@option("-a", "--all", "prune_all", is_flag=True, help="Remove all unused images, not just dangling ones.")
@option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
def prune_cmd(engine, prune_all, force):
    """Remove unused images."""
    if not force:
        what = "all images without at least one container associated to them" if prune_all else "all dangling images"
        if not confirm(f"WARNING! This will remove {what}.\nAre you sure you want to continue?", default=False):
            return
    events, reclaimed = engine.images.prune(all=prune_all)
    if events:
        echo("Deleted Images:")
        for kind, what in events:
            echo(f"{kind}: {what}")
        echo()
    echo(f"Total reclaimed space: {human_size(reclaimed)}")


@command("save")
@argument("names", nargs=-1, required=True)
@option("-o", "--output", help="Write to a file (or directory for oci-dir), instead of STDOUT.")
@option("--format", "fmt", default="docker-archive",
              choices=["docker-archive", "oci-archive", "oci-dir"])
def save_cmd(engine, names, output, fmt):
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    from berth.errors import BerthError
    if output is None and fmt != "oci-dir" and sys.stdout.isatty():
        raise BerthError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    engine.images.save(list(names), output, fmt, stream=None if output else sys.stdout.buffer)


@command("load")
@option("-i", "--input", "path", help="Read from a tar archive file or OCI layout directory, instead of STDIN.")
@option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
def load_cmd(engine, path, quiet):
    """Load images from a docker-archive, oci-archive or OCI layout."""
    from berth.errors import BerthError
    if path is None and sys.stdin.isatty():
        raise BerthError("requested load from stdin, but stdin is empty")
    loaded = engine.images.load(path=path, stream=None if path else sys.stdin.buffer)
    if quiet:
        return
    for img, tags in loaded:
        if tags:
            for t in tags:
                echo(f"Loaded image: {t.familiar}")
        else:
            echo(f"Loaded image ID: {img.id}")


@command("import")
@argument("source")
@argument("reference", required=False)
@option("-m", "--message", default="", help="Set commit message for imported image.")
def import_cmd(engine, source, reference, message):
    """Import a root filesystem tarball (or '-' for STDIN) as a one-layer image."""
    img = engine.images.import_(source, reference, message=message,
                                stream=sys.stdin.buffer if source == "-" else None)
    echo(str(img.id))


@image.command("tree")
@argument("name")
@option("--format", "fmt", help="json")
def tree_cmd(engine, name, fmt):
    """Show each layer of an image, its size, and which other images share it."""
    t = engine.images.tree(name)
    img = t["image"]
    doc = {"Image": img.tags[0].familiar if img.tags else img.id.short, "Id": str(img.id),
           "Size": t["size"], "SharedSize": t["shared_size"], "UniqueSize": t["unique_size"],
           "Layers": [{"Index": r["index"], "DiffID": r["diff_id"], "ChainID": r["chain_id"], "Size": r["size"],
                       "CreatedBy": r["created_by"], "SharedWith": r["shared_with"]} for r in t["layers"]]}
    if fmt == "json":
        echo(cjson.dumps(doc, indent=2))
        return
    echo(f"{doc['Image']}  {img.id.short}  {human_size(t['size'])} "
               f"({human_size(t['unique_size'])} unique, {human_size(t['shared_size'])} shared)")
    n = len(t["layers"])
    for i, r in enumerate(t["layers"]):
        branch = "└─" if i == n - 1 else "├─"
        cont = "   " if i == n - 1 else "│  "
        share = ("shared with " + ", ".join(r["shared_with"])) if r["shared_with"] else "unique"
        echo(f"{branch} layer {r['index']}  {r['diff_id'][7:19]}  {human_size(r['size']):>8}  {share}")
        if r["created_by"]:
            step = r["created_by"] if len(r["created_by"]) <= 70 else r["created_by"][:69] + "…"
            echo(f"{cont}    {step}")


@image.command("bootstrap")
@argument("kind", choices=["busybox", "debian"])
@argument("reference", required=False)
@option("--suite", default="bookworm", help="Debian suite (debian only).")
@option("--mirror", help="Debian mirror URL (debian only).")
def bootstrap_cmd(engine, kind, reference, suite, mirror):
    """Make a base image offline: busybox from busybox-static, debian with debootstrap."""
    img = engine.images.bootstrap(kind, reference, suite=suite, mirror=mirror)
    echo(f"{img.tags[0].familiar} {img.id}")


for _cmd in (history_cmd, tag_cmd, prune_cmd, save_cmd, load_cmd, import_cmd):
    image.add_command(_cmd)
image.add_command(images_cmd, "ls")
image.add_command(image_inspect_cmd, "inspect")
image.add_command(rmi_cmd, "rm")
