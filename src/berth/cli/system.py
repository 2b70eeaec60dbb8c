"""`berth system ...`"""
from __future__ import annotations

import click

from berth.cli.output import ago, emit, human_size, table
from berth.image.config import parse_time


@click.group()
def system():
    """Manage berth as a whole."""


@system.command("df")
@click.option("-v", "--verbose", is_flag=True, help="Show per-image detail.")
@click.option("--format", "fmt", help="json, or a template.")
@click.pass_obj
def df(engine, verbose, fmt):
    """Show disk usage, with the space images share."""
    usage = engine.images.disk_usage()
    total, reclaim = usage["total"], usage["reclaimable"]
    pct = f" ({100 * reclaim // total if total else 0}%)"
    summary = [{"Type": "Images", "TotalCount": str(len(usage["images"])), "Active": str(usage["active"]),
                "Size": human_size(total), "Reclaimable": human_size(reclaim) + pct},
               {"Type": "Containers", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"},
               {"Type": "Local Volumes", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"},
               {"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}]
    rows = []
    for r in usage["images"]:
        image = r["image"]
        names = image.tags or [None]
        for t in names:
            rows.append({"Repository": t.familiar_name if t else "<none>", "Tag": t.tag if t else "<none>",
                         "ID": image.id.short, "CreatedSince": ago(parse_time(image.created)),
                         "Size": human_size(r["size"]), "SharedSize": human_size(r["shared_size"]),
                         "UniqueSize": human_size(r["unique_size"]), "Containers": str(r["containers"])})

    def show():
        if not verbose:
            table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
                  [[s["Type"], s["TotalCount"], s["Active"], s["Size"], s["Reclaimable"]] for s in summary])
            return
        click.echo("Images space usage:\n")
        table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"],
              [[r["Repository"], r["Tag"], r["ID"], r["CreatedSince"], r["Size"], r["SharedSize"],
                r["UniqueSize"], r["Containers"]] for r in rows])
        click.echo(f"\nLayers on disk: {usage['layers']}, {human_size(total)} "
                   f"(images add up to {human_size(usage['sum_of_image_sizes'])}; "
                   f"sharing saves {human_size(usage['sum_of_image_sizes'] - total)})")
    emit(rows if verbose else summary, fmt, show)


def register(cli):
    cli.add_command(system)
