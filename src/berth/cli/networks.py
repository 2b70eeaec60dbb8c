"""`berth network ...`: user-defined networks, as docker's CLI."""
from __future__ import annotations

import sys

from berth.cli import output
from berth.cli.cmdline import Group, argument, confirm, echo, option, parse_filters
from berth.cli.output import emit, table

network = Group("network", "Manage networks.")


def _pairs(values) -> dict:
    return dict(v.partition("=")[::2] for v in values)


@network.command("create")
@option("-d", "--driver", default="bridge", help="Driver to manage the network (bridge).")
@option("--subnet", "subnets", multiple=True,
        help="Subnet in CIDR format, an IPv4 and (with --ipv6) an IPv6 one (default: a free /24 of 10.91.0.0/16, "
             "a free /64 of fd00:b5::/32).")
@option("--gateway", "gateways", multiple=True, help="Gateway for the subnet (IPv4 or IPv6).")
@option("--ip-range", "ip_ranges", multiple=True, help="Allocate container IPv4 addresses from a sub-range.")
@option("--internal", is_flag=True, help="Restrict external access to the network.")
@option("--label", "labels", multiple=True, help="Set metadata on a network.")
@option("-o", "--opt", "opts", multiple=True, help="Set driver specific options.")
@option("--ipv6", is_flag=True, help="Enable IPv6 networking.")
@argument("name")
def create_cmd(engine, driver, subnets, gateways, ip_ranges, internal, labels, opts, ipv6, name):
    """Create a network."""
    echo(engine.networks.create(name, driver, list(subnets), list(gateways), list(ip_ranges), internal,
                                _pairs(labels), _pairs(opts), ipv6).id)


@network.command("ls")
@option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'driver=bridge').")
@option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@option("--format", "fmt", help="json, or a template.")
def ls_cmd(engine, filters, quiet, no_trunc, fmt):
    """List networks."""
    docs = engine.networks.list(parse_filters(filters, ls_cmd))
    rows = [{"ID": d["Id"] if no_trunc else d["Id"][:12], "Name": d["Name"], "Driver": d["Driver"],
             "Scope": d["Scope"], "IPv6": str(d["EnableIPv6"]).lower(), "Internal": str(d["Internal"]).lower(),
             "Labels": ",".join(f"{k}={v}" for k, v in (d["Labels"] or {}).items()), "CreatedAt": d["Created"]}
            for d in docs]
    if quiet:
        for r in rows:
            echo(r["ID"])
        return
    emit(rows, fmt, lambda: table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
                                  [[r["ID"], r["Name"], r["Driver"], r["Scope"]] for r in rows]),
         headers=output.NETWORK_TITLES)


@network.command("inspect")
@option("-f", "--format", "fmt", help="A template, or json.")
@argument("names", nargs=-1, required=True)
def inspect_cmd(engine, fmt, names):
    """Display detailed information on one or more networks."""
    from berth.cli.containers import _inspect_each
    _inspect_each(names, engine.networks.inspect, fmt)


@network.command("rm")
@argument("names", nargs=-1, required=True)
def rm_cmd(engine, names):
    """Remove one or more networks."""
    from berth.cli.containers import _each
    _each(names, lambda n: echo(engine.networks.remove(n) and n))


@network.command("prune")
@option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
def prune_cmd(engine, force):
    """Remove all unused networks."""
    if not force and not confirm("WARNING! This will remove all custom networks not used by at least one "
                                 "container.\nAre you sure you want to continue?"):
        return
    removed = engine.networks.prune()
    if removed:
        echo("Deleted Networks:\n" + "\n".join(removed))


@network.command("connect")
@option("--alias", "aliases", multiple=True, help="Add network-scoped alias for the container.")
@option("--ip", help="IPv4 address.")
@option("--ip6", help="IPv6 address.")
@argument("name")
@argument("container")
def connect_cmd(engine, aliases, ip, ip6, name, container):
    """Connect a container to a network."""
    engine.containers.connect(container, name, list(aliases), ip, ip6)


@network.command("disconnect")
@option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network.")
@argument("name")
@argument("container")
def disconnect_cmd(engine, force, name, container):
    """Disconnect a container from a network."""
    engine.containers.disconnect(container, name, force=force)


@network.command("resolver", hidden=True)
@argument("name")
def resolver_cmd(engine, name):
    """A user network's name server (started by berth when a container needs it)."""
    def ready():
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        sys.stdout.close()
    engine.networks.serve_resolver(name, ready)
