"""Limits that protect an address without locking its owner out: only codes Entra sent count
against send_limit, the failure budget (fail_limit wrong codes per address per send_window)
stops guessing before Entra's own lockout, a successful login clears it, and Entra's lockout
answer ends a login at once."""
import glob
import os
import re
import subprocess
import threading

from pamharness import PAM, ROOT, Outbox, write_old_events

CHECK = os.path.join(ROOT, "build", "extid-check")
WRONG = "00000000"
BAD_CLIENT = "00000000-0000-0000-0000-000000000000"
THROTTLED = re.compile(r"send throttle: (\d+ codes went|a code went)")


def state(pam, kind):
    return glob.glob(os.path.join(pam.cache_dir, kind + "-*"))


def test_a_failed_initiate_does_not_count_against_the_send_limit(pam, tenant):
    # A client_id typo: every login fails at /initiate and no code goes out. The log keeps
    # naming the typo, never the throttle, and once it is mended the address has its codes.
    pam.write_config(send_limit=1, send_gap=0, client_id=BAD_CLIENT)
    for _ in range(3):
        res = pam.login("extidalice")
        assert res.rc == PAM["SERVICE_ERR"], res
        assert "client_id" in res.log_text and not THROTTLED.search(res.log_text), res.logs
    assert tenant.sent("alice@example.com") == 0
    pam.write_config(client_id=tenant.client_id)
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    assert tenant.sent("alice@example.com") == 1
    res = pam.login("extidalice")  # now the one code of the window has gone out
    assert res.rc == PAM["AUTH_ERR"] and THROTTLED.search(res.log_text), res


def test_a_challenge_entra_refuses_does_not_count(pam, tenant):
    pam.write_config(send_limit=1, send_gap=0)
    for _ in range(2):
        res = pam.login("extidkiosk", emails=["challengeredirect@example.com"])
        assert res.rc == PAM["AUTH_ERR"], res
        assert not THROTTLED.search(res.log_text), res.logs
    assert tenant.stats()["requests"]["challenge"] == 2


def test_wrong_codes_spend_the_budget_then_no_request_goes_out(pam, tenant):
    pam.write_config(fail_limit=4, max_attempts=3)
    res = pam.login("extidalice", codes=[WRONG, WRONG, WRONG])
    assert res.rc == PAM["MAXTRIES"], res
    res = pam.login("extidalice", codes=[WRONG, WRONG])
    # The fourth wrong code spends the budget: the login ends there, told how long to wait.
    assert res.rc == PAM["AUTH_ERR"], res
    assert len(res.prompts("PROMPT_ECHO_OFF")) == 1, res
    assert any(re.match(r"Too many wrong codes for this address; wait \d+ minutes\.$", m)
               for m in res.messages("ERROR")), res
    assert "failure budget: 4 wrong codes or passwords for alice@example.com" in res.log_text
    tenant.reset()
    res = pam.login("extidalice")
    assert res.rc == PAM["AUTH_ERR"], res
    assert tenant.stats()["requests_total"] == 0  # refused before any request
    assert res.prompts() == [], res
    assert any("Too many wrong codes for this address" in m for m in res.messages("ERROR")), res
    assert not any("alice@example.com" in m for m in res.messages("ERROR")), res
    assert re.search(r"login refused: user=extidalice .* result=auth_err", res.log_text)
    # Another address has its own budget; letter case does not make a new one.
    assert pam.login("extidkiosk", emails=["bob@example.com"]).rc == PAM["SUCCESS"]
    res = pam.login("extidkiosk", emails=["ALICE@Example.COM"])
    assert res.rc == PAM["AUTH_ERR"] and "failure budget" in res.log_text, res


def test_codes_never_sent_to_entra_do_not_count(pam, tenant):
    pam.write_config(fail_limit=2, max_attempts=3)
    res = pam.login("extidalice", codes=["12", "abc", Outbox()])  # not 8 digits: not sent
    assert res.rc == PAM["SUCCESS"], res
    assert state(pam, "fails") == []


def test_a_successful_login_clears_the_budget(pam, tenant):
    pam.write_config(fail_limit=3, max_attempts=3)
    assert pam.login("extidalice", codes=[WRONG, WRONG, Outbox()]).rc == PAM["SUCCESS"]
    assert state(pam, "fails") == []
    # Without the clearing, the second of these would spend the budget.
    res = pam.login("extidalice", codes=[WRONG, WRONG, Outbox()])
    assert res.rc == PAM["SUCCESS"], res


def test_old_failures_leave_the_window(pam, tenant):
    pam.write_config(fail_limit=2, send_window=60)
    assert pam.login("extidalice", codes=[WRONG, WRONG]).rc == PAM["AUTH_ERR"]
    assert pam.login("extidalice").rc == PAM["AUTH_ERR"]
    [path] = state(pam, "fails")
    write_old_events(path, 2, 61)
    assert pam.login("extidalice").rc == PAM["SUCCESS"]


def test_fail_limit_zero_turns_the_budget_off(pam, tenant):
    pam.write_config(fail_limit=0, max_attempts=3)
    for _ in range(4):
        assert pam.login("extidalice", codes=[WRONG] * 3).rc == PAM["MAXTRIES"]
    assert state(pam, "fails") == []
    assert pam.login("extidalice").rc == PAM["SUCCESS"]


def test_fail_limit_is_checked_like_every_key(pam, tenant):
    pam.write_config(fail_limit=1001)
    res = pam.login("extidalice")
    assert res.rc == PAM["SERVICE_ERR"], res
    assert "fail_limit is 1001, outside 0..1000" in res.log_text, res.logs
    assert tenant.stats()["requests_total"] == 0


def test_an_unsafe_cache_dir_stops_the_budget_closed(pam, tenant):
    pam.write_config(fail_limit=3)
    assert pam.login("extidalice").rc == PAM["SUCCESS"]  # makes the cache directory
    os.chmod(pam.cache_dir, 0o777)
    try:
        res = pam.login("extidalice")
    finally:
        os.chmod(pam.cache_dir, 0o700)
    assert res.rc == PAM["SERVICE_ERR"], res
    assert tenant.stats()["requests"]["initiate"] == 1  # only the first login's


def test_entra_lockout_ends_the_login_at_once(pam, tenant):
    # Entra answers error_codes [50053]: no further code prompt, PAM_AUTH_ERR, the log says so.
    pam.write_config(max_attempts=3)
    res = pam.login("extidkiosk", emails=["locked@example.com"], codes=[WRONG, WRONG, WRONG])
    assert res.rc == PAM["AUTH_ERR"], res
    assert len(res.prompts("PROMPT_ECHO_OFF")) == 1, res
    assert tenant.stats()["requests"]["token"] == 1
    assert "locked at Entra" in res.log_text, res.logs
    assert "result=auth_err" in res.log_text


def test_the_budget_stops_guessing_before_entra_locks_the_account(pam, tenant):
    # Entra locks an address after 5 wrong codes; with fail_limit 4 nobody gets there through
    # this host, however many logins they start.
    tenant.config(lockout_after=5)
    try:
        pam.write_config(fail_limit=4, max_attempts=3)
        mark = pam.sink.mark()
        for _ in range(5):
            pam.login("extidalice", codes=[WRONG] * 3)
        assert tenant.stats()["requests"]["token"] == 4
        assert not any("locked at Entra" in l for l in pam.sink.since(mark))
    finally:
        tenant.config(lockout_after=0)


def test_extid_check_reset_clears_an_address(pam, tenant):
    # The administrator who used up the limits while setting up needs no hour of waiting.
    pam.write_config(send_limit=1, send_gap=0, fail_limit=2)
    assert pam.login("extidalice", codes=[WRONG, WRONG]).rc == PAM["AUTH_ERR"]
    res = pam.login("extidalice")
    assert res.rc == PAM["AUTH_ERR"], res
    assert state(pam, "sends") and state(pam, "fails")
    before = tenant.stats()["requests_total"]
    p = subprocess.run([CHECK, "--config", pam.config_path, "--reset", "Alice@Example.com"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "reset Alice@Example.com:\n  ok" in p.stdout and "result: ok" in p.stdout, p.stdout
    assert state(pam, "sends") == [] and state(pam, "fails") == []
    assert tenant.stats()["requests_total"] == before  # the reset made no request
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    p = subprocess.run([CHECK, "--config", pam.config_path, "--reset", "not-an-address"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr


def test_wrong_passwords_count_too(pam, tenant):
    # A password account's wrong passwords spend the same budget as wrong codes; its login sends
    # no code, so it leaves nothing counted against send_limit either.
    pam.write_config(methods="otp password", fail_limit=2, max_attempts=3, send_limit=5,
                     send_gap=0)
    email = "password@example.com"
    res = pam.login("extidkiosk", emails=[email], codes=["Wrong-1", "Wrong-2", tenant.password])
    assert res.rc == PAM["AUTH_ERR"], res
    assert len(res.prompts("PROMPT_ECHO_OFF")) == 2, res  # the second wrong one spent it
    assert "failure budget: 2 wrong codes or passwords for %s" % email in res.log_text
    tenant.reset()
    res = pam.login("extidkiosk", emails=[email], codes=[tenant.password])
    assert res.rc == PAM["AUTH_ERR"] and tenant.stats()["requests_total"] == 0, res
    # A password login sent no code: its send was given back, and no state is left behind.
    assert state(pam, "sends") == []


def test_a_throttled_check_login_points_at_reset(pam, tenant):
    pam.write_config(send_limit=1, send_gap=0)
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    p = subprocess.run([CHECK, "--config", pam.config_path, "--user", "extidalice", "--login",
                        "alice@example.com"], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "hint: extid-check --reset alice@example.com clears" in p.stdout, p.stdout
    assert THROTTLED.search(p.stderr), p.stderr


def test_logins_at_once_cannot_overrun_the_budget(pam, tenant):
    # Each secret is counted before it goes to Entra: however many logins guess at the same
    # time, no more than fail_limit wrong codes reach Entra in the window.
    pam.write_config(fail_limit=3, max_attempts=2)
    results = []

    def one():
        results.append(pam.login("extidalice", codes=[WRONG, WRONG]))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.rc in (PAM["AUTH_ERR"], PAM["MAXTRIES"]) for r in results), results
    assert tenant.stats()["requests"]["token"] == 3
    [path] = state(pam, "fails")
    with open(path) as f:
        assert len(f.read().split()) == 3


def test_a_code_refused_for_another_reason_is_given_back(pam, tenant):
    # /token refused the flow (expired), not the code: no wrong code, the count goes back.
    pam.write_config(fail_limit=1)
    res = pam.login("extidkiosk", emails=["expired@example.com"])
    assert res.rc == PAM["AUTH_ERR"], res
    assert tenant.stats()["requests"]["token"] == 1
    assert state(pam, "fails") == []  # given back to nothing: no state is left behind


def test_a_code_without_an_answer_keeps_counting(pam, tenant):
    # No verdict came back (503): Entra may have judged the code, so it counts.
    pam.write_config(fail_limit=1)
    tenant.config(fail_next={"endpoint": "token", "status": 503, "count": 10})
    try:
        res = pam.login("extidalice")
    finally:
        tenant.config(fail_next=None)
    assert res.rc == PAM["AUTHINFO_UNAVAIL"], res
    tenant.reset()
    res = pam.login("extidalice")
    assert res.rc == PAM["AUTH_ERR"] and tenant.stats()["requests_total"] == 0, res
