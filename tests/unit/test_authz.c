/* Who may log in from the verified token: users-file requirements against roles and groups. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "authz.h"
#include "unit_fixture.h"

#define GROUP_A "0f0e0d0c-0b0a-0908-0706-05040302010f"
#define GROUP_B "11111111-2222-3333-4444-555555555555"

static const char users[] =
    "ops   alice@contoso.com\n"
    "ops   *@contoso.com role:Linux.Ops group:0F0E0D0C-0B0A-0908-0706-05040302010F\n"
    "ops   *@fabrikam.com group:" GROUP_B "\n"
    "dev   *@contoso.com role:Dev\n"
    "dev   *@contoso.com role:Dev.Lead\n";

struct fixture {
    struct ufx_log cap;
    struct extid_log log;
    struct extid_identities ids;
    cJSON *claims;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    f->log = ufx_log_sink(&f->cap, false);
    f->claims = cJSON_Parse("{\"oid\":\"x\"}");
    *state = f;
    return f->claims ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    extid_identities_free(&f->ids);
    cJSON_Delete(f->claims);
    free(f);
    return 0;
}

static void load(struct fixture *f, const char *account)
{
    extid_identities_free(&f->ids);
    assert_int_equal(extid_users_parse(users, "u", account, true, &f->ids, NULL), EXTID_OK);
}

/* Replaces the claims with the JSON text. */
static void claims(struct fixture *f, const char *json)
{
    cJSON_Delete(f->claims);
    f->claims = cJSON_Parse(json);
    assert_non_null(f->claims);
    ufx_log_clear(&f->cap);
}

/* The check's result and, on success, the granting line number. */
static void expect(struct fixture *f, const char *email, enum extid_result rc, int lineno)
{
    const struct extid_users_line *granted = (const void *)1;

    assert_int_equal(extid_authz_check(&f->ids, email, f->claims, &f->log, &granted), rc);
    if (rc == EXTID_OK) {
        assert_non_null(granted);
        assert_int_equal(granted->lineno, lineno);
    } else {
        assert_null(granted);
    }
}

static void test_line_without_requirement(void **state)
{
    struct fixture *f = *state;

    load(f, "ops");
    claims(f, "{}");
    expect(f, "Alice@Contoso.com", EXTID_OK, 1);
    assert_logged(&f->cap, "u:1 grants Alice@Contoso.com (no requirement)");
}

static void test_role_exact(void **state)
{
    struct fixture *f = *state;

    load(f, "ops");
    claims(f, "{\"roles\":[\"Other\",\"Linux.Ops\"]}");
    expect(f, "bob@contoso.com", EXTID_OK, 2);
    assert_logged(&f->cap, "u:2 grants bob@contoso.com (role:Linux.Ops)");
    claims(f, "{\"roles\":[\"linux.ops\",\"Linux.Ops \",\"Linux\"]}");
    expect(f, "bob@contoso.com", EXTID_AUTH_ERR, 0);
    assert_logged(&f->cap,
                  "u:2 does not grant bob@contoso.com: the token has none of "
                  "role:Linux.Ops or group:" GROUP_A);
    assert_logged(&f->cap, "roles linux.ops, Linux.Ops , Linux; groups (none)");
    /* The role is in the groups claim, or the other way round: not the same thing. */
    claims(f, "{\"groups\":[\"Linux.Ops\"],\"roles\":[\"" GROUP_A "\"]}");
    expect(f, "bob@contoso.com", EXTID_AUTH_ERR, 0);
}

static void test_group_any_case(void **state)
{
    struct fixture *f = *state;

    load(f, "ops");
    claims(f, "{\"groups\":[\"" GROUP_B "\",\"0F0E0D0C-0B0A-0908-0706-05040302010F\"]}");
    expect(f, "bob@contoso.com", EXTID_OK, 2);
    assert_logged(&f->cap, "(group:" GROUP_A ")");
    /* The fabrikam line wants group B; the contoso line's group does not count for it. */
    claims(f, "{\"groups\":[\"" GROUP_A "\"]}");
    expect(f, "bob@fabrikam.com", EXTID_AUTH_ERR, 0);
    claims(f, "{\"groups\":[\"" GROUP_B "\"]}");
    expect(f, "bob@fabrikam.com", EXTID_OK, 3);
    claims(f, "{\"groups\":[\"" GROUP_B "x\"]}");
    expect(f, "bob@fabrikam.com", EXTID_AUTH_ERR, 0);
}

static void test_later_alternative_grants(void **state)
{
    struct fixture *f = *state;

    load(f, "dev");
    claims(f, "{\"roles\":[\"Dev.Lead\"]}");
    expect(f, "carol@contoso.com", EXTID_OK, 5);
    assert_logged(&f->cap, "u:4 does not grant carol@contoso.com: the token has none of role:Dev");
    assert_logged(&f->cap, "u:5 grants carol@contoso.com (role:Dev.Lead)");
}

/* Overage: the token carries no groups, only a pointer to them. */
static void test_overage(void **state)
{
    struct fixture *f = *state;

    load(f, "ops");
    claims(f,
           "{\"_claim_names\":{\"groups\":\"src1\"},\"_claim_sources\":{\"src1\":"
           "{\"endpoint\":\"https://graph.microsoft.com/v1.0/users/x/getMemberObjects\"}},"
           "\"groups\":[\"" GROUP_B "\"]}");
    expect(f, "bob@fabrikam.com", EXTID_AUTH_ERR, 0);
    assert_logged(&f->cap, "group overage");
    assert_logged(&f->cap, "require an app role assigned to the group (role:NAME)");
    assert_logged(&f->cap, "groups (overage: too many groups for a token)");
    claims(f, "{\"hasgroups\":true}");
    expect(f, "bob@fabrikam.com", EXTID_AUTH_ERR, 0);
    assert_logged(&f->cap, "group overage");
    /* A role still grants when the groups overflow. */
    claims(f, "{\"hasgroups\":true,\"roles\":[\"Linux.Ops\"]}");
    expect(f, "bob@contoso.com", EXTID_OK, 2);
    /* _claim_names about other claims is no overage. */
    claims(f, "{\"_claim_names\":{\"other\":\"src1\"},\"groups\":[\"" GROUP_B "\"]}");
    expect(f, "bob@fabrikam.com", EXTID_OK, 3);
}

/* Anything but an array of strings satisfies nothing. */
static void test_other_shapes(void **state)
{
    static const char *const bad[] = {
        "{\"roles\":\"Linux.Ops\",\"groups\":\"" GROUP_A "\"}",
        "{\"roles\":[\"Linux.Ops\",1],\"groups\":[\"" GROUP_A "\",null]}",
        "{\"roles\":[[\"Linux.Ops\"]],\"groups\":[[\"" GROUP_A "\"]]}",
        "{\"roles\":{\"Linux.Ops\":true},\"groups\":{\"" GROUP_A "\":true}}",
        "{\"roles\":null,\"groups\":null}",
        "{\"roles\":[],\"groups\":[]}",
        "{\"Roles\":[\"Linux.Ops\"],\"Groups\":[\"" GROUP_A "\"]}",
    };
    struct fixture *f = *state;
    size_t i;

    load(f, "ops");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        claims(f, bad[i]);
        expect(f, "bob@contoso.com", EXTID_AUTH_ERR, 0);
    }
    claims(f, bad[1]);
    expect(f, "bob@contoso.com", EXTID_AUTH_ERR, 0);
    assert_logged(&f->cap, "roles claim is not an array of strings");
    assert_logged(&f->cap, "groups claim is not an array of strings");
    claims(f, "{}");
    expect(f, "bob@contoso.com", EXTID_AUTH_ERR, 0);
    assert_logged(&f->cap, "the token has no groups claim");
}

static void test_address_no_line_allows(void **state)
{
    struct fixture *f = *state;

    load(f, "ops");
    claims(f, "{\"roles\":[\"Linux.Ops\"]}");
    expect(f, "bob@example.org", EXTID_AUTH_ERR, 0);
    assert_logged(&f->cap, "no line of u allows bob@example.org");
    expect(f, "not an address", EXTID_AUTH_ERR, 0);
}

static void test_arguments(void **state)
{
    struct fixture *f = *state;
    cJSON *arr = cJSON_CreateArray();

    load(f, "ops");
    assert_int_equal(extid_authz_check(NULL, "alice@contoso.com", f->claims, NULL, NULL),
                     EXTID_AUTH_ERR);
    assert_int_equal(extid_authz_check(&f->ids, NULL, f->claims, NULL, NULL), EXTID_AUTH_ERR);
    assert_int_equal(extid_authz_check(&f->ids, "alice@contoso.com", NULL, NULL, NULL),
                     EXTID_AUTH_ERR);
    assert_int_equal(extid_authz_check(&f->ids, "alice@contoso.com", arr, NULL, NULL),
                     EXTID_AUTH_ERR);
    assert_int_equal(extid_authz_check(&f->ids, "alice@contoso.com", f->claims, NULL, NULL),
                     EXTID_OK);
    cJSON_Delete(arr);
}

static void test_describe(void **state)
{
    struct fixture *f = *state;
    char buf[16];

    claims(f, "{\"roles\":[\"a\",\"b\"],\"groups\":[]}");
    extid_authz_describe(f->claims, "roles", buf, sizeof buf);
    assert_string_equal(buf, "a, b");
    extid_authz_describe(f->claims, "groups", buf, sizeof buf);
    assert_string_equal(buf, "(empty)");
    claims(f, "{\"roles\":[\"abcdefghij\",\"klmnopqrst\"]}");
    extid_authz_describe(f->claims, "roles", buf, sizeof buf);
    assert_string_equal(buf, "abcdefghij, ...");
    assert_int_equal(strlen(buf), sizeof buf - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_line_without_requirement), T(test_role_exact), T(test_group_any_case),
        T(test_later_alternative_grants), T(test_overage),    T(test_other_shapes),
        T(test_address_no_line_allows),   T(test_arguments),  T(test_describe),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
