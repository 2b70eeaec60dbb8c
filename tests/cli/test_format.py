"""--format / -f through the real CLI: Go template semantics, docker's table layout, one-line errors."""
import json
import re

import pytest


@pytest.fixture
def created(busybox):
    busybox.run("create", "--name", "c1", "-l", "b=2", "-l", "a=1", "busybox", "sleep", "300")
    return busybox


def test_inspect_prints_values_as_go(created):
    assert created.out("inspect", "-f", "{{.State.Running}}", "c1") == "false\n"
    assert created.out("inspect", "-f", "{{.Config.Labels}} {{.Config.Labels.zz}}|{{index .Config.Labels \"zz\"}}|",
                       "c1") == "map[a:1 b:2] <no value>||\n"
    assert created.out("inspect", "-f", "{{.Config.Cmd}} {{json .Config.Cmd}} {{.Config.Entrypoint}}", "c1") == (
        '[sleep 300] ["sleep","300"] []\n')
    out = created.out("container", "inspect", "-f",
                      '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{"\\n"}}{{end}}{{if not .State.Running}}'
                      "{{.State.Status | upper}}{{end}}", "c1")
    assert out == "a=1\nb=2\nCREATED\n"
    out = created.out("image", "inspect", "-f", '{{join .Config.Cmd " "}} {{len .RootFS.Layers}}', "busybox")
    assert out == "sh 1\n"


@pytest.mark.parametrize("fmt,message", [
    ("{{.Nope}}", 'Error: template parsing error: template: :1:2: executing "" at <.Nope>: '
                  'map has no entry for key "Nope"'),
    ("{{.Name", "Error: template parsing error: template: :1: unclosed action"),
    ("{{nope .Name}}", 'Error: template parsing error: template: :1: function "nope" not defined'),
])
def test_inspect_template_errors_exit_1_with_one_line(created, fmt, message):
    p = created.run("inspect", "-f", fmt, "c1", check=False)
    assert p.returncode == 1 and p.stderr.decode().strip() == message


def test_ps_table_format_has_titles_and_docker_columns(created):
    out = created.out("ps", "-a", "--format", "table {{.Names}}\\t{{.State}}\\t{{.Labels}}")
    assert out == "NAMES     STATE     LABELS\nc1        created   b=2,a=1\n"
    out = created.out("ps", "-a", "--format", "table {{.ID}}\t{{.Image}}\t{{.RunningFor}}")
    header, row = out.splitlines()
    assert re.fullmatch(r"CONTAINER ID   IMAGE     CREATED", header)
    assert re.fullmatch(r"[0-9a-f]{12}   busybox   .+ ago", row)
    assert created.out("ps", "-a", "--format", "table").splitlines()[0].startswith("CONTAINER ID   IMAGE     COMMAND")


def test_images_table_format(busybox):
    out = busybox.out("images", "--format", "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}")
    assert re.fullmatch(r"REPOSITORY   TAG       IMAGE ID\nbusybox      latest    [0-9a-f]{12}\n", out)


def test_list_views_json_is_compact_and_errors_are_one_line(created):
    line = created.out("ps", "-a", "--format", "{{json .}}").strip()
    assert json.loads(line)["Names"] == "c1" and '", "' not in line and '": ' not in line
    again = created.out("ps", "-a", "--format", "json").strip()
    assert '", "' not in again and '": ' not in again

    def timeless(text):  # the same document but for the age, which may have crossed a second meanwhile
        return {k: v for k, v in json.loads(text).items() if k not in ("RunningFor", "Status")}
    assert timeless(again) == timeless(line)
    p = created.run("ps", "-a", "--format", "{{.Names}} {{.Nope}}", check=False)
    assert p.returncode == 1 and p.stdout == b""
    assert p.stderr.decode().strip() == ('Error: failed to execute template: template: :1:13: executing "" at '
                                         "<.Nope>: can't evaluate field Nope")
