/* Key sets: the key found by kid, and every unusable key refused (size, kty/use/alg, key_ops,
 * ROCA moduli, bad numbers, malformed sets, size limits). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/bn.h>

#include "b64url.h"
#include "jwks.h"
#include "token_fixture.h"
#include "unit_fixture.h"

/* Whether the last lookup said the kid is not in the set. */
static bool unknown_kid;

/* Runs the lookup on text and returns the result; *found gets the key (or NULL). */
static enum extid_result lookup(const char *text, const char *kid, EVP_PKEY **found,
                                struct fx_log *cap)
{
    struct extid_log log = fx_log_sink(cap);

    *found = (EVP_PKEY *)&log; /* must be reset by the call */
    unknown_kid = true;        /* must be reset too */
    return extid_jwks_find_key(text, strlen(text), kid, found, &unknown_kid, &log);
}

/* Looks up kid in text (which it frees) and expects the public half of want. */
static void expect_key(char *text, const char *kid, EVP_PKEY *want, struct fx_log *cap)
{
    EVP_PKEY *key;

    assert_int_equal(lookup(text, kid, &key, cap), EXTID_OK);
    assert_int_equal(EVP_PKEY_eq(key, want), 1);
    EVP_PKEY_free(key);
    free(text);
}

/* Looks up kid in a JWKS made of the given JWK and expects rc, with needle (if any) in the
 * log. */
static void expect_one(cJSON *jwk, const char *kid, enum extid_result rc, const char *needle)
{
    char *text = fx_jwks(jwk, NULL);
    struct fx_log cap;
    EVP_PKEY *key;
    enum extid_result got = lookup(text, kid, &key, &cap);

    if (got != rc)
        fail_msg("%s: got %s, want %s", text, extid_result_name(got), extid_result_name(rc));
    assert_false(unknown_kid); /* the kid is there, whatever became of its key */
    if (rc == EXTID_OK) {
        assert_non_null(key);
        EVP_PKEY_free(key);
    } else {
        assert_null(key);
    }
    if (needle)
        assert_text_logged(cap.text, needle);
    free(text);
}

/* Key A's JWK (kid "k") with one member set to value, given as JSON text (NULL removes the
 * member), looked up as in expect_one. */
struct member_case {
    const char *member;
    const char *value;
    enum extid_result want;
    const char *needle;
};

static void expect_member_cases(const struct fx_keys *k, const struct member_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cJSON *jwk = fx_jwk(k->a, "k"), *value = NULL;

        if (cases[i].value) {
            value = cJSON_Parse(cases[i].value);
            assert_non_null(value);
        }
        fx_set(jwk, cases[i].member, value);
        expect_one(jwk, "k", cases[i].want, cases[i].needle);
    }
}

static void test_finds_key_by_kid(void **state)
{
    struct fx_keys *k = *state;
    char *text = fx_jwks(fx_jwk(k->b, "key-b"), fx_jwk(k->a, "key-a"), NULL);
    struct fx_log cap;
    EVP_PKEY *key;

    assert_int_equal(lookup(text, "key-a", &key, &cap), EXTID_OK);
    assert_int_equal(EVP_PKEY_eq(key, k->a), 1);
    assert_int_equal(EVP_PKEY_eq(key, k->b), 0);
    assert_int_equal(EVP_PKEY_get_bits(key), 2048);
    EVP_PKEY_free(key);
    expect_key(text, "key-b", k->b, &cap);
}

static void test_unknown_kid(void **state)
{
    struct fx_keys *k = *state;
    char *text = fx_jwks(fx_jwk(k->a, "key-a"), fx_jwk(k->b, NULL), NULL);
    struct fx_log cap;
    EVP_PKEY *key;

    assert_int_equal(lookup(text, "key-z", &key, &cap), EXTID_AUTH_ERR);
    assert_true(unknown_kid);
    assert_null(key);
    assert_true(fx_logged(&cap, "key-z"));
    /* kid comparison is exact. */
    assert_int_equal(lookup(text, "KEY-A", &key, &cap), EXTID_AUTH_ERR);
    assert_true(unknown_kid);
    assert_int_equal(lookup(text, "key-", &key, &cap), EXTID_AUTH_ERR);
    assert_true(unknown_kid);
    assert_int_equal(lookup(text, "key-a", &key, &cap), EXTID_OK);
    assert_false(unknown_kid);
    EVP_PKEY_free(key);
    free(text);
}

static void test_non_string_kid_is_not_a_match(void **state)
{
    struct fx_keys *k = *state;
    cJSON *jwk = fx_jwk(k->a, NULL);

    char *text;
    struct fx_log cap;
    EVP_PKEY *key;

    cJSON_AddNumberToObject(jwk, "kid", 5);
    text = fx_jwks(jwk, NULL);
    assert_int_equal(lookup(text, "5", &key, &cap), EXTID_AUTH_ERR);
    assert_true(unknown_kid);
    assert_null(key);
    free(text);
}

static void test_duplicate_kid_first_valid_wins(void **state)
{
    struct fx_keys *k = *state;
    struct fx_log cap;

    /* First entry unusable (weak), second good: the good one is used. */
    expect_key(fx_jwks(fx_jwk(k->small, "dup"), fx_jwk(k->a, "dup"), fx_jwk(k->b, "dup"), NULL),
               "dup", k->a, &cap);
    assert_true(fx_logged(&cap, "1024 bits"));
    /* Two good ones: the first. */
    expect_key(fx_jwks(fx_jwk(k->b, "dup"), fx_jwk(k->a, "dup"), NULL), "dup", k->b, &cap);
}

static void test_small_key_refused(void **state)
{
    struct fx_keys *k = *state;

    expect_one(fx_jwk(k->small, "weak"), "weak", EXTID_UNAVAILABLE, "1024 bits");
}

static const struct member_case kty_use_alg_cases[] = {
    { "kty", "\"EC\"", EXTID_UNAVAILABLE, "kty" },
    { "kty", NULL, EXTID_UNAVAILABLE, "kty" },
    { "use", "\"enc\"", EXTID_UNAVAILABLE, "use=\"enc\"" },
    { "use", "1", EXTID_UNAVAILABLE, "\"use\" is not a string" },
    { "alg", "\"RS384\"", EXTID_UNAVAILABLE, "alg=\"RS384\"" },
    { "alg", "\"none\"", EXTID_UNAVAILABLE, "alg=\"none\"" },
};

static void test_kty_use_alg(void **state)
{
    struct fx_keys *k = *state;
    cJSON *jwk;

    expect_member_cases(k, kty_use_alg_cases,
                        sizeof kty_use_alg_cases / sizeof kty_use_alg_cases[0]);

    /* Both use and alg are optional. */
    jwk = fx_jwk(k->a, "k");
    fx_set(jwk, "use", NULL);
    fx_set(jwk, "alg", NULL);
    expect_one(jwk, "k", EXTID_OK, NULL);
}

/* A "key_ops" member limits the key to the operations it lists. */
static const struct member_case key_ops_cases[] = {
    { "key_ops", "[\"verify\"]", EXTID_OK, NULL },
    { "key_ops", "[\"sign\", \"verify\"]", EXTID_OK, NULL },
    { "key_ops", "[\"encrypt\"]", EXTID_UNAVAILABLE, "does not include \"verify\"" },
    { "key_ops", "[\"sign\"]", EXTID_UNAVAILABLE, "does not include \"verify\"" },
    { "key_ops", "[]", EXTID_UNAVAILABLE, "does not include \"verify\"" },
    { "key_ops", "[\"VERIFY\", 1]", EXTID_UNAVAILABLE, "does not include \"verify\"" },
    { "key_ops", "\"verify\"", EXTID_UNAVAILABLE, "\"key_ops\" is not an array" },
    { "key_ops", "null", EXTID_UNAVAILABLE, "\"key_ops\" is not an array" },
};

static void test_key_ops(void **state)
{
    expect_member_cases(*state, key_ops_cases, sizeof key_ops_cases / sizeof key_ops_cases[0]);
}

/* Key A's JWK with modulus k*M + (65537^a mod M) + add, M the product of the primes up to 353:
 * the shape of a modulus from the flawed generator when add is 0. */
static cJSON *jwk_with_generated_modulus(const struct fx_keys *k, unsigned long add)
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *m = BN_new(), *r = BN_new(), *g = BN_new(), *a = BN_new(), *n = BN_new();
    unsigned char raw[512];
    char *b64 = NULL;
    cJSON *jwk = fx_jwk(k->a, "k");
    int len;

    assert_true(ctx && m && r && g && a && n && BN_one(m));
    for (unsigned long p = 2; p <= 353; p++) {
        unsigned long d = 2;

        while (d * d <= p && p % d != 0)
            d++;
        if (d * d > p)
            assert_true(BN_mul_word(m, p));
    }
    assert_true(BN_set_word(g, 65537) && BN_set_word(a, 1234567));
    assert_true(BN_mod_exp(r, g, a, m, ctx));
    /* k = 2^1800 puts the modulus near 2300 bits. */
    assert_true(BN_lshift(n, m, 1800) && BN_add(n, n, r) && BN_add_word(n, add));
    len = BN_bn2bin(n, raw);
    assert_true(len > 256 && len <= (int)sizeof raw);
    assert_true(extid_b64url_encode(raw, (size_t)len, &b64));
    fx_set(jwk, "n", cJSON_CreateString(b64));
    free(b64);
    BN_free(m);
    BN_free(r);
    BN_free(g);
    BN_free(a);
    BN_free(n);
    BN_CTX_free(ctx);
    return jwk;
}

static void test_roca_modulus_refused(void **state)
{
    struct fx_keys *k = *state;

    expect_one(jwk_with_generated_modulus(k, 0), "k", EXTID_UNAVAILABLE, "ROCA");
    /* Two more and the fingerprint is gone: an ordinary modulus of the same size is fine. */
    expect_one(jwk_with_generated_modulus(k, 2), "k", EXTID_OK, NULL);
}

static void test_import_single_jwk(void **state)
{
    struct fx_keys *k = *state;
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    cJSON *jwk = fx_jwk(k->a, NULL);
    EVP_PKEY *key = extid_jwk_import(jwk, &log);

    assert_non_null(key);
    assert_int_equal(EVP_PKEY_eq(key, k->a), 1);
    EVP_PKEY_free(key);
    fx_set(jwk, "key_ops", cJSON_CreateStringArray((const char *[]){ "encrypt" }, 1));
    assert_null(extid_jwk_import(jwk, &log));
    assert_text_logged(cap.text, "does not include \"verify\"");
    cJSON_Delete(jwk);
    jwk = cJSON_CreateArray();
    assert_null(extid_jwk_import(jwk, &log));
    cJSON_Delete(jwk);
}

static const struct member_case modulus_exponent_cases[] = {
    { "n", "12345", EXTID_UNAVAILABLE, "\"n\" missing or not a string" },
    { "n", NULL, EXTID_UNAVAILABLE, "\"n\" missing or not a string" },
    { "n", "\"AQAB+/==\"", EXTID_UNAVAILABLE, "\"n\" is not valid base64url" },
    { "n", "\"\"", EXTID_UNAVAILABLE, "\"n\" is not valid base64url" },
    { "e", NULL, EXTID_UNAVAILABLE, "\"e\" missing or not a string" },
    { "e", "\"AQA=\"", EXTID_UNAVAILABLE, "\"e\" is not valid base64url" },
    /* e = 2 (even), e = 1, e = 65536 (even): refused. */
    { "e", "\"Ag\"", EXTID_UNAVAILABLE, "exponent" },
    { "e", "\"AQ\"", EXTID_UNAVAILABLE, "exponent" },
    { "e", "\"AQAA\"", EXTID_UNAVAILABLE, "exponent" },
    /* e = 3 is odd and at least 3: accepted. */
    { "e", "\"Aw\"", EXTID_OK, NULL },
};

static void test_bad_modulus_or_exponent(void **state)
{
    expect_member_cases(*state, modulus_exponent_cases,
                        sizeof modulus_exponent_cases / sizeof modulus_exponent_cases[0]);
}

static void expect_malformed(const char *text, size_t len, const char *needle)
{
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    EVP_PKEY *key = (EVP_PKEY *)&cap;

    assert_int_equal(extid_jwks_find_key(text, len, "key-a", &key, NULL, &log), EXTID_UNAVAILABLE);
    assert_null(key);
    assert_text_logged(cap.text, needle);
}

static void test_malformed_jwks(void **state)
{
    struct fx_keys *k = *state;
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
        assert_int_equal(extid_jwks_find_key(buf, glen + 2, "key-a", &key, NULL, &log), EXTID_OK);
        EVP_PKEY_free(key);
    }
    free(buf);
    free(good);
}

static void test_size_limits(void **state)
{
    size_t big = 256 * 1024 + 1;
    char *text = malloc(big + 1);
    cJSON *doc, *keys;

    (void)state;
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
    struct fx_keys *k = *state;
    char *text = fx_jwks(fx_jwk(k->a, "key-a"), NULL);
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    EVP_PKEY *key = (EVP_PKEY *)&cap;

    assert_int_equal(extid_jwks_find_key(text, strlen(text), NULL, &key, NULL, &log),
                     EXTID_AUTH_ERR);
    assert_null(key);
    key = (EVP_PKEY *)&cap;
    assert_int_equal(extid_jwks_find_key(text, strlen(text), "", &key, NULL, &log), EXTID_AUTH_ERR);
    assert_null(key);
    assert_int_equal(extid_jwks_find_key(text, strlen(text), "key-a", NULL, NULL, &log),
                     EXTID_SYSTEM_ERR);
    /* A NULL log is allowed. */
    assert_int_equal(extid_jwks_find_key(text, strlen(text), "key-a", &key, NULL, NULL), EXTID_OK);
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
        cmocka_unit_test(test_key_ops),
        cmocka_unit_test(test_roca_modulus_refused),
        cmocka_unit_test(test_import_single_jwk),
        cmocka_unit_test(test_malformed_jwks),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests(tests, fx_keys_setup, fx_keys_teardown);
}
