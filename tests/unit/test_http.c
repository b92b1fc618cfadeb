/* HTTPS session, native-auth calls and discovery against a throwaway HTTPS server on 127.0.0.1
 * (Python stdlib + cryptography, certificates made per run in a temp directory). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "cache.h"
#include "discovery.h"
#include "http.h"
#include "nativeauth.h"
#include "util.h"
#include "unit_fixture.h"

#define MIB (1024 * 1024)

/* The server (https_server.py beside this file) writes ca.pem (trusted), other.pem (an unrelated
 * CA) and server.pem into its directory argument, then the port it chose into DIR/port. */
#define SERVER_PY UNIT_DIR "/https_server.py"

struct server {
    pid_t pid;
    int port;
    char dir[64];
    char base[64]; /* https://127.0.0.1:PORT */
    char ca[128];
    char other[128];
};

struct ctx {
    struct server *srv;
    struct ufx_log cap;
    struct extid_log log;
    struct extid_config cfg;
    struct extid_http h;
    struct extid_app app; /* made from cfg by app() at each call, as the tests change cfg */
    bool open;
    char cache[128];
    char authority[128];
    char url[256];
};

static int server_stop(void **state)
{
    struct server *s = *state;
    if (!s)
        return 0;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    ufx_rm_tree(s->dir);
    free(s);
    return 0;
}

static int server_start(void **state)
{
    struct server *s = calloc(1, sizeof(*s));
    char log[128], portfile[128];
    if (!s)
        return -1;
    *state = s;
    strcpy(s->dir, "/tmp/extid-http-XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(log, sizeof(log), "%s/server.log", s->dir);
    snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
    snprintf(s->ca, sizeof(s->ca), "%s/ca.pem", s->dir);
    snprintf(s->other, sizeof(s->other), "%s/other.pem", s->dir);
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        /* The server must not outlive a crashed test. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl("/usr/bin/python3", "python3", SERVER_PY, s->dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%d", &s->port) == 1;
            fclose(f);
            if (ok) {
                snprintf(s->base, sizeof(s->base), "https://127.0.0.1:%d", s->port);
                return 0;
            }
        }
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            fprintf(stderr, "test server died; see %s\n", log);
            return -1;
        }
        usleep(25000);
    }
    fprintf(stderr, "test server did not start\n");
    return -1;
}

static enum extid_result session(struct ctx *c)
{
    struct extid_http_settings s = extid_http_settings_of(&c->cfg);

    if (c->open)
        extid_http_close(&c->h);
    c->open = false;
    enum extid_result rc = extid_http_open(&c->h, &s, &c->log);
    c->open = rc == EXTID_OK;
    return rc;
}

/* The app the native-auth and discovery calls speak for: the fixture's configuration now. */
static const struct extid_app *app(struct ctx *c)
{
    c->app = extid_app_of(&c->cfg, &c->h);
    return &c->app;
}

static int setup(void **state)
{
    struct server *s = *state;
    struct ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->srv = s;
    c->log = ufx_log_sink(&c->cap, true);
    snprintf(c->authority, sizeof(c->authority), "%s/t", s->base);
    snprintf(c->cache, sizeof(c->cache), "%s/cache", s->dir);
    ufx_rm_tree(c->cache);
    c->cfg.authority = c->authority;
    c->cfg.client_id = (char *)"cid";
    c->cfg.ca_file = s->ca;
    c->cfg.timeout = 5;
    c->cfg.cache_dir = c->cache;
    c->cfg.jwks_ttl = 3600;
    c->cfg.methods = EXTID_METHOD_OTP;
    *state = c;
    return session(c) == EXTID_OK ? 0 : -1;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    if (c->open)
        extid_http_close(&c->h);
    *state = c->srv;
    free(c);
    return 0;
}

static const char *url(struct ctx *c, const char *path)
{
    snprintf(c->url, sizeof(c->url), "%s%s", c->srv->base, path);
    return c->url;
}

static long num_connects(struct ctx *c)
{
    long n = -1;
    assert_int_equal(curl_easy_getinfo((CURL *)c->h.curl, CURLINFO_NUM_CONNECTS, &n), CURLE_OK);
    return n;
}

static enum extid_result get(struct ctx *c, const char *path, struct extid_http_response *r)
{
    return extid_http_get(&c->h, url(c, path), r);
}

/* ---- transport ---- */

static void test_get_and_connection_reuse(void **state)
{
    struct ctx *c = *state;
    struct extid_http_response r;
    assert_int_equal(get(c, "/ok", &r), EXTID_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"ok\": true}");
    assert_int_equal(r.len, strlen(r.body));
    assert_int_equal(r.retry_after, -1);
    assert_int_equal(num_connects(c), 1);
    extid_http_response_free(&r);
    assert_null(r.body);
    assert_int_equal(r.len, 0);

    /* Same handle, same connection: no new connect for GET, POST, GET. */
    assert_int_equal(get(c, "/ok", &r), EXTID_OK);
    assert_int_equal(num_connects(c), 0);
    extid_http_response_free(&r);
    const struct extid_form_field f[] = { { "a", "b" } };
    assert_int_equal(extid_http_post_form(&c->h, url(c, "/echo"), f, 1, &r), EXTID_OK);
    assert_int_equal(num_connects(c), 0);
    extid_http_response_free(&r);
    assert_int_equal(get(c, "/ok", &r), EXTID_OK);
    assert_int_equal(num_connects(c), 0);
    extid_http_response_free(&r);
    assert_int_equal(c->h.requests, 4);
    assert_logged(&c->cap, "reused connection");
}

static cJSON *echo_headers(cJSON *echo)
{
    cJSON *hd = cJSON_GetObjectItem(echo, "headers");
    assert_true(cJSON_IsObject(hd));
    return hd;
}

static const char *header(cJSON *hd, const char *name)
{
    cJSON *v = cJSON_GetObjectItem(hd, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_uuid4(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return s[14] == '4' && strchr("89ab", s[19]);
}

static void test_headers_and_methods(void **state)
{
    struct ctx *c = *state;
    struct extid_http_response r;
    assert_true(is_uuid4(c->h.request_id));

    assert_int_equal(get(c, "/echo", &r), EXTID_OK);
    cJSON *e = cJSON_Parse(r.body);
    cJSON *hd = echo_headers(e);
    assert_string_equal(cJSON_GetObjectItem(e, "method")->valuestring, "GET");
    assert_string_equal(header(hd, "client-request-id"), c->h.request_id);
    assert_string_equal(header(hd, "return-client-request-id"), "true");
    assert_string_equal(header(hd, "accept"), "application/json");
    assert_string_equal(header(hd, "user-agent"), "pam_extid/" EXTID_VERSION);
    assert_null(header(hd, "content-type"));
    cJSON_Delete(e);
    extid_http_response_free(&r);

    const struct extid_form_field f[] = { { "k", "v" } };
    assert_int_equal(extid_http_post_form(&c->h, url(c, "/echo"), f, 1, &r), EXTID_OK);
    e = cJSON_Parse(r.body);
    hd = echo_headers(e);
    assert_string_equal(cJSON_GetObjectItem(e, "method")->valuestring, "POST");
    assert_string_equal(cJSON_GetObjectItem(e, "raw")->valuestring, "k=v");
    assert_string_equal(header(hd, "content-type"), "application/x-www-form-urlencoded");
    assert_string_equal(header(hd, "client-request-id"), c->h.request_id);
    cJSON_Delete(e);
    extid_http_response_free(&r);

    /* A GET after a POST sends no body. */
    assert_int_equal(get(c, "/echo", &r), EXTID_OK);
    e = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetObjectItem(e, "method")->valuestring, "GET");
    assert_null(header(echo_headers(e), "content-length"));
    cJSON_Delete(e);
    extid_http_response_free(&r);

    /* Each session gets its own id. */
    char first[37];
    memcpy(first, c->h.request_id, sizeof(first));
    assert_int_equal(session(c), EXTID_OK);
    assert_true(is_uuid4(c->h.request_id));
    assert_string_not_equal(first, c->h.request_id);
}

static void test_form_encoding(void **state)
{
    struct ctx *c = *state;
    struct extid_http_response r;
    const struct extid_form_field f[] = {
        { "a&b", "c=d" },
        { "plus", "1+1" },
        { "space", "x y" },
        { "pct", "100%" },
        { "utf8",
          "Gr\xc3\xbc\xc3\x9f"
          "e \xe2\x9c\x93" },
        { "empty", "" },
        { "safe", "A-z_0.9~" },
    };
    assert_int_equal(extid_http_post_form(&c->h, url(c, "/echo"), f, 7, &r), EXTID_OK);
    cJSON *e = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetObjectItem(e, "raw")->valuestring,
                        "a%26b=c%3Dd&plus=1%2B1&space=x%20y&pct=100%25"
                        "&utf8=Gr%C3%BC%C3%9Fe%20%E2%9C%93&empty=&safe=A-z_0.9~");
    cJSON_Delete(e);
    extid_http_response_free(&r);

    /* No fields: an empty body. */
    assert_int_equal(extid_http_post_form(&c->h, url(c, "/echo"), NULL, 0, &r), EXTID_OK);
    e = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetObjectItem(e, "raw")->valuestring, "");
    cJSON_Delete(e);
    extid_http_response_free(&r);

    /* A field without value is a caller bug, refused before sending. */
    const struct extid_form_field bad[] = { { "a", NULL } };
    unsigned long before = c->h.requests;
    assert_int_equal(extid_http_post_form(&c->h, url(c, "/echo"), bad, 1, &r), EXTID_SYSTEM_ERR);
    assert_null(r.body);
    assert_int_equal(c->h.requests, before);
}

static void test_body_cap(void **state)
{
    struct ctx *c = *state;
    struct extid_http_response r;
    static const char *const over[] = { "/big", "/bigchunked" };
    static const char *const exact[] = { "/exact", "/exactchunked" };
    for (int i = 0; i < 2; i++) {
        ufx_log_clear(&c->cap);
        assert_int_equal(get(c, over[i], &r), EXTID_UNAVAILABLE);
        assert_null(r.body);
        assert_int_equal(r.len, 0);
        assert_logged(&c->cap, "larger than 1048576 bytes");
        assert_logged(&c->cap, over[i]);
        /* The handle survives an aborted transfer. */
        assert_int_equal(get(c, exact[i], &r), EXTID_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.len, MIB);
        assert_int_equal(strlen(r.body), MIB);
        extid_http_response_free(&r);
    }
}

static void test_untrusted_certificate(void **state)
{
    struct ctx *c = *state;
    struct extid_http_response r;
    char want[160];

    c->cfg.ca_file = c->srv->other;
    assert_int_equal(session(c), EXTID_OK);
    assert_int_equal(get(c, "/ok", &r), EXTID_UNAVAILABLE);
    assert_null(r.body);
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof(want), "GET %s/ok: SSL certificate problem", c->srv->base);
    assert_logged(&c->cap, want);

    c->cfg.ca_file = NULL; /* system store: does not know the test CA either */
    assert_int_equal(session(c), EXTID_OK);
    assert_int_equal(get(c, "/ok", &r), EXTID_UNAVAILABLE);

    /* Trusted CA, wrong name: the certificate is for 127.0.0.1 only. */
    ufx_log_clear(&c->cap);
    c->cfg.ca_file = c->srv->ca;
    assert_int_equal(session(c), EXTID_OK);
    snprintf(c->url, sizeof(c->url), "https://localhost:%d/ok", c->srv->port);
    assert_int_equal(extid_http_get(&c->h, c->url, &r), EXTID_UNAVAILABLE);
    assert_logged(&c->cap, "localhost");
}

static void test_non_https_refused(void **state)
{
    struct ctx *c = *state;
    struct extid_http_response r;
    char u[128];
    const struct extid_form_field f[] = { { "a", "b" } };
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/ok", c->srv->port);
    assert_int_equal(extid_http_get(&c->h, u, &r), EXTID_UNAVAILABLE);
    assert_int_equal(extid_http_post_form(&c->h, u, f, 1, &r), EXTID_UNAVAILABLE);
    assert_int_equal(extid_http_get(&c->h, "file:///etc/passwd", &r), EXTID_UNAVAILABLE);
    assert_int_equal(extid_http_get(&c->h, "ftp://127.0.0.1:1/x", &r), EXTID_UNAVAILABLE);
    assert_null(r.body);
    assert_logged(&c->cap, "only https:// URLs are allowed");
    assert_int_equal(c->h.requests, 0);
}

static void test_statuses_and_retry_after(void **state)
{
    struct ctx *c = *state;
    struct extid_http_response r;

    assert_int_equal(get(c, "/retry-secs", &r), EXTID_OK);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.retry_after, 30);
    extid_http_response_free(&r);
    assert_int_equal(get(c, "/retry-date", &r), EXTID_OK);
    assert_int_equal(r.status, 503);
    assert_true(r.retry_after >= 100 && r.retry_after <= 121);
    extid_http_response_free(&r);
    assert_int_equal(get(c, "/retry-bad", &r), EXTID_OK);
    assert_int_equal(r.retry_after, -1);
    extid_http_response_free(&r);
    /* Retry-After of an earlier response does not stick. */
    assert_int_equal(get(c, "/retry-secs", &r), EXTID_OK);
    extid_http_response_free(&r);
    assert_int_equal(get(c, "/ok", &r), EXTID_OK);
    assert_int_equal(r.retry_after, -1);
    extid_http_response_free(&r);

    /* Redirects are returned, not followed. */
    assert_int_equal(get(c, "/redirect", &r), EXTID_OK);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.body, "{}");
    extid_http_response_free(&r);
    assert_int_equal(get(c, "/empty", &r), EXTID_OK);
    assert_int_equal(r.status, 204);
    assert_non_null(r.body);
    assert_string_equal(r.body, "");
    assert_int_equal(r.len, 0);
    extid_http_response_free(&r);
    assert_int_equal(get(c, "/nope", &r), EXTID_OK);
    assert_int_equal(r.status, 404);
    extid_http_response_free(&r);
}

static void test_proxy(void **state)
{
    struct ctx *c = *state;
    struct extid_http_response r;
    /* Proxy variables in the environment are ignored... */
    static const char *const vars[] = { "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };
    for (int i = 0; i < 4; i++)
        setenv(vars[i], "http://127.0.0.1:1", 1);
    assert_int_equal(session(c), EXTID_OK);
    enum extid_result rc = get(c, "/ok", &r);
    for (int i = 0; i < 4; i++)
        unsetenv(vars[i]);
    assert_int_equal(rc, EXTID_OK);
    extid_http_response_free(&r);
    /* ...the configured proxy is used (here: one that is not listening). */
    c->cfg.proxy = (char *)"http://127.0.0.1:1";
    assert_int_equal(session(c), EXTID_OK);
    assert_int_equal(get(c, "/ok", &r), EXTID_UNAVAILABLE);
    c->cfg.proxy = NULL;
}

static void test_timeout_and_refused(void **state)
{
    struct ctx *c = *state;
    struct extid_http_response r;
    c->cfg.timeout = 1;
    assert_int_equal(session(c), EXTID_OK);
    time_t t0 = time(NULL);
    assert_int_equal(get(c, "/slow", &r), EXTID_UNAVAILABLE);
    assert_true(time(NULL) - t0 <= 2);
    assert_logged(&c->cap, "timed out");
    ufx_log_clear(&c->cap);
    assert_int_equal(extid_http_get(&c->h, "https://127.0.0.1:1/", &r), EXTID_UNAVAILABLE);
    assert_logged(&c->cap, "GET https://127.0.0.1:1/: ");
}

static void test_args(void **state)
{
    struct ctx *c = *state;
    struct extid_http_response r;
    struct extid_http h;
    struct extid_http_settings s = extid_http_settings_of(&c->cfg);
    assert_int_equal(extid_http_open(&h, NULL, &c->log), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_http_open(NULL, &s, &c->log), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_http_get(&c->h, NULL, &r), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_http_get(NULL, "https://x/", &r), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_http_get(&c->h, "https://x/", NULL), EXTID_SYSTEM_ERR);
    extid_http_response_free(NULL);
    extid_http_close(NULL);
    /* Closing twice is harmless. */
    extid_http_close(&c->h);
    extid_http_close(&c->h);
    c->open = false;
    assert_int_equal(extid_http_get(&c->h, "https://127.0.0.1:1/", &r), EXTID_SYSTEM_ERR);
}

/* ---- native auth over the wire ----
 * /t/oauth2/v2.0/{initiate,challenge,token} check the exact form fields; alice@example.com gets
 * CT1-SECRET, /challenge turns it into CT2-SECRET, code 12345678 gives IDTOKEN-SECRET. */

static void assert_no_secrets(struct ctx *c)
{
    static const char *const secrets[] = { "CT1-SECRET",     "CT2-SECRET",    "CT3-SECRET",
                                           "IDTOKEN-SECRET", "ACCESS-SECRET", "12345678",
                                           "87654321",       "CT1P-SECRET",   "CT2P-SECRET",
                                           "CT4-SECRET",     "CT5-SECRET",    "CT6-SECRET",
                                           "PW-SECRET-OK",   "PW-SECRET-BAD", "654321" };
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (strstr(c->cap.buf, secrets[i]))
            fail_msg("secret %s logged:\n%s", secrets[i], c->cap.buf);
}

static void test_nativeauth_flow(void **state)
{
    struct ctx *c = *state;
    char *ct = NULL, *idt = (char *)c;
    struct extid_challenge ch;
    bool wrong = false;

    assert_int_equal(extid_na_initiate(app(c), "alice@example.com", &ct), EXTID_OK);
    assert_string_equal(ct, "CT1-SECRET");
    assert_int_equal(extid_na_challenge(app(c), ct, &ch), EXTID_OK);
    assert_string_equal(ch.continuation_token, "CT2-SECRET");
    assert_string_equal(ch.target_label, "a***e@e*****e.com");
    assert_int_equal(ch.code_length, 8);
    assert_int_equal(ch.interval, 300);
    assert_int_equal(extid_na_token(app(c), ch.continuation_token, "87654321", &idt, &wrong),
                     EXTID_AUTH_ERR);
    assert_true(wrong);
    assert_null(idt);
    assert_int_equal(extid_na_token(app(c), ch.continuation_token, "12345678", &idt, &wrong),
                     EXTID_OK);
    assert_false(wrong);
    assert_string_equal(idt, "IDTOKEN-SECRET");
    free(idt);
    /* A 200 without id_token is a refusal. */
    idt = (char *)c;
    assert_int_equal(extid_na_token(app(c), ch.continuation_token, "00000000", &idt, &wrong),
                     EXTID_AUTH_ERR);
    assert_false(wrong);
    assert_null(idt);
    /* An old continuation token is refused by the server. */
    struct extid_challenge ch2;
    assert_int_equal(extid_na_challenge(app(c), "stale", &ch2), EXTID_AUTH_ERR);
    assert_null(ch2.continuation_token);
    extid_challenge_free(&ch);
    free(ct);
    assert_int_equal(num_connects(c), 0);
    assert_no_secrets(c);
    assert_logged(&c->cap,
                  "token: HTTP 400: wrong code (error=invalid_grant "
                  "suberror=invalid_oob_value error_code=50181");
}

/* Password, then a second factor by text message: the exact form fields of each request are
 * checked by the server (capabilities, challenge types, grant types, id). */
static void test_nativeauth_password_and_second_factor(void **state)
{
    struct ctx *c = *state;
    char *ct = NULL, *idt = NULL, *next = NULL;
    struct extid_challenge ch, sms;
    struct extid_mfa_methods m;
    bool wrong = false;

    c->cfg.methods = EXTID_METHOD_OTP | EXTID_METHOD_PASSWORD;
    assert_int_equal(extid_na_initiate(app(c), "pw@example.com", &ct), EXTID_OK);
    assert_string_equal(ct, "CT1P-SECRET");
    assert_int_equal(extid_na_challenge(app(c), ct, &ch), EXTID_OK);
    assert_int_equal(ch.kind, EXTID_CHALLENGE_PASSWORD);
    assert_string_equal(ch.continuation_token, "CT2P-SECRET");
    assert_int_equal(extid_na_grant(app(c), EXTID_GRANT_PASSWORD, ch.continuation_token,
                                    "PW-SECRET-BAD", &idt, &next, &wrong),
                     EXTID_AUTH_ERR);
    assert_true(wrong);
    assert_null(idt);
    assert_null(next);
    /* Without somewhere to put the second factor's token, mfa_required is a refusal. */
    assert_int_equal(extid_na_grant(app(c), EXTID_GRANT_PASSWORD, ch.continuation_token,
                                    "PW-SECRET-OK", &idt, NULL, &wrong),
                     EXTID_AUTH_ERR);
    assert_false(wrong);
    assert_int_equal(extid_na_grant(app(c), EXTID_GRANT_PASSWORD, ch.continuation_token,
                                    "PW-SECRET-OK", &idt, &next, &wrong),
                     EXTID_OK); /* the first factor passed; a second one follows */
    assert_false(wrong);
    assert_null(idt);
    assert_string_equal(next, "CT4-SECRET");
    assert_int_equal(extid_na_introspect(app(c), next, &m), EXTID_OK);
    assert_int_equal(m.count, 2);
    assert_string_equal(m.continuation_token, "CT5-SECRET");
    assert_string_equal(m.methods[1].id, "M-SMS");
    assert_int_equal(extid_na_challenge_method(app(c), m.continuation_token, "M-SMS", &sms),
                     EXTID_OK);
    assert_int_equal(sms.channel, EXTID_CHANNEL_SMS);
    assert_string_equal(sms.target_label, "+1555****42");
    assert_int_equal(sms.code_length, 6);
    assert_int_equal(extid_na_grant(app(c), EXTID_GRANT_MFA_OOB, sms.continuation_token, "000000",
                                    &idt, NULL, &wrong),
                     EXTID_AUTH_ERR);
    assert_true(wrong);
    assert_int_equal(extid_na_grant(app(c), EXTID_GRANT_MFA_OOB, sms.continuation_token, "654321",
                                    &idt, NULL, NULL),
                     EXTID_OK);
    assert_string_equal(idt, "IDTOKEN-SECRET");
    extid_mfa_methods_free(&m);
    assert_int_equal(extid_na_introspect(app(c), "stale", &m), EXTID_AUTH_ERR);
    assert_null(m.methods);
    extid_challenge_free(&sms);
    assert_int_equal(extid_na_challenge_method(app(c), "CT5-SECRET", NULL, &sms), EXTID_SYSTEM_ERR);
    assert_null(sms.continuation_token);
    extid_challenge_free(&ch);
    extid_mfa_methods_free(&m);
    extid_free_secret(idt);
    extid_free_secret(next);
    free(ct);
    c->cfg.methods = EXTID_METHOD_OTP;
    assert_logged(&c->cap, "token: HTTP 400: wrong password");
    assert_logged(&c->cap, "the account needs a second factor");
    assert_no_secrets(c);
}

static void test_nativeauth_failures(void **state)
{
    struct ctx *c = *state;
    char *ct = (char *)c;

    assert_int_equal(extid_na_initiate(app(c), "nobody@example.com", &ct), EXTID_AUTH_ERR);
    assert_null(ct);
    assert_logged(&c->cap,
                  "initiate: HTTP 400: no such user at Entra (error=user_not_found "
                  "suberror=- error_code=50034 trace_id=tr-1 correlation_id=co-1)");
    assert_int_equal(extid_na_initiate(app(c), "redirect@example.com", &ct), EXTID_AUTH_ERR);
    assert_null(ct);
    assert_int_equal(extid_na_initiate(app(c), "busy@example.com", &ct), EXTID_UNAVAILABLE);
    assert_logged(&c->cap, "initiate: HTTP 503: server error");
    assert_int_equal(extid_na_initiate(app(c), "noct@example.com", &ct), EXTID_UNAVAILABLE);
    assert_logged(&c->cap, "initiate: HTTP 200 answer has no continuation_token");
    assert_null(ct);

    c->cfg.client_id = (char *)"someone-else";
    assert_int_equal(extid_na_initiate(app(c), "alice@example.com", &ct), EXTID_CONFIG_ERR);
    /* No client_id: refused without a request. */
    unsigned long before = c->h.requests;
    c->cfg.client_id = NULL;
    assert_int_equal(extid_na_initiate(app(c), "alice@example.com", &ct), EXTID_CONFIG_ERR);
    assert_int_equal(c->h.requests, before);
    c->cfg.client_id = (char *)"cid";

    /* An authority whose server is not there. */
    c->cfg.authority = (char *)"https://127.0.0.1:1/t";
    assert_int_equal(extid_na_initiate(app(c), "alice@example.com", &ct), EXTID_UNAVAILABLE);
    assert_null(ct);
    assert_no_secrets(c);
}

/* ---- discovery ----
 * /{t}/v2.0/.well-known/openid-configuration names issuer https://…/{t}/v2.0 and jwks_uri
 * https://…/{t}/keys; "httpjwks" names an http:// jwks_uri, "badjwks" a JWKS without "keys",
 * "missing" has no discovery document. /stats counts GETs per path. */

static int hits(struct ctx *c, const char *path)
{
    struct extid_http_response r;
    assert_int_equal(get(c, "/stats", &r), EXTID_OK);
    cJSON *j = cJSON_Parse(r.body);
    cJSON *n = cJSON_GetObjectItem(j, path);
    int v = cJSON_IsNumber(n) ? n->valueint : 0;
    cJSON_Delete(j);
    extid_http_response_free(&r);
    return v;
}

static void cache_name(const char *authority, const char *prefix, char *out, size_t n)
{
    unsigned char md[32];
    unsigned int len = 0;
    char hex[65];
    assert_int_equal(EVP_Digest(authority, strlen(authority), md, &len, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    snprintf(out, n, "%s-%s.json", prefix, hex);
}

static void age_file(struct ctx *c, const char *name, time_t secs)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", c->cache, name);
    ufx_set_mtime(p, time(NULL) - secs);
}

static void test_discovery_and_cache(void **state)
{
    struct ctx *c = *state;
    struct extid_signing_info si;
    char want_iss[128], dname[128], jname[128], p[512];
    struct stat st;
    const char *dpath = "/t/v2.0/.well-known/openid-configuration", *kpath = "/t/keys";

    snprintf(want_iss, sizeof(want_iss), "%s/t/v2.0", c->srv->base);
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_OK);
    assert_string_equal(si.issuer, want_iss);
    assert_non_null(strstr(si.jwks_json, "\"keys\""));
    extid_signing_info_free(&si);
    assert_null(si.issuer);
    assert_int_equal(hits(c, dpath), 1);
    assert_int_equal(hits(c, kpath), 1);

    /* Cached: files named after the authority, root-only. */
    cache_name(c->authority, "discovery", dname, sizeof(dname));
    cache_name(c->authority, "jwks", jname, sizeof(jname));
    snprintf(p, sizeof(p), "%s/%s", c->cache, dname);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    snprintf(p, sizeof(p), "%s/%s", c->cache, jname);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(stat(c->cache, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(ufx_count_entries(c->cache, NULL), 2);

    /* Second call: from the cache, no request. */
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_OK);
    assert_string_equal(si.issuer, want_iss);
    extid_signing_info_free(&si);
    assert_int_equal(hits(c, dpath), 1);
    assert_int_equal(hits(c, kpath), 1);

    /* force_refresh refetches both. */
    assert_int_equal(extid_signing_info_get(app(c), true, &si), EXTID_OK);
    extid_signing_info_free(&si);
    assert_int_equal(hits(c, dpath), 2);
    assert_int_equal(hits(c, kpath), 2);

    /* Either file past the ttl refetches both. */
    age_file(c, jname, 7200);
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_OK);
    extid_signing_info_free(&si);
    assert_int_equal(hits(c, dpath), 3);
    assert_int_equal(hits(c, kpath), 3);

    /* A corrupt cache file is not trusted; the refetch repairs it. */
    assert_int_equal(extid_cache_write(c->cache, jname, "{\"keys\":", 8, &c->log), EXTID_OK);
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_OK);
    assert_non_null(strstr(si.jwks_json, "\"kid\": \"t\""));
    extid_signing_info_free(&si);
    assert_int_equal(hits(c, kpath), 4);
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_OK);
    extid_signing_info_free(&si);
    assert_int_equal(hits(c, kpath), 4);

    /* Another tenant gets its own files, never the first tenant's keys. */
    snprintf(c->authority, sizeof(c->authority), "%s/u", c->srv->base);
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_OK);
    assert_non_null(strstr(si.jwks_json, "\"kid\": \"u\""));
    assert_non_null(strstr(si.issuer, "/u/v2.0"));
    extid_signing_info_free(&si);
    assert_int_equal(ufx_count_entries(c->cache, NULL), 4);
}

static void expect_discovery_failure(struct ctx *c, const char *tenant, const char *why)
{
    struct extid_signing_info si;
    snprintf(c->authority, sizeof(c->authority), "%s/%s", c->srv->base, tenant);
    ufx_log_clear(&c->cap);
    memset(&si, 0x5a, sizeof(si));
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_UNAVAILABLE);
    assert_null(si.issuer);
    assert_null(si.jwks_json);
    assert_logged(&c->cap, why);
}

static void test_discovery_bad_answers(void **state)
{
    struct ctx *c = *state;
    expect_discovery_failure(c, "missing", "HTTP 404");
    expect_discovery_failure(c, "httpjwks", "jwks_uri missing, not a string or not https://");
    expect_discovery_failure(c, "badjwks", "JWKS has no \"keys\" array");
    assert_int_equal(hits(c, "/badjwks/keys"), 1);
    /* Nothing was cached, so the next call asks again. */
    expect_discovery_failure(c, "badjwks", "JWKS has no \"keys\" array");
    assert_int_equal(hits(c, "/badjwks/keys"), 2);
    assert_int_equal(ufx_count_entries(c->cache, NULL), 0);
    c->cfg.authority = NULL;
    struct extid_signing_info si;
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_CONFIG_ERR);
}

static void test_discovery_cache_unusable(void **state)
{
    struct ctx *c = *state;
    struct extid_signing_info si;
    char dname[128], p[512];

    /* Cache files cannot be written (a directory is in the way): still OK, logged. */
    assert_int_equal(extid_cache_dir_check(c->cache, &c->log), EXTID_OK);
    cache_name(c->authority, "discovery", dname, sizeof(dname));
    snprintf(p, sizeof(p), "%s/%s", c->cache, dname);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_OK);
    assert_non_null(si.issuer);
    extid_signing_info_free(&si);
    assert_logged(&c->cap, "4|cache: cannot write");
    assert_int_equal(rmdir(p), 0);

    /* An unsafe cache directory is neither read nor written. */
    ufx_log_clear(&c->cap);
    assert_int_equal(chmod(c->cache, 0777), 0);
    int before = hits(c, "/t/keys");
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_OK);
    extid_signing_info_free(&si);
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_OK);
    extid_signing_info_free(&si);
    assert_int_equal(hits(c, "/t/keys"), before + 2);
    assert_logged(&c->cap, "writable by group or others");
    assert_int_equal(chmod(c->cache, 0700), 0);

    /* A cache directory that cannot be created. */
    snprintf(c->cache, sizeof(c->cache), "%s/no/such/dir", c->srv->dir);
    assert_int_equal(extid_signing_info_get(app(c), false, &si), EXTID_OK);
    extid_signing_info_free(&si);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_get_and_connection_reuse),
        T(test_headers_and_methods),
        T(test_form_encoding),
        T(test_body_cap),
        T(test_untrusted_certificate),
        T(test_non_https_refused),
        T(test_statuses_and_retry_after),
        T(test_proxy),
        T(test_timeout_and_refused),
        T(test_args),
        T(test_nativeauth_flow),
        T(test_nativeauth_password_and_second_factor),
        T(test_nativeauth_failures),
        T(test_discovery_and_cache),
        T(test_discovery_bad_answers),
        T(test_discovery_cache_unusable),
#undef T
    };
    return ufx_run_root_group_tests(tests, server_start, server_stop);
}
