"""Password accounts and second factors in real programs, against the mock tenant with
methods = otp password: sshd keyboard-interactive (a round for the password, one for the choice,
one for the code; and after a key), sudo with a password account, and login(1) on a console."""
import os
import re
import subprocess

import pexpect
import pytest

from e2e_support import (EMAIL_PROMPT, E2EModule, finish, private_pam_argv, shell_proof, spawn_pty,
                         spawn_ssh, stack_text)
from pamharness import write_root_file
from test_e2e_ssh import install_authorized_key

pytestmark = [pytest.mark.system, pytest.mark.slow]

SSH_PW = "extide2p1"      # password account, keyboard-interactive
SSH_KEY = "extide2p2"     # publickey,keyboard-interactive; password then a choice then a code
SUDO_PW = "extide2p3"     # sudo: password then a text-message code
KIOSK = "extide2p4"       # console: any address of the domain
USERS = ("%s password@example.com\n%s mfaboth@example.com\n%s mfasms@example.com\n"
         "%s *@example.com\n" % (SSH_PW, SSH_KEY, SUDO_PW, KIOSK))

PASSWORD_PROMPT = re.compile(r"Password for (\S+): ")
CHOICE_PROMPT = re.compile(r"Second factor for \S+: [^\r\n]*Choose 1-(\d): ")
CODE_PROMPT = re.compile(r"Code (emailed|texted) to ([^\r\n]*?) \((\d+) digits[^)\r\n]*\): ")
PRESS_ENTER = "Press Enter: "
SHELL_PROMPT = re.compile(r"[$#] $")


@pytest.fixture(scope="module")
def env(tmp_path_factory, tenant, syslog):
    with E2EModule(tmp_path_factory, tenant, syslog, "e2e-passwords") as env:
        for user in (SSH_PW, SUDO_PW, KIOSK):
            env.add_user(user)
        env.add_user(SSH_KEY, home=True)
        env.pam_setup("sshd", USERS)
        env.pam.write_config(methods="otp password")
        write_root_file(os.path.join(env.pam.confdir, "login"), stack_text(env.pam.config_path),
                        0o644)
        env.key = os.path.join(env.work, "client_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", env.key],
                       check=True)
        install_authorized_key(SSH_KEY, env.key + ".pub")
        env.start_sshd([SSH_PW, SSH_KEY], extra="Match User %s\n"
                       "    AuthenticationMethods publickey,keyboard-interactive\n" % SSH_KEY)
        env.sudo = env.install_sudo_service(SUDO_PW)
        yield env


@pytest.fixture
def e2e(env):
    return env.fresh()


class Run:
    def __init__(self):
        self.prompts = []  # (kind, text) in order
        self.output = ""
        self.stop = None
        self.rc = None


def converse(child, tenant, email, password, choice=None, stops=()):
    """Answers the module's prompts: the address, the password, the choice and the latest code
    sent for email, until EOF or one of stops."""
    run = Run()
    seen = []
    patterns = [PASSWORD_PROMPT, CHOICE_PROMPT, CODE_PROMPT, EMAIL_PROMPT, PRESS_ENTER,
                pexpect.EOF, *stops]
    while True:
        i = child.expect(patterns)
        seen.append(child.before)
        if i == 5:
            break
        seen.append(child.after)
        if i >= 6:
            run.stop = i - 6
            break
        kind = ["password", "choice", "code", "email", "enter"][i]
        run.prompts.append((kind, child.after))
        child.sendline({"password": password, "choice": choice, "code": tenant.outbox(email),
                        "email": email, "enter": ""}[kind] or "")
    run.output = "".join(seen)
    return run


def end(child, run):
    try:
        finish(child, run)
    finally:
        if child.isalive():
            child.close(force=True)
    return run


def kinds(run):
    return [k for k, _ in run.prompts if k != "enter"]


def test_ssh_password_account(e2e, tenant):
    child = spawn_ssh(e2e.sshd.port, SSH_PW, "id")
    run = end(child, converse(child, tenant, "password@example.com", tenant.password))
    assert run.rc == 0, run.output
    assert re.search(r"uid=\d+\(%s\)" % SSH_PW, run.output), run.output
    assert kinds(run) == ["password"], run.prompts
    assert e2e.sshd.wait_log("Accepted keyboard-interactive/pam for %s" % SSH_PW, e2e.sshd_mark)
    assert tenant.sent("password@example.com") == 0
    logs = e2e.logs()
    assert tenant.password not in logs and tenant.password not in e2e.sshd.log_since(e2e.sshd_mark)


def test_ssh_wrong_password_is_refused(e2e, tenant):
    child = spawn_ssh(e2e.sshd.port, SSH_PW, "id")
    run = end(child, converse(child, tenant, "password@example.com", "Not-it-" + "x" * 8))
    assert run.rc == 255, run.output
    assert "uid=" not in run.output
    assert kinds(run) == ["password"] * 3, run.prompts  # max_attempts, then sshd gives up
    assert "login refused: user=%s" % SSH_PW in e2e.logs()


def test_ssh_key_then_password_choice_and_code(e2e, tenant):
    email = "mfaboth@example.com"
    child = spawn_ssh(e2e.sshd.port, SSH_KEY, "id", key=e2e.key)
    run = end(child, converse(child, tenant, email, tenant.password, choice="2"))
    assert run.rc == 0, run.output
    assert re.search(r"uid=\d+\(%s\)" % SSH_KEY, run.output), run.output
    assert kinds(run) == ["password", "choice", "code"], run.prompts
    assert run.prompts[2][1].startswith("Code texted to +1555"), run.prompts
    assert tenant.channel(email) == "sms"
    log = e2e.sshd.log_since(e2e.sshd_mark)
    assert "Partial publickey for %s" % SSH_KEY in log, log
    assert e2e.sshd.wait_log("Accepted keyboard-interactive/pam for %s" % SSH_KEY, e2e.sshd_mark)


def test_sudo_with_password_then_text_message(e2e, tenant):
    email = "mfasms@example.com"
    argv = e2e.syslog.wrap(["runuser", "-u", SUDO_PW, "--", "sudo", "-k", "-S", "id", "-u"])
    child = spawn_pty(argv)
    run = end(child, converse(child, tenant, email, tenant.password))
    assert run.rc == 0, run.output
    assert kinds(run) == ["password", "code"], run.prompts
    after = run.output.split(run.prompts[-1][1], 1)[1]
    assert "0" in [line.strip() for line in after.splitlines()], run.output
    assert re.search(r"login granted: user=%s email=%s rhost=\S+ service=%s"
                     % (SUDO_PW, re.escape(email), e2e.sudo.name), e2e.logs())


def test_console_login_with_password_and_emailed_code(e2e, tenant):
    email = "mfaemail@example.com"
    child = spawn_pty(e2e.syslog.wrap(private_pam_argv(e2e.pam.confdir, ["/bin/login", KIOSK])))
    try:
        run = converse(child, tenant, email, tenant.password,
                       stops=[SHELL_PROMPT, "Login incorrect"])
        assert run.stop == 0, run.output
        shell_proof(child, KIOSK)
    finally:
        if child.isalive():
            child.close(force=True)
    assert kinds(run) == ["email", "password", "code"], run.prompts
    assert run.prompts[2][1].startswith("Code emailed to m***l@e*****e.com"), run.prompts
    assert "login granted: user=%s email=%s" % (KIOSK, email) in e2e.logs()
