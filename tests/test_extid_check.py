"""extid-check (tools/extid-check.c) against the mock tenant: the file checks, the discovery and
key-set report, --user, the interactive --login on a pty, and the failures an administrator
meets (unsafe or malformed files, unreachable authority, untrusted certificate)."""
import io
import os
import re
import subprocess
import time

import pexpect
import pytest

from hygiene import assert_no_leak
from pamharness import ROOT, write_root_file

pytestmark = pytest.mark.system

CHECK = os.path.join(ROOT, "build", "extid-check")
VALGRIND = ["valgrind", "-q", "--leak-check=full", "--error-exitcode=99"]


def run(pam, *args, config=True, wrap=()):
    argv = list(wrap) + [CHECK]
    if config:
        argv += ["--config", pam.config_path]
    proc = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=120)
    return proc


def spawn_login(pam, email, *args, wrap=()):
    argv = list(wrap) + [CHECK, "--config", pam.config_path, "--login", email] + list(args)
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", timeout=60 if wrap else 20)
    child.logfile_read = io.StringIO()  # the whole transcript, for finish()
    return child


def answer_code(child, tenant, email, code=None):
    child.expect(r"Code emailed to .*\(8 digits[^)]*\): ")
    code = code if code is not None else tenant.outbox(email)
    child.sendline(code)
    return code


def finish(child, tenant=None):
    """Waits for the end; returns (everything the terminal showed, exit status). With tenant,
    also checks that no code or token the tenant issued appears in it."""
    child.expect(pexpect.EOF)
    child.close()
    transcript = child.logfile_read.getvalue()
    if tenant is not None:
        assert_no_leak(tenant.issued(), [transcript], "extid-check's terminal")
    return transcript, child.exitstatus


def test_healthy_setup_reports_tenant(pam, tenant):
    p = run(pam)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "config %s: ok" % pam.config_path in out
    assert "users %s: ok" % pam.users_path in out
    assert "authority       %s" % tenant.authority in out
    assert "issuer          %s" % tenant.issuer in out
    assert "jwks_uri        %s" % tenant.jwks_uri in out
    assert "certificate verified (trust: %s)" % tenant.ca_file in out
    assert re.search(r"key +mock-key-1: RSA 2048 bits, usable", out), out
    assert out.rstrip().endswith("result: ok")
    s = tenant.stats()["requests"]
    # the module's own path: discovery, then the key set; the app registration checked with one
    # /initiate that sends no code; nothing else of a login
    assert s["jwks"] == 1 and s["discovery"] >= 1 and s["initiate"] == 1, s
    assert s["challenge"] == 0 and s["token"] == 0, s
    assert re.search(r"app registration %s:\n(  .*\n)*  ok: the tenant knows this client_id"
                     % tenant.client_id, out), out


def test_offline_makes_no_request(pam, tenant):
    p = run(pam, "--offline")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "discovery" not in p.stdout
    assert tenant.stats()["requests_total"] == 0


def test_settings_on_the_command_line_win(pam, tenant):
    p = run(pam, "--offline", "timeout=42", "unmapped=ignore")
    assert p.returncode == 0, p.stderr
    assert "timeout         42 s" in p.stdout and "unmapped        ignore" in p.stdout


def test_unsafe_config_fails_with_the_reason(pam, tenant):
    os.chmod(pam.config_path, 0o666)
    p = run(pam, "--offline")
    assert p.returncode == 1
    assert "writable by group or others" in p.stderr and pam.config_path in p.stderr
    assert "config: FAILED" in p.stdout and "result: ok" not in p.stdout


def test_malformed_config_names_file_and_line(pam, tenant):
    with open(pam.config_path, "a") as f:
        f.write("max_resends = 1 # one\nfrobnicate = 1\n")
    p = run(pam, "--offline")
    assert p.returncode == 1
    lines = len(open(pam.config_path).read().splitlines())
    assert "%s:%d: max_resends must be a plain decimal number" % (pam.config_path, lines - 1) \
        in p.stderr, p.stderr
    assert "%s:%d: unknown key 'frobnicate'" % (pam.config_path, lines) in p.stderr, p.stderr


def test_bad_command_line_setting(pam, tenant):
    p = run(pam, "--offline", "max_attempts=11")
    assert p.returncode == 1
    assert "max_attempts is 11, outside 1..10" in p.stderr


def test_broken_users_file_is_reported(pam, tenant):
    pam.write_users("extidalice alice@example.com # Alice\nextidops\n")
    p = run(pam)
    assert p.returncode == 1
    assert "%s:1: a '#' comment must be on a line of its own" % pam.users_path in p.stderr
    assert "%s:2: account 'extidops' has no identity" % pam.users_path in p.stderr
    assert "users %s: FAILED" % pam.users_path in p.stdout


def test_user_shows_mapped_identities(pam, tenant):
    p = run(pam, "--offline", "--user", "extidops")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"identity +alice@example.com\n +identity +bob@example.com", p.stdout)
    assert "asks for the address" in p.stdout
    p = run(pam, "--offline", "--user", "extidalice")
    assert "uses alice@example.com without asking" in p.stdout
    p = run(pam, "--offline", "--user", "extidkiosk")
    assert "*@example.com (any address of example.com)" in p.stdout


def test_user_not_mapped_or_not_local(pam, tenant):
    p = run(pam, "--offline", "--user", "root")
    assert p.returncode == 1
    assert "not in %s: refused with PAM_USER_UNKNOWN" % pam.users_path in p.stdout
    p = run(pam, "--offline", "--user", "no-such-local-user")
    assert p.returncode == 1
    assert "not a local account" in p.stdout


def test_unreachable_authority(pam, tenant):
    # a loopback port nobody listens on: the connection is refused at once
    p = run(pam, "authority=https://127.0.0.1:9/nowhere", "timeout=3")
    assert p.returncode == 1
    assert re.search(r"GET https://127.0.0.1:9/nowhere/v2.0/.well-known/openid-configuration: "
                     r".*(connect|Connection refused)", p.stderr), p.stderr
    assert "FAILED" in p.stdout and "result: FAILED" in p.stdout


def test_untrusted_certificate(pam, tenant):
    p = run(pam, "ca_file=%s" % tenant.other_ca_file)
    assert p.returncode == 1
    assert "SSL certificate problem" in p.stderr, p.stderr
    assert "TLS             not verified" in p.stdout
    assert "certificate verified" not in p.stdout
    assert tenant.stats()["requests"]["discovery"] == 0


def test_wrong_authority_path_is_http_error(pam, tenant):
    p = run(pam, "authority=%s/elsewhere" % tenant.base_url)
    assert p.returncode == 1
    assert re.search(r"FAILED: HTTP 4\d\d", p.stdout), p.stdout


def test_usage_errors(pam, tenant):
    for args in (["--no-such-option"], ["--login"], ["--login", "not-an-address"],
                 ["--offline", "--login", "alice@example.com"],
                 ["timeout=5", "--offline"]):
        p = run(pam, *args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "result:" not in p.stdout
    p = run(pam, "--help", config=False)
    assert p.returncode == 0 and "usage: extid-check" in p.stdout


def test_login_on_the_terminal(pam, tenant):
    email = "carol@example.com"
    child = spawn_login(pam, email)
    code = answer_code(child, tenant, email)
    out, status = finish(child, tenant)
    assert status == 0, out
    assert code not in out, "the code was echoed"
    assert "ok: the ID token was verified" in out
    assert "iss             %s" % tenant.issuer in out
    assert "preferred_username %s" % email in out
    assert "tid             %s" % tenant.tenant_id in out
    assert "login granted: user=extid-check email=%s" % email in out
    s = tenant.stats()["requests"]
    assert s["initiate"] == 1 and s["token"] == 1, s


def test_login_as_a_mapped_account(pam, tenant):
    child = spawn_login(pam, "bob@example.com", "--user", "extidops")
    child.expect("Email address for extidops: bob@example.com")
    answer_code(child, tenant, "bob@example.com")
    out, status = finish(child, tenant)
    assert status == 0, out
    assert "login granted: user=extidops email=bob@example.com" in out


def test_login_refused_by_users_file_makes_no_request(pam, tenant):
    p = run(pam, "--user", "extidops", "--login", "mallory@example.com")
    assert p.returncode == 1
    assert "mallory@example.com may not open extidops" in p.stdout
    assert tenant.stats()["requests"]["initiate"] == 0


def test_login_wrong_codes(pam, tenant):
    child = spawn_login(pam, "dave@example.com", "max_attempts=2")
    answer_code(child, tenant, "dave@example.com", "00000000")
    child.expect("Wrong code, try again.")
    answer_code(child, tenant, "dave@example.com", "11111111")
    out, status = finish(child, tenant)
    assert status == 1
    assert "FAILED: maxtries" in out


def test_login_aborted_restores_the_terminal(pam, tenant):
    child = spawn_login(pam, "erin@example.com")
    child.expect(r"Code emailed to .*: ")
    child.sendintr()
    out, status = finish(child)
    assert status == 1
    assert "FAILED: conv_err" in out, out


def test_login_with_password_and_a_choice_of_second_factor(pam, tenant):
    # The same prompts as a PAM login: the password (not echoed), the numbered choice, the code.
    email = "mfaboth@example.com"
    child = spawn_login(pam, email, "methods=otp password")
    child.expect("Password for %s: " % email)
    child.sendline(tenant.password)
    child.expect(r"Choose 1-2: ")
    child.sendline("2")
    child.expect(r"Code texted to \+1555\S* \(8 digits[^)]*\): ")
    child.sendline(tenant.outbox(email))
    out, status = finish(child, tenant)
    assert status == 0, out
    assert tenant.password not in out, "the password was echoed or printed"
    assert "2) text message to +1555" in out
    assert "methods         otp password" in out
    assert "login granted: user=extid-check email=%s" % email in out
    assert tenant.channel(email) == "sms"


def test_login_refused_by_entra(pam, tenant):
    child = spawn_login(pam, "unknown@example.com")
    out, status = finish(child)
    assert status == 1
    assert "user_not_found" in out and "FAILED: auth_err" in out


@pytest.mark.slow
def test_valgrind_clean(pam, tenant):
    p = run(pam, "--user", "extidops", wrap=VALGRIND)
    assert p.returncode == 0, p.stdout + p.stderr
    child = spawn_login(pam, "frank@example.com", wrap=VALGRIND)
    answer_code(child, tenant, "frank@example.com")
    out, status = finish(child)
    assert status == 0, out


@pytest.mark.parametrize("args", [["--offline"], []])
def test_runs_from_a_relative_config_path(pam, tenant, args):
    cwd = os.path.dirname(pam.config_path)
    p = subprocess.run([CHECK, "--config", os.path.basename(pam.config_path)] + args,
                       capture_output=True, text=True, cwd=cwd, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "config %s: ok" % pam.config_path in p.stdout


def test_default_config_path_is_used(pam, tenant):
    # Without --config the default file is read (the settings below then win over it, as module
    # arguments do); absent, the command line alone must give the required keys.
    default = "/etc/security/pam_extid.conf"
    settings = ["%s=%s" % kv for kv in pam.settings.items()]
    p = run(pam, "--offline", *settings, config=False)
    assert "config %s: ok" % default in p.stdout or default in p.stderr, p.stdout + p.stderr
    if not os.path.exists(default):
        assert p.returncode == 0, p.stdout + p.stderr
        p = run(pam, "--offline", config=False)
        assert p.returncode == 1
        assert "%s: no client_id given" % default in p.stderr


def test_root_owned_files_only(pam, tenant):
    os.chown(pam.users_path, 65534, 0)
    p = run(pam, "--offline")
    assert p.returncode == 1
    assert "is owned by uid 65534, not root" in p.stderr
    write_root_file(pam.users_path, "extidalice alice@example.com\n", 0o644)
    assert run(pam, "--offline").returncode == 0


def test_unusable_cache_dir_fails_while_the_throttle_is_on(pam, tenant, tmp_path):
    # The module refuses every login when the throttle cannot keep its state: so must the check.
    d = tmp_path / "open-cache"
    d.mkdir()
    os.chmod(d, 0o777)
    p = run(pam, "--offline", "cache_dir=%s" % d, "send_limit=5")
    assert p.returncode == 1, p.stdout
    assert "every login is refused" in p.stdout, p.stdout
    p = run(pam, "--offline", "cache_dir=%s" % d, "send_limit=0")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "warning: not usable" in p.stdout, p.stdout


def test_tenant_id_not_in_the_issuer_is_pointed_out(pam, tenant):
    other = "99998888-7777-6666-5555-444433332222"
    p = run(pam, "tenant_id=%s" % other)
    assert "the issuer does not name tenant_id %s" % other in p.stdout, p.stdout
    p = run(pam)
    assert "does not name tenant_id" not in p.stdout, p.stdout


def test_interrupted_login_leaves_no_temporary_files(pam, tenant):
    # Ctrl-C while the tool waits for the (slow) tenant: the private users file still goes.
    before = set(os.listdir("/tmp"))
    child = spawn_login(pam, "slow@example.com")
    child.expect("login slow@example.com:")
    assert tenant_saw_initiate(tenant)
    child.sendintr()
    out, status = finish(child)
    assert status == 1, out
    assert "FAILED: interrupted" in out, out
    left = [n for n in set(os.listdir("/tmp")) - before if n.startswith("extid-check.")]
    assert left == [], left


def tenant_saw_initiate(tenant, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if tenant.stats()["requests"]["initiate"] >= 1:
            return True
        time.sleep(0.02)
    return False


def test_users_file_that_maps_nobody_fails_the_check(pam, tenant):
    # The shipped example has only comments: every login would be refused, so the check says so
    # instead of "ok".
    with open(os.path.join(ROOT, "conf", "pam_extid.users")) as f:
        pam.write_users(f.read())
    p = run(pam, "--offline")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "users %s: FAILED: 0 accounts mapped: every login is refused" % pam.users_path \
        in p.stdout, p.stdout
    assert "result: FAILED" in p.stdout
    p = run(pam, "--offline", "unmapped=ignore")
    assert p.returncode == 1 and "0 accounts mapped: the module serves nobody" in p.stdout, \
        p.stdout
    pam.write_users("# one line maps an account\n\n  extidalice alice@example.com\n")
    p = run(pam, "--offline")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "users %s: ok (1 line mapping accounts)" % pam.users_path in p.stdout, p.stdout


# --- who may log in: the users file's lines, requirements and warnings ---

GROUP = "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d"
AUTHZ_USERS = ("extidops alice@example.com\n"
               "extidops *@example.com role:Linux.Ops group:%s\n"
               "extidops *@example.org\n"
               "* *@example.com role:Shell.User\n" % GROUP.upper())


def test_user_shows_each_line_and_its_requirements(pam, tenant):
    pam.write_users(AUTHZ_USERS)
    p = run(pam, "--offline", "--user", "extidops")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"line 1 +alice@example.com\n", p.stdout), p.stdout
    assert re.search(r"line 2 +\*@example.com; the verified token must hold role:Linux.Ops or "
                     r"group:%s\n" % GROUP, p.stdout), p.stdout
    # A person's account no line names gets the '*' line, narrowed to its own address.
    p = run(pam, "--offline", "--user", "extidstar")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"line 4 +extidstar@example.com \(from the '\*' line\); the verified token "
                     r"must hold role:Shell.User", p.stdout), p.stdout
    assert "uses extidstar@example.com without asking" in p.stdout


def test_user_email_says_which_lines_allow_it(pam, tenant):
    pam.write_users(AUTHZ_USERS)
    p = run(pam, "--offline", "--user", "extidops", "--email", "bob@example.com")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"line 1 +does not allow it", p.stdout)
    assert re.search(r"line 2 +allows it: the verified token must then hold role:Linux.Ops or "
                     r"group:%s" % GROUP, p.stdout), p.stdout
    assert re.search(r"line 3 +does not allow it", p.stdout)
    assert "granted only if the token meets a requirement above" in p.stdout
    p = run(pam, "--offline", "--user", "extidops", "--email", "Alice@Example.com")
    assert re.search(r"line 1 +allows it: no requirement", p.stdout), p.stdout
    assert "granted once the code and token are verified" in p.stdout
    p = run(pam, "--offline", "--user", "extidops", "--email", "mallory@evil.test")
    assert p.returncode == 1, p.stdout
    assert "no line allows mallory@evil.test: refused before any network call" in p.stdout
    assert tenant.stats()["requests_total"] == 0
    p = run(pam, "--offline", "--email", "bob@example.com")
    assert p.returncode == 2 and "--email needs --user" in p.stderr


@pytest.mark.parametrize("line,where", [
    ("* *@gmail.com", "every person's account no line names"),
    ("extidkiosk *@Outlook.com", "this account"),
    ("extidkiosk *@hotmail.co.uk alice@example.com", "this account"),
])
def test_public_mail_domain_without_requirement_warns(pam, tenant, line, where):
    pam.write_users("extidalice alice@example.com\n%s\n" % line)
    p = run(pam, "--offline")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"WARNING line 2: \*@\S+ on a public mail domain without a requirement: "
                     r"anyone who can sign up with such a mailbox may open %s" % re.escape(where),
                     p.stdout), p.stdout


def test_public_mail_domain_with_requirement_or_own_domain_is_quiet(pam, tenant):
    pam.write_users("* *@gmail.com role:Shell.User\nextidkiosk *@example.com\n"
                    "extidops *@gmail.company.example\n")
    p = run(pam, "--offline")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "WARNING" not in p.stdout


def test_login_names_the_granting_line_and_the_tokens_roles(pam, tenant):
    pam.write_users("extidops *@example.com role:Linux.Ops\n")
    tenant.config(claims={"bob@example.com": {"roles": ["Linux.Ops", "Other"]}})
    child = spawn_login(pam, "bob@example.com", "--user", "extidops")
    answer_code(child, tenant, "bob@example.com")
    out, status = finish(child, tenant)
    assert status == 0, out
    assert "%s:1 grants bob@example.com (role:Linux.Ops); token roles Linux.Ops, Other; " \
           "groups (none)" % pam.users_path in out, out


def test_login_names_the_missing_requirement(pam, tenant):
    pam.write_users("extidops *@example.com role:Linux.Ops\n")
    tenant.config(claims={"bob@example.com": {"roles": ["Other"],
                                              "groups": [GROUP]}})
    child = spawn_login(pam, "bob@example.com", "--user", "extidops")
    answer_code(child, tenant, "bob@example.com")
    out, status = finish(child, tenant)
    assert status == 1, out
    assert "%s:1 does not grant bob@example.com: the token has none of role:Linux.Ops" \
           % pam.users_path in out, out
    assert "roles Other; groups %s" % GROUP in out, out
