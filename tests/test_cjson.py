"""berth.cjson gives what json gives: the same text, the same values, the same errors."""
import json
import math
import subprocess
import sys

import pytest

from berth import cjson

VALUES = [
    {}, [], "", 0, -1, 1.5, 1e300, True, False, None, "é ☃ \U0001f600 \x00 \"\\/\n\t",
    {"b": [1, 2.25, {"c": None}], "a": "x", "é": {"nested": [[], {}]}},
    [{"k": i, "v": str(i) * i} for i in range(20)],
    {"config": {"Env": ["PATH=/usr/bin", "A=b=c"], "Labels": {"z": "1", "a": "2"}, "ExposedPorts": {"80/tcp": {}}}},
    float("inf"), [float("-inf")], 2 ** 80,
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("kw", [{}, {"sort_keys": True}, {"separators": (",", ":")},
                                {"separators": (",", ":"), "sort_keys": True, "ensure_ascii": False},
                                {"indent": 2}])
def test_dumps_is_json_dumps(value, kw):
    assert cjson.dumps(value, **kw) == json.dumps(value, **kw)


@pytest.mark.parametrize("value", VALUES)
def test_loads_reads_what_json_wrote(value):
    text = json.dumps(value, indent=1)
    for doc in (text, f" \n\t{text}\r\n ", text.encode(), bytearray(text.encode("utf-8"))):
        assert repr(cjson.loads(doc)) == repr(json.loads(doc))


def test_loads_bytes_in_other_encodings_and_nan():
    assert cjson.loads('{"a": 1}'.encode("utf-16")) == {"a": 1}
    assert cjson.loads(b'\xef\xbb\xbf[1]') == [1]
    assert math.isnan(cjson.loads("NaN"))
    assert cjson.loads("[-Infinity]") == [float("-inf")]


@pytest.mark.parametrize("doc", ["", " ", "[", "[1,]", "{\"a\" 1}", "[1] x", "01", "\ufeff[1]", "\"\x01\"",
                                 "{\"a\": tru}", "[1]]", "\"\\x\"", b"\xff[]"])
def test_errors_are_jsons(doc):
    with pytest.raises(ValueError) as expected:
        json.loads(doc)
    with pytest.raises(ValueError) as got:
        cjson.loads(doc)
    assert type(got.value) is type(expected.value)
    assert str(got.value) == str(expected.value)


def test_parse_constant_can_refuse():
    def refuse(name):
        raise ValueError(f"{name} refused")
    with pytest.raises(ValueError, match="Infinity refused"):
        cjson.loads("[1, Infinity]", parse_constant=refuse)
    assert cjson.loads("[1]", parse_constant=refuse) == [1]
    assert math.isinf(cjson.loads("Infinity"))  # the default scanner is not changed by it


def test_unserializable_and_bad_types():
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        cjson.dumps({"a": {1}})
    with pytest.raises(TypeError):
        cjson.loads(12)
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        cjson.dumps(loop)


def test_load_and_dump(tmp_path):
    path = tmp_path / "x.json"
    with open(path, "w") as f:
        cjson.dump({"a": [1]}, f, separators=(",", ":"))
    assert path.read_text() == '{"a":[1]}'
    with open(path) as f:
        assert cjson.load(f) == {"a": [1]}


def test_does_not_import_json_or_re():
    code = ("import sys; from berth import cjson; cjson.loads(cjson.dumps({'a': [1.5, None, 'é']}));"
            "print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": cjson.__file__.rsplit("/berth/", 1)[0]}).stdout
    assert out.strip() == "[]"
