import pytest

from berth.errors import InvalidDigest
from berth.oci.digest import Digest, chain_ids


def test_sha256_and_sha512():
    d = Digest.of_bytes(b"hello")
    assert str(d) == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert Digest.parse(str(d)) == d
    d512 = Digest.of_bytes(b"hello", "sha512")
    assert Digest.parse(str(d512)).algorithm == "sha512" and len(d512.hex) == 128


@pytest.mark.parametrize("bad", [
    "sha256", "sha256:", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha256:" + "a" * 65,
    "sha512:" + "a" * 64, "md5:" + "a" * 32, ":abc", "sha256:" + "g" * 64, "SHA256:" + "a" * 64, None,
])
def test_strict_validation(bad):
    with pytest.raises(InvalidDigest):
        Digest.parse(bad)


def test_chain_ids_follow_the_spec():
    a, b, c = (Digest.of_bytes(x) for x in (b"a", b"b", b"c"))
    chain = chain_ids([a, b, c])
    assert chain[0] == a
    assert chain[1] == Digest.of_bytes(f"{a} {b}".encode())
    assert chain[2] == Digest.of_bytes(f"{chain[1]} {c}".encode())


# -- fuzz: only InvalidDigest escapes, and what parses prints back as given
from hypothesis import given, strategies as st  # noqa: E402

from helpers import fuzz_settings  # noqa: E402

_DIGESTISH = st.one_of(
    st.text(max_size=200),
    st.builds(lambda alg, hexpart: f"{alg}:{hexpart}", st.sampled_from(["sha256", "sha512", "SHA256", "md5", ""]),
              st.text(alphabet="0123456789abcdefABCDEF:/.%\0é", max_size=130)),
    st.integers() | st.none() | st.binary(max_size=10))


@fuzz_settings()
@given(_DIGESTISH)
def test_fuzz_parse_raises_only_invalid_digest(text):
    try:
        digest = Digest.parse(text)
    except InvalidDigest:
        return
    assert str(digest) == text and "/" not in text and ".." not in text
