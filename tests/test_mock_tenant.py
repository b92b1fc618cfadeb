"""Tests of the mock Entra tenant itself: the C module's integration tests trust it, so it must
answer exactly as Entra's native authentication API does and as the control contract in
mock_tenant_control.py describes.

Run: /usr/bin/python3 -m pytest -q tests/test_mock_tenant.py
"""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import sys
import time
import uuid
from urllib.parse import urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mock_tenant_control import MockTenant, MockTenantError  # noqa: E402

FORM = "application/x-www-form-urlencoded"
ERROR_KEYS = {"error", "error_description", "error_codes", "timestamp", "trace_id",
              "correlation_id"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# --------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    t = MockTenant(str(tmp_path_factory.mktemp("mock-tenant"))).start()
    yield t
    assert t.stop() == 0


@pytest.fixture(autouse=True)
def clean(tenant):
    tenant.reset()
    yield


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Client:
    """One keep-alive HTTPS connection to the mock, as the C module's curl handle would hold."""

    def __init__(self, tenant, **kw):
        self.t = tenant
        self.conn = tenant.connection(**kw)
        self.prefix = urlsplit(tenant.authority).path

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        return Resp(r.status, r.headers, r.read())

    def post(self, endpoint, fields, headers=None, content_type=FORM):
        h = {"Content-Type": content_type}
        h.update(headers or {})
        return self.request("POST", "%s/oauth2/v2.0/%s" % (self.prefix, endpoint),
                            urlencode(fields).encode(), h)

    def get(self, url):
        parts = urlsplit(url)
        return self.request("GET", parts.path + ("?" + parts.query if parts.query else ""))

    # The three steps with the defaults a correct client sends.
    def initiate(self, email, **over):
        fields = {"client_id": self.t.client_id, "challenge_type": "oob redirect",
                  "username": email}
        fields.update(over)
        return self.post("initiate", fields)

    def challenge(self, ct, **over):
        fields = {"client_id": self.t.client_id, "challenge_type": "oob redirect",
                  "continuation_token": ct}
        fields.update(over)
        return self.post("challenge", fields)

    def token(self, ct, code, **over):
        fields = {"client_id": self.t.client_id, "continuation_token": ct, "grant_type": "oob",
                  "oob": code, "scope": "openid profile"}
        fields.update(over)
        return self.post("token", fields)

    def start_flow(self, email):
        """initiate + challenge; returns (continuation token for /token, challenge body)."""
        r = self.initiate(email)
        assert r.status == 200, r.body
        r = self.challenge(r.json()["continuation_token"])
        assert r.status == 200, r.body
        return r.json()["continuation_token"], r.json()

    # Password and second factor, as a client with methods "otp password" sends them.
    def password_flow(self, email, capabilities="mfa_required"):
        """initiate + challenge offering oob and password; returns the password step's token."""
        types = "oob password redirect"
        r = self.initiate(email, challenge_type=types, capabilities=capabilities)
        assert r.status == 200, r.body
        r = self.challenge(r.json()["continuation_token"], challenge_type=types)
        assert r.status == 200 and r.json()["challenge_type"] == "password", r.body
        return r.json()["continuation_token"]

    def password(self, ct, password, **over):
        fields = {"client_id": self.t.client_id, "continuation_token": ct,
                  "grant_type": "password", "password": password, "scope": "openid profile"}
        fields.update(over)
        return self.post("token", fields)

    def introspect(self, ct):
        return self.post("introspect", {"client_id": self.t.client_id, "continuation_token": ct})

    def mfa_token(self, ct, code):
        return self.token(ct, code, grant_type="mfa_oob")

    def login(self, email):
        ct, _ = self.start_flow(email)
        r = self.token(ct, self.t.outbox(email), scope="openid profile email")
        assert r.status == 200, r.body
        return r.json()

    def close(self):
        self.conn.close()


@pytest.fixture
def client(tenant):
    c = Client(tenant)
    yield c
    c.close()


OTHER_CLIENT_ID = "0000aaaa-1111-4222-8333-444455556666"


def assert_error(resp, status, error, code, suberror=None):
    assert resp.status == status, resp.body
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert ERROR_KEYS <= set(body), body
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith("AADSTS%d: " % code)
    assert body.get("suberror") == suberror
    return body


def read_text(path):
    with open(path) as f:
        return f.read()


def b64d(seg):
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def split_jwt(token):
    h, p, s = token.split(".")
    return json.loads(b64d(h)), json.loads(b64d(p)), (h + "." + p).encode(), b64d(s)


def fetch_jwks(client):
    disc = client.get(client.t.discovery_url).json()
    return {k["kid"]: k for k in client.get(disc["jwks_uri"]).json()["keys"]}


def header_problems(token, jwks):
    """What a strict RS256 verifier would object to in the header or signature."""
    header, _, signing_input, sig = split_jwt(token)
    if header.get("alg") != "RS256":
        return ["alg"]
    if header.get("kid") not in jwks:
        return ["kid"]
    key = jwt.PyJWK(jwks[header["kid"]]).key
    try:
        key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return ["signature"]
    return []


def claim_problems(tenant, claims, email):
    now = time.time()
    problems = []
    aud = claims.get("aud")
    if tenant.client_id not in (aud if isinstance(aud, list) else [aud]):
        problems.append("aud")
    elif isinstance(aud, list) and len(aud) > 1 and "azp" not in claims:
        problems.append("azp-missing")
    if "azp" in claims and claims["azp"] != tenant.client_id:
        problems.append("azp")
    if claims.get("iss") != tenant.issuer:
        problems.append("iss")
    if claims.get("tid") != tenant.tenant_id:
        problems.append("tid")
    if claims.get("preferred_username") != email or claims.get("email") != email:
        problems.append("identity")
    if "exp" not in claims:
        problems.append("exp-missing")
    elif not isinstance(claims["exp"], int):
        problems.append("exp-type")
    elif claims["exp"] <= now:
        problems.append("expired")
    if claims.get("nbf", 0) > now + 5 or claims.get("iat", 0) > now + 5:
        problems.append("not-yet-valid")
    return problems


def pyjwt_verify(tenant, token, jwks):
    kid = jwt.get_unverified_header(token).get("kid")
    if kid not in jwks:
        raise jwt.PyJWKError("unknown kid %r" % kid)
    return jwt.decode(token, jwt.PyJWK(jwks[kid]).key, algorithms=["RS256"],
                      audience=tenant.client_id, issuer=tenant.issuer,
                      options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]})


# --------------------------------------------------------------------------------------------
# Startup, TLS, connection handling


def test_state_dir_files(tenant):
    d = tenant.state_dir
    for name in ("ca.crt", "server.crt", "server.key", "other-ca.crt", "port"):
        assert os.path.getsize(os.path.join(d, name)) > 0, name
    assert int(read_text(os.path.join(d, "port"))) == tenant.port
    assert os.stat(os.path.join(d, "server.key")).st_mode & 0o077 == 0
    assert tenant.authority == "https://127.0.0.1:%d/mocktenant.onmicrosoft.com" % tenant.port
    # External ID's issuer names the tenant GUID's host, not the authority's.
    assert tenant.issuer == "https://%s.ciamlogin.com/%s/v2.0" % (tenant.tenant_id,
                                                                  tenant.tenant_id)
    assert tenant.client_id == "00001111-aaaa-2222-bbbb-3333cccc4444"
    assert tenant.tenant_id == "11112222-bbbb-3333-cccc-4444dddd5555"


def test_tls_refused_with_other_ca(tenant):
    c = tenant.connection(ca_file=tenant.other_ca_file)
    with pytest.raises(ssl.SSLCertVerificationError):
        c.request("GET", urlsplit(tenant.discovery_url).path)
    c.close()
    s = tenant.stats()
    assert s["connections"] == 1
    assert s["tls_handshakes"] == 0
    assert s["requests_total"] == 0


def test_tls_hostname_localhost_and_ip(tenant):
    for host in ("localhost", "127.0.0.1"):
        c = Client(tenant, host=host)
        assert c.get(tenant.discovery_url).status == 200
        c.close()
    assert tenant.stats()["tls_handshakes"] == 2


def test_idle_tcp_client_does_not_block_others(tenant):
    idle = socket.create_connection(("127.0.0.1", tenant.port), timeout=5)
    try:
        c = Client(tenant, timeout=3)
        assert c.get(tenant.discovery_url).status == 200
        c.close()
    finally:
        idle.close()


def test_happy_flow_one_connection_and_verified_id_token(tenant, client):
    email = "Alice@Example.com"
    jwks = fetch_jwks(client)

    r = client.initiate(email)
    assert r.status == 200 and set(r.json()) == {"continuation_token"}
    ct1 = r.json()["continuation_token"]
    assert len(ct1) >= 40

    r = client.challenge(ct1)
    assert r.status == 200
    ch = r.json()
    assert ch["challenge_type"] == "oob" and ch["binding_method"] == "prompt"
    assert ch["challenge_channel"] == "email" and ch["code_length"] == 8
    assert ch["interval"] == 300
    assert ch["challenge_target_label"] == "A***e@E*****e.com"
    assert ch["continuation_token"] != ct1
    code = tenant.outbox(email)
    assert re.fullmatch(r"\d{8}", code)
    assert tenant.outbox("alice@example.com") == code and tenant.sent(email) == 1

    r = client.token(ch["continuation_token"], code,
                     **{"scope": "openid profile offline_access"})
    assert r.status == 200, r.body
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "openid profile"
    assert body["expires_in"] == 3600 and body["ext_expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"]
    info = json.loads(b64d(body["client_info"]))

    header = jwt.get_unverified_header(body["id_token"])
    assert header == {"alg": "RS256", "kid": "mock-key-1", "typ": "JWT"}
    claims = pyjwt_verify(tenant, body["id_token"], jwks)
    assert claims["iss"] == tenant.issuer and claims["aud"] == tenant.client_id
    assert claims["tid"] == tenant.tenant_id and claims["ver"] == "2.0"
    # No email claim without the email scope (or the optional claim): none of the JS SDK's
    # fixture tokens for email-code accounts has one.
    assert claims["preferred_username"] == email and "email" not in claims
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["name"] and claims["sub"] and UUID_RE.match(claims["oid"])
    assert info == {"uid": claims["oid"], "utid": tenant.tenant_id}
    # The access token is for another audience: a client must not take it for the ID token.
    with pytest.raises(jwt.InvalidAudienceError):
        pyjwt_verify(tenant, body["access_token"], jwks)

    s = tenant.stats()
    assert s["connections"] == 1 and s["tls_handshakes"] == 1
    assert s["requests"] == {"initiate": 1, "challenge": 1, "token": 1, "introspect": 0,
                             "discovery": 1, "jwks": 1}
    assert s["requests_total"] == 5
    # A finished flow's token is spent.
    assert_error(client.token(ch["continuation_token"], code), 400, "invalid_request", 55000)


def test_preferred_username_needs_the_profile_scope(tenant, client):
    # As Entra documents it: without profile, the ID token has no preferred_username.
    email = "alice@example.com"
    ct, _ = client.start_flow(email)
    r = client.token(ct, tenant.outbox(email), scope="openid")
    assert r.status == 200, r.body
    claims = jwt.decode(r.json()["id_token"], options={"verify_signature": False})
    assert "preferred_username" not in claims and "email" not in claims


def test_email_claim_needs_the_email_scope_or_the_optional_claim(tenant, client):
    email = "alice@example.com"
    ct, _ = client.start_flow(email)
    r = client.token(ct, tenant.outbox(email), scope="openid profile email")
    claims = jwt.decode(r.json()["id_token"], options={"verify_signature": False})
    assert claims["email"] == claims["preferred_username"] == email
    tenant.config(email_claim=True)  # the optional claim configured in the app registration
    ct, _ = client.start_flow(email)
    r = client.token(ct, tenant.outbox(email), scope="openid")
    claims = jwt.decode(r.json()["id_token"], options={"verify_signature": False})
    assert claims["email"] == email and "preferred_username" not in claims
    assert tenant.token_scopes() == ["openid profile email", "openid"]
    tenant.reset()
    assert tenant.config()["email_claim"] is False and tenant.token_scopes() == []


def test_discovery_document(tenant, client):
    d = client.get(tenant.discovery_url).json()
    assert d["issuer"] == tenant.issuer
    assert d["jwks_uri"] == "https://127.0.0.1:%d/%s/discovery/v2.0/keys" % (tenant.port,
                                                                           tenant.tenant_id)
    assert d["token_endpoint"] == tenant.endpoint("token")
    assert d["id_token_signing_alg_values_supported"] == ["RS256"]
    # Also served under the tenant GUID, as Entra does.
    r = client.request("GET", "/%s/v2.0/.well-known/openid-configuration" % tenant.tenant_id)
    assert r.json()["issuer"] == tenant.issuer
    keys = client.get(d["jwks_uri"]).json()["keys"]
    assert [k["kid"] for k in keys] == ["mock-key-1"]
    assert keys[0]["kty"] == "RSA" and keys[0]["use"] == "sig" and keys[0]["e"] == "AQAB"
    assert len(b64d(keys[0]["n"])) == 256


# --------------------------------------------------------------------------------------------
# Error shape, codes, continuation tokens


def test_wrong_code_error_shape_and_retry(tenant, client):
    email = "bob@example.com"
    ct, _ = client.start_flow(email)
    code = tenant.outbox(email)
    wrong = "%08d" % ((int(code) + 1) % 10 ** 8)
    rid = str(uuid.uuid4())
    r = client.post("token", {"client_id": tenant.client_id, "continuation_token": ct,
                              "grant_type": "oob", "oob": wrong, "scope": "openid"},
                    headers={"client-request-id": rid, "return-client-request-id": "true"})
    body = assert_error(r, 400, "invalid_grant", 50181, "invalid_oob_value")
    assert set(body) == ERROR_KEYS | {"suberror"}
    assert body["error_description"].startswith("AADSTS50181: Unable to validate the otp.")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", body["timestamp"])
    assert UUID_RE.match(body["trace_id"]) and body["trace_id"] == r.headers["x-ms-request-id"]
    assert body["correlation_id"] == rid
    assert r.headers["client-request-id"] == rid
    assert int(r.headers["Content-Length"]) == len(r.body)

    # Without return-client-request-id the header is not echoed; without an id, one is made.
    r = client.token(ct, wrong)
    assert "client-request-id" not in r.headers
    assert UUID_RE.match(r.json()["correlation_id"])

    # The flow stays at the code step: the same token takes the right code.
    assert client.token(ct, code).status == 200


def test_resend_invalidates_previous_code_and_token(tenant, client):
    email = "carol@example.com"
    ct1, _ = client.start_flow(email)
    code1 = tenant.outbox(email)
    r = client.challenge(ct1)
    assert r.status == 200
    ct2, code2 = r.json()["continuation_token"], tenant.outbox(email)
    assert code2 != code1 and ct2 != ct1
    assert tenant.sent(email) == 2
    assert read_text(os.path.join(tenant.state_dir, "outbox", email)).strip() == code2
    assert_error(client.token(ct1, code2), 400, "invalid_request", 55000)
    assert_error(client.token(ct2, code1), 400, "invalid_grant", 50181, "invalid_oob_value")
    assert client.token(ct2, code2).status == 200


def test_resend_after_wrong_code(tenant, client):
    email = "dave@example.com"
    ct, _ = client.start_flow(email)
    assert client.token(ct, "00000000" if tenant.outbox(email) != "00000000"
                        else "11111111").status == 400
    r = client.challenge(ct)
    assert r.status == 200 and r.json()["challenge_type"] == "oob"
    assert client.token(r.json()["continuation_token"], tenant.outbox(email)).status == 200


def test_wrong_step_and_unknown_tokens(tenant, client):
    email = "erin@example.com"
    ct0 = client.initiate(email).json()["continuation_token"]
    assert_error(client.token(ct0, "12345678"), 400, "invalid_request", 55000)
    assert_error(client.challenge("bm90LWEtcmVhbC10b2tlbg"), 400, "invalid_grant", 55200)
    assert client.challenge(ct0).status == 200
    assert_error(client.challenge(ct0), 400, "invalid_grant", 55200)  # already used
    assert_error(client.token("bm90LWEtcmVhbC10b2tlbg", "12345678"), 400, "invalid_request",
                 55000)


def test_flow_ttl_expiry(tenant, client):
    tenant.config(flow_ttl=0)
    ct0 = client.initiate("frank@example.com").json()["continuation_token"]
    time.sleep(0.02)
    assert_error(client.challenge(ct0), 400, "expired_token", 55112)


@pytest.mark.parametrize("endpoint", ["initiate", "challenge", "token"])
def test_client_id_checks(tenant, client, endpoint):
    fields = {"continuation_token": "x", "username": "a@example.com",
              "challenge_type": "oob redirect", "grant_type": "oob", "scope": "openid"}
    assert_error(client.post(endpoint, fields), 400, "invalid_request", 900144)
    assert_error(client.post(endpoint, dict(fields, client_id="")), 400, "invalid_request",
                 900144)
    assert_error(client.post(endpoint, dict(fields, client_id=str(uuid.uuid4()))), 400,
                 "unauthorized_client", 700016)


def test_initiate_parameter_checks(tenant, client):
    assert_error(client.initiate("a@example.com", challenge_type="oob"), 400,
                 "invalid_request", 901007)
    r = client.post("initiate", {"client_id": tenant.client_id, "username": "a@example.com"})
    assert_error(r, 400, "invalid_request", 901007)
    for bad in ("alice", "", "alice@localhost", "a b@example.com", "a/b@example.com"):
        assert_error(client.initiate(bad), 400, "invalid_request", 90100)
    r = client.post("initiate", {"client_id": tenant.client_id}, content_type="application/json")
    assert_error(r, 400, "invalid_request", 900144)
    r = client.request("POST", client.prefix + "/oauth2/v2.0/initiate", b"client_id=x")
    assert_error(r, 400, "invalid_request", 900144)  # no Content-Type at all
    assert_error(client.challenge("x", challenge_type="oob"), 400, "invalid_request", 901007)
    # Spaces encoded as '+' and a stray '&' are ordinary form encoding.
    raw = "client_id=%s&challenge_type=oob+redirect&username=a%%40example.com&" % tenant.client_id
    r = client.request("POST", client.prefix + "/oauth2/v2.0/initiate", raw.encode(),
                       {"Content-Type": FORM + "; charset=utf-8"})
    assert r.status == 200 and r.json()["continuation_token"]


def test_token_parameter_checks(tenant, client):
    email = "gina@example.com"
    ct, _ = client.start_flow(email)
    code = tenant.outbox(email)
    assert_error(client.token(ct, code, grant_type="client_credentials"), 400,
                 "unsupported_grant_type", 70003)
    # A known grant that is not this step's: the token does not continue it.
    assert_error(client.token(ct, code, grant_type="password", password="x"), 400,
                 "invalid_request", 55000)
    assert_error(client.token(ct, code, grant_type="mfa_oob"), 400, "invalid_request", 55000)
    assert_error(client.token(ct, code, scope="profile"), 400, "invalid_scope", 70011)
    assert_error(client.token(ct, ""), 400, "invalid_request", 900144)
    assert client.token(ct, code).status == 200  # none of the above spent the flow


def test_client_without_oob_gets_redirect(tenant, client):
    ct0 = client.initiate("hank@example.com", challenge_type="password redirect")
    r = client.challenge(ct0.json()["continuation_token"], challenge_type="password redirect")
    assert r.status == 200 and r.json()["challenge_type"] == "redirect"


def test_http_status_cases(tenant, client):
    r = client.request("GET", client.prefix + "/oauth2/v2.0/initiate")
    assert_error(r, 405, "invalid_request", 900561)
    assert r.headers["Allow"] == "POST"
    r = client.request("POST", urlsplit(tenant.discovery_url).path, b"", {"Content-Type": FORM})
    assert r.status == 405 and r.headers["Allow"] == "GET"
    assert client.request("GET", client.prefix + "/oauth2/v2.0/nope").status == 404
    # A tenant Entra does not know: 400 invalid_tenant, AADSTS90002, naming the tenant.
    r = client.request("GET", "/othertenant.onmicrosoft.com/v2.0/.well-known/"
                              "openid-configuration")
    assert_error(r, 400, "invalid_tenant", 90002)
    assert "Tenant 'othertenant.onmicrosoft.com' not found." in r.json()["error_description"]
    assert client.request("GET", "/_mock/nope").status == 404
    assert client.request("GET", "/_mock/outbox?email=nobody@example.com").status == 404
    r = client.request("POST", "/_mock/config", b"slow_seconds=1", {"Content-Type": FORM})
    assert r.status == 415
    r = client.request("POST", "/_mock/config", b'{"codes_fixed":"1"}',
                       {"Content-Type": "application/json"})
    assert r.status == 400
    r = client.request("GET", "/_mock/reset")
    assert r.status == 405
    # After all of that the keep-alive connection is still usable.
    assert client.get(tenant.discovery_url).status == 200
    assert tenant.stats()["connections"] == 1


# --------------------------------------------------------------------------------------------
# Scenarios


def test_scenario_unknown(tenant, client):
    assert_error(client.initiate("unknown@example.com"), 400, "user_not_found", 50034)


def test_reserved_domain_users_do_not_exist(tenant, client):
    # extid-check proves the client id with such an address: no flow, no code, user_not_found.
    assert_error(client.initiate("extid-check@client-id-probe.invalid"), 400, "user_not_found",
                 50034)
    assert tenant.sent("extid-check@client-id-probe.invalid") == 0


def test_scenario_noconsent(tenant, client):
    # Without admin consent the grant fails at /token, after the code was sent.
    ct, _ = client.start_flow("noconsent@example.com")
    body = assert_error(client.token(ct, tenant.outbox("noconsent@example.com")), 400,
                        "invalid_grant", 65001)
    assert "has not consented to use the application with ID '%s'" % tenant.client_id \
        in body["error_description"]


def test_scenario_locked_and_lockout_after(tenant, client):
    ct, _ = client.start_flow("locked@example.com")
    body = assert_error(client.token(ct, tenant.outbox("locked@example.com")), 400,
                        "invalid_grant", 50053)
    assert "The account is locked" in body["error_description"]
    # lockout_after: that many wrong codes to one address, then even the right code is refused.
    tenant.config(lockout_after=2)
    try:
        ct, _ = client.start_flow("carol@example.com")
        for _ in range(2):
            assert_error(client.token(ct, "00000000"), 400, "invalid_grant", 50181,
                         "invalid_oob_value")
        assert_error(client.token(ct, tenant.outbox("carol@example.com")), 400,
                     "invalid_grant", 50053)
        ct, _ = client.start_flow("dave@example.com")  # another address is not affected
        assert client.token(ct, tenant.outbox("dave@example.com")).status == 200
    finally:
        tenant.config(lockout_after=0)


def test_scenario_redirect(tenant, client):
    r = client.initiate("redirect@example.com")
    assert r.status == 200 and r.json()["challenge_type"] == "redirect"
    assert r.json()["redirect_reason"]


def test_scenario_disabled(tenant, client):
    assert_error(client.initiate("disabled@example.com"), 400, "invalid_client", 550026,
                 "nativeauthapi_disabled")


def test_scenario_servererror(tenant, client):
    r = client.initiate("servererror@example.com")
    assert r.status == 500 and r.headers["Content-Type"].startswith("text/html")
    assert r.body.startswith(b"<html")


def test_scenario_unavailable(tenant, client):
    assert_error(client.initiate("unavailable@example.com"), 503, "temporarily_unavailable",
                 90033)


def test_scenario_busy(tenant, client):
    r = client.initiate("busy@example.com")
    assert_error(r, 429, "temporarily_unavailable", 90055)
    assert r.headers["Retry-After"] == "30"


def test_scenario_badjson(tenant, client):
    r = client.initiate("badjson@example.com")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        r.json()


def test_scenario_notjson(tenant, client):
    r = client.initiate("notjson@example.com")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    assert r.body.startswith(b"<html")


def test_scenario_hugebody(tenant, client):
    r = client.initiate("hugebody@example.com")
    assert r.status == 200 and len(r.body) == 2 * 1024 * 1024
    assert int(r.headers["Content-Length"]) == len(r.body)
    assert r.json()["continuation_token"]


def test_scenario_password_needs_a_client_that_asks_for_it(tenant, client):
    # A password account and a client offering only oob: Entra falls back to the browser.
    ct0 = client.initiate("password@example.com").json()["continuation_token"]
    r = client.challenge(ct0)
    assert r.status == 200 and r.json()["challenge_type"] == "redirect"
    assert r.json()["redirect_reason"]
    assert tenant.sent("password@example.com") == 0


def test_scenario_challengeredirect(tenant, client):
    ct0 = client.initiate("challengeredirect@example.com").json()["continuation_token"]
    r = client.challenge(ct0)
    assert r.status == 200 and r.json()["challenge_type"] == "redirect"


def test_scenario_tokenredirect(tenant, client):
    email = "tokenredirect@example.com"
    ct, _ = client.start_flow(email)
    r = client.token(ct, tenant.outbox(email))
    assert r.status == 200 and r.json()["challenge_type"] == "redirect"
    assert "id_token" not in r.json()


def test_scenario_mfa_without_capability_is_redirect(tenant, client):
    # An email-OTP account that a policy requires a second factor of, and a client that did not
    # say it can do one: web fallback, no tokens.
    email = "mfa@example.com"
    ct, _ = client.start_flow(email)
    r = client.token(ct, tenant.outbox(email))
    assert r.status == 200 and r.json()["challenge_type"] == "redirect"
    assert "mfa_required" in r.json()["redirect_reason"]
    assert "id_token" not in r.json()


def test_scenario_expired_even_with_right_code(tenant, client):
    email = "expired+3@example.com"
    ct, _ = client.start_flow(email)
    assert_error(client.token(ct, tenant.outbox(email)), 400, "expired_token", 55112)


def test_scenario_slow(tenant, client):
    tenant.config(slow_seconds=0.3)
    t0 = time.monotonic()
    r = client.initiate("slow@example.com")
    assert r.status == 200 and time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    assert client.challenge(r.json()["continuation_token"]).status == 200
    assert time.monotonic() - t0 >= 0.3


def test_scenario_code6_and_global_code_length(tenant, client):
    email = "code6@example.com"
    ct, ch = client.start_flow(email)
    assert ch["code_length"] == 6 and re.fullmatch(r"\d{6}", tenant.outbox(email))
    assert client.token(ct, tenant.outbox(email)).status == 200
    tenant.config(code_length=4)
    ct, ch = client.start_flow("ivy@example.com")
    assert ch["code_length"] == 4 and len(tenant.outbox("ivy@example.com")) == 4


# --------------------------------------------------------------------------------------------
# Password accounts and second factors


def other_than(code):
    return "0" * len(code) if code != "0" * len(code) else "1" * len(code)


def test_password_account_signs_in_with_its_password(tenant, client):
    email = "password+1@example.com"
    ct = client.password_flow(email)
    r = client.password(ct, tenant.password)
    assert r.status == 200, r.body
    _, claims, _, _ = split_jwt(r.json()["id_token"])
    assert claims["preferred_username"] == email
    assert tenant.sent(email) == 0  # no code went anywhere
    s = tenant.stats()["requests"]
    assert (s["initiate"], s["challenge"], s["token"]) == (1, 1, 1)
    assert_error(client.password(ct, tenant.password), 400, "invalid_request", 55000)  # spent


def test_wrong_password_is_50126_and_the_same_token_may_retry(tenant, client):
    ct = client.password_flow("password+2@example.com")
    for wrong in ("Wrong-password-one", "Wrong-password-two"):
        body = assert_error(client.password(ct, wrong), 400, "invalid_grant", 50126)
        assert "continuation_token" not in body
        assert "invalid username or password" in body["error_description"]
    assert client.password(ct, tenant.password).status == 200
    # Every password received, right or wrong, is listed for the hygiene checks.
    assert tenant.issued()["passwords"] == ["Wrong-password-one", "Wrong-password-two",
                                            tenant.password]


def test_password_grant_checks(tenant, client):
    ct = client.password_flow("password+3@example.com")
    assert_error(client.password(ct, ""), 400, "invalid_request", 900144)
    assert_error(client.password(ct, tenant.password, scope="profile"), 400, "invalid_scope",
                 70011)
    assert_error(client.token(ct, "12345678"), 400, "invalid_request", 55000)  # oob grant
    tenant.config(password="Another-one-2")
    assert_error(client.password(ct, tenant.password), 400, "invalid_grant", 50126)
    assert client.password(ct, "Another-one-2").status == 200


def test_otp_account_with_password_offered_still_gets_a_code(tenant, client):
    email = "otpuser@example.com"
    types = "oob password redirect"
    r = client.initiate(email, challenge_type=types, capabilities="mfa_required")
    r = client.challenge(r.json()["continuation_token"], challenge_type=types)
    assert r.json()["challenge_type"] == "oob" and r.json()["challenge_channel"] == "email"
    assert client.token(r.json()["continuation_token"], tenant.outbox(email)).status == 200


@pytest.mark.parametrize("caps", ["mfa_required", "mfa_required registration_required",
                                  "registration_required,mfa_required"])
def test_capabilities_forms_are_accepted(tenant, client, caps):
    ct = client.password_flow("mfaemail@example.com", capabilities=caps)
    body = assert_error(client.password(ct, tenant.password), 400, "invalid_grant", 50076,
                        "mfa_required")
    assert body["continuation_token"]


def test_capability_spelled_as_the_reference_does(tenant, client):
    r = client.initiate("mfaemail@example.com", challenge_type="oob password redirect",
                        capability="mfa_required")
    r = client.challenge(r.json()["continuation_token"], challenge_type="oob password redirect")
    body = assert_error(client.password(r.json()["continuation_token"], tenant.password), 400,
                        "invalid_grant", 50076, "mfa_required")
    assert body["continuation_token"]


def test_unknown_capability_is_refused(tenant, client):
    assert_error(client.initiate("a@example.com", capabilities="mfa_required teleport"), 400,
                 "invalid_request", 90100)


def test_mfa_needed_without_the_capability_is_redirect(tenant, client):
    ct = client.password_flow("mfaemail@example.com", capabilities="")
    r = client.password(ct, tenant.password)
    assert r.status == 200 and r.json()["challenge_type"] == "redirect"
    assert "mfa_required" in r.json()["redirect_reason"] and "id_token" not in r.json()


def test_wrong_password_never_reaches_the_second_factor(tenant, client):
    ct = client.password_flow("mfaemail@example.com")
    assert_error(client.password(ct, "Not-the-password"), 400, "invalid_grant", 50126)
    assert tenant.sent("mfaemail@example.com") == 0


def second_factor(client, email):
    """Password accepted → mfa_required; returns that continuation token."""
    ct = client.password_flow(email)
    body = assert_error(client.password(ct, client.t.password), 400, "invalid_grant", 50076,
                        "mfa_required")
    assert body["continuation_token"] != ct
    return body["continuation_token"]


@pytest.mark.parametrize("account,channel", [("mfaemail", "email"), ("mfasms", "sms")])
def test_second_factor_by_one_method(tenant, client, account, channel):
    email = account + "@example.com"
    ct = second_factor(client, email)
    r = client.introspect(ct)
    assert r.status == 200, r.body
    methods = r.json()["methods"]
    assert len(methods) == 1
    m = methods[0]
    assert set(m) == {"id", "challenge_type", "challenge_channel", "login_hint"}
    assert m["challenge_type"] == "oob" and m["challenge_channel"] == channel
    assert UUID_RE.match(m["id"].lower())
    if channel == "sms":
        assert re.fullmatch(r"\+1555\*+\d\d", m["login_hint"]), m
    else:
        assert m["login_hint"] == "m***l@e*****e.com"
    assert tenant.sent(email) == 0  # introspect sends nothing
    r = client.challenge(r.json()["continuation_token"], id=m["id"])
    ch = r.json()
    assert r.status == 200 and ch["challenge_type"] == "oob"
    assert ch["challenge_channel"] == channel and ch["challenge_target_label"] == m["login_hint"]
    assert tenant.channel(email) == channel and tenant.sent(email) == 1
    code = tenant.outbox(email)
    assert len(code) == ch["code_length"]
    assert_error(client.mfa_token(ch["continuation_token"], other_than(code)), 400,
                 "invalid_grant", 50181, "invalid_oob_value")
    # The first factor's grant does not finish the second.
    assert_error(client.token(ch["continuation_token"], code), 400, "invalid_request", 55000)
    r = client.mfa_token(ch["continuation_token"], code)
    assert r.status == 200, r.body
    _, claims, _, _ = split_jwt(r.json()["id_token"])
    assert claims["preferred_username"] == email
    s = tenant.stats()["requests"]
    assert (s["initiate"], s["challenge"], s["token"], s["introspect"]) == (1, 2, 4, 1)


def test_second_factor_choice_of_email_and_sms(tenant, client):
    email = "mfaboth@example.com"
    r = client.introspect(second_factor(client, email))
    methods = r.json()["methods"]
    assert [m["challenge_channel"] for m in methods] == ["email", "sms"]
    assert len({m["id"] for m in methods}) == 2
    sms = methods[1]
    ch = client.challenge(r.json()["continuation_token"], id=sms["id"]).json()
    assert ch["challenge_channel"] == "sms" and tenant.channel(email) == "sms"
    assert client.mfa_token(ch["continuation_token"], tenant.outbox(email)).status == 200


def test_second_factor_resend_replaces_the_code(tenant, client):
    email = "mfasms@example.com"
    r = client.introspect(second_factor(client, email))
    mid = r.json()["methods"][0]["id"]
    first = client.challenge(r.json()["continuation_token"], id=mid).json()
    code1 = tenant.outbox(email)
    again = client.challenge(first["continuation_token"], id=mid)
    assert again.status == 200 and again.json()["challenge_channel"] == "sms"
    code2 = tenant.outbox(email)
    assert code2 != code1 and tenant.sent(email) == 2
    ct = again.json()["continuation_token"]
    assert_error(client.mfa_token(first["continuation_token"], code2), 400, "invalid_request",
                 55000)
    assert_error(client.mfa_token(ct, code1), 400, "invalid_grant", 50181, "invalid_oob_value")
    assert client.mfa_token(ct, code2).status == 200


def test_second_factor_challenge_checks(tenant, client):
    email = "mfaboth@example.com"
    ct = second_factor(client, email)
    # Without id, Entra challenges the default method (here the first registered).
    r = client.challenge(ct)
    assert r.status == 200 and r.json()["challenge_channel"] == "email"
    r = client.introspect(r.json()["continuation_token"])
    assert_error(client.challenge(r.json()["continuation_token"], id="not-a-method"), 400,
                 "invalid_request", 90100)
    other = method_ids_of(client, "mfasms@example.com")
    assert_error(client.challenge(r.json()["continuation_token"], id=other[0]), 400,
                 "invalid_request", 90100)  # another account's method


def method_ids_of(client, email):
    c = Client(client.t)
    try:
        r = c.introspect(second_factor(c, email))
        return [m["id"] for m in r.json()["methods"]]
    finally:
        c.close()


def test_introspect_checks(tenant, client):
    assert_error(client.post("introspect", {"client_id": tenant.client_id}), 400,
                 "invalid_request", 900144)
    assert_error(client.introspect("nonsense"), 400, "invalid_request", 55000)
    ct = client.password_flow("password+4@example.com")  # not at a second factor
    assert_error(client.introspect(ct), 400, "invalid_request", 55000)
    r = client.request("GET", client.prefix + "/oauth2/v2.0/introspect")
    assert_error(r, 405, "invalid_request", 900561)
    tenant.config(fail_next={"endpoint": "introspect", "status": 503})
    assert_error(client.introspect("x"), 503, "temporarily_unavailable", 90033)


def test_introspect_after_expiry(tenant, client):
    ct = second_factor(client, "mfaemail@example.com")
    tenant.config(flow_ttl=0)
    time.sleep(0.01)
    assert_error(client.introspect(ct), 400, "expired_token", 55112)


def test_registration_needed(tenant, client):
    # No second factor registered: without registration_required (the module never sends it)
    # the answer is web fallback; with it, the registration suberror.
    ct = client.password_flow("mfareg@example.com")
    r = client.password(ct, tenant.password)
    assert r.status == 200 and r.json()["challenge_type"] == "redirect"
    assert "registration_required" in r.json()["redirect_reason"]
    ct = client.password_flow("mfareg@example.com",
                              capabilities="mfa_required registration_required")
    body = assert_error(client.password(ct, tenant.password), 400, "invalid_grant", 50079,
                        "registration_required")
    assert body["continuation_token"]
    assert tenant.sent("mfareg@example.com") == 0


def test_otp_account_second_factor_is_sms(tenant, client):
    email = "mfa@example.com"
    r = client.initiate(email, capabilities="mfa_required")
    r = client.challenge(r.json()["continuation_token"])
    ct = r.json()["continuation_token"]
    assert tenant.channel(email) == "email"
    body = assert_error(client.token(ct, tenant.outbox(email)), 400, "invalid_grant", 50076,
                        "mfa_required")
    r = client.introspect(body["continuation_token"])
    assert [m["challenge_channel"] for m in r.json()["methods"]] == ["sms"]
    ch = client.challenge(r.json()["continuation_token"], id=r.json()["methods"][0]["id"])
    assert tenant.channel(email) == "sms" and tenant.sent(email) == 2
    assert client.mfa_token(ch.json()["continuation_token"], tenant.outbox(email)).status == 200


def test_scenario_keyword_ignores_tag_and_case(tenant, client):
    assert_error(client.initiate("Unknown+X7@Example.com"), 400, "user_not_found", 50034)
    assert client.initiate("unknownish@example.com").status == 200


# Second item: what PyJWT raises; "ok" where PyJWT does not check that claim (the test then
# proves everything else is valid); None where PyJWT is lenient (it accepts a numeric string exp).
CLAIM_VARIANTS = {"expiredtoken": ("expired", jwt.ExpiredSignatureError),
                  "future": ("not-yet-valid", jwt.ImmatureSignatureError),
                  "wrongaud": ("aud", jwt.InvalidAudienceError),
                  "wrongiss": ("iss", jwt.InvalidIssuerError),
                  "wrongtid": ("tid", "ok"),
                  "otheruser": ("identity", "ok"),
                  "otherprefname": ("identity", "ok"),
                  "expired2min": ("expired", jwt.ExpiredSignatureError),
                  "noexp": ("exp-missing", jwt.MissingRequiredClaimError),
                  "expstring": ("exp-type", None),
                  "multiaud": ("azp-missing", "ok"),
                  "otherazp": ("azp", "ok")}
HEADER_VARIANTS = {"forged": ("signature", jwt.InvalidSignatureError),
                   "algnone": ("alg", jwt.InvalidAlgorithmError),
                   "hs256": ("alg", jwt.InvalidAlgorithmError),
                   "unknownkid": ("kid", jwt.PyJWKError),
                   "rotatedkid": ("kid", jwt.PyJWKError)}


def test_app_signing_key_published_with_appid(tenant, client):
    # An app with its own signing key (claims mapping): only the discovery document asked with
    # ?appid= names a key set that holds it.
    tok = client.login("appkey@example.com")["id_token"]
    assert jwt.get_unverified_header(tok)["kid"] == "mock-app-key"
    assert "mock-app-key" not in fetch_jwks(client)
    d = client.get(tenant.discovery_url + "?appid=" + tenant.client_id).json()
    assert d["issuer"] == tenant.issuer
    assert d["jwks_uri"] == tenant.jwks_uri + "?appid=" + tenant.client_id
    keys = {k["kid"]: k for k in client.get(d["jwks_uri"]).json()["keys"]}
    assert pyjwt_verify(tenant, tok, keys)["preferred_username"] == "appkey@example.com"
    assert_error(client.get(tenant.discovery_url + "?appid=" + OTHER_CLIENT_ID), 400,
                 "invalid_request", 700016)


@pytest.mark.parametrize("variant", sorted(CLAIM_VARIANTS))
def test_token_variant_wrong_claim(tenant, client, variant):
    email = "%s+1@example.com" % variant
    jwks = fetch_jwks(client)
    tok = client.login(email)["id_token"]
    problem, exc = CLAIM_VARIANTS[variant]
    assert header_problems(tok, jwks) == []  # validly signed: only the claim is wrong
    claims = split_jwt(tok)[1]
    assert claim_problems(tenant, claims, email) == [problem]
    if exc == "ok":
        pyjwt_verify(tenant, tok, jwks)
    elif exc is not None:
        with pytest.raises(exc):
            pyjwt_verify(tenant, tok, jwks)
    now = time.time()
    if variant == "expstring":
        assert claims["exp"] == str(claims["iat"] + 3600)
    if variant == "future":
        assert claims["iat"] > now + 3500 and claims["nbf"] > now + 3500
    if variant == "expiredtoken":
        assert claims["iat"] < now - 7100 and claims["nbf"] < now - 7100
        assert now - 3700 < claims["exp"] < now - 3500
    if variant == "wrongiss":
        assert tenant.tenant_id not in claims["iss"]
    if variant == "otheruser":
        assert claims["preferred_username"] == claims["email"] == "someone.else@example.com"
    if variant == "otherprefname":
        assert claims["email"] == email and claims["preferred_username"] != email
    if variant == "expired2min":
        assert now - 130 < claims["exp"] < now - 110


def test_claims_per_address_and_authorization_variants(tenant, client):
    tenant.config(claims={"Ops@Example.com": {"roles": ["Linux.Ops"],
                                              "groups": ["6A5B4C3D-2E1F-4A0B-9C8D-7E6F5A4B3C2D"]}})
    jwks = fetch_jwks(client)
    tok = client.login("ops@example.com")["id_token"]
    claims = pyjwt_verify(tenant, tok, jwks)
    assert claims["roles"] == ["Linux.Ops"]
    assert claims["groups"] == ["6A5B4C3D-2E1F-4A0B-9C8D-7E6F5A4B3C2D"]
    other = split_jwt(client.login("dev@example.com")["id_token"])[1]
    assert "roles" not in other and "groups" not in other
    c = split_jwt(client.login("overage@example.com")["id_token"])[1]
    assert c["_claim_names"] == {"groups": "src1"} and "groups" not in c
    assert "getMemberObjects" in c["_claim_sources"]["src1"]["endpoint"]
    assert split_jwt(client.login("hasgroups@example.com")["id_token"])[1]["hasgroups"] is True
    assert split_jwt(client.login("badroles@example.com")["id_token"])[1]["roles"] == "Linux.Ops"
    assert split_jwt(client.login("badgroups@example.com")["id_token"])[1]["groups"][1] == 5
    tenant.reset()
    assert "roles" not in split_jwt(client.login("ops@example.com")["id_token"])[1]


@pytest.mark.parametrize("variant", sorted(HEADER_VARIANTS))
def test_token_variant_wrong_signature(tenant, client, variant):
    email = "%s@example.com" % variant
    jwks = fetch_jwks(client)
    tok = client.login(email)["id_token"]
    problem, exc = HEADER_VARIANTS[variant]
    assert header_problems(tok, jwks) == [problem]
    header, claims, signing_input, sig = split_jwt(tok)
    assert claim_problems(tenant, claims, email) == []  # the claims are fine
    with pytest.raises(exc):
        pyjwt_verify(tenant, tok, jwks)
    if variant == "algnone":
        assert header["alg"] == "none" and tok.endswith(".") and sig == b""
    if variant == "hs256":
        # Keyed with the published RSA public key: the classic algorithm-confusion forgery.
        pem = jwt.PyJWK(jwks["mock-key-1"]).key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert header["kid"] == "mock-key-1"
        assert hmac.compare_digest(sig, hmac.new(pem, signing_input, hashlib.sha256).digest())
    if variant == "forged":
        assert header["kid"] == "mock-key-1"
    if variant == "unknownkid":
        assert header["kid"] == "mock-key-9"


def test_rotatedkid_verifies_after_rotate(tenant, client):
    email = "rotatedkid@example.com"
    tok = client.login(email)["id_token"]
    assert jwt.get_unverified_header(tok)["kid"] == "mock-key-2"
    assert "mock-key-2" not in fetch_jwks(client)
    tenant.rotate()
    jwks = fetch_jwks(client)
    assert sorted(jwks) == ["mock-key-1", "mock-key-2"]
    assert pyjwt_verify(tenant, tok, jwks)["preferred_username"] == email


def test_noidtoken(tenant, client):
    body = client.login("noidtoken@example.com")
    assert "id_token" not in body
    assert body["token_type"] == "Bearer" and body["access_token"]


# --------------------------------------------------------------------------------------------
# Control API


def test_rotate_signs_new_tokens_with_key2_and_reset_unrotates(tenant, client):
    tenant.rotate()
    tok = client.login("jane@example.com")["id_token"]
    assert jwt.get_unverified_header(tok)["kid"] == "mock-key-2"
    jwks = fetch_jwks(client)
    assert pyjwt_verify(tenant, tok, jwks)["aud"] == tenant.client_id
    tenant.reset()
    assert sorted(fetch_jwks(client)) == ["mock-key-1"]
    tok = client.login("jane@example.com")["id_token"]
    assert jwt.get_unverified_header(tok)["kid"] == "mock-key-1"


def test_stats_and_reset(tenant, client):
    email = "kate@example.com"
    ct, _ = client.start_flow(email)
    outbox_file = os.path.join(tenant.state_dir, "outbox", email)
    assert os.path.exists(outbox_file)
    tenant.config(slow_seconds=7)
    s = tenant.stats()
    assert s["connections"] == 1 and s["requests"]["initiate"] == 1
    assert s["requests"]["challenge"] == 1 and s["requests_total"] == 2
    tenant.reset()
    assert tenant.stats() == {"connections": 0, "tls_handshakes": 0, "closed": 0,
                              "requests": dict.fromkeys(["initiate", "challenge", "token",
                                                         "introspect", "discovery", "jwks"],
                                                        0),
                              "requests_total": 0}
    assert tenant.outbox(email) is None and tenant.sent(email) == 0
    assert not os.path.exists(outbox_file)
    assert tenant.config()["slow_seconds"] == 3.0
    assert_error(client.token(ct, "12345678"), 400, "invalid_request", 55000)  # flow forgotten


def test_fail_next(tenant, client):
    email = "liam@example.com"
    ct, _ = client.start_flow(email)
    tenant.config(fail_next={"endpoint": "token", "status": 500})
    assert_error(client.token(ct, tenant.outbox(email)), 500, "server_error", 50000)
    assert client.token(ct, tenant.outbox(email)).status == 200  # only one call failed
    tenant.config(fail_next={"endpoint": "discovery", "status": 429, "retry_after": 2})
    r = client.get(tenant.discovery_url)
    assert r.status == 429 and r.headers["Retry-After"] == "2"
    assert client.get(tenant.discovery_url).status == 200
    with pytest.raises(MockTenantError):
        tenant.config(fail_next={"endpoint": "nowhere", "status": 500})


def test_log_has_one_line_per_request_and_no_secrets(tenant, client):
    email = "mia@example.com"
    ct, _ = client.start_flow(email)
    code = tenant.outbox(email)
    r = client.token(ct, code)
    assert r.status == 200
    log = read_text(tenant.log_path)
    assert "POST /mocktenant.onmicrosoft.com/oauth2/v2.0/token 200" in log
    for secret in (code, ct, r.json()["id_token"][:40], r.json()["refresh_token"][:40]):
        assert secret not in log


# --------------------------------------------------------------------------------------------
# Separate instances: identity options, print-codes, SIGTERM


def test_custom_identity_print_codes_and_sigterm(tmp_path, capfd):
    args = ["--client-id", "my-app", "--tenant-id", "aaaabbbb-0000-1111-2222-333344445555",
            "--tenant-name", "contoso"]
    # start() returns once the mock serves (or fails after its own timeout): how fast is not a
    # property to assert on a shared machine.
    t = MockTenant(str(tmp_path), print_codes=True, extra_args=args).start()
    try:
        assert t.client_id == "my-app" and t.tenant_id == "aaaabbbb-0000-1111-2222-333344445555"
        assert t.authority.endswith("/contoso.onmicrosoft.com")
        assert t.issuer.endswith("/aaaabbbb-0000-1111-2222-333344445555/v2.0")
        c = Client(t)
        assert_error(c.initiate("nina@example.com", client_id="00001111-aaaa-2222-bbbb-"
                                                              "3333cccc4444"),
                     400, "unauthorized_client", 700016)
        c.login("nina@example.com")
        code = t.outbox("nina@example.com")
        c.close()
    finally:
        pid = t.proc.pid
        rc = t.stop()
    assert rc == 0
    assert not os.path.exists(os.path.join(str(tmp_path), "port"))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    err = capfd.readouterr().err
    assert "[mock tenant] email to nina@example.com: your code is %s" % code in err


def test_start_failure_reports_log(tmp_path):
    t = MockTenant(str(tmp_path), extra_args=["--tenant-id", "not-a-guid"])
    with pytest.raises(MockTenantError, match="GUID"):
        t.start()
    assert not t.running
