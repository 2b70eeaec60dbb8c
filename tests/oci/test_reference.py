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
