#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "jwks.h"
#include "token_fixture.h"

struct keys {
    EVP_PKEY *a, *b, *small;
};

static int setup_keys(void **state)
{
    struct keys *k = calloc(1, sizeof *k);

    if (!k)
        return -1;
    k->a = fx_key(FX_KEY_A_PEM);
    k->b = fx_key(FX_KEY_B_PEM);
    k->small = fx_key(FX_KEY_SMALL_PEM);
    *state = k;
    return k->a && k->b && k->small ? 0 : -1;
}

static int teardown_keys(void **state)
{
    struct keys *k = *state;

    EVP_PKEY_free(k->a);
    EVP_PKEY_free(k->b);
    EVP_PKEY_free(k->small);
    free(k);
    return 0;
}

/* Runs the lookup on text and returns the result; *found gets the key (or NULL). */
static enum extid_result lookup(const char *text, const char *kid, EVP_PKEY **found,
                                struct fx_log *cap)
{
    struct extid_log log = fx_log_sink(cap);

    *found = (EVP_PKEY *)&log; /* must be reset by the call */
    return extid_jwks_find_key(text, strlen(text), kid, found, &log);
}

/* Looks up kid in a JWKS made of the given JWK and expects rc, with needle in the log. */
static void expect_one(cJSON *jwk, const char *kid, enum extid_result rc, const char *needle)
{
    char *text = fx_jwks(jwk, NULL);
    struct fx_log cap;
    EVP_PKEY *key;

    assert_int_equal(lookup(text, kid, &key, &cap), rc);
    if (rc == EXTID_OK) {
        assert_non_null(key);
        EVP_PKEY_free(key);
    } else {
        assert_null(key);
    }
    if (needle && !fx_logged(&cap, needle))
        fail_msg("log lacks \"%s\":\n%s", needle, cap.text);
    free(text);
}

static void test_finds_key_by_kid(void **state)
{
    struct keys *k = *state;
    char *text = fx_jwks(fx_jwk(k->b, "key-b"), fx_jwk(k->a, "key-a"), NULL);
    struct fx_log cap;
    EVP_PKEY *key;

    assert_int_equal(lookup(text, "key-a", &key, &cap), EXTID_OK);
    assert_int_equal(EVP_PKEY_eq(key, k->a), 1);
    assert_int_equal(EVP_PKEY_eq(key, k->b), 0);
    assert_int_equal(EVP_PKEY_get_bits(key), 2048);
    EVP_PKEY_free(key);
    assert_int_equal(lookup(text, "key-b", &key, &cap), EXTID_OK);
    assert_int_equal(EVP_PKEY_eq(key, k->b), 1);
    EVP_PKEY_free(key);
    free(text);
}

static void test_unknown_kid(void **state)
{
    struct keys *k = *state;
    char *text = fx_jwks(fx_jwk(k->a, "key-a"), fx_jwk(k->b, NULL), NULL);
    struct fx_log cap;
    EVP_PKEY *key;

    assert_int_equal(lookup(text, "key-z", &key, &cap), EXTID_UNKNOWN_KID);
    assert_null(key);
    assert_true(fx_logged(&cap, "key-z"));
    /* kid comparison is exact. */
    assert_int_equal(lookup(text, "KEY-A", &key, &cap), EXTID_UNKNOWN_KID);
    assert_int_equal(lookup(text, "key-", &key, &cap), EXTID_UNKNOWN_KID);
    free(text);
}

static void test_non_string_kid_is_not_a_match(void **state)
{
    struct keys *k = *state;
    cJSON *jwk = fx_jwk(k->a, NULL);

    cJSON_AddNumberToObject(jwk, "kid", 5);
    expect_one(jwk, "5", EXTID_UNKNOWN_KID, NULL);
}

static void test_duplicate_kid_first_valid_wins(void **state)
{
    struct keys *k = *state;
    struct fx_log cap;
    EVP_PKEY *key;
    char *text;

    /* First entry unusable (weak), second good: the good one is used. */
    text = fx_jwks(fx_jwk(k->small, "dup"), fx_jwk(k->a, "dup"), fx_jwk(k->b, "dup"), NULL);
    assert_int_equal(lookup(text, "dup", &key, &cap), EXTID_OK);
    assert_int_equal(EVP_PKEY_eq(key, k->a), 1);
    assert_true(fx_logged(&cap, "1024 bits"));
    EVP_PKEY_free(key);
    free(text);
    /* Two good ones: the first. */
    text = fx_jwks(fx_jwk(k->b, "dup"), fx_jwk(k->a, "dup"), NULL);
    assert_int_equal(lookup(text, "dup", &key, &cap), EXTID_OK);
    assert_int_equal(EVP_PKEY_eq(key, k->b), 1);
    EVP_PKEY_free(key);
    free(text);
}

static void test_small_key_refused(void **state)
{
    struct keys *k = *state;

    expect_one(fx_jwk(k->small, "weak"), "weak", EXTID_UNAVAILABLE, "1024 bits");
}

static void test_kty_use_alg(void **state)
{
    struct keys *k = *state;
    cJSON *jwk;

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "kty", cJSON_CreateString("EC"));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "kty");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "kty", NULL);
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "kty");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "use", cJSON_CreateString("enc"));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "use=\"enc\"");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "use", cJSON_CreateNumber(1));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "\"use\" is not a string");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "alg", cJSON_CreateString("RS384"));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "alg=\"RS384\"");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "alg", cJSON_CreateString("none"));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "alg=\"none\"");

    /* Both are optional. */
    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "use", NULL);
    fx_set(jwk, "alg", NULL);
    expect_one(jwk, "k", EXTID_OK, NULL);
}

static void test_bad_modulus_or_exponent(void **state)
{
    struct keys *k = *state;
    cJSON *jwk;

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "n", cJSON_CreateNumber(12345));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "\"n\" missing or not a string");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "n", NULL);
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "\"n\" missing or not a string");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "n", cJSON_CreateString("AQAB+/=="));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "\"n\" is not valid base64url");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "n", cJSON_CreateString(""));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "\"n\" is not valid base64url");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "e", NULL);
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "\"e\" missing or not a string");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "e", cJSON_CreateString("AQA="));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "\"e\" is not valid base64url");

    /* e = 2 (even), e = 1, e = 65536 (even): refused. */
    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "e", cJSON_CreateString("Ag"));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "exponent");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "e", cJSON_CreateString("AQ"));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "exponent");

    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "e", cJSON_CreateString("AQAA"));
    expect_one(jwk, "k", EXTID_UNAVAILABLE, "exponent");

    /* e = 3 is odd and at least 3: accepted. */
    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "e", cJSON_CreateString("Aw"));
    expect_one(jwk, "k", EXTID_OK, NULL);
}

static void expect_malformed(const char *text, size_t len, const char *needle)
{
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    EVP_PKEY *key = (EVP_PKEY *)&cap;

    assert_int_equal(extid_jwks_find_key(text, len, "key-a", &key, &log), EXTID_UNAVAILABLE);
    assert_null(key);
    if (!fx_logged(&cap, needle))
        fail_msg("log lacks \"%s\":\n%s", needle, cap.text);
}

static void test_malformed_jwks(void **state)
{
    struct keys *k = *state;
    char *good = fx_jwks(fx_jwk(k->a, "key-a"), NULL);
    size_t glen = strlen(good);
    char *buf;

#define M(s, needle) expect_malformed(s, strlen(s), needle)
    M("not json", "not a JSON object");
    M("[]", "not a JSON object");
    M("\"keys\"", "not a JSON object");
    M("{}", "no \"keys\" array");
    M("{\"keys\":{}}", "no \"keys\" array");
    M("{\"keys\":[1]}", "not a JSON object");
    M("{\"keys\":[\"x\"]}", "not a JSON object");
#undef M
    expect_malformed(NULL, 10, "empty");
    expect_malformed(good, 0, "empty");
    /* Cut short. */
    expect_malformed(good, glen - 1, "not a JSON object");
    /* Trailing garbage after a valid document. */
    buf = malloc(glen + 3);
    memcpy(buf, good, glen);
    memcpy(buf + glen, " x", 3);
    expect_malformed(buf, glen + 2, "not a JSON object");
    /* Trailing whitespace is fine. */
    {
        struct fx_log cap;
        struct extid_log log = fx_log_sink(&cap);
        EVP_PKEY *key = NULL;

        memcpy(buf + glen, " \n", 3);
        assert_int_equal(extid_jwks_find_key(buf, glen + 2, "key-a", &key, &log), EXTID_OK);
        EVP_PKEY_free(key);
    }
    free(buf);
    free(good);
}

static void test_size_limits(void **state)
{
    struct keys *k = *state;
    size_t big = 256 * 1024 + 1;
    char *text = malloc(big + 1);
    cJSON *doc, *keys;

    (void)k;
    /* Over the byte limit: refused before parsing, whatever the content. */
    memset(text, ' ', big);
    text[0] = '{';
    memcpy(text + big - 11, "\"keys\":[]}", 10);
    text[big - 1] = ' ';
    text[big] = '\0';
    expect_malformed(text, big, "byte limit");
    free(text);

    /* More keys than the limit. */
    doc = cJSON_CreateObject();
    keys = cJSON_AddArrayToObject(doc, "keys");
    for (int i = 0; i < 65; i++)
        cJSON_AddItemToArray(keys, cJSON_CreateObject());
    text = fx_text(doc);
    expect_malformed(text, strlen(text), "more than the limit");
    free(text);
}

static void test_bad_arguments(void **state)
{
    struct keys *k = *state;
    char *text = fx_jwks(fx_jwk(k->a, "key-a"), NULL);
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    EVP_PKEY *key = (EVP_PKEY *)&cap;

    assert_int_equal(extid_jwks_find_key(text, strlen(text), NULL, &key, &log), EXTID_AUTH_ERR);
    assert_null(key);
    key = (EVP_PKEY *)&cap;
    assert_int_equal(extid_jwks_find_key(text, strlen(text), "", &key, &log), EXTID_AUTH_ERR);
    assert_null(key);
    assert_int_equal(extid_jwks_find_key(text, strlen(text), "key-a", NULL, &log),
                     EXTID_SYSTEM_ERR);
    /* A NULL log is allowed. */
    assert_int_equal(extid_jwks_find_key(text, strlen(text), "key-a", &key, NULL), EXTID_OK);
    EVP_PKEY_free(key);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finds_key_by_kid),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_non_string_kid_is_not_a_match),
        cmocka_unit_test(test_duplicate_kid_first_valid_wins),
        cmocka_unit_test(test_small_key_refused),
        cmocka_unit_test(test_kty_use_alg),
        cmocka_unit_test(test_bad_modulus_or_exponent),
        cmocka_unit_test(test_malformed_jwks),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
