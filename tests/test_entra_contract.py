"""What the module asks of Entra and what it accepts back, where a real tenant differs from the
simplest mock: the scopes of the token request, through the real pam_extid.so and libpam."""
import json
import os
import re
import subprocess
import time
from urllib.parse import urlsplit

from hygiene import assert_no_leak
from pamharness import PAM, ROOT

CHECK = os.path.join(ROOT, "build", "extid-check")


def test_token_request_asks_openid_profile(pam, tenant):
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.token_scopes() == ["openid profile"]


def test_identity_claim_email_asks_for_the_email_scope(pam, tenant):
    # Entra puts the email claim in the ID token only for the email scope or an optional claim
    # the app registration may not have; the module asks for the scope.
    pam.write_config(identity_claim="email")
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.token_scopes() == ["openid profile email"]



def test_extid_check_names_the_permissions(pam, tenant):
    check = [CHECK, "--config", pam.config_path]
    p = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert "permissions     delegated openid, profile, with admin consent" in p.stdout, p.stdout
    pam.write_config(identity_claim="email")
    p = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert "permissions     delegated openid, profile, email, with admin consent" in p.stdout


def test_issuer_host_differs_from_the_authority_host(pam, tenant):
    # As External ID issues them: https://{tenant-id}.ciamlogin.com/{tenant-id}/v2.0, whatever
    # host the authority names. The module compares iss with discovery's issuer, nothing else.
    assert urlsplit(tenant.issuer).hostname == "%s.ciamlogin.com" % tenant.tenant_id
    assert urlsplit(tenant.issuer).hostname != urlsplit(tenant.authority).hostname
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res


def test_key_set_on_another_host_is_followed(pam, tenant):
    # jwks_uri on another host than the authority (a custom URL domain's keys stay on
    # ciamlogin.com): the keys come from there, on a connection of their own.
    tenant.config(jwks_host="localhost")
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    s = tenant.stats()
    assert s["requests"]["jwks"] == 1 and s["connections"] == 2, s
    assert "JWKS from https://localhost:%d/" % tenant.port in res.log_text, res.logs


def test_app_with_its_own_signing_key(pam, tenant):
    # A claims-mapping app's tokens are signed by a key only discovery with ?appid= names: found
    # after the tenant's refreshed key set still lacks it, said in the log, cached on its own.
    res = pam.login("extidkiosk", emails=["appkey@example.com"])
    assert res.rc == PAM["SUCCESS"], res
    assert "ID token verified with the app's own signing key (from %s?appid=%s), not one of " \
           "the tenant's" % (tenant.jwks_uri, tenant.client_id) in res.log_text, res.logs
    s = tenant.stats()["requests"]
    assert s["discovery"] == 3 and s["jwks"] == 3, s  # tenant, tenant again, then the app's
    assert len([n for n in os.listdir(pam.cache_dir) if n.startswith("jwks-")]) == 2
    tenant.reset()
    # Next time the app's key set comes from the cache; only the tenant's refresh goes out.
    res = pam.login("extidkiosk", emails=["appkey@example.com"])
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.stats()["requests"]["jwks"] == 1
    # Tokens signed with the tenant's keys never need the app's key set.
    tenant.reset()
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    assert tenant.stats()["requests"]["jwks"] == 0


# ---- extid-check --login shows what the tenant really puts in the token ----

def wait_for_code(tenant, email, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        code = tenant.outbox(email)
        if code:
            return code
        time.sleep(0.05)
    raise AssertionError("no code was sent to %s" % email)


def check_login(pam, tenant, email, *args):
    """extid-check --login with the code typed once it was sent; returns the finished process
    with its stdout and stderr."""
    proc = subprocess.Popen([CHECK, "--config", pam.config_path, "--login", email] + list(args),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        code = wait_for_code(tenant, email)
        out, err = proc.communicate(code + "\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_no_leak(tenant.issued(), [out, err], "extid-check's output")
    return proc, out, err


def test_extid_check_login_shows_every_claim(pam, tenant):
    email = "carol@example.com"
    tenant.config(claims={email: {"roles": ["Admin", "Ops"], "groups": ["0a1b-group"]}})
    proc, out, err = check_login(pam, tenant, email)
    assert proc.returncode == 0, out + err
    assert "  claims of the verified token:\n" in out, out
    claims = dict(re.findall(r"^    (\S+) +(.*)$", out, re.M))
    assert claims["preferred_username"] == email and claims["aud"] == tenant.client_id
    assert claims["iss"] == tenant.issuer and claims["tid"] == tenant.tenant_id
    assert claims["roles"] == '["Admin","Ops"]' and claims["groups"] == '["0a1b-group"]'
    assert re.fullmatch(r"\d+ \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", claims["exp"]), claims
    # Whatever the tenant puts in the token is shown, email included when it is there.
    assert "email" not in claims and {"oid", "sub", "name", "ver", "uti", "nbf"} <= set(claims)


def test_extid_check_json_login_prints_one_object(pam, tenant):
    email = "dave@example.com"
    tenant.config(claims={email: {"roles": ["Reader"]}})
    proc, out, err = check_login(pam, tenant, email, "--json")
    assert proc.returncode == 0, out + err
    [line] = out.splitlines()  # stdout holds the object alone; the report is on stderr
    obj = json.loads(line)
    assert obj["result"] == "ok" and obj["login"] == email
    assert obj["claims"]["preferred_username"] == email and obj["claims"]["roles"] == ["Reader"]
    assert obj["claims"]["aud"] == tenant.client_id and isinstance(obj["claims"]["exp"], int)
    assert "claims of the verified token" in err and "result: ok" in err


def test_extid_check_json_failure_and_plain_check(pam, tenant):
    p = subprocess.run([CHECK, "--config", pam.config_path, "--json"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and json.loads(p.stdout) == {"result": "ok"}, p.stdout + p.stderr
    pam.write_config(client_id="0000aaaa-1111-4222-8333-444455556666")
    p = subprocess.run([CHECK, "--config", pam.config_path, "--json", "--login",
                        "erin@example.com"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert json.loads(p.stdout) == {"result": "failed", "claims": None}, p.stdout
