"""berth.safejson: every refusal is InvalidJSON, deep nesting is refused before parsing, and the
check stays fast on hostile input of the largest allowed size."""
import json
import time

import pytest
from hypothesis import given, strategies as st

from berth import safejson
from helpers import fuzz_settings


def test_plain_documents_parse_as_json_loads_does():
    for doc in ({"a": [1, 2.5, None, True, "x"]}, [], "text", 3, {"nested": {"a": [[{"b": []}]]}}):
        text = json.dumps(doc)
        assert safejson.loads(text, 1 << 20) == doc
        assert safejson.loads(text.encode(), 1 << 20) == doc
    assert safejson.loads("\ufeff[1]".encode("utf-8"), 100) == [1]  # a BOM, as json.loads(bytes) allows
    assert safejson.loads('["\\u00e9"]'.encode("utf-16"), 100) == ["é"]


@pytest.mark.parametrize("data", [
    b"[" * 100_000, b"{\"a\":" * 100_000, b"[" * 65 + b"]" * 65,  # deeper than 64
    b"NaN", b"[Infinity]", b"[-Infinity]", b"\xff\xfe\xfd", b"{", b"", b"[1,]", b"\"unterminated",
    "x" * 101,  # larger than the bound
])
def test_refusals_are_invalid_json(data):
    with pytest.raises(safejson.InvalidJSON):
        safejson.loads(data, 100 if isinstance(data, str) else 1 << 20)


def test_depth_bound_is_exact_and_ignores_brackets_in_strings():
    assert safejson.loads("[" * 64 + "]" * 64, 1000) is not None
    with pytest.raises(safejson.InvalidJSON, match="deeper than 64"):
        safejson.loads("[" * 65 + "]" * 65, 1000)
    # alternating kinds and siblings: depth 5 is refused at 4, depth 4 is not
    with pytest.raises(safejson.InvalidJSON, match="deeper"):
        safejson.loads(b"[[],[[],[[],[[],[]]]]]", 1000, max_depth=4)
    assert safejson.loads(b'[{"a":[{"b":1}]}]', 1000, max_depth=4) == [{"a": [{"b": 1}]}]
    assert safejson.loads(b'["[[[[[[", "\\"[[[[["]', 1000, max_depth=1) == ["[[[[[[", '"[[[[[']


def test_hostile_input_of_the_largest_size_is_checked_quickly():
    limit = 4 << 20
    half, quarter = limit // 2, limit // 4
    for data, parses in ((b"[" * limit, False), (b"[" * half + b"]" * half, False),
                         (b"[{" * quarter + b"}]" * quarter, False), (b"]" * limit, False),
                         (b"[" + b"[]," * (limit // 3 - 1) + b"1]", True)):
        started = time.monotonic()
        try:
            safejson.loads(data, limit)
            assert parses, data[:10]
        except safejson.InvalidJSON:
            assert not parses, data[:10]
        assert time.monotonic() - started < 5, data[:10]


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=10),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                     max_leaves=30)


@fuzz_settings(max_examples=400)
@given(st.binary(max_size=300) | st.text(max_size=300) | _JSON.map(json.dumps).map(str.encode))
def test_fuzz_only_invalid_json_escapes(data):
    try:
        safejson.loads(data, 1 << 16, max_depth=8)
    except safejson.InvalidJSON:
        pass


@fuzz_settings(max_examples=300)
@given(_JSON)
def test_fuzz_valid_documents_round_trip(doc):
    text = json.dumps(doc)
    assert safejson.loads(text.encode(), 1 << 20) == json.loads(text)
