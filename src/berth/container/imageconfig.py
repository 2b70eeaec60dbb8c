"""What a Dockerfile's metadata instructions do to an image's runtime config (the image config's
"config" object, docker's container.Config).

One rule for `berth build` and for `commit --change`, as in docker, whose commit runs its
changes through the builder's own dispatcher. It lives here, beside commit and below build/, so
that commit needs only the Dockerfile language (berth.dockerfile), never the builder.
"""
from __future__ import annotations

import posixpath

from berth import dockerfile as df
from berth.container.options import expose_ports, merge_env, parse_signal
from berth.errors import InvalidOption

DEFAULT_SHELL = ["/bin/sh", "-c"]


def command(ins: df.Cmd | df.Entrypoint, shell: list[str]) -> list[str]:
    """The exec form as written; the shell form runs through `shell`."""
    return list(ins.command) if ins.json_form else shell + list(ins.command)


def workdir(cfg: dict, path: str) -> str:
    """docker keeps an absolute path as written (`/a/../b`, `/a/`); a relative one is joined to the
    current one and cleaned."""
    return path if path.startswith("/") else posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", path))


def apply(cfg: dict, ins: df.Instruction, shell: list[str], cmd_set: bool) -> None:
    """Apply the expanded metadata instruction `ins` to `cfg` (an image config's "config" object)
    in place. `shell` is the stage's SHELL; `cmd_set` says whether the stage has set CMD itself,
    which keeps that CMD when an ENTRYPOINT follows. Other instructions leave `cfg` alone."""
    if isinstance(ins, df.Workdir):
        cfg["WorkingDir"] = workdir(cfg, ins.path)
    elif isinstance(ins, df.Env):
        cfg["Env"] = merge_env(cfg.get("Env") or [], [f"{k}={v}" for k, v in ins.pairs])
    elif isinstance(ins, df.Label):
        cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(ins.pairs)}
    elif isinstance(ins, df.Cmd):
        cfg["Cmd"] = command(ins, shell)
    elif isinstance(ins, df.Entrypoint):
        cfg["Entrypoint"] = command(ins, shell)
        if not cmd_set:  # an inherited CMD makes no sense for a new ENTRYPOINT (docker)
            cfg["Cmd"] = None
    elif isinstance(ins, df.User):
        cfg["User"] = ins.user
    elif isinstance(ins, df.Expose):
        ports = dict(cfg.get("ExposedPorts") or {})
        for spec in ins.ports:
            try:
                ports.update({port: {} for port in expose_ports(spec)})
            except InvalidOption as err:
                raise ins.error(str(err)) from None
        cfg["ExposedPorts"] = ports
    elif isinstance(ins, df.Volume):
        if any(not path.strip() for path in ins.paths):  # `VOLUME ""` is empty only once expanded
            raise ins.error("VOLUME specified can not be an empty string")
        cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{path: {} for path in ins.paths}}
    elif isinstance(ins, df.Stopsignal):
        try:
            parse_signal(ins.signal)
        except InvalidOption as err:
            raise ins.error(str(err)) from None
        cfg["StopSignal"] = ins.signal
    elif isinstance(ins, df.Healthcheck):
        check = {"Test": ins.test}
        for field, value in (("Interval", ins.interval), ("Timeout", ins.timeout),
                             ("StartPeriod", ins.start_period), ("StartInterval", ins.start_interval),
                             ("Retries", ins.retries)):
            if value:
                check[field] = value
        cfg["Healthcheck"] = check
    elif isinstance(ins, df.Shell):
        cfg["Shell"] = list(ins.command)
    elif isinstance(ins, df.Onbuild):
        cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [ins.expression]
