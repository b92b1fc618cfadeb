"""SSH login with an emailed code: the real OpenSSH sshd (keyboard-interactive through PAM, the
module loaded from a private service directory mounted over /etc/pam.d for sshd alone) and the
real ssh client on a pty, against the mock tenant. Also the two-factor form (a key first, then
the code), the shipped sshd drop-in, and the shipped fallback to the local password."""
import os
import pwd
import re
import subprocess

import pytest

from e2e_support import (WRONG_CODE, E2EModule, assert_one_code_prompt, converse_to_end,
                         spawn_ssh, ssh_login, write_fallback_stack)

pytestmark = [pytest.mark.system, pytest.mark.slow]

USER = "extide2e1"          # keyboard-interactive only; one mapped address
EMAIL = "alice@example.com"
UNMAPPED = "extide2e2"      # a local account that the users file does not name
USER_2FA = "extide2e3"      # publickey,keyboard-interactive
EMAIL_2FA = "bob@example.com"
USER_ANY = "extide2e4"      # any address of a domain: the address is asked for


@pytest.fixture(scope="module")
def ssh_env(tmp_path_factory, tenant, syslog):
    with E2EModule(tmp_path_factory, tenant, syslog, "e2e-ssh") as env:
        env.add_user(USER)
        env.add_user(UNMAPPED, home=True)  # a key-only account, as automation has
        env.add_user(USER_2FA, home=True)  # sshd reads authorized_keys from the home
        env.add_user(USER_ANY)
        env.pam_setup("sshd", "%s %s\n%s %s\n%s *@example.com\n"
                      % (USER, EMAIL, USER_2FA, EMAIL_2FA, USER_ANY))
        env.key = os.path.join(env.work, "client_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", env.key],
                       check=True)
        install_authorized_key(USER_2FA, env.key + ".pub")
        install_authorized_key(UNMAPPED, env.key + ".pub")
        env.start_sshd([USER, UNMAPPED, USER_2FA, USER_ANY],
                       extra="Match User %s\n"
                             "    AuthenticationMethods publickey,keyboard-interactive\n"
                             % USER_2FA)
        yield env


def install_authorized_key(user, pubkey):
    """~user/.ssh/authorized_keys, owned by the user, as sshd's StrictModes wants."""
    pw = pwd.getpwnam(user)
    ssh_dir = os.path.join(pw.pw_dir, ".ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    dest = os.path.join(ssh_dir, "authorized_keys")
    with open(pubkey) as src, open(dest, "w") as f:
        f.write(src.read())
    os.chmod(dest, 0o600)
    for path in (ssh_dir, dest):
        os.chown(path, pw.pw_uid, pw.pw_gid)


@pytest.fixture
def ssh(ssh_env):
    return ssh_env.fresh()


def latest_code(tenant, email):
    def answer(_n):
        code = tenant.outbox(email)
        assert code, "the tenant emailed no code to %s" % email
        return code
    return answer


def sshd_log(ssh):
    return ssh.sshd.log_since(ssh.sshd_mark)


def test_ssh_login_with_emailed_code(ssh, tenant):
    res = ssh_login(ssh.sshd.port, USER, "id", latest_code(tenant, EMAIL))
    assert res.rc == 0, res
    assert re.search(r"uid=\d+\(%s\)" % USER, res.output), res
    # Only the code is asked: the users file names one address.
    assert res.email_prompts == 0, res
    assert_one_code_prompt(res, EMAIL)
    assert res.code_prompts[0][1] != EMAIL, res  # masked
    assert ssh.sshd.wait_log("Accepted keyboard-interactive/pam for %s" % USER, ssh.sshd_mark)
    # One login, one email.
    assert tenant.sent(EMAIL) == 1
    s = tenant.stats()
    assert s["requests"]["initiate"] == 1 and s["requests"]["challenge"] == 1, s
    assert s["requests"]["token"] == 1, s
    logs = ssh.logs()
    assert re.search(r"login granted: user=%s email=%s rhost=127\.0\.0\.1 service=sshd"
                     % (USER, re.escape(EMAIL)), logs), logs
    code = tenant.outbox(EMAIL)
    assert code not in logs and code not in sshd_log(ssh)


def test_ssh_login_with_typed_address(ssh, tenant):
    # The module's own thread makes the connection while the address is typed, inside sshd's
    # PAM process; the login then needs no other connection.
    email = "carol@example.com"
    res = ssh_login(ssh.sshd.port, USER_ANY, "id", latest_code(tenant, email), email=email)
    assert res.rc == 0, res
    assert re.search(r"uid=\d+\(%s\)" % USER_ANY, res.output), res
    assert res.email_prompts == 1, res
    assert_one_code_prompt(res, email)
    s = tenant.stats()
    assert (s["connections"], s["tls_handshakes"]) == (1, 1), s
    logs = ssh.logs()
    assert "went out on the connection opened during the prompt" in logs, logs
    assert "login granted: user=%s email=%s" % (USER_ANY, email) in logs, logs


def test_ssh_wrong_code_refused(ssh, tenant):
    res = ssh_login(ssh.sshd.port, USER, "id", lambda n: WRONG_CODE)
    assert res.rc == 255, res
    assert "uid=" not in res.output, res
    assert "Permission denied" in res.output, res
    # Every entry was refused by the tenant (max_attempts, default 3), then sshd gave up.
    assert len(res.code_prompts) == 3, res
    assert "Wrong code" in res.output, res
    assert tenant.stats()["requests"]["token"] == 3
    assert tenant.sent(EMAIL) == 1  # retries reuse the one code that was sent
    assert ssh.sshd.wait_log("Failed keyboard-interactive/pam for %s" % USER, ssh.sshd_mark)
    assert "Accepted keyboard-interactive/pam for %s" % USER not in sshd_log(ssh)
    logs = ssh.logs()
    assert "login refused: user=%s email=%s" % (USER, EMAIL) in logs, logs
    assert "login granted" not in logs, logs


def test_ssh_unmapped_account_refused_without_network(ssh, tenant):
    res = ssh_login(ssh.sshd.port, UNMAPPED, "id", lambda n: WRONG_CODE)
    assert res.rc == 255, res
    assert "uid=" not in res.output, res
    assert res.code_prompts == [] and res.email_prompts == 0, res
    assert tenant.stats()["requests_total"] == 0
    assert ssh.sshd.wait_log("Failed keyboard-interactive/pam for %s" % UNMAPPED, ssh.sshd_mark)
    assert "Accepted keyboard-interactive" not in sshd_log(ssh)
    logs = ssh.logs()
    assert "account %s is not in" % UNMAPPED in logs, logs


def test_ssh_key_only_account_keeps_logging_in_with_its_key(ssh, tenant):
    # The drop-in adds the code; it must not shut out an account that logs in with a key alone.
    res = ssh_login(ssh.sshd.port, UNMAPPED, "id", lambda n: WRONG_CODE, key=ssh.key,
                    methods="publickey")
    assert res.rc == 0, res
    assert re.search(r"uid=\d+\(%s\)" % UNMAPPED, res.output), res
    assert res.code_prompts == [] and res.email_prompts == 0, res
    assert ssh.sshd.wait_log("Accepted publickey for %s" % UNMAPPED, ssh.sshd_mark)
    assert tenant.stats()["requests_total"] == 0


def test_ssh_empty_answer_sends_one_more_code(ssh, tenant):
    first = {}

    def answers(n):
        if n == 1:
            first["code"] = tenant.outbox(EMAIL)
            return ""  # asks for a new code
        return tenant.outbox(EMAIL)

    res = ssh_login(ssh.sshd.port, USER, "id", answers)
    assert res.rc == 0, res
    assert len(res.code_prompts) == 2, res
    assert tenant.sent(EMAIL) == 2
    assert tenant.outbox(EMAIL) != first["code"]


def test_ssh_two_factor_key_alone_is_not_enough(ssh, tenant):
    res = ssh_login(ssh.sshd.port, USER_2FA, "id", lambda n: WRONG_CODE, key=ssh.key,
                    methods="publickey")
    assert res.rc == 255, res
    assert "uid=" not in res.output and res.code_prompts == [], res
    assert "Permission denied (keyboard-interactive)" in res.output, res
    assert ssh.sshd.wait_log("Partial publickey for %s" % USER_2FA, ssh.sshd_mark), sshd_log(ssh)
    assert not re.search(r"Accepted (publickey|keyboard-interactive)", sshd_log(ssh))
    assert tenant.stats()["requests_total"] == 0


def test_ssh_two_factor_code_alone_is_not_enough(ssh, tenant):
    res = ssh_login(ssh.sshd.port, USER_2FA, "id", latest_code(tenant, EMAIL_2FA))
    assert res.rc == 255, res
    assert "uid=" not in res.output and res.code_prompts == [], res
    assert "Permission denied (publickey)" in res.output, res
    assert tenant.stats()["requests_total"] == 0


def test_ssh_two_factor_key_and_code(ssh, tenant):
    res = ssh_login(ssh.sshd.port, USER_2FA, "id", latest_code(tenant, EMAIL_2FA), key=ssh.key)
    assert res.rc == 0, res
    assert re.search(r"uid=\d+\(%s\)" % USER_2FA, res.output), res
    assert_one_code_prompt(res, EMAIL_2FA)
    log = sshd_log(ssh)
    assert "Partial publickey for %s" % USER_2FA in log, log
    assert ssh.sshd.wait_log("Accepted keyboard-interactive/pam for %s" % USER_2FA,
                             ssh.sshd_mark), sshd_log(ssh)
    assert tenant.sent(EMAIL_2FA) == 1
    logs = ssh.logs()
    assert "login granted: user=%s email=%s" % (USER_2FA, EMAIL_2FA) in logs, logs


# ---------------------------------------------------------------------------------------------
# conf/pam.d-sshd, variant B: the local password as fallback only while Entra is unreachable.

FB_USER = "extide2e6"
FB_PASSWORD = "Fallback-Pw-4711"
PASSWORD_PROMPT = re.compile(r"Password: ")


@pytest.fixture(scope="module")
def fallback_env(tmp_path_factory, tenant, syslog):
    with E2EModule(tmp_path_factory, tenant, syslog, "e2e-ssh-fallback") as env:
        env.add_user(FB_USER, password=FB_PASSWORD)
        write_fallback_stack(env.pam_setup("sshd", ""), "sshd", "pam.d-sshd")
        env.start_sshd([FB_USER])
        yield env


@pytest.fixture
def fallback(fallback_env):
    return fallback_env.fresh()


def fallback_login(fb, answer_code):
    """ssh as FB_USER; answers the code prompts, and a password prompt with FB_PASSWORD."""
    res = converse_to_end(spawn_ssh(fb.sshd.port, FB_USER, "id"), answer_code,
                          stops=[PASSWORD_PROMPT],
                          on_stop=lambda child, conv: child.sendline(FB_PASSWORD))
    res.password_asked = res.stop == 0
    return res


def test_fallback_password_while_entra_is_unavailable(fallback, tenant):
    fallback.pam.write_users("%s unavailable@example.com\n" % FB_USER)  # the tenant answers 503
    res = fallback_login(fallback, lambda n: WRONG_CODE)
    assert res.password_asked and res.code_prompts == [], res
    assert res.rc == 0 and re.search(r"uid=\d+\(%s\)" % FB_USER, res.output), res
    assert tenant.stats()["requests"]["initiate"] == 1
    assert fallback.sshd.wait_log("Accepted keyboard-interactive/pam for %s" % FB_USER,
                                  fallback.sshd_mark)


def test_fallback_not_offered_after_a_wrong_code(fallback, tenant):
    fallback.pam.write_users("%s dave@example.com\n" % FB_USER)
    res = fallback_login(fallback, lambda n: WRONG_CODE)
    assert not res.password_asked, res  # default=die: a wrong code ends the login
    assert res.rc == 255 and "uid=" not in res.output, res
    assert len(res.code_prompts) == 3 and tenant.stats()["requests"]["token"] == 3, res
    assert fallback.sshd.wait_log("Failed keyboard-interactive/pam for %s" % FB_USER,
                                  fallback.sshd_mark)


def test_fallback_right_code_needs_no_password(fallback, tenant):
    fallback.pam.write_users("%s dave@example.com\n" % FB_USER)
    res = fallback_login(fallback, latest_code(tenant, "dave@example.com"))
    assert not res.password_asked, res  # success=done
    assert res.rc == 0 and re.search(r"uid=\d+\(%s\)" % FB_USER, res.output), res


def test_throttled_ssh_login_is_told_how_long_to_wait(ssh, tenant):
    # sshd passes the module's last message on with no prompt, and ssh shows it at its default
    # log level, before it gives up.
    ssh.pam.write_config(send_limit=1, send_gap=0)
    try:
        assert ssh_login(ssh.sshd.port, USER, "id", latest_code(tenant, EMAIL)).rc == 0
        tenant.reset()
        res = ssh_login(ssh.sshd.port, USER, "id",
                        lambda n: pytest.fail("a code prompt while throttled"), log_level="INFO")
    finally:
        ssh.pam.write_config(send_limit=0)
    assert res.rc == 255, res
    m = re.search(r"Too many codes were sent to this address; wait \d+ minutes\.", res.output)
    assert m, res
    assert res.output.index(m.group(0)) < res.output.index("Permission denied"), res
    assert res.code_prompts == [] and tenant.stats()["requests_total"] == 0, res


def test_ssh_session_has_the_verified_identity_with_export_env(ssh, tenant):
    ssh.pam.write_config(export_env="yes")
    tenant.config(claims={EMAIL: {"roles": ["Linux.Ops", "Shell.User"]}})
    try:
        res = ssh_login(ssh.sshd.port, USER, "printenv EXTID_EMAIL EXTID_ROLES EXTID_TID",
                        latest_code(tenant, EMAIL))
    finally:
        ssh.pam.write_config(export_env=None)
    assert res.rc == 0, res
    lines = [line.strip() for line in res.output.splitlines()]
    assert EMAIL in lines and "Linux.Ops,Shell.User" in lines, res
    assert tenant.tenant_id in lines, res


def test_ssh_session_has_no_identity_without_export_env(ssh, tenant):
    res = ssh_login(ssh.sshd.port, USER, "printenv EXTID_EMAIL; echo rc=$?",
                    latest_code(tenant, EMAIL))
    assert res.rc == 0, res
    lines = [line.strip() for line in res.output.splitlines()]
    assert "rc=1" in lines and EMAIL not in lines, res


def test_ssh_app_role_requirement_decides(ssh, tenant):
    # The users file wants an app role; Entra's token decides, after the code.
    users = open(ssh.pam.users_path).read()
    ssh.pam.write_users(users.replace("%s %s\n" % (USER, EMAIL),
                                      "%s %s role:Linux.Ops\n" % (USER, EMAIL)))
    try:
        res = ssh_login(ssh.sshd.port, USER, "id", latest_code(tenant, EMAIL))
        assert res.rc == 255 and "uid=" not in res.output, res
        assert "Permission denied" in res.output, res
        logs = ssh.logs()
        assert "does not grant %s: the token has none of role:Linux.Ops" % EMAIL in logs, logs
        assert "login granted" not in logs, logs
        tenant.config(claims={EMAIL: {"roles": ["Linux.Ops"]}})
        res = ssh_login(ssh.sshd.port, USER, "id", latest_code(tenant, EMAIL))
        assert res.rc == 0 and re.search(r"uid=\d+\(%s\)" % USER, res.output), res
        assert "grants %s (role:Linux.Ops)" % EMAIL in ssh.logs()
    finally:
        ssh.pam.write_users(users)
