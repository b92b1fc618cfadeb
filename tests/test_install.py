"""make install / make uninstall into a DESTDIR: where each file goes, its mode and owner, that an
existing configuration is never replaced, and that uninstall takes away what install added but
never a configuration the administrator changed."""
import filecmp
import os
import re
import stat
import subprocess

import pytest

from pamharness import ROOT

pytestmark = pytest.mark.system

PAMDIR = subprocess.run(["pkg-config", "--variable=libdir", "pam"], capture_output=True,
                        text=True, check=True).stdout.strip() + "/security"


def make(target, destdir, *extra):
    p = subprocess.run(["make", "-s", "--no-print-directory", target, "DESTDIR=" + destdir]
                       + list(extra), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def files_under(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def expected(prefix="/usr", pamdir=PAMDIR):
    return {
        pamdir.lstrip("/") + "/pam_extid.so": (0o644, os.path.join(ROOT, "pam_extid.so")),
        prefix.lstrip("/") + "/sbin/extid-check":
            (0o755, os.path.join(ROOT, "build", "extid-check")),
        prefix.lstrip("/") + "/share/man/man8/pam_extid.8":
            (0o644, os.path.join(ROOT, "man", "pam_extid.8")),
        prefix.lstrip("/") + "/share/man/man8/extid-check.8":
            (0o644, os.path.join(ROOT, "man", "extid-check.8")),
        prefix.lstrip("/") + "/share/man/man5/pam_extid.conf.5":
            (0o644, os.path.join(ROOT, "man", "pam_extid.conf.5")),
        prefix.lstrip("/") + "/share/man/man5/pam_extid.users.5":
            (0o644, os.path.join(ROOT, "man", "pam_extid.users.5")),
        # Where pam-auth-update looks, whatever the prefix.
        "usr/share/pam-configs/extid":
            (0o644, os.path.join(ROOT, "conf", "pam-configs", "extid")),
        "etc/security/pam_extid.conf": (0o600, os.path.join(ROOT, "conf", "pam_extid.conf")),
        "etc/security/pam_extid.users": (0o644, os.path.join(ROOT, "conf", "pam_extid.users")),
    }


def assert_installed(dest, want):
    assert files_under(dest) == set(want), sorted(files_under(dest) ^ set(want))
    for rel, (mode, source) in want.items():
        st = os.lstat(os.path.join(dest, rel))
        assert stat.S_ISREG(st.st_mode), rel
        assert stat.S_IMODE(st.st_mode) == mode, (rel, oct(st.st_mode))
        assert (st.st_uid, st.st_gid) == (0, 0), rel  # the tests run as root
        assert filecmp.cmp(os.path.join(dest, rel), source, shallow=False), rel
    cache = os.lstat(os.path.join(dest, "var/cache/pam_extid"))
    assert stat.S_ISDIR(cache.st_mode) and stat.S_IMODE(cache.st_mode) == 0o700
    assert (cache.st_uid, cache.st_gid) == (0, 0)


def test_install_then_uninstall(tmp_path):
    dest = str(tmp_path / "root")
    make("install", dest)
    want = expected()
    assert_installed(dest, want)
    p = subprocess.run([os.path.join(dest, "usr/sbin/extid-check"), "--version"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("extid-check ")
    # the multiarch PAM directory, where the system's own modules live
    assert os.path.exists(os.path.join(PAMDIR, "pam_unix.so")), PAMDIR

    make("install", dest)  # again: idempotent
    assert_installed(dest, want)

    make("uninstall", dest)
    assert files_under(dest) == set(), files_under(dest)
    assert not os.path.exists(os.path.join(dest, "var/cache/pam_extid"))


def test_existing_configuration_is_kept(tmp_path):
    dest = str(tmp_path / "root")
    sec = os.path.join(dest, "etc/security")
    os.makedirs(sec)
    mine = "tenant = mine\nclient_id = 1\n"
    with open(os.path.join(sec, "pam_extid.conf"), "w") as f:
        f.write(mine)
    os.chmod(os.path.join(sec, "pam_extid.conf"), 0o640)
    make("install", dest)
    conf = os.path.join(sec, "pam_extid.conf")
    assert open(conf).read() == mine
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o640
    # the users file was absent, so the example was installed
    assert filecmp.cmp(os.path.join(sec, "pam_extid.users"),
                       os.path.join(ROOT, "conf", "pam_extid.users"), shallow=False)

    # the administrator edits the users file too; uninstall keeps both edited files
    with open(os.path.join(sec, "pam_extid.users"), "a") as f:
        f.write("carol carol@example.com\n")
    p = make("uninstall", dest)
    assert "kept %s/pam_extid.conf (changed)" % sec in p.stdout
    assert files_under(dest) == {"etc/security/pam_extid.conf", "etc/security/pam_extid.users"}
    assert open(conf).read() == mine


def test_unchanged_example_config_goes_with_uninstall(tmp_path):
    dest = str(tmp_path / "root")
    make("install", dest)
    with open(os.path.join(dest, "etc/security/pam_extid.users"), "a") as f:
        f.write("dave dave@example.com\n")
    make("uninstall", dest)
    assert files_under(dest) == {"etc/security/pam_extid.users"}


def test_prefix_and_pamdir(tmp_path):
    dest = str(tmp_path / "root")
    make("install", dest, "PREFIX=/usr/local", "PAMDIR=/opt/pam")
    want = expected(prefix="/usr/local", pamdir="/opt/pam")
    assert_installed(dest, want)  # /etc and /var stay where the module looks for them
    make("uninstall", dest, "PREFIX=/usr/local", "PAMDIR=/opt/pam")
    assert files_under(dest) == set()


@pytest.mark.parametrize("target", ["install", "uninstall"])
def test_dry_run_names_only_destdir(tmp_path, target):
    # Every path make would touch lies under DESTDIR: nothing reaches the live system.
    dest = str(tmp_path / "root")
    p = subprocess.run(["make", "-n", "--no-print-directory", target, "DESTDIR=" + dest],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    for path in ("/etc/security", "/var/cache/pam_extid", PAMDIR, "/usr/sbin",
                 "/usr/share/man", "/usr/share/pam-configs"):
        for line in p.stdout.splitlines():
            for word in line.split():
                if word.startswith(path) or word.startswith("'" + path):
                    pytest.fail("%s outside DESTDIR in: %s" % (path, line))


def parse_profile(path):
    """The way pam-auth-update(8) reads a profile: `Field: value` lines, and continuation lines
    appended to the field before them."""
    fields, name = {}, None
    with open(path) as f:
        for line in f:
            m = re.match(r"^(\S+):\s+(.*)\s*$", line)
            if m:
                name = m.group(1)
                fields[name] = m.group(2)
                continue
            assert name is not None, "text before the first field: %r" % line
            text = line.strip()
            if text:
                fields[name] = (fields[name] + "\n" + text).strip()
    return fields


def test_pam_auth_update_profile():
    p = parse_profile(os.path.join(ROOT, "conf", "pam-configs", "extid"))
    assert p["Default"] == "no"  # installing must not change any stack
    assert p["Auth-Type"] == "Primary" and int(p["Priority"]) > 256  # before pam_unix
    for field in ("Auth", "Auth-Initial"):
        assert p[field].split() == ["[success=end", "default=ignore]", "pam_extid.so",
                                  "unmapped=ignore"], p[field]
    stack_fields = {k for k in p if k.split("-")[0] in ("Account", "Session", "Password")}
    assert not stack_fields, "auth only: %s" % stack_fields
    assert set(p) == {"Comment", "Name", "Default", "Priority", "Auth-Type", "Auth",
                      "Auth-Initial"}


def write_trial(dest, sudoers_text):
    """The one-user sudo trial as docs/sudo.md and conf/sudoers.d-extid set it up, under dest."""
    for rel, text in (("etc/pam.d/sudo-extid", open(os.path.join(ROOT, "conf",
                                                                   "pam.d-sudo")).read()),
                      ("etc/sudoers.d/extid", sudoers_text)):
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        with open(os.path.join(dest, rel), "w") as f:
            f.write(text)


def test_uninstall_removes_the_sudo_trial(tmp_path):
    dest = str(tmp_path / "root")
    make("install", dest)
    write_trial(dest, open(os.path.join(ROOT, "conf", "sudoers.d-extid")).read())
    p = make("uninstall", dest)
    assert files_under(dest) == set(), (files_under(dest), p.stdout)
    assert "backup" not in p.stdout + p.stderr


def test_uninstall_keeps_a_sudoers_drop_in_that_holds_more(tmp_path):
    dest = str(tmp_path / "root")
    make("install", dest)
    write_trial(dest, "Defaults:alice pam_service=sudo-extid, passwd_tries=1\n"
                      "alice ALL=(ALL:ALL) ALL\n")
    p = make("uninstall", dest)
    assert files_under(dest) == {"etc/sudoers.d/extid"}, files_under(dest)
    assert "kept %s/etc/sudoers.d/extid" % dest in p.stdout, p.stdout
