"""berth.cli.output and berth.cli.gotemplate: Go templates, tabwriter tables and list views, as docker prints them.

The expected strings were checked side by side against docker 28 (`docker inspect -f` / `docker ps --format`)
on a busybox container shaped like DOC."""
import subprocess
import sys

import pytest

from berth.cli import gotemplate as gt
from berth.cli import output
from berth.errors import BerthError

DOC = {
    "Id": "0ab6fd06937c", "Name": "/fmt1", "Path": "sleep", "Args": ["600"],
    "State": {"Status": "running", "Running": True, "Paused": False, "Pid": 12779, "ExitCode": 0, "Health": None},
    "HostConfig": {"RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "CapAdd": None, "PidsLimit": None,
                   "Memory": 0},
    "Config": {"Env": ["FOO=bar", "PATH=/usr/bin"], "Cmd": ["sleep", "600"], "Entrypoint": None,
               "Labels": {"b": "2", "a": "1"}},
}


def run(src, data=DOC, **kw):
    return gt.parse(src, text_escapes=True).execute(data, **kw)


@pytest.mark.parametrize("src,expected", [
    # values print as Go's %v
    ("{{.State.Running}}", "true"),
    ("{{.State.Paused}} {{.State.Pid}} {{.HostConfig.Memory}}", "false 12779 0"),
    ("{{.Config.Labels}}", "map[a:1 b:2]"),
    ("{{.Config.Env}}", "[FOO=bar PATH=/usr/bin]"),
    ("{{.HostConfig.RestartPolicy}}", "{no 0}"),
    ("{{.Config.Entrypoint}}", "[]"),  # a null slice field
    ("{{.HostConfig.CapAdd}}|{{.HostConfig.PidsLimit}}|{{.State.Health}}", "[]|<nil>|<nil>"),
    ("{{.Config.Labels.a}}", "1"),
    ("{{.Config.Labels.zz}}", "<no value>"),
    ("{{.Config.Labels.zz.Foo}}", "<no value>"),
    ("{{index .Config.Labels \"zz\"}}|", "|"),
    ("{{index .Config.Env 0}} {{index .Name 1}}", "FOO=bar 102"),
    # json is compact, maps sorted, null for nil and missing
    ("{{json .Config.Labels}} {{json .Config.Labels.zz}} {{json .Config.Cmd}}",
     '{"a":"1","b":"2"} null ["sleep","600"]'),
    ("{{json .Config.Entrypoint}}", "null"),
    ("{{json .HostConfig.RestartPolicy}}", '{"Name":"no","MaximumRetryCount":0}'),
    ('{{json "<a&b>"}}', '"<a&b>"'),
    # docker's functions
    ('{{join .Config.Cmd ","}}|{{join .Config.Env "\\n"}}', "sleep,600|FOO=bar\nPATH=/usr/bin"),
    ('{{split .Name "m" }}|{{len .Name}}|{{len .Config.Env}}|{{slice .Name 1 3}}|{{title "hello world-foo_bar"}}|'
     '{{truncate .Name 3}}|{{pad .Name 2 1}}|', "[/f t1]|5|2|fm|Hello World-Foo_bar|/fm|  /fmt1 |"),
    ("{{upper .Name}} {{lower \"AbC\"}} {{join .Config.Entrypoint \",\"}}|", "/FMT1 abc |"),
    ("{{slice .Config.Cmd 1}} {{len .Config.Labels}} {{len .Config.Entrypoint}}", "[600] 2 0"),
    # control structures
    ("{{range .Config.Cmd}}<{{.}}>{{end}}", "<sleep><600>"),
    ("{{range $i, $e := .Config.Cmd}}{{$i}}:{{$e}} {{end}}", "0:sleep 1:600 "),
    ("{{range $i, $e := .Config.Cmd}}{{if $i}},{{end}}{{$e}}{{end}}", "sleep,600"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"),
    ("{{range .Config.Labels}}{{.}}{{end}}", "12"),
    ("{{range .Config.Entrypoint}}x{{else}}none{{end}}", "none"),
    ("{{range $k, $v := .Config.Labels}}{{if eq $k \"b\"}}{{break}}{{end}}{{$k}}{{end}}", "a"),
    ("{{range $i, $e := .Config.Cmd}}{{continue}}{{$i}}{{end}}done", "done"),
    ("{{range 3}}{{.}}{{end}}", "012"),
    ("{{with .State}}{{.Status}}{{end}}|{{with .Config.Entrypoint}}x{{else}}noep{{end}}", "running|noep"),
    ("{{with .Config.Entrypoint}}a{{else with .Config.Cmd}}{{index . 0}}{{end}}", "sleep"),
    ("{{with $x := .Config.Labels.a}}{{$x}}{{end}}", "1"),
    ("{{if and .State.Running (eq .State.Pid 0)}}a{{else if .State.Running}}b{{else}}c{{end}}", "b"),
    ("{{if not .Config.Labels.zz}}none{{end}}", "none"),
    ("{{if eq .Config.Labels.zz \"x\"}}y{{else}}n{{end}}", "n"),
    # logic and comparison
    ('{{or .Config.Entrypoint "dflt"}}|{{and 1 0 2}}|{{not .State.Running}}|{{eq .State.Status "exited" "running"}}|'
     '{{lt 1 2}}|{{lt "a" "b"}}', "dflt|0|false|true|true|true"),
    ("{{and .Config.Labels.a .Name}}|{{or .Config.Labels.zz .Name}}", "/fmt1|/fmt1"),
    ('{{"a" | eq "a"}} {{ge .State.ExitCode 0}} {{ne 1 2}} {{le 2 2}} {{gt 1.5 2.5}}', "true true true true false"),
    # variables, pipelines, parentheses
    ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
    ('{{$x := "a"}}{{range .Config.Cmd}}{{$x = .}}{{end}}{{$x}}', "600"),
    ("{{$.Name}} {{$}}", "/fmt1 " + gt.go_str(DOC)),
    ("{{.State.Pid | printf \"%d\" | len}}", "5"),
    ('{{.Config.Env | len | printf "%03d"}}', "002"),
    ('{{(index .Config.Cmd 0) | printf "%.3s"}}|{{(.State).Status}}', "sle|running"),
    ('{{"x"|printf "%s-%s" "y"}}', "y-x"),
    ("{{.State.Running | not}}", "false"),
    # literals
    ("{{1.5}} {{1e6}} {{123456.0}} {{1e-5}} {{0x10}} {{017}} {{'a'}} {{1.0}} {{-3}}",
     "1.5 1e+06 123456 1e-05 16 15 97 1 -3"),
    ("{{0b101}} {{1_000}} {{0o17}} {{0x_1F}} {{'\\n'}} {{print nil}}", "5 1000 15 31 10 <nil>"),
    ('{{"\\u00e9\\t\\x41" | printf "%q"}} {{`raw\\n`}}', '"é\\tA" raw\\n'),
    # printf
    ('{{printf "%q %v %s %5d|%-5s|%x" .Name .State.Running .Name 42 "ab" "hi"}}',
     '"/fmt1" true /fmt1    42|ab   |6869'),
    ('{{printf "%d" .Name}}', "%!d(string=/fmt1)"),
    ('{{printf "%s"}}', "%!s(MISSING)"),
    ('{{printf "%s" 1 2}}', "%!s(int=1)%!(EXTRA int=2)"),
    ('{{printf "%d %s" true nil}}', "%!d(bool=true) %!s(<nil>)"),
    ('{{printf "%!"}} {{printf "%z" 1}} {{printf "%"}}', "%!!(MISSING) %!z(int=1) %!(NOVERB)"),
    ('{{printf "%v|%5.2f|%e|%g|%x|%X|%o|%b|%c|%U|%08.3f|%+d|%t|%q" 1.5 3.14159 1234.5678 0.000012 255 255 8 5 65 65 '
     '3.14159 5 true 65}}', "1.5| 3.14|1.234568e+03|1.2e-05|ff|FF|10|101|A|U+0041|0003.142|+5|true|'A'"),
    ('{{printf "%v %s %d %q" .Config.Cmd .Config.Cmd .Config.Cmd .Config.Cmd}}',
     '[sleep 600] [sleep 600] [%!d(string=sleep) %!d(string=600)] ["sleep" "600"]'),
    ('{{printf "%v %+v" .HostConfig.RestartPolicy .HostConfig.RestartPolicy}}', "{no 0} {Name:no MaximumRetryCount:0}"),
    ('{{printf "%5s|%-5d|%.2s|%05s|%x" "ab" 3 "abcdef" "ab" "hi"}}', "   ab|3    |ab|000ab|6869"),
    ('{{printf "%6.2f|%-8.3e|%+.1f|% d" 3.14159 1234.5 2.0 5}}', "  3.14|1.234e+03|+2.0| 5"),
    ('{{printf "%v %v %v %v" 100000.0 1000000.0 0.0001 0.00001}}', "100000 1e+06 0.0001 1e-05"),
    ('{{printf "%x %X %o %b %c" 3054 3054 8 5 0x1F600}}', "bee BEE 10 101 \U0001F600"),
    ('{{printf "%q" "a\\"b\\\\c\\x01\\u2028"}}', '"a\\"b\\\\c\\x01\\u2028"'),
    ('{{printf "%s" .Config.Labels}} {{printf "%T %T %T" 1 1.5 "s"}}', "map[a:1 b:2] int float64 string"),
    ('{{print 1 2 "a" "b" 3 true}}', "1 2ab3 true"),
    ('{{println 1 "a"}}', "1 a\n"),
    # text, trim markers, comments
    ("{{- /* c */ -}} x {{/* y */}}", "x "),
    ('a  {{- "b" -}}  c', "abc"),
    ('{{ .Name}} {{- "x" }}', "/fmt1x"),
    ("{{.Name -}}\n\n  {{.Id}}", "/fmt10ab6fd06937c"),
    ("{{.Name}}\\n{{.Id}}\\t.", "/fmt1\n0ab6fd06937c\t."),  # a literal \n or \t in the text
    ("{{.Name -}} \\n {{.Id}}", "/fmt10ab6fd06937c"),
    ("no actions", "no actions"),
])
def test_template_as_docker(src, expected):
    assert run(src) == expected


@pytest.mark.parametrize("src,message", [
    ("{{.Nope}}", 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'),
    ("ab{{.Nope}}", 'template: :1:4: executing "" at <.Nope>: map has no entry for key "Nope"'),
    ("{{.State.Nope}}", 'template: :1:8: executing "" at <.State.Nope>: map has no entry for key "Nope"'),
    ("{{$x := .State}}{{$x.Nope}}", 'template: :1:20: executing "" at <$x.Nope>: map has no entry for key "Nope"'),
    ("line1\n{{.Name}}\n  {{index .Config.Env 7}}",
     'template: :3:4: executing "" at <index .Config.Env 7>: error calling index: index out of range: 7'),
    ('{{eq 1 "a"}}', 'template: :1:2: executing "" at <eq 1 "a">: error calling eq: incompatible types for comparison'),
    ("{{lt 1 1.5}}", "error calling lt: incompatible types for comparison"),
    ("{{lt true false}}", 'executing "" at <lt true false>: error calling lt: invalid type for comparison'),
    ("{{upper 1 2}}", 'template: :1:2: executing "" at <upper>: wrong number of args for upper: want 1 got 2'),
    ("{{upper .State.Pid}}",
     'template: :1:14: executing "" at <.State.Pid>: wrong type for value; expected string; got int'),
    ("{{.State.Pid | upper}}",
     'template: :1:15: executing "" at <upper>: wrong type for value; expected string; got int'),
    ("{{range .Name}}x{{end}}", 'template: :1:8: executing "" at <.Name>: range can\'t iterate over /fmt1'),
    ("{{index .Config.Labels 1}}", "error calling index: value has type int; should be string"),
    ('{{index .Config.Labels "a" "b"}}', "error calling index: cannot index slice/array with type string"),
    ("{{len 3}}", 'template: :1:2: executing "" at <len 3>: error calling len: len of type int'),
    ("{{1 2}}", 'template: :1:2: executing "" at <1>: can\'t give argument to non-function 1'),
    ("{{nil}}", 'template: :1:2: executing "" at <nil>: nil is not a command'),
    ("{{.State.Status.Foo}}", "can't evaluate field Foo in type string"),
])
def test_execution_errors(src, message):
    with pytest.raises(gt.ExecError) as e:
        run(src)
    assert message in str(e.value)
    assert isinstance(e.value, BerthError)


def test_list_views_word_a_missing_field_as_docker_ps():
    with pytest.raises(gt.ExecError, match=r'^template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope$'):
        run("{{.Nope}}", {"Names": "c1"}, field_errors=True)


def test_a_map_is_not_a_struct():
    assert run("{{.nope}}|{{.Nope}}", {"a": 1}) == "<no value>|<no value>"  # lower-case keys: a map
    assert run("{{.Nope}}", {}) == "<no value>"
    assert run("{{.Labels.Nope}}", {"Labels": {"Maintainer": "x"}}) == "<no value>"  # Labels is always a map
    assert run("{{.Labels}}", {"Labels": {"Maintainer": "x"}}) == "map[Maintainer:x]"


@pytest.mark.parametrize("src,message", [
    ("{{.Name", "template: :1: unclosed action"),
    ("a\n{{.Name", "template: :2: unclosed action"),
    ("{{if .State.Running}}yes{{end", "template: :1: unclosed action"),
    ("{{foo .X}}", 'template: :1: function "foo" not defined'),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{else}}", "template: :1: unexpected {{else}}"),
    ("{{if .State.Running}}yes", "template: :1: unexpected EOF"),
    ("{{}}", "template: :1: missing value for command"),
    ("{{if}}x{{end}}", "template: :1: missing value for if"),
    ("{{.A.}}", "template: :1: unexpected <.> in operand"),
    ('{{"abc}}', "template: :1: unterminated quoted string"),
    ("{{.A-B}}", "template: :1: bad character U+002D '-'"),
    ("{{(.A}}", "template: :1: unclosed left paren"),
    ("{{.A)}}", "template: :1: unexpected right paren"),
    ("{{.Name | 3}}", "template: :1: non executable command in pipeline stage 2"),
    ("{{range .X}}{{end}}{{break}}", "template: :1: {{break}} outside {{range}}"),
    ("{{$x, $y := .A}}", "template: :1: too many declarations in command"),
    ("{{.Name @}}", 'template: :1: unexpected "@" in operand'),
    ("{{/* unclosed ", "template: :1: unclosed comment"),
    ("{{/* x */ .Name}}", "template: :1: comment ends before closing delimiter"),
    ("{{-.Name}}", 'template: :1: bad number syntax: "-.N"'),
    ("{{1x}}", 'template: :1: bad number syntax: "1x"'),
    ('{{"\\z"}}', "template: :1: invalid syntax"),
    ("{{$y}}", 'template: :1: undefined variable "$y"'),
    ('{{template "x"}}', "template: :1: {{template}} is not supported"),
])
def test_parse_errors(src, message):
    with pytest.raises(gt.ParseError) as e:
        gt.parse(src)
    assert str(e.value).startswith(message)


def test_go_value_printing():
    assert gt.go_str(True) == "true" and gt.go_str(None) == "<nil>" and gt.go_str(3) == "3"
    assert gt.go_str(2.0) == "2" and gt.go_str(1e21) == "1e+21" and gt.go_str(0.5) == "0.5"
    assert gt.go_str(1234567.0) == "1.234567e+06" and gt.go_str(-0.00001) == "-1e-05"
    assert gt.go_str([1, "a", [True]]) == "[1 a [true]]"
    assert gt.go_str({"z": 1, "a": [1, 2], "m": {}}) == "map[a:[1 2] m:map[] z:1]"
    assert gt.go_str({"B": 1, "A": None}) == "{1 <nil>}"  # a struct keeps its field order
    assert gt.go_json({"b": 1.0, "a": [None]}) == '{"a":[null],"b":1}'
    assert gt.go_json("é\u2028") == '"é\\u2028"'


# ---- tables -------------------------------------------------------------------------------------------------

def test_tabwrite_as_docker():
    assert output.tabwrite("NAMES\tSTATUS\nfmt1\tUp 2 seconds\n") == "NAMES     STATUS\nfmt1      Up 2 seconds\n"
    # an empty last cell: docker leaves the padding, berth strips it
    assert output.tabwrite("NAMES\tPORTS\nfmt1\t\n") == "NAMES     PORTS\nfmt1\n"
    # a column is aligned over a block of consecutive lines that have it
    text = "a\tb\nlonger-cell-here\tc\nx\ny\tz\n"
    assert output.tabwrite(text) == "a                  b\nlonger-cell-here   c\nx\ny         z\n"
    assert output.tabwrite("…\tx\n") == "…         x\n"  # widths count characters
    assert output.tabwrite("no tabs") == "no tabs"


def test_default_table_sits_where_docker_puts_it(capsys):
    output.table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
                 [["0ab6fd06937c", "busybox", '"sleep 600"', "1 second ago", "Up Less than a second", "", "fmt1"]])
    assert capsys.readouterr().out == (
        "CONTAINER ID   IMAGE     COMMAND       CREATED        STATUS                  PORTS     NAMES\n"
        '0ab6fd06937c   busybox   "sleep 600"   1 second ago   Up Less than a second             fmt1\n')
    output.table(["DRIVER", "VOLUME NAME"], [["local", "v"]])
    assert capsys.readouterr().out == "DRIVER    VOLUME NAME\nlocal     v\n"
    output.table(["UID", "PID"], [["root", "1"]], minwidth=20)
    assert capsys.readouterr().out == "UID                 PID\nroot                1\n"


CONTAINERS = [{"ID": "0ab6fd06937c", "Image": "busybox", "Command": '"sleep 600"', "RunningFor": "1 second ago",
               "Status": "Up 1 second", "State": "running", "Ports": "", "Names": "fmt1", "Labels": "a=1,b=2"},
              {"ID": "452e5233e7ca", "Image": "busybox", "Command": '"sh"', "RunningFor": "2 hours ago",
               "Status": "Exited (0) 1 hour ago", "State": "exited", "Ports": "", "Names": "ex1", "Labels": ""}]


def emitted(capsys, fmt, objs=CONTAINERS, headers=output.CONTAINER_TITLES):
    output.emit(objs, fmt, lambda: print("DEFAULT"), headers=headers)
    return capsys.readouterr().out


def test_emit_table_format(capsys):
    assert emitted(capsys, "table {{.Names}}\\t{{.Status}}") == (
        "NAMES     STATUS\nfmt1      Up 1 second\nex1       Exited (0) 1 hour ago\n")
    assert emitted(capsys, "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.State}}\\t{{.Names}}") == (
        "CONTAINER ID   IMAGE     COMMAND       STATE     NAMES\n"
        '0ab6fd06937c   busybox   "sleep 600"   running   fmt1\n'
        '452e5233e7ca   busybox   "sh"          exited    ex1\n')
    # functions leave the titles alone, as docker's header functions do
    assert emitted(capsys, "table {{.Names}}\t{{upper .Names}}\t{{json .Names}}\t{{.RunningFor}}").splitlines() == [
        "NAMES     NAMES     NAMES     CREATED", 'fmt1      FMT1      "fmt1"    1 second ago',
        'ex1       EX1       "ex1"     2 hours ago']
    assert emitted(capsys, "table {{.Names}}:{{.Image}}") == "NAMES:IMAGE\nfmt1:busybox\nex1:busybox\n"
    assert emitted(capsys, "tablex {{.Names}}") == "x NAMES\nx fmt1\nx ex1\n"
    assert emitted(capsys, "table {{.Names}}", []) == "NAMES\n"


def test_emit_titles(capsys):
    images = [{"Repository": "busybox", "Tag": "latest", "ID": "756e666d49b3", "CreatedSince": "6 months ago"}]
    assert emitted(capsys, "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}", images,
                   headers=output.IMAGE_TITLES) == (
        "REPOSITORY   TAG       IMAGE ID       CREATED\nbusybox      latest    756e666d49b3   6 months ago\n")
    given = emitted(capsys, "table {{.ID}}\t{{.CreatedAt}}", [{"ID": "x", "CreatedAt": "now"}],
                    headers=output.HISTORY_TITLES)
    assert given.splitlines()[0] == "IMAGE     CREATED AT"
    assert emitted(capsys, "table {{.ID}}\t{{.SomeField}}", [], headers={}) == "ID        SOME FIELD\n"


def test_emit_other_formats(capsys):
    assert emitted(capsys, None) == "DEFAULT\n" and emitted(capsys, "table") == "DEFAULT\n"
    assert emitted(capsys, "{{.Names}}\\t{{.State}}") == "fmt1\trunning\nex1\texited\n"
    assert emitted(capsys, "  {{.Names}}  ") == "fmt1\nex1\n"  # docker trims the spaces around a format
    lines = emitted(capsys, "json").splitlines()
    assert lines[0].startswith('{"ID":"0ab6fd06937c","Image":"busybox",') and len(lines) == 2
    assert emitted(capsys, "{{json .}}").splitlines() == lines


def test_emit_errors_are_one_berth_error(capsys):
    with pytest.raises(BerthError) as e:
        emitted(capsys, "{{.Nope}}")
    assert str(e.value) == ('failed to execute template: template: :1:2: executing "" at <.Nope>: '
                            "can't evaluate field Nope")
    with pytest.raises(BerthError, match=r"^failed to parse template: template: :1: unclosed action$"):
        emitted(capsys, "table {{.Names")
    assert capsys.readouterr().out == ""  # nothing half-printed


def test_render_as_inspect():
    assert output.render("{{.State.Running}} {{.Config.Labels}}", DOC) == "true map[a:1 b:2]"
    with pytest.raises(BerthError, match=r'^template parsing error: template: :1:2: executing "" at <.Nope>: '
                                         r'map has no entry for key "Nope"$'):
        output.render("{{.Nope}}", DOC)
    with pytest.raises(BerthError, match=r"^template parsing error: template: :1: unclosed action$"):
        output.render("{{.Name", DOC)


def test_default_titles():
    assert output.default_title("CreatedAt") == "CREATED AT"
    assert output.default_title("CPUPerc") == "CPU PERC"
    assert output.default_title("PIDs") == "PIDS"
    assert output.default_title("ID") == "ID"


def test_templates_are_imported_only_when_a_format_is_given():
    code = ("import sys, berth.cli.output as o; assert 'berth.cli.gotemplate' not in sys.modules; "
            "o.render('{{.A}}', {'A': 1}); assert 'berth.cli.gotemplate' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
