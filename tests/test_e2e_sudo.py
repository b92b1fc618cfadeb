"""sudo step-up: the real (setuid) sudo run by an unprivileged test user, switched to a PAM
service that runs the module (sudoers `Defaults:<user> pam_service=`). sudo reads /etc/pam.d
only, so the service file and the sudoers drop-in are created under unique names and always
removed."""
import os
import re
import subprocess

import pytest

from e2e_support import WRONG_CODE, E2EModule, assert_one_code_prompt, converse_to_end, spawn_pty
from pamharness import ROOT

pytestmark = [pytest.mark.system, pytest.mark.slow]

CHECK = os.path.join(ROOT, "build", "extid-check")
USER = "extide2e4"
EMAIL = "carol@example.com"
# sudo asks PAM for silence (PAM_SILENT): the module's last messages come in a prompt of their own.
PRESS_ENTER = "Press Enter: "


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
    return converse_to_end(spawn_pty(argv), answer_code, stops=[PRESS_ENTER],
                           on_stop=lambda child, conv: child.sendline(""))


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



def test_sudo_wrong_code_is_explained(sudo, tenant):
    # sudo calls PAM with PAM_SILENT, so messages travel inside prompts: the next code prompt
    # says the last code was wrong, and a last prompt says why sudo refuses.
    res = run_sudo(sudo, ["true"], lambda n: WRONG_CODE)
    assert res.rc == 1, res
    assert len(res.code_prompts) == 3 and res.stop == 0, res
    assert "Wrong code, try again. Code emailed to" in res.output, res
    assert "Too many wrong codes. Press Enter: " in res.output, res
    assert "incorrect password attempt" in res.output, res


def test_throttled_sudo_is_told_how_long_to_wait(sudo, tenant):
    sudo.pam.write_config(send_limit=1, send_gap=0)
    try:
        assert run_sudo(sudo, ["true"], lambda n: tenant.outbox(EMAIL)).rc == 0
        tenant.reset()
        res = run_sudo(sudo, ["true"], lambda n: pytest.fail("a code prompt while throttled"))
    finally:
        sudo.pam.write_config(send_limit=0)
    assert res.rc == 1, res
    assert re.search(r"Too many codes were sent to this address; wait \d+ minutes\. "
                     r"Press Enter: ", res.output), res
    assert res.code_prompts == [] and tenant.stats()["requests_total"] == 0, res
    assert "send throttle" in sudo.logs()


def test_sudo_command_gets_the_verified_identity_with_export_env(sudo, tenant):
    sudo.pam.write_config(export_env="yes")
    try:
        res = run_sudo(sudo, ["printenv", "EXTID_EMAIL"], lambda n: tenant.outbox(EMAIL))
    finally:
        sudo.pam.write_config(export_env=None)
    assert res.rc == 0, res
    after_prompt = res.output.split(res.code_prompts[0][0], 1)[1]
    assert EMAIL in [line.strip() for line in after_prompt.splitlines()], res


def test_spent_failure_budget_is_explained_in_sudo(sudo, tenant):
    # Wrong codes spend the address's failure budget: the login that spends it and the next one
    # both end with a last prompt saying how long to wait.
    sudo.pam.write_config(fail_limit=2)
    try:
        res = run_sudo(sudo, ["true"], lambda n: WRONG_CODE)
        assert res.rc == 1 and len(res.code_prompts) == 2, res
        assert re.search(r"Too many wrong codes for this address; wait \d+ minutes\. "
                         r"Press Enter: ", res.output), res
        tenant.reset()
        res = run_sudo(sudo, ["true"], lambda n: pytest.fail("a code prompt while spent"))
        assert res.rc == 1 and res.code_prompts == [], res
        assert "Too many wrong codes for this address" in res.output, res
        assert tenant.stats()["requests_total"] == 0
    finally:
        sudo.pam.write_config(fail_limit=0)
        subprocess.run([CHECK, "--config", sudo.pam.config_path, "--reset", EMAIL],
                       capture_output=True, check=True)
