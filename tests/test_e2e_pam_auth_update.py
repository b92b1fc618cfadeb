"""The pam-auth-update profile as shipped: the real pam-auth-update enables it in a copy of the
host's PAM configuration (its --root, with debconf's database copied over in a private mount
namespace, so the host's files and answers stay as they were), and the real su, run by an
unprivileged account, authenticates through the common-auth it wrote. The module is an
alternative to the password: accounts it does not serve must reach their password silently."""
import os
import re
import shutil
import subprocess

import pytest

from e2e_support import E2EModule, ROOT, converse_to_end, private_pam_argv, spawn_pty
from pamharness import MODULE

pytestmark = [pytest.mark.system, pytest.mark.slow]

CALLER = "extide2e8"       # runs su; su asks for the target's authentication
UNMAPPED = "extide2e9"     # not in the users file; has a local password
MAPPED = "extide2e10"      # in the users file; has a local password too
EMAIL = "dave@example.com"
PASSWORD = "Su-Pw-4711-local"
PASSWORD_PROMPT = re.compile(r"Password: ")


def profile_for_test(config_path):
    """conf/pam-configs/extid with the module named by its test path and configuration; every
    other word of it is kept as shipped."""
    with open(os.path.join(ROOT, "conf", "pam-configs", "extid")) as f:
        text = f.read()
    lines = [re.sub(r"\bpam_extid\.so\b", "%s config=%s" % (MODULE, config_path), line)
             if line.startswith("\t[") else line for line in text.splitlines(True)]
    return "".join(lines)


def enable_profile(work, config_path):
    """Runs pam-auth-update --enable extid on copies of /etc/pam.d, /var/lib/pam and
    /usr/share/pam-configs; returns the copied /etc/pam.d it rewrote."""
    root = os.path.join(work, "root")
    for src in ("/etc/pam.d", "/var/lib/pam", "/usr/share/pam-configs"):
        shutil.copytree(src, root + src, symlinks=True)
    with open(root + "/usr/share/pam-configs/extid", "w") as f:
        f.write(profile_for_test(config_path))
    debconf = os.path.join(work, "debconf")
    shutil.copytree("/var/cache/debconf", debconf, symlinks=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'mount --bind "$0" /var/cache/debconf && exec "$@"', debconf,
                        "pam-auth-update", "--root", root, "--enable", "extid"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    with open(root + "/etc/pam.d/common-auth") as f:
        assert MODULE in f.read(), "pam-auth-update did not add the profile"
    return root + "/etc/pam.d"


@pytest.fixture(scope="module")
def su_env(tmp_path_factory, tenant, syslog):
    with E2EModule(tmp_path_factory, tenant, syslog, "e2e-pam-auth-update") as env:
        env.add_user(CALLER)
        env.add_user(UNMAPPED, home=True, password=PASSWORD)
        env.add_user(MAPPED, home=True, password=PASSWORD)
        env.pam_setup("unused", "%s %s\n" % (MAPPED, EMAIL))
        env.pam_dir = enable_profile(env.work, env.pam.config_path)
        yield env


@pytest.fixture
def su(su_env):
    return su_env.fresh()


def run_su(env, target, answer_code):
    """`su - target -c 'id -un'` by CALLER on a pty; a password prompt is answered with
    PASSWORD."""
    argv = env.syslog.wrap(private_pam_argv(
        env.pam_dir, ["runuser", "-u", CALLER, "--", "su", "-", target, "-c", "id -un"]))

    def give_password(child, conv):
        conv.password_asked = True
        child.sendline(PASSWORD)
    return converse_to_end(spawn_pty(argv), answer_code, stops=[PASSWORD_PROMPT],
                           on_stop=give_password)


def test_unmapped_account_reaches_its_password_silently(su, tenant):
    res = run_su(su, UNMAPPED, lambda n: pytest.fail("a code was asked for"))
    assert res.rc == 0, res
    assert getattr(res, "password_asked", False), res
    assert UNMAPPED in res.output.split("Password:", 1)[1], res
    # Nothing from the module before the password prompt, and no network call.
    assert "Authentication failed" not in res.output, res
    assert res.output.split("Password:", 1)[0].strip() == "", res
    assert tenant.stats()["requests_total"] == 0
    assert "login refused" not in su.logs()


def test_mapped_account_opens_with_the_code_alone(su, tenant):
    res = run_su(su, MAPPED, lambda n: tenant.outbox(EMAIL))
    assert res.rc == 0, res
    assert not getattr(res, "password_asked", False), res
    assert len(res.code_prompts) == 1, res
    assert MAPPED in res.output.split(res.code_prompts[0][0], 1)[1], res
    assert "login granted: user=%s email=%s" % (MAPPED, EMAIL) in su.logs()
