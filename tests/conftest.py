import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hygiene import assert_no_leak  # noqa: E402
from pamharness import HostShare, PamSetup, SyslogSink, ensure_user, remove_user  # noqa: E402
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


@pytest.fixture(scope="session")
def local_users():
    # Other test sessions may be using the accounts: the last one to end removes them.
    share = HostShare("users")
    try:
        with share.changing():
            share.join()
            share.note([u for u in TEST_USERS if ensure_user(u)])
        yield list(TEST_USERS)
        with share.changing():
            for u in set(share.leave() or ()) & set(TEST_USERS):
                remove_user(u)
    finally:
        share.close()


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
