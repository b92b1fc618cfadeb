/* The verified identity as session variables (export_env = yes): what is set, what is left out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "session_env.h"
#include "unit_fixture.h"

#define OID "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
#define TID "11112222-bbbb-3333-cccc-4444dddd5555"

static void build(const char *json, const char *email, struct extid_env *env, struct ufx_log *cap)
{
    struct extid_log log = ufx_log_sink(cap, false);
    cJSON *claims = cJSON_Parse(json);

    assert_non_null(claims);
    assert_int_equal(extid_env_build(claims, email, env, &log), EXTID_OK);
    assert_int_equal(env->count, 4);
    cJSON_Delete(claims);
}

static void test_all_four(void **state)
{
    struct extid_env env;
    struct ufx_log cap;

    (void)state;
    build("{\"oid\":\"" OID "\",\"tid\":\"" TID "\",\"roles\":[\"Linux.Ops\",\"Shell_User-2\"]}",
          "Alice@Contoso.com", &env, &cap);
    assert_string_equal(env.vars[0], "EXTID_EMAIL=Alice@Contoso.com");
    assert_string_equal(env.vars[1], "EXTID_OID=" OID);
    assert_string_equal(env.vars[2], "EXTID_TID=" TID);
    assert_string_equal(env.vars[3], "EXTID_ROLES=Linux.Ops,Shell_User-2");
    assert_int_equal(cap.lines, 0);
    extid_env_free(&env);
    assert_int_equal(env.count, 0);
    extid_env_free(&env);
    extid_env_free(NULL);
}

/* Roles that could mean something to a shell, a list or a terminal stay out. */
static void test_unsafe_roles_left_out(void **state)
{
    struct extid_env env;
    struct ufx_log cap;

    (void)state;
    build("{\"oid\":\"" OID "\",\"tid\":\"" TID "\",\"roles\":[\"a,b\",\"$(id)\",\"ok\",\"x y\","
          "\"\",\"r\\n\",\"é\",5,null,\"Ok.2\"]}",
          "a@contoso.com", &env, &cap);
    assert_string_equal(env.vars[3], "EXTID_ROLES=ok,Ok.2");
    assert_logged(&cap, "8 role(s) not exported");
    extid_env_free(&env);
}

/* Every name is set even when its value cannot be, so that nothing else passes for it. */
static void test_missing_and_malformed_are_empty(void **state)
{
    struct extid_env env;
    struct ufx_log cap;

    (void)state;
    build("{\"oid\":\"not-a-guid\",\"tid\":5,\"roles\":\"Linux.Ops\"}", "a@contoso.com", &env,
          &cap);
    assert_string_equal(env.vars[1], "EXTID_OID=");
    assert_string_equal(env.vars[2], "EXTID_TID=");
    assert_string_equal(env.vars[3], "EXTID_ROLES=");
    assert_logged(&cap, "claim oid is not an object id");
    assert_logged(&cap, "claim tid is not an object id");
    assert_logged(&cap, "roles claim is not an array");
    extid_env_free(&env);
    build("{}", "a@contoso.com", &env, &cap);
    assert_string_equal(env.vars[3], "EXTID_ROLES=");
    extid_env_free(&env);
}

static void test_long_role_lists_are_bounded(void **state)
{
    struct extid_env env;
    struct ufx_log cap;
    cJSON *claims = cJSON_CreateObject(), *roles = cJSON_AddArrayToObject(claims, "roles");
    struct extid_log log = ufx_log_sink(&cap, false);
    char role[64];
    int i;

    (void)state;
    for (i = 0; i < 200; i++) {
        snprintf(role, sizeof role, "Role.Number.%03d.abcdefghijklmnop", i);
        cJSON_AddItemToArray(roles, cJSON_CreateString(role));
    }
    assert_int_equal(extid_env_build(claims, "a@contoso.com", &env, &log), EXTID_OK);
    assert_true(strlen(env.vars[3]) < 4096 + sizeof "EXTID_ROLES=");
    assert_non_null(strstr(env.vars[3], "Role.Number.000.abcdefghijklmnop,"));
    assert_logged(&cap, "role(s) not exported");
    extid_env_free(&env);
    cJSON_Delete(claims);
}

static void test_bad_arguments(void **state)
{
    struct extid_env env = { 0 };
    cJSON *claims = cJSON_Parse("{}");

    (void)state;
    assert_int_equal(extid_env_build(claims, "not an address", &env, NULL), EXTID_SYSTEM_ERR);
    assert_int_equal(env.count, 0);
    assert_int_equal(extid_env_build(claims, NULL, &env, NULL), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_env_build(NULL, "a@contoso.com", &env, NULL), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_env_build(claims, "a@contoso.com", NULL, NULL), EXTID_SYSTEM_ERR);
    cJSON_Delete(claims);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_four),
        cmocka_unit_test(test_unsafe_roles_left_out),
        cmocka_unit_test(test_missing_and_malformed_are_empty),
        cmocka_unit_test(test_long_role_lists_are_bounded),
        cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
