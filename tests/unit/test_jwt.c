/* Compact JWS parsing and RS256 checks: a good token verifies; other keys, tampering, other
 * algorithms, bad structure, bad JSON or base64 and oversize tokens are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "jwt.h"
#include "token_fixture.h"
#include "unit_fixture.h"

static char *good_token(EVP_PKEY *key)
{
    return fx_token(fx_header(FX_KID), fx_claims(), key);
}

static bool jwt_is_empty(const struct extid_jwt *j)
{
    return !j->header && !j->payload && !j->signing_input && !j->signature
        && j->signing_input_len == 0 && j->signature_len == 0;
}

/* Parses text and expects EXTID_AUTH_ERR with needle logged and nothing left allocated. */
static void expect_parse_fail(const char *text, const char *needle)
{
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    struct extid_jwt jwt;

    memset(&jwt, 0xa5, sizeof jwt);
    assert_int_equal(extid_jwt_parse(text, &jwt, &log), EXTID_AUTH_ERR);
    assert_true(jwt_is_empty(&jwt));
    assert_text_logged(cap.text, needle);
}

/* Parses, then verifies with key; returns the verification result. */
static enum extid_result parse_verify(const char *text, EVP_PKEY *key, struct fx_log *cap)
{
    struct extid_log log = fx_log_sink(cap);
    struct extid_jwt jwt;
    enum extid_result rc;

    assert_int_equal(extid_jwt_parse(text, &jwt, &log), EXTID_OK);
    rc = extid_jwt_verify_rs256(&jwt, key, &log);
    extid_jwt_free(&jwt);
    return rc;
}

static void test_good_token(void **state)
{
    struct fx_keys *k = *state;
    char *tok = good_token(k->a);
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    struct extid_jwt jwt;
    const char *last_dot = strrchr(tok, '.');

    assert_int_equal(extid_jwt_parse(tok, &jwt, &log), EXTID_OK);
    assert_true(cJSON_IsObject(jwt.header));
    assert_true(cJSON_IsObject(jwt.payload));
    assert_string_equal(cJSON_GetObjectItem(jwt.header, "alg")->valuestring, "RS256");
    assert_string_equal(cJSON_GetObjectItem(jwt.payload, "preferred_username")->valuestring,
                        FX_EMAIL);
    assert_int_equal(jwt.signing_input_len, (size_t)(last_dot - tok));
    assert_memory_equal(jwt.signing_input, tok, jwt.signing_input_len);
    assert_int_equal(jwt.signing_input[jwt.signing_input_len], '\0');
    assert_int_equal(jwt.signature_len, 256);
    assert_int_equal(extid_jwt_verify_rs256(&jwt, k->a, &log), EXTID_OK);
    extid_jwt_free(&jwt);
    assert_true(jwt_is_empty(&jwt));
    extid_jwt_free(&jwt); /* idempotent */
    free(tok);
}

static void test_other_key_refused(void **state)
{
    struct fx_keys *k = *state;
    char *tok = good_token(k->b);
    struct fx_log cap;

    assert_int_equal(parse_verify(tok, k->a, &cap), EXTID_AUTH_ERR);
    assert_true(fx_logged(&cap, "does not verify"));
    assert_int_equal(parse_verify(tok, k->b, &cap), EXTID_OK);
    free(tok);
}

/* Replaces the payload part of tok with b64url(payload_text). */
static char *splice_payload(const char *tok, const char *payload_text)
{
    const char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char *p = fx_b64url_str(payload_text);
    size_t n = (size_t)(dot1 - tok) + strlen(p) + strlen(dot2) + 2;
    char *out = malloc(n);

    snprintf(out, n, "%.*s.%s%s", (int)(dot1 - tok), tok, p, dot2);
    free(p);
    return out;
}

/* Another payload under a valid signature. */
static void test_tampered_payload(void **state)
{
    struct fx_keys *k = *state;
    char *tok = good_token(k->a);
    cJSON *claims = fx_claims();
    char *text, *evil;
    struct fx_log cap;

    fx_set(claims, "preferred_username", cJSON_CreateString("mallory@contoso.com"));
    text = fx_text(claims);
    evil = splice_payload(tok, text);
    assert_int_equal(parse_verify(evil, k->a, &cap), EXTID_AUTH_ERR);
    assert_true(fx_logged(&cap, "does not verify"));
    free(evil);
    free(text);

    /* Same claims, only re-serialised with whitespace: the signed bytes differ, so refused. */
    text = cJSON_Print(claims = fx_claims());
    cJSON_Delete(claims);
    evil = splice_payload(tok, text);
    assert_int_equal(parse_verify(evil, k->a, &cap), EXTID_AUTH_ERR);
    free(evil);
    free(text);
    free(tok);
}

static void test_tampered_signature(void **state)
{
    struct fx_keys *k = *state;
    char *tok = good_token(k->a);
    size_t len = strlen(tok);
    struct fx_log cap;
    char saved;

    /* Change a byte in the middle of the signature. */
    tok[len - 20] = tok[len - 20] == 'A' ? 'B' : 'A';
    assert_int_equal(parse_verify(tok, k->a, &cap), EXTID_AUTH_ERR);
    free(tok);

    /* Truncated by two characters: decodes to 255 bytes, refused for its length. */
    tok = good_token(k->a);
    len = strlen(tok);
    saved = tok[len - 2];
    tok[len - 2] = '\0';
    assert_int_equal(parse_verify(tok, k->a, &cap), EXTID_AUTH_ERR);
    assert_true(fx_logged(&cap, "signature is 255 bytes, the key needs 256"));
    tok[len - 2] = saved;
    /* Truncated by one character: not even base64url. */
    tok[len - 1] = '\0';
    expect_parse_fail(tok, "signature is not valid base64url");
    free(tok);
}

static void test_rs384_signature_refused(void **state)
{
    struct fx_keys *k = *state;
    char *hdr = fx_header(FX_KID), *payload = fx_text(fx_claims());
    char *tok = fx_sign_rsa_md(hdr, payload, k->a, EVP_sha384());
    struct fx_log cap;

    assert_non_null(tok);
    assert_int_equal(parse_verify(tok, k->a, &cap), EXTID_AUTH_ERR);
    free(tok);
    free(hdr);
    free(payload);
}

static void test_hmac_signature_refused(void **state)
{
    struct fx_keys *k = *state;
    char *hdr = fx_header(FX_KID), *payload = fx_text(fx_claims());
    char *tok = fx_sign_hs256(hdr, payload, "secret", 6);
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    struct extid_jwt jwt;

    assert_int_equal(extid_jwt_parse(tok, &jwt, &log), EXTID_OK);
    assert_int_equal(jwt.signature_len, 32);
    assert_int_equal(extid_jwt_verify_rs256(&jwt, k->a, &log), EXTID_AUTH_ERR);
    extid_jwt_free(&jwt);
    free(tok);
    free(hdr);
    free(payload);
}

static void test_structure(void **state)
{
    struct fx_keys *k = *state;
    char *tok = good_token(k->a);
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char buf[8192];
    int h = (int)(dot1 - tok), p = (int)(dot2 - dot1 - 1);
    const char *s = dot2 + 1;

    assert_true(strlen(tok) < sizeof buf - 16);
    expect_parse_fail("", "not three dot-separated parts");
    expect_parse_fail("abc", "not three dot-separated parts");
    snprintf(buf, sizeof buf, "%.*s.%.*s", h, tok, p, dot1 + 1);
    expect_parse_fail(buf, "not three dot-separated parts");
    snprintf(buf, sizeof buf, "%s.%s", tok, s);
    expect_parse_fail(buf, "not three dot-separated parts");
    snprintf(buf, sizeof buf, "%s.", tok);
    expect_parse_fail(buf, "not three dot-separated parts");
    snprintf(buf, sizeof buf, ".%.*s.%s", p, dot1 + 1, s);
    expect_parse_fail(buf, "empty header part");
    snprintf(buf, sizeof buf, "%.*s..%s", h, tok, s);
    expect_parse_fail(buf, "empty payload part");
    snprintf(buf, sizeof buf, "%.*s.", (int)(dot2 - tok), tok);
    expect_parse_fail(buf, "empty signature part");
    expect_parse_fail("..", "empty header part");
    free(tok);
}

/* Builds "b64(header).b64(payload).sig" from raw texts, with a dummy signature. */
static char *raw_token(const char *header, const char *payload)
{
    char *input = fx_signing_input(header, payload);

    return fx_join_sig(input, (const unsigned char *)"sig", 3);
}

static void expect_raw_fail(const char *header, const char *payload, const char *needle)
{
    char *tok = raw_token(header, payload);

    expect_parse_fail(tok, needle);
    free(tok);
}

static void test_json_parts(void **state)
{
    const char *hdr = "{\"alg\":\"RS256\",\"kid\":\"k\"}";
    const char *pl = "{\"sub\":\"x\"}";
    char *tok;
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    struct extid_jwt jwt;

    (void)state;
    expect_raw_fail("not json", pl, "header is not valid JSON");
    expect_raw_fail("[1,2]", pl, "header is not a JSON object");
    expect_raw_fail(hdr, "\"just a string\"", "payload is not a JSON object");
    expect_raw_fail(hdr, "42", "payload is not a JSON object");
    expect_raw_fail(hdr, "null", "payload is not a JSON object");
    expect_raw_fail(hdr, "{\"sub\":\"x\"", "payload is not valid JSON");
    expect_raw_fail(hdr, "{\"sub\":\"x\"}{\"sub\":\"y\"}", "payload has data after the JSON value");
    expect_raw_fail(hdr, "{\"sub\":\"x\"} x", "payload has data after the JSON value");
    expect_raw_fail(hdr, "{\"sub\":\"x\",\"sub\":\"y\"}", "payload repeats a member name");
    expect_raw_fail("{\"alg\":\"none\",\"alg\":\"RS256\"}", pl, "header repeats a member name");
    expect_raw_fail(hdr, "{\"email\":\"a@b.c\\u0000x\"}", "payload contains a NUL character");
    expect_raw_fail(hdr, "", "empty payload part");

    /* A raw NUL inside the decoded payload. */
    {
        char *h = fx_b64url_str(hdr), *p = fx_b64url("{\"a\":1}\0{}", 10), *t;
        size_t n = strlen(h) + strlen(p) + 8;

        t = malloc(n);
        snprintf(t, n, "%s.%s.c2ln", h, p);
        expect_parse_fail(t, "payload contains a NUL character");
        free(t);
        free(h);
        free(p);
    }

    /* Surrounding whitespace is still a single JSON object. */
    tok = raw_token(" {\"alg\":\"RS256\"} \n", pl);
    assert_int_equal(extid_jwt_parse(tok, &jwt, &log), EXTID_OK);
    extid_jwt_free(&jwt);
    free(tok);
}

static void test_bad_base64_parts(void **state)
{
    struct fx_keys *k = *state;
    char *tok = good_token(k->a);
    char *dot1 = strchr(tok, '.');
    char *copy;

    copy = strdup(tok);
    copy[2] = '+';
    expect_parse_fail(copy, "header is not valid base64url");
    free(copy);
    copy = strdup(tok);
    copy[(size_t)(dot1 - tok) + 3] = '/';
    expect_parse_fail(copy, "payload is not valid base64url");
    free(copy);
    copy = malloc(strlen(tok) + 3);
    sprintf(copy, "%s==", tok);
    expect_parse_fail(copy, "signature is not valid base64url");
    free(copy);
    free(tok);
}

/* Any compact JWS: its payload is bytes, possibly empty, not claims; the ID-token parser
 * still insists on a claims object. */
static void test_jws_payload_is_not_interpreted(void **state)
{
    struct fx_keys *k = *state;
    const char *payloads[] = { "", "It is a dangerous business", "[1, 2]" };
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    struct extid_jwt jwt;

    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        char *tok = fx_sign("{\"alg\":\"RS256\",\"kid\":\"x\"}", payloads[i], k->a);

        assert_int_equal(extid_jws_parse(tok, &jwt, &log), EXTID_OK);
        assert_null(jwt.payload);
        assert_non_null(jwt.header);
        assert_int_equal(extid_jwt_verify_rs256(&jwt, k->a, &log), EXTID_OK);
        extid_jwt_free(&jwt);
        assert_int_equal(extid_jwt_parse(tok, &jwt, &log), EXTID_AUTH_ERR);
        free(tok);
    }
    /* Still base64url, and the header and signature as strict as before. */
    assert_int_equal(extid_jws_parse("eyJhbGciOiJSUzI1NiJ9.a+b.c2ln", &jwt, &log), EXTID_AUTH_ERR);
    assert_text_logged(cap.text, "payload is not valid base64url");
    assert_int_equal(extid_jws_parse(".e30.c2ln", &jwt, &log), EXTID_AUTH_ERR);
    assert_int_equal(extid_jws_parse("eyJhbGciOiJSUzI1NiJ9.e30.", &jwt, &log), EXTID_AUTH_ERR);
    assert_true(jwt_is_empty(&jwt));
}

static void test_size_limit(void **state)
{
    struct fx_keys *k = *state;
    size_t big = 64 * 1024 + 1;
    char *text = malloc(big + 1);
    cJSON *claims;
    char *pad, *tok;
    struct fx_log cap;

    memset(text, 'A', big);
    text[10] = '.';
    text[20] = '.';
    text[big] = '\0';
    expect_parse_fail(text, "longer than 65536 bytes");
    free(text);

    /* A large but allowed token (about 60 KiB) still parses and verifies. */
    pad = malloc(44001);
    memset(pad, 'x', 44000);
    pad[44000] = '\0';
    claims = fx_claims();
    cJSON_AddStringToObject(claims, "padding", pad);
    tok = fx_token(fx_header(FX_KID), claims, k->a);
    assert_true(strlen(tok) > 58000 && strlen(tok) <= 64 * 1024);
    assert_int_equal(parse_verify(tok, k->a, &cap), EXTID_OK);
    free(tok);
    free(pad);
}

static void test_verify_arguments(void **state)
{
    struct fx_keys *k = *state;
    char *tok = good_token(k->a);
    struct fx_log cap;
    struct extid_log log = fx_log_sink(&cap);
    struct extid_jwt jwt, empty;
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    assert_non_null(ec);
    assert_int_equal(extid_jwt_parse(NULL, &jwt, &log), EXTID_AUTH_ERR);
    assert_int_equal(extid_jwt_parse(tok, NULL, &log), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_jwt_parse(tok, &jwt, &log), EXTID_OK);
    assert_int_equal(extid_jwt_verify_rs256(&jwt, NULL, &log), EXTID_AUTH_ERR);
    assert_int_equal(extid_jwt_verify_rs256(NULL, k->a, &log), EXTID_AUTH_ERR);
    assert_int_equal(extid_jwt_verify_rs256(&jwt, ec, &log), EXTID_AUTH_ERR);
    assert_true(fx_logged(&cap, "not an RSA key"));
    memset(&empty, 0, sizeof empty);
    assert_int_equal(extid_jwt_verify_rs256(&empty, k->a, &log), EXTID_AUTH_ERR);
    /* Still fine with the right key afterwards (no stale OpenSSL error state). */
    assert_int_equal(extid_jwt_verify_rs256(&jwt, k->a, &log), EXTID_OK);
    extid_jwt_free(&jwt);
    extid_jwt_free(NULL);
    EVP_PKEY_free(ec);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_token),
        cmocka_unit_test(test_other_key_refused),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_rs384_signature_refused),
        cmocka_unit_test(test_hmac_signature_refused),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_json_parts),
        cmocka_unit_test(test_bad_base64_parts),
        cmocka_unit_test(test_jws_payload_is_not_interpreted),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_verify_arguments),
    };

    return cmocka_run_group_tests(tests, fx_keys_setup, fx_keys_teardown);
}
