"""The per-identity send throttle: knowing an address must not let anyone flood its inbox."""
import fcntl
import glob
import hashlib
import os
import threading
import time

import pytest

from pamharness import PAM, Outbox, write_old_events

pytestmark = pytest.mark.system


def state_files(pam):
    return glob.glob(os.path.join(pam.cache_dir, "sends-*"))


def lock_path(pam, email):
    """The lock bucket of email: one of 256, by the first byte of its key."""
    key = hashlib.sha256(email.lower().encode()).hexdigest()
    return os.path.join(pam.cache_dir, "lock-sends-%s" % key[:2])


def test_default_gap_refuses_an_immediate_second_code(pam, tenant):
    pam.write_config(send_limit=None)  # the defaults: 5 codes an hour, 10 s apart
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    tenant.reset()
    res = pam.login("extidalice")
    assert res.rc == PAM["AUTH_ERR"], res
    assert tenant.stats()["requests_total"] == 0  # refused before any network call
    assert any("Too many codes" in m and "seconds" in m for m in res.messages("ERROR")), res
    # The address comes from the users file: an unauthenticated caller must not learn it.
    assert not any("alice@example.com" in m for m in res.messages("ERROR")), res
    assert res.prompts() == []
    assert "send throttle" in res.log_text and "login refused" in res.log_text


def test_limit_per_window_counts_resends(pam, tenant):
    pam.write_config(send_limit=3, send_gap=0)
    res = pam.login("extidalice", codes=["", Outbox()])  # two codes
    assert res.rc == PAM["SUCCESS"], res
    assert pam.login("extidalice").rc == PAM["SUCCESS"]  # the third
    tenant.reset()
    res = pam.login("extidalice")
    assert res.rc == PAM["AUTH_ERR"], res
    assert any("minutes" in m for m in res.messages("ERROR")), res
    assert tenant.stats()["requests_total"] == 0
    # Another identity has its own count; case does not make a new identity.
    assert pam.login("extidkiosk", emails=["bob@example.com"]).rc == PAM["SUCCESS"]
    res = pam.login("extidkiosk", emails=["ALICE@Example.COM"])
    assert res.rc == PAM["AUTH_ERR"], res


def test_throttled_resend_keeps_current_code(pam, tenant):
    pam.write_config(send_limit=1, send_gap=0)
    res = pam.login("extidalice", codes=["", Outbox()])
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.sent("alice@example.com") == 1
    assert any("Too many codes" in m for m in res.messages("ERROR")), res


def test_old_sends_leave_the_window(pam, tenant):
    pam.write_config(send_limit=2, send_gap=0, send_window=60)
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    assert pam.login("extidalice").rc == PAM["AUTH_ERR"]
    [path] = state_files(pam)
    write_old_events(path, 2, 61)
    assert pam.login("extidalice").rc == PAM["SUCCESS"]


def test_corrupt_state_is_logged_and_replaced(pam, tenant):
    pam.write_config(send_limit=2, send_gap=0)
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    [path] = state_files(pam)
    with open(path, "w") as f:
        f.write("garbage\x00\n")
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    assert "corrupt" in res.log_text
    with open(path) as f:
        assert f.read().count("\n") == 1


def test_unsafe_state_file_is_not_trusted(pam, tenant):
    pam.write_config(send_limit=1, send_gap=0)
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    [path] = state_files(pam)
    os.chmod(path, 0o666)  # someone else could have emptied it: its sends are not believed...
    res = pam.login("extidalice")
    # ...and the write replaces it with a safe file holding this send.
    assert res.rc == PAM["SUCCESS"], res
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert pam.login("extidalice").rc == PAM["AUTH_ERR"]


def test_concurrent_logins_share_the_limit(pam, tenant):
    pam.write_config(send_limit=3, send_gap=0)
    results = []

    def one():
        # Hang up at the code prompt: only whether a code was sent matters here.
        results.append(pam.login("extidalice", codes=[]))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [r for r in results if r.rc == PAM["CONV_ERR"] and r.prompts("PROMPT_ECHO_OFF")]
    refused = [r for r in results if r.rc == PAM["AUTH_ERR"]
               and any("Too many codes" in m for m in r.messages("ERROR"))]
    assert len(sent) == 3 and len(refused) == 5, results
    assert tenant.sent("alice@example.com") == 3
    assert tenant.stats()["requests"]["challenge"] == 3
    assert not glob.glob(os.path.join(pam.cache_dir, "*.tmp*"))


def test_a_held_lock_stalls_only_its_own_address_and_not_forever(pam, tenant):
    # A login stopped while it holds its address's lock (a set-uid su or sudo its caller sent
    # SIGSTOP to) must neither block logins for other addresses nor hang its own. (bob's
    # address falls in another of the 256 buckets than alice's.)
    assert lock_path(pam, "bob@example.com") != lock_path(pam, "alice@example.com")
    pam.write_config(send_limit=5, send_gap=0)
    assert pam.login("extidalice").rc == PAM["SUCCESS"]  # makes the cache directory
    fd = os.open(lock_path(pam, "alice@example.com"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        res = pam.login("extidkiosk", emails=["bob@example.com"])
        assert res.rc == PAM["SUCCESS"], res
        tenant.reset()
        started = time.time()
        res = pam.login("extidalice")
        elapsed = time.time() - started
    finally:
        os.close(fd)
    assert res.rc == PAM["SYSTEM_ERR"], res
    assert elapsed < 30, elapsed
    assert "stayed locked by another login for 3000 ms" in res.log_text, res.logs
    assert tenant.stats()["requests_total"] == 0
    assert pam.login("extidalice").rc == PAM["SUCCESS"]


@pytest.mark.slow
def test_lock_files_stay_few_whatever_strangers_type(pam, tenant):
    # Every typed address gets its own small state file, but locks come from 256 buckets: 40
    # addresses make 40 state files and at most 40 lock files, and never a lock per address
    # beyond 256.
    pam.write_config(send_limit=5, send_gap=0)
    for i in range(40):
        pam.login("extidkiosk", emails=["probe%02d@example.com" % i], codes=[])
    locks = glob.glob(os.path.join(pam.cache_dir, "lock-sends-*"))
    assert len(state_files(pam)) == 40
    assert 0 < len(locks) <= 40
    for path in locks:
        assert len(os.path.basename(path)) == len("lock-sends-") + 2, path
