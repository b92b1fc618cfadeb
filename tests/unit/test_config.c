/* extid_config_load: pam_extid.conf(5), every key, default, override and error (tests run as root). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <sys/mount.h>

#include "config.h"
#include "unit_fixture.h"

/* Application (client) IDs: GUIDs, in either case. */
#define CID "0a0b0c0d-1111-2222-3333-444455556666"
#define CID_UPPER "1111AAAA-2222-BBBB-3333-CCCC4444DDDD"
#define CID_ARG "aaaa0000-0000-4000-8000-0000000000a1"
#define CID_FILE "ffff0000-0000-4000-8000-0000000000f1"

struct fixture {
    struct ufx_dir d; /* d.path: the config file written last */
    char arg[300];    /* "config=<d.path>" */
    struct extid_config cfg;
};

static int setup(void **state)
{
    *state = ufx_dir_new(sizeof(struct fixture), false);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    extid_config_free(&f->cfg);
    ufx_dir_free(&f->d);
    return 0;
}

/* Writes the config file (replacing the one written before) and returns "config=<path>". */
static const char *write_conf_as(struct fixture *f, const char *text, uid_t uid, mode_t mode)
{
    snprintf(f->d.path, sizeof f->d.path, "%s/pam_extid.conf", f->d.dir);
    unlink(f->d.path);
    ufx_write_file(f->d.path, text, strlen(text), uid, mode);
    snprintf(f->arg, sizeof f->arg, "config=%s", f->d.path);
    return f->arg;
}

static const char *write_conf(struct fixture *f, const char *text)
{
    return write_conf_as(f, text, 0, 0644);
}

/* An error leaves nothing allocated and the struct zeroed. */
static void assert_cleared(const struct extid_config *cfg)
{
    static const struct extid_config zero;

    assert_memory_equal(cfg, &zero, sizeof zero);
}

static enum extid_result load1(struct fixture *f, const char *a0)
{
    const char *argv[] = { a0 };

    return extid_config_load(&f->cfg, 1, argv, &f->d.log);
}

/* Loads argv on a fresh log; expects a refusal that leaves cfg cleared and logs
 * "<prefix><msg>" (prefix may be NULL). */
static void expect_refused(struct fixture *f, int argc, const char **argv, const char *prefix,
                           const char *msg)
{
    ufx_log_clear(&f->d.cap);
    assert_int_equal(extid_config_load(&f->cfg, argc, argv, &f->d.log), EXTID_CONFIG_ERR);
    assert_cleared(&f->cfg);
    assert_logged_at(&f->d.cap, prefix, msg);
}

/* The same with a config file holding text as the only argument: "<file><where>" is logged. */
static void expect_file_refused(struct fixture *f, const char *text, const char *where)
{
    const char *argv[] = { write_conf(f, text) };

    expect_refused(f, 1, argv, f->d.path, where);
}

static void test_defaults(void **state)
{
    struct fixture *f = *state;
    struct extid_config *c = &f->cfg;

    assert_int_equal(load1(f, write_conf(f, "tenant = contoso\nclient_id = " CID_UPPER "\n")),
                     EXTID_OK);
    assert_string_equal(c->config_file, f->d.path);
    assert_string_equal(c->authority, "https://contoso.ciamlogin.com/contoso.onmicrosoft.com");
    assert_string_equal(c->client_id, CID_UPPER);
    assert_null(c->tenant_id);
    assert_string_equal(c->users_file, "/etc/security/pam_extid.users");
    assert_string_equal(c->users_file, EXTID_DEFAULT_USERS);
    assert_null(c->ca_file);
    assert_null(c->proxy);
    assert_int_equal(c->timeout, 10);
    assert_int_equal(c->max_attempts, 3);
    assert_int_equal(c->max_resends, 2);
    assert_string_equal(c->identity_claim, "preferred_username");
    assert_int_equal(c->clock_skew, 300);
    assert_string_equal(c->cache_dir, "/var/cache/pam_extid");
    assert_int_equal(c->jwks_ttl, 86400);
    assert_int_equal(c->send_limit, 5);
    assert_int_equal(c->send_window, 3600);
    assert_int_equal(c->send_gap, 10);
    assert_int_equal(c->unmapped, EXTID_UNMAPPED_DENY);
    assert_false(c->export_env);
    assert_int_equal(c->methods, EXTID_METHOD_OTP);
    assert_true(c->early_connect);
    assert_false(c->debug);
    assert_int_equal(f->d.cap.len, 0);
}

static const char every_key[] = "# every key, with values that differ from the defaults\n"
                                "authority = https://login.example.test/tenant-x/\n"
                                "client_id = 00000000-aaaa-bbbb-cccc-000000000001\n"
                                "tenant_id = 11111111-2222-3333-4444-555555555555\n"
                                "users = /etc/extid/users\n"
                                "ca_file = /etc/extid/ca.pem\n"
                                "proxy = http://127.0.0.1:3128\n"
                                "timeout = 30\n"
                                "max_attempts = 5\n"
                                "max_resends = 0\n"
                                "identity_claim = email\n"
                                "clock_skew = 0\n"
                                "cache_dir = /run/extid-cache\n"
                                "jwks_ttl = 60\n"
                                "send_limit = 0\n"
                                "send_window = 60\n"
                                "send_gap = 0\n"
                                "unmapped = ignore\n"
                                "export_env = yes\n"
                                "methods = password\n"
                                "early_connect = no\n"
                                "debug\n";

static void assert_every_key(const struct extid_config *c)
{
    assert_string_equal(c->authority, "https://login.example.test/tenant-x");
    assert_string_equal(c->client_id, "00000000-aaaa-bbbb-cccc-000000000001");
    assert_string_equal(c->tenant_id, "11111111-2222-3333-4444-555555555555");
    assert_string_equal(c->users_file, "/etc/extid/users");
    assert_string_equal(c->ca_file, "/etc/extid/ca.pem");
    assert_string_equal(c->proxy, "http://127.0.0.1:3128");
    assert_int_equal(c->timeout, 30);
    assert_int_equal(c->max_attempts, 5);
    assert_int_equal(c->max_resends, 0);
    assert_string_equal(c->identity_claim, "email");
    assert_int_equal(c->clock_skew, 0);
    assert_string_equal(c->cache_dir, "/run/extid-cache");
    assert_int_equal(c->jwks_ttl, 60);
    assert_int_equal(c->send_limit, 0);
    assert_int_equal(c->send_window, 60);
    assert_int_equal(c->send_gap, 0);
    assert_int_equal(c->unmapped, EXTID_UNMAPPED_IGNORE);
    assert_true(c->export_env);
    assert_int_equal(c->methods, EXTID_METHOD_PASSWORD);
    assert_false(c->early_connect);
    assert_true(c->debug);
}

static void test_every_key_in_file(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load1(f, write_conf(f, every_key)), EXTID_OK);
    assert_every_key(&f->cfg);
    assert_int_equal(f->d.cap.len, 0);
}

static void test_every_key_as_argument(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = {
        write_conf(f, "# nothing here\n"),
        "authority=https://login.example.test/tenant-x/",
        "client_id=00000000-aaaa-bbbb-cccc-000000000001",
        "tenant_id=11111111-2222-3333-4444-555555555555",
        "users=/etc/extid/users",
        "ca_file=/etc/extid/ca.pem",
        "proxy=http://127.0.0.1:3128",
        "timeout=30",
        "max_attempts=5",
        "max_resends=0",
        "identity_claim=email",
        "clock_skew=0",
        "cache_dir=/run/extid-cache",
        "jwks_ttl=60",
        "send_limit=0",
        "send_window=60",
        "send_gap=0",
        "unmapped=ignore",
        "export_env=yes",
        "methods=password",
        "early_connect=no",
        "debug",
    };

    assert_int_equal(extid_config_load(&f->cfg, 22, argv, &f->d.log), EXTID_OK);
    assert_every_key(&f->cfg);
}

static void test_syntax_tolerance(void **state)
{
    struct fixture *f = *state;
    struct extid_config *c = &f->cfg;

    assert_int_equal(load1(f,
                           write_conf(f,
                                      "\n"
                                      "   # indented comment\n"
                                      "\t\n"
                                      "tenant=contoso\r\n"
                                      "  client_id\t =\t " CID "  \r\n"
                                      "timeout   =   010\n"
                                      "proxy = https://proxy.example.test:8443/\n"
                                      "\tdebug \r\n"
                                      "max_attempts = 7")), /* no final newline */
                     EXTID_OK);
    assert_string_equal(c->client_id, CID);
    assert_string_equal(c->authority, "https://contoso.ciamlogin.com/contoso.onmicrosoft.com");
    assert_int_equal(c->timeout, 10);
    assert_int_equal(c->max_attempts, 7);
    assert_string_equal(c->proxy, "https://proxy.example.test:8443/");
    assert_true(c->debug);
}

static void test_methods_forms(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *line;
        unsigned want;
    } cases[] = {
        { "methods = otp", EXTID_METHOD_OTP },
        { "methods = password", EXTID_METHOD_PASSWORD },
        { "methods = otp password", EXTID_METHOD_OTP | EXTID_METHOD_PASSWORD },
        { "methods = password   otp", EXTID_METHOD_OTP | EXTID_METHOD_PASSWORD },
        { "methods = otp,password", EXTID_METHOD_OTP | EXTID_METHOD_PASSWORD },
    };
    char text[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "tenant = contoso\nclient_id = " CID "\n%s\n", cases[i].line);
        if (load1(f, write_conf(f, text)) != EXTID_OK)
            fail_msg("%s: %s", cases[i].line, f->d.cap.buf);
        assert_int_equal(f->cfg.methods, cases[i].want);
        extid_config_free(&f->cfg);
    }
    /* As a module argument: comma-separated, or bracketed with a space in the PAM file. */
    const char *argv[] = { write_conf(f, "tenant = contoso\nclient_id = " CID "\n"),
                           "methods=otp password" };
    assert_int_equal(extid_config_load(&f->cfg, 2, argv, &f->d.log), EXTID_OK);
    assert_int_equal(f->cfg.methods, EXTID_METHOD_OTP | EXTID_METHOD_PASSWORD);
}

static void test_range_limits_accepted(void **state)
{
    struct fixture *f = *state;
    struct extid_config *c = &f->cfg;
    const char *low[] = { write_conf(f, "tenant = t\nclient_id = " CID "\n"),
                          "timeout=1",
                          "max_attempts=1",
                          "max_resends=0",
                          "clock_skew=0",
                          "jwks_ttl=60" };
    const char *high[] = { low[0],           "timeout=300",     "max_attempts=10",
                           "max_resends=10", "clock_skew=3600", "jwks_ttl=2592000" };

    assert_int_equal(extid_config_load(c, 6, low, &f->d.log), EXTID_OK);
    assert_int_equal(c->timeout, 1);
    assert_int_equal(c->max_attempts, 1);
    assert_int_equal(c->max_resends, 0);
    assert_int_equal(c->clock_skew, 0);
    assert_int_equal(c->jwks_ttl, 60);
    extid_config_free(c);
    assert_int_equal(extid_config_load(c, 6, high, &f->d.log), EXTID_OK);
    assert_int_equal(c->timeout, 300);
    assert_int_equal(c->max_attempts, 10);
    assert_int_equal(c->max_resends, 10);
    assert_int_equal(c->clock_skew, 3600);
    assert_int_equal(c->jwks_ttl, 2592000);
}

static void test_argument_wins(void **state)
{
    struct fixture *f = *state;
    struct extid_config *c = &f->cfg;
    const char *argv[] = { "timeout=40", NULL, "authority=https://arg.example.test",
                           "client_id=" CID_ARG, "unmapped=deny" };

    argv[1] = write_conf(f,
                         "tenant = filetenant\nclient_id = " CID_FILE "\ntimeout = 20\n"
                         "unmapped = ignore\n");
    assert_int_equal(extid_config_load(c, 5, argv, &f->d.log), EXTID_OK);
    assert_int_equal(c->timeout, 40);
    assert_string_equal(c->authority, "https://arg.example.test");
    assert_string_equal(c->client_id, CID_ARG);
    assert_int_equal(c->unmapped, EXTID_UNMAPPED_DENY);
}

static void test_argument_tenant_overrides_file_authority(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { NULL, "tenant=argtenant" };

    argv[0] = write_conf(f, "authority = https://file.example.test\nclient_id = " CID "\n");
    assert_int_equal(extid_config_load(&f->cfg, 2, argv, &f->d.log), EXTID_OK);
    assert_string_equal(f->cfg.authority,
                        "https://argtenant.ciamlogin.com/argtenant.onmicrosoft.com");
}

/* An empty EXTID_CONFIG_DIR for the rest of this process, whatever the machine has there: a
 * private mount namespace with a tmpfs over the directory (the tests run as root). */
static void hide_default_config(void)
{
    struct stat st;

    assert_int_equal(unshare(CLONE_NEWNS), 0);
    assert_int_equal(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0);
    if (lstat(EXTID_CONFIG_DIR, &st) != 0)
        assert_int_equal(mkdir(EXTID_CONFIG_DIR, 0755), 0);
    assert_int_equal(mount("none", EXTID_CONFIG_DIR, "tmpfs", 0, "mode=0755"), 0);
    assert_int_not_equal(lstat(EXTID_DEFAULT_CONFIG, &st), 0);
}

static void test_default_file_missing_is_fine_with_arguments(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { "tenant=contoso", "client_id=" CID };

    hide_default_config();
    assert_int_equal(extid_config_load(&f->cfg, 2, argv, &f->d.log), EXTID_OK);
    assert_string_equal(f->cfg.config_file, EXTID_DEFAULT_CONFIG);
    assert_string_equal(f->cfg.client_id, CID);
}

static void test_default_file_missing_needs_required_keys(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { "debug" };

    hide_default_config();
    expect_refused(f, 1, argv, NULL, EXTID_DEFAULT_CONFIG ": no tenant or authority given");
    assert_logged(&f->d.cap, EXTID_DEFAULT_CONFIG ": no client_id given");
}

static void test_named_file_missing_is_an_error(void **state)
{
    struct fixture *f = *state;
    char path[256], arg[300];
    const char *argv[] = { arg, "tenant=contoso", "client_id=" CID };

    snprintf(path, sizeof path, "%s/absent.conf", f->d.dir);
    snprintf(arg, sizeof arg, "config=%s", path);
    expect_refused(f, 3, argv, path, ": cannot open: No such file or directory");
}

static void test_unsafe_file_is_an_error(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { NULL, "tenant=contoso", "client_id=" CID };

    argv[0] = write_conf_as(f, "timeout = 5\n", 65534, 0644);
    expect_refused(f, 3, argv, f->d.path, ": is owned by uid 65534, not root");

    argv[0] = write_conf_as(f, "timeout = 5\n", 0, 0664);
    expect_refused(f, 3, argv, f->d.path, ": is writable by group or others (mode 0664)");
}

/* One bad line in an otherwise good file: the error names file:line and the reason. */
struct file_case {
    const char *line;
    const char *reason;
};

/* Each case's line between the good lines before and after; where is ":<its number>: ". */
static void expect_line_cases(struct fixture *f, const struct file_case *cases, size_t n,
                              const char *before, const char *after, const char *where)
{
    char text[512];
    size_t i;

    for (i = 0; i < n; i++) {
        snprintf(text, sizeof text, "%s%s\n%s", before, cases[i].line, after);
        expect_file_refused(f, text, where);
        assert_logged(&f->d.cap, cases[i].reason);
    }
}

/* After the tenant and client_id lines, so on line 3. */
static const struct file_case file_cases[] = {
    { "colour = blue", "unknown key 'colour'" },
    { "client_id = again", "client_id given twice (first at line 2)" },
    { "users =", "empty value for users" },
    { "users", "expected 'key = value'" },
    { "just some words", "expected 'key = value' or 'debug', got 'just some words'" },
    { "= 5", "missing key before '='" },
    { "debug = yes", "debug is a flag and takes no value" },
    { "config = /etc/other.conf", "config is accepted only as a module argument" },
    { "timeout = abc", "timeout must be a plain decimal number from 1 to 300, not 'abc'" },
    { "methods = sms", "methods must be 'otp', 'password' or 'otp password', not 'sms'" },
    { "methods = otp otp", "not 'otp otp'" },
    { "methods = otp passwords", "not 'otp passwords'" },
    { "methods = ,", "methods must name at least one of 'otp' and 'password'" },
    { "methods = OTP", "not 'OTP'" },
    { "timeout = -5", "not '-5'" },
    { "timeout = +5", "not '+5'" },
    { "timeout = 0x10", "not '0x10'" },
    { "timeout = 1 0", "not '1 0'" },
    { "timeout = 5 # seconds", "not '5 # seconds'" },
    { "timeout = 99999999999999999999", "not '99999999999999999999'" },
    { "timeout = 0", "timeout is 0, outside 1..300" },
    { "timeout = 301", "timeout is 301, outside 1..300" },
    { "max_attempts = 0", "max_attempts is 0, outside 1..10" },
    { "max_attempts = 11", "max_attempts is 11, outside 1..10" },
    { "max_resends = 11", "max_resends is 11, outside 0..10" },
    { "max_resends = -1", "max_resends must be a plain decimal number from 0 to 10" },
    { "clock_skew = 3601", "clock_skew is 3601, outside 0..3600" },
    { "jwks_ttl = 59", "jwks_ttl is 59, outside 60..2592000" },
    { "jwks_ttl = 2592001", "jwks_ttl is 2592001, outside 60..2592000" },
    { "send_limit = 1001", "send_limit is 1001, outside 0..1000" },
    { "send_window = 59", "send_window is 59, outside 60..86400" },
    { "send_window = 86401", "send_window is 86401, outside 60..86400" },
    { "send_gap = 3601", "send_gap is 3601, outside 0..3600" },
    { "send_gap = -1", "send_gap must be a plain decimal number from 0 to 3600" },
    { "identity_claim = sub", "identity_claim must be 'preferred_username' or 'email'" },
    { "identity_claim = Email", "not 'Email'" },
    { "unmapped = allow", "unmapped must be 'deny' or 'ignore', not 'allow'" },
    { "export_env = true", "export_env must be 'no' or 'yes', not 'true'" },
    { "export_env = Yes", "export_env must be 'no' or 'yes', not 'Yes'" },
    { "export_env =", "export_env" },
    { "early_connect = off", "early_connect must be 'no' or 'yes', not 'off'" },
    { "early_connect = No", "early_connect must be 'no' or 'yes', not 'No'" },
    { "users = pam_extid.users", "users must be an absolute path, not 'pam_extid.users'" },
    { "ca_file = certs/ca.pem", "ca_file must be an absolute path" },
    { "cache_dir = cache", "cache_dir must be an absolute path" },
    { "proxy = socks5://127.0.0.1:1080", "proxy must be an http:// or https:// URL" },
    { "proxy = http://", "proxy must be an http:// or https:// URL" },
    { "proxy = proxy.example.test:3128", "proxy must be an http:// or https:// URL" },
    { "tenant_id = a b", "tenant_id must not contain spaces" },
    { "ca_file = /etc/ca\x01.pem", "value of ca_file contains a control character" },
};

static void test_file_errors(void **state)
{
    expect_line_cases(*state, file_cases, sizeof file_cases / sizeof file_cases[0],
                      "tenant = contoso\nclient_id = " CID "\n", "", ":3: ");
}

/* Authority and tenant lines replace the tenant line, so they are line 1. */
static const struct file_case authority_cases[] = {
    { "authority = http://login.example.test", "authority must start with https://" },
    { "authority = HTTPS://login.example.test", "authority must start with https://" },
    { "authority = login.example.test", "authority must start with https://" },
    { "authority = https://login.example.test/t?x=1", "query ('?')" },
    { "authority = https://login.example.test/t#frag", "fragment ('#')" },
    { "authority = https://user@login.example.test", "user name ('@')" },
    { "authority = https://login.example.test/a b", "without spaces" },
    { "authority = https://", "authority has no host" },
    { "authority = https:///", "authority has no host" },
    { "authority = https:///path", "authority has no host" },
    { "authority = https://login.example.test//", "ends in '//'" },
    { "tenant = Contoso", "tenant must be a DNS label" },
    { "tenant = -contoso", "tenant must be a DNS label" },
    { "tenant = contoso-", "tenant must be a DNS label" },
    { "tenant = con_toso", "tenant must be a DNS label" },
    { "tenant = contoso.onmicrosoft.com", "tenant must be a DNS label" },
    { "tenant = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "tenant must be a DNS label" },
};

static void test_authority_and_tenant_errors(void **state)
{
    expect_line_cases(*state, authority_cases, sizeof authority_cases / sizeof authority_cases[0],
                      "", "client_id = " CID "\n", ":1: ");
}

static void test_tenant_63_chars_is_fine(void **state)
{
    struct fixture *f = *state;
    const char *t = "a23456789012345678901234567890123456789012345678901234567890123";
    char text[256], want[256];

    snprintf(text, sizeof text, "tenant = %s\nclient_id = " CID "\n", t);
    snprintf(want, sizeof want, "https://%s.ciamlogin.com/%s.onmicrosoft.com", t, t);
    assert_int_equal(load1(f, write_conf(f, text)), EXTID_OK);
    assert_string_equal(f->cfg.authority, want);
}

static void test_tenant_and_authority_together(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { NULL, "authority=https://b.example.test", "tenant=a", "client_id=" CID };

    expect_file_refused(f, "tenant = a\nauthority = https://b.example.test\nclient_id = " CID "\n",
                        ":2: give either tenant or authority, not both");

    /* The same in the arguments, in the other order. */
    argv[0] = write_conf(f, "\n");
    expect_refused(f, 4, argv, NULL,
                   "argument 3 (tenant=a): give either tenant or authority, not both");
}

static void test_missing_required_keys(void **state)
{
    struct fixture *f = *state;

    expect_file_refused(f, "client_id = " CID "\n", ": no tenant or authority given");
    expect_file_refused(f, "tenant = contoso\n", ": no client_id given");
}

/* Argument errors name the argument's position (1-based) and text. */
struct arg_case {
    const char *arg;
    const char *want;
};

static const struct arg_case arg_cases[] = {
    { "colour=blue", "argument 2 (colour=blue): unknown key 'colour'" },
    { "timeout=", "argument 2 (timeout=): empty value for timeout" },
    { "timeout", "argument 2 (timeout): expected 'key=value'" },
    { "nodebug", "argument 2 (nodebug): expected 'key=value' or 'debug', got 'nodebug'" },
    { "=x", "argument 2 (=x): missing key before '='" },
    { "debug=1", "argument 2 (debug=1): debug is a flag and takes no value" },
    { "timeout=0", "argument 2 (timeout=0): timeout is 0, outside 1..300" },
    { "timeout= 5", "argument 2 (timeout= 5): timeout must be a plain decimal number" },
    { "max_attempts=11", "argument 2 (max_attempts=11): max_attempts is 11, outside 1..10" },
    { "unmapped=maybe", "argument 2 (unmapped=maybe): unmapped must be 'deny' or 'ignore'" },
    { "identity_claim=upn", "argument 2 (identity_claim=upn): identity_claim must be" },
    { "authority=http://x.example.test",
      "argument 2 (authority=http://x.example.test): "
      "authority must start with https://" },
    { "tenant=UPPER", "argument 2 (tenant=UPPER): tenant must be a DNS label" },
    { "users=relative", "argument 2 (users=relative): users must be an absolute path" },
    { "proxy=ftp://p", "argument 2 (proxy=...): proxy must be an http:// or https:// URL" },
    { "client_id=a\tb", "argument 2 (client_id=a?b): value of client_id contains a control" },
    /* A client_id that is not a GUID never reaches Entra. */
    { "client_id=my-app",
      "argument 2 (client_id=my-app): client_id must be the app "
      "registration's Application (client) ID, a GUID like" },
    { "client_id=00001111-aaaa-2222-bbbb-3333cccc444",
      "not '00001111-aaaa-2222-bbbb-3333cccc444'" },
    { "client_id=00001111-aaaa-2222-bbbb-3333cccc44445", "client_id must be the app" },
    { "client_id=00001111aaaa-2222-bbbb-3333-cccc4444", "client_id must be the app" },
    { "client_id=0000111g-aaaa-2222-bbbb-3333cccc4444", "client_id must be the app" },
    { "client_id={00001111-aaaa-2222-bbbb-3333cccc4444}", "client_id must be the app" },
    { "client_id=00001111-aaaa-2222-bbbb-3333cccc4444 ", "client_id must be the app" },
};

static void test_argument_errors(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { write_conf(f, "tenant = contoso\nclient_id = " CID "\n"), NULL };
    size_t i;

    for (i = 0; i < sizeof arg_cases / sizeof arg_cases[0]; i++) {
        argv[1] = arg_cases[i].arg;
        expect_refused(f, 2, argv, NULL, arg_cases[i].want);
    }
}

static void test_proxy_argument_password_not_logged(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { write_conf(f, "tenant = t\nclient_id = " CID "\n"),
                           "proxy=socks5://user:s3cret@proxy.example.test" };

    expect_refused(f, 2, argv, NULL, "argument 2 (proxy=...): proxy must be");
    assert_not_logged(&f->d.cap, "s3cret");
}

static void test_argument_given_twice(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { write_conf(f, "tenant = t\nclient_id = " CID "\n"), "timeout=5",
                           "timeout=6" };

    expect_refused(f, 3, argv, NULL,
                   "argument 3 (timeout=6): timeout given twice (first at argument 2)");
}

static void test_config_argument_twice_or_relative(void **state)
{
    struct fixture *f = *state;
    const char *twice[] = { write_conf(f, "tenant = t\nclient_id = " CID "\n"), f->arg };
    const char *relative[] = { "config=pam_extid.conf", "tenant=t", ("client_id=" CID) };
    char want[600];

    snprintf(want, sizeof want, "argument 2 (%s): config given twice (first at argument 1)",
             f->arg);
    expect_refused(f, 2, twice, NULL, want);
    expect_refused(f, 3, relative, NULL,
                   "argument 1 (config=pam_extid.conf): config must be an absolute path");
}

static void test_null_argument(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = { write_conf(f, "tenant = t\nclient_id = " CID "\n"), NULL };

    expect_refused(f, 2, argv, NULL, "argument 2 ((null)): missing argument");
}

static void test_every_error_is_reported(void **state)
{
    struct fixture *f = *state;

    expect_file_refused(f,
                        "tenant = t\nclient_id = " CID "\ntimeout = x\n"
                        "# fine\nmax_attempts = 0\nbogus = 1\n",
                        ":3: timeout must be");
    assert_logged_at(&f->d.cap, f->d.path, ":5: max_attempts is 0");
    assert_logged_at(&f->d.cap, f->d.path, ":6: unknown key 'bogus'");
}

static void test_long_line(void **state)
{
    struct fixture *f = *state;
    char *text = malloc(6000);

    assert_non_null(text);
    strcpy(text, "tenant = t\nclient_id = " CID "\nusers = /");
    memset(text + strlen(text), 'a', 5000);
    strcpy(text + 34 + 5000, "\n");
    expect_file_refused(f, text, ":3: line longer than 4096 bytes");
    free(text);
}

static void test_free_is_idempotent(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load1(f, write_conf(f, "tenant = t\nclient_id = " CID "\n")), EXTID_OK);
    extid_config_free(&f->cfg);
    assert_cleared(&f->cfg);
    extid_config_free(&f->cfg);
    extid_config_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_defaults),
        T(test_every_key_in_file),
        T(test_every_key_as_argument),
        T(test_syntax_tolerance),
        T(test_methods_forms),
        T(test_range_limits_accepted),
        T(test_argument_wins),
        T(test_argument_tenant_overrides_file_authority),
        T(test_default_file_missing_is_fine_with_arguments),
        T(test_default_file_missing_needs_required_keys),
        T(test_named_file_missing_is_an_error),
        T(test_unsafe_file_is_an_error),
        T(test_file_errors),
        T(test_authority_and_tenant_errors),
        T(test_tenant_63_chars_is_fine),
        T(test_tenant_and_authority_together),
        T(test_missing_required_keys),
        T(test_argument_errors),
        T(test_proxy_argument_password_not_logged),
        T(test_argument_given_twice),
        T(test_config_argument_twice_or_relative),
        T(test_null_argument),
        T(test_every_error_is_reported),
        T(test_long_line),
        T(test_free_is_idempotent),
#undef T
    };

    return ufx_run_root_group_tests(tests, NULL, NULL);
}
