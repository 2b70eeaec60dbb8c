"""Docker's shell-word lexer (berth.dockerfile.shellwords): substitution, quotes, escapes, word splitting."""
import pytest

from berth.dockerfile.shellwords import ExpansionError, Lexer, expand_word, expand_words

ENV = {"v": "val", "sp": "a b", "empty": "", "path": "/usr/local/lib.tar.gz", "n1": "one"}


@pytest.mark.parametrize("text, word", [
    ("$v", "val"),
    ("${v}", "val"),
    ("x${v}y", "xvaly"),
    ("$v.txt", "val.txt"),
    ("$unset", ""),
    ("${unset}", ""),
    ("$", "$"),
    ("a$", "a$"),
    ("$.x", "$.x"),
    ("$1", ""),                 # positional parameters are unset variables
    ("$12x", "x"),
    ("$@", ""),
    ("$$", ""),
    ("${v:-w}", "val"),
    ("${unset:-w}", "w"),
    ("${empty:-w}", "w"),
    ("${empty-w}", ""),
    ("${unset-w}", "w"),
    ("${v:+w}", "w"),
    ("${empty:+w}", ""),
    ("${empty+w}", "w"),
    ("${unset+w}", ""),
    ("${v:?}", "val"),
    ("${empty?}", ""),
    ("${unset:-$v}", "val"),
    ("${unset:-${also:-deep}}", "deep"),
    ("${unset:-a b}", "a b"),
    ('${unset:-"q"}', "q"),
    ("${path%.*}", "/usr/local/lib.tar"),
    ("${path%%.*}", "/usr/local/lib"),
    ("${path#*/}", "usr/local/lib.tar.gz"),
    ("${path##*/}", "lib.tar.gz"),
    ("${path#nomatch}", "/usr/local/lib.tar.gz"),
    ("${path/l/L}", "/usr/Local/lib.tar.gz"),
    ("${path//l/L}", "/usr/LocaL/Lib.tar.gz"),
    ("${path//?/x}", "x" * len("/usr/local/lib.tar.gz")),
    ("${path/\\//_}", "_usr/local/lib.tar.gz"),
    ("${v%[a]}", "val"),                  # brackets are literal characters
])
def test_substitution(text, word):
    assert expand_word(text, ENV) == word


@pytest.mark.parametrize("text, word", [
    ("'$v'", "$v"),
    ('"$v"', "val"),
    ('"a \'b\' $v"', "a 'b' val"),
    ("'a \"b\"'", 'a "b"'),
    ('"\\$v"', "$v"),
    ('"\\"q\\""', '"q"'),
    ('"\\\\"', "\\"),
    ('"\\n"', "\\n"),         # inside double quotes only " $ and the escape itself are escapable
    ("\\$v", "$v"),
    ("\\n", "n"),             # outside quotes the escape makes any character literal
    ("a\\ b", "a b"),
    ("trailing\\", "trailing"),
    ("pre'$v'\"$v\"post", "pre$vvalpost"),
])
def test_quotes_and_escapes(text, word):
    assert expand_word(text, ENV) == word


def test_backtick_escape():
    assert expand_word("`$v", ENV, escape="`") == "$v"
    assert expand_word("C:\\dir\\$v", ENV, escape="`") == "C:\\dir\\val"
    assert expand_word('"``"', {}, escape="`") == "`"


@pytest.mark.parametrize("text, words", [
    ("a b  c", ["a", "b", "c"]),
    ("$sp", ["a", "b"]),               # a variable's whitespace splits
    ('"$sp"', ["a b"]),
    ("x$sp", ["xa", "b"]),
    ("'a b' c", ["a b", "c"]),
    ("a\\ b", ["a b"]),
    ('""', []),                        # an empty quoted word disappears, as in docker
    ("$empty", []),
    ("", []),
    ("  lead trail  ", ["lead", "trail"]),
])
def test_word_splitting(text, words):
    assert expand_words(text, ENV) == words


@pytest.mark.parametrize("text, message", [
    ("${empty:?}", 'failed to process "${empty:?}": empty: is not allowed to be empty'),
    ("${unset:?}", "unset: is not allowed to be unset"),
    ("${unset?}", "unset: is not allowed to be unset"),
    ("${unset:?custom text}", "unset: custom text"),
    ("${v", "syntax error: missing '}'"),
    ("${v:-x", "syntax error: missing '}'"),
    ("${", "syntax error: missing '}'"),
    ("${}", "bad substitution"),
    ("${:a}", "bad substitution"),
    ("${{a}}", "bad substitution"),
    ("${v:x}", "unsupported modifier (:x) in substitution"),
    ("${v*}", "unsupported modifier (*) in substitution"),
    ("'open", "matching single-quote"),
    ('"open', "matching double-quote"),
    ("${v/a}", "missing '/' in"),
    ("${v#\\x}", "invalid escape"),
])
def test_errors(text, message):
    with pytest.raises(ExpansionError) as caught:
        expand_word(text, ENV)
    assert message in str(caught.value)


def test_parser_options():
    raw = Lexer(raw_quotes=True, raw_escapes=True)
    assert raw.expand_words('a "b c" \\d', {}) == ["a", '"b c"', "\\d"]
    assert Lexer(skip_quotes=True).expand("say '$v' \"$v\"", ENV) == "say 'val' \"val\""
    assert Lexer(skip_unset=True).expand("$unset ${unset} ${unset:-x} $v", ENV) == "$unset ${unset} ${unset:-x} val"
    with pytest.raises(ValueError):
        Lexer("x")


def test_env_is_any_mapping():
    class Lookup(dict):
        pass
    assert expand_word("$a", Lookup(a="1")) == "1"
