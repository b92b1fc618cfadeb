"""Entra's answers that mean the app registration or the tenant is set up wrong, through the real
pam_extid.so and libpam against the mock tenant: PAM_SERVICE_ERR for everyone, and a log line
(without debug) that names the setting to change and quotes the first line of Entra's own
description. Also the answers an administrator must see without debug: redirect_reason and an
account locked at Entra."""
import json
import os
import re
import subprocess

import pytest

from pamharness import PAM, ROOT

OTHER_CLIENT_ID = "0000aaaa-1111-4222-8333-444455556666"


@pytest.fixture
def quiet(pam):
    """The module without debug: what an administrator sees by default."""
    pam.flags = []
    pam.write_config()
    return pam


def refusal_line(res, endpoint):
    [line] = [l for l in res.logs if re.search(r"\b%s: HTTP \d+: " % endpoint, l)]
    return line


def test_unknown_client_id_names_the_typo(quiet, tenant):
    quiet.write_config(client_id=OTHER_CLIENT_ID)
    res = quiet.login("extidalice")
    assert res.rc == PAM["SERVICE_ERR"], res
    line = refusal_line(res, "initiate")
    assert "this client_id does not exist in this tenant: set client_id to the app " \
           "registration's Application (client) ID" in line, line
    assert "error_code=700016" in line
    # Entra's own words, first line only: the trace lines of the description are not repeated.
    assert "Entra says: \"AADSTS700016: Application with identifier '%s' was not found" \
           % OTHER_CLIENT_ID in line, line
    assert "Trace ID:" not in line and "??" not in line, line
    assert tenant.stats()["requests"]["challenge"] == 0  # no code went out
    assert any("Sign-in is not available" in m for m in res.messages("ERROR")), res


def test_client_id_that_is_not_a_guid_never_reaches_entra(quiet, tenant):
    quiet.write_config(client_id="my-app-registration")
    res = quiet.login("extidalice")
    assert res.rc == PAM["SERVICE_ERR"], res
    assert tenant.stats()["requests_total"] == 0
    assert "client_id must be the app registration's Application (client) ID, a GUID" \
        in res.log_text, res.logs


def test_unknown_tenant_is_a_configuration_error(quiet, tenant):
    quiet.write_config(authority=tenant.authority.replace(tenant.tenant_name, "nosuchtenant"))
    res = quiet.login("extidalice")
    assert res.rc == PAM["SERVICE_ERR"], res
    line = refusal_line(res, "initiate")
    assert "tenant not found: check tenant (or authority)" in line, line
    assert "error=invalid_tenant" in line and "error_code=90002" in line, line
    assert "Entra says: \"AADSTS90002: Tenant 'nosuchtenant.onmicrosoft.com' not found." \
        in line, line


def test_missing_admin_consent_is_a_configuration_error(quiet, tenant):
    res = quiet.login("extidkiosk", emails=["noconsent@example.com"])
    assert res.rc == PAM["SERVICE_ERR"], res
    line = refusal_line(res, "token")
    assert "consent missing: in the app registration's API permissions add the delegated " \
           "permissions openid and profile" in line, line
    assert "grant admin consent" in line and "error_code=65001" in line, line
    assert "Entra says: \"AADSTS65001: The user or administrator has not consented" in line
    assert len(res.prompts("PROMPT_ECHO_OFF")) == 1  # no second code prompt


def test_native_auth_disabled_names_the_switch(quiet, tenant):
    res = quiet.login("extidkiosk", emails=["disabled@example.com"])
    assert res.rc == PAM["SERVICE_ERR"], res
    line = refusal_line(res, "initiate")
    assert "native authentication is off for this app: in the app registration set " \
           "Authentication > Advanced settings > Enable native authentication to Yes" in line
    assert "Entra says: \"AADSTS550026: Native authentication is not enabled" in line, line


def test_user_refusals_keep_entra_text_out_of_the_log(quiet, tenant):
    # Per-person refusals are not misconfiguration: Entra's description stays a debug line.
    res = quiet.login("extidkiosk", emails=["unknown@example.com"])
    assert res.rc == PAM["AUTH_ERR"], res
    assert "Entra says" not in res.log_text and "AADSTS50034" not in res.log_text, res.logs


def test_redirect_reason_is_logged_without_debug(quiet, tenant):
    res = quiet.login("extidkiosk", emails=["tokenredirect@example.com"])
    assert res.rc == PAM["AUTH_ERR"], res
    assert re.search(r"token: redirect_reason: Client is missing registration_required "
                     r"capability", res.log_text), res.logs


def test_account_locked_at_entra_ends_the_login(quiet, tenant):
    res = quiet.login("extidkiosk", emails=["locked@example.com"], codes=["12345678"] * 3)
    assert res.rc == PAM["AUTH_ERR"], res
    assert len(res.prompts("PROMPT_ECHO_OFF")) == 1, res  # no further code prompts
    line = refusal_line(res, "token")
    assert "the account is locked at Entra" in line and "error_code=50053" in line, line
    assert tenant.stats()["requests"]["token"] == 1


# ---- extid-check finds a wrong client_id without emailing anyone ----

CHECK = os.path.join(ROOT, "build", "extid-check")


def check(pam, *args):
    return subprocess.run([CHECK, "--config", pam.config_path] + list(args),
                          capture_output=True, text=True, timeout=120)


def test_extid_check_disproves_a_wrong_client_id(pam, tenant):
    pam.write_config(client_id=OTHER_CLIENT_ID)
    p = check(pam)
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(r"app registration %s:\n(  .*\n)*  FAILED: initiate: HTTP 400: this "
                     r"client_id does "
                     r"not exist in this tenant" % OTHER_CLIENT_ID, p.stdout), p.stdout
    assert p.stdout.rstrip().endswith("result: FAILED")
    s = tenant.stats()["requests"]
    assert s["initiate"] == 1 and s["challenge"] == 0, s  # nobody was emailed


def test_extid_check_proves_the_client_id_with_a_reserved_address(pam, tenant):
    p = check(pam)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok: the tenant knows this client_id and allows it native authentication (asked " \
           "about extid-check@client-id-probe.invalid; no code was sent)" in p.stdout, p.stdout
    assert tenant.sent("extid-check@client-id-probe.invalid") == 0


def test_extid_check_disabled_native_auth_fails(pam, tenant):
    # The app exists but Entra refuses it native authentication: named, and the check fails.
    tenant.config(fail_next={"endpoint": "initiate", "status": 400, "content_type":
                             "application/json", "body": json.dumps({
                                 "error": "invalid_client", "suberror": "nativeauthapi_disabled",
                                 "error_codes": [550026], "error_description":
                                 "AADSTS550026: Native authentication is not enabled.\r\n"
                                 "Trace ID: x"})})
    p = check(pam)
    assert p.returncode == 1, p.stdout
    assert "FAILED: initiate: HTTP 400: native authentication is off for this app" in p.stdout


def test_extid_check_says_when_the_client_id_was_not_checked(pam, tenant):
    tenant.config(fail_next={"endpoint": "initiate", "status": 503})
    p = check(pam)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"app registration .*:\n(  .*\n)*  client_id not checked: initiate: HTTP 503",
                     p.stdout), p.stdout
