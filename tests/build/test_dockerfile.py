"""Dockerfile parser and model (berth.dockerfile), scopes (berth.build.scopes) and stage graph
(berth.build.stagegraph), over the corpus in tests/build/dockerfiles/ (buildable files, later
compared with docker) and its errors/ directory."""
from pathlib import Path

import pytest

from berth.build.scopes import GlobalScope, platform_args
from berth.build.stagegraph import resolve_stages, target_stages
from berth.dockerfile import (Add, Arg, Cmd, Copy, Entrypoint, Env, Expose, From, Healthcheck, Heredoc, Label,
                              Maintainer, Mount, Onbuild, Run, Shell, Stopsignal, User, Volume, Workdir, parse,
                              parse_go_duration, parse_heredoc, parse_mount, parse_trigger)
from berth.dockerfile.shellwords import expand_word
from berth.errors import BerthError, DockerfileError

CORPUS = Path(__file__).parent / "dockerfiles"
BASE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]
SECOND = 1_000_000_000


def load(name: str):
    return parse((CORPUS / name).read_text(), name)


def scope_of(df, build_args=None, target="linux/amd64", build="linux/amd64"):
    return GlobalScope(df, build_args or {}, target, build)


def steps(df, stage=-1, build_args=None, base_env=BASE_ENV):
    """The stage's instructions as the builder sees them (expanded, ARG/ENV applied), and the scope."""
    variables = scope_of(df, build_args).stage_scope(base_env)
    return [variables.step(ins) for ins in df.stages[stage].instructions], variables


def keywords(stage):
    return [ins.keyword for ins in stage.instructions]


# ---- the corpus as a whole -------------------------------------------------------------------

CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.Dockerfile"))


def test_corpus_is_large_enough():
    assert len(CORPUS_FILES) >= 40


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file_parses_and_evaluates(name):
    df = load(name)
    scope = scope_of(df)
    for rs in resolve_stages(df, scope):
        variables = scope.stage_scope(BASE_ENV)
        for ins in rs.stage.instructions:
            expanded = variables.step(ins)
            assert type(expanded) is type(ins) and expanded.line == ins.line
    lines = (CORPUS / name).read_text().splitlines()
    for stage in df.stages:
        for ins in [stage.from_instruction] + stage.instructions:
            assert lines[ins.line - 1].strip().lower().startswith(ins.keyword.lower())
            assert ins.source == "\n".join(lines[ins.line - 1:ins.end_line])


def test_every_instruction_is_in_the_corpus():
    seen = set()
    for name in CORPUS_FILES:
        for stage in load(name).stages:
            seen.add("FROM")
            for ins in stage.instructions:
                seen.add(ins.keyword)
                if isinstance(ins, Onbuild):
                    seen.add("ONBUILD " + ins.trigger.keyword)
    assert {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
            "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"} <= seen


# ---- FROM and the global scope ---------------------------------------------------------------

def test_01_from_basic():
    df = load("01-from-basic.Dockerfile")
    assert df.directives.escape == "\\" and df.global_args == []
    [stage] = df.stages
    assert (stage.index, stage.name, stage.base, stage.platform, stage.label) == (0, "", "busybox", "", "stage-0")
    [run] = stage.instructions
    assert isinstance(run, Run) and run.command == ["echo hello"] and not run.json_form
    assert (run.line, run.end_line, run.original) == (2, 2, "RUN echo hello")


def test_02_from_platform_and_stage_names():
    df = load("02-from-platform-as.Dockerfile")
    first, second = df.stages
    assert first.name == "build"                 # stage names are lower-cased
    assert first.platform == "$BUILDPLATFORM" and first.base == "busybox:latest"
    assert second.platform == "linux/amd64"
    resolved = resolve_stages(df, scope_of(df, target="linux/arm64/v7", build="linux/amd64"))
    assert resolved[0].platform == "linux/amd64"
    assert resolved[1].deps == [0] and resolved[1].images == []
    variables = scope_of(df).stage_scope()
    # platform ARGs are global: a stage sees them only after `ARG NAME`
    assert variables.step(first.instructions[0]).command == ["echo building on $BUILDPLATFORM"]
    assert "BUILDPLATFORM" not in variables


def test_03_global_args_feed_each_other_and_build_args_win():
    df = load("03-global-args-from.Dockerfile")
    assert [ins.pairs for ins in df.global_args] == [[("BASE", "busybox")], [("TAG", "latest")],
                                                     [("IMAGE", "${BASE}:${TAG}")]]
    assert resolve_stages(df, scope_of(df))[0].base == "busybox:latest"
    assert resolve_stages(df, scope_of(df, {"TAG": "1.36"}))[0].base == "busybox:1.36"
    assert resolve_stages(df, scope_of(df, {"IMAGE": "alpine"}))[0].base == "alpine"
    # global ARGs are not visible in the stage without re-declaration
    [run], _ = steps(df)
    assert run.command == ["echo $BASE"]


def test_04_global_arg_redeclared_in_stage():
    df = load("04-global-arg-redeclare.Dockerfile")
    arg, env, run = steps(df)[0]
    assert arg.pairs == [("VERSION", "1.2.3")]
    assert env.pairs == [("APP_VERSION", "1.2.3"), ("NOT_SEEN", "none")]
    arg, env, _ = steps(df, build_args={"VERSION": "9"})[0]
    assert arg.pairs == [("VERSION", "9")] and env.pairs[0] == ("APP_VERSION", "9")


def test_46_from_a_stage_through_a_global_arg():
    df = load("46-from-stage-chain.Dockerfile")
    resolved = resolve_stages(df, scope_of(df))
    assert [(r.base, r.base_stage, r.deps) for r in resolved] == [
        ("busybox", None, []), ("base", 0, [0]), ("scratch", None, [1])]
    assert resolved[2].is_scratch and not resolved[0].is_scratch
    # with another value the same line names an image, not the stage
    resolved = resolve_stages(df, scope_of(df, {"FLAVOR": "alpine"}))
    assert (resolved[1].base, resolved[1].base_stage) == ("alpine", None)


def test_47_platform_args_and_proxies():
    df = load("47-proxy-and-platform-args.Dockerfile")
    scope = scope_of(df, {"http_proxy": "http://proxy:3128"}, target="linux/arm64", build="linux/amd64")
    assert resolve_stages(df, scope)[0].platform == "linux/arm64"
    variables = scope.stage_scope(BASE_ENV)
    arch, os_, run, env = [variables.step(i) for i in df.stages[0].instructions]
    assert arch.pairs == [("TARGETARCH", "arm64")] and os_.pairs == [("BUILDOS", "linux")]
    assert run.command == ["echo $TARGETARCH $BUILDOS $http_proxy"]   # the shell expands RUN
    assert env.pairs == [("ARCH", "arm64"), ("NO_DECL", "unset")]
    run_env = variables.run_env()
    assert run_env["http_proxy"] == "http://proxy:3128" and run_env["TARGETARCH"] == "arm64"
    assert "http_proxy" not in variables          # proxies reach RUN, not Dockerfile words


def test_platform_args():
    args = platform_args("linux/arm/v7", "linux/arm64/v8")
    assert args == {"TARGETPLATFORM": "linux/arm/v7", "TARGETOS": "linux", "TARGETARCH": "arm",
                    "TARGETVARIANT": "v7", "BUILDPLATFORM": "linux/arm64", "BUILDOS": "linux",
                    "BUILDARCH": "arm64", "BUILDVARIANT": ""}
    assert platform_args()["BUILDOS"] == "linux"


# ---- RUN ---------------------------------------------------------------------------------------

def test_05_run_forms_and_json_fallback():
    runs = load("05-run-forms.Dockerfile").stages[0].instructions
    assert [(r.command, r.json_form) for r in runs] == [
        (["echo shell form"], False),
        (["echo", "exec form"], True),
        (["[echo, not json]"], False),             # invalid JSON is shell form
        (['["echo", "trailing"] junk'], False),
    ]


def test_06_continuations_skip_comment_and_empty_lines():
    first, second = load("06-run-continuation.Dockerfile").stages[0].instructions
    assert first.command == ["echo one     two     three"]
    assert (first.line, first.end_line) == (2, 6)
    assert second.command == ["echo ab"]           # no space is added when lines are joined
    assert load("06-run-continuation.Dockerfile").warnings == [
        "06-run-continuation.Dockerfile:5: empty continuation line (future docker releases will make "
        "this an error)"]


def test_07_cache_mount_with_variable():
    df = load("07-run-mount-cache.Dockerfile")
    run = df.stages[0].instructions[1]
    assert run.mounts[0].id == "$CACHE_ID"          # as written until expanded
    _, run = steps(df)[0]
    assert run.mounts == [Mount(type="cache", target="/cache", id="build-cache", sharing="locked",
                                readonly=False, mode=0o755, uid=1000, gid=1000)]
    assert run.command == ["touch /cache/x"]


def test_08_bind_mount_from_stage_and_image():
    df = load("08-run-mount-bind-from.Dockerfile")
    first, second = df.stages[1].instructions
    assert first.mounts == [Mount(type="bind", from_="builder", source="/out", target="/in", readonly=False)]
    assert second.mounts == [Mount(from_="busybox:latest", source="/bin", target="/b", readonly=True)]
    resolved = resolve_stages(df, scope_of(df))
    assert resolved[1].deps == [0] and resolved[1].images == ["busybox:latest"]


def test_09_tmpfs_secret_ssh_mounts():
    runs = load("09-run-mount-tmpfs-secret-ssh.Dockerfile").stages[0].instructions
    assert runs[0].mounts == [Mount(type="tmpfs", target="/scratch", size="64m", readonly=False)]
    assert runs[1].mounts == [Mount(type="secret", id="token", required=True),
                              Mount(type="secret", id="other", target="/run/secrets/o", mode=0o400)]
    assert runs[1].flags["mount"] == ["type=secret,id=token,required",
                                      "type=secret,id=other,target=/run/secrets/o,mode=0400"]
    assert runs[2].mounts == [Mount(type="ssh", id="default", required=False)]
    assert runs[3].mounts == [Mount(type="secret", id="envtok", env="TOKEN")]


def test_10_network_and_security():
    runs = load("10-run-network-security.Dockerfile").stages[0].instructions
    assert [(r.network, r.security) for r in runs] == [("none", ""), ("host", ""), ("default", "sandbox")]
    assert runs[2].flags == {"network": "default", "security": "sandbox"}


def test_11_run_heredoc():
    first, after = load("11-run-heredoc.Dockerfile").stages[0].instructions
    assert first.command == ["<<EOF"]
    assert first.heredocs == [Heredoc("EOF", 'echo first\necho "second $HOME"\n', True, False)]
    assert (first.line, first.end_line, after.line) == (2, 5, 6)
    assert first.heredoc_script() == ("shell", 'echo first\necho "second $HOME"\n')
    assert after.heredoc_script() is None


def test_12_run_heredoc_chomp():
    [run] = load("12-run-heredoc-chomp.Dockerfile").stages[0].instructions
    [doc] = run.heredocs
    assert doc.chomp and doc.content == "\techo tabbed\n\t\techo two tabs\n"
    assert doc.text == "echo tabbed\necho two tabs\n"
    assert run.end_line == 5                       # the terminator may be indented with tabs


def test_13_heredoc_as_stdin_and_quoted_delimiter():
    first, second = load("13-run-heredoc-stdin.Dockerfile").stages[0].instructions
    assert first.command == ["sh -e <<EOF"]
    assert first.heredoc_script() == ("shell", "sh -e <<EOF\necho from stdin\nEOF")
    assert second.heredocs == [Heredoc("EOF", "$HOME stays\n", expand=False)]
    assert second.heredoc_script() == ("shell", "cat <<'EOF' > /literal.txt\n$HOME stays\nEOF")


def test_14_heredoc_shebang_is_a_script_file():
    [run] = load("14-run-heredoc-shebang.Dockerfile").stages[0].instructions
    assert run.heredoc_script() == ("file", "#!/bin/sh\necho script with shebang\n")


def test_15_several_heredocs_on_one_line():
    [run] = load("15-run-heredoc-multi.Dockerfile").stages[0].instructions
    assert [(h.name, h.content) for h in run.heredocs] == [("A", "alpha\n"), ("B", "bravo\n")]
    assert run.heredoc_script() == ("shell", "cat <<A > /a.txt && cat <<B > /b.txt\nalpha\nA\nbravo\nB")


# ---- COPY and ADD ------------------------------------------------------------------------------

def test_16_copy_heredoc_expansion():
    df = load("16-copy-heredoc.Dockerfile")
    _, expanding, literal = df.stages[0].instructions
    assert expanding.sources == [] and expanding.dest == "/greeting.txt"
    assert [h.name for h in expanding.inline] == ["EOF"] and expanding.inline[0].expand
    assert literal.inline[0].expand is False
    _, expanding, literal = steps(df)[0]
    # heredoc bodies are expanded with quotes kept as they are
    assert expanding.inline[0].text == "hello world \"quoted\" 'single'\n"
    assert literal.inline[0].text == "hello $NAME\n"


def test_17_copy_several_heredocs():
    [copy] = load("17-copy-heredoc-multi.Dockerfile").stages[0].instructions
    assert [(h.name, h.text) for h in copy.inline] == [
        ("no-recommends", 'APT::Install-Recommends "false";\n'),
        ("no-suggests", 'APT::Install-Suggests "false";\n')]
    assert copy.dest == "/etc/apt/apt.conf.d/" and copy.end_line == 6


def test_18_copy_flags():
    df = load("18-copy-flags.Dockerfile")
    _, first, second = df.stages[0].instructions
    assert first.flags == {"chown": "${OWNER}:${OWNER}", "chmod": "640", "link": True}
    assert (first.link, second.link) == (True, False)
    _, first, _ = steps(df, build_args={"OWNER": "33"})[0]
    assert (first.chown, first.chmod, first.sources, first.dest) == ("33:33", "640", ["context/hello.txt"], "/app/")


def test_19_copy_from_index_name_and_image():
    df = load("19-copy-from.Dockerfile")
    copies = df.stages[1].instructions
    assert all(isinstance(c, Copy) for c in copies)
    assert [c.from_ for c in copies] == ["0", "Builder", "busybox:latest"]
    resolved = resolve_stages(df, scope_of(df))
    assert resolved[1].deps == [0] and resolved[1].images == ["busybox:latest"]


def test_20_copy_exclude_and_parents():
    first, second = load("20-copy-exclude-parents.Dockerfile").stages[0].instructions
    assert first.excludes == ["*.tmp", "*.log"] and first.flags["exclude"] == ["*.tmp", "*.log"]
    assert second.parents and not first.parents


def test_21_copy_json_form():
    df = load("21-copy-json.Dockerfile")
    _, copy, add = df.stages[0].instructions
    assert copy.json_form and copy.sources == ["context/hello.txt"] and copy.dest == "$DEST"
    _, copy, add = steps(df)[0]
    assert copy.dest == "/dest with space/" and isinstance(add, Add) and add.dest == "/added.txt"


def test_22_add_flags():
    local, git, checksum, excluded = load("22-add-flags.Dockerfile").stages[0].instructions
    assert (local.chown, local.chmod, local.link) == ("1:2", "600", True)
    assert git.keep_git_dir and git.sources == ["https://github.com/moby/buildkit.git#v0.10.1"]
    assert checksum.checksum.startswith("sha256:24454f83") and not checksum.keep_git_dir
    assert excluded.excludes == ["*.tmp"]


def test_48_copy_heredoc_with_chmod():
    df = load("48-copy-heredoc-chmod.Dockerfile")
    (copy, entrypoint), _ = steps(df)
    assert copy.chmod == "755" and copy.inline[0].text == '#!/bin/sh\nexec "$@"\n'
    # unquoted, `$@` would be expanded by the builder like any variable (to nothing)
    df = parse('FROM a\nCOPY <<EOF /e.sh\nexec "$@" $HOME\nEOF\n')
    copy = GlobalScope(df).stage_scope({"HOME": "/root"}).step(df.stages[0].instructions[0])
    assert copy.inline[0].text == 'exec "" /root\n'
    assert entrypoint.command == ["/entrypoint.sh"] and entrypoint.json_form


# ---- CMD, ENTRYPOINT, SHELL, HEALTHCHECK, STOPSIGNAL, ONBUILD, MAINTAINER ---------------------------

def test_23_cmd_forms():
    cmds = load("23-cmd-forms.Dockerfile").stages[0].instructions
    assert all(isinstance(c, Cmd) for c in cmds)
    assert [(c.command, c.json_form) for c in cmds] == [
        (["echo", "exec"], True), (["echo shell $HOME"], False), ([], True)]


def test_24_entrypoint_forms():
    exec_form, shell_form = load("24-entrypoint-forms.Dockerfile").stages[0].instructions
    assert isinstance(exec_form, Entrypoint) and exec_form.command == ["/bin/echo", "hi"]
    assert shell_form.command == ["exec top -b"] and not shell_form.json_form


def test_25_shell():
    shell, run = load("25-shell.Dockerfile").stages[0].instructions
    assert isinstance(shell, Shell) and shell.command == ["/bin/sh", "-ec"] and shell.json_form


def test_36_healthcheck_flags():
    shell_form, exec_form = load("36-healthcheck.Dockerfile").stages[0].instructions
    assert isinstance(shell_form, Healthcheck)
    assert shell_form.test == ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"]
    assert (shell_form.interval, shell_form.timeout, shell_form.start_period, shell_form.start_interval,
            shell_form.retries) == (30 * SECOND, 5 * SECOND, 90 * SECOND, SECOND // 2, 3)
    assert exec_form.test == ["CMD", "/bin/true"] and exec_form.interval == 0


def test_37_healthcheck_none():
    [check] = load("37-healthcheck-none.Dockerfile").stages[0].instructions
    assert check.test == ["NONE"]


def test_35_stopsignal():
    df = load("35-stopsignal.Dockerfile")
    _, plain, variable = steps(df)[0]
    assert isinstance(plain, Stopsignal) and (plain.signal, variable.signal) == ("SIGTERM", "SIGQUIT")


def test_34_onbuild():
    run, copy, heredoc = load("34-onbuild.Dockerfile").stages[0].instructions
    assert isinstance(run, Onbuild) and run.expression == "RUN echo triggered"
    assert isinstance(run.trigger, Run) and run.trigger.command == ["echo triggered"]
    assert copy.expression == "COPY --chown=1:1 . /app" and copy.trigger.chown == "1:1"
    assert heredoc.expression == "run <<EOF\necho heredoc trigger\nEOF"
    assert heredoc.trigger.heredocs == [Heredoc("EOF", "echo heredoc trigger\n")]
    # a child build parses the stored expressions again
    again = parse_trigger(heredoc.expression)
    assert isinstance(again, Run) and again.heredoc_script() == ("shell", "echo heredoc trigger\n")
    assert parse_trigger(copy.expression) == parse_trigger("COPY --chown=1:1 . /app")


def test_27_maintainer():
    [m] = load("27-maintainer.Dockerfile").stages[0].instructions
    assert isinstance(m, Maintainer) and m.name == "Jane Doe <jane@example.com>"


# ---- LABEL, ENV, ARG, EXPOSE, VOLUME, USER, WORKDIR --------------------------------------------

def test_26_label():
    df = load("26-label.Dockerfile")
    label = df.stages[0].instructions[1]
    assert label.pairs == [("org.opencontainers.image.revision", "$REV"),
                           ('"description"', '"a multi word value"'), ("other", "'single $REV'")]
    _, label, legacy = steps(df)[0]
    assert isinstance(label, Label) and label.pairs == [
        ("org.opencontainers.image.revision", "abc123"), ("description", "a multi word value"),
        ("other", "single $REV")]
    assert legacy.pairs == [("legacy", "form with spaces")]


def test_28_expose():
    df = load("28-expose.Dockerfile")
    assert df.stages[0].instructions[1].ports == ["${PORT}/udp", "443/tcp", "80"]   # sorted as written
    _, expose = steps(df)[0]
    assert isinstance(expose, Expose) and expose.ports == ["9000/udp", "443/tcp", "80"]


def test_29_env_forms():
    df = load("29-env-forms.Dockerfile")
    legacy = df.stages[0].instructions[0]
    assert legacy.pairs == [("LEGACY", "value with   spaces")]
    (legacy, plain, refs, path), variables = steps(df)
    assert isinstance(plain, Env)
    assert plain.pairs == [("A", "1"), ("B", "two words"), ("C", "three words"), ("D", "")]
    assert refs.pairs == [("E", "1-two words"), ("F", "$A"), ("G", "1"), ("H", "$A")]
    assert path.pairs == [("PATH", "/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")]
    assert variables.env["LEGACY"] == "value with   spaces" and variables.env["HOME"] == "/root"


def test_30_env_and_arg_of_the_same_name():
    df = load("30-env-arg-scoping.Dockerfile")
    (arg_x, env_x, _, env_y, arg_y, _), variables = steps(df)
    assert env_x.pairs == [("X", "from-env")] and variables["X"] == "from-env"
    assert arg_y.pairs == [("Y", "from-arg")]
    assert variables["Y"] == "from-arg"             # the later one wins (BuildKit)
    assert variables.env["Y"] == "from-env"          # the image config keeps the ENV
    assert variables.args == {"X": "from-arg", "Y": "from-arg"} and "X" not in BASE_ENV


def test_33_arg_several_per_line():
    df = load("33-arg-multiple.Dockerfile")
    assert df.stages[0].instructions[0].pairs == [("A", "1"), ("B", None), ("C", '"x y"'), ("D", "$A")]
    (arg, _), variables = steps(df)
    # each ARG of a line sees the ones before it (unlike ENV, whose pairs all see the old values)
    assert isinstance(arg, Arg) and arg.pairs == [("A", "1"), ("B", None), ("C", "x y"), ("D", "1")]
    assert "B" not in variables                      # declared without value: unset
    (arg, _), variables = steps(df, build_args={"B": "given", "A": "override"})
    assert arg.pairs == [("A", "override"), ("B", "given"), ("C", "x y"), ("D", "override")]


def test_31_volume():
    df = load("31-volume.Dockerfile")
    _, json_form, words = steps(df)[0]
    assert isinstance(json_form, Volume) and json_form.paths == ["/var/log", "/data"] and json_form.json_form
    assert words.paths == ["/a", "/b"]


def test_32_user_workdir():
    df = load("32-user-workdir.Dockerfile")
    _, workdir, relative, user = steps(df)[0]
    assert isinstance(workdir, Workdir) and workdir.path == "/srv/app"
    assert relative.path == "sub dir"                # WORKDIR takes the rest of the line
    assert isinstance(user, User) and user.user == "nobody:nogroup"


def test_44_variable_forms():
    df = load("44-variable-forms.Dockerfile")
    (_, _, first, second, third), _ = steps(df)
    assert first.pairs == [("A", "value"), ("B", "default"), ("C", "default"), ("D", "")]
    assert second.pairs == [("E", "alt"), ("F", ""), ("G", "alt"), ("H", "")]
    assert third.pairs == [("I", "value"), ("J", "valuevalue"), ("K", "valuex"), ("L", "$"), ("M", "${SET}")]


def test_45_quotes():
    df = load("45-quotes.Dockerfile")
    (_, env, workdir), _ = steps(df)
    assert env.pairs == [("S", 'single $V "dq"'), ("D", "double val 'sq' \"esc\""), ("M", "premid valpost $V")]
    assert workdir.path == "/path with val"


# ---- directives, escape, case, whitespace ------------------------------------------------------

def test_38_backtick_escape():
    df = load("38-escape-backtick.Dockerfile")
    assert df.directives.escape == "`"
    run, env = df.stages[0].instructions
    assert run.command == ["echo C:\\path\\here     continued"]
    (_, env), _ = steps(df)
    assert env.pairs == [("P", "C:\\Windows"), ("Q", "$literal")]


def test_39_backslash_escape_directive():
    df = load("39-escape-backslash.Dockerfile")
    assert df.directives.escape == "\\" and df.stages[0].instructions[0].command == ["echo one     two"]


def test_40_directive_spelling():
    df = load("40-directives.Dockerfile")
    assert (df.directives.syntax, df.directives.check, df.directives.escape) == (
        "docker/dockerfile:1.7", "skip=all", "`")
    assert df.stages[0].instructions[0].command == ["echo hi   there"]


def test_41_lowercase_instructions():
    df = load("41-lowercase-instructions.Dockerfile")
    assert [s.name for s in df.stages] == ["base", ""]
    assert keywords(df.stages[0]) == ["RUN", "ENV"] and keywords(df.stages[1]) == ["COPY"]
    assert resolve_stages(df, scope_of(df))[1].base_stage == 0


def test_42_leading_whitespace():
    df = load("42-leading-whitespace.Dockerfile")
    assert keywords(df.stages[0]) == ["RUN", "ENV"] and df.stages[0].from_instruction.line == 2


def test_directives_rules():
    # only at the very top: after a comment, an empty line or an instruction they are comments
    assert parse("# foo\n# escape=`\nFROM a\n").directives.escape == "\\"
    assert parse("\n# escape=`\nFROM a\n").directives.escape == "\\"
    assert parse("# unknown=1\n# escape=`\nFROM a\n").directives.escape == "\\"
    assert parse("FROM a\n# escape=`\n").directives.escape == "\\"
    assert parse("#escape=`\n#syntax=x\nFROM a\n").directives == parse(
        "# ESCAPE = `\n# Syntax=x\nFROM a\n").directives
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: only one syntax parser directive"):
        parse("# syntax=a\n# syntax=b\nFROM a\n")


def test_bom_crlf_bytes_and_trailing_spaces_after_escape():
    df = parse("\ufeffFROM a\r\nRUN echo one \\  \r\n  two\r\n".encode())
    assert df.stages[0].base == "a" and df.stages[0].instructions[0].command == ["echo one   two"]


# ---- the stage graph ---------------------------------------------------------------------------

def test_43_target_stages():
    df = load("43-multistage-target.Dockerfile")
    names = lambda rs: [r.stage.name for r in rs]
    assert names(target_stages(df)) == ["base", "deps", "final"]
    assert names(target_stages(df, "test", scope_of(df))) == ["base", "deps", "unrelated", "test"]
    assert names(target_stages(df, "BASE")) == ["base"]
    with pytest.raises(DockerfileError, match="target stage 'nope' could not be found"):
        target_stages(df, "nope")


def test_copy_from_a_later_stage_and_bad_index():
    df = parse("FROM a\nCOPY --from=later /x /x\nFROM b AS later\n")
    assert resolve_stages(df)[0].deps == [1]
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: invalid stage index 5"):
        resolve_stages(parse("FROM a\nCOPY --from=5 /x /x\n"))
    with pytest.raises(DockerfileError, match="circular dependency detected on stage: stage-0"):
        resolve_stages(parse("FROM a\nCOPY --from=0 /x /x\n"))


def test_from_refers_only_to_earlier_stages():
    df = parse("FROM later\nFROM b AS later\n")
    assert resolve_stages(df)[0].base_stage is None


# ---- errors ------------------------------------------------------------------------------------

ERRORS = {
    "unknown-instruction": (3, "unknown instruction: COPPY (did you mean COPY?)"),
    "unterminated-heredoc": (2, "unterminated heredoc 'EOF'"),
    "bad-escape-directive": (1, "invalid escape token 'x'"),
    "duplicate-directive": (2, "only one escape parser directive can be used"),
    "flag-on-wrong-instruction": (2, "unknown flag: chown"),
    "unknown-copy-flag": (2, "unknown flag: from"),
    "required-variable": (3, "NEEDED: must be set"),
    "onbuild-onbuild": (2, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    "onbuild-from": (2, "FROM isn't allowed as an ONBUILD trigger"),
    "onbuild-maintainer": (2, "MAINTAINER isn't allowed as an ONBUILD trigger"),
    "empty": (1, "file with no instructions"),
    "comments-only": (3, "file with no instructions"),
    "no-from": (2, "no build stage in current context"),
    "only-args": (2, "dockerfile contains no stages to build"),
    "shell-not-json": (2, "SHELL requires the arguments to be in JSON form"),
    "json-not-strings": (2, "arrays must be comprised of strings only"),
    "bad-stage-name": (1, 'invalid name for build stage: "1st"'),
    "from-args": (1, "FROM requires either one or three arguments"),
    "copy-one-arg": (2, "COPY requires at least two arguments"),
    "mount-from-variable": (3, "'from=$S' doesn't support variable expansion"),
    "mount-bad-type": (2, 'unsupported mount type "volume"'),
    "circular": (1, "circular dependency detected on stage: a"),
    "blank-base": (2, "base name ($BASE) should not be blank"),
    "bad-network": (2, "unsupported network mode 'bridge'"),
    "healthcheck-bad-interval": (2, 'time: missing unit in duration "10"'),
    "env-no-equals": (2, "Syntax error - can't find = in \"B\""),
    "bool-flag-value": (2, "expecting boolean value for flag link, not: maybe"),
    "duplicate-flag": (2, "duplicate flag specified: chown"),
    "bad-substitution": (2, 'failed to process "${}": syntax error: bad substitution'),
}


def evaluate(name):
    """Everything a build does with the file before executing anything."""
    df = load(name)
    scope = scope_of(df)
    for rs in resolve_stages(df, scope):
        variables = scope.stage_scope(BASE_ENV)
        for ins in rs.stage.instructions:
            variables.step(ins)


def test_error_corpus_is_covered():
    assert sorted(p.name for p in (CORPUS / "errors").glob("*.Dockerfile")) == sorted(
        f"{n}.Dockerfile" for n in ERRORS)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_corpus(name):
    line, problem = ERRORS[name]
    with pytest.raises(DockerfileError) as caught:
        evaluate(f"errors/{name}.Dockerfile")
    error = caught.value
    assert isinstance(error, BerthError) and "\n" not in str(error)
    assert (error.filename, error.line) == (f"errors/{name}.Dockerfile", line)
    assert str(error).startswith(f"errors/{name}.Dockerfile:{line}: ")
    assert problem in error.problem


@pytest.mark.parametrize("text, problem", [
    ("FROM a\nRUN --mount=type=cache true\n", "mount type=cache requires a target"),
    ("FROM a\nRUN --mount=type=bind,target=/x,sharing=locked true\n", "invalid cache sharing"),
    ("FROM a\nRUN --mount=type=bind,target=/x,mode=0700 true\n", 'mode not allowed for "bind" type mounts'),
    ("FROM a\nRUN --mount=type=cache,target=/x,required true\n", "unexpected key 'required'"),
    ("FROM a\nRUN --mount=type=cache,target=/x,bogus=1 true\n", "unexpected key 'bogus'"),
    ("FROM a\nRUN --mount=type=cache,target=/x,uid=abc true\n", "invalid value 'abc' for uid"),
    ("FROM a\nRUN --mount=type=cache,target=/x,novalue true\n", "invalid field 'novalue'"),
    ("FROM a\nRUN --mount=type=secret,id=a,from=b true\n", "secret mount should not have a from"),
    ("FROM a\nRUN --security=root true\n", "unsupported security mode 'root'"),
    ("FROM a\nRUN --mount true\n", "missing a value on flag: mount"),
    ("FROM a\nCOPY --link= a b\n", "missing a value on flag: link"),
    ("FROM --platform a\n", "missing a value on flag: platform"),
    ("FROM a\nHEALTHCHECK --retries=-1 CMD true\n", "--retries cannot be negative (-1)"),
    ("FROM a\nHEALTHCHECK --retries=x CMD true\n", 'parsing "x": invalid syntax'),
    ("FROM a\nHEALTHCHECK --timeout=1us CMD true\n", 'Interval "timeout" cannot be less than 1ms'),
    ("FROM a\nHEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD"),
    ("FROM a\nHEALTHCHECK NONE x\n", "HEALTHCHECK NONE takes no arguments"),
    ("FROM a\nHEALTHCHECK FOO x\n", 'Unknown type "FOO" in HEALTHCHECK (try CMD)'),
    ("FROM a\nHEALTHCHECK\n", "HEALTHCHECK requires at least one argument"),
    ("FROM a\nENV\n", "ENV requires at least one argument"),
    ("FROM a\nENV onlykey\n", "ENV must have two arguments"),
    ("FROM a\nENV =x\n", "ENV names can not be blank"),
    ("FROM a\nLABEL\n", "LABEL requires at least one argument"),
    ("FROM a\nARG\n", "ARG requires at least one argument"),
    ("FROM a\nARG =x\n", "ARG names can not be blank"),
    ("FROM a\nWORKDIR\n", "WORKDIR requires exactly one argument"),
    ("FROM a\nUSER\n", "USER requires exactly one argument"),
    ("FROM a\nMAINTAINER\n", "MAINTAINER requires exactly one argument"),
    ("FROM a\nSTOPSIGNAL\n", "STOPSIGNAL requires exactly one argument"),
    ("FROM a\nEXPOSE\n", "EXPOSE requires at least one argument"),
    ("FROM a\nVOLUME\n", "VOLUME requires at least one argument"),
    ('FROM a\nVOLUME ["/a", " "]\n', "VOLUME specified can not be an empty string"),
    ("FROM a\nSHELL []\n", "SHELL requires at least one argument"),
    ("FROM a\nONBUILD\n", "ONBUILD requires at least one argument"),
    ("FROM a\nONBUILD BOGUS x\n", "unknown instruction: BOGUS"),
    ("FROM a\nCOPY <<EOF <<EOF2\nx\nEOF\ny\nEOF2\n", "COPY cannot accept a heredoc as a destination"),
    ("FROM a AS b c\n", "FROM requires either one or three arguments"),
    ("FROM a\nbogus\n", "unknown instruction: BOGUS"),
])
def test_instruction_errors(text, problem):
    with pytest.raises(DockerfileError) as caught:
        df = parse(text, "Dockerfile")
        resolve_stages(df)
    assert caught.value.line == (1 if text.count("\n") == 1 else 2)
    assert problem in caught.value.problem


def test_expansion_errors_name_the_instruction_line():
    df = parse("FROM a\n\nENV A=1\nWORKDIR ${UNSET:?is required}\n", "Dfile")
    variables = GlobalScope(df).stage_scope()
    variables.step(df.stages[0].instructions[0])
    with pytest.raises(DockerfileError, match=r"^Dfile:4: failed to process .*UNSET: is required$"):
        variables.step(df.stages[0].instructions[1])
    with pytest.raises(DockerfileError, match=r"^Dfile:1: failed to process"):
        resolve_stages(parse("FROM ${X:?}\n", "Dfile"))


def test_parse_errors_come_before_instruction_errors():
    # BuildKit reads the whole file first: an unterminated heredoc wins over an earlier bad line
    with pytest.raises(DockerfileError, match="unterminated heredoc"):
        parse("FROM a\nBOGUS\nRUN <<EOF\n")


# ---- pieces ------------------------------------------------------------------------------------

def test_flags_parsing_rules():
    copy = parse("FROM a\nCOPY --chown='1 2' --link=TRUE -- --not-a-flag /d\n").stages[0].instructions[0]
    assert copy.flags == {"chown": "1 2", "link": True}
    assert copy.sources == ["--not-a-flag"] and copy.dest == "/d"
    run = parse('FROM a\nRUN --mount="type=cache,target=/c" --mount=type=tmpfs,target=/t x\n').stages[0].instructions[0]
    assert [m.type for m in run.mounts] == ["cache", "tmpfs"] and run.command == ["x"]


def test_mount_parsing_details():
    assert parse_mount('type=bind,"source=a,b",target=/t,readonly=false') == Mount(
        type="bind", source="a,b", target="/t", readonly=False)
    assert parse_mount("type=CACHE,dst=/x,sharing=Private,ro") == Mount(
        type="cache", target="/x", sharing="private", readonly=True)
    # with variables only keys are checked until the builder expands them
    assert parse_mount("type=$T,target=$DIR,mode=$M").type == "$T"
    values = {"T": "cache", "DIR": "/d", "M": "700"}
    expanded = parse_mount("type=$T,target=$DIR,mode=$M", lambda word: expand_word(word, values))
    assert (expanded.type, expanded.target, expanded.mode) == ("cache", "/d", 0o700)


def test_heredoc_words():
    assert parse_heredoc("<<EOF") == Heredoc("EOF")
    assert parse_heredoc("<<-EOF") == Heredoc("EOF", chomp=True)
    assert parse_heredoc("<<'EOF'") == Heredoc("EOF", expand=False)
    assert parse_heredoc('<<E"O"F') == Heredoc("EOF", expand=False)
    assert parse_heredoc("3<<EOF") == Heredoc("EOF", fd=3)
    assert parse_heredoc("<<") is None and parse_heredoc("<<<EOF") is None and parse_heredoc("x<<EOF") is None
    # quoted `<<EOF` in a RUN line is not a heredoc; JSON form never has heredocs
    run = parse('FROM a\nRUN echo "<<EOF"\n').stages[0].instructions[0]
    assert run.heredocs == []
    run = parse('FROM a\nRUN ["cat", "<<EOF"]\n').stages[0].instructions[0]
    assert run.heredocs == [] and run.command == ["cat", "<<EOF"]
    # other instructions do not take heredocs
    env = parse("FROM a\nENV A=<<EOF\n").stages[0].instructions[0]
    assert env.pairs == [("A", "<<EOF")]


def test_go_durations():
    assert parse_go_duration("1h2m3.5s") == 3723 * SECOND + SECOND // 2
    assert parse_go_duration("0") == 0 and parse_go_duration("1.5ms") == 1_500_000
    assert parse_go_duration("-2s") == -2 * SECOND and parse_go_duration("10us") == 10_000
    for bad in ("", "s", "1", "1x", ".s"):
        with pytest.raises(Exception):
            parse_go_duration(bad)


def test_instructions_are_comparable_records():
    one = parse("FROM a\nRUN x\n").stages[0].instructions[0]
    two = parse("FROM a\nRUN x\n").stages[0].instructions[0]
    assert one == two
    assert isinstance(one.replace(command=["y"]), Run) and one.command == ["x"]
    assert isinstance(parse("FROM a\n").stages[0].from_instruction, From)


def test_declared_args():
    df = load("04-global-arg-redeclare.Dockerfile")
    assert df.declared_args() == {"VERSION", "UNUSED"}
    assert load("33-arg-multiple.Dockerfile").declared_args() == {"A", "B", "C", "D"}


def test_stage_lookup():
    df = parse("FROM a AS One\nFROM b AS two\nFROM c AS one\n")
    assert df.stage("ONE").index == 2 and df.stage(1).name == "two"

