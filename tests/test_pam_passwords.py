"""Password accounts and second factors through real libpam (pam_client, a private PAM service
directory) against the mock tenant: what is asked, with which echo, what goes to Entra, what
comes back to PAM, and that the password shows up nowhere but in the one /token request.

Run as root: /usr/bin/python3 -m pytest -q tests/test_pam_passwords.py
"""
import os

import pytest

from pamharness import PAM, Outbox

WRONG = "Not-the-passw0rd-42"


@pytest.fixture
def pw(pam):
    """The harness with methods = otp password."""
    pam.write_config(methods="otp password")
    return pam


def login(pam, email, *answers, choices=()):
    return pam.login("extidkiosk", emails=[email] + list(choices), codes=list(answers))


def echo_off(res):
    return res.prompts("PROMPT_ECHO_OFF")


def test_password_account(pw, tenant):
    email = "password@example.com"
    res = login(pw, email, tenant.password)
    assert res.rc == PAM["SUCCESS"], res
    assert echo_off(res) == ["Password for %s: " % email]
    s = tenant.stats()["requests"]
    assert (s["initiate"], s["challenge"], s["token"], s["introspect"]) == (1, 1, 1, 0)
    assert tenant.sent(email) == 0
    assert "login granted: user=extidkiosk email=%s" % email in res.log_text


def test_wrong_password_then_right(pw, tenant):
    res = login(pw, "password@example.com", WRONG, tenant.password)
    assert res.rc == PAM["SUCCESS"], res
    assert res.messages("ERROR") == ["Wrong password, try again."]
    assert "password entry 1 of 3: wrong password" in res.log_text
    assert "error_code=50126" in res.log_text
    # The same continuation token was tried again: one initiate, one challenge.
    s = tenant.stats()["requests"]
    assert (s["initiate"], s["challenge"], s["token"]) == (1, 1, 2)


def test_wrong_passwords_max_attempts(pw, tenant):
    res = login(pw, "password@example.com", WRONG, WRONG + "x", WRONG + "y", tenant.password)
    assert res.rc == PAM["MAXTRIES"], res
    assert len(echo_off(res)) == 3
    assert res.messages("ERROR")[-1] == "Too many wrong passwords."
    assert tenant.issued()["passwords"] == [WRONG, WRONG + "x", WRONG + "y"]


def test_password_account_without_password_method(pam, tenant):
    # methods = otp (the default): Entra falls back to a browser; nothing is asked.
    res = login(pam, "password@example.com", "anything")
    assert res.rc == PAM["AUTH_ERR"], res
    assert echo_off(res) == []
    assert "redirect_reason: The user signs in with a password" in res.log_text
    assert tenant.issued()["passwords"] == []


def test_otp_account_with_both_methods_still_gets_a_code(pw, tenant):
    res = login(pw, "carol@example.com", Outbox())
    assert res.rc == PAM["SUCCESS"], res
    assert echo_off(res)[0].startswith("Code emailed to c***l@e*****e.com (8 digits")


@pytest.mark.parametrize("account,channel,prompt", [
    ("mfaemail", "email", "Code emailed to m***l@e*****e.com (8 digits; empty line for a new "
                          "code): "),
    ("mfasms", "sms", "Code texted to +1555"),
])
def test_password_then_second_factor(pw, tenant, account, channel, prompt):
    email = account + "@example.com"
    res = login(pw, email, tenant.password, Outbox())
    assert res.rc == PAM["SUCCESS"], res
    assert echo_off(res)[0] == "Password for %s: " % email
    assert echo_off(res)[1].startswith(prompt), res
    assert tenant.channel(email) == channel
    s = tenant.stats()["requests"]
    assert (s["initiate"], s["challenge"], s["token"], s["introspect"]) == (1, 2, 2, 1)
    assert "the account needs a second factor" in res.log_text


def test_second_factor_choice(pw, tenant):
    email = "mfaboth@example.com"
    res = login(pw, email, tenant.password, Outbox(email), choices=["7", "2"])
    assert res.rc == PAM["SUCCESS"], res
    choice = res.prompts("PROMPT_ECHO_ON")[1]
    assert choice.startswith("Second factor for %s: 1) email to m***h@e*****e.com, "
                             "2) text message to +1555" % email), choice
    assert choice.endswith(". Choose 1-2: ")
    assert len(res.prompts("PROMPT_ECHO_ON")) == 3  # the first answer was not a number offered
    assert "Answer with one of the numbers." in res.messages("ERROR")
    assert tenant.channel(email) == "sms" and tenant.sent(email) == 1


def test_second_factor_resend_and_wrong_code(pw, tenant):
    email = "mfasms@example.com"
    res = login(pw, email, tenant.password, "", "00000000", Outbox())
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.sent(email) == 2
    assert res.messages("ERROR") == ["Wrong code, try again."]
    assert "new code sent on request (1 of 2)" in res.log_text


def test_second_factor_wrong_codes_max_attempts(pw, tenant):
    res = login(pw, "mfaemail@example.com", tenant.password, "00000000", "11111111", "22222222")
    assert res.rc == PAM["MAXTRIES"], res
    assert res.messages("ERROR")[-1] == "Too many wrong codes."


def test_emailed_code_then_text_message(pam, tenant):
    # An email-OTP account that a policy requires a second factor of: SMS, with methods = otp.
    email = "mfa@example.com"
    res = login(pam, email, Outbox(), Outbox())
    assert res.rc == PAM["SUCCESS"], res
    assert echo_off(res)[0].startswith("Code emailed to")
    assert echo_off(res)[1].startswith("Code texted to +1555")
    assert tenant.channel(email) == "sms" and tenant.sent(email) == 2


def test_registration_needed_is_refused_with_the_reason(pw, tenant):
    res = login(pw, "mfareg@example.com", tenant.password, Outbox())
    assert res.rc == PAM["AUTH_ERR"], res
    assert res.messages("ERROR")[-1] == "Authentication failed."
    assert "redirect_reason: Client is missing registration_required capability" in res.log_text
    assert len(echo_off(res)) == 1 and tenant.sent("mfareg@example.com") == 0


def test_second_factor_counts_with_the_password_as_one_send(pw, tenant):
    pw.write_config(send_limit=1, send_gap=0)
    email = "mfaemail@example.com"
    res = login(pw, email, tenant.password, "", Outbox())
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.sent(email) == 1  # the resend was throttled, the first code still worked
    assert any("Too many codes were sent to this address" in m for m in res.messages("ERROR"))


def test_password_never_logged_nor_shown(pw, tenant, syslog):
    mark = syslog.mark()
    results = [login(pw, "password@example.com", WRONG, tenant.password),
               login(pw, "mfaboth@example.com", tenant.password, Outbox("mfaboth@example.com"),
                     choices=["1"]),
               login(pw, "password@example.com", WRONG, WRONG, WRONG)]
    assert [r.rc for r in results] == [PAM["SUCCESS"], PAM["SUCCESS"], PAM["MAXTRIES"]]
    texts = syslog.since(mark) + pw.stderr_all
    for r in results:
        texts += [t for _, t in r.transcript]
    assert any("debug" in t or "http:" in t for t in texts)  # the verbose logs were on
    for secret in (WRONG, tenant.password):
        assert not [t for t in texts if secret in t]


def test_password_is_no_pam_item(pw, tenant, tmp_path):
    # A module after ours that wants PAM_AUTHTOK: if ours had set it, pam_exec would hand it to
    # tee; since it did not, pam_exec asks for one itself (a prompt the harness does not answer).
    out = os.path.join(str(tmp_path), "authtok")
    pw.write_service(control="required",
                     after="auth optional pam_exec.so expose_authtok quiet /usr/bin/tee %s\n"
                           % out)
    res = login(pw, "password@example.com", tenant.password)
    assert res.rc == PAM["SUCCESS"], res
    assert len(echo_off(res)) == 2, res  # ours, then pam_exec's own question
    assert not os.path.exists(out) or tenant.password not in open(out).read()


def test_silent_wrong_password_told_inside_the_next_prompt(pw, tenant):
    # sudo asks for silence: what would have been shown travels inside the next prompt.
    res = pw.login("extidkiosk", emails=["password@example.com"],
                   codes=[WRONG, tenant.password], silent=True)
    assert res.rc == PAM["SUCCESS"], res
    assert res.messages("ERROR") == [] and res.messages("INFO") == []
    first, second = echo_off(res)
    assert first == "Password for password@example.com: "
    assert second == "Wrong password, try again. Password for password@example.com: ", res


def test_wrong_passwords_spend_the_failure_budget(pw, tenant):
    # Wrong passwords count against the address like wrong codes: once fail_limit are spent,
    # the next login is refused before any request to Entra.
    pw.write_config(fail_limit=2)
    res = login(pw, "password@example.com", WRONG, WRONG + "x", tenant.password)
    assert res.rc != PAM["SUCCESS"], res
    tenant.reset()
    res = login(pw, "password@example.com", tenant.password)
    assert res.rc == PAM["AUTH_ERR"], res
    assert echo_off(res) == [], res
    assert tenant.stats()["requests_total"] == 0
