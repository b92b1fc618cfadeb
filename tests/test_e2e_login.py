"""Console / kiosk login: the real login(1) on a pseudo-terminal, run as root (as getty would),
its PAM service "login" read from a private directory mounted over /etc/pam.d for it alone; a
shared account that any address of one domain may open."""
import re
import subprocess

import pexpect
import pytest

from e2e_support import (E2EModule, assert_one_code_prompt, converse, private_pam_argv, shell_proof,
                         spawn_pty, write_fallback_stack)

pytestmark = [pytest.mark.system, pytest.mark.slow]

KIOSK = "extide2e5"
DOMAIN = "example.com"
SHELL_PROMPT = re.compile(r"[$#] $")
USERS_TEXT = "%s *@%s\n" % (KIOSK, DOMAIN)


@pytest.fixture(scope="module")
def login_env(tmp_path_factory, tenant, syslog):
    with E2EModule(tmp_path_factory, tenant, syslog, "e2e-login") as env:
        env.add_user(KIOSK)
        env.pam_setup("login", USERS_TEXT)
        yield env


@pytest.fixture
def login(login_env):
    return login_env.fresh()


def spawn_login(env, user=KIOSK):
    return spawn_pty(env.syslog.wrap(private_pam_argv(env.pam.confdir, ["/bin/login", user])))


def test_kiosk_opened_by_an_address_of_the_domain(login, tenant):
    email = "erin@" + DOMAIN
    child = spawn_login(login)
    try:
        res = converse(child, lambda n: tenant.outbox(email), email=email,
                       stops=[SHELL_PROMPT, "Login incorrect"])
        assert res.stop == 0, res  # a shell prompt, not a refusal
        # The session is a real shell of the kiosk account.
        out = shell_proof(child, KIOSK)
    finally:
        if child.isalive():
            child.close(force=True)
    assert child.exitstatus == 0, (child.exitstatus, out)
    assert res.email_prompts == 1, res
    assert_one_code_prompt(res, email)
    assert tenant.sent(email) == 1
    logs = login.logs()
    assert re.search(r"login granted: user=%s email=%s rhost=\S+ service=login"
                     % (KIOSK, re.escape(email)), logs), logs


def test_kiosk_refuses_another_domain_without_network(login, tenant):
    child = spawn_login(login)
    try:
        res = converse(child, lambda n: "12345678", email="mallory@example.org",
                       stops=[SHELL_PROMPT, "Login incorrect"])
    finally:
        child.close(force=True)  # login would ask for another user name
    assert res.stop == 1, res
    assert res.email_prompts == 1 and res.code_prompts == [], res
    assert "Authentication failed." in res.output, res
    assert tenant.stats()["requests_total"] == 0
    logs = login.logs()
    assert "email mallory@example.org is not allowed" in logs, logs
    assert "login refused: user=%s" % KIOSK in logs, logs


# ---------------------------------------------------------------------------------------------
# conf/pam.d-login, variant B: local passwords for accounts not in the users file (root,
# admins) and while Entra is unreachable; everything else fails closed.

LOCAL_USER = "extide2e7"  # not in the users file, has a local password
LOCAL_PASSWORD = "Console-Pw-0815"
PASSWORD_PROMPT = re.compile(r"Password: ")


@pytest.fixture(scope="module")
def fallback_env(tmp_path_factory, tenant, syslog):
    with E2EModule(tmp_path_factory, tenant, syslog, "e2e-login-fallback") as env:
        env.add_user(KIOSK)
        env.add_user(LOCAL_USER, password=LOCAL_PASSWORD)
        write_fallback_stack(env.pam_setup("login", USERS_TEXT), "login", "pam.d-login")
        yield env


@pytest.fixture
def fallback(fallback_env):
    return fallback_env.fresh()


def test_fallback_unmapped_account_uses_its_password(fallback, tenant):
    child = spawn_login(fallback, LOCAL_USER)
    try:
        res = converse(child, lambda n: "12345678", stops=[PASSWORD_PROMPT, SHELL_PROMPT])
        assert res.stop == 0, res
        child.sendline(LOCAL_PASSWORD)
        child.expect(SHELL_PROMPT)
        shell_proof(child, LOCAL_USER)
    finally:
        child.close(force=True)
    assert res.code_prompts == [] and res.email_prompts == 0, res
    assert tenant.stats()["requests_total"] == 0


def test_fallback_kiosk_other_domain_gets_no_password_prompt(fallback, tenant):
    child = spawn_login(fallback)
    try:
        res = converse(child, lambda n: "12345678", email="mallory@example.org",
                       stops=[PASSWORD_PROMPT, SHELL_PROMPT, "Login incorrect"])
    finally:
        child.close(force=True)
    assert res.stop == 2, res  # default=die: refused, no password asked
    assert tenant.stats()["requests_total"] == 0


def test_fallback_kiosk_without_a_password_stays_shut_while_entra_is_down(fallback, tenant):
    # A kiosk account whose password was deleted (passwd -d) and a tenant that answers 503: the
    # password asked in Entra's place must not accept the empty one.
    subprocess.run(["passwd", "-d", KIOSK], check=True, capture_output=True)
    try:
        child = spawn_login(fallback)
        try:
            res = converse(child, lambda n: "12345678", email="unavailable@" + DOMAIN,
                           stops=[PASSWORD_PROMPT, SHELL_PROMPT, "Login incorrect"])
            stop = res.stop
            if stop == 0:
                child.sendline("")
                stop = 1 + child.expect([SHELL_PROMPT, "Login incorrect"], timeout=30)
        finally:
            child.close(force=True)
    finally:
        subprocess.run(["usermod", "-L", KIOSK], check=True, capture_output=True)
    assert stop == 2, res  # "Login incorrect", never a shell
    assert res.code_prompts == [] and tenant.stats()["requests"]["initiate"] == 1, res


def test_login_shell_has_the_verified_identity_with_export_env(login, tenant):
    email = "frank@" + DOMAIN
    login.pam.write_config(export_env="yes")
    child = spawn_login(login)
    try:
        res = converse(child, lambda n: tenant.outbox(email), email=email,
                       stops=[SHELL_PROMPT, "Login incorrect"])
        assert res.stop == 0, res
        child.sendline("echo E2E-ENV=$EXTID_EMAIL; exit")
        child.expect(pexpect.EOF)
        out = child.before
        child.close()
    finally:
        login.pam.write_config(export_env=None)
        if child.isalive():
            child.close(force=True)
    assert "E2E-ENV=%s" % email in out, out
