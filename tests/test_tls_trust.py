"""Which certificates the module trusts: the system store when ca_file is unset, and only
ca_file when it is set. The mock tenant's test CA is added to the system store for the tests that
need it (its key never leaves the test run) and removed afterwards."""
import os
import shutil
import subprocess

import pytest

from pamharness import PAM

pytestmark = [pytest.mark.system, pytest.mark.slow]

LOCAL_CA_DIR = "/usr/local/share/ca-certificates"


@pytest.fixture
def tenant_ca_in_system_store(tenant):
    name = os.path.join(LOCAL_CA_DIR, "pam-extid-test-%d.crt" % os.getpid())
    os.makedirs(LOCAL_CA_DIR, exist_ok=True)
    shutil.copyfile(tenant.ca_file, name)
    try:
        subprocess.run(["update-ca-certificates"], check=True, capture_output=True)
        yield
    finally:
        os.unlink(name)
        subprocess.run(["update-ca-certificates", "--fresh"], check=True, capture_output=True)


def test_system_store_is_used_without_ca_file(pam, tenant, tenant_ca_in_system_store):
    pam.write_config(ca_file=None)
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res


def test_ca_file_replaces_the_system_store(pam, tenant, tenant_ca_in_system_store):
    # The server's CA is trusted system-wide, but the administrator pinned another one.
    pam.write_config(ca_file=tenant.other_ca_file)
    res = pam.login("extidalice")
    assert res.rc == PAM["AUTHINFO_UNAVAIL"], res
    assert tenant.stats()["requests_total"] == 0


def test_system_store_refuses_unknown_ca(pam, tenant):
    pam.write_config(ca_file=None)
    res = pam.login("extidalice")
    assert res.rc == PAM["AUTHINFO_UNAVAIL"], res
