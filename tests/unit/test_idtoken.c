/* Whole ID-token verification: a good token passes; other keys, alg none/HS256/RS384, bad
 * headers, unknown kids, weak keys, malformed key sets and tampering are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "idtoken.h"
#include "token_fixture.h"

struct fx {
    EVP_PKEY *a, *b, *small;
    char *jwks; /* key-a → a, key-b → b, weak → small */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    *state = f;
    f->a = fx_key(FX_KEY_A_PEM);
    f->b = fx_key(FX_KEY_B_PEM);
    f->small = fx_key(FX_KEY_SMALL_PEM);
    if (!f->a || !f->b || !f->small)
        return -1;
    f->jwks = fx_jwks(fx_jwk(f->b, "key-b"), fx_jwk(f->a, FX_KID), fx_jwk(f->small, "weak"), NULL);
    return f->jwks ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    EVP_PKEY_free(f->a);
    EVP_PKEY_free(f->b);
    EVP_PKEY_free(f->small);
    free(f->jwks);
    free(f);
    return 0;
}

/* Verifies tok against the fixture JWKS and default policy; checks rc and the log.
 * No part of the token may ever appear in the log. tok is freed. */
static void verify_with(struct fx *f, char *tok, const struct extid_claim_policy *p,
                        enum extid_result rc, const char *needle)
{
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    const char *sig;

    assert_non_null(tok);
    assert_int_equal(extid_idtoken_verify(tok, f->jwks, strlen(f->jwks), p, &log), rc);
    if (needle && !fx_logged(&cap, needle))
        fail_msg("log lacks \"%s\":\n%s", needle, cap.text);
    sig = strrchr(tok, '.');
    if (sig && strlen(sig) > 8)
        assert_false(fx_logged(&cap, sig + 1));
    assert_false(fx_logged(&cap, tok));
    free(tok);
}

static void verify(struct fx *f, char *tok, enum extid_result rc, const char *needle)
{
    struct extid_claim_policy p = fx_policy();

    verify_with(f, tok, &p, rc, needle);
}

/* Token over (header JSON text, default claims) signed by key with RS256. */
static char *token_hdr(const char *header, EVP_PKEY *key)
{
    char *payload = fx_text(fx_claims());
    char *tok = fx_sign(header, payload, key);

    free(payload);
    return tok;
}

static void test_good_token(void **state)
{
    struct fx *f = *state;

    verify(f, fx_token(fx_header(FX_KID), fx_claims(), f->a), EXTID_OK, "verified");
    verify(f, fx_token(fx_header("key-b"), fx_claims(), f->b), EXTID_OK, NULL);
    /* typ is optional, and a media type name, so its case does not matter. */
    verify(f, token_hdr("{\"alg\":\"RS256\",\"kid\":\"key-a\"}", f->a), EXTID_OK, NULL);
    verify(f, token_hdr("{\"alg\":\"RS256\",\"typ\":\"jwt\",\"kid\":\"key-a\"}", f->a), EXTID_OK,
           NULL);
}

/* Right kid, wrong signer. */
static void test_other_key_same_kid(void **state)
{
    struct fx *f = *state;

    verify(f, fx_token(fx_header(FX_KID), fx_claims(), f->b), EXTID_AUTH_ERR, "does not verify");
}

static void test_alg_none(void **state)
{
    struct fx *f = *state;
    char *h = fx_b64url_str("{\"alg\":\"none\",\"kid\":\"key-a\"}");
    char *p = fx_b64url_str("{\"iss\":\"x\"}");
    char tok[512];

    /* Unsecured JWS: empty signature part. */
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    verify(f, strdup(tok), EXTID_AUTH_ERR, "empty signature part");
    /* With a signature part anyway, refused for the algorithm. */
    snprintf(tok, sizeof tok, "%s.%s.c2ln", h, p);
    verify(f, strdup(tok), EXTID_AUTH_ERR, "alg \"none\" refused");
    free(h);
    free(p);
    verify(f, token_hdr("{\"alg\":\"none\",\"kid\":\"key-a\"}", f->a), EXTID_AUTH_ERR,
           "alg \"none\" refused");
}

/* HS256 keyed with the public JWKS text: the classic algorithm confusion. */
static void test_alg_hs256(void **state)
{
    struct fx *f = *state;
    const char *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"key-a\"}";
    char *payload = fx_text(fx_claims());

    verify(f, fx_sign_hs256(hdr, payload, f->jwks, strlen(f->jwks)), EXTID_AUTH_ERR,
           "alg \"HS256\" refused");
    verify(f, fx_sign_hs256(hdr, payload, "secret", 6), EXTID_AUTH_ERR, "alg \"HS256\" refused");
    free(payload);
}

static void test_alg_rs384(void **state)
{
    struct fx *f = *state;
    const char *hdr384 = "{\"alg\":\"RS384\",\"typ\":\"JWT\",\"kid\":\"key-a\"}";
    char *hdr256 = fx_header(FX_KID);
    char *payload = fx_text(fx_claims());

    verify(f, fx_sign_rsa_md(hdr384, payload, f->a, EVP_sha384()), EXTID_AUTH_ERR,
           "alg \"RS384\" refused");
    /* Header says RS256, signature made with SHA-384. */
    verify(f, fx_sign_rsa_md(hdr256, payload, f->a, EVP_sha384()), EXTID_AUTH_ERR,
           "does not verify");
    free(hdr256);
    free(payload);
}

static void test_alg_other_forms(void **state)
{
    struct fx *f = *state;

    verify(f, token_hdr("{\"typ\":\"JWT\",\"kid\":\"key-a\"}", f->a), EXTID_AUTH_ERR,
           "\"alg\" missing or not a string");
    verify(f, token_hdr("{\"alg\":256,\"kid\":\"key-a\"}", f->a), EXTID_AUTH_ERR,
           "\"alg\" missing or not a string");
    verify(f, token_hdr("{\"alg\":[\"RS256\"],\"kid\":\"key-a\"}", f->a), EXTID_AUTH_ERR,
           "\"alg\" missing or not a string");
    verify(f, token_hdr("{\"alg\":\"rs256\",\"kid\":\"key-a\"}", f->a), EXTID_AUTH_ERR,
           "alg \"rs256\" refused");
    verify(f, token_hdr("{\"alg\":\"PS256\",\"kid\":\"key-a\"}", f->a), EXTID_AUTH_ERR,
           "alg \"PS256\" refused");
    verify(f, token_hdr("{\"alg\":\"RS256 \",\"kid\":\"key-a\"}", f->a), EXTID_AUTH_ERR, "refused");
}

static void test_header_typ_crit_kid(void **state)
{
    struct fx *f = *state;

    verify(f, token_hdr("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"key-a\"}", f->a),
           EXTID_AUTH_ERR, "\"typ\" is not \"JWT\"");
    verify(f, token_hdr("{\"alg\":\"RS256\",\"typ\":1,\"kid\":\"key-a\"}", f->a), EXTID_AUTH_ERR,
           "\"typ\" is not \"JWT\"");
    verify(f, token_hdr("{\"alg\":\"RS256\",\"kid\":\"key-a\",\"crit\":[\"exp\"]}", f->a),
           EXTID_AUTH_ERR, "\"crit\"");
    verify(f, token_hdr("{\"alg\":\"RS256\",\"kid\":\"key-a\",\"crit\":[]}", f->a), EXTID_AUTH_ERR,
           "\"crit\"");
    verify(f, token_hdr("{\"alg\":\"RS256\"}", f->a), EXTID_AUTH_ERR, "\"kid\" missing");
    verify(f, token_hdr("{\"alg\":\"RS256\",\"kid\":\"\"}", f->a), EXTID_AUTH_ERR,
           "\"kid\" missing, empty");
    verify(f, token_hdr("{\"alg\":\"RS256\",\"kid\":7}", f->a), EXTID_AUTH_ERR, "not a string");
}

static void test_unknown_kid(void **state)
{
    struct fx *f = *state;

    struct extid_claim_policy p = fx_policy();
    char *tok = fx_token(fx_header("key-new"), fx_claims(), f->a);
    bool unknown = false;

    verify(f, fx_token(fx_header("key-new"), fx_claims(), f->a), EXTID_AUTH_ERR,
           "no key with kid=\"key-new\"");
    /* Only the kid is missing: a newer key set may hold it. */
    assert_int_equal(
        extid_idtoken_verify_claims(tok, f->jwks, strlen(f->jwks), &p, NULL, NULL, &unknown),
        EXTID_AUTH_ERR);
    assert_true(unknown);
    free(tok);
    /* The algorithm is refused before any key lookup: no refetch for a forged header. */
    tok = token_hdr("{\"alg\":\"HS256\",\"kid\":\"key-new\"}", f->a);
    assert_int_equal(
        extid_idtoken_verify_claims(tok, f->jwks, strlen(f->jwks), &p, NULL, NULL, &unknown),
        EXTID_AUTH_ERR);
    assert_false(unknown);
    verify(f, tok, EXTID_AUTH_ERR, "alg \"HS256\" refused");
}

static void test_weak_key_refused(void **state)
{
    struct fx *f = *state;

    verify(f, fx_token(fx_header("weak"), fx_claims(), f->small), EXTID_UNAVAILABLE, "1024 bits");
}

static void test_malformed_jwks(void **state)
{
    struct fx *f = *state;
    char *tok = fx_token(fx_header(FX_KID), fx_claims(), f->a);
    struct extid_claim_policy p = fx_policy();
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);

    assert_int_equal(extid_idtoken_verify(tok, "{\"keys\":", 8, &p, &log), EXTID_UNAVAILABLE);
    assert_int_equal(extid_idtoken_verify(tok, "{}", 2, &p, &log), EXTID_UNAVAILABLE);
    assert_int_equal(extid_idtoken_verify(tok, NULL, 0, &p, &log), EXTID_UNAVAILABLE);
    assert_int_equal(extid_idtoken_verify(tok, "<html>", 6, &p, &log), EXTID_UNAVAILABLE);
    free(tok);
}

static void test_tampered_and_truncated(void **state)
{
    struct fx *f = *state;
    char *tok = fx_token(fx_header(FX_KID), fx_claims(), f->a);
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    cJSON *evil_claims = fx_claims();
    char *evil_text, *evil_b64, *evil;
    size_t n;

    /* Swap in claims naming another person, keep the signature. */
    fx_set(evil_claims, "preferred_username", cJSON_CreateString("mallory@contoso.com"));
    evil_text = fx_text(evil_claims);
    evil_b64 = fx_b64url_str(evil_text);
    n = strlen(tok) + strlen(evil_b64) + 2;
    evil = malloc(n);
    snprintf(evil, n, "%.*s.%s%s", (int)(dot1 - tok), tok, evil_b64, dot2);
    {
        struct extid_claim_policy p = fx_policy();

        p.email = "mallory@contoso.com";
        verify_with(f, evil, &p, EXTID_AUTH_ERR, "does not verify");
    }
    free(evil_text);
    free(evil_b64);

    /* Signature cut short. */
    tok[strlen(tok) - 2] = '\0';
    verify(f, tok, EXTID_AUTH_ERR, "signature is 255 bytes");
}

/* Claims are checked after the signature. */
static void test_claims_applied(void **state)
{
    struct fx *f = *state;
    struct extid_claim_policy p = fx_policy();
    cJSON *c;

    c = fx_claims();
    fx_set(c, "exp", cJSON_CreateNumber((double)FX_NOW - 301));
    verify(f, fx_token(fx_header(FX_KID), c, f->a), EXTID_AUTH_ERR, "expired");
    c = fx_claims();
    fx_set(c, "exp", cJSON_CreateNumber((double)FX_NOW - 100));
    verify(f, fx_token(fx_header(FX_KID), c, f->a), EXTID_OK, NULL);
    c = fx_claims();
    fx_set(c, "aud", cJSON_CreateString("someone-else"));
    verify(f, fx_token(fx_header(FX_KID), c, f->a), EXTID_AUTH_ERR, "aud \"someone-else\"");
    p.email = "bob@contoso.com";
    verify_with(f, fx_token(fx_header(FX_KID), fx_claims(), f->a), &p, EXTID_AUTH_ERR,
                "not the challenged address \"bob@contoso.com\"");
    p = fx_policy();
    p.tenant_id = "ffffffff-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    verify_with(f, fx_token(fx_header(FX_KID), fx_claims(), f->a), &p, EXTID_AUTH_ERR, "tid");
}

/* The verified claims come out on success only; a refused token hands out nothing. */
static void test_claims_out(void **state)
{
    struct fx *f = *state;
    struct extid_claim_policy p = fx_policy();
    cJSON *c = fx_claims(), *out = (cJSON *)1;
    char *tok;

    fx_set(c, "roles", cJSON_CreateStringArray((const char *const[]){ "Linux.Ops" }, 1));
    tok = fx_token(fx_header(FX_KID), c, f->a);
    assert_int_equal(
        extid_idtoken_verify_claims(tok, f->jwks, strlen(f->jwks), &p, NULL, &out, NULL), EXTID_OK);
    assert_non_null(out);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "roles"), 0)->valuestring,
                        "Linux.Ops");
    cJSON_Delete(out);
    free(tok);

    out = (cJSON *)1;
    tok = fx_token(fx_header(FX_KID), fx_claims(), f->b); /* signed by the wrong key */
    assert_int_equal(
        extid_idtoken_verify_claims(tok, f->jwks, strlen(f->jwks), &p, NULL, &out, NULL),
        EXTID_AUTH_ERR);
    assert_null(out);
    free(tok);

    out = (cJSON *)1;
    p.email = "bob@contoso.com"; /* signed well, a claim check fails */
    tok = fx_token(fx_header(FX_KID), fx_claims(), f->a);
    assert_int_equal(
        extid_idtoken_verify_claims(tok, f->jwks, strlen(f->jwks), &p, NULL, &out, NULL),
        EXTID_AUTH_ERR);
    assert_null(out);
    /* No place for the claims is fine too. */
    p = fx_policy();
    assert_int_equal(
        extid_idtoken_verify_claims(tok, f->jwks, strlen(f->jwks), &p, NULL, NULL, NULL), EXTID_OK);
    free(tok);
}

static void test_arguments(void **state)
{
    struct fx *f = *state;
    char *tok = fx_token(fx_header(FX_KID), fx_claims(), f->a);
    struct extid_claim_policy p = fx_policy();

    assert_int_equal(extid_idtoken_verify(NULL, f->jwks, strlen(f->jwks), &p, NULL),
                     EXTID_AUTH_ERR);
    assert_int_equal(extid_idtoken_verify(tok, f->jwks, strlen(f->jwks), NULL, NULL),
                     EXTID_AUTH_ERR);
    assert_int_equal(extid_idtoken_verify("", f->jwks, strlen(f->jwks), &p, NULL), EXTID_AUTH_ERR);
    assert_int_equal(extid_idtoken_verify("a.b.c", f->jwks, strlen(f->jwks), &p, NULL),
                     EXTID_AUTH_ERR);
    /* A NULL log is allowed and changes nothing. */
    assert_int_equal(extid_idtoken_verify(tok, f->jwks, strlen(f->jwks), &p, NULL), EXTID_OK);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_token),
        cmocka_unit_test(test_other_key_same_kid),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_alg_hs256),
        cmocka_unit_test(test_alg_rs384),
        cmocka_unit_test(test_alg_other_forms),
        cmocka_unit_test(test_header_typ_crit_kid),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_weak_key_refused),
        cmocka_unit_test(test_malformed_jwks),
        cmocka_unit_test(test_tampered_and_truncated),
        cmocka_unit_test(test_claims_applied),
        cmocka_unit_test(test_claims_out),
        cmocka_unit_test(test_arguments),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
