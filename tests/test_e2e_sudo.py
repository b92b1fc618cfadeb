"""sudo step-up: the real (setuid) sudo run by an unprivileged test user, switched to a PAM
service that runs the module (sudoers `Defaults:<user> pam_service=`). sudo reads /etc/pam.d
only, so the service file and the sudoers drop-in are created under unique names and always
removed."""
import os
import re

import pexpect
import pytest

from e2e_support import (WRONG_CODE, LocalUsers, SudoService, clean_env, converse,
                         e2e_pam_setup, finish)
from mock_tenant import mask_email

USER = "extide2e4"
EMAIL = "carol@example.com"


class SudoEnv:
    pass


@pytest.fixture(scope="module")
def sudo_env(tmp_path_factory, tenant, syslog):
    work = str(tmp_path_factory.mktemp("e2e-sudo"))
    users = LocalUsers()
    service = None
    try:
        users.add(USER)
        pam = e2e_pam_setup(work, tenant, syslog, "unused", "%s %s\n" % (USER, EMAIL))
        service = SudoService(USER, pam.config_path, work)
        service.install()
        env = SudoEnv()
        env.pam, env.service, env.work = pam, service, work
        yield env
    finally:
        if service:
            service.remove()
        users.remove_all()
    assert not service.leftovers()


@pytest.fixture
def sudo(sudo_env, tenant, syslog):
    tenant.reset()
    sudo_env.log_mark = syslog.mark()
    return sudo_env


def run_sudo(syslog, command, answer_code):
    """`sudo -k -S command` as the test user on a pty (runuser switches without a password;
    -k: every run goes through PAM)."""
    argv = syslog.wrap(["runuser", "-u", USER, "--", "sudo", "-k", "-S", *command])
    child = pexpect.spawn(argv[0], argv[1:], env=clean_env(), encoding="utf-8", timeout=30)
    try:
        return finish(child, converse(child, answer_code))
    finally:
        if child.isalive():
            child.close(force=True)


def test_sudo_asks_only_the_code_and_runs_the_command(sudo, tenant, syslog):
    res = run_sudo(syslog, ["id", "-u"], lambda n: tenant.outbox(EMAIL))
    assert res.rc == 0, res
    # id -u ran as root: its output is a line "0" after the prompt.
    after_prompt = res.output.split(res.code_prompts[0][0], 1)[1]
    assert "0" in [line.strip() for line in after_prompt.splitlines()], res
    assert res.email_prompts == 0, res
    [(prompt, label, digits)] = res.code_prompts
    assert label == mask_email(EMAIL) and digits == 8 and "8 digits" in prompt, prompt
    assert tenant.sent(EMAIL) == 1
    logs = "\n".join(syslog.since(sudo.log_mark))
    assert re.search(r"login granted: user=%s email=%s rhost=\S+ service=%s"
                     % (USER, re.escape(EMAIL), sudo.service.name), logs), logs


def test_sudo_wrong_code_does_not_run_the_command(sudo, tenant, syslog):
    marker = os.path.join(sudo.work, "ran-as-root")
    res = run_sudo(syslog, ["touch", marker], lambda n: WRONG_CODE)
    assert res.rc == 1, res
    assert not os.path.exists(marker), "the command ran although every code was wrong"
    assert len(res.code_prompts) == 3, res  # max_attempts inside the one PAM try
    assert "incorrect password attempt" in res.output, res
    assert tenant.stats()["requests"]["token"] == 3
    logs = "\n".join(syslog.since(sudo.log_mark))
    assert "login refused: user=%s email=%s" % (USER, EMAIL) in logs, logs
    assert "login granted" not in logs, logs

