"""The real pam_extid.so through real libpam against the mock tenant: PAM results, what the
person sees, what went over the network and what was logged (pam_extid(8): RETURN VALUES, DIAGNOSTICS)."""
import contextlib
import json
import os
import re
import shutil
import socket
import threading
import time

import pytest

from pamharness import PAM, Outbox

pytestmark = pytest.mark.system

TOKEN_SCENARIOS = ["forged", "algnone", "hs256", "unknownkid", "expiredtoken", "future",
                   "multiaud", "otherazp",
                   "wrongaud", "wrongiss", "wrongtid", "otheruser", "noidtoken", "noexp",
                   "expstring"]


def assert_no_secrets(res, tenant, email):
    code = tenant.outbox(email)
    for line in res.logs:
        assert not (code and code in line), "code leaked into the log: %s" % line
        assert "eyJ" not in line, "token leaked into the log: %s" % line
        assert "continuation_token" not in line, line


def test_known_email_logs_in_without_email_prompt(pam, tenant):
    res = pam.login("extidalice", rhost="192.0.2.7")
    assert res.rc == PAM["SUCCESS"], res
    assert res.prompts("PROMPT_ECHO_ON") == []
    [prompt] = res.prompts("PROMPT_ECHO_OFF")
    assert "8 digits" in prompt
    assert re.search(r"a\S*@\S+", prompt), prompt  # the masked address...
    assert "alice@example.com" not in prompt.lower(), prompt  # ...not the address itself
    s = tenant.stats()
    assert s["requests"]["initiate"] == 1 and s["requests"]["challenge"] == 1
    assert s["requests"]["token"] == 1
    assert s["connections"] == 1, s  # one connection for the whole login, discovery included
    assert re.search(r"login granted: user=extidalice email=alice@example.com rhost=192.0.2.7",
                     res.log_text), res.logs
    assert_no_secrets(res, tenant, "alice@example.com")


def test_typed_email_matching_domain_wildcard(pam, tenant):
    res = pam.login("extidkiosk", emails=["Bob@Example.com"])
    assert res.rc == PAM["SUCCESS"], res
    assert len(res.prompts("PROMPT_ECHO_ON")) == 1
    s = tenant.stats()
    assert (s["connections"], s["tls_handshakes"], s["requests"]["initiate"]) == (1, 1, 1), s


def wait_for(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_connection_and_tls_are_ready_before_the_address_is_typed(pam, tenant):
    seen = {}

    def typist(t, _):
        # While the address prompt is up, the module finishes its TLS handshake with the
        # tenant, and sends nothing on the connection.
        seen["ready"] = wait_for(lambda: t.stats()["tls_handshakes"] == 1)
        seen["stats"] = t.stats()
        return "bob@example.com"

    res = pam.login("extidkiosk", emails=[typist])
    assert res.rc == PAM["SUCCESS"], res
    assert seen["ready"], seen
    assert seen["stats"]["requests_total"] == 0, seen
    assert "went out on the connection opened during the prompt" in res.log_text, res.logs
    s = tenant.stats()
    assert (s["connections"], s["tls_handshakes"], s["requests"]["initiate"]) == (1, 1, 1), s


def test_early_connect_no_waits_for_the_address(pam, tenant):
    pam.write_config(early_connect="no")
    seen = {}

    def typist(t, _):
        # Give a connection every chance to appear: none may while the prompt is up.
        seen["connected"] = wait_for(lambda: t.stats()["connections"] > 0, timeout=1.0)
        return "bob@example.com"

    res = pam.login("extidkiosk", emails=[typist])
    assert res.rc == PAM["SUCCESS"], res
    assert seen["connected"] is False, seen
    assert "opened during the prompt" not in res.log_text, res.logs
    s = tenant.stats()
    assert (s["connections"], s["requests"]["initiate"]) == (1, 1), s


def test_early_connection_closed_while_typing_is_replaced(pam, tenant):
    # The tenant closes the connection, idle since its handshake, while the person types.
    tenant.config(idle_timeout=0.3)

    def slow_typist(t, _):
        assert wait_for(lambda: t.stats()["tls_handshakes"] == 1)  # slow under valgrind
        assert wait_for(lambda: t.stats()["closed"] == 1)  # the tenant dropped it
        t.config(idle_timeout=120)  # patient again for the new connection
        return "bob@example.com"

    res = pam.login("extidkiosk", emails=[slow_typist])
    assert res.rc == PAM["SUCCESS"], res
    assert "opened during the prompt failed or is gone" in res.log_text, res.logs
    s = tenant.stats()
    assert s["connections"] == 2 and s["requests"]["initiate"] == 1, s


def test_early_connection_lost_during_handshake_is_retried(pam, tenant):
    tenant.config(drop_handshakes=1)
    res = pam.login("extidkiosk", emails=["bob@example.com"])
    assert res.rc == PAM["SUCCESS"], res
    assert "opened during the prompt failed or is gone" in res.log_text, res.logs
    assert tenant.stats()["requests"]["initiate"] == 1


def test_tls_failure_without_early_connection_is_not_retried(pam, tenant):
    tenant.config(drop_handshakes=1)
    res = pam.login("extidalice")  # one mapped address: no prompt, no early connection
    assert res.rc == PAM["AUTHINFO_UNAVAIL"], res
    assert "opened during the prompt" not in res.log_text
    assert tenant.stats()["connections"] == 1


def test_abandoned_address_prompt_sends_nothing(pam, tenant):
    # No answer to the address prompt (the client reports a conversation error): the early
    # connection is dropped without a request, and the module returns promptly.
    started = time.time()
    res = pam.login("extidkiosk", emails=[])
    assert res.rc == PAM["CONV_ERR"], res
    assert time.time() - started < 10
    assert tenant.stats()["requests_total"] == 0


class StalledServer:
    """Accepts TCP connections and never answers: a TLS handshake with it never ends."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self.sock.accept()[0])

    def close(self):
        self.sock.close()
        for c in self.accepted:
            c.close()


@pytest.fixture
def stalled():
    s = StalledServer()
    yield s
    s.close()


def test_abandoned_prompt_stops_a_stalled_handshake(pam, stalled):
    # The person gives up while the early connection is still in its TLS handshake: the module
    # returns at once instead of waiting out the connect timeout.
    pam.write_config(authority="https://127.0.0.1:%d/mocktenant.onmicrosoft.com" % stalled.port,
                     timeout=8)
    started = time.time()
    res = pam.login("extidkiosk", emails=[])
    assert res.rc == PAM["CONV_ERR"], res
    assert time.time() - started < 5, res


def test_time_allowed_counts_from_the_typed_address(pam, stalled):
    # The handshake never ends. The time allowed runs from the typed address, covering what is
    # left of the connection: the request times out then, and is not sent again on a new
    # connection with a fresh allowance.
    pam.write_config(authority="https://127.0.0.1:%d/mocktenant.onmicrosoft.com" % stalled.port,
                     timeout=2)

    def slow_typist(_t, _):
        assert wait_for(lambda: len(stalled.accepted) == 1)
        time.sleep(1.0)
        return "bob@example.com"

    res = pam.login("extidkiosk", emails=[slow_typist])
    assert res.rc == PAM["AUTHINFO_UNAVAIL"], res
    assert "Timeout was reached" in res.log_text, res.logs
    assert "connecting again" not in res.log_text, res.logs
    assert len(stalled.accepted) == 1


def test_early_connection_falls_back_when_refused(pam, tenant):
    # Nothing listens on the pinned port: the early connect fails, curl reconnects and fails too.
    pam.write_config(authority="https://127.0.0.1:1/mocktenant.onmicrosoft.com", timeout=2)
    res = pam.login("extidkiosk", emails=["bob@example.com"])
    assert res.rc == PAM["AUTHINFO_UNAVAIL"], res


def test_account_with_two_addresses_asks_which(pam, tenant):
    res = pam.login("extidops", emails=["bob@example.com"])
    assert res.rc == PAM["SUCCESS"], res


def test_disallowed_email_refused_without_network(pam, tenant):
    res = pam.login("extidops", emails=["mallory@example.com"])
    assert res.rc == PAM["AUTH_ERR"], res
    assert tenant.stats()["requests_total"] == 0
    assert "not allowed" in res.log_text
    res = pam.login("extidkiosk", emails=["eve@example.com.evil.org"])
    assert res.rc == PAM["AUTH_ERR"], res
    res = pam.login("extidkiosk", emails=["not an email"])
    assert res.rc == PAM["AUTH_ERR"], res
    assert tenant.stats()["requests_total"] == 0
    assert res.messages("ERROR") == ["Authentication failed."]


def test_unmapped_account_refused_without_network(pam, tenant):
    res = pam.login("root")
    assert res.rc == PAM["USER_UNKNOWN"], res
    res = pam.login("no-such-local-user")
    assert res.rc == PAM["USER_UNKNOWN"], res
    assert tenant.stats()["requests_total"] == 0
    # PAM_IGNORE lets the stack go on: here to pam_permit, so the transaction succeeds,
    # while a refusal (default=die) would end it.
    pam.write_service(control="[success=done ignore=ignore default=die]",
                      after="auth required pam_permit.so\n")
    res = pam.login("root")
    assert res.rc == PAM["USER_UNKNOWN"], res
    pam.write_config(unmapped="ignore")
    res = pam.login("root")
    assert res.rc == PAM["SUCCESS"], res
    assert res.prompts() == [] and tenant.stats()["requests_total"] == 0
    assert "ignored" in res.log_text


def test_unknown_and_unlisted_accounts_look_alike(pam, tenant):
    # Whoever probes account names learns nothing from the answers: an account that does not
    # exist and a local account absent from the users file get the same result and message.
    absent = pam.login("no-such-local-user")
    unlisted = pam.login("root")
    for res in (absent, unlisted):
        assert res.rc == PAM["USER_UNKNOWN"], res
    assert absent.transcript == unlisted.transcript
    assert absent.messages("ERROR") == ["Authentication failed."]
    assert "user no-such-local-user is not a local account" in absent.log_text
    assert "account root is not in" in unlisted.log_text


def test_user_prompt_failures(pam, tenant):
    # The stack asks for the user name (the application gave none). A failed conversation is a
    # conversation error, an empty name an unknown user with a line that says so.
    res = pam.login("-", emails=[])
    assert res.rc == PAM["CONV_ERR"], res
    assert "cannot determine the user name" in res.log_text, res.logs
    res = pam.login("-", emails=[""])
    assert res.rc == PAM["USER_UNKNOWN"], res
    assert "the user name is empty" in res.log_text, res.logs
    res = pam.login("-", emails=["extidalice"], codes=[Outbox("alice@example.com")])
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.stats()["requests"]["token"] == 1


def test_wrong_code_then_right_code(pam, tenant):
    res = pam.login("extidalice", codes=["00000000", Outbox()])
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.stats()["requests"]["token"] == 2
    assert any("Wrong code" in m for m in res.messages("ERROR"))


def test_max_attempts_reached(pam, tenant):
    res = pam.login("extidalice", codes=["00000000", "11111111", "22222222"])
    assert res.rc == PAM["MAXTRIES"], res
    assert tenant.stats()["requests"]["token"] == 3
    pam.write_config(max_attempts=1)
    res = pam.login("extidalice", codes=["00000000", Outbox()])
    assert res.rc == PAM["MAXTRIES"], res


def test_malformed_code_is_not_sent(pam, tenant):
    res = pam.login("extidalice", codes=["12ab5678", "123", Outbox()])
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.stats()["requests"]["token"] == 1
    assert any("8 digits" in m for m in res.messages("ERROR"))


def test_malformed_codes_count_as_attempts(pam, tenant):
    pam.write_config(max_attempts=2)
    res = pam.login("extidalice", codes=["12ab5678", "123", Outbox()])
    assert res.rc == PAM["MAXTRIES"], res
    assert len(res.prompts("PROMPT_ECHO_OFF")) == 2, res
    assert tenant.stats()["requests"]["token"] == 0
    assert "code entry 2 of 2: not 8 digits, not sent" in res.log_text, res.logs


def test_empty_answers_beyond_the_resends_count_as_attempts(pam, tenant):
    pam.write_config(max_resends=0, max_attempts=2)
    res = pam.login("extidalice", codes=["", "", Outbox()])
    assert res.rc == PAM["MAXTRIES"], res
    assert len(res.prompts("PROMPT_ECHO_OFF")) == 2, res
    assert tenant.stats()["requests"]["challenge"] == 1
    assert tenant.stats()["requests"]["token"] == 0


def test_code_length_comes_from_the_challenge(pam, tenant):
    # The tenant announces 6 digits: an 8-digit answer is malformed, the 6-digit code works.
    email = "code6@example.com"
    res = pam.login("extidkiosk", emails=[email], codes=["12345678", Outbox(email)])
    assert res.rc == PAM["SUCCESS"], res
    prompts = res.prompts("PROMPT_ECHO_OFF")
    assert "(6 digits" in prompts[0], prompts
    assert tenant.stats()["requests"]["token"] == 1
    assert any("The code is 6 digits." in m for m in res.messages("ERROR")), res


def test_identity_claim_setting_is_used(pam, tenant):
    # The token's email claim is the challenged address, its preferred_username is not.
    email = "otherprefname@example.com"
    res = pam.login("extidkiosk", emails=[email])
    assert res.rc == PAM["AUTH_ERR"], res
    assert "preferred_username" in res.log_text, res.logs
    pam.write_config(identity_claim="email")
    res = pam.login("extidkiosk", emails=[email])
    assert res.rc == PAM["SUCCESS"], res


def test_clock_skew_setting_is_used(pam, tenant):
    # The token expired two minutes ago: inside the default 300 s of skew, outside 60 s.
    email = "expired2min@example.com"
    res = pam.login("extidkiosk", emails=[email])
    assert res.rc == PAM["SUCCESS"], res
    pam.write_config(clock_skew=60)
    res = pam.login("extidkiosk", emails=[email])
    assert res.rc == PAM["AUTH_ERR"], res
    assert "exp" in res.log_text, res.logs


def test_listed_account_that_is_not_local_is_refused(pam, tenant):
    # The users file names an account this host does not have: nothing to open.
    pam.write_users("extidghost alice@example.com\nextidalice alice@example.com\n")
    res = pam.login("extidghost")
    assert res.rc == PAM["USER_UNKNOWN"], res
    assert tenant.stats()["requests_total"] == 0
    assert "user extidghost is not a local account" in res.log_text, res.logs
    # unmapped=ignore: PAM_IGNORE lets the stack go on, here to pam_permit.
    pam.write_service(control="[success=done ignore=ignore default=die]",
                      after="auth required pam_permit.so\n")
    pam.write_config(unmapped="ignore")
    res = pam.login("extidghost")
    assert res.rc == PAM["SUCCESS"], res
    assert res.prompts() == [] and tenant.stats()["requests_total"] == 0


def test_logs_go_to_authpriv_and_debug_lines_only_with_debug(pam, tenant):
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    pris = [int(re.match(r"<(\d+)>", line).group(1)) for line in res.logs]
    assert pris and all(p >> 3 == 10 for p in pris), res.logs  # LOG_AUTHPRIV
    assert any(p & 7 == 7 for p in pris), res.logs  # debug lines, with debug on
    pam.flags = []
    pam.write_config()
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    pris = [int(re.match(r"<(\d+)>", line).group(1)) for line in res.logs]
    assert pris and all(p >> 3 == 10 for p in pris), res.logs
    assert not any(p & 7 == 7 for p in pris), res.logs


def test_empty_answer_sends_a_new_code_and_old_one_dies(pam, tenant):
    kept = {}

    def remember_then_ask_new(t, email):
        kept["first"] = t.outbox(email)
        return ""

    res = pam.login("extidalice",
                    codes=[remember_then_ask_new, lambda t, e: kept["first"], Outbox()])
    assert res.rc == PAM["SUCCESS"], res
    s = tenant.stats()
    assert s["requests"]["challenge"] == 2 and s["requests"]["token"] == 2, s
    assert tenant.sent("alice@example.com") == 2
    assert tenant.outbox("alice@example.com") != kept["first"]
    assert any("Wrong code" in m for m in res.messages("ERROR"))


@pytest.mark.parametrize("status", [429, 503])
def test_refused_resend_keeps_the_code_already_sent(pam, tenant, status):
    # Entra refuses the new code (too soon, or busy): nothing was sent, so the first code still
    # completes the login, and no new code is offered again.
    def ask_again_but_refuse(t, email):
        t.config(fail_next={"endpoint": "challenge", "status": status})
        return ""

    res = pam.login("extidalice", codes=[ask_again_but_refuse, Outbox()])
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.sent("alice@example.com") == 1
    assert any("enter the code already sent" in m for m in res.messages("ERROR")), res
    prompts = res.prompts("PROMPT_ECHO_OFF")
    assert len(prompts) == 2 and "new code" not in prompts[1], prompts
    assert "no new code was sent; the current one stays valid" in res.log_text, res.logs


def test_resend_limit(pam, tenant):
    pam.write_config(max_resends=1)
    res = pam.login("extidalice", codes=["", "", Outbox()])
    # second empty answer is beyond max_resends: it counts as a failed entry
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.stats()["requests"]["challenge"] == 2
    prompts = res.prompts("PROMPT_ECHO_OFF")
    assert "new code" in prompts[0] and "new code" not in prompts[-1]


@pytest.mark.parametrize("scenario", TOKEN_SCENARIOS)
def test_bad_id_token_refused(pam, tenant, scenario):
    email = "%s@example.com" % scenario
    res = pam.login("extidkiosk", emails=[email])
    assert res.rc == PAM["AUTH_ERR"], res
    assert tenant.stats()["requests"]["token"] == 1
    assert "login refused" in res.log_text
    assert_no_secrets(res, tenant, email)


def test_unknown_kid_refetches_jwks_once(pam, tenant):
    pam.login("extidalice")  # warm the cache
    tenant.reset()
    res = pam.login("extidkiosk", emails=["unknownkid@example.com"])
    assert res.rc == PAM["AUTH_ERR"], res
    # The tenant's key set once more, then the app's own (discovery with ?appid=): two fetches.
    assert tenant.stats()["requests"]["jwks"] == 2
    assert "ID token signed by a key neither the tenant nor the app publishes" in res.log_text


def test_unusable_cached_jwks_is_refetched(pam, tenant):
    # A key set cached while the tenant published its keys in a form the module refuses (here
    # an unsupported key type) must not refuse every login until jwks_ttl runs out.
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    [name] = [n for n in os.listdir(pam.cache_dir) if n.startswith("jwks-")]
    path = os.path.join(pam.cache_dir, name)
    with open(path) as f:
        jwks = json.load(f)
    for key in jwks["keys"]:
        key["kty"] = "EC"
    with open(path, "w") as f:
        json.dump(jwks, f)
    tenant.reset()
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    assert "the cached JWKS is unusable: refetching" in res.log_text, res.logs
    assert tenant.stats()["requests"]["jwks"] == 1


def test_rotated_key_is_fetched(pam, tenant):
    assert pam.login("extidalice").rc == PAM["SUCCESS"]  # cache holds the old JWKS
    tenant.rotate()
    tenant_stats_before = tenant.stats()["requests"]["jwks"]
    res = pam.login("extidkiosk", emails=["rotatedkid@example.com"])
    assert res.rc == PAM["SUCCESS"], res
    assert tenant.stats()["requests"]["jwks"] == tenant_stats_before + 1


def test_warm_cache_makes_three_requests(pam, tenant):
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    tenant.reset()
    assert pam.login("extidalice").rc == PAM["SUCCESS"]
    s = tenant.stats()
    assert s["requests_total"] == 3 and s["connections"] == 1, s


@pytest.mark.parametrize("scenario", ["unknown", "redirect", "password", "challengeredirect",
                                      "tokenredirect", "mfareg", "expired"])
def test_entra_refusals_are_auth_errors(pam, tenant, scenario):
    res = pam.login("extidkiosk", emails=["%s@example.com" % scenario])
    assert res.rc == PAM["AUTH_ERR"], res
    assert res.messages("ERROR")[-1] == "Authentication failed."


@pytest.mark.parametrize("scenario", ["servererror", "unavailable", "busy", "badjson", "notjson",
                                      "hugebody"])
def test_service_trouble_is_unavailable(pam, tenant, scenario):
    res = pam.login("extidkiosk", emails=["%s@example.com" % scenario])
    assert res.rc == PAM["AUTHINFO_UNAVAIL"], res


def test_error_log_names_entra_ids(pam, tenant):
    res = pam.login("extidkiosk", emails=["unknown@example.com"])
    assert res.rc == PAM["AUTH_ERR"]
    assert "user_not_found" in res.log_text
    assert re.search(r"trace_id[=:]\s*[0-9a-f-]{36}", res.log_text), res.logs


def test_slow_server_times_out(pam, tenant):
    pam.write_config(timeout=1)
    tenant.config(slow_seconds=3)
    res = pam.login("extidkiosk", emails=["slow@example.com"])
    assert res.rc == PAM["AUTHINFO_UNAVAIL"], res
    assert "Timeout was reached" in res.log_text, res.logs


def test_disabled_app_is_a_service_error(pam, tenant):
    res = pam.login("extidkiosk", emails=["disabled@example.com"])
    assert res.rc == PAM["SERVICE_ERR"], res


def test_untrusted_tls_certificate(pam, tenant):
    pam.write_config(ca_file=tenant.other_ca_file)
    res = pam.login("extidalice")
    assert res.rc == PAM["AUTHINFO_UNAVAIL"], res
    assert tenant.stats()["requests_total"] == 0


def test_http_authority_refused(pam, tenant):
    pam.write_config(authority=tenant.authority.replace("https://", "http://"))
    res = pam.login("extidalice")
    assert res.rc == PAM["SERVICE_ERR"], res
    assert tenant.stats()["requests_total"] == 0


@pytest.mark.parametrize("what", ["mode", "owner", "unknown_key", "bad_value", "symlink"])
def test_unsafe_or_bad_config_refused(pam, tenant, what):
    if what == "mode":
        os.chmod(pam.config_path, 0o666)
    elif what == "owner":
        os.chown(pam.config_path, 65534, 65534)
    elif what == "unknown_key":
        pam.flags.append("colour = blue")
        pam.write_config()
    elif what == "bad_value":
        pam.write_config(max_attempts="many")
    elif what == "symlink":
        os.rename(pam.config_path, pam.config_path + ".real")
        os.symlink(pam.config_path + ".real", pam.config_path)
    res = pam.login("extidalice")
    assert res.rc == PAM["SERVICE_ERR"], res
    assert tenant.stats()["requests_total"] == 0
    assert "pam_extid.conf" in res.log_text


def test_unsafe_users_file_refused(pam, tenant):
    pam.write_users("extidalice alice@example.com\n", mode=0o666)
    res = pam.login("extidalice")
    assert res.rc == PAM["SERVICE_ERR"], res
    assert tenant.stats()["requests_total"] == 0


def unsafe_dir(pam, name, how):
    """A directory under the test's own, made unsafe: writable by all (not sticky), or owned by
    another user."""
    path = os.path.join(pam.dir, name)
    os.makedirs(path, exist_ok=True)
    if how == "writable":
        os.chmod(path, 0o777)
    else:
        os.chown(path, 65534, 65534)
    return path


@pytest.mark.parametrize("how", ["writable", "owner"])
@pytest.mark.parametrize("what", ["config", "users", "cache_dir", "ca_file"])
def test_file_in_unsafe_directory_refused(pam, tenant, what, how):
    # Whoever can write a directory on the way can swap the file (or a directory) for their own.
    d = unsafe_dir(pam, "unsafe", how)
    if what == "config":
        os.makedirs(os.path.join(d, "inner"))  # safe itself; the unsafe one is further up
        pam.config_path = os.path.join(d, "inner", "pam_extid.conf")
        pam.write_config()
        pam.write_service()
    elif what == "users":
        path = os.path.join(d, "pam_extid.users")
        os.rename(pam.users_path, path)
        pam.write_config(users=path)
    elif what == "cache_dir":
        # The send throttle keeps its state there: without a safe directory it cannot hold.
        pam.write_config(cache_dir=os.path.join(d, "cache"), send_limit=5)
    else:
        path = os.path.join(d, "ca.pem")
        shutil.copyfile(tenant.ca_file, path)
        pam.write_config(ca_file=path)
    res = pam.login("extidalice")
    # A configuration error, never "unavailable": the fallback stacks (authinfo_unavail=ignore)
    # would then offer the local password to whoever made the directory writable.
    assert res.rc == PAM["SERVICE_ERR"], res
    assert tenant.stats()["requests_total"] == 0
    reason = ("is writable by group or others (mode 0777)" if how == "writable"
              else "is owned by uid 65534, not root")
    assert "directory %s %s" % (d, reason) in res.log_text, res.logs


def test_unsafe_cache_directory_is_not_used_for_keys(pam, tenant):
    # With the throttle off, the login goes on without the cache: discovery and keys are
    # fetched afresh each time, never read from a directory others could have written.
    d = unsafe_dir(pam, "unsafe", "writable")
    pam.write_config(cache_dir=os.path.join(d, "cache"))
    for _ in range(2):
        res = pam.login("extidalice")
        assert res.rc == PAM["SUCCESS"], res
        assert "is writable by group or others (mode 0777)" in res.log_text, res.logs
    s = tenant.stats()
    assert s["requests"]["discovery"] == 2 and s["requests"]["jwks"] == 2, s
    assert not os.path.exists(os.path.join(d, "cache", "lock"))
    assert not [n for n in os.listdir(os.path.join(d, "cache")) if n.startswith("jwks")] \
        if os.path.isdir(os.path.join(d, "cache")) else True


def test_ca_file_writable_by_others_refused(pam, tenant):
    path = os.path.join(pam.dir, "ca.pem")
    shutil.copyfile(tenant.ca_file, path)
    os.chmod(path, 0o666)
    pam.write_config(ca_file=path)
    res = pam.login("extidalice")
    assert res.rc != PAM["SUCCESS"] and res.rc == PAM["SERVICE_ERR"], res
    assert tenant.stats()["requests_total"] == 0
    assert "is writable by group or others (mode 0666)" in res.log_text, res.logs
    assert "ca_file %s refused" % path in res.log_text


def test_ca_file_through_a_symlink_is_followed_and_checked(pam, tenant):
    # Like the links in /etc/ssl/certs: the file they lead to is what is checked and used.
    real = os.path.join(pam.dir, "ca-real.pem")
    shutil.copyfile(tenant.ca_file, real)
    link = os.path.join(pam.dir, "ca.pem")
    os.symlink(real, link)
    pam.write_config(ca_file=link)
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    os.chmod(real, 0o664)
    res = pam.login("extidalice")
    assert res.rc == PAM["SERVICE_ERR"], res
    assert "%s: is writable by group or others (mode 0664)" % link in res.log_text, res.logs


def test_module_argument_overrides_file(pam, tenant):
    pam.write_service("max_attempts=1")
    res = pam.login("extidalice", codes=["00000000", Outbox()])
    assert res.rc == PAM["MAXTRIES"], res


def test_conversation_abort(pam, tenant):
    res = pam.login("extidalice", codes=[])
    assert res.rc == PAM["CONV_ERR"], res


def test_connection_closed_while_person_reads_email_is_reopened(pam, tenant):
    tenant.config(idle_timeout=0.3)

    def slow_reader(t, email):
        assert wait_for(lambda: t.stats()["closed"] == 1)  # the tenant dropped the idle one
        return t.outbox(email)

    res = pam.login("extidalice", codes=[slow_reader])
    assert res.rc == PAM["SUCCESS"], res
    s = tenant.stats()
    assert s["connections"] == 2 and s["requests"]["token"] == 1, s


def test_pam_silent_suppresses_messages_not_prompts(pam, tenant):
    res = pam.login("extidalice", codes=["00000000", "11111111", "22222222"], silent=True)
    assert res.rc == PAM["MAXTRIES"], res
    assert len(res.prompts("PROMPT_ECHO_OFF")) == 3
    assert res.messages("ERROR") == [] and res.messages("INFO") == []
    # What would have been shown goes out inside prompts (sudo always asks for silence): the
    # next code prompt says the last code was wrong, a last prompt says why the login ended.
    first, second, third = res.prompts("PROMPT_ECHO_OFF")
    assert first.startswith("Code emailed to"), res
    assert second.startswith("Wrong code, try again. Code emailed to"), res
    assert third.startswith("Wrong code, try again. Code emailed to"), res
    assert res.prompts("PROMPT_ECHO_ON") == ["Too many wrong codes. Press Enter: "], res
    # A login refused before any prompt is told why in that last prompt alone.
    pam.write_config(send_limit=1, send_gap=0)
    assert pam.login("extidalice", silent=True).rc == PAM["SUCCESS"]
    res = pam.login("extidalice", silent=True)
    assert res.rc == PAM["AUTH_ERR"], res
    [last] = res.prompts()
    assert re.match(r"Too many codes were sent to this address; wait \d+ minutes\. "
                    r"Press Enter: $", last), res
    assert res.messages("ERROR") == [], res
    res = pam.login("extidalice", codes=["00000000", "11111111", "22222222"])
    assert res.messages("ERROR"), res  # the same login, not silent, does show them


def test_sslkeylogfile_in_environment_is_refused(pam, tenant, tmp_path):
    # In su or sudo the environment is the caller's: root must not write TLS secrets to a file
    # the caller names.
    target = tmp_path / "keylog"
    res = pam.login("extidalice", env={"SSLKEYLOGFILE": str(target)})
    assert res.rc == PAM["SYSTEM_ERR"], res
    assert not target.exists()
    assert tenant.stats()["requests_total"] == 0
    assert "SSLKEYLOGFILE" in res.log_text


def test_user_name_control_characters_are_not_logged(pam, tenant):
    res = pam.login("nobody-here\nforged: login granted")
    assert res.rc == PAM["USER_UNKNOWN"], res
    assert all("\n" not in line.rstrip("\n") for line in res.logs), res.logs
    assert "nobody-here?forged" in res.log_text


def test_one_audit_line_for_every_login(pam, tenant):
    # Granted or refused, a login leaves exactly one audit line; a refusal carries its result.
    audit = re.compile(r"login (granted|refused): user=\S+ email=\S+ rhost=\S+ service=\S+")
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    lines = [l for l in res.logs if audit.search(l)]
    assert len(lines) == 1 and "login granted: user=extidalice" in lines[0], res.logs
    assert "result=" not in lines[0]
    res = pam.login("extidalice", codes=["00000000", "11111111", "22222222"])
    assert res.rc == PAM["MAXTRIES"], res
    lines = [l for l in res.logs if audit.search(l)]
    assert len(lines) == 1 and lines[0].endswith(
        "login refused: user=extidalice email=alice@example.com rhost=- service=extid-test "
        "result=maxtries"), res.logs
    assert not any("login result for" in l for l in res.logs), res.logs
