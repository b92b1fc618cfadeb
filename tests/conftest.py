import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pamharness import PamSetup, SyslogSink, ensure_user, remove_user  # noqa: E402
from tenant import MockTenant  # noqa: E402

TEST_USERS = ["extidalice", "extidops", "extidkiosk"]


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="extid-test-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def tenant(workdir):
    t = MockTenant()
    t.start(os.path.join(workdir, "tenant"))
    yield t
    t.stop()


@pytest.fixture(scope="session")
def syslog(workdir):
    sink = SyslogSink(workdir)
    yield sink
    sink.close()


@pytest.fixture(scope="session")
def local_users():
    created = []
    for u in TEST_USERS:
        if ensure_user(u):
            created.append(u)
    yield list(TEST_USERS)
    for u in created:
        remove_user(u)


@pytest.fixture
def pam(tmp_path, tenant, syslog, local_users):
    os.chmod(tmp_path, 0o755)
    tenant.reset()
    return PamSetup(str(tmp_path), tenant, syslog)
