"""sudo step-up: the real (setuid) sudo run by an unprivileged test user, switched to a PAM
service that runs the module (sudoers `Defaults:<user> pam_service=`). sudo reads /etc/pam.d
only, so the service file and the sudoers drop-in are created under unique names and always
removed."""
import os
import re

import pytest

from e2e_support import WRONG_CODE, E2EModule, assert_one_code_prompt, converse_to_end, spawn_pty

pytestmark = [pytest.mark.system, pytest.mark.slow]

USER = "extide2e4"
EMAIL = "carol@example.com"


@pytest.fixture(scope="module")
def sudo_env(tmp_path_factory, tenant, syslog):
    with E2EModule(tmp_path_factory, tenant, syslog, "e2e-sudo") as env:
        env.add_user(USER)
        env.pam_setup("unused", "%s %s\n" % (USER, EMAIL))
        env.service = env.install_sudo_service(USER)
        yield env


@pytest.fixture
def sudo(sudo_env):
    return sudo_env.fresh()


def run_sudo(env, command, answer_code):
    """`sudo -k -S command` as the test user on a pty (runuser switches without a password;
    -k: every run goes through PAM)."""
    argv = env.syslog.wrap(["runuser", "-u", USER, "--", "sudo", "-k", "-S", *command])
    return converse_to_end(spawn_pty(argv), answer_code)


def test_sudo_asks_only_the_code_and_runs_the_command(sudo, tenant):
    res = run_sudo(sudo, ["id", "-u"], lambda n: tenant.outbox(EMAIL))
    assert res.rc == 0, res
    # id -u ran as root: its output is a line "0" after the prompt.
    after_prompt = res.output.split(res.code_prompts[0][0], 1)[1]
    assert "0" in [line.strip() for line in after_prompt.splitlines()], res
    assert res.email_prompts == 0, res
    assert_one_code_prompt(res, EMAIL)
    assert tenant.sent(EMAIL) == 1
    logs = sudo.logs()
    assert re.search(r"login granted: user=%s email=%s rhost=\S+ service=%s"
                     % (USER, re.escape(EMAIL), sudo.service.name), logs), logs


def test_sudo_login_shell_asks_the_code_too(sudo, tenant):
    # sudo -i authenticates through pam_login_service, a service of its own (Debian's sudo-i,
    # which includes common-auth): the rollout switches it as well.
    res = run_sudo(sudo, ["-i", "id", "-u"], lambda n: tenant.outbox(EMAIL))
    assert res.rc == 0, res
    after_prompt = res.output.split(res.code_prompts[0][0], 1)[1]
    assert "0" in [line.strip() for line in after_prompt.splitlines()], res
    assert_one_code_prompt(res, EMAIL)
    assert "login granted: user=%s email=%s" % (USER, EMAIL) in sudo.logs()


def test_sudo_wrong_code_does_not_run_the_command(sudo, tenant):
    marker = os.path.join(sudo.work, "ran-as-root")
    res = run_sudo(sudo, ["touch", marker], lambda n: WRONG_CODE)
    assert res.rc == 1, res
    assert not os.path.exists(marker), "the command ran although every code was wrong"
    assert len(res.code_prompts) == 3, res  # max_attempts inside the one PAM try
    assert "incorrect password attempt" in res.output, res
    assert tenant.stats()["requests"]["token"] == 3
    logs = sudo.logs()
    assert "login refused: user=%s email=%s" % (USER, EMAIL) in logs, logs
    assert "login granted" not in logs, logs

