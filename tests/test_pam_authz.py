"""Who may log in, decided in Entra: the users file's role: and group: requirements checked
against the verified ID token's claims, through the real pam_extid.so and libpam."""
import pwd
import re

import pytest

from pamharness import PAM, Outbox

GROUP = "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d"  # the mock's "badgroups" group
STAR_USER = "extidstar"  # a person's account (uid >= 1000) the default users file does not name


@pytest.fixture
def star_user(local_users):
    assert STAR_USER in local_users  # created for the whole session with the others
    assert pwd.getpwnam(STAR_USER).pw_uid >= 1000
    return STAR_USER


def one_login(res, tenant):
    """The login cost what a login without requirements costs: no extra request."""
    s = tenant.stats()
    assert s["connections"] == 1, s
    assert (s["requests"]["initiate"], s["requests"]["challenge"], s["requests"]["token"]) \
        == (1, 1, 1), s


def refused(res):
    assert res.rc == PAM["AUTH_ERR"], res
    assert res.messages("ERROR") == ["Authentication failed."], res
    assert "login refused: user=" in res.log_text, res.logs


def test_role_grants_and_the_log_names_the_line(pam, tenant):
    pam.write_users("extidops alice@example.com role:Linux.Ops\n")
    tenant.config(claims={"alice@example.com": {"roles": ["Other", "Linux.Ops"]}})
    res = pam.login("extidops", codes=[Outbox("alice@example.com")])
    assert res.rc == PAM["SUCCESS"], res
    assert "%s:1 grants alice@example.com (role:Linux.Ops)" % pam.users_path in res.log_text
    assert "login granted: user=extidops" in res.log_text
    one_login(res, tenant)


def test_missing_role_is_refused_like_any_other_cause(pam, tenant):
    pam.write_users("extidops alice@example.com role:Linux.Ops\n")
    tenant.config(claims={"alice@example.com": {"roles": ["linux.ops", "Linux.Ops.Extra"]}})
    res = pam.login("extidops", codes=[Outbox("alice@example.com")])
    refused(res)
    assert ("%s:1 does not grant alice@example.com: the token has none of role:Linux.Ops"
            % pam.users_path) in res.log_text, res.logs
    assert "roles linux.ops, Linux.Ops.Extra; groups (none)" in res.log_text
    one_login(res, tenant)


def test_no_roles_claim_at_all_is_refused(pam, tenant):
    pam.write_users("extidops alice@example.com role:Linux.Ops\n")
    refused(pam.login("extidops", codes=[Outbox("alice@example.com")]))


def test_group_matches_in_any_case(pam, tenant):
    pam.write_users("extidkiosk *@example.com group:%s\n" % GROUP.upper())
    tenant.config(claims={"bob@example.com": {"groups": ["11111111-2222-3333-4444-555555555555",
                                                         GROUP]}})
    res = pam.login("extidkiosk", emails=["bob@example.com"])
    assert res.rc == PAM["SUCCESS"], res
    assert "(group:%s)" % GROUP in res.log_text
    # Another address of the domain without the group.
    refused(pam.login("extidkiosk", emails=["carol@example.com"]))


@pytest.mark.parametrize("variant", ["overage", "hasgroups"])
def test_group_overage_satisfies_no_group(pam, tenant, variant):
    pam.write_users("extidkiosk *@example.com group:%s\n" % GROUP)
    address = "%s@example.com" % variant
    tenant.config(claims={address: {"groups": [GROUP]}})  # ignored: overage says there are more
    res = pam.login("extidkiosk", emails=[address])
    refused(res)
    assert "group overage" in res.log_text and "role:NAME" in res.log_text, res.logs
    # A role assigned to the group still opens the account.
    pam.write_users("extidkiosk *@example.com group:%s role:Linux.Ops\n" % GROUP)
    tenant.config(claims={address: {"roles": ["Linux.Ops"]}})
    assert pam.login("extidkiosk", emails=[address]).rc == PAM["SUCCESS"]


@pytest.mark.parametrize("variant,line", [("badroles", "role:Linux.Ops"),
                                          ("badgroups", "group:" + GROUP)])
def test_other_claim_shapes_satisfy_nothing(pam, tenant, variant, line):
    pam.write_users("extidkiosk *@example.com %s\n" % line)
    res = pam.login("extidkiosk", emails=["%s@example.com" % variant])
    refused(res)
    assert "claim is not an array of strings" in res.log_text, res.logs


def test_lines_are_alternatives(pam, tenant):
    pam.write_users("extidops alice@example.com\n"
                    "extidops *@example.com role:Linux.Ops\n"
                    "extidops *@example.com role:Break.Glass\n")
    tenant.config(claims={"bob@example.com": {"roles": ["Break.Glass"]}})
    # alice's own line has no requirement.
    res = pam.login("extidops", emails=["alice@example.com"])
    assert res.rc == PAM["SUCCESS"], res
    assert "%s:1 grants alice@example.com (no requirement)" % pam.users_path in res.log_text
    # bob has the second alternative's role, not the first's.
    res = pam.login("extidops", emails=["bob@example.com"])
    assert res.rc == PAM["SUCCESS"], res
    assert "%s:2 does not grant bob@example.com" % pam.users_path in res.log_text
    assert "%s:3 grants bob@example.com (role:Break.Glass)" % pam.users_path in res.log_text
    refused(pam.login("extidops", emails=["carol@example.com"]))


def test_address_no_line_allows_never_reaches_entra(pam, tenant):
    pam.write_users("extidops *@example.com role:Linux.Ops\n")
    res = pam.login("extidops", emails=["mallory@example.org"])
    refused(res)
    assert tenant.stats()["requests_total"] == 0


def test_star_line_opens_only_the_accounts_own_address(pam, tenant, star_user):
    pam.write_users("extidalice alice@example.com\n* *@example.com role:Shell.User\n")
    tenant.config(claims={"extidstar@example.com": {"roles": ["Shell.User"]},
                          "alice@example.com": {"roles": ["Shell.User"]}})
    res = pam.login(star_user, codes=[Outbox("extidstar@example.com")])
    assert res.rc == PAM["SUCCESS"], res
    assert res.prompts("PROMPT_ECHO_ON") == []  # the one address: not asked
    assert "grants extidstar@example.com (role:Shell.User)" in res.log_text
    # extidops, another person's account no line names: its own address only (which holds
    # no role here), never alice's.
    res = pam.login("extidops", codes=[Outbox("extidops@example.com")])
    refused(res)
    assert res.prompts("PROMPT_ECHO_ON") == []
    assert "login refused: user=extidops email=extidops@example.com" in res.log_text


def test_named_account_never_falls_back_to_star(pam, tenant, star_user):
    pam.write_users("extidalice alice@example.com role:Admin\n* *@example.com\n")
    res = pam.login("extidalice", codes=[Outbox("alice@example.com")])
    refused(res)
    assert "%s:1 does not grant alice@example.com" % pam.users_path in res.log_text
    assert "%s:2" % pam.users_path not in res.log_text


def test_star_line_requirement_still_checked(pam, tenant, star_user):
    pam.write_users("* *@example.com role:Shell.User\n")
    refused(pam.login(star_user, codes=[Outbox("extidstar@example.com")]))


def test_star_line_skips_system_accounts(pam, tenant):
    # uid < 1000: '*' does not stand for it, and nothing goes out.
    assert pwd.getpwnam("daemon").pw_uid < 1000
    pam.write_users("* *@example.com\n")
    res = pam.login("daemon")
    assert res.rc == PAM["USER_UNKNOWN"], res
    assert tenant.stats()["requests_total"] == 0


@pytest.mark.parametrize("line,reason", [
    ("extidops alice@example.com team:ops", "'team:' is not a known requirement"),
    ("extidops alice@example.com role:", "'role:': a role needs a name"),
    ("extidops alice@example.com group:ops", "'group:ops': a group is named by its object id"),
    ("extidops role:Linux.Ops", "account 'extidops' has requirements but no identity"),
    ("* alice@example.com", "'alice@example.com': a '*' line takes only *@domain identities"),
])
def test_bad_requirement_lines_are_configuration_errors(pam, tenant, line, reason):
    pam.write_users("extidalice alice@example.com\n%s\n" % line)
    res = pam.login("extidalice")
    assert res.rc == PAM["SERVICE_ERR"], res
    assert "%s:2: %s" % (pam.users_path, reason) in res.log_text, res.logs
    assert tenant.stats()["requests_total"] == 0


# --- export_env: the verified identity in the PAM environment ---

def env_of(res):
    return dict(line.split("=", 1) for line in res.messages("ENV"))


def test_export_env_sets_the_identity_after_success(pam, tenant):
    pam.write_config(export_env="yes")
    pam.write_users("extidops alice@example.com role:Linux.Ops\n")
    tenant.config(claims={"alice@example.com": {"roles": ["Linux.Ops", "Shell.User", "$(id)"]}})
    res = pam.login("extidops", codes=[Outbox("alice@example.com")])
    assert res.rc == PAM["SUCCESS"], res
    env = env_of(res)
    assert env["EXTID_EMAIL"] == "alice@example.com"
    assert env["EXTID_TID"] == tenant.tenant_id
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", env["EXTID_OID"]), env
    assert env["EXTID_ROLES"] == "Linux.Ops,Shell.User"  # "$(id)" is no safe value
    assert sorted(env) == ["EXTID_EMAIL", "EXTID_OID", "EXTID_ROLES", "EXTID_TID"]
    assert "1 role(s) not exported" in res.log_text
    one_login(res, tenant)


def test_export_env_typed_address(pam, tenant):
    pam.write_config(export_env="yes")
    res = pam.login("extidkiosk", emails=["Bob@Example.com"])
    assert res.rc == PAM["SUCCESS"], res
    assert env_of(res)["EXTID_EMAIL"] == "Bob@Example.com"
    assert env_of(res)["EXTID_ROLES"] == ""


def test_export_env_nothing_on_failure(pam, tenant):
    pam.write_config(export_env="yes")
    pam.write_users("extidops alice@example.com role:Linux.Ops\n")
    res = pam.login("extidops", codes=[Outbox("alice@example.com")])
    refused(res)
    assert env_of(res) == {}
    # A bad token: nothing either.
    pam.write_users("extidkiosk *@example.com\n")
    res = pam.login("extidkiosk", emails=["wrongaud@example.com"])
    assert res.rc == PAM["AUTH_ERR"], res
    assert env_of(res) == {}


def test_export_env_off_by_default(pam, tenant):
    res = pam.login("extidalice")
    assert res.rc == PAM["SUCCESS"], res
    assert env_of(res) == {}


def test_star_line_counts_every_person_as_listed(pam, tenant, star_user):
    # unmapped = ignore passes on only accounts that no line, '*' included, stands for.
    pam.write_config(unmapped="ignore")
    pam.write_users("* *@example.com role:Shell.User\n")
    res = pam.login(star_user, codes=[Outbox("extidstar@example.com")])
    refused(res)  # asked for a code, refused for the missing role: not passed on
    pam.write_users("extidalice alice@example.com\n")
    res = pam.login(star_user)
    assert "account extidstar is not in %s: ignored" % pam.users_path in res.log_text, res
    assert res.prompts() == [] and tenant.stats()["requests"]["initiate"] == 1
