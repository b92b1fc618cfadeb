"""Secret hygiene (SECURITY.md): with `debug` on, no code, password, continuation token, access,
refresh or ID token ever reaches syslog, the client's stderr or what the person is shown, on
success and on every kind of failure; and the source frees secrets only through wiping."""
import glob
import os
import re

import pytest

from hygiene import MIN_PIECE, find_leaks
from pamharness import PAM, ROOT, Outbox

WRONG = "00000000"


def run_paths(pam, tenant):
    """Logins over success and failure paths; returns their results."""
    results = []

    def login(*a, **kw):
        results.append(pam.login(*a, **kw))
        return results[-1]

    def remember_then_resend(t, email):
        return ""

    assert login("extidalice").rc == PAM["SUCCESS"]
    assert login("extidalice", codes=[WRONG, Outbox()]).rc == PAM["SUCCESS"]
    assert login("extidalice", codes=[remember_then_resend, Outbox()]).rc == PAM["SUCCESS"]
    assert login("extidalice", codes=["12ab5678", Outbox()]).rc == PAM["SUCCESS"]
    assert login("extidalice", codes=[WRONG, WRONG, WRONG]).rc == PAM["MAXTRIES"]
    assert login("extidalice", codes=[]).rc == PAM["CONV_ERR"]  # abort at the code prompt
    for scenario in ["forged", "algnone", "hs256", "unknownkid", "wrongaud", "wrongiss",
                     "otheruser", "expiredtoken", "noidtoken", "expstring"]:
        assert login("extidkiosk", emails=["%s@example.com" % scenario]).rc == PAM["AUTH_ERR"]
    for scenario in ["expired", "password", "tokenredirect", "unknown"]:
        assert login("extidkiosk", emails=["%s@example.com" % scenario]).rc == PAM["AUTH_ERR"]
    # A second factor: mfa_required answers 400 with a fresh continuation token in the error
    # body, introspect and the second challenge hand out more; a password, right and wrong.
    mfa = "mfa@example.com"
    assert login("extidkiosk", emails=[mfa], codes=[Outbox(mfa), WRONG, Outbox(mfa)]).rc \
        == PAM["SUCCESS"]
    pam.write_config(methods="otp password")
    for account in ["password", "mfaboth"]:
        email = "%s@example.com" % account
        assert login("extidkiosk", emails=[email, "2"],
                     codes=["Wrong-passw0rd-for-hygiene", tenant.password, Outbox(email)]).rc \
            == PAM["SUCCESS"]
    pam.write_config(methods="otp")
    for scenario in ["badjson", "hugebody", "servererror", "busy"]:
        assert login("extidkiosk",
                     emails=["%s@example.com" % scenario]).rc == PAM["AUTHINFO_UNAVAIL"]
    tenant.config(fail_next={"endpoint": "token", "status": 500})
    assert login("extidalice").rc == PAM["AUTHINFO_UNAVAIL"]
    pam.write_config(timeout=1)
    tenant.config(slow_seconds=2.5)
    assert login("extidkiosk", emails=["slow@example.com"]).rc == PAM["AUTHINFO_UNAVAIL"]
    return results


def texts_of(res):
    return res.logs + [t for _, t in res.transcript]


@pytest.mark.system
def test_no_secret_in_logs_stderr_or_prompts(pam, tenant, syslog):
    mark = syslog.mark()
    results = run_paths(pam, tenant)
    issued = tenant.issued()
    # The check must have had something to look for, or it proves nothing.
    assert len(issued["codes"]) >= 10, issued
    assert len(issued["continuation_tokens"]) >= 30
    assert len(issued["id_tokens"]) >= 10 and len(issued["access_tokens"]) >= 10
    assert len(issued["refresh_tokens"]) >= 10
    assert len(issued["passwords"]) >= 4
    # Debug was on: the logs are the verbose ones, where a leak would show.
    logs = syslog.since(mark)
    assert any("debug" in line.lower() or "http:" in line for line in logs), logs[:5]
    assert len(logs) > 50
    texts = logs + pam.stderr_all
    for res in results:
        texts += texts_of(res)
    leaks = find_leaks(issued, texts)
    assert not leaks, "leaked: %s %r in %r" % (leaks[0][0], leaks[0][1], leaks[0][2])


@pytest.mark.system
def test_the_check_finds_a_planted_secret(pam, tenant):
    """The search itself works: a code, a token, a truncated token and a JWT payload placed in a
    log line are all found."""
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    issued = tenant.issued()
    code = issued["codes"][0]
    ct = issued["continuation_tokens"][0]
    idt = issued["id_tokens"][0]
    assert find_leaks(issued, ["pam_extid: sent oob=%s" % code])
    assert find_leaks(issued, ["token %s..." % ct[:MIN_PIECE]])
    assert find_leaks(issued, ["claims: %s" % idt.split(".")[1]])
    assert find_leaks(issued, ["login granted: user=extidalice email=alice@example.com"]) == []


SECRET_NAME = re.compile(r"code|token|continuation|oob|secret|answer|password|resp\b", re.I)
FREE_CALL = re.compile(r"(?<![\w])(free|curl_free|cJSON_free)\(([^()]*)\)")


def unwiped_frees(text):
    """Lines that free something named like a secret without wiping it just before."""
    lines = text.splitlines()
    bad = []
    for i, line in enumerate(lines):
        for m in FREE_CALL.finditer(line):
            arg = m.group(2).strip()
            if not SECRET_NAME.search(arg):
                continue
            before = "\n".join(lines[max(0, i - 3):i + 1])
            if "explicit_bzero(%s" % arg not in before:
                bad.append("%d: %s" % (i + 1, line.strip()))
    return bad


def test_secrets_are_freed_only_with_wiping():
    files = sorted(glob.glob(os.path.join(ROOT, "src", "*.c"))) + [
        os.path.join(ROOT, "pam_extid.c")]
    bad = []
    for path in files:
        with open(path) as f:
            bad += ["%s:%s" % (os.path.basename(path), b) for b in unwiped_frees(f.read())]
    assert not bad, "secrets freed without explicit_bzero / extid_free_secret:\n" + "\n".join(bad)


@pytest.mark.parametrize("snippet,flagged", [
    ("free(code);", True),
    ("free(ch->continuation_token);", True),
    ("free(password);", True),
    ("extid_free_secret(password);", False),
    ("explicit_bzero(code, strlen(code));\nfree(code);", False),
    ("extid_free_secret(code);", False),
    ("free(email);", False),
])
def test_the_wiping_check_itself(snippet, flagged):
    assert bool(unwiped_frees(snippet)) == flagged
