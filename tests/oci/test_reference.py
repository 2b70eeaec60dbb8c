import pytest

from berth.errors import InvalidReference
from berth.oci.digest import Digest
from berth.oci.reference import Reference

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text,name,tag,familiar", [
    ("busybox", "docker.io/library/busybox", "latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox", "1.36", "busybox:1.36"),
    ("user/app", "docker.io/user/app", "latest", "user/app:latest"),
    ("docker.io/library/debian:bookworm", "docker.io/library/debian", "bookworm", "debian:bookworm"),
    ("index.docker.io/library/debian", "docker.io/library/debian", "latest", "debian:latest"),
    ("localhost/app", "localhost/app", "latest", "localhost/app:latest"),
    ("localhost:5000/team/app:v1", "localhost:5000/team/app", "v1", "localhost:5000/team/app:v1"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000/app", "latest", "127.0.0.1:5000/app:latest"),
    ("[::1]:5000/app:t", "[::1]:5000/app", "t", "[::1]:5000/app:t"),
    ("quay.io/a/b/c:x_y.z-1", "quay.io/a/b/c", "x_y.z-1", "quay.io/a/b/c:x_y.z-1"),
])
def test_normalization(text, name, tag, familiar):
    ref = Reference.parse(text)
    assert (ref.name, ref.tag, ref.familiar) == (name, tag, familiar)


def test_digest_reference_has_no_default_tag():
    ref = Reference.parse(f"busybox@{D}")
    assert ref.tag is None and ref.digest == Digest.parse(D)
    assert str(ref) == f"docker.io/library/busybox@{D}"
    both = Reference.parse(f"busybox:1@{D}")
    assert both.tag == "1" and both.digest is not None


@pytest.mark.parametrize("bad", [
    "", "upper/Case", "a:b:c", "busybox@sha256:123", "busybox@md5:" + "a" * 32, "a//b", "-lead", "trail-",
    "name:" + "t" * 129, "name:-tag", "a" * 256, "has space", " lead", "a/b:", "@" + D, "x@", "example.com:/x",
    "ab" * 32,  # a 64-hex name would be confused with an image ID
])
def test_malformed_references_are_rejected(bad):
    with pytest.raises(InvalidReference) as e:
        Reference.parse(bad)
    assert "reference" in str(e.value) or "repository" in str(e.value)


def test_uppercase_error_says_why():
    with pytest.raises(InvalidReference, match="lowercase"):
        Reference.parse("MyApp")


# -- fuzz: only InvalidReference escapes; what parses normalizes to a fixed point
from hypothesis import given, strategies as st  # noqa: E402

from helpers import fuzz_settings  # noqa: E402

_PIECES = st.sampled_from(["busybox", "a", "A", "localhost", "localhost:5000", "[::1]:5000", "example.com",
                           "/", "//", ":", "@", "sha256:", D, "ab" * 32, "..", ".", "-", "_", "__", "latest",
                           "t" * 130, "%2F", "\0", "é", " ", "x" * 300, "docker.io", "index.docker.io", "library"])
_REFERENCES = st.text(max_size=300) | st.lists(_PIECES, max_size=8).map("".join)


@fuzz_settings()
@given(_REFERENCES)
def test_fuzz_parse_raises_only_invalid_reference(text):
    try:
        ref = Reference.parse(text)
    except InvalidReference:
        return
    assert Reference.parse(str(ref)) == ref
    assert ".." not in ref.repository.split("/") and len(ref.name) <= 255


# The grammar as docker's reference package states it in regular expressions (Go's RE2: \w is
# ASCII); berth checks it by hand (start-up time), and must accept exactly what these accept.
_RE2_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_RE2_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
GRAMMAR = {
    "path": (rf"{_RE2_COMPONENT}(?:/{_RE2_COMPONENT})*", "ab09._-/A:"),
    "domain": (rf"(?:{_RE2_LABEL}(?:\.{_RE2_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?", "aZ09.-:[]fg/"),
    "tag": (r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "aZ9_.-:é"),
    "id": (r"[a-f0-9]{64}", "0af"),
}


@pytest.mark.parametrize("part", sorted(GRAMMAR))
def test_hand_checks_accept_what_the_grammar_accepts(part):
    import random
    import re

    from berth.oci import reference
    pattern, alphabet = GRAMMAR[part]
    check = {"path": reference._is_path, "domain": reference._is_domain, "tag": reference._is_tag,
             "id": reference._is_id}[part]
    rng = random.Random(part)
    lengths = [64, 63, 65] if part == "id" else list(range(0, 9)) + [127, 128, 129, 130]
    samples = {"".join(rng.choice(alphabet) for _ in range(rng.choice(lengths))) for _ in range(20000)}
    samples |= {"a" * 128, "a" * 129, "[::1]:5000", "[::1]x", "[]", "a--b", "a___b", "a__b", "-a", "a-", "a/", "/a"}
    wrong = [s for s in samples if check(s) != bool(re.fullmatch(pattern, s))]
    assert not wrong, wrong[:10]
    assert sum(map(check, samples)) > 50  # the samples reach both answers
