#!/usr/bin/python3
"""Writes the fuzzers' seed corpora (tests/fuzz/corpus/<target>/) from what the mock tenant
really answers, plus the example and test-harness config and users files.

    /usr/bin/python3 tests/fuzz/make_corpus.py

Run it again when the mock's answers change; the seeds are committed so that `make fuzz` needs
no mock. Token claims are rewritten to the fixed policies the harnesses check against."""
import base64
import json
import os
import shutil
import sys
import tempfile
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)

from mock_tenant_control import MockTenant  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")
# fuzz_nativeauth: status = STATUSES[b % 13], endpoint = ENDPOINTS[(b >> 4) % 3]
STATUSES = [200, 200, 200, 200, 400, 400, 401, 429, 500, 503, 302, 204, 404]
ENDPOINTS = ["initiate", "challenge", "token"]
# fuzz_claims' policy, and token_fixture.h's (fuzz_idtoken).
CLAIMS_POLICY = {"iss": "https://mocktenant.ciamlogin.com/11112222-bbbb-3333-cccc-4444dddd5555"
                        "/v2.0",
                 "aud": "00001111-aaaa-2222-bbbb-3333cccc4444",
                 "tid": "11112222-bbbb-3333-cccc-4444dddd5555",
                 "email": "alice@example.com", "now": 1750000000}
FX_POLICY = {"iss": "https://contoso.ciamlogin.com/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/v2.0",
             "aud": "11111111-2222-4333-8444-555555555555",
             "tid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
             "email": "alice@contoso.com", "now": 1750000000}


def status_byte(status, endpoint):
    for b in range(0xf0):
        if STATUSES[b % 13] == status and ENDPOINTS[(b >> 4) % 3] == endpoint:
            return bytes([b])
    raise ValueError((status, endpoint))


class Seeds:
    def __init__(self):
        self.count = 0

    def put(self, target, name, data):
        d = os.path.join(CORPUS, target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        self.count += 1


def b64d(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def rewrite_claims(claims, policy):
    """The mock's claims, moved onto the harness's policy and clock; scenario breakage kept."""
    c = dict(claims)
    now = policy["now"]
    for k, v in (("iat", now - 60), ("nbf", now - 60), ("exp", now + 3540)):
        if k in c:
            c[k] = str(v) if isinstance(c[k], str) else v
    if "iss" in c and c["iss"].endswith("/11112222-bbbb-3333-cccc-4444dddd5555/v2.0"):
        c["iss"] = policy["iss"]
    if c.get("aud") == "00001111-aaaa-2222-bbbb-3333cccc4444":
        c["aud"] = policy["aud"]
    if c.get("tid") == "11112222-bbbb-3333-cccc-4444dddd5555":
        c["tid"] = policy["tid"]
    for k in ("preferred_username", "email"):
        if k in c and c[k] != "someone.else@example.com":
            c[k] = policy["email"]
    return c


class Driver:
    def __init__(self, tenant):
        self.t = tenant
        self.prefix = "/" + tenant.authority.split("/", 3)[3]

    def request(self, method, path, form=None):
        conn = self.t.connection()
        try:
            body = urlencode(form).encode() if form is not None else None
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if form else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def post(self, endpoint, **form):
        form.setdefault("client_id", self.t.client_id)
        return self.request("POST", "%s/oauth2/v2.0/%s" % (self.prefix, endpoint), form)

    def flow(self, email, code=None):
        """initiate → challenge → token; returns [(endpoint, status, body)]."""
        out = []
        st, body = self.post("initiate", username=email, challenge_type="oob redirect")
        out.append(("initiate", st, body))
        try:
            ct = json.loads(body).get("continuation_token")
        except ValueError:
            return out
        if st != 200 or not ct:
            return out
        st, body = self.post("challenge", continuation_token=ct, challenge_type="oob redirect")
        out.append(("challenge", st, body))
        ct = json.loads(body).get("continuation_token")
        if st != 200 or not ct or json.loads(body).get("challenge_type") != "oob":
            return out
        oob = code if code is not None else self.t.outbox(email)
        st, body = self.post("token", continuation_token=ct, grant_type="oob", oob=oob,
                             scope="openid")
        out.append(("token", st, body))
        return out


# fuzz_login: bytes 0-1 the allocation to fail (0: none), byte 2 settings, byte 3 the number of
# the person's answers, then lines: the answers, then forced answers of the fake tenant, whose
# first byte is call = b % 3 (initiate, challenge, token), status = LOGIN_STATUSES[(b >> 2) % 10].
LOGIN_STATUSES = [200, 200, 200, 400, 400, 401, 429, 500, 503, 302]


def login_settings(kiosk=False, not_local=False, ignore=False, no_keys=False, attempts=3,
                   resends=1):
    return (kiosk | not_local << 1 | ignore << 2 | no_keys << 3 | (attempts - 1) << 4
            | resends << 6)


def login_answer(call, status, body):
    return bytes([LOGIN_STATUSES.index(status) << 2 | ENDPOINTS.index(call)]) + body.encode()


def login_seeds(seeds):
    def put(name, settings, answers, forced=(), fail=0):
        lines = [a.encode() for a in answers] + [login_answer(*f) for f in forced]
        seeds.put("login", name, bytes([fail >> 8, fail & 255, settings, len(answers)])
                  + b"\n".join(lines))

    challenge = '{"continuation_token":"c","challenge_type":"oob","code_length":8}'
    put("happy", login_settings(), ["12345678"])
    put("typed-address", login_settings(kiosk=True), ["alice@contoso.com", "12345678"])
    put("typed-refused", login_settings(kiosk=True), ["mallory@evil.example", "12345678"])
    put("wrong-then-right", login_settings(), ["00000000", "12345678"])
    put("max-attempts", login_settings(attempts=2), ["00000000", "1234"])
    put("resend", login_settings(resends=2), ["", "", "12345678"])
    put("resend-503", login_settings(), ["", "12345678"],
        [("challenge", 200, challenge), ("challenge", 503, "{}")])
    put("redirect", login_settings(), ["12345678"],
        [("challenge", 200, '{"challenge_type":"redirect","redirect_reason":"x"}')])
    put("initiate-503", login_settings(), ["12345678"], [("initiate", 503, "")])
    put("user-not-found", login_settings(), ["12345678"],
        [("initiate", 400, '{"error":"user_not_found","error_codes":[1003037]}')])
    put("invalid-client", login_settings(), ["12345678"],
        [("initiate", 400, '{"error":"invalid_client","error_codes":[700016],'
                           '"error_description":"AADSTS700016: app not found"}')])
    put("token-no-id", login_settings(), ["12345678"], [("token", 200, '{"token_type":"B"}')])
    put("token-bad-jwt", login_settings(), ["12345678"],
        [("token", 200, '{"id_token":"eyJhbGciOiJub25lIn0.eyJhIjoxfQ."}')])
    put("no-keys", login_settings(no_keys=True), ["12345678"])
    put("ignore", login_settings(ignore=True, not_local=True), ["12345678"])
    put("conv-fail", login_settings(), [])
    for n in (1, 5, 20, 40, 80, 120, 200):
        put("oom-%d" % n, login_settings(kiosk=True),
            ["alice@contoso.com", "00000000", "12345678"], fail=n)


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    seeds = Seeds()
    work = tempfile.mkdtemp(prefix="extid-corpus-")
    tenant = MockTenant().start(work)
    try:
        d = Driver(tenant)
        answers = []
        for local in ["alice", "unknown", "redirect", "disabled", "servererror", "unavailable",
                      "busy", "badjson", "notjson", "password", "challengeredirect",
                      "tokenredirect", "mfa", "expired", "code6", "forged", "algnone", "hs256",
                      "unknownkid", "expiredtoken", "wrongaud", "wrongiss", "wrongtid",
                      "otheruser", "noidtoken", "noexp", "expstring"]:
            answers += [(local, *a) for a in d.flow("%s@example.com" % local)]
        answers += [("wrongcode", *a) for a in d.flow("bob@example.com", code="00000000")]
        answers.append(("missing", "initiate", *d.post("initiate", username="a@example.com")))
        answers.append(("badclient", "initiate", *d.post("initiate", client_id="nobody",
                                                         username="a@example.com",
                                                         challenge_type="oob redirect")))
        answers.append(("badgrant", "token", *d.post("token", grant_type="password",
                                                     continuation_token="x")))

        tokens = []
        token_variants = {"forged", "algnone", "hs256", "unknownkid", "expiredtoken", "wrongaud",
                          "wrongiss", "wrongtid", "otheruser", "noidtoken", "noexp", "expstring"}
        for local, endpoint, status, body in answers:
            name = "%s-%s-%d" % (local, endpoint, status)
            if local in token_variants and endpoint != "token":
                continue  # the same initiate and challenge answers as alice's
            seeds.put("nativeauth", name, status_byte(status, endpoint) + body)
            if status != 200:
                seeds.put("entra_error", name, body)
            try:
                obj = json.loads(body)
            except ValueError:
                continue
            if endpoint == "token" and isinstance(obj, dict) and obj.get("id_token"):
                tokens.append((local, obj["id_token"]))

        st, disc = d.request("GET", tenant.discovery_url.split(str(tenant.port), 1)[1])
        seeds.put("discovery", "mock", disc)
        doc = json.loads(disc)
        seeds.put("discovery", "minimal", json.dumps({"issuer": doc["issuer"],
                                                      "jwks_uri": doc["jwks_uri"]}))
        seeds.put("discovery", "http-jwks-uri", json.dumps(dict(doc, jwks_uri="http://x/k")))
        st, jwks = d.request("GET", tenant.jwks_uri.split(str(tenant.port), 1)[1])
        seeds.put("jwks", "mock", b"\n" + jwks)
        tenant.rotate()
        st, jwks2 = d.request("GET", tenant.jwks_uri.split(str(tenant.port), 1)[1])
        seeds.put("jwks", "rotated", b"mock-key-2\n" + jwks2)
        seeds.put("jwks", "unknown-kid", b"mock-key-9\n" + jwks2)
        key = json.loads(jwks)["keys"][0]
        for variant, k in [("hs", dict(key, kty="oct", k="c2VjcmV0")),
                           ("enc", dict(key, use="enc")), ("alg-ps", dict(key, alg="PS256")),
                           ("small-e", dict(key, e="Aw")), ("no-n", {x: key[x] for x in key
                                                                      if x != "n"})]:
            seeds.put("jwks", variant, b"\n" + json.dumps({"keys": [k]}).encode())

        for local, tok in tokens:
            seeds.put("jwt", local, tok)
            seeds.put("idtoken", "raw-" + local, b"\x00" + tok.encode())
            h, p, _ = tok.split(".")
            header, claims = json.loads(b64d(h)), json.loads(b64d(p))
            seeds.put("claims", local, b"\x00" + json.dumps(
                rewrite_claims(claims, CLAIMS_POLICY)).encode())
            if header.get("kid") == "mock-key-1":
                header["kid"] = "key-a"
            seeds.put("idtoken", "signed-" + local, b"\x01" + json.dumps(header).encode() + b"\n"
                      + json.dumps(rewrite_claims(claims, FX_POLICY)).encode())
        seeds.put("jwt", "two-parts", "eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ")
        seeds.put("jwt", "empty-sig", "eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.")
    finally:
        tenant.stop()
        shutil.rmtree(work, ignore_errors=True)

    harness_users = ("extidalice alice@example.com\n"
                     "extidops   alice@example.com bob@example.com\n"
                     "extidkiosk *@example.com\n")
    with open(os.path.join(ROOT, "conf", "pam_extid.users")) as f:
        example_users = f.read()
    seeds.put("users", "harness", "extidops\n" + harness_users)
    seeds.put("users", "example", "kiosk\n" + example_users)
    seeds.put("users", "duplicate", "alice\nalice a@b.example\nalice c@d.example\n")
    seeds.put("users", "bad", "alice\n# note\r\nalice   *@ #x\n\tbob *@*.example.com\n")

    harness_conf = ("# written by the test harness\n"
                    "authority = https://127.0.0.1:45678/mocktenant.onmicrosoft.com\n"
                    "client_id = 00001111-aaaa-2222-bbbb-3333cccc4444\n"
                    "tenant_id = 11112222-bbbb-3333-cccc-4444dddd5555\n"
                    "ca_file = /tmp/extid-test/tenant/ca.crt\n"
                    "users = /tmp/extid-test/pam_extid.users\n"
                    "cache_dir = /tmp/extid-test/cache\n"
                    "timeout = 5\n"
                    "debug\n")
    with open(os.path.join(ROOT, "conf", "pam_extid.conf")) as f:
        example_conf = f.read()
    seeds.put("config", "harness", harness_conf)
    seeds.put("config", "example", example_conf)
    seeds.put("config", "with-args", harness_conf + "\0max_attempts=1\nunmapped=ignore\ndebug")
    seeds.put("config", "every-key", "tenant = contoso\n"
              "client_id = 0000aaaa-0000-4000-8000-00000000000a\nusers = /u\n"
              "ca_file = /c\nproxy = http://proxy:3128\ntimeout = 300\nmax_attempts = 10\n"
              "max_resends = 0\nidentity_claim = email\nclock_skew = 0\ncache_dir = /d\n"
              "jwks_ttl = 60\nunmapped = deny\n")
    seeds.put("config", "bad", "authority = http://x\ntimeout = 5 # x\ncolour = blue\n"
              "tenant = contoso\n\0config=relative")
    login_seeds(seeds)
    print("wrote %d seeds under %s" % (seeds.count, CORPUS))


if __name__ == "__main__":
    main()
