"""The referrers API and OCI-Subject."""
import json

from registry_helpers import OCI_INDEX, OCI_MANIFEST, digest_of, image_manifest

EMPTY = "application/vnd.oci.empty.v1+json"


def _artifact(client, repo, subject_digest, subject_size, artifact_type=None, config_type=EMPTY,
              annotations=None, tag=None):
    empty = client.push_blob(repo, b"{}")
    doc = json.loads(image_manifest(empty, 2, []))
    doc["config"]["mediaType"] = config_type
    doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": subject_size}
    if artifact_type:
        doc["artifactType"] = artifact_type
    if annotations:
        doc["annotations"] = annotations
    body = json.dumps(doc).encode()
    resp = client.push_manifest(repo, tag or digest_of(body), body)
    assert resp.status == 201, resp
    assert resp.headers["OCI-Subject"] == subject_digest
    return digest_of(body), body


def test_referrers_and_filter(registry):
    client = registry.client()
    subject, subject_bytes = client.push_image("ref/app", "v1")
    sbom, sbom_bytes = _artifact(client, "ref/app", subject, len(subject_bytes), "application/vnd.example.sbom",
                                 annotations={"org.example": "yes"})
    sig, _ = _artifact(client, "ref/app", subject, len(subject_bytes), config_type="application/vnd.example.sig")
    resp = client.get(f"/v2/ref/app/referrers/{subject}")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in resp.headers
    index = resp.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    by_digest = {m["digest"]: m for m in index["manifests"]}
    assert set(by_digest) == {sbom, sig}
    assert by_digest[sbom] == {"mediaType": OCI_MANIFEST, "digest": sbom, "size": len(sbom_bytes),
                               "artifactType": "application/vnd.example.sbom",
                               "annotations": {"org.example": "yes"}}
    assert by_digest[sig]["artifactType"] == "application/vnd.example.sig"  # from the config

    resp = client.get(f"/v2/ref/app/referrers/{subject}?artifactType=application/vnd.example.sig")
    assert resp.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in resp.json()["manifests"]] == [sig]

    # deleting a referrer removes it from the list
    assert client.request("DELETE", f"/v2/ref/app/manifests/{sig}").status == 202
    assert [m["digest"] for m in client.get(f"/v2/ref/app/referrers/{subject}").json()["manifests"]] == [sbom]


def test_referrers_of_unknown_subject_is_empty(registry):
    client = registry.client()
    subject = digest_of(b"not pushed yet")
    resp = client.get(f"/v2/ref/none/referrers/{subject}")
    assert resp.status == 200 and resp.json()["manifests"] == []
    # a referrer may be pushed before its subject
    client.push_blob("ref/early", b"{}")
    early, _ = _artifact(client, "ref/early", subject, 123, "application/vnd.example.early")
    assert [m["digest"] for m in client.get(f"/v2/ref/early/referrers/{subject}").json()["manifests"]] == [early]
    # other repositories do not see it
    assert client.get(f"/v2/ref/none/referrers/{subject}").json()["manifests"] == []


def test_referrers_bad_digest(registry):
    resp = registry.client().get("/v2/ref/app/referrers/sha256:short")
    assert resp.status == 400 and resp.error_codes == ["DIGEST_INVALID"]
