"""What the module asks of Entra and what it accepts back, where a real tenant differs from the
simplest mock: the scopes of the token request, through the real pam_extid.so and libpam."""
import os
import subprocess
from urllib.parse import urlsplit

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
