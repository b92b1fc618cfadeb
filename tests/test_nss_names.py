"""User names that the name service answers for another account (case folding, aliases, as
sssd or winbind do): the users file is applied to the account that would be opened. A small
LD_PRELOAD library stands in for such a name service: it answers getpwnam_r for the upper-case
name with the lower-case account."""
import os
import subprocess

import pytest

from pamharness import PAM, Outbox

pytestmark = pytest.mark.system

SHIM = r"""
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <pwd.h>
#include <string.h>

int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, struct passwd **res)
{
    int (*real)(const char *, struct passwd *, char *, size_t, struct passwd **) =
        dlsym(RTLD_NEXT, "getpwnam_r");
    char lower[64];
    size_t i;

    for (i = 0; name[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    lower[i] = '\0';
    return real(strncmp(name, "EXTID", 5) == 0 ? lower : name, pw, buf, len, res);
}
"""


@pytest.fixture(scope="module")
def folding_nss(tmp_path_factory):
    d = tmp_path_factory.mktemp("nss")
    src, lib = d / "fold.c", d / "libfold.so"
    src.write_text(SHIM)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib), str(src), "-ldl"], check=True)
    preload = " ".join(p for p in (os.environ.get("LD_PRELOAD"), str(lib)) if p)
    return {"LD_PRELOAD": preload}


def test_folded_name_gets_the_accounts_own_line(pam, tenant, folding_nss):
    # EXTIDALICE is extidalice to the name service: the code goes to alice's address, as for
    # extidalice, and the log says which account the name stood for.
    res = pam.login("EXTIDALICE", codes=[Outbox("alice@example.com")], env=folding_nss)
    assert res.rc == PAM["SUCCESS"], res
    assert "user EXTIDALICE is the local account extidalice" in res.log_text, res.logs
    assert "login granted: user=extidalice email=alice@example.com" in res.log_text, res.logs


def test_folded_name_cannot_dodge_the_users_file(pam, tenant, folding_nss):
    # With unmapped=ignore, a name missing from the users file lets the stack go on to the next
    # module. A folded spelling of a listed account must not count as missing.
    pam.write_service(control="[success=done ignore=ignore default=die]",
                      after="auth required pam_permit.so\n")
    pam.write_config(unmapped="ignore")
    res = pam.login("EXTIDALICE", codes=["00000000"] * 3, env=folding_nss)
    assert res.rc == PAM["MAXTRIES"], res
    assert tenant.stats()["requests"]["token"] == 3
