"""Console / kiosk login: the real login(1) on a pseudo-terminal, run as root (as getty would),
its PAM service "login" read from a private directory mounted over /etc/pam.d for it alone; a
shared account that any address of one domain may open."""
import os
import re
import shutil
import subprocess

import pexpect
import pytest

from e2e_support import (ROOT, LocalUsers, clean_env, converse, e2e_pam_setup,
                         private_pam_argv)
from pamharness import MODULE, write_root_file
from mock_tenant import mask_email

KIOSK = "extide2e5"
DOMAIN = "example.com"
SHELL_PROMPT = re.compile(r"[$#] $")


class LoginEnv:
    pass


@pytest.fixture(scope="module")
def login_env(tmp_path_factory, tenant, syslog):
    work = str(tmp_path_factory.mktemp("e2e-login"))
    users = LocalUsers()
    try:
        users.add(KIOSK)
        pam = e2e_pam_setup(work, tenant, syslog, "login", "%s *@%s\n" % (KIOSK, DOMAIN))
        env = LoginEnv()
        env.pam = pam
        yield env
    finally:
        users.remove_all()


@pytest.fixture
def login(login_env, tenant, syslog):
    tenant.reset()
    login_env.log_mark = syslog.mark()
    return login_env


def spawn_login(login, syslog, user=KIOSK):
    argv = syslog.wrap(private_pam_argv(login.pam.confdir, ["/bin/login", user]))
    return pexpect.spawn(argv[0], argv[1:], env=clean_env(), encoding="utf-8", timeout=30)


def test_kiosk_opened_by_an_address_of_the_domain(login, tenant, syslog):
    email = "erin@" + DOMAIN
    child = spawn_login(login, syslog)
    try:
        res = converse(child, lambda n: tenant.outbox(email), email=email,
                       stops=[SHELL_PROMPT, "Login incorrect"])
        assert res.stop == 0, res  # a shell prompt, not a refusal
        # The session is a real shell of the kiosk account.
        child.sendline("echo E2E-$((6*7)) $(id -un); exit")
        child.expect(pexpect.EOF)
        out = child.before
        child.close()
    finally:
        if child.isalive():
            child.close(force=True)
    assert "E2E-42 %s" % KIOSK in out, out
    assert child.exitstatus == 0, (child.exitstatus, out)
    assert res.email_prompts == 1, res
    [(prompt, label, digits)] = res.code_prompts
    assert label == mask_email(email) and digits == 8 and "8 digits" in prompt, prompt
    assert tenant.sent(email) == 1
    logs = "\n".join(syslog.since(login.log_mark))
    assert re.search(r"login granted: user=%s email=%s rhost=\S+ service=login"
                     % (KIOSK, re.escape(email)), logs), logs


def test_kiosk_refuses_another_domain_without_network(login, tenant, syslog):
    child = spawn_login(login, syslog)
    try:
        res = converse(child, lambda n: "12345678", email="mallory@example.org",
                       stops=[SHELL_PROMPT, "Login incorrect"])
    finally:
        child.close(force=True)  # login would ask for another user name
    assert res.stop == 1, res
    assert res.email_prompts == 1 and res.code_prompts == [], res
    assert "Authentication failed." in res.output, res
    assert tenant.stats()["requests_total"] == 0
    logs = "\n".join(syslog.since(login.log_mark))
    assert "email mallory@example.org is not allowed" in logs, logs
    assert "login refused: user=%s" % KIOSK in logs, logs


# ---------------------------------------------------------------------------------------------
# conf/pam.d-login, variant B: local passwords for accounts not in the users file (root,
# admins) and while Entra is unreachable; everything else fails closed.

LOCAL_USER = "extide2e7"  # not in the users file, has a local password
LOCAL_PASSWORD = "Console-Pw-0815"
PASSWORD_PROMPT = re.compile(r"Password: ")


def fallback_line():
    """The fallback auth line as conf/pam.d-login ships it: (control, module arguments)."""
    with open(os.path.join(ROOT, "conf", "pam.d-login")) as f:
        m = re.search(r"^#auth\s+(\[[^\]]*\])\s+pam_extid\.so([^\n]*)$", f.read(), re.M)
    assert m, "conf/pam.d-login has no fallback line"
    return m.group(1), m.group(2).strip()


@pytest.fixture(scope="module")
def fallback_env(tmp_path_factory, tenant, syslog):
    work = str(tmp_path_factory.mktemp("e2e-login-fallback"))
    users = LocalUsers()
    try:
        users.add(KIOSK)
        users.add(LOCAL_USER)
        subprocess.run(["chpasswd"], input="%s:%s\n" % (LOCAL_USER, LOCAL_PASSWORD), text=True,
                       check=True)
        pam = e2e_pam_setup(work, tenant, syslog, "login", "%s *@%s\n" % (KIOSK, DOMAIN))
        control, args = fallback_line()
        write_root_file(os.path.join(pam.confdir, "login"),
                        "auth %s %s config=%s %s\n@include common-auth\n"
                        "account  required pam_permit.so\nsession  required pam_permit.so\n"
                        "password required pam_deny.so\n"
                        % (control, MODULE, pam.config_path, args), 0o644)
        shutil.copyfile("/etc/pam.d/common-auth", os.path.join(pam.confdir, "common-auth"))
        env = LoginEnv()
        env.pam = pam
        yield env
    finally:
        users.remove_all()


@pytest.fixture
def fallback(fallback_env, tenant, syslog):
    tenant.reset()
    fallback_env.log_mark = syslog.mark()
    return fallback_env


def test_fallback_unmapped_account_uses_its_password(fallback, tenant, syslog):
    child = spawn_login(fallback, syslog, LOCAL_USER)
    try:
        res = converse(child, lambda n: "12345678", stops=[PASSWORD_PROMPT, SHELL_PROMPT])
        assert res.stop == 0, res
        child.sendline(LOCAL_PASSWORD)
        child.expect(SHELL_PROMPT)
        child.sendline("echo E2E-$((6*7)) $(id -un); exit")
        child.expect(pexpect.EOF)
        out = child.before
    finally:
        child.close(force=True)
    assert "E2E-42 %s" % LOCAL_USER in out, out
    assert res.code_prompts == [] and res.email_prompts == 0, res
    assert tenant.stats()["requests_total"] == 0


def test_fallback_kiosk_other_domain_gets_no_password_prompt(fallback, tenant, syslog):
    child = spawn_login(fallback, syslog)
    try:
        res = converse(child, lambda n: "12345678", email="mallory@example.org",
                       stops=[PASSWORD_PROMPT, SHELL_PROMPT, "Login incorrect"])
    finally:
        child.close(force=True)
    assert res.stop == 2, res  # default=die: refused, no password asked
    assert tenant.stats()["requests_total"] == 0
