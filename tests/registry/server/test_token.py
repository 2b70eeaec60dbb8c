"""The built-in token service over real HTTP: challenge, /token, bearer access, policy, forgeries."""
import base64
import json
import os
import stat
import time

import bcrypt
import pytest

from registry_helpers import digest_of

POLICY = {
    "alice": {"team/*": ["*"]},
    "bob": {"team/*": ["pull"], "bob/*": ["pull", "push"]},
    "carol": {"carol/*": ["pull", "push"]},
    "admin": {"*": ["*"]},
    "prometheus": {"registry:metrics": ["*"]},
    "lister": {"registry:catalog": ["*"]},
    "anonymous": {"public/*": ["pull"]},
}
PASSWORDS = {"alice": "wonderland", "bob": "builder", "carol": "singer", "admin": "root-pw", "prometheus": "scrape",
             "lister": "ls"}
SERVICE = "berth-registry"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    from registry_helpers import Server
    root = tmp_path_factory.mktemp("token-root")
    htpasswd = root / "htpasswd"
    htpasswd.write_text("".join(f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()}\n"
                                for user, pw in PASSWORDS.items()))
    policy = root / "policy.json"
    policy.write_text(json.dumps(POLICY))
    server = Server(root, "--auth", "token", "--token-policy", policy, "--htpasswd", htpasswd)
    yield server.start()
    server.stop()


def get_token(server, *scopes, user=None, expect=200):
    client = server.client((user, PASSWORDS[user]) if user else None)
    query = "&".join([f"service={SERVICE}"] + [f"scope={s}" for s in scopes])
    resp = client.get(f"/token?{query}")
    assert resp.status == expect, resp
    return resp.json() if expect == 200 else resp


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Bearer:
    """A registry client sending one token."""

    def __init__(self, server, token: str):
        self.client = server.client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method, path, body=None, headers=None):
        return self.client.request(method, path, body=body, headers={**self.headers, **(headers or {})})

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def push_blob(self, repo, data: bytes):
        return self.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest_of(data)}", body=data)


def challenge_of(resp) -> str:
    assert resp.status == 401, resp
    assert resp.error_codes == ["UNAUTHORIZED"]
    return resp.headers["WWW-Authenticate"]


def test_requests_without_token_are_challenged(token_registry):
    client = token_registry.client()
    realm = f'Bearer realm="http://127.0.0.1:{token_registry.port}/token",service="{SERVICE}"'
    assert challenge_of(client.get("/v2/")) == realm
    assert challenge_of(client.get("/v2/team/app/tags/list")) == realm + ',scope="repository:team/app:pull"'
    assert challenge_of(client.request("POST", "/v2/team/app/blobs/uploads/")) == \
        realm + ',scope="repository:team/app:pull,push"'
    assert challenge_of(client.request("DELETE", "/v2/team/app/manifests/v1")) == \
        realm + ',scope="repository:team/app:delete"'
    assert challenge_of(client.get("/v2/_catalog")) == realm + ',scope="registry:catalog:*"'
    # Basic credentials are for /token only
    assert challenge_of(token_registry.client(("alice", "wonderland")).get("/v2/")).startswith("Bearer ")


def test_full_flow_push_and_pull(token_registry):
    answer = get_token(token_registry, "repository:team/app:pull,push", user="alice")
    assert answer["token"] == answer["access_token"] and answer["expires_in"] == 300
    assert time.time() - time.mktime(time.strptime(answer["issued_at"], "%Y-%m-%dT%H:%M:%SZ")) + time.timezone < 60
    alice = Bearer(token_registry, answer["token"])
    assert alice.get("/v2/").status == 200
    digest = digest_of(b"team layer")
    assert alice.push_blob("team/app", b"team layer").status == 201
    assert alice.get(f"/v2/team/app/blobs/{digest}").body == b"team layer"
    # the token is for team/app only
    resp = alice.get(f"/v2/team/other/blobs/{digest}")
    assert "scope=\"repository:team/other:pull\"" in challenge_of(resp)
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]


def test_claims_and_granted_subset(token_registry):
    answer = get_token(token_registry, "repository:team/app:pull,push,delete", "repository:bob/x:pull,push",
                       "repository:secret/x:pull", "registry:catalog:*", user="bob")
    claims = claims_of(answer["token"])
    assert claims["iss"] == "berth-token-service" and claims["sub"] == "bob" and claims["aud"] == SERVICE
    assert claims["nbf"] == claims["iat"] and claims["exp"] == claims["iat"] + 300 and len(claims["jti"]) == 32
    assert claims["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull"]},
        {"type": "repository", "name": "bob/x", "actions": ["pull", "push"]},
        {"type": "repository", "name": "secret/x", "actions": []},
        {"type": "registry", "name": "catalog", "actions": []},
    ]
    # space-separated scopes in one parameter, "*" meaning every action, a second token is another jti
    again = get_token(token_registry, "repository:team/a:*%20repository:team/b:pull", user="alice")
    assert claims_of(again["token"])["access"] == [
        {"type": "repository", "name": "team/a", "actions": ["pull", "push", "delete"]},
        {"type": "repository", "name": "team/b", "actions": ["pull"]}]
    assert claims_of(again["token"])["jti"] != claims["jti"]


def test_wrong_credentials_get_no_token(token_registry):
    client = token_registry.client(("alice", "wrong"))
    assert client.get(f"/token?service={SERVICE}&scope=repository:team/app:pull").status == 401
    assert token_registry.client(("mallory", "x")).get(f"/token?service={SERVICE}").status == 401
    assert token_registry.client().get("/token?service=other&scope=x").status == 400
    # login (docker login asks for a token with no scope, with account=)
    resp = token_registry.client(("bob", "builder")).get(f"/token?service={SERVICE}&account=bob")
    assert resp.status == 200 and claims_of(resp.json()["token"])["access"] == []


def test_anonymous_pull_allowed_push_denied(token_registry):
    admin = Bearer(token_registry, get_token(token_registry, "repository:public/tool:pull,push", user="admin")["token"])
    digest = digest_of(b"public bytes")
    assert admin.push_blob("public/tool", b"public bytes").status == 201
    answer = get_token(token_registry, "repository:public/tool:pull,push", "repository:team/app:pull")
    claims = claims_of(answer["token"])
    assert claims["sub"] == "" and claims["access"] == [
        {"type": "repository", "name": "public/tool", "actions": ["pull"]},
        {"type": "repository", "name": "team/app", "actions": []}]
    anonymous = Bearer(token_registry, answer["token"])
    assert anonymous.get(f"/v2/public/tool/blobs/{digest}").body == b"public bytes"
    # pushing: 401 (credentials might allow it), never 403 for an anonymous caller
    resp = anonymous.push_blob("public/tool", b"more")
    assert 'scope="repository:public/tool:pull,push",error="insufficient_scope"' in challenge_of(resp)
    assert anonymous.get("/v2/team/app/tags/list").status == 401


def test_pull_only_user_pushing_is_denied(token_registry):
    bob = Bearer(token_registry, get_token(token_registry, "repository:team/app:pull,push", user="bob")["token"])
    resp = bob.push_blob("team/app", b"bob's layer")
    assert resp.status == 403 and resp.error_codes == ["DENIED"]
    assert bob.get("/v2/team/app/tags/list").status in (200, 404)  # pull is granted
    # a token without push where the policy allows it: 401 naming the scope, so clients ask again
    pull_only = Bearer(token_registry, get_token(token_registry, "repository:bob/x:pull", user="bob")["token"])
    assert 'scope="repository:bob/x:pull,push"' in challenge_of(pull_only.push_blob("bob/x", b"b"))
    both = Bearer(token_registry, get_token(token_registry, "repository:bob/x:pull,push", user="bob")["token"])
    assert both.push_blob("bob/x", b"b").status == 201


def test_catalog_needs_its_scope(token_registry):
    admin = Bearer(token_registry, get_token(token_registry, "registry:catalog:*", user="admin")["token"])
    assert admin.get("/v2/_catalog").status == 200
    alice = Bearer(token_registry, get_token(token_registry, "registry:catalog:*", user="alice")["token"])
    resp = alice.get("/v2/_catalog")
    assert resp.status == 403 and resp.error_codes == ["DENIED"]


def test_mount_needs_pull_on_the_source(token_registry):
    alice = Bearer(token_registry, get_token(token_registry, "repository:team/secret:pull,push", user="alice")["token"])
    digest = digest_of(b"secret layer")
    assert alice.push_blob("team/secret", b"secret layer").status == 201
    carol = Bearer(token_registry, get_token(token_registry, "repository:carol/app:pull,push",
                                             "repository:team/secret:pull", user="carol")["token"])
    resp = carol.request("POST", f"/v2/carol/app/blobs/uploads/?mount={digest}&from=team/secret")
    assert resp.status == 202 and "/blobs/uploads/" in resp.headers["Location"]  # an ordinary upload
    assert carol.get(f"/v2/carol/app/blobs/{digest}").status == 404
    # with pull on the source the blob is mounted
    mover = Bearer(token_registry, get_token(token_registry, "repository:team/copy:pull,push",
                                             "repository:team/secret:pull", user="alice")["token"])
    resp = mover.request("POST", f"/v2/team/copy/blobs/uploads/?mount={digest}&from=team/secret")
    assert resp.status == 201
    assert mover.get(f"/v2/team/copy/blobs/{digest}").body == b"secret layer"


def _forge(server, secret: bytes, **changes) -> str:
    from berth.registry.server import jwt
    now = int(time.time())
    claims = {"iss": "berth-token-service", "sub": "alice", "aud": SERVICE, "exp": now + 300, "nbf": now,
              "iat": now, "jti": "x", "access": [{"type": "repository", "name": "team/app", "actions": ["pull"]}]}
    claims.update(changes)
    return jwt.encode(claims, secret)


def test_forged_and_stale_tokens_are_refused(token_registry):
    path = os.path.join(token_registry.storage, "token-secret")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "rb") as f:
        secret = f.read()
    good = _forge(token_registry, secret)
    assert Bearer(token_registry, good).get("/v2/team/app/tags/list").status in (200, 404)
    now = int(time.time())
    bad = {
        "expired": _forge(token_registry, secret, exp=now - 120, iat=now - 420, nbf=now - 420),
        "not yet valid": _forge(token_registry, secret, nbf=now + 600),
        "wrong audience": _forge(token_registry, secret, aud="someone-else"),
        "wrong issuer": _forge(token_registry, secret, iss="mallory"),
        "other secret": _forge(token_registry, b"x" * 64),
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "garbage": "not.a.jwt",
    }
    header, payload, _ = good.split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    bad["alg none"] = f"{none_header}.{payload}."
    for what, token in bad.items():
        resp = Bearer(token_registry, token).get("/v2/team/app/tags/list")
        assert resp.status == 401, what
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"], what


def test_token_auth_needs_a_policy(start_registry, tmp_path):
    with pytest.raises(AssertionError, match="--auth token needs --token-policy"):
        start_registry("--auth", "token")
    broken = tmp_path / "policy.json"
    broken.write_text('{"alice": {"*": ["pull", "fly"]}}')
    with pytest.raises(AssertionError, match="unknown action 'fly'"):
        start_registry("--auth", "token", "--token-policy", broken)


def test_mount_without_source_never_leaks(token_registry):
    alice = Bearer(token_registry, get_token(token_registry, "repository:team/hidden:pull,push", user="alice")["token"])
    digest = digest_of(b"hidden layer")
    assert alice.push_blob("team/hidden", b"hidden layer").status == 201
    carol = Bearer(token_registry, get_token(token_registry, "repository:carol/app:pull,push", user="carol")["token"])
    resp = carol.request("POST", f"/v2/carol/app/blobs/uploads/?mount={digest}")
    assert resp.status == 202
    assert carol.get(f"/v2/carol/app/blobs/{digest}").status == 404


def test_policy_rules():
    from berth.errors import BerthError
    from berth.registry.server.policy import Policy
    policy = Policy.parse({"alice": {"team/*": ["push", "pull"]}, "*": {"shared/*": ["*"]},
                           "anonymous": {"public/*": ["pull"]}})
    assert policy.allowed("alice", "team/a/b") == {"pull", "push"}
    assert policy.allowed("alice", "shared/x") == {"pull", "push", "delete"}  # every logged-in user
    assert policy.allowed("alice", "public/x") == {"pull"}  # and whatever anonymous may do
    assert policy.allowed("bob", "team/a") == frozenset()
    assert policy.allowed(None, "shared/x") == frozenset() and policy.allowed("", "public/x") == {"pull"}
    assert policy.allowed("alice", "Team/a") == frozenset()  # case-sensitive, as names are
    assert not policy.may_list_catalog("alice") and policy.grants_anonymous()
    assert Policy.parse({"root": {"*": ["pull"]}}).may_list_catalog("root")
    for bad in ([], {"alice": ["pull"]}, {"alice": {"*": "pull"}}, {"alice": {"*": ["pull", 1]}}):
        with pytest.raises(BerthError):
            Policy.parse(bad)


def test_jwt_round_trip_and_leeway():
    from berth.registry.server import jwt
    claims = {"iss": "i", "aud": ["a", "b"], "exp": 1000, "nbf": 900, "sub": "s"}
    token = jwt.encode(claims, b"k" * 32)
    assert jwt.verify(token, b"k" * 32, "i", "b", now=950) == claims
    assert jwt.verify(token, b"k" * 32, "i", "a", now=1020)  # within the leeway
    for now, secret, issuer, audience in ((1040, b"k" * 32, "i", "a"), (860, b"k" * 32, "i", "a"),
                                          (950, b"j" * 32, "i", "a"), (950, b"k" * 32, "x", "a"),
                                          (950, b"k" * 32, "i", "c")):
        with pytest.raises(jwt.InvalidToken):
            jwt.verify(token, secret, issuer, audience, now=now)


def _raw_get(port, path: str, headers: dict) -> tuple[int, dict, bytes]:
    """A GET with headers exactly as given (http.client would refuse some of them)."""
    import socket
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\n{lines}Connection: close\r\n\r\n".encode("latin-1"))
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    return int(status_line.split()[1]), dict(line.split(": ", 1) for line in header_lines), body


def test_junk_after_the_signature_and_non_canonical_encodings_are_refused(token_registry):
    good = get_token(token_registry, "repository:team/app:pull", user="alice")["token"]
    assert Bearer(token_registry, good).get("/v2/team/app/tags/list").status in (200, 404)
    header, payload, signature = good.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # the last of 43 characters carries 4 bits of the signature and 2 unused ones: flipping those
    # decodes to the same bytes, which only a canonical check refuses
    same_bytes = signature[:-1] + alphabet[alphabet.index(signature[-1]) ^ 1]
    assert base64.urlsafe_b64decode(same_bytes + "=") == base64.urlsafe_b64decode(signature + "=")
    for junk in ("!!", "==", "=", "~junk~", "%00", "\\x"):
        resp = Bearer(token_registry, good + junk).get("/v2/team/app/tags/list")
        assert resp.status == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"], junk
    for token in (f"{header}.{payload}.{same_bytes}", f"{header}=.{payload}.{signature}",
                  f"{header}.{payload.replace('-', '+').replace('_', '/')}x.{signature}", good.replace(".", "..", 1)):
        resp = Bearer(token_registry, token).get("/v2/team/app/tags/list")
        assert resp.status == 401, token


def test_malformed_token_json_is_401_not_500(token_registry):
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    good = get_token(token_registry, "repository:team/app:pull", user="alice")["token"]
    _, payload, signature = good.split(".")
    for header in (b"[" * 3000, b'{"":' * 1100 + b"1" + b"}" * 1100, b'{"alg": NaN}', b"\xff\xfe", b"[]", b'"HS256"',
                   b'{"alg": "HS256"' + b" " * 5000 + b"}"):
        resp = Bearer(token_registry, f"{b64(header)}.{payload}.{signature}").get("/v2/team/app/tags/list")
        assert resp.status == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"], header[:20]
    status, _, _ = _raw_get(token_registry.port, "/v2/", {"Host": "x", "Authorization": "Bearer " + "a." * 3000})
    assert status in (400, 401)


def test_registry_wide_reads_need_an_explicit_grant(token_registry):
    wanted = ("registry:metrics:*", "registry:catalog:*")
    anonymous = Bearer(token_registry, get_token(token_registry, *wanted)["token"])
    assert claims_of(anonymous.headers["Authorization"][7:])["access"] == [
        {"type": "registry", "name": "metrics", "actions": []}, {"type": "registry", "name": "catalog", "actions": []}]
    assert anonymous.get("/v2/").status == 200  # a valid token opens the base endpoint, nothing more
    for path in ("/metrics", "/?format=json", "/"):
        resp = anonymous.get(path)
        assert resp.status == 401, path
        assert 'scope="registry:metrics:*",error="insufficient_scope"' in resp.headers["WWW-Authenticate"], path
    assert b"berth_registry" not in anonymous.get("/metrics").body
    assert anonymous.get("/v2/_catalog").status == 401
    # a known user whose policy never grants it: 403, asking again cannot help
    alice = Bearer(token_registry, get_token(token_registry, *wanted, user="alice")["token"])
    for path in ("/metrics", "/?format=json", "/v2/_catalog"):
        resp = alice.get(path)
        assert resp.status == 403 and resp.error_codes == ["DENIED"], path
    # the explicit grants, each for its own resource
    prometheus = Bearer(token_registry, get_token(token_registry, *wanted, user="prometheus")["token"])
    assert claims_of(prometheus.headers["Authorization"][7:])["access"][0]["actions"] == ["*"]
    resp = prometheus.get("/metrics")
    assert resp.status == 200 and b"berth_registry_http_requests_total" in resp.body
    totals = prometheus.get("/?format=json")
    assert totals.status == 200 and set(totals.json()["storage"]) >= {"repositories", "blobs", "stored_bytes"}
    assert totals.json()["repositories"] == []  # the grant shows totals, not repositories it may not pull
    assert prometheus.get("/v2/_catalog").status == 403
    lister = Bearer(token_registry, get_token(token_registry, *wanted, user="lister")["token"])
    assert lister.get("/v2/_catalog").status == 200 and lister.get("/metrics").status == 403
    # a token from before the grant was asked for gets the scope to ask for
    plain = Bearer(token_registry, get_token(token_registry, user="prometheus")["token"])
    resp = plain.get("/metrics")
    assert resp.status == 401 and 'scope="registry:metrics:*"' in resp.headers["WWW-Authenticate"]


def test_realm_never_reflects_an_unchecked_host(token_registry):
    port = token_registry.port
    expected_default = f"http://127.0.0.1:{port}/token"
    for host, realm in ((f"127.0.0.1:{port}", expected_default),
                        ("registry.example:5000", "http://registry.example:5000/token"),
                        ("[::1]:5000", "http://[::1]:5000/token")):
        status, headers, _ = _raw_get(port, "/v2/", {"Host": host})
        assert status == 401 and f'realm="{realm}"' in headers["WWW-Authenticate"], host
    for host in ('evil"x', 'a",service="other', "a b", "evil.example/path?", "a\\b", "x" * 300, "-bad", "é.example"):
        status, headers, _ = _raw_get(port, "/v2/", {"Host": host})
        assert status in (400, 401), host
        if status == 401:
            assert headers["WWW-Authenticate"].startswith(f'Bearer realm="{expected_default}",'), host
    status, headers, _ = _raw_get(port, "/v2/", {})  # no Host at all (HTTP/1.1 requires one)
    assert status in (400, 401) and (status == 400 or expected_default in headers["WWW-Authenticate"])


def test_realm_flag_and_config_key(start_registry, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"anonymous": {"public/*": ["pull"]}}))
    server = start_registry("--auth", "token", "--token-policy", policy,
                            "--token-realm", "https://auth.example.com/token")
    status, headers, _ = _raw_get(server.port, "/v2/", {"Host": "whatever.example"})
    assert status == 401 and headers["WWW-Authenticate"].startswith('Bearer realm="https://auth.example.com/token",')
    config = tmp_path / "registry.json"
    config.write_text(json.dumps({"auth": "token", "token_policy": "policy.json",
                                  "token_realm": "https://from-config.example/token"}))
    server = start_registry("--config", config, root=tmp_path / "root2")
    assert 'realm="https://from-config.example/token"' in server.client().get("/v2/").headers["WWW-Authenticate"]
    for bad in ('https://x"y/token', "ftp://x/token", "https:// x", "/token"):
        with pytest.raises(AssertionError, match="invalid token realm"):
            start_registry("--auth", "token", "--token-policy", policy, "--token-realm", bad, root=tmp_path / "r3")
    with pytest.raises(AssertionError, match="only used with --auth token"):
        start_registry("--token-realm", "https://x/token", root=tmp_path / "r4")


def test_policy_registry_grants():
    from berth.errors import BerthError
    from berth.registry.server.policy import Policy
    policy = Policy.parse({"prom": {"registry:metrics": ["*"]}, "admin": {"*": ["*"]},
                           "anonymous": {"registry:catalog": ["*"]}})
    assert policy.may_read_registry("prom", "metrics") and not policy.may_read_registry("admin", "metrics")
    assert policy.may_read_registry("admin", "catalog")  # pull on every repository still lists them
    assert policy.may_read_registry("", "catalog") and policy.may_read_registry("prom", "catalog")
    assert not policy.may_read_registry("", "metrics") and policy.grants_anonymous()
    assert policy.allowed("prom", "registry") == frozenset()
    for bad in ({"u": {"registry:everything": ["*"]}}, {"u": {"registry:metrics": ["pull"]}},
                {"u": {"registry:metrics": []}}):
        with pytest.raises(BerthError, match="registry"):
            Policy.parse(bad)


# -- fuzz: the token parsers raise InvalidToken and nothing else; the server answers 4xx, never 500
from hypothesis import given, strategies as st  # noqa: E402

from helpers import fuzz_settings  # noqa: E402

_SECRET = b"s" * 32


def _good_token() -> str:
    from berth.registry.server import jwt
    return jwt.encode({"iss": "i", "aud": "a", "exp": 2**40, "nbf": 0, "sub": "u", "access": []}, _SECRET)


def _token_pieces():
    header, payload, signature = _good_token().split(".")
    return st.sampled_from([header, payload, signature, ".", "..", "=", "==", "!", "+", "/", "%", " ", "\0", "é",
                            "A", "AA", "AAA", "AAAA", "e30", "W10", "bnVsbA", "WzFd", "eyJhbGciOiJub25lIn0"])


_JSONISH = st.recursive(st.none() | st.booleans() | st.integers(min_value=-2**80, max_value=2**80) | st.floats()
                        | st.text(max_size=6),
                        lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                        max_leaves=15)
_CLAIM_KEYS = st.sampled_from(["iss", "aud", "exp", "nbf", "sub", "access", "type", "name", "actions"])
_CLAIMS = st.dictionaries(_CLAIM_KEYS, _JSONISH | st.lists(st.dictionaries(_CLAIM_KEYS, _JSONISH, max_size=4),
                                                            max_size=3), max_size=7)


@fuzz_settings(max_examples=400)
@given(st.text(max_size=300) | st.lists(_token_pieces(), max_size=8).map("".join))
def test_fuzz_jwt_verify_raises_only_invalid_token(token):
    from berth.registry.server import jwt
    try:
        jwt.verify(token, _SECRET, "i", "a")
    except jwt.InvalidToken:
        pass


@fuzz_settings(max_examples=200)
@given(_CLAIMS)
def test_fuzz_signed_claims_of_any_shape(claims):
    """Claims only this service can sign, of every shape: refused or read, never a crash."""
    from berth.registry.server import jwt, token
    try:
        verified = jwt.verify(jwt.encode({"iss": "i", "aud": "a", **claims}, _SECRET), _SECRET, "i", "a", now=0)
    except jwt.InvalidToken:
        return
    except ValueError:  # json.dumps refusing NaN while encoding the fuzzed claims: not the parser's doing
        return
    access = token.access_of(verified)
    assert all(isinstance(t, str) and isinstance(n, str) for t, n in access)


@fuzz_settings(max_examples=150, deadline_ms=10000)
@given(scope=st.text(max_size=60) | st.lists(st.sampled_from(["repository", "registry", ":", "catalog", "metrics",
                                                             "team/app", "*", "pull", ",", "%20", "..", "%2F"]),
                                             max_size=8).map("".join),
       authorization=st.sampled_from(["", "Bearer ", "Bearer x", "Basic !!", "Basic " + base64.b64encode(
           b"alice:wonderland").decode(), "Bearer a.b.c", "bearer  ", "Digest x"]),
       path=st.sampled_from(["/token", "/v2/", "/v2/team/app/tags/list", "/metrics", "/", "/v2/_catalog",
                             "/ui/r/team/app"]))
def test_fuzz_token_mode_server_never_500(token_registry, scope, authorization, path):
    from urllib.parse import quote
    headers = {"Host": "x"}
    if authorization:
        headers["Authorization"] = authorization
    status, _, body = _raw_get(token_registry.port, f"{path}?service={SERVICE}&scope={quote(scope)}", headers)
    assert status < 500, (path, scope, authorization, body[:300])
