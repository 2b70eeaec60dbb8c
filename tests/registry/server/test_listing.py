"""Tag lists and the catalog, with n/last paging and Link headers."""
from urllib.parse import quote

import pytest


def _tags(client, repo, count):
    config = client.push_blob(repo, b"{}")
    from registry_helpers import image_manifest
    manifest = image_manifest(config, 2, [])
    for i in range(count):
        assert client.push_manifest(repo, f"t{i:02d}", manifest).status == 201


def test_tags_list_and_pages(registry):
    client = registry.client()
    _tags(client, "list/tags", 7)
    everything = [f"t{i:02d}" for i in range(7)]
    resp = client.get("/v2/list/tags/tags/list")
    assert resp.status == 200 and resp.json() == {"name": "list/tags", "tags": everything}
    assert "Link" not in resp.headers
    seen, path = [], "/v2/list/tags/tags/list?n=3"
    while path:
        resp = client.get(path)
        page = resp.json()["tags"]
        assert len(page) <= 3
        seen += page
        link = resp.headers.get("Link")
        if link:
            assert link.endswith('>; rel="next"') and link.startswith("</v2/list/tags/tags/list?")
            path = link[1:link.index(">")]
        else:
            path = None
    assert seen == everything
    assert client.get("/v2/list/tags/tags/list?n=3").headers["Link"] == \
        '</v2/list/tags/tags/list?last=t02&n=3>; rel="next"'
    assert client.get("/v2/list/tags/tags/list?last=t04").json()["tags"] == ["t05", "t06"]
    assert client.get("/v2/list/tags/tags/list?n=2&last=t04").json()["tags"] == ["t05", "t06"]
    assert "Link" not in client.get("/v2/list/tags/tags/list?n=2&last=t04").headers
    resp = client.get("/v2/list/tags/tags/list?n=0")
    assert resp.json()["tags"] == [] and "Link" not in resp.headers
    assert client.get("/v2/list/tags/tags/list?last=zzz").json()["tags"] == []


@pytest.mark.parametrize("n", ["-1", "abc"])
def test_bad_n(registry, n):
    resp = registry.client().get(f"/v2/_catalog?n={n}")
    assert resp.status == 400 and resp.error_codes == ["PAGINATION_NUMBER_INVALID"]


def test_n_is_bounded(registry):
    client = registry.client()
    _tags(client, "list/bounded", 2)
    resp = client.get("/v2/list/bounded/tags/list?n=100000")
    assert resp.json()["tags"] == ["t00", "t01"]


def test_unknown_repository(registry):
    resp = registry.client().get("/v2/list/never/tags/list")
    assert resp.status == 404 and resp.error_codes == ["NAME_UNKNOWN"]


def test_catalog(start_registry):
    server = start_registry()
    client = server.client()
    names = ["cat/a", "cat/b/c", "cat/b", "zeta", "alpha-1"]
    for name in names:
        client.push_blob(name, b"x")
    resp = client.get("/v2/_catalog")
    assert resp.json() == {"repositories": sorted(names)}
    seen, path = [], "/v2/_catalog?n=2"
    while path:
        resp = client.get(path)
        seen += resp.json()["repositories"]
        link = resp.headers.get("Link")
        path = link[1:link.index(">")] if link else None
    assert seen == sorted(names)
    resp = client.get("/v2/_catalog?n=2")
    assert resp.headers["Link"] == f'</v2/_catalog?last={quote("cat/a", safe="")}&n=2>; rel="next"'
    assert client.get(f"/v2/_catalog?last={quote('cat/b/c')}").json()["repositories"] == ["zeta"]
