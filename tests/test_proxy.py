"""The `proxy` key through a real HTTP CONNECT tunnel (tests/connect_proxy.py): logins go through
it, the connection made while the address is typed too, credentials work and are never logged,
a dead proxy fails closed, and proxies from the environment are never used."""
import pytest

from connect_proxy import ConnectProxy
from pamharness import PAM

pytestmark = pytest.mark.system


def tenant_target(tenant):
    return tenant.authority.split("//", 1)[1].split("/", 1)[0]


@pytest.fixture
def proxy():
    with ConnectProxy() as p:
        yield p


def test_login_through_proxy(pam, tenant, proxy):
    pam.write_config(proxy=proxy.url)
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    # One tunnel for the whole login, to the tenant and nowhere else.
    assert proxy.connects == [tenant_target(tenant)]
    assert tenant.stats()["connections"] == 1


def test_typed_address_through_proxy(pam, tenant, proxy):
    # The connection made during the address prompt goes through the tunnel as well.
    pam.write_config(proxy=proxy.url)
    res = pam.login("extidkiosk", emails=["bob@example.com"])
    assert res.rc == PAM["SUCCESS"], res
    assert "went out on the connection opened during the prompt" in res.log_text, res.logs
    assert proxy.connects == [tenant_target(tenant)]


def test_proxy_credentials_are_used_and_never_logged(pam, tenant):
    with ConnectProxy(user="svc-login", password="Pr0xy-s3cret") as p:
        url = "http://svc-login:Pr0xy-s3cret@127.0.0.1:%d" % p.port
        pam.write_config(proxy=url)
        res = pam.login("extidalice")
        assert res.rc == PAM["SUCCESS"], res
        assert p.refused == 0 and p.connects == [tenant_target(tenant)]
        pam.write_config(proxy=url.replace("Pr0xy-s3cret", "wrong-s3cret"))
        res_bad = pam.login("extidalice")
        assert res_bad.rc == PAM["AUTHINFO_UNAVAIL"], res_bad
        assert p.refused >= 1
        assert "407" in res_bad.log_text, res_bad.logs
    for r in (res, res_bad):
        assert "s3cret" not in r.log_text, r.logs
        assert "s3cret" not in "".join(pam.stderr_all)


def test_dead_proxy_fails_closed(pam, tenant):
    pam.write_config(proxy="http://127.0.0.1:1", timeout=2)
    res = pam.login("extidalice")
    assert res.rc == PAM["AUTHINFO_UNAVAIL"], res
    assert tenant.stats()["requests_total"] == 0


def test_environment_proxies_are_ignored(pam, tenant, proxy):
    # sshd's or sudo's caller's environment must not route the login elsewhere.
    env = {name: proxy.url for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                                        "http_proxy")}
    res = pam.login("extidalice", env=env)
    assert res.rc == PAM["SUCCESS"], res
    res = pam.login("extidkiosk", emails=["bob@example.com"], env=env)
    assert res.rc == PAM["SUCCESS"], res
    assert proxy.connects == []


def test_environment_no_proxy_does_not_bypass_the_proxy(pam, tenant, proxy):
    # no_proxy from the caller's environment must not send the login around the configured
    # proxy either.
    pam.write_config(proxy=proxy.url)
    env = {"NO_PROXY": "*", "no_proxy": "*"}
    res = pam.login("extidalice", env=env)
    assert res.rc == PAM["SUCCESS"], res
    assert proxy.connects == [tenant_target(tenant)]
