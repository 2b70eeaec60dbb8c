"""Cross-site requests: what a page on another site makes a browser send is refused when it would
change something; same-origin requests and clients that send no Origin (docker & co) work."""
import os

import bcrypt
import pytest

from registry_helpers import blob_path, digest_of

from berth.registry.server.origins import is_same_origin


@pytest.fixture
def server(start_registry, tmp_path):
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{bcrypt.hashpw(b'wonderland', bcrypt.gensalt(4)).decode()}\n")
    return start_registry("--htpasswd", path)


def test_cross_site_pushes_are_refused_with_the_browsers_credentials(server):
    client = server.client(("alice", "wonderland"))  # what the browser holds for the UI
    data = b"pushed from another site"
    digest = digest_of(data)
    # a <form enctype="text/plain" method="post"> needs no CORS preflight
    for headers in ({"Origin": "http://evil.example", "Content-Type": "text/plain"},
                    {"Origin": "null", "Content-Type": "text/plain"},  # sandboxed page, cross-site redirect
                    {"Origin": f"http://127.0.0.1:{server.port + 1}"},  # another port is another origin
                    {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
                    {"Sec-Fetch-Site": "same-site"}):
        resp = client.request("POST", f"/v2/csrf/app/blobs/uploads/?digest={digest}", body=data, headers=headers)
        assert resp.status == 403 and resp.error_codes == ["DENIED"], (headers, resp)
    assert not os.path.exists(blob_path(server.storage, digest))

    source = client.push_blob("csrf/source", b"a layer")
    resp = client.request("POST", f"/v2/csrf/target/blobs/uploads/?mount={source}&from=csrf/source",
                          headers={"Origin": "https://evil.example"})
    assert resp.status == 403
    assert client.head(f"/v2/csrf/target/blobs/{source}").status == 404
    for method, path in (("PUT", "/v2/csrf/source/manifests/v1"), ("DELETE", f"/v2/csrf/source/blobs/{source}"),
                         ("PATCH", "/v2/csrf/source/blobs/uploads/x")):
        resp = client.request(method, path, body=b"{}", headers={"Origin": "http://evil.example"})
        assert resp.status == 403, (method, resp)
    assert client.get(f"/v2/csrf/source/blobs/{source}").status == 200


def test_same_origin_and_origin_less_requests_work(server):
    client = server.client(("alice", "wonderland"))
    own = f"http://127.0.0.1:{server.port}"
    for number, headers in enumerate(({}, {"Origin": own}, {"Origin": own.upper()},
                                      {"Origin": own, "Sec-Fetch-Site": "same-origin"},
                                      {"Sec-Fetch-Site": "none"})):
        data = f"layer {number}".encode()
        resp = client.request("POST", f"/v2/csrf/own/blobs/uploads/?digest={digest_of(data)}", body=data,
                              headers=headers)
        assert resp.status == 201, (headers, resp)
    # reads are never refused: the browser does not let the other site see the answer
    assert client.get("/v2/csrf/own/tags/list", headers={"Origin": "http://evil.example"}).status != 403


@pytest.mark.parametrize("origin, host, same", [
    ("http://reg.example", "reg.example", True),
    ("https://reg.example", "reg.example:443", True),
    ("https://reg.example", "reg.example", True),  # behind a TLS-terminating proxy
    ("http://REG.example:5000", "reg.example:5000", True),
    ("http://[::1]:5000", "[::1]:5000", True),
    ("http://reg.example:5000", "reg.example:5001", False),
    ("http://reg.example", "reg.example:8080", False),
    ("http://evil.example", "reg.example", False),
    ("http://reg.example.evil", "reg.example", False),
    ("null", "reg.example", False),
    ("file://", "reg.example", False),
    ("http://reg.example/path", "reg.example", False),
    ("http://reg.example", None, False),
    ("http://reg.example", "reg.example:notaport", False),
    ("http://\u00e9.example", "\u00e9.example", True),
])
def test_is_same_origin(origin, host, same):
    assert is_same_origin(origin, host) is same
