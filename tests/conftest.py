import fcntl
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hygiene import assert_no_leak  # noqa: E402
from pamharness import PamSetup, SyslogSink, ensure_user, remove_user  # noqa: E402
from mock_tenant_control import MockTenant  # noqa: E402

TEST_USERS = ["extidalice", "extidops", "extidkiosk", "extidstar"]
# Tests using these fixtures create local accounts and files owned by root: they are `system`
# tests whether or not they say so.
ROOT_FIXTURES = {"pam", "local_users"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "system: needs root or changes the host outside the test's temporary "
        "directories (local accounts, root-owned files, /etc, the CA store, packages, mounts); "
        "skipped when not run as root")
    config.addinivalue_line(
        "markers", "slow: several seconds or more each (real sshd, sudo, login, dpkg, "
        "valgrind, the benchmark); -m 'not slow' leaves them out")


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config, items):
    as_root = os.geteuid() == 0
    for item in items:
        if ROOT_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.system)
        if not as_root and item.get_closest_marker("system"):
            item.add_marker(pytest.mark.skip(reason="system test: needs root"))


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="extid-test-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def tenant(workdir, syslog):
    t = MockTenant()
    t.start(os.path.join(workdir, "tenant"))
    yield t
    try:
        # Secret hygiene over the whole session, end-to-end tests included: nothing the mock
        # ever issued may be in anything the module logged.
        if t.running:
            assert_no_leak(t.issued(since_start=True), syslog.since(0, settle=0),
                           "syslog over the whole session")
    finally:
        t.stop()


@pytest.fixture(scope="session")
def syslog(workdir):
    sink = SyslogSink(workdir)
    yield sink
    sink.close()


# Several test sessions may run on one host at once (a developer's file next to `make test`).
# The accounts are shared: each session holds USERS_IN_USE shared while it may log them in, and
# they go when the last session ends, whichever created them. USERS_MUTEX orders creation and
# removal; USERS_CREATED names the accounts a session created (never a pre-existing one).
USERS_MUTEX = "/run/extid-test-users.mutex"
USERS_IN_USE = "/run/extid-test-users.in-use"
USERS_CREATED = "/run/extid-test-users.created"


def _lock_file(path):
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


@pytest.fixture(scope="session")
def local_users():
    mutex, in_use = _lock_file(USERS_MUTEX), _lock_file(USERS_IN_USE)
    try:
        fcntl.flock(mutex, fcntl.LOCK_EX)
        fcntl.flock(in_use, fcntl.LOCK_SH)
        created = [u for u in TEST_USERS if ensure_user(u)]
        if created:
            with open(USERS_CREATED, "a") as f:
                f.write("".join(u + "\n" for u in created))
        fcntl.flock(mutex, fcntl.LOCK_UN)
        yield list(TEST_USERS)
        fcntl.flock(mutex, fcntl.LOCK_EX)
        fcntl.flock(in_use, fcntl.LOCK_UN)
        try:
            fcntl.flock(in_use, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another session still logs them in; the last one removes them
        try:
            with open(USERS_CREATED) as f:
                for u in set(f.read().split()) & set(TEST_USERS):
                    remove_user(u)
            os.unlink(USERS_CREATED)
        except FileNotFoundError:
            pass
    finally:
        os.close(in_use)
        os.close(mutex)


@pytest.fixture
def pam(tmp_path, tenant, syslog, local_users):
    os.chmod(tmp_path, 0o755)
    tenant.reset()
    mark = syslog.mark()
    setup = PamSetup(str(tmp_path), tenant, syslog)
    yield setup
    # Secret hygiene over the whole suite: nothing the mock issued during the test may show up in
    # what the module logged or the client printed.
    if tenant.running:
        assert_no_leak(tenant.issued(), syslog.since(mark, settle=0) + setup.stderr_all,
                       "syslog or client stderr")
