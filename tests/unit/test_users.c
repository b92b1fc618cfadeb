/* Users file (pam_extid.users(5)): parsing, fail-closed errors, identity matching. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit_fixture.h"
#include "users.h"

struct fixture {
    struct ufx_dir d;
    struct extid_identities ids;
};

static int setup(void **state)
{
    *state = ufx_dir_new(sizeof(struct fixture), false);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    extid_identities_free(&f->ids);
    ufx_dir_free(&f->d);
    return 0;
}

static void assert_empty(const struct extid_identities *ids)
{
    assert_null(ids->items);
    assert_int_equal(ids->count, 0);
}

static const char sample[] = "# local account   identities\n"
                             "alice    alice@contoso.com\n"
                             "\n"
                             "ops      alice@contoso.com\tBob@Contoso.com   \r\n"
                             "   # indented comment\n"
                             "kiosk    *@contoso.com\n"
                             "mixed    carol@fabrikam.com *@contoso.com\n"
                             "_svc.x-1 svc@example.org";

static void test_single_literal(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(extid_users_parse(sample, "users", "alice", true, &f->ids, &f->d.log),
                     EXTID_OK);
    assert_int_equal(f->ids.count, 1);
    assert_string_equal(f->ids.items[0], "alice@contoso.com");
    assert_string_equal(extid_identities_single(&f->ids), "alice@contoso.com");
    assert_int_equal(f->d.cap.len, 0);
}

static void test_several_identities(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(extid_users_parse(sample, "users", "ops", true, &f->ids, &f->d.log), EXTID_OK);
    assert_int_equal(f->ids.count, 2);
    assert_string_equal(f->ids.items[0], "alice@contoso.com");
    assert_string_equal(f->ids.items[1], "Bob@Contoso.com"); /* kept as written */
    assert_null(extid_identities_single(&f->ids));
    assert_true(extid_identities_allow(&f->ids, "bob@contoso.com"));
    assert_true(extid_identities_allow(&f->ids, "ALICE@contoso.COM"));
    assert_false(extid_identities_allow(&f->ids, "carol@contoso.com"));
}

static void test_wildcard_line(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(extid_users_parse(sample, "users", "kiosk", true, &f->ids, &f->d.log),
                     EXTID_OK);
    assert_int_equal(f->ids.count, 1);
    assert_string_equal(f->ids.items[0], "*@contoso.com");
    /* A lone wildcard is not an address to use without asking. */
    assert_null(extid_identities_single(&f->ids));
}

static void test_last_line_without_newline_and_odd_account(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(extid_users_parse(sample, "users", "_svc.x-1", true, &f->ids, &f->d.log),
                     EXTID_OK);
    assert_int_equal(f->ids.count, 1);
    assert_string_equal(f->ids.items[0], "svc@example.org");
}

static void test_unknown_account(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(extid_users_parse(sample, "users", "mallory", true, &f->ids, &f->d.log),
                     EXTID_USER_UNKNOWN);
    assert_empty(&f->ids);
    /* Account names are case-sensitive, like Linux user names. */
    assert_int_equal(extid_users_parse(sample, "users", "Alice", true, &f->ids, &f->d.log),
                     EXTID_USER_UNKNOWN);
    assert_int_equal(extid_users_parse(sample, "users", "", true, &f->ids, &f->d.log),
                     EXTID_USER_UNKNOWN);
    assert_int_equal(extid_users_parse(sample, "users", NULL, true, &f->ids, &f->d.log),
                     EXTID_USER_UNKNOWN);
    assert_int_equal(extid_users_parse("", "users", "alice", true, &f->ids, &f->d.log),
                     EXTID_USER_UNKNOWN);
    assert_int_equal(
        extid_users_parse("# only comments\n\n", "users", "alice", true, &f->ids, &f->d.log),
        EXTID_USER_UNKNOWN);
    assert_empty(&f->ids);
}

static void test_allow_literal_and_wildcard(void **state)
{
    struct fixture *f = *state;
    struct extid_identities *ids = &f->ids;

    assert_int_equal(extid_users_parse(sample, "users", "mixed", true, ids, &f->d.log), EXTID_OK);
    assert_true(extid_identities_allow(ids, "carol@fabrikam.com"));
    assert_true(extid_identities_allow(ids, "Carol@FABRIKAM.com"));
    assert_true(extid_identities_allow(ids, "anyone@contoso.com"));
    assert_true(extid_identities_allow(ids, "x.y+tag@CONTOSO.COM"));
    assert_false(extid_identities_allow(ids, "dave@fabrikam.com"));
    assert_false(extid_identities_allow(ids, "a@sub.contoso.com"));
    assert_false(extid_identities_allow(ids, "a@xcontoso.com"));
    assert_false(extid_identities_allow(ids, "a@contoso.com.evil.test"));
    assert_false(extid_identities_allow(ids, "x@evil.com@contoso.com"));
    assert_false(extid_identities_allow(ids, "@contoso.com"));
    assert_false(extid_identities_allow(ids, "contoso.com"));
    assert_false(extid_identities_allow(ids, "a b@contoso.com"));
    assert_false(extid_identities_allow(ids, "a@contoso.com "));
    assert_false(extid_identities_allow(ids, "*@contoso.com@x.test"));
    assert_false(extid_identities_allow(ids, ""));
    assert_false(extid_identities_allow(ids, NULL));
    assert_false(extid_identities_allow(NULL, "carol@fabrikam.com"));
}

static void test_allow_empty_list(void **state)
{
    struct extid_identities none = { 0 };

    (void)state;
    assert_false(extid_identities_allow(&none, "a@contoso.com"));
    assert_null(extid_identities_single(&none));
    assert_null(extid_identities_single(NULL));
    extid_identities_free(&none);
    extid_identities_free(NULL);
}

/* A bad line anywhere fails the lookup, even of an account whose own line is fine. */
struct bad_case {
    const char *line;
    const char *reason;
};

static const struct bad_case bad_cases[] = {
    { "bob", "account 'bob' has no identity" },
    { "bob   \t ", "account 'bob' has no identity" },
    { "bob bob", "'bob' is neither an email address nor *@domain" },
    { "bob bob@", "'bob@' is neither an email address nor *@domain" },
    { "bob @contoso.com", "'@contoso.com' is neither" },
    { "bob bob@contoso", "'bob@contoso' is neither" },
    { "bob bob@evil.com@contoso.com", "'bob@evil.com@contoso.com' is neither" },
    { "bob *@", "'*@' is neither" },
    { "bob *@contoso", "'*@contoso' is neither" },
    { "bob *@*.contoso.com", "'*@*.contoso.com' is neither" },
    { "bob *@-bad.contoso.com", "'*@-bad.contoso.com' is neither" },
    { "bob *@bad-.contoso.com", "'*@bad-.contoso.com' is neither" },
    { "bob *@contoso..com", "'*@contoso..com' is neither" },
    { "bob *@.contoso.com", "'*@.contoso.com' is neither" },
    { "bob *@contoso.com.", "'*@contoso.com.' is neither" },
    { "bob *@con_toso.com", "'*@con_toso.com' is neither" },
    { "bob *", "'*' is neither" },
    { "bob b@contoso.com # the ops lead", "a '#' comment must be on a line of its own" },
    { "-bob b@contoso.com", "'-bob' is not a valid account name" },
    { "bo/b b@contoso.com", "'bo/b' is not a valid account name" },
    { "bo:b b@contoso.com", "'bo:b' is not a valid account name" },
    { "b@contoso.com", "'b@contoso.com' is not a valid account name" },
    { "abcdefghijklmnopqrstuvwxyz0123456 b@contoso.com",
      "'abcdefghijklmnopqrstuvwxyz0123456' is not a valid account name" },
    { "bob role:Linux.Ops", "account 'bob' has requirements but no identity" },
    { "bob b@contoso.com role:", "'role:': a role needs a name" },
    { "bob b@contoso.com role:a,b", "'role:a,b': a role needs a name" },
    { "bob b@contoso.com group:", "'group:': a group is named by its object id" },
    { "bob b@contoso.com group:not-a-guid", "'group:not-a-guid': a group is named" },
    { "bob b@contoso.com group:0f0e0d0c-0b0a-0908-0706-05040302010",
      "'group:0f0e0d0c-0b0a-0908-0706-05040302010': a group is named" },
    { "bob b@contoso.com group:0f0e0d0c-0b0a-0908-0706-05040302010g",
      "'group:0f0e0d0c-0b0a-0908-0706-05040302010g': a group is named" },
    { "bob b@contoso.com group:0f0e0d0c0b0a-0908-0706-05040302010ff",
      "'group:0f0e0d0c0b0a-0908-0706-05040302010ff': a group is named" },
    { "bob b@contoso.com Role:x", "'Role:' is not a known requirement (role: or group:)" },
    { "bob b@contoso.com app:x", "'app:' is not a known requirement" },
    { "bob b@contoso.com :x", "':' is not a known requirement" },
    { "bob b@contoso.com role:x c@contoso.com", "identity 'c@contoso.com' after a requirement" },
    { "* b@contoso.com", "'b@contoso.com': a '*' line takes only *@domain identities" },
    { "* *@contoso.com b@contoso.com role:x",
      "'b@contoso.com': a '*' line takes only *@domain identities" },
    { "* role:x", "account '*' has requirements but no identity" },
    { "**  *@contoso.com", "'**' is not a valid account name" },
};

static void test_bad_lines_fail_closed(void **state)
{
    struct fixture *f = *state;
    /* Before the bad line, after it, and not in the file. */
    static const char *const accounts[] = { "alice", "zed", "nobody" };
    char text[512];
    size_t i, a;

    for (i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        snprintf(text, sizeof text, "alice alice@contoso.com\n# note\n%s\nzed z@contoso.com\n",
                 bad_cases[i].line);
        ufx_log_clear(&f->d.cap);
        for (a = 0; a < sizeof accounts / sizeof accounts[0]; a++) {
            assert_int_equal(
                extid_users_parse(text, "/etc/x.users", accounts[a], true, &f->ids, &f->d.log),
                EXTID_CONFIG_ERR);
            assert_empty(&f->ids);
        }
        assert_logged_at(&f->d.cap, "/etc/x.users:3: ", bad_cases[i].reason);
    }
}

static void test_good_edge_cases(void **state)
{
    struct fixture *f = *state;
    const char *text = "abcdefghijklmnopqrstuvwxyz012345 a@contoso.com\n"
                       "9lives n@x-y.example.org *@a-b.c1.example\n"
                       "alice\talice@contoso.com\t*@fabrikam.com\r\n";

    assert_int_equal(
        extid_users_parse(text, "u", "abcdefghijklmnopqrstuvwxyz012345", true, &f->ids, &f->d.log),
        EXTID_OK);
    extid_identities_free(&f->ids);
    assert_int_equal(extid_users_parse(text, "u", "9lives", true, &f->ids, &f->d.log), EXTID_OK);
    assert_true(extid_identities_allow(&f->ids, "q@A-B.c1.example"));
    extid_identities_free(&f->ids);
    assert_int_equal(extid_users_parse(text, "u", "alice", true, &f->ids, &f->d.log), EXTID_OK);
    assert_int_equal(f->ids.count, 2);
    assert_string_equal(f->ids.items[1], "*@fabrikam.com");
    assert_null(extid_identities_single(&f->ids));
    assert_int_equal(f->d.cap.len, 0);
}

static const char authz_sample[] = "ops   alice@contoso.com\n"
                                   "ops   *@contoso.com bob@fabrikam.com role:Linux.Ops "
                                   "group:0F0E0D0C-0B0A-0908-0706-05040302010F\n"
                                   "ops   carol@contoso.com   role:a role:b\n"
                                   "*     *@contoso.com *@fabrikam.com role:Shell.User\n"
                                   "*     *@example.org\n"
                                   "bob   bob@contoso.com\n";

/* Several lines for one account are alternatives, each with its own requirements. */
static void test_lines_are_alternatives(void **state)
{
    struct fixture *f = *state;
    const struct extid_users_line *l;

    assert_int_equal(extid_users_parse(authz_sample, "u", "ops", true, &f->ids, &f->d.log),
                     EXTID_OK);
    assert_int_equal(f->d.cap.len, 0);
    assert_string_equal(f->ids.file, "u");
    assert_int_equal(f->ids.nlines, 3);
    assert_int_equal(f->ids.count, 4);
    assert_null(extid_identities_single(&f->ids));
    l = &f->ids.lines[0];
    assert_int_equal(l->lineno, 1);
    assert_false(l->star);
    assert_int_equal(l->nreqs, 0);
    l = &f->ids.lines[1];
    assert_int_equal(l->lineno, 2);
    assert_int_equal(l->nids, 2);
    assert_int_equal(l->nreqs, 2);
    assert_int_equal(l->reqs[0].kind, EXTID_REQ_ROLE);
    assert_string_equal(l->reqs[0].value, "Linux.Ops");
    assert_int_equal(l->reqs[1].kind, EXTID_REQ_GROUP);
    assert_string_equal(l->reqs[1].value, "0f0e0d0c-0b0a-0908-0706-05040302010f");
    assert_true(extid_users_line_allows(l, "Dave@Contoso.com"));
    assert_true(extid_users_line_allows(l, "bob@fabrikam.com"));
    assert_false(extid_users_line_allows(&f->ids.lines[0], "dave@contoso.com"));
    assert_true(extid_identities_allow(&f->ids, "dave@contoso.com"));
    assert_false(extid_identities_allow(&f->ids, "dave@fabrikam.com"));
    assert_int_equal(f->ids.lines[2].nreqs, 2);
}

/* Two lines naming the same single address still need no prompt. */
static void test_same_address_on_two_lines_is_single(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(extid_users_parse("a a@contoso.com\na A@Contoso.com role:x\n", "u", "a", true,
                                       &f->ids, &f->d.log),
                     EXTID_OK);
    assert_int_equal(f->ids.nlines, 2);
    assert_string_equal(extid_identities_single(&f->ids), "a@contoso.com");
}

/* '*' stands for every person's account that no line names, and narrows *@domain to the
 * account's own address. */
static void test_star_lines(void **state)
{
    struct fixture *f = *state;
    const struct extid_users_line *l;

    assert_int_equal(extid_users_parse(authz_sample, "u", "carol", true, &f->ids, &f->d.log),
                     EXTID_OK);
    assert_int_equal(f->ids.nlines, 2);
    l = &f->ids.lines[0];
    assert_true(l->star);
    assert_int_equal(l->lineno, 4);
    assert_int_equal(l->nids, 2);
    assert_string_equal(l->ids[0], "carol@contoso.com");
    assert_string_equal(l->ids[1], "carol@fabrikam.com");
    assert_int_equal(l->nreqs, 1);
    assert_string_equal(f->ids.lines[1].ids[0], "carol@example.org");
    assert_int_equal(f->ids.lines[1].nreqs, 0);
    assert_true(extid_identities_allow(&f->ids, "Carol@CONTOSO.com"));
    assert_false(extid_identities_allow(&f->ids, "alice@contoso.com"));
    assert_false(extid_identities_allow(&f->ids, "carol@sub.contoso.com"));
    assert_null(extid_identities_single(&f->ids)); /* three possible addresses */
    extid_identities_free(&f->ids);

    /* Not a person's account: the '*' lines do not apply. */
    assert_int_equal(extid_users_parse(authz_sample, "u", "carol", false, &f->ids, &f->d.log),
                     EXTID_USER_UNKNOWN);
    assert_empty(&f->ids);
    /* A named account never falls back to the '*' lines. */
    assert_int_equal(extid_users_parse(authz_sample, "u", "bob", true, &f->ids, &f->d.log),
                     EXTID_OK);
    assert_int_equal(f->ids.nlines, 1);
    assert_false(extid_identities_allow(&f->ids, "bob@example.org"));
    extid_identities_free(&f->ids);
    /* '*' itself is no account. */
    assert_int_equal(extid_users_parse(authz_sample, "u", "*", true, &f->ids, &f->d.log),
                     EXTID_USER_UNKNOWN);
    /* One domain: the one address is used without asking. */
    assert_int_equal(
        extid_users_parse("* *@example.org role:r\n", "u", "dave", true, &f->ids, &f->d.log),
        EXTID_OK);
    assert_string_equal(extid_identities_single(&f->ids), "dave@example.org");
    extid_identities_free(&f->ids);
}

/* Every line as written, for tools: the '*' line keeps its *@domain. */
static void test_lookup_all(void **state)
{
    struct fixture *f = *state;

    snprintf(f->d.path, sizeof f->d.path, "%s/users", f->d.dir);
    ufx_write_file(f->d.path, authz_sample, strlen(authz_sample), 0, 0644);
    assert_int_equal(extid_users_lookup_all(f->d.path, &f->ids, &f->d.log), EXTID_OK);
    assert_int_equal(f->ids.nlines, 6);
    assert_string_equal(f->ids.lines[3].account, "*");
    assert_true(f->ids.lines[3].star);
    assert_string_equal(f->ids.lines[3].ids[0], "*@contoso.com");
    assert_string_equal(f->ids.lines[5].account, "bob");
    extid_identities_free(&f->ids);
    unlink(f->d.path);
    ufx_write_file(f->d.path, "# nothing\n", 10, 0, 0644);
    assert_int_equal(extid_users_lookup_all(f->d.path, &f->ids, &f->d.log), EXTID_USER_UNKNOWN);
    unlink(f->d.path);
    ufx_write_file(f->d.path, "a\n", 2, 0, 0644);
    assert_int_equal(extid_users_lookup_all(f->d.path, &f->ids, &f->d.log), EXTID_CONFIG_ERR);
}

static void test_star_uid(void **state)
{
    (void)state;
    assert_false(extid_users_star_uid(0));
    assert_false(extid_users_star_uid(999));
    assert_true(extid_users_star_uid(1000));
    assert_true(extid_users_star_uid(60000));
    assert_false(extid_users_star_uid(65534));
}

static void test_every_bad_line_is_reported(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(
        extid_users_parse("a\nb b@x.test\nc nope\n", "u", "b", true, &f->ids, &f->d.log),
        EXTID_CONFIG_ERR);
    assert_logged(&f->d.cap, "u:1: account 'a' has no identity");
    assert_logged(&f->d.cap, "u:3: 'nope' is neither");
}

static void write_users(struct fixture *f, const char *text, uid_t uid, mode_t mode)
{
    snprintf(f->d.path, sizeof f->d.path, "%s/users", f->d.dir);
    unlink(f->d.path);
    ufx_write_file(f->d.path, text, strlen(text), uid, mode);
}

/* Looks up alice in the file at f->d.path; expects a refusal that logs "<path><rest>". */
static void expect_lookup_refused(struct fixture *f, const char *rest)
{
    assert_int_equal(extid_users_lookup(f->d.path, "alice", true, &f->ids, &f->d.log),
                     EXTID_CONFIG_ERR);
    assert_empty(&f->ids);
    assert_logged_at(&f->d.cap, f->d.path, rest);
}

static void test_lookup_file(void **state)
{
    struct fixture *f = *state;

    write_users(f, sample, 0, 0644);
    assert_int_equal(extid_users_lookup(f->d.path, "ops", true, &f->ids, &f->d.log), EXTID_OK);
    assert_int_equal(f->ids.count, 2);
    extid_identities_free(&f->ids);
    assert_int_equal(extid_users_lookup(f->d.path, "nobody", true, &f->ids, &f->d.log),
                     EXTID_USER_UNKNOWN);
    assert_empty(&f->ids);

    write_users(f, "alice alice@contoso.com\nbroken\n", 0, 0600);
    expect_lookup_refused(f, ":2: account 'broken' has no identity");
}

static void test_lookup_unsafe_file(void **state)
{
    struct fixture *f = *state;

    write_users(f, sample, 0, 0666);
    expect_lookup_refused(f, ": is writable by group or others (mode 0666)");

    write_users(f, sample, 65534, 0644);
    expect_lookup_refused(f, ": is owned by uid 65534, not root");

    unlink(f->d.path);
    expect_lookup_refused(f, ": cannot open:");
}

static void test_bad_arguments(void **state)
{
    struct fixture *f = *state;

    assert_int_not_equal(extid_users_parse(NULL, "u", "alice", true, &f->ids, &f->d.log), EXTID_OK);
    assert_empty(&f->ids);
    assert_int_not_equal(extid_users_parse(sample, "u", "alice", true, NULL, &f->d.log), EXTID_OK);
    assert_int_not_equal(extid_users_lookup(NULL, "alice", true, &f->ids, &f->d.log), EXTID_OK);
    assert_int_not_equal(extid_users_lookup("/dev/null", "alice", true, NULL, &f->d.log), EXTID_OK);
    /* No log sink is fine. */
    assert_int_equal(extid_users_parse("a\n", "u", "a", true, &f->ids, NULL), EXTID_CONFIG_ERR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_single_literal),
        T(test_several_identities),
        T(test_wildcard_line),
        T(test_last_line_without_newline_and_odd_account),
        T(test_unknown_account),
        T(test_allow_literal_and_wildcard),
        T(test_allow_empty_list),
        T(test_bad_lines_fail_closed),
        T(test_good_edge_cases),
        T(test_lines_are_alternatives),
        T(test_same_address_on_two_lines_is_single),
        T(test_star_lines),
        T(test_star_uid),
        T(test_lookup_all),
        T(test_every_bad_line_is_reported),
        T(test_lookup_file),
        T(test_lookup_unsafe_file),
        T(test_bad_arguments),
#undef T
    };

    return ufx_run_root_group_tests(tests, NULL, NULL);
}
