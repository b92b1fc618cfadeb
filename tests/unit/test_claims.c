/* The claim policy: a good token's claims pass, and each claim (exp, nbf, iat, aud, azp, iss, tid,
 * the identity) is refused on its own when wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "claims.h"
#include "token_fixture.h"

/* Checks claims (freed) under policy; expects rc, and when refused, needle in the log. */
static void check(cJSON *claims, const struct extid_claim_policy *policy, enum extid_result rc,
                  const char *needle)
{
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);

    assert_int_equal(extid_claims_check(claims, policy, &log), rc);
    if (rc != EXTID_OK)
        assert_true(cap.lines > 0);
    if (needle && !fx_logged(&cap, needle))
        fail_msg("log lacks \"%s\":\n%s", needle, cap.text);
    cJSON_Delete(claims);
}

/* Default claims with one claim replaced (value NULL: removed), under the default policy. */
static void check_with(const char *name, cJSON *value, enum extid_result rc, const char *needle)
{
    struct extid_claim_policy p = fx_policy();
    cJSON *c = fx_claims();

    fx_set(c, name, value);
    check(c, &p, rc, needle);
}

static cJSON *at(long offset)
{
    return cJSON_CreateNumber((double)FX_NOW + (double)offset);
}

static void test_good_claims(void **state)
{
    struct extid_claim_policy p = fx_policy();

    (void)state;
    check(fx_claims(), &p, EXTID_OK, NULL);
}

static void test_exp(void **state)
{
    (void)state;
    check_with("exp", at(-301), EXTID_AUTH_ERR, "expired: exp 1749999699, now 1750000000");
    check_with("exp", at(-300), EXTID_AUTH_ERR, "expired");
    check_with("exp", at(-299), EXTID_OK, NULL); /* within the skew */
    check_with("exp", at(0), EXTID_OK, NULL);
    check_with("exp", NULL, EXTID_AUTH_ERR, "required claim \"exp\" is missing");
    check_with("exp", cJSON_CreateString("1750003540"), EXTID_AUTH_ERR,
               "claim \"exp\" is a string, expected a number");
    check_with("exp", cJSON_CreateTrue(), EXTID_AUTH_ERR, "claim \"exp\" is a boolean");
    check_with("exp", cJSON_CreateNull(), EXTID_AUTH_ERR, "claim \"exp\" is null");
    check_with("exp", cJSON_CreateArray(), EXTID_AUTH_ERR, "claim \"exp\" is an array");
    check_with("exp", cJSON_CreateNumber(-1), EXTID_AUTH_ERR, "not a plausible time");
    check_with("exp", cJSON_CreateNumber(1e20), EXTID_AUTH_ERR, "not a plausible time");
}

static void test_zero_skew(void **state)
{
    struct extid_claim_policy p = fx_policy();
    cJSON *c;

    (void)state;
    p.clock_skew = 0;
    c = fx_claims();
    fx_set(c, "exp", at(0));
    check(c, &p, EXTID_AUTH_ERR, "expired");
    c = fx_claims();
    fx_set(c, "exp", at(1));
    check(c, &p, EXTID_OK, NULL);
    c = fx_claims();
    fx_set(c, "nbf", at(1));
    check(c, &p, EXTID_AUTH_ERR, "not yet valid");
}

/* Numbers that JSON text can carry but that are no time: 1e400 overflows to infinity. */
static void test_non_finite_time(void **state)
{
    struct extid_claim_policy p = fx_policy();
    cJSON *c = cJSON_Parse("{\"exp\":1e400}");
    cJSON *claims = fx_claims();

    (void)state;
    assert_non_null(c);
    fx_set(claims, "exp", cJSON_DetachItemFromObject(c, "exp"));
    cJSON_Delete(c);
    check(claims, &p, EXTID_AUTH_ERR, "not a plausible time");

    claims = fx_claims();
    fx_set(claims, "iat", cJSON_CreateNumber(NAN));
    check(claims, &p, EXTID_AUTH_ERR, "claim \"iat\"");
}

static void test_nbf(void **state)
{
    (void)state;
    check_with("nbf", at(301), EXTID_AUTH_ERR, "not yet valid: nbf 1750000301");
    check_with("nbf", at(300), EXTID_OK, NULL);
    /* Optional: Entra sends it, RFC 7519 does not require it. */
    check_with("nbf", NULL, EXTID_OK, NULL);
    check_with("nbf", cJSON_CreateString("0"), EXTID_AUTH_ERR, "claim \"nbf\" is a string");
}

static void test_iat(void **state)
{
    (void)state;
    check_with("iat", at(301), EXTID_AUTH_ERR, "issued in the future: iat 1750000301");
    check_with("iat", at(300), EXTID_OK, NULL);
    check_with("iat", NULL, EXTID_AUTH_ERR, "required claim \"iat\" is missing");
    check_with("iat", cJSON_CreateFalse(), EXTID_AUTH_ERR, "claim \"iat\" is a boolean");
}

static void test_aud(void **state)
{
    const char *others[] = { "00000003-0000-0000-c000-000000000000", FX_CLIENT };
    const char *only_other[] = { "00000003-0000-0000-c000-000000000000", "another" };

    (void)state;
    check_with("aud", cJSON_CreateString("22222222-2222-4333-8444-555555555555"), EXTID_AUTH_ERR,
               "aud \"22222222-2222-4333-8444-555555555555\" is not our client_id");
    /* No prefix match. */
    check_with("aud", cJSON_CreateString("11111111-2222-4333-8444-55555555555"), EXTID_AUTH_ERR,
               "aud");
    check_with("aud", cJSON_CreateStringArray(others + 1, 1), EXTID_OK, NULL);
    check_with("aud", cJSON_CreateStringArray(only_other, 2), EXTID_AUTH_ERR,
               "aud array (2 entries) does not contain");
    check_with("aud", cJSON_CreateArray(), EXTID_AUTH_ERR, "does not contain");
    {
        cJSON *arr = cJSON_CreateStringArray(others, 2);

        cJSON_AddItemToArray(arr, cJSON_CreateNumber(1));
        check_with("aud", arr, EXTID_AUTH_ERR, "aud array holds a number");
    }
    check_with("aud", NULL, EXTID_AUTH_ERR, "claim \"aud\" is missing");
    check_with("aud", cJSON_CreateNumber(1), EXTID_AUTH_ERR, "claim \"aud\" is a number");
}

/* Default claims with aud and azp set as given (azp NULL: absent). */
static void check_aud_azp(cJSON *aud, cJSON *azp, enum extid_result rc, const char *needle)
{
    struct extid_claim_policy p = fx_policy();
    cJSON *c = fx_claims();

    fx_set(c, "aud", aud);
    fx_set(c, "azp", azp);
    check(c, &p, rc, needle);
}

static void test_azp(void **state)
{
    const char *two[] = { "00000003-0000-0000-c000-000000000000", FX_CLIENT };

    (void)state;
    /* Several audiences: azp must be there, and be us. */
    check_aud_azp(cJSON_CreateStringArray(two, 2), cJSON_CreateString(FX_CLIENT), EXTID_OK, NULL);
    check_aud_azp(cJSON_CreateStringArray(two, 2), NULL, EXTID_AUTH_ERR,
                  "aud names 2 audiences but there is no azp");
    check_aud_azp(cJSON_CreateStringArray(two, 2), cJSON_CreateString(two[0]), EXTID_AUTH_ERR,
                  "azp \"00000003-0000-0000-c000-000000000000\" is not our client_id");
    /* One audience: azp is optional, but when present it must be us. */
    check_aud_azp(cJSON_CreateString(FX_CLIENT), NULL, EXTID_OK, NULL);
    check_aud_azp(cJSON_CreateStringArray(two + 1, 1), NULL, EXTID_OK, NULL);
    check_aud_azp(cJSON_CreateString(FX_CLIENT), cJSON_CreateString(FX_CLIENT), EXTID_OK, NULL);
    check_aud_azp(cJSON_CreateString(FX_CLIENT), cJSON_CreateString("another-app"), EXTID_AUTH_ERR,
                  "azp \"another-app\" is not our client_id");
    check_aud_azp(cJSON_CreateString(FX_CLIENT), cJSON_CreateNumber(7), EXTID_AUTH_ERR,
                  "claim \"azp\" is a number, expected a string");
}

/* A client_id pasted in upper case matches the lower-case GUID Entra puts in aud and azp; the
 * folding is ASCII case only. */
static void test_client_id_case(void **state)
{
    struct extid_claim_policy p = fx_policy();
    const char *two[] = { "00000003-0000-0000-c000-000000000000",
                          "abcdef01-2222-4333-8444-55555555555f" };
    cJSON *c;

    (void)state;
    p.audience = "ABCDEF01-2222-4333-8444-55555555555F";
    c = fx_claims();
    fx_set(c, "aud", cJSON_CreateString(two[1]));
    fx_set(c, "azp", cJSON_CreateString(two[1]));
    check(c, &p, EXTID_OK, NULL);
    c = fx_claims();
    fx_set(c, "aud", cJSON_CreateStringArray(two, 2));
    fx_set(c, "azp", cJSON_CreateString(two[1]));
    check(c, &p, EXTID_OK, NULL);
    c = fx_claims();
    fx_set(c, "aud", cJSON_CreateString("abcdef01-2222-4333-8444-55555555555e"));
    check(c, &p, EXTID_AUTH_ERR, "is not our client_id");
}

static void test_iss(void **state)
{
    (void)state;
    check_with("iss", cJSON_CreateString("https://evil.example/v2.0"), EXTID_AUTH_ERR,
               "iss \"https://evil.example/v2.0\" is not the expected \"" FX_ISSUER "\"");
    check_with("iss", cJSON_CreateString(FX_ISSUER "/"), EXTID_AUTH_ERR, "iss");
    check_with("iss", NULL, EXTID_AUTH_ERR, "claim \"iss\" is missing");
    check_with("iss", cJSON_CreateObject(), EXTID_AUTH_ERR, "claim \"iss\" is an object");
    {
        /* The same with the policy carrying the trailing slash and the token not. */
        struct extid_claim_policy p = fx_policy();

        p.issuer = FX_ISSUER "/";
        check(fx_claims(), &p, EXTID_AUTH_ERR, "iss");
    }
}

static void test_tid(void **state)
{
    struct extid_claim_policy p = fx_policy();
    cJSON *c;

    (void)state;
    check_with("tid", cJSON_CreateString("ffffffff-4e5f-4a6b-8c7d-9e0f1a2b3c4d"), EXTID_AUTH_ERR,
               "tid \"ffffffff-4e5f-4a6b-8c7d-9e0f1a2b3c4d\" is not the expected tenant");
    check_with("tid", NULL, EXTID_AUTH_ERR, "claim \"tid\" is missing");
    check_with("tid", cJSON_CreateNumber(1), EXTID_AUTH_ERR, "claim \"tid\" is a number");
    /* GUID hex digits in either case. */
    check_with("tid", cJSON_CreateString("0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"), EXTID_OK, NULL);

    /* No tenant_id configured: tid is not looked at. */
    p.tenant_id = NULL;
    c = fx_claims();
    fx_set(c, "tid", cJSON_CreateString("ffffffff-4e5f-4a6b-8c7d-9e0f1a2b3c4d"));
    check(c, &p, EXTID_OK, NULL);
    c = fx_claims();
    fx_set(c, "tid", NULL);
    check(c, &p, EXTID_OK, NULL);
}

static void test_identity(void **state)
{
    (void)state;
    check_with("preferred_username", cJSON_CreateString("bob@contoso.com"), EXTID_AUTH_ERR,
               "preferred_username \"bob@contoso.com\" is not the challenged address "
               "\"alice@contoso.com\"");
    check_with("preferred_username", cJSON_CreateString("Alice@Contoso.COM"), EXTID_OK, NULL);
    check_with("preferred_username", cJSON_CreateString("alice@contoso.com.evil"), EXTID_AUTH_ERR,
               "not the challenged address");
    check_with("preferred_username", cJSON_CreateString(""), EXTID_AUTH_ERR,
               "not the challenged address");
    check_with("preferred_username", NULL, EXTID_AUTH_ERR,
               "claim \"preferred_username\" is missing");
    {
        const char *arr[] = { FX_EMAIL };

        check_with("preferred_username", cJSON_CreateStringArray(arr, 1), EXTID_AUTH_ERR,
                   "claim \"preferred_username\" is an array, expected a string");
    }
}

static void test_email_claim(void **state)
{
    struct extid_claim_policy p = fx_policy();
    cJSON *c;

    (void)state;
    p.identity_claim = "email";
    c = fx_claims();
    fx_set(c, "preferred_username", cJSON_CreateString("someone.else@contoso.com"));
    fx_set(c, "email", cJSON_CreateString("ALICE@contoso.com"));
    check(c, &p, EXTID_OK, NULL);

    /* The same token under the default claim is refused. */
    c = fx_claims();
    fx_set(c, "preferred_username", cJSON_CreateString("someone.else@contoso.com"));
    fx_set(c, "email", cJSON_CreateString("ALICE@contoso.com"));
    p.identity_claim = "preferred_username";
    check(c, &p, EXTID_AUTH_ERR, "preferred_username \"someone.else@contoso.com\"");

    /* email wanted but only preferred_username present. */
    p.identity_claim = "email";
    check(fx_claims(), &p, EXTID_AUTH_ERR, "claim \"email\" is missing");
}

static void test_policy_and_arguments(void **state)
{
    struct extid_claim_policy p;
    cJSON *arr = cJSON_CreateArray();

    (void)state;
    p = fx_policy();
    check(NULL, &p, EXTID_AUTH_ERR, "not a JSON object");
    check(arr, &p, EXTID_AUTH_ERR, "not a JSON object");
    check(fx_claims(), NULL, EXTID_AUTH_ERR, "policy incomplete");
    p.issuer = NULL;
    check(fx_claims(), &p, EXTID_AUTH_ERR, "policy incomplete");
    p = fx_policy();
    p.audience = "";
    check(fx_claims(), &p, EXTID_AUTH_ERR, "policy incomplete");
    p = fx_policy();
    p.email = NULL;
    check(fx_claims(), &p, EXTID_AUTH_ERR, "policy incomplete");
    p = fx_policy();
    p.identity_claim = NULL;
    check(fx_claims(), &p, EXTID_AUTH_ERR, "policy incomplete");
    p = fx_policy();
    p.clock_skew = -1;
    check(fx_claims(), &p, EXTID_AUTH_ERR, "clock_skew -1");
    p = fx_policy();
    p.now = 0;
    check(fx_claims(), &p, EXTID_AUTH_ERR, "no current time");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_claims),
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_zero_skew),
        cmocka_unit_test(test_non_finite_time),
        cmocka_unit_test(test_nbf),
        cmocka_unit_test(test_iat),
        cmocka_unit_test(test_aud),
        cmocka_unit_test(test_azp),
        cmocka_unit_test(test_client_id_case),
        cmocka_unit_test(test_iss),
        cmocka_unit_test(test_tid),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_email_claim),
        cmocka_unit_test(test_policy_and_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
