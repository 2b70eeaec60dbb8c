"""`berth system ...`"""
from __future__ import annotations

from berth.cli.cmdline import Group, echo, option

from berth.cli import output
from berth.cli.output import ago, emit, human_size, table
from berth.timefmt import parse_time


system = Group("system", "Manage berth as a whole.")


@system.command("df")
@option("-v", "--verbose", is_flag=True, help="Show per-image detail.")
@option("--format", "fmt", help="json, or a template.")
def df(engine, verbose, fmt):
    """Show disk usage, with the space images share."""
    usage = engine.system.df()
    total, reclaim = usage["total"], usage["reclaimable"]
    ctrs, vols = usage["containers"], usage["volumes"]
    ctr_size = sum(c["size"] for c in ctrs)
    ctr_idle = sum(c["size"] for c in ctrs if c["container"].status not in ("running", "paused"))
    vol_size = sum(v["size"] for v in vols)
    vol_idle = sum(v["size"] for v in vols if not v["links"])

    def pct(part, whole):
        return f" ({100 * part // whole if whole else 0}%)"
    summary = [{"Type": "Images", "TotalCount": str(len(usage["images"])), "Active": str(usage["active"]),
                "Size": human_size(total), "Reclaimable": human_size(reclaim) + pct(reclaim, total)},
               {"Type": "Containers", "TotalCount": str(len(ctrs)),
                "Active": str(sum(1 for c in ctrs if c["container"].status in ("running", "paused"))),
                "Size": human_size(ctr_size), "Reclaimable": human_size(ctr_idle) + pct(ctr_idle, ctr_size)},
               {"Type": "Local Volumes", "TotalCount": str(len(vols)), "Active": str(sum(1 for v in vols if v["links"])),
                "Size": human_size(vol_size), "Reclaimable": human_size(vol_idle) + pct(vol_idle, vol_size)},
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
        echo("Images space usage:\n")
        table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"],
              [[r["Repository"], r["Tag"], r["ID"], r["CreatedSince"], r["Size"], r["SharedSize"],
                r["UniqueSize"], r["Containers"]] for r in rows])
        echo(f"\nLayers on disk: {usage['layers']}, {human_size(total)} "
                   f"(images add up to {human_size(usage['sum_of_image_sizes'])}; "
                   f"sharing saves {human_size(usage['sum_of_image_sizes'] - total)})")
        echo("\nContainers space usage:\n")
        table(["CONTAINER ID", "IMAGE", "SIZE", "STATUS", "NAMES"],
              [[c["container"].short_id, c["container"].config["image"], human_size(c["size"]),
                c["container"].status, c["container"].name] for c in ctrs])
        echo("\nLocal Volumes space usage:\n")
        table(["VOLUME NAME", "LINKS", "SIZE"], [[v["volume"]["Name"], str(v["links"]), human_size(v["size"])]
                                                 for v in vols])
    emit(rows if verbose else summary, fmt, show, headers=output.IMAGE_TITLES if verbose else output.DF_TITLES)


@system.command("info")
@option("-f", "--format", "fmt", help="json, or a template such as '{{.ServerVersion}}'.")
def info(engine, fmt):
    """Display system-wide information."""
    doc = engine.system.info()
    if fmt == "json":
        import json
        echo(json.dumps(doc))
        return
    if fmt:
        from berth.cli.output import render
        echo(render(fmt, doc))
        return
    lines = [("Containers", doc["Containers"]), (" Running", doc["ContainersRunning"]),
             (" Paused", doc["ContainersPaused"]), (" Stopped", doc["ContainersStopped"]), ("Images", doc["Images"]),
             ("Server Version", doc["ServerVersion"]), ("Storage Driver", doc["Driver"]),
             ("Cgroup Driver", doc["CgroupDriver"]), ("Cgroup Version", doc["CgroupVersion"]),
             ("Runtimes", " ".join(doc["Runtimes"])), ("Default Runtime", doc["DefaultRuntime"]),
             ("Security Options", ", ".join(doc["SecurityOptions"])), ("Kernel Version", doc["KernelVersion"]),
             ("Operating System", doc["OperatingSystem"]), ("OSType", doc["OSType"]),
             ("Architecture", doc["Architecture"]), ("CPUs", doc["NCPU"]),
             ("Total Memory", human_size(doc["MemTotal"])), ("Name", doc["Name"]),
             ("Berth Root Dir", doc["DockerRootDir"])]
    echo("\n".join(f" {k}: {v}" for k, v in lines))


@system.command("events")
@option("--since", help="Show events since a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m).")
@option("--until", help="Stream events until this timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m).")
@option("-f", "--filter", "filters", multiple=True,
        help="Filter output based on conditions provided (e.g. 'container=NAME', 'event=start', 'type=image').")
@option("--format", "fmt", help="json, or a template such as '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'.")
def events(engine, since, until, filters, fmt):
    """Get real time events: followed until interrupted or --until; --since/--until replay the log first."""
    import sys
    import time
    from berth.cli.cmdline import parse_filters
    from berth.timefmt import parse_bound
    now = time.time_ns()
    since_ns = parse_bound("since", since, now) if since else None
    until_ns = parse_bound("until", until, now) if until else None
    show = _event_line
    if fmt:
        from berth.cli.output import template
        tmpl = template("json" if fmt == "json" else fmt)
        tmpl(_template_view({"Type": "", "Action": "", "Actor": {"ID": "", "Attributes": {}}, "time": 0,
                             "timeNano": 0}))  # a bad field fails now, as docker's, not at the first event
        show = lambda doc: tmpl(_template_view(doc))  # noqa: E731
    out = sys.stdout
    for doc in engine.events.stream(since_ns, until_ns, parse_filters(filters, events)):
        if doc is None:  # caught up: what was written goes out before the wait
            out.flush()
            continue
        out.write(show(doc) + "\n")
    out.flush()


def _event_line(doc: dict) -> str:
    """docker's line: the time in local time to the nanosecond, type, action, actor, its attributes by name."""
    import time
    secs, nanos = divmod(doc["timeNano"], 1_000_000_000)
    local = time.localtime(secs)
    offset = local.tm_gmtoff
    hours, minutes = divmod(abs(offset) // 60, 60)
    zone = "Z" if offset == 0 else f"{'+' if offset > 0 else '-'}{hours:02d}:{minutes:02d}"
    stamp = f"{time.strftime('%Y-%m-%dT%H:%M:%S', local)}.{nanos:09d}{zone}"
    line = f"{stamp} {doc['Type']} {doc['Action']} {doc['Actor']['ID']}"
    attributes = doc["Actor"]["Attributes"]
    if attributes:
        line += " (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")"
    return line


_EVENT_TAGS = {"Status": "status,omitempty", "ID": "id,omitempty", "From": "from,omitempty", "Scope": "scope,omitempty",
               "Time": "time,omitempty", "TimeNano": "timeNano,omitempty"}


def _template_view(doc: dict):
    """The event as docker's CLI hands it to a template: its Message struct (Go field names; `json`
    writes the wire names)."""
    from berth.cli.gotemplate import GoMap, TaggedStruct
    return TaggedStruct({"Status": doc.get("status", ""), "ID": doc.get("id", ""), "From": doc.get("from", ""),
                         "Type": doc["Type"], "Action": doc["Action"],
                         "Actor": {"ID": doc["Actor"]["ID"], "Attributes": GoMap(doc["Actor"]["Attributes"])},
                         "Scope": doc.get("scope", ""), "Time": doc["time"], "TimeNano": doc["timeNano"]}, _EVENT_TAGS)


@system.command("service")
@option("--socket", "uri", default="unix:///run/berth/docker.sock",
        help="Where to listen: unix:///PATH (a socket systemd passes takes precedence).")
@option("--timeout", "-t", "idle", default="0", help="Exit after this many seconds without a request (0: never).")
def service(engine, uri, idle):
    """Serve the Docker Engine API (docker's CLI, compose, docker-py drive berth through it)."""
    from berth.api.server import serve
    from berth.errors import InvalidArgument
    try:
        timeout = float(idle)
    except ValueError:
        raise InvalidArgument(f"invalid --timeout {idle!r}: a number of seconds") from None
    if timeout < 0:
        raise InvalidArgument(f"invalid --timeout {idle!r}: a number of seconds")
    serve(engine.root, uri, timeout, on_ready=lambda where: echo(f"berth: API listening on {where}", err=True))
