""".dockerignore parsing and matching, and Go filepath.Match patterns (berth.pathmatch)."""
import pytest

from berth import pathmatch
from berth.build.ignore import IgnoreMatcher, parse_ignore_file
from berth.errors import IgnoreFileError


# ---- parsing -----------------------------------------------------------------------------------

def test_parse_comments_blanks_whitespace_and_slashes():
    text = ("\ufeff# a comment\n"
            "  node_modules  \n"
            "\n"
            "/abs/path\n"
            "./rel/path/\n"
            "dir//sub/../file\n"
            "! /not/this\n"
            "  # not a comment: only column 1 counts\n"
            "trailing\r\n")
    assert parse_ignore_file(text.encode()) == [
        "node_modules", "abs/path", "rel/path", "dir/file", "!not/this",
        "# not a comment: only column 1 counts", "trailing"]


def test_parse_lone_bang_is_kept_and_refused_by_the_matcher():
    assert parse_ignore_file("!\n! \n") == ["!", "!"]
    with pytest.raises(IgnoreFileError, match="illegal exclusion pattern"):
        IgnoreMatcher(["!"])


def test_parse_root_slash_stays():
    assert parse_ignore_file("/\n") == ["/"]
    assert not IgnoreMatcher(["/"]).excluded("anything")


def test_malformed_pattern_is_an_error():
    with pytest.raises(IgnoreFileError, match="syntax error"):
        IgnoreMatcher(["foo["])


# ---- matching ----------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern,path,expected", [
    ("**", "file", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/d2/file", True),
    ("abc/**", "abc", False),
    ("**/dir", "dir", True),
    ("**/dir", "a/b/dir", True),
    ("**/dir", "dir/file", True),          # a rule covers what is under what it names
    ("**/dir2/*", "dir/dir2/file", True),
    ("**file", "dir/dir/file", True),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "a/b/c.txt", True),
    ("**/**/*.txt2", "a/b/c.txt", False),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("*", "a/b/c", True),                   # `*` names every top-level entry, and so all below
    ("*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "temp", False),
    ("*/*/temp*", "a/b/temp", True),
    ("temp?", "tempa", True),
    ("temp?", "temp", False),
    ("a*/b", "a/c/b", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".git", True),
    (".*", "git", False),
    ("abc.def", "abcZdef", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    (r"a\*b", "a*b", True),
    (r"a\*b", "axb", False),
    ("foo/bar", "foo/bar/baz", True),
    ("foo/bar", "x/foo/bar", False),       # not like .gitignore: anchored at the context root
    ("node_modules", "pkg/node_modules", False),
    ("/foo/bar/", "foo/bar", True),
    ("./foo", "foo", True),
])
def test_single_rule(pattern, path, expected):
    m = IgnoreMatcher(parse_ignore_file(pattern))
    assert m.excluded(path) is expected


@pytest.mark.parametrize("patterns,path,expected", [
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-x.md", False),
    (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),   # the last match wins
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["*", "!src", "src/*.tmp"], "src/a.tmp", True),
    (["*", "!src", "src/*.tmp"], "src/a.py", False),
    (["*", "!**/*.go"], "src/x/main.go", False),
])
def test_rule_order(patterns, path, expected):
    assert IgnoreMatcher(patterns).excluded(path) is expected


def test_root_is_never_excluded():
    m = IgnoreMatcher(["*", "**"])
    assert not m.excluded("")
    assert not m.excluded(".")


def test_excluded_dir_is_walked_only_when_an_exception_could_reach_inside():
    m = IgnoreMatcher(["build", "!build/keep/*.txt", "cache"])
    assert m.excluded("build") and m.may_include_below("build")
    assert m.may_include_below("build/keep")
    assert not m.may_include_below("build/other")
    assert not m.may_include_below("cache")
    assert not IgnoreMatcher(["cache"]).may_include_below("cache")
    assert IgnoreMatcher(["*", "!**/*.go"]).may_include_below("deep/dir")


# ---- Go filepath.Match ---------------------------------------------------------------------------

@pytest.mark.parametrize("pattern,name,expected", [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True),
    ("a*/b", "abc/b", True), ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("ab[c]", "abc", True), ("ab[b-d]", "abc", True), ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False), ("ab[^e-g]", "abc", True), ("a?b", "a☺b", True),
    ("a???b", "a☺b", False), ("[a-ζ]*", "α", True), ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False), ("a*b", "a/b", False), ("a[^x]b", "a/b", False),
    (r"[\]a]", "]", True), (r"[\-]", "-", True), (r"[x\-]", "-", True), (r"[\-x]", "a", False),
    ("[[]", "[", True), ("arr[[]0].txt", "arr[0].txt", True), ("[!a]", "!", True),
    ("[z-a]", "m", False), ("*x", "xxx", True), (".*", ".hidden", True), ("a\nb", "a\nb", True),
])
def test_go_match(pattern, name, expected):
    assert pathmatch.match(pattern, name) is expected


@pytest.mark.parametrize("pattern", ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a["])
def test_go_bad_patterns(pattern):
    with pytest.raises(pathmatch.BadPattern):
        pathmatch.translate(pattern)


def test_has_magic_and_unescape():
    assert not pathmatch.has_magic("plain/name.txt")
    assert all(pathmatch.has_magic(p) for p in ("*", "a?", "[x]", r"a\b"))
    assert pathmatch.unescape(r"arr\[0\].txt") == "arr[0].txt"


def test_clean_is_go_clean():
    assert pathmatch.clean("") == "."
    assert pathmatch.clean("//a//b/./c/..") == "/a/b"
    assert pathmatch.clean("/../x") == "/x"
    assert pathmatch.clean("../x") == "../x"
