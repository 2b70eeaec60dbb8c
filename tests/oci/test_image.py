import hashlib
import json

import pytest

from berth.errors import InvalidImage
from berth.oci import mediatype
from berth.oci.image import ImageConfig, Index, Manifest
from berth.oci.platform import Platform

D = "sha256:" + "cd" * 32


def manifest(**over):
    doc = {"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
           "config": {"mediaType": mediatype.OCI_CONFIG, "digest": D, "size": 10},
           "layers": [{"mediaType": mediatype.OCI_LAYER_GZIP, "digest": D, "size": 5}]}
    doc.update(over)
    return json.dumps(doc).encode()


def test_manifest_round_trip():
    m = Manifest.parse(manifest())
    assert m.layers[0].size == 5
    assert Manifest.parse(json.dumps(m.to_dict()).encode()) == m


@pytest.mark.parametrize("data,msg", [
    (b"not json", "not valid JSON"),
    (b"[]", "not a JSON object"),
    (manifest(schemaVersion=1), "schema1"),
    (manifest(mediaType=mediatype.DOCKER_SCHEMA1_SIGNED), "schema1"),
    (manifest(layers=None), "layers"),
    (manifest(config={"mediaType": "x", "digest": "sha256:bad", "size": 1}), "invalid digest"),
    (manifest(config={"mediaType": "x", "digest": D, "size": -1}), "size"),
    (manifest(mediaType=mediatype.OCI_INDEX), "not an image manifest"),
    (b" " * (4 << 20) + b"{}", "larger than"),
])
def test_bad_manifests(data, msg):
    with pytest.raises(InvalidImage, match=msg):
        Manifest.parse(data)


def test_index_platform_selection():
    def entry(arch, variant=None):
        p = {"os": "linux", "architecture": arch}
        if variant:
            p["variant"] = variant
        return {"mediaType": mediatype.OCI_MANIFEST, "digest": "sha256:" + hashlib.sha256((arch + str(variant)).encode()).hexdigest(), "size": 1,
                "platform": p}
    idx = Index.parse(json.dumps({"schemaVersion": 2, "manifests": [
        entry("amd64"), entry("arm64", "v8"), entry("arm", "v7"), entry("arm", "v6")]}).encode())
    assert idx.select(Platform("linux", "arm", "v6")).platform.variant == "v6"
    assert idx.select(Platform("linux", "arm64")).platform.architecture == "arm64"
    assert idx.select(Platform("linux", "s390x")) is None


def test_config_validation():
    good = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [D]}}
    assert ImageConfig.parse(json.dumps(good).encode()).diff_ids[0].hex == "cd" * 32
    for bad in ({**good, "rootfs": {"type": "other", "diff_ids": []}}, {**good, "rootfs": {"type": "layers", "diff_ids": ["x"]}},
                {**good, "config": []}, {**good, "architecture": 5}):
        with pytest.raises(Exception):
            ImageConfig.parse(json.dumps(bad).encode())


# -- fuzz: whatever the bytes, the manifest, index and config parsers raise InvalidImage and nothing else
from hypothesis import given, strategies as st  # noqa: E402

from helpers import fuzz_settings  # noqa: E402

_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
            | st.floats(allow_nan=False) | st.text(max_size=8)
            | st.sampled_from([D, mediatype.OCI_MANIFEST, mediatype.OCI_INDEX, mediatype.OCI_CONFIG, 2, "layers"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.sampled_from(["mediaType", "digest", "size", "platform", "os",
                                                          "architecture", "annotations", "urls", "x"]), inner,
                                         max_size=5), max_leaves=25)
_KEYS = ["schemaVersion", "mediaType", "config", "layers", "manifests", "annotations", "subject", "rootfs",
         "diff_ids", "history", "architecture", "os"]
_DOCUMENTS = st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8).map(lambda d: json.dumps(d).encode())
_BYTES = st.binary(max_size=200) | _DOCUMENTS | st.sampled_from([b"[" * 5000, b'{"a":' * 3000, b"NaN", b"{}"])


@fuzz_settings(max_examples=300)
@given(_BYTES, st.sampled_from([None, mediatype.OCI_MANIFEST, mediatype.OCI_INDEX, mediatype.DOCKER_MANIFEST]))
def test_fuzz_parsers_raise_only_invalid_image(data, media_type):
    for parse in (lambda: Manifest.parse(data, media_type), lambda: Index.parse(data, media_type),
                  lambda: ImageConfig.parse(data)):
        try:
            parse()
        except InvalidImage:
            pass
