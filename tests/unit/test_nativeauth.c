/* Native-auth answer parsing: Entra error bodies, status/error mapping, /challenge objects. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "nativeauth.h"
#include "unit_fixture.h"

/* ---- log capture ---- */

static struct ufx_log cap;
static struct extid_log tlog;

static int reset_state(void **state)
{
    (void)state;
    tlog = ufx_log_sink(&cap, true);
    return 0;
}

/* Parses a string exactly as it would arrive: a heap buffer of the exact length, no NUL, so
 * valgrind sees any read past the end. */
static enum extid_result parse_err(const char *s, struct extid_entra_error *e)
{
    size_t n = strlen(s);
    char *b = malloc(n ? n : 1);
    assert_non_null(b);
    memcpy(b, s, n);
    enum extid_result rc = extid_entra_error_parse(b, n, e);
    free(b);
    return rc;
}

/* ---- extid_entra_error_parse ---- */

static void test_error_full_doc_example(void **state)
{
    (void)state;
    struct extid_entra_error e;
    const char *body =
        "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50181: Unable to validate the "
        "otp.\\r\\nTrace ID: t1\\r\\nCorrelation ID: c1\\r\\nTimestamp: 2024-01-01\","
        "\"error_codes\":[50181],\"timestamp\":\"2024-01-01 10:15:00Z\",\"trace_id\":\"t1\","
        "\"correlation_id\":\"c1\",\"suberror\":\"invalid_oob_value\","
        "\"continuation_token\":\"SECRET\"}";
    assert_int_equal(parse_err(body, &e), EXTID_OK);
    assert_string_equal(e.error, "invalid_grant");
    assert_string_equal(e.suberror, "invalid_oob_value");
    assert_string_equal(e.trace_id, "t1");
    assert_string_equal(e.correlation_id, "c1");
    assert_int_equal(e.first_error_code, 50181);
    assert_non_null(e.description);
    assert_null(strchr(e.description, '\r'));
    assert_null(strchr(e.description, '\n'));
    assert_non_null(strstr(e.description, "AADSTS50181: Unable to validate the otp.??Trace ID"));
    extid_entra_error_free(&e);
    assert_null(e.error);
    assert_null(e.description);
}

static void test_error_minimal(void **state)
{
    (void)state;
    struct extid_entra_error e;
    assert_int_equal(parse_err("{\"error\":\"user_not_found\"}", &e), EXTID_OK);
    assert_string_equal(e.error, "user_not_found");
    assert_null(e.suberror);
    assert_null(e.description);
    assert_null(e.trace_id);
    assert_null(e.correlation_id);
    assert_int_equal(e.first_error_code, 0);
    extid_entra_error_free(&e);
}

static void test_error_refused_shapes(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", /* empty */
        "<html><body>Bad Request</body></html>",
        "{\"error\":", /* truncated */
        "{}",          /* no error */
        "{\"suberror\":\"invalid_oob_value\"}",
        "{\"error\":null}",
        "{\"error\":42}",
        "{\"error\":true}",
        "{\"error\":{\"code\":\"invalidGrant\"}}", /* the undocumented V2 shape */
        "{\"error\":[\"invalid_grant\"]}",
        "{\"error\":\"\"}",
        "[{\"error\":\"invalid_grant\"}]",
        "\"invalid_grant\"",
        "400",
        "null",
        "{\"error\":\"invalid_grant\"} trailing",
        "{\"error\":\"invalid_grant\"}{\"error\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct extid_entra_error e;
        memset(&e, 0x5a, sizeof(e));
        if (parse_err(bad[i], &e) != EXTID_UNAVAILABLE)
            fail_msg("accepted: %s", bad[i]);
        assert_null(e.error);
        assert_null(e.suberror);
        assert_null(e.description);
        assert_int_equal(e.first_error_code, 0);
    }
    struct extid_entra_error e;
    assert_int_equal(extid_entra_error_parse(NULL, 10, &e), EXTID_UNAVAILABLE);
    assert_null(e.error);
    assert_int_equal(extid_entra_error_parse("{}", 2, NULL), EXTID_SYSTEM_ERR);
}

static void test_error_trailing_whitespace_ok(void **state)
{
    (void)state;
    struct extid_entra_error e;
    assert_int_equal(parse_err("  {\"error\":\"expired_token\"}\r\n\t ", &e), EXTID_OK);
    assert_string_equal(e.error, "expired_token");
    extid_entra_error_free(&e);
}

static void test_error_wrong_optional_types(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        ("{\"error\":\"invalid_grant\",\"suberror\":5,\"trace_id\":[],\"correlation_id\":{},"
         "\"error_description\":false,\"error_codes\":\"50181\"}"),
        "{\"error\":\"invalid_grant\",\"suberror\":null,\"error_codes\":[]}",
        "{\"error\":\"invalid_grant\",\"error_codes\":[\"50181\"]}",
        "{\"error\":\"invalid_grant\",\"error_codes\":[1.5]}",
        "{\"error\":\"invalid_grant\",\"error_codes\":[-3]}",
        "{\"error\":\"invalid_grant\",\"error_codes\":[1e300]}",
        "{\"error\":\"invalid_grant\",\"error_codes\":50181}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct extid_entra_error e;
        assert_int_equal(parse_err(bodies[i], &e), EXTID_OK);
        assert_string_equal(e.error, "invalid_grant");
        assert_null(e.suberror);
        assert_null(e.trace_id);
        assert_null(e.correlation_id);
        assert_null(e.description);
        if (e.first_error_code != 0)
            fail_msg("code %ld from %s", e.first_error_code, bodies[i]);
        extid_entra_error_free(&e);
    }
    /* Only the first code counts. */
    struct extid_entra_error e;
    assert_int_equal(parse_err("{\"error\":\"expired_token\",\"error_codes\":[552003,55112]}", &e),
                     EXTID_OK);
    assert_int_equal(e.first_error_code, 552003);
    extid_entra_error_free(&e);
}

static void test_error_controls_stripped(void **state)
{
    (void)state;
    struct extid_entra_error e;
    assert_int_equal(parse_err("{\"error\":\"bad\\nerror\",\"suberror\":\"s\\u001b[31m\","
                               "\"trace_id\":\"t\\r\\n2\",\"correlation_id\":\"c\\u007f\"}",
                               &e),
                     EXTID_OK);
    assert_string_equal(e.error, "bad?error");
    assert_string_equal(e.suberror, "s?[31m");
    assert_string_equal(e.trace_id, "t??2");
    assert_string_equal(e.correlation_id, "c?");
    extid_entra_error_free(&e);
}

static void test_error_huge(void **state)
{
    (void)state;
    static const char head[] = "{\"error\":\"", mid[] = "\",\"error_description\":\"",
                      tail[] = "\"}";
    size_t big = 2 * 1024 * 1024, n = 0;
    char *body = malloc(big + 5000 + sizeof(head) + sizeof(mid) + sizeof(tail));
    assert_non_null(body);
    memcpy(body + n, head, sizeof(head) - 1);
    n += sizeof(head) - 1;
    memset(body + n, 'e', 5000);
    n += 5000;
    memcpy(body + n, mid, sizeof(mid) - 1);
    n += sizeof(mid) - 1;
    memset(body + n, 'd', big);
    n += big;
    memcpy(body + n, tail, sizeof(tail) - 1);
    n += sizeof(tail) - 1;
    struct extid_entra_error e;
    assert_int_equal(extid_entra_error_parse(body, n, &e), EXTID_OK);
    assert_true(strlen(e.error) > 0 && strlen(e.error) <= 256);
    assert_true(strlen(e.description) > 0 && strlen(e.description) <= 1024);
    extid_entra_error_free(&e);

    /* Nesting far beyond cJSON's limit is refused, not a stack overflow. */
    size_t depth = 100000;
    for (size_t i = 0; i < depth; i++)
        body[i] = '[';
    assert_int_equal(extid_entra_error_parse(body, depth, &e), EXTID_UNAVAILABLE);
    free(body);
}

/* ---- extid_na_interpret ---- */

/* What the last interpret() said a refusal leaves open. */
static enum extid_na_opening opening;

static enum extid_result interpret(long status, const char *body, long retry_after, cJSON **j)
{
    struct extid_http_response r = { 0 };
    size_t n = body ? strlen(body) : 0;
    r.status = status;
    r.body = malloc(n + 1);
    assert_non_null(r.body);
    memcpy(r.body, body ? body : "", n + 1);
    r.len = n;
    r.retry_after = retry_after;
    opening = (enum extid_na_opening) - 1; /* must be set by the call */
    enum extid_result rc = extid_na_interpret("token", &r, j, &opening, &tlog);
    free(r.body);
    return rc;
}

/* An interpretation that fails yields no JSON and `lines` non-debug log lines. */
static void expect_failure_lines(long status, const char *body, enum extid_result want, int lines)
{
    cJSON *j = (cJSON *)&cap; /* poison: must be reset to NULL */
    ufx_log_clear(&cap);
    enum extid_result rc = interpret(status, body, -1, &j);
    if (rc != want)
        fail_msg("HTTP %ld %s: got %s, want %s", status, body, extid_result_name(rc),
                 extid_result_name(want));
    assert_null(j);
    if (cap.lines != lines)
        fail_msg("HTTP %ld %s: %d log lines:\n%s", status, body, cap.lines, cap.buf);
    char st[32];
    snprintf(st, sizeof(st), "HTTP %ld", status);
    assert_logged(&cap, st);
    assert_logged(&cap, "token: ");
}

/* The same with exactly one non-debug log line. */
static void expect_failure(long status, const char *body, enum extid_result want)
{
    expect_failure_lines(status, body, want, 1);
}

static void test_interpret_ok(void **state)
{
    (void)state;
    cJSON *j = NULL;
    assert_int_equal(interpret(200, "{\"continuation_token\":\"abc\"}", -1, &j), EXTID_OK);
    assert_true(cJSON_IsObject(j));
    assert_string_equal(cJSON_GetObjectItem(j, "continuation_token")->valuestring, "abc");
    cJSON_Delete(j);
    /* A challenge_type other than redirect is the caller's business. */
    assert_int_equal(interpret(200, "{\"challenge_type\":\"oob\"}", -1, &j), EXTID_OK);
    cJSON_Delete(j);
    assert_int_equal(cap.lines, 0);
}

static void test_interpret_redirect(void **state)
{
    (void)state;
    expect_failure(200, "{\"challenge_type\":\"redirect\"}", EXTID_AUTH_ERR);
    assert_logged(&cap, "redirect");
    expect_failure_lines(200,
                         "{\"challenge_type\":\"redirect\",\"redirect_reason\":\"Client is missing "
                         "registration_required capability\"}",
                         EXTID_AUTH_ERR, 2);
    /* The only hint of why, so it is logged without debug. */
    assert_logged(&cap, "5|token: redirect_reason: Client is missing registration_required");
    /* Letter case does not matter (as in Microsoft's Android SDK). */
    expect_failure_lines(200, "{\"challenge_type\":\"Redirect\",\"redirect_reason\":\"x\\r\\ny\"}",
                         EXTID_AUTH_ERR, 2);
    assert_logged(&cap, "5|token: redirect_reason: x??y");
    /* A redirect with a continuation token is still a redirect. */
    expect_failure(200, "{\"challenge_type\":\"redirect\",\"continuation_token\":\"SECRET-CT\"}",
                   EXTID_AUTH_ERR);
    assert_not_logged(&cap, "SECRET-CT");
}

static void test_interpret_200_not_object(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "",     "[]",       "[{\"continuation_token\":\"x\"}]", "\"text\"", "42",
        "null", "not json", "{\"continuation_token\":",         "{} {}"
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        expect_failure(200, bodies[i], EXTID_UNAVAILABLE);
}

struct case_ {
    const char *error;
    const char *suberror;
    enum extid_result want;
    enum extid_na_opening opening;
};

static void test_interpret_400_errors(void **state)
{
    (void)state;
    static const struct case_ cases[] = {
        { "invalid_grant", "invalid_oob_value", EXTID_AUTH_ERR, EXTID_NA_WRONG_SECRET },
        { "invalid_grant", "mfa_required", EXTID_AUTH_ERR, EXTID_NA_MFA_REQUIRED },
        { "invalid_grant", "registration_required", EXTID_AUTH_ERR, EXTID_NA_FINAL },
        { "invalid_grant", NULL, EXTID_AUTH_ERR, EXTID_NA_FINAL },
        { "invalid_grant", "something_new", EXTID_AUTH_ERR, EXTID_NA_FINAL },
        { "user_not_found", NULL, EXTID_AUTH_ERR, EXTID_NA_FINAL },
        { "expired_token", NULL, EXTID_AUTH_ERR, EXTID_NA_FINAL },
        { "access_denied", "provider_blocked_by_rep", EXTID_AUTH_ERR, EXTID_NA_FINAL },
        { "invalid_request", NULL, EXTID_AUTH_ERR, EXTID_NA_FINAL },
        /* invalid_oob_value only means "wrong code" under invalid_grant. */
        { "invalid_request", "invalid_oob_value", EXTID_AUTH_ERR, EXTID_NA_FINAL },
        { "invalid_client", "nativeauthapi_disabled", EXTID_CONFIG_ERR, EXTID_NA_FINAL },
        { "invalid_client", NULL, EXTID_CONFIG_ERR, EXTID_NA_FINAL },
        { "unauthorized_client", NULL, EXTID_CONFIG_ERR, EXTID_NA_FINAL },
        { "unsupported_challenge_type", NULL, EXTID_CONFIG_ERR, EXTID_NA_FINAL },
        { "invalid_scope", NULL, EXTID_CONFIG_ERR, EXTID_NA_FINAL },
        { "unsupported_grant_type", NULL, EXTID_CONFIG_ERR, EXTID_NA_FINAL },
        { "slow_down", NULL, EXTID_UNAVAILABLE, EXTID_NA_FINAL },
        { "server_error", NULL, EXTID_UNAVAILABLE, EXTID_NA_FINAL },
        { "temporarily_unavailable", NULL, EXTID_UNAVAILABLE, EXTID_NA_FINAL },
        { "something_unheard_of", NULL, EXTID_AUTH_ERR, EXTID_NA_FINAL },
        /* Letter case does not matter (as in Microsoft's Android SDK). */
        { "Invalid_Grant", "Invalid_OOB_Value", EXTID_AUTH_ERR, EXTID_NA_WRONG_SECRET },
        { "INVALID_CLIENT", NULL, EXTID_CONFIG_ERR, EXTID_NA_FINAL },
        { "Invalid_Tenant", NULL, EXTID_CONFIG_ERR, EXTID_NA_FINAL },
        { "invalid_tenant", NULL, EXTID_CONFIG_ERR, EXTID_NA_FINAL },
    };
    static const long statuses[] = { 400, 401 };
    for (size_t s = 0; s < 2; s++)
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char body[512], want[128];
            snprintf(body, sizeof(body),
                     "{\"error\":\"%s\"%s%s%s,\"error_description\":\"AADSTS1: text\","
                     "\"error_codes\":[1234],\"trace_id\":\"tr-%zu\",\"correlation_id\":\"co-%zu\","
                     "\"continuation_token\":\"SECRET-CT\"}",
                     cases[i].error, cases[i].suberror ? ",\"suberror\":\"" : "",
                     cases[i].suberror ? cases[i].suberror : "", cases[i].suberror ? "\"" : "", i,
                     i);
            expect_failure(statuses[s], body, cases[i].want);
            assert_int_equal(opening, cases[i].opening); /* the others leave nothing open */
            snprintf(want, sizeof(want),
                     "error=%s suberror=%s error_code=1234 trace_id=tr-%zu "
                     "correlation_id=co-%zu",
                     cases[i].error, cases[i].suberror ? cases[i].suberror : "-", i, i);
            assert_logged(&cap, want);
            assert_logged(&cap, "7|token: error_description: AADSTS1: text");
            assert_not_logged(&cap, "SECRET-CT");
        }
}

/* An Entra answer built like the real ones: description with trace lines after CR LF. */
static void expect_coded(const char *error, const char *codes, const char *text,
                         enum extid_result want, const char *what)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"error\":\"%s\",\"error_description\":\"%s\\r\\nTrace ID: tr-1\\r\\n"
             "Correlation ID: co-1\\r\\nTimestamp: 2026-01-01 10:15:00Z\",\"error_codes\":%s,"
             "\"trace_id\":\"tr-1\",\"correlation_id\":\"co-1\","
             "\"continuation_token\":\"SECRET-CT\"}",
             error, text, codes);
    expect_failure(400, body, want);
    assert_logged(&cap, what);
    assert_not_logged(&cap, "SECRET-CT");
}

/* Codes name the misconfiguration whatever the error string says; the log line says what to
 * change and quotes the first line of Entra's own description, without the trace lines. */
static void test_interpret_codes_first(void **state)
{
    (void)state;
    tlog.debug = false;
    expect_coded("unauthorized_client", "[700016]",
                 "AADSTS700016: Application with identifier '0000aaaa-0000-4000-8000-000000000000' "
                 "was not found in the directory 'contoso.onmicrosoft.com'.",
                 EXTID_CONFIG_ERR, "this client_id does not exist in this tenant");
    assert_logged(&cap,
                  "3|token: HTTP 400: this client_id does not exist in this tenant: set "
                  "client_id to the app registration's Application (client) ID");
    assert_logged(&cap,
                  "error_code=700016 trace_id=tr-1 correlation_id=co-1); Entra says: "
                  "\"AADSTS700016: Application with identifier "
                  "'0000aaaa-0000-4000-8000-000000000000' was not found in the directory "
                  "'contoso.onmicrosoft.com'.\"\n");
    assert_not_logged(&cap, "Trace ID");
    expect_coded("invalid_client", "[700016]", "AADSTS700016: x", EXTID_CONFIG_ERR,
                 "this client_id does not exist in this tenant");
    expect_coded("invalid_tenant", "[90002]", "AADSTS90002: Tenant 'x' not found.",
                 EXTID_CONFIG_ERR, "tenant not found: check tenant (or authority)");
    /* Consent, at any endpoint, in error_codes (any position) or only in the description. */
    expect_coded("invalid_grant", "[65001]",
                 "AADSTS65001: The user or administrator has not consented to use the application.",
                 EXTID_CONFIG_ERR,
                 "consent missing: in the app registration's API permissions add "
                 "the delegated permissions openid and profile");
    expect_coded("invalid_grant", "[50000,65001]", "AADSTS50000: x", EXTID_CONFIG_ERR,
                 "consent missing");
    expect_coded("invalid_request", "[]",
                 "AADSTS65001: The user or administrator has not consented.", EXTID_CONFIG_ERR,
                 "consent missing");
    expect_coded("invalid_grant", "[\"65001\"]", "The grant was refused.", EXTID_AUTH_ERR,
                 "grant refused");
    /* A longer number that begins with the same digits is another code. */
    expect_coded("invalid_grant", "[650010]", "AADSTS650010: x", EXTID_AUTH_ERR, "grant refused");
    assert_not_logged(&cap, "Entra says");
    expect_coded("invalid_client", "[550022]",
                 "AADSTS550022: Confidential Client is not supported in Native Authentication "
                 "API flow.",
                 EXTID_CONFIG_ERR, "'Allow public client flows' to Yes");
    expect_coded("invalid_request", "[500210]", "AADSTS500210: Domain name does not match.",
                 EXTID_CONFIG_ERR, "set authority to https://<custom domain>/<tenant ID>");
    /* Locked: the login ends, said plainly. */
    expect_coded("invalid_grant", "[50053]",
                 "AADSTS50053: The account is locked, you've tried to sign in too many times.",
                 EXTID_AUTH_ERR, "4|token: HTTP 400: the account is locked at Entra");
    /* String rules for misconfiguration quote Entra too. */
    expect_coded("invalid_client", "[550026]", "AADSTS550026: Native auth is off.",
                 EXTID_CONFIG_ERR, "the app registration refuses native authentication");
    assert_logged(&cap, "Entra says: \"AADSTS550026: Native auth is off.\"");
}

static void test_interpret_description_debug_only(void **state)
{
    (void)state;
    tlog.debug = false;
    expect_failure(400, "{\"error\":\"user_not_found\",\"error_description\":\"AADSTS50034: x\"}",
                   EXTID_AUTH_ERR);
    assert_not_logged(&cap, "AADSTS50034");
    assert_int_equal(cap.debug_lines, 0);
    assert_logged(&cap, "error=user_not_found suberror=- error_code=0 trace_id=- correlation_id=-");
}

static void test_interpret_log_fields_stripped(void **state)
{
    (void)state;
    expect_failure(400,
                   "{\"error\":\"user_not_found\",\"trace_id\":\"a\\nforged: line\","
                   "\"correlation_id\":\"b\\u001b[0m\"}",
                   EXTID_AUTH_ERR);
    assert_logged(&cap, "trace_id=a?forged: line correlation_id=b?[0m");
}

static void test_interpret_unavailable_statuses(void **state)
{
    (void)state;
    /* Statuses other than 200/400/401 never count as Entra's verdict, whatever the body says. */
    static const char *oob = "{\"error\":\"invalid_grant\",\"suberror\":\"invalid_oob_value\"}";
    static const long statuses[] = { 429, 500, 502, 503, 504, 201, 204, 301, 302, 403, 404, 405 };
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        expect_failure(statuses[i], oob, EXTID_UNAVAILABLE);
        assert_logged(&cap, "error=invalid_grant suberror=invalid_oob_value");
        expect_failure(statuses[i], "", EXTID_UNAVAILABLE);
        expect_failure(statuses[i], "<html>busy</html>", EXTID_UNAVAILABLE);
    }
    expect_failure(503, "Service Unavailable", EXTID_UNAVAILABLE);
    assert_logged(&cap, "server error");
}

static void test_interpret_429_retry_after(void **state)
{
    (void)state;
    cJSON *j = NULL;
    ufx_log_clear(&cap);
    assert_int_equal(interpret(429, "", 30, &j), EXTID_UNAVAILABLE);
    assert_null(j);
    assert_logged(&cap, "HTTP 429: throttled, retry after 30 s");
    ufx_log_clear(&cap);
    assert_int_equal(interpret(429, "", -1, &j), EXTID_UNAVAILABLE);
    assert_logged(&cap, "HTTP 429: throttled (");
}

static void test_interpret_400_not_an_error_object(void **state)
{
    (void)state;
    static const char *const bodies[] = { "",
                                          "Bad Request",
                                          "<html>400</html>",
                                          "{}",
                                          "{\"error\":5}",
                                          "[\"invalid_grant\"]",
                                          "{\"error\":\"invalid_grant\"" };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        expect_failure(400, bodies[i], EXTID_UNAVAILABLE);
        expect_failure(401, bodies[i], EXTID_UNAVAILABLE);
    }
}

static void test_interpret_args(void **state)
{
    (void)state;
    struct extid_http_response r = { 200, (char *)"{}", 2, -1 };
    cJSON *j = (cJSON *)&cap;
    assert_int_equal(extid_na_interpret(NULL, &r, &j, NULL, &tlog), EXTID_SYSTEM_ERR);
    assert_null(j);
    assert_int_equal(extid_na_interpret("x", NULL, &j, NULL, &tlog), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_na_interpret("x", &r, NULL, NULL, &tlog), EXTID_SYSTEM_ERR);
    /* A NULL log is allowed. */
    r.status = 500;
    assert_int_equal(extid_na_interpret("x", &r, &j, NULL, NULL), EXTID_UNAVAILABLE);
    r.body = NULL;
    r.len = 0;
    r.status = 200;
    assert_int_equal(extid_na_interpret("x", &r, &j, NULL, NULL), EXTID_UNAVAILABLE);
}

/* ---- extid_challenge_from_json ---- */

static enum extid_result challenge(const char *json, struct extid_challenge *c)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    memset(c, 0x5a, sizeof(*c));
    enum extid_result rc = extid_challenge_from_json(j, c, &tlog);
    cJSON_Delete(j);
    return rc;
}

static void test_challenge_good(void **state)
{
    (void)state;
    struct extid_challenge c;
    assert_int_equal(challenge("{\"continuation_token\":\"CT-2\",\"challenge_type\":\"oob\","
                               "\"binding_method\":\"prompt\",\"challenge_channel\":\"email\","
                               "\"challenge_target_label\":\"c***r@co**o**o.com\","
                               "\"code_length\":8,\"interval\":300}",
                               &c),
                     EXTID_OK);
    assert_string_equal(c.continuation_token, "CT-2");
    assert_string_equal(c.target_label, "c***r@co**o**o.com");
    assert_int_equal(c.code_length, 8);
    assert_int_equal(c.interval, 300);
    extid_challenge_free(&c);
    assert_null(c.continuation_token);
    assert_null(c.target_label);

    /* Minimal: label defaults, interval 0; bounds 4 and 16 are allowed. */
    assert_int_equal(challenge("{\"continuation_token\":\"x\",\"challenge_type\":\"oob\","
                               "\"code_length\":4}",
                               &c),
                     EXTID_OK);
    assert_string_equal(c.target_label, "your email address");
    assert_int_equal(c.code_length, 4);
    assert_int_equal(c.interval, 0);
    extid_challenge_free(&c);
    assert_int_equal(challenge("{\"continuation_token\":\"x\",\"challenge_type\":\"oob\","
                               "\"code_length\":16,\"challenge_target_label\":\"\"}",
                               &c),
                     EXTID_OK);
    assert_int_equal(c.code_length, 16);
    assert_string_equal(c.target_label, "your email address");
    extid_challenge_free(&c);
}

static void test_challenge_label_stripped(void **state)
{
    (void)state;
    struct extid_challenge c;
    assert_int_equal(challenge("{\"continuation_token\":\"x\",\"challenge_type\":\"oob\","
                               "\"code_length\":6,\"challenge_target_label\":"
                               "\"a\\r\\nPassword: \\u001b[8m\\u0007b\\u007f\"}",
                               &c),
                     EXTID_OK);
    assert_string_equal(c.target_label, "a??Password: ?[8m?b?");
    extid_challenge_free(&c);
}

static void test_challenge_interval_malformed_ignored(void **state)
{
    (void)state;
    static const char *const intervals[] = { "\"300\"", "-5", "1e9", "2.5", "null", "[]" };
    for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
        char json[256];
        struct extid_challenge c;
        snprintf(json, sizeof(json),
                 "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":6,"
                 "\"interval\":%s}",
                 intervals[i]);
        assert_int_equal(challenge(json, &c), EXTID_OK);
        assert_int_equal(c.interval, 0);
        extid_challenge_free(&c);
    }
}

static void test_challenge_password_and_sms(void **state)
{
    (void)state;
    struct extid_challenge c;
    assert_int_equal(
        challenge("{\"continuation_token\":\"CT-P\",\"challenge_type\":\"password\"}", &c),
        EXTID_OK);
    assert_int_equal(c.kind, EXTID_CHALLENGE_PASSWORD);
    assert_string_equal(c.continuation_token, "CT-P");
    assert_null(c.target_label);
    assert_int_equal(c.code_length, 0);
    extid_challenge_free(&c);
    assert_int_equal(challenge("{\"continuation_token\":\"CT-S\",\"challenge_type\":\"oob\","
                               "\"challenge_channel\":\"sms\",\"code_length\":6,"
                               "\"challenge_target_label\":\"+1555****42\"}",
                               &c),
                     EXTID_OK);
    assert_int_equal(c.kind, EXTID_CHALLENGE_OOB);
    assert_int_equal(c.channel, EXTID_CHANNEL_SMS);
    assert_string_equal(c.target_label, "+1555****42");
    extid_challenge_free(&c);
    assert_int_equal(challenge("{\"continuation_token\":\"CT-S\",\"challenge_type\":\"oob\","
                               "\"challenge_channel\":\"sms\",\"code_length\":6}",
                               &c),
                     EXTID_OK);
    assert_string_equal(c.target_label, "your phone");
    extid_challenge_free(&c);
    /* The first factor's email answer, as before. */
    assert_int_equal(challenge("{\"continuation_token\":\"x\",\"challenge_type\":\"oob\","
                               "\"code_length\":8}",
                               &c),
                     EXTID_OK);
    assert_int_equal(c.channel, EXTID_CHANNEL_EMAIL);
    extid_challenge_free(&c);
}

static enum extid_result methods(const char *json, struct extid_mfa_methods *m)
{
    cJSON *j = cJSON_Parse(json);
    enum extid_result rc = extid_mfa_methods_from_json(j, m, &tlog);
    cJSON_Delete(j);
    return rc;
}

static void test_introspect_methods(void **state)
{
    (void)state;
    struct extid_mfa_methods m;

    ufx_log_clear(&cap);
    assert_int_equal(methods("{\"continuation_token\":\"CT-I\",\"methods\":["
                             "{\"id\":\"E1\",\"challenge_type\":\"oob\","
                             "\"challenge_channel\":\"email\",\"login_hint\":\"a***e@x.com\"},"
                             "{\"id\":\"V1\",\"challenge_type\":\"oob\","
                             "\"challenge_channel\":\"voice\"},"
                             "{\"id\":\"T1\",\"challenge_type\":\"totp\","
                             "\"challenge_channel\":\"app\"},"
                             "{\"id\":\"S1\",\"challenge_type\":\"OOB\","
                             "\"challenge_channel\":\"SMS\",\"login_hint\":\"+1\\u001b[2J55\"}]}",
                             &m),
                     EXTID_OK);
    assert_string_equal(m.continuation_token, "CT-I");
    assert_int_equal(m.count, 2);
    assert_string_equal(m.methods[0].id, "E1");
    assert_int_equal(m.methods[0].channel, EXTID_CHANNEL_EMAIL);
    assert_string_equal(m.methods[0].label, "a***e@x.com");
    /* challenge_type and channel in any letter case, as in Microsoft's Android SDK. */
    assert_string_equal(m.methods[1].id, "S1");
    assert_int_equal(m.methods[1].channel, EXTID_CHANNEL_SMS);
    assert_null(strchr(m.methods[1].label, '\x1b'));
    assert_logged(&cap, "challenge_type=oob challenge_channel=voice");
    assert_logged(&cap, "challenge_type=totp challenge_channel=app");
    assert_not_logged(&cap, "CT-I");
    extid_mfa_methods_free(&m);
    assert_null(m.methods);
    assert_int_equal(m.count, 0);

    static const struct {
        const char *json;
        enum extid_result want;
        const char *logged;
    } bad[] = {
        { "{\"continuation_token\":\"c\",\"methods\":[]}", EXTID_AUTH_ERR,
          "no second-factor method registered" },
        { "{\"continuation_token\":\"c\",\"methods\":[{\"id\":\"v\",\"challenge_type\":"
          "\"oob\",\"challenge_channel\":\"voice\"}]}",
          EXTID_AUTH_ERR, "no second-factor method the module can ask for" },
        { "{\"methods\":[{\"id\":\"E1\",\"challenge_type\":\"oob\","
          "\"challenge_channel\":\"email\"}]}",
          EXTID_UNAVAILABLE, "lacks continuation_token" },
        { "{\"continuation_token\":\"c\"}", EXTID_UNAVAILABLE, "lacks continuation_token" },
        { "{\"continuation_token\":\"c\",\"methods\":{}}", EXTID_UNAVAILABLE, "methods" },
        { "{\"continuation_token\":\"c\",\"methods\":[{\"challenge_type\":\"oob\","
          "\"challenge_channel\":\"email\"}]}",
          EXTID_UNAVAILABLE, "without a usable id" },
        { "{\"continuation_token\":\"c\",\"methods\":[\"email\"]}", EXTID_UNAVAILABLE,
          "without a usable id" },
        { "{\"continuation_token\":\"c\",\"methods\":[{\"id\":\"a\\nb\",\"challenge_type\":"
          "\"oob\",\"challenge_channel\":\"email\"}]}",
          EXTID_UNAVAILABLE, "control characters" },
        { "[]", EXTID_UNAVAILABLE, "lacks" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ufx_log_clear(&cap);
        enum extid_result rc = methods(bad[i].json, &m);
        if (rc != bad[i].want)
            fail_msg("%s: got %s", bad[i].json, extid_result_name(rc));
        assert_null(m.continuation_token);
        assert_null(m.methods);
        assert_logged(&cap, bad[i].logged);
    }
    assert_int_equal(extid_mfa_methods_from_json(NULL, NULL, &tlog), EXTID_SYSTEM_ERR);
    extid_mfa_methods_free(NULL);
}

static void test_interpret_wrong_password(void **state)
{
    (void)state;
    /* No suberror: only the code tells a wrong password from another refused grant. */
    expect_failure(400,
                   "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50126: "
                   "Error validating credentials due to invalid username or password.\","
                   "\"error_codes\":[50126]}",
                   EXTID_AUTH_ERR);
    assert_int_equal(opening, EXTID_NA_WRONG_SECRET);
    assert_logged(&cap, "wrong password");
    expect_failure(400, "{\"error\":\"invalid_grant\",\"error_codes\":[50034]}", EXTID_AUTH_ERR);
    expect_failure(400, "{\"error\":\"invalid_grant\",\"suberror\":\"registration_required\"}",
                   EXTID_AUTH_ERR);
    assert_logged(&cap, "register a second factor in a browser first");
}

static void test_challenge_refused(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        enum extid_result want;
    } cases[] = {
        /* missing or bad continuation_token */
        { "{\"challenge_type\":\"oob\",\"code_length\":6}", EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"\",\"challenge_type\":\"oob\",\"code_length\":6}",
          EXTID_UNAVAILABLE },
        { "{\"continuation_token\":7,\"challenge_type\":\"oob\",\"code_length\":6}",
          EXTID_UNAVAILABLE },
        { "{\"continuation_token\":null,\"challenge_type\":\"oob\",\"code_length\":6}",
          EXTID_UNAVAILABLE },
        /* code_length */
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\"}", EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":3}",
          EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":17}",
          EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":0}",
          EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":-6}",
          EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":6.5}",
          EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":\"6\"}",
          EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":1e20}",
          EXTID_UNAVAILABLE },
        /* challenge_type */
        { "{\"challenge_type\":\"password\"}", EXTID_UNAVAILABLE }, /* no token */
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":6,"
          "\"challenge_channel\":\"voice\"}",
          EXTID_AUTH_ERR },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":6,"
          "\"challenge_channel\":7}",
          EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"redirect\"}", EXTID_AUTH_ERR },
        { "{\"continuation_token\":\"x\",\"code_length\":6}", EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"otp\",\"code_length\":6}",
          EXTID_UNAVAILABLE },
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"REDIRECT\"}", EXTID_AUTH_ERR },
        { "{\"continuation_token\":\"x\",\"challenge_type\":[\"oob\"],\"code_length\":6}",
          EXTID_UNAVAILABLE },
        /* label of the wrong type */
        { "{\"continuation_token\":\"x\",\"challenge_type\":\"oob\",\"code_length\":6,"
          "\"challenge_target_label\":5}",
          EXTID_UNAVAILABLE },
        /* not an object */
        { "[]", EXTID_UNAVAILABLE },
        { "\"oob\"", EXTID_UNAVAILABLE },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct extid_challenge c;
        ufx_log_clear(&cap);
        enum extid_result rc = challenge(cases[i].json, &c);
        if (rc != cases[i].want)
            fail_msg("%s: got %s", cases[i].json, extid_result_name(rc));
        assert_null(c.continuation_token);
        assert_null(c.target_label);
        assert_int_equal(c.code_length, 0);
        assert_true(cap.lines >= 1);
    }
    struct extid_challenge c;
    assert_int_equal(extid_challenge_from_json(NULL, &c, &tlog), EXTID_UNAVAILABLE);
    assert_null(c.continuation_token);
    assert_int_equal(extid_challenge_from_json(NULL, NULL, &tlog), EXTID_SYSTEM_ERR);
    extid_challenge_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_error_full_doc_example, reset_state),
        cmocka_unit_test_setup(test_error_minimal, reset_state),
        cmocka_unit_test_setup(test_error_refused_shapes, reset_state),
        cmocka_unit_test_setup(test_error_trailing_whitespace_ok, reset_state),
        cmocka_unit_test_setup(test_error_wrong_optional_types, reset_state),
        cmocka_unit_test_setup(test_error_controls_stripped, reset_state),
        cmocka_unit_test_setup(test_error_huge, reset_state),
        cmocka_unit_test_setup(test_interpret_ok, reset_state),
        cmocka_unit_test_setup(test_interpret_redirect, reset_state),
        cmocka_unit_test_setup(test_interpret_200_not_object, reset_state),
        cmocka_unit_test_setup(test_interpret_400_errors, reset_state),
        cmocka_unit_test_setup(test_interpret_codes_first, reset_state),
        cmocka_unit_test_setup(test_interpret_description_debug_only, reset_state),
        cmocka_unit_test_setup(test_interpret_log_fields_stripped, reset_state),
        cmocka_unit_test_setup(test_interpret_unavailable_statuses, reset_state),
        cmocka_unit_test_setup(test_interpret_429_retry_after, reset_state),
        cmocka_unit_test_setup(test_interpret_400_not_an_error_object, reset_state),
        cmocka_unit_test_setup(test_interpret_args, reset_state),
        cmocka_unit_test_setup(test_challenge_good, reset_state),
        cmocka_unit_test_setup(test_challenge_label_stripped, reset_state),
        cmocka_unit_test_setup(test_challenge_interval_malformed_ignored, reset_state),
        cmocka_unit_test_setup(test_challenge_refused, reset_state),
        cmocka_unit_test_setup(test_challenge_password_and_sms, reset_state),
        cmocka_unit_test_setup(test_introspect_methods, reset_state),
        cmocka_unit_test_setup(test_interpret_wrong_password, reset_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
