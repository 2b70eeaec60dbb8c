"""names: the one validator for what requests bring in. Fuzzed: only RegistryError (a 4xx) escapes,
and whatever passes is safe to use as storage path components."""
import re

import pytest
from hypothesis import given, strategies as st

from berth.oci.digest import Digest
from berth.registry.server import names
from berth.registry.server.errors import RegistryError
from berth.registry.server.filesystem import _rel
from helpers import fuzz_settings

D = "sha256:" + "ab" * 32
_PIECES = st.sampled_from(["a", "b0", "team", ".", "..", "/", "//", "_", "__", "-", "--", "%2F", "%2e", "\0", "\\",
                           "é", "A", ":", "@", " ", "sha256:", D, "x" * 130, "_layers", "_manifests", "0" * 32])
_HOSTILE = st.text(max_size=300) | st.lists(_PIECES, max_size=10).map("".join) | st.none() | st.integers()
_SAFE_COMPONENT = re.compile(r"[a-z0-9][a-z0-9._-]*")


def _refused(fn, value, statuses=(400, 404)):
    try:
        return fn(value)
    except RegistryError as e:
        assert e.status in statuses and e.code in ("NAME_INVALID", "MANIFEST_INVALID", "DIGEST_INVALID",
                                                   "BLOB_UPLOAD_UNKNOWN"), (e.code, e.status)
        return None


@fuzz_settings()
@given(_HOSTILE)
def test_fuzz_repository_names(value):
    name = _refused(names.repository, value)
    if name is None:
        return
    parts = name.split("/")
    assert len(name) <= names.MAX_NAME_LENGTH and all(_SAFE_COMPONENT.fullmatch(p) for p in parts)
    assert not any(p in (".", "..") or p.startswith("_") for p in parts)
    assert _rel("repositories", *parts)  # the storage's own check agrees


@fuzz_settings()
@given(_HOSTILE)
def test_fuzz_references_tags_digests_and_upload_ids(value):
    found = _refused(names.reference, value)
    if found is not None:
        digest, tag = found
        if digest is not None:
            assert isinstance(digest, Digest) and str(digest) == value
        else:
            assert tag == value and len(tag) <= 128 and tag not in (".", "..") and _rel(tag)
            assert not set(tag) - set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    if _refused(names.digest, value) is not None:
        assert ":" in value and "/" not in value
    upload = _refused(names.upload_id, value)
    if upload is not None:
        assert re.fullmatch(r"[0-9a-f]{32}", upload)


@pytest.mark.parametrize("value", ["..", "../x", "a/../b", "%2e%2e", "a\0b", "é", "/a", "a/", ""])
def test_walking_names_and_references_are_refused(value):
    for check in (names.repository, names.reference, names.upload_id):
        with pytest.raises(RegistryError) as e:
            check(value)
        assert e.value.status in (400, 404)
