"""The Debian package, for real: `make deb` builds it (dpkg-buildpackage, then lintian with no
errors allowed), dpkg installs it into this system, the installed module opens a session through
the system's PAM module directory and the installed extid-check checks the mock tenant,
pam-auth-update knows the profile without enabling it, and dpkg --purge takes everything away.
Takes about 15 s. Refuses to run where libpam-extid is already installed."""
import glob
import hashlib
import os
import shutil
import stat
import subprocess

import pytest

from pamharness import PAM, ROOT, write_root_file

pytestmark = [pytest.mark.system, pytest.mark.slow]

PAMDIR = subprocess.run(["pkg-config", "--variable=libdir", "pam"], capture_output=True,
                        text=True, check=True).stdout.strip() + "/security"
# The one-user sudo trial's files too: removing the package deletes them.
SUDO_TRIAL = ["/etc/sudoers.d/extid", "/etc/pam.d/sudo-extid"]
ADMIN_FILES = ["/etc/security/pam_extid.conf", "/etc/security/pam_extid.users"]
PACKAGED = [PAMDIR + "/pam_extid.so", "/usr/sbin/extid-check",
            "/usr/share/man/man8/pam_extid.8.gz", "/usr/share/man/man8/extid-check.8.gz",
            "/usr/share/man/man5/pam_extid.conf.5.gz",
            "/usr/share/man/man5/pam_extid.users.5.gz", "/usr/share/pam-configs/extid",
            "/usr/share/doc/libpam-extid/examples/pam.d-sshd",
            # pam_extid(8) points administrators at the troubleshooting guide there.
            "/usr/share/doc/libpam-extid/docs/troubleshooting.md"] + ADMIN_FILES
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env=ENV, timeout=kw.pop("timeout", 300), **kw)


def installed(pkg="libpam-extid"):
    p = run(["dpkg-query", "-W", "-f=${Status}", pkg])
    return p.returncode == 0 and "installed" in p.stdout and "not-installed" not in p.stdout


def pam_state():
    """What must not change when the package is installed: the PAM stacks and enabled
    profiles."""
    stacks = {}
    for path in sorted(glob.glob("/etc/pam.d/common-*")):
        with open(path, "rb") as f:
            stacks[path] = hashlib.sha256(f.read()).hexdigest()
    enabled = run(["debconf-show", "libpam-runtime"]).stdout
    enabled = [l for l in enabled.splitlines() if "libpam-runtime/profiles:" in l]
    return stacks, enabled


def seen_profiles():
    with open("/var/lib/pam/seen") as f:
        return f.read().split()


@pytest.fixture
def clean_system(tmp_path):
    """Moves an administrator's pam_extid files aside (dpkg would adopt and then purge them) and
    puts them back afterwards; purges the package whatever happened."""
    if installed():
        pytest.fail("libpam-extid is installed on this machine; this test installs and purges "
                    "it, so it does not run here")
    saved = []
    for path in ADMIN_FILES + SUDO_TRIAL:
        if os.path.lexists(path):
            keep = str(tmp_path / os.path.basename(path))
            shutil.move(path, keep)
            saved.append((keep, path))
    try:
        yield
    finally:
        if installed() or run(["dpkg-query", "-W", "libpam-extid"]).returncode == 0:
            run(["dpkg", "--purge", "libpam-extid"])
        for keep, path in saved:
            shutil.move(keep, path)


def test_package_build_install_purge(tmp_path, clean_system, pam, tenant):
    before = pam_state()
    build = str(tmp_path / "build")
    p = run(["make", "--no-print-directory", "deb", "BUILD=" + build], cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    lintian = [l for l in (p.stdout + p.stderr).splitlines() if l[:3] in ("E: ", "W: ", "I: ")]
    assert not [l for l in lintian if l.startswith("E: ")], lintian
    debs = glob.glob(os.path.join(build, "deb", "libpam-extid_*.deb"))
    assert len(debs) == 1, debs
    fields = run(["dpkg-deb", "-f", debs[0], "Package", "Depends"]).stdout
    assert "Package: libpam-extid" in fields and "libcurl4" in fields and "libpam0g" in fields

    p = run(["dpkg", "-i", debs[0]])
    assert p.returncode == 0, p.stdout + p.stderr
    assert installed()
    for path in PACKAGED:
        assert os.path.isfile(path), path
    assert stat.S_IMODE(os.stat("/etc/security/pam_extid.conf").st_mode) == 0o600
    cache = os.stat("/var/cache/pam_extid")
    assert stat.S_IMODE(cache.st_mode) == 0o700 and cache.st_uid == 0
    assert run(["man", "-w", "5", "pam_extid.conf"]).stdout.strip() == \
        "/usr/share/man/man5/pam_extid.conf.5.gz"

    # pam-auth-update has registered the profile and left every stack as it was
    assert "extid" in seen_profiles()
    assert pam_state() == before
    with open("/etc/pam.d/common-auth") as f:
        assert "pam_extid" not in f.read()

    # the installed tool checks the mock tenant
    p = run(["/usr/sbin/extid-check", "--config", pam.config_path])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "issuer          %s" % tenant.issuer in p.stdout

    # libpam finds the installed module by its bare name, as a distribution's PAM files name it
    write_root_file(os.path.join(pam.confdir, pam.service),
                    "auth required pam_extid.so config=%s\n" % pam.config_path, 0o644)
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res

    # A PAM file edited by hand to use the module: removing the package names it.
    hand_edited = "/etc/pam.d/extid-deb-test-%d" % os.getpid()
    write_root_file(hand_edited, "auth required pam_extid.so\n", 0o644)
    # The one-user sudo trial, as the shipped examples set it up: deleted, not listed.
    with open(os.path.join(ROOT, "conf", "sudoers.d-extid")) as f:
        write_root_file(SUDO_TRIAL[0], f.read(), 0o440)
    with open(os.path.join(ROOT, "conf", "pam.d-sudo")) as f:
        write_root_file(SUDO_TRIAL[1], f.read(), 0o644)
    try:
        p = run(["dpkg", "--purge", "libpam-extid"])
    finally:
        os.unlink(hand_edited)
        for path in SUDO_TRIAL:
            if os.path.lexists(path):
                os.unlink(path)
                pytest.fail("%s outlived the package" % path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "still use pam_extid.so" in p.stderr and hand_edited in p.stderr, p.stderr
    assert "sudo-extid" not in p.stderr and "backup" not in p.stderr, p.stderr
    assert not installed()
    for path in PACKAGED + ["/var/cache/pam_extid"]:
        assert not os.path.lexists(path), path
    assert "extid" not in seen_profiles()
    assert pam_state() == before
    res = pam.login("extidalice")
    assert res.rc != PAM["SUCCESS"], res  # the module is gone
