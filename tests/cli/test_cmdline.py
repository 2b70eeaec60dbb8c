"""The command-line parser follows docker's (pflag's) rules."""
from __future__ import annotations

import subprocess
import sys

import pytest

from berth.cli.cmdline import Group, HelpRequested, UsageError, argument, command, option


@command("run", interspersed=False)
@option("-e", "--env", multiple=True)
@option("-i", "--interactive", is_flag=True)
@option("-t", "--tty", is_flag=True)
@option("-d", "--detach", is_flag=True)
@option("-h", "--hostname")
@option("--stop-timeout", "timeout", type=int)
@option("--network", "--net", "network", default="none")
@argument("image")
@argument("command", nargs=-1)
def run(obj, **values):
    return values


@command("rm")
@option("-f", "--force", is_flag=True)
@option("--pause", is_flag=True, default=True)
@option("--format", "fmt", choices=["json", "table"])
@argument("names", nargs=-1, required=True)
def rm(obj, **values):
    return values


@command("tag")
@argument("source")
@argument("target", required=False)
def tag(obj, **values):
    return values


def test_long_and_short_values_in_every_spelling():
    v = run.parse(["--env=A=1", "--env", "B=2", "-e", "C=3", "-eD=4", "--net=host", "--stop-timeout", "-1",
                   "busybox"])
    assert v["env"] == ("A=1", "B=2", "C=3", "D=4") and v["network"] == "host" and v["timeout"] == -1


def test_short_booleans_combine_and_the_last_may_take_a_value():
    v = run.parse(["-dit", "busybox"])
    assert v["detach"] and v["interactive"] and v["tty"]
    v = run.parse(["-de", "K=V", "busybox"])
    assert v["detach"] and v["env"] == ("K=V",)
    v = run.parse(["-deK=V", "busybox"])
    assert v["env"] == ("K=V",)


def test_run_stops_at_the_image_so_the_command_keeps_its_flags():
    v = run.parse(["-d", "busybox", "ls", "-l", "--all", "-e"])
    assert v["image"] == "busybox" and v["command"] == ("ls", "-l", "--all", "-e") and not v["env"]


def test_interspersed_flags_and_double_dash():
    assert rm.parse(["a", "-f", "b"]) == {"force": True, "pause": True, "fmt": None, "names": ("a", "b")}
    assert rm.parse(["--", "-f"])["names"] == ("-f",)
    assert rm.parse(["-"])["names"] == ("-",)


def test_booleans_take_a_value_only_after_equals():
    assert rm.parse(["--pause=false", "x"])["pause"] is False
    assert rm.parse(["--pause", "x"])["pause"] is True and rm.parse(["--pause", "x"])["names"] == ("x",)
    with pytest.raises(UsageError, match='invalid boolean value "maybe"'):
        rm.parse(["--pause=maybe", "x"])


def test_command_option_h_is_not_help_but_help_works_elsewhere():
    assert run.parse(["-h", "box", "busybox"])["hostname"] == "box"
    with pytest.raises(HelpRequested):
        run.parse(["--help"])
    with pytest.raises(HelpRequested):
        rm.parse(["-h"])


@pytest.mark.parametrize("args, message", [
    (["--nope", "busybox"], "unknown flag: --nope"),
    (["-x", "busybox"], "unknown shorthand flag: 'x'"),
    (["busybox", "--env"], None),  # after the image: part of the command, no error
    (["--env"], "flag needs an argument: --env"),
    (["-e"], "flag needs an argument: 'e' in -e"),
    (["--stop-timeout", "soon", "busybox"], 'invalid value "soon" for --stop-timeout: not an integer'),
    ([], 'requires at least 1 argument'),
])
def test_usage_errors(args, message):
    if message is None:
        run.parse(args)
        return
    with pytest.raises(UsageError, match=message):
        run.parse(args)


def test_argument_counts_and_choices():
    assert tag.parse(["a"]) == {"source": "a", "target": None}
    with pytest.raises(UsageError, match="accepts no more arguments: c"):
        tag.parse(["a", "b", "c"])
    with pytest.raises(UsageError, match="requires at least 1 argument"):
        rm.parse(["-f"])
    with pytest.raises(UsageError, match="choose from json, table"):
        rm.parse(["--format", "yaml", "x"])


def test_groups_resolve_nested_and_lazy_commands():
    inner = Group("image", "Manage images.")
    inner.add_command(tag)
    top = Group("berth", "", lazy={"ps": "berth.cli.containers:ps_cmd"})
    top.add_command(inner)
    assert top.resolve(["image", "tag", "a", "b"]) == (tag, ["a", "b"])
    assert tag.path == "berth image tag"
    assert top.resolve(["ps", "-a"])[0].name == "ps"
    with pytest.raises(UsageError, match='unknown command "nope" for "berth"'):
        top.resolve(["nope"])
    with pytest.raises(HelpRequested):
        top.resolve([])


def test_help_lists_flags_with_defaults():
    text = run.usage()
    assert text.startswith("Usage:  ") and "IMAGE [COMMAND...]" in text
    assert "-e, --env list" in text and '(default "none")' in text


def test_cli_usage_error_is_one_line_and_exit_125(tmp_path):
    p = subprocess.run([sys.executable, "-m", "berth", "--root", str(tmp_path), "ps", "--bogus"],
                       capture_output=True, text=True)
    assert p.returncode == 125 and p.stderr.splitlines() == [
        "Error: unknown flag: --bogus (see 'berth ps --help')"]


def test_cli_imports_only_what_the_command_needs(tmp_path):
    code = ("import sys; from berth.cli.main import run; run(['--root', sys.argv[1], 'ps', '-q']); "
            "print(sorted(m for m in sys.modules if m in ('dataclasses', 'click', 'berth.cli.images', 'inspect')))")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"
