"""berth.pathmatch: what a pattern matches, and that matching takes polynomial time.

A pattern means what its regular expression (pathmatch.translate) means. compile_pattern runs
that expression on Python's `re` only when backtracking is bounded, rewritten with atomic groups
when a path component has several `*`; other patterns run on an NFA simulation (_Automaton).
Each case below is checked on every engine that can take it.
"""
import random
import re
import subprocess
import sys
import textwrap

import pytest

from berth import pathmatch


def _engines(pattern, doublestar):
    """(name, matcher) for each way pathmatch can match `pattern`."""
    toks = pathmatch._parse(pattern, doublestar)
    simple = pathmatch._simplify(toks)
    out = [("compiled", pathmatch.compile_pattern(pattern, doublestar)),
           ("automaton", pathmatch._Automaton(toks)),
           ("automaton, simplified", pathmatch._Automaton(simple))]
    bounded = pathmatch._bounded_regex(simple)
    if bounded is not None:
        out.append(("bounded regex", re.compile(bounded, re.DOTALL)))
    return out


# (pattern, doublestar, name, matches): the expected values are those of the former
# implementation, `re.fullmatch(translate(pattern), name, re.DOTALL)`.
TRICKY = [
    ('*a*a*b', False, 'xaayab', True),
    ('*a*a*b', False, 'aab', True),
    ('*a*a*b', False, 'ab', False),
    ('*a*a*b', False, 'aaba', False),
    ('*a*a*b', False, 'a/ab', False),
    ('a*b*c', False, 'abc', True),
    ('a*b*c', False, 'abcbc', True),
    ('a*b*c', False, 'acb', False),
    ('*_*_*.md', True, 'a_b_c.md', True),
    ('*_*_*.md', True, '__.md', True),
    ('*_*_*.md', True, 'a_b.md', False),
    ('*_*_*.md', True, 'd/a_b_c.md', False),
    ('*?*', False, '', False),
    ('*?*', False, 'x', True),
    ('?*?', False, 'x', False),
    ('?*?', False, 'xy', True),
    ('**', False, 'abc', True),                # without doublestar, `**` is `*` `*`
    ('**', False, 'a/b', False),
    ('a**b', False, 'axyb', True),
    ('a**b', False, 'a/b', False),
    ('a**b', True, 'ab', True),                # a(?:.*/)?b
    ('a**b', True, 'a/b', True),
    ('a**b', True, 'ax/yb', False),
    ('a**b', True, 'ax/y/b', True),
    ('a**b', True, 'axb', False),
    ('***', True, 'a/b', True),
    ('***', True, '', True),
    ('***x', True, 'a/bx', True),
    ('***x', True, 'x', True),
    ('****', True, 'a/b/c', True),
    ('**/', True, 'a/b', True),
    ('**/**', True, '', True),
    ('**/**/x', True, 'x', True),
    ('**/**/x', True, 'a/b/x', True),
    ('**/**/x', True, 'a/bx', False),
    ('**/a/**/b', True, 'a/b', True),
    ('**/a/**/b', True, 'x/a/y/z/b', True),
    ('**/a/**/b', True, 'x/ya/b', False),
    ('a*/**', True, 'ab/c', True),
    ('a*/**', True, 'ab', False),
    ('a*/**', True, 'ab/', True),
    ('a*b**/c', True, 'axb/c', True),
    ('a*b**/c', True, 'axbc', True),
    ('a*b**/c', True, 'axb/d/c', True),
    ('a*b**/c', True, 'ax/b/c', False),
    ('*a**a*', True, 'aa', True),
    ('*a**a*', True, 'ba/x/ab', True),
    ('*a**a*', True, 'b/a/x/ab', False),
    ('a\\/b', True, 'a/b', True),
    ('*\\/*', True, 'x/y', True),
    ('*\\/*', True, 'x/y/z', False),
    ('\\*', True, '*', True),
    ('\\*', True, 'x', False),
    ('[.-0]', True, '/', True),                # a class may hold `/` (here, in a range)...
    ('*[.-0]*', True, 'a/b', True),
    ('*[.-0][.-0]*x', True, './/x', True),     # ...and then not only its leftmost place counts
    ('[/]', True, '/', True),
    ('[^/]', True, '/', False),
    ('[^x]', True, '/', False),                # a negated class never matches `/`
    ('a[^x]b', True, 'a/b', False),
    ('[^b-a]', True, 'z', True),               # a reversed range is empty
    ('[^b-a]', True, '/', False),
    ('[b-a]', True, 'a', False),
    ('[b-ab]', True, 'b', True),
    ('x[b-a]*', True, 'x', False),
    ('[\\^]', True, '^', True),
    ('[^^]', True, '^', False),
    ('[!a]', True, 'b', False),
    ('a?b', True, 'a\nb', True),
    ('*', True, 'a\nb', True),
    ('**', True, '\n/\n', True),
    ('[a-ζ]*', False, 'α/', False),
    ('é*', False, 'éé', True),
    ('.', True, '.', True),
    ('..', True, '..', True),
    ('?', True, '', False),
    ('', True, '', True),
    ('', True, 'a', False),
]


@pytest.mark.parametrize("pattern,doublestar,name,expected", TRICKY)
def test_tricky_cases_on_every_engine(pattern, doublestar, name, expected):
    for engine, matcher in _engines(pattern, doublestar):
        assert bool(matcher.fullmatch(name)) is expected, engine
        # and as IgnoreRule.matches asks, on a slice of a longer string
        assert bool(matcher.fullmatch("/" + name + "/", 1, len(name) + 1)) is expected, engine


def test_pos_and_endpos_are_those_of_re():
    for pattern in ("a*", "*a*a*", "**/**/a*"):
        ref = re.compile(pathmatch.translate(pattern), re.DOTALL)
        for engine, matcher in _engines(pattern, True):
            for pos, endpos in [(0, 2), (1, 0), (-5, 100), (3, 2), (5, 9), (2, 2), (0, -1)]:
                want = ref.fullmatch("xaa/a", pos, endpos) is not None
                got = bool(matcher.fullmatch("xaa/a", pos, endpos))
                assert got is want, (engine, pattern, pos, endpos)


def test_translate_is_the_reference_expression():
    assert pathmatch.translate("**/*.go") == r"(?:.*/)?[^/]*\.go"
    assert pathmatch.translate("a/**") == "a/.*"
    assert pathmatch.translate("[^a-c]?[b-a]") == "[^/a-c][^/](?!)"
    assert pathmatch.translate("**", doublestar=False) == "[^/]*[^/]*"


def test_common_patterns_run_on_re():
    for pattern in ("*.go", "**/*.pyc", "src/**", "keep.txt", "**/node_modules", "*/temp*",
                    "**/**/*.txt", "*_*_*.md", "**/a*/*.*.json", "a*b/**/c*d*e"):
        assert isinstance(pathmatch.compile_pattern(pattern), re.Pattern), pattern
    assert isinstance(pathmatch.compile_pattern("*a*a*a*a*a*a*a*a*b"), re.Pattern)
    for pattern in ("**/src/**/*.go", "a*b**/c", "*[.-0]*a"):
        assert isinstance(pathmatch.compile_pattern(pattern), pathmatch._Automaton), pattern


def test_random_patterns_agree_with_the_reference_expression():
    """Every engine against re on translate()'s expression, on names short enough for it."""
    rng = random.Random(1234)
    pieces = ["a", "b", "/", "*", "*", "**", "**/", "?", "[ab]", "[^a]", "[.-0]", "\\*", "\\/",
              "[b-a]", ".", "[/]", "*a"]
    checked = 0
    for _ in range(600):
        pattern = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 7)))
        doublestar = rng.random() < 0.6
        ref = re.compile(pathmatch.translate(pattern, doublestar), re.DOTALL)
        engines = _engines(pattern, doublestar)
        for _ in range(15):
            name = "".join(rng.choice("aab/.*0z") for _ in range(rng.randint(0, 9)))
            want = ref.fullmatch(name) is not None
            for engine, matcher in engines:
                assert bool(matcher.fullmatch(name)) is want, (engine, pattern, doublestar, name)
            checked += 1
    assert checked == 9000


def test_automaton_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(pathmatch._Automaton, "_CACHE_LIMIT", 3)
    auto = pathmatch._Automaton(pathmatch._parse("**/x*y/**/[a-c]*z", True))
    assert auto.fullmatch("q/r/xay/s/t/bz") and auto.fullmatch("xy/cz")
    assert not auto.fullmatch("q/r/xay/s/t/dz") and not auto.fullmatch("xyz")
    assert auto.fullmatch("ü/日本/x本y/😀/a😀z")
    assert auto.cached <= 3


def test_malformed_patterns_are_refused_by_compile_pattern():
    for pattern in ["[]a]", "[-]", "[x-]", "\\", "[", "[^", "a[", "*a*a*[", "**/**/[^"]:
        with pytest.raises(pathmatch.BadPattern):
            pathmatch.compile_pattern(pattern)


def test_pathological_patterns_take_polynomial_time(tmp_path):
    """Exponential for a backtracking regex (minutes to hours before); milliseconds now. Run in a
    subprocess so that a regression fails on the timeout instead of hanging the run."""
    (tmp_path / ("a" * 80)).write_text("")
    (tmp_path / ("a" * 80 + "b")).write_text("")
    script = textwrap.dedent(f"""
        import time
        from berth import pathmatch
        from berth.build.ignore import IgnoreMatcher
        from berth.build.sources import SourceRoot
        start = time.monotonic()
        stars = "*a" * 8 + "*b"
        assert not pathmatch.match(stars, "a" * 80)
        assert pathmatch.match(stars, "a" * 80 + "b")
        assert not pathmatch.match("*a*a*a*a*a*a*b", "a" * 60)
        m = IgnoreMatcher([stars, "**/" + stars, "**a**a**a**a**a**a**b", "!**/**/**/**/**/**/x"])
        assert not m.excluded("a" * 80)
        assert not m.excluded("d/" * 20 + "a" * 80)
        assert m.excluded("d/" * 20 + "a" * 80 + "b")
        assert not m.excluded("a/" * 40)
        assert not m.excluded("a/" * 2000 + "y")
        with SourceRoot({str(tmp_path)!r}) as root:
            assert root.glob(stars) == ["a" * 80 + "b"]
        print(time.monotonic() - start)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert float(run.stdout) < 2.0
