/* A fake Entra behind the login's transport table (transport.h), for the pipeline's unit tests
 * and the login fuzzer: no sockets, no TLS. Each call is answered the way the tenant would answer
 * over HTTP (a status and a JSON body), and that answer goes through the module's own
 * interpretation (extid_na_interpret, extid_challenge_from_json), so a redirect, a wrong code or
 * a 503 reach the pipeline exactly as they would from Entra. An answer can be forced per call;
 * otherwise the fake behaves like a healthy tenant whose right code is fake->code.
 * Header-only: each test is built alone. */
#ifndef EXTID_FAKE_ENTRA_H
#define EXTID_FAKE_ENTRA_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "transport.h"

enum fake_call { FAKE_INITIATE, FAKE_CHALLENGE, FAKE_TOKEN, FAKE_INTROSPECT, FAKE_CALLS };

#define FAKE_FORCED 4 /* answers that can be forced per endpoint, for its first calls */

struct fake_answer {
    long status;      /* 0: not forced, the healthy tenant answers */
    const char *body; /* JSON text */
};

struct fake_entra {
    /* The script. */
    const char *code;        /* the right code; NULL: "12345678" */
    const char *password;    /* non-NULL: a password account, and its password */
    const char *methods;     /* non-NULL: a second factor follows the first, by these
                                  * (introspect's "methods" array, JSON) */
    const char *second_code; /* the second factor's right code; NULL: "654321" */
    const char *id_token;    /* what the right code yields */
    const char *issuer;      /* signing info */
    const char *jwks;
    const char *app_jwks;      /* the app's own key set (discovery ?appid=); NULL: none */
    enum extid_result open_rc; /* what opening the session gives */
    enum extid_result keys_rc; /* what fetching the signing info gives */
    struct fake_answer forced[FAKE_CALLS][FAKE_FORCED];

    /* What happened. */
    int opens, closes, prepares, key_fetches, app_key_fetches;
    int calls[FAKE_CALLS];        /* requests sent, per endpoint */
    bool last_forced[FAKE_CALLS]; /* the endpoint's last answer was a forced one */
    char email[256];              /* the address sent to initiate */
    char last_code[64];           /* the last code sent to token (not passwords) */
    int passwords_sent;           /* token requests with grant password */
    int second_codes_sent;        /* token requests with grant mfa_oob */
    char method_id[64];           /* the id of the last challenge for a second factor */
    const struct extid_log *log;  /* the login's, from open: the interpretation logs there */
};

static const char *const fake_endpoint[FAKE_CALLS] = { "initiate", "challenge", "token",
                                                       "introspect" };

/* What the core must never do to a transport (a NULL where Entra needs a value, a call on a
 * session that is not open) ends the test program: the unit test and the fuzzer both see it. */
static inline void fake_require(bool ok)
{
    if (!ok)
        abort();
}

static inline enum extid_result fake_open(void *ctx, const struct extid_config *cfg,
                                          const struct extid_log *log, void **session)
{
    struct fake_entra *f = ctx;

    fake_require(f && cfg && session && f->opens == f->closes); /* one session at a time */
    f->log = log;
    *session = NULL;
    if (f->open_rc != EXTID_OK)
        return f->open_rc;
    f->opens++;
    *session = f;
    return EXTID_OK;
}

static inline void fake_prepare(void *session)
{
    struct fake_entra *f = session;

    fake_require(f && f->opens > f->closes);
    f->prepares++;
}

static inline void fake_close(void *session)
{
    struct fake_entra *f = session;

    fake_require(f && f->opens > f->closes);
    f->closes++;
}

/* The call's answer, forced or the healthy tenant's (status and body), interpreted as the module
 * interprets Entra's. With next, the continuation token of an mfa_required answer is handed
 * over as nativeauth.c hands it over (EXTID_OK, no *json); *wrong_secret (when not NULL) as
 * extid_na_grant sets it. */
static inline enum extid_result fake_answer_next(struct fake_entra *f, enum fake_call call,
                                                 long status, const char *default_body,
                                                 cJSON **json, char **next, bool *wrong_secret)
{
    int n = f->calls[call]++;
    struct extid_http_response resp = { .status = status, .retry_after = -1 };
    const char *body = default_body;
    enum extid_na_opening opening = EXTID_NA_FINAL;
    enum extid_result rc;

    f->last_forced[call] = n < FAKE_FORCED && f->forced[call][n].status;
    if (f->last_forced[call]) {
        resp.status = f->forced[call][n].status;
        body = f->forced[call][n].body ? f->forced[call][n].body : "";
    }
    resp.body = strdup(body);
    if (!resp.body)
        return EXTID_SYSTEM_ERR;
    resp.len = strlen(body);
    rc = extid_na_interpret(fake_endpoint[call], &resp, json, &opening, f->log);
    if (opening == EXTID_NA_MFA_REQUIRED && next) {
        cJSON *err = cJSON_Parse(resp.body);
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(err, "continuation_token");
        if (!cJSON_IsString(ct))
            rc = EXTID_UNAVAILABLE;
        else
            rc = (*next = strdup(ct->valuestring)) ? EXTID_OK : EXTID_SYSTEM_ERR;
        cJSON_Delete(err);
    }
    if (wrong_secret)
        *wrong_secret = opening == EXTID_NA_WRONG_SECRET;
    free(resp.body);
    return rc;
}

static inline enum extid_result fake_answer(struct fake_entra *f, enum fake_call call,
                                            const char *default_body, const struct extid_log *log,
                                            cJSON **json)
{
    (void)log;
    return fake_answer_next(f, call, 200, default_body, json, NULL, NULL);
}

/* A string member of a 200 answer, copied; `missing` when absent. */
static inline enum extid_result fake_member(cJSON *json, const char *name,
                                            enum extid_result missing, char **out)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(json, name);

    /* As the module reads Entra's answers: an empty string (a leading \u0000 makes one) is no
     * value. */
    if (!cJSON_IsString(m) || !m->valuestring || !*m->valuestring)
        return missing;
    *out = strdup(m->valuestring);
    return *out ? EXTID_OK : EXTID_SYSTEM_ERR;
}

static inline enum extid_result fake_initiate(void *session, const char *email, char **ct)
{
    struct fake_entra *f = session;
    cJSON *json = NULL;
    enum extid_result rc;

    fake_require(f && f->opens > f->closes && email && *email && ct);
    *ct = NULL;
    snprintf(f->email, sizeof f->email, "%s", email);
    rc = fake_answer(f, FAKE_INITIATE, "{\"continuation_token\":\"ct-initiate\"}", NULL, &json);
    if (rc == EXTID_OK)
        rc = fake_member(json, "continuation_token", EXTID_UNAVAILABLE, ct);
    cJSON_Delete(json);
    return rc;
}

/* A challenge answer: the forced one if any, else body, read as the module reads it. */
static inline enum extid_result fake_challenge_answer(struct fake_entra *f, const char *body,
                                                      struct extid_challenge *out)
{
    cJSON *json = NULL;
    enum extid_result rc = fake_answer(f, FAKE_CHALLENGE, body, NULL, &json);

    if (rc == EXTID_OK)
        rc = extid_challenge_from_json(json, out, f->log);
    cJSON_Delete(json);
    return rc;
}

static inline enum extid_result fake_challenge(void *session, const char *ct,
                                               struct extid_challenge *out)
{
    struct fake_entra *f = session;
    char body[256];

    fake_require(f && f->opens > f->closes && ct && *ct && out);
    memset(out, 0, sizeof *out);
    if (f->password)
        snprintf(body, sizeof body,
                 "{\"continuation_token\":\"ct-password\","
                 "\"challenge_type\":\"password\"}");
    else
        snprintf(body, sizeof body,
                 "{\"continuation_token\":\"ct-challenge-%d\",\"challenge_type\":\"oob\","
                 "\"code_length\":%zu,\"challenge_target_label\":\"a***e@c***o.com\","
                 "\"challenge_channel\":\"email\",\"interval\":300}",
                 f->calls[FAKE_CHALLENGE], strlen(f->code ? f->code : "12345678"));
    return fake_challenge_answer(f, body, out);
}

/* The second factor's methods, as introspect answers them. */
static inline enum extid_result fake_introspect(void *session, const char *ct,
                                                struct extid_mfa_methods *out)
{
    struct fake_entra *f = session;
    char body[2048];
    cJSON *json = NULL;
    enum extid_result rc;

    fake_require(f && f->opens > f->closes && ct && *ct && out);
    memset(out, 0, sizeof *out);
    snprintf(body, sizeof body, "{\"continuation_token\":\"ct-introspect\",\"methods\":%s}",
             f->methods ? f->methods : "[]");
    rc = fake_answer(f, FAKE_INTROSPECT, body, NULL, &json);
    if (rc == EXTID_OK)
        rc = extid_mfa_methods_from_json(json, out, f->log);
    cJSON_Delete(json);
    return rc;
}

/* A code sent by the method with this id, answered with that method's channel and hint. */
static inline enum extid_result fake_challenge_method(void *session, const char *ct, const char *id,
                                                      struct extid_challenge *out)
{
    struct fake_entra *f = session;
    cJSON *methods = cJSON_Parse(f->methods ? f->methods : "[]"), *m;
    const char *channel = "email", *hint = "";
    char body[512];

    fake_require(f && f->opens > f->closes && ct && *ct && id && *id && out);
    memset(out, 0, sizeof *out);
    snprintf(f->method_id, sizeof f->method_id, "%s", id);
    cJSON_ArrayForEach(m, methods)
    {
        const cJSON *mid = cJSON_GetObjectItemCaseSensitive(m, "id");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "challenge_channel");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(m, "login_hint");
        if (cJSON_IsString(mid) && strcmp(mid->valuestring, id) == 0) {
            channel = cJSON_IsString(c) ? c->valuestring : channel;
            hint = cJSON_IsString(h) ? h->valuestring : hint;
        }
    }
    snprintf(body, sizeof body,
             "{\"continuation_token\":\"ct-second-%d\",\"challenge_type\":\"oob\","
             "\"code_length\":%zu,\"challenge_target_label\":\"%s\","
             "\"challenge_channel\":\"%s\"}",
             f->calls[FAKE_CHALLENGE], strlen(f->second_code ? f->second_code : "654321"), hint,
             channel);
    cJSON_Delete(methods);
    return fake_challenge_answer(f, body, out);
}

static inline enum extid_result fake_token(void *session, enum extid_grant grant, const char *ct,
                                           const char *secret, char **id_token, char **next,
                                           bool *wrong_secret)
{
    struct fake_entra *f = session;
    const char *right;
    char *body;
    long status = 200;
    cJSON *json = NULL, *obj = cJSON_CreateObject();
    enum extid_result rc = EXTID_SYSTEM_ERR;

    fake_require(f && f->opens > f->closes && ct && *ct && secret && id_token);
    *id_token = NULL;
    if (next)
        *next = NULL;
    if (wrong_secret)
        *wrong_secret = false;
    if (grant == EXTID_GRANT_PASSWORD) {
        f->passwords_sent++;
        right = f->password ? f->password : "";
    } else {
        snprintf(f->last_code, sizeof f->last_code, "%s", secret);
        if (grant == EXTID_GRANT_MFA_OOB)
            f->second_codes_sent++;
        right = grant == EXTID_GRANT_MFA_OOB ? (f->second_code ? f->second_code : "654321")
                                             : (f->code ? f->code : "12345678");
    }
    if (!obj)
        return rc;
    if (strcmp(secret, right) != 0 && grant == EXTID_GRANT_PASSWORD) {
        status = 400;
        cJSON_AddStringToObject(obj, "error", "invalid_grant");
        cJSON_AddStringToObject(obj, "error_description",
                                "AADSTS50126: Error validating "
                                "credentials due to invalid username or password.");
        cJSON_AddItemToObject(obj, "error_codes", cJSON_CreateIntArray((const int[]){ 50126 }, 1));
    } else if (strcmp(secret, right) != 0) {
        status = 400;
        cJSON_AddStringToObject(obj, "error", "invalid_grant");
        cJSON_AddStringToObject(obj, "suberror", "invalid_oob_value");
        cJSON_AddStringToObject(obj, "error_description",
                                "AADSTS50181: Unable to validate "
                                "the otp.");
    } else if (f->methods && grant != EXTID_GRANT_MFA_OOB) {
        status = 400;
        cJSON_AddStringToObject(obj, "error", "invalid_grant");
        cJSON_AddStringToObject(obj, "suberror", "mfa_required");
        cJSON_AddStringToObject(obj, "continuation_token", "ct-mfa");
    } else {
        cJSON_AddStringToObject(obj, "token_type", "Bearer");
        cJSON_AddStringToObject(obj, "id_token", f->id_token ? f->id_token : "x.y.z");
    }
    body = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!body)
        return rc;
    rc = fake_answer_next(f, FAKE_TOKEN, status, body, &json,
                          grant == EXTID_GRANT_MFA_OOB ? NULL : next, wrong_secret);
    free(body);
    if (rc == EXTID_OK && !(next && *next))
        rc = fake_member(json, "id_token", EXTID_AUTH_ERR, id_token);
    cJSON_Delete(json);
    return rc;
}

static inline enum extid_result fake_signing_info(void *session, bool force_refresh,
                                                  struct extid_signing_info *out)
{
    struct fake_entra *f = session;

    (void)force_refresh;
    fake_require(f && f->opens > f->closes && out);
    memset(out, 0, sizeof *out);
    f->key_fetches++;
    if (f->keys_rc != EXTID_OK)
        return f->keys_rc;
    out->issuer = strdup(f->issuer ? f->issuer : "https://issuer.invalid/v2.0");
    out->jwks_json = strdup(f->jwks ? f->jwks : "{\"keys\":[]}");
    if (!out->issuer || !out->jwks_json) {
        extid_signing_info_free(out);
        return EXTID_SYSTEM_ERR;
    }
    return EXTID_OK;
}

/* The app's own key set, never from a cache; without app_jwks the tenant answers as for an app
 * without a key of its own: a set that holds none of the app's keys. */
static inline enum extid_result fake_app_signing_info(void *session, bool force_refresh,
                                                      struct extid_signing_info *out)
{
    struct fake_entra *f = session;

    (void)force_refresh;
    fake_require(f && f->opens > f->closes && out);
    memset(out, 0, sizeof *out);
    f->app_key_fetches++;
    out->issuer = strdup(f->issuer ? f->issuer : "https://issuer.invalid/v2.0");
    out->jwks_json = strdup(f->app_jwks ? f->app_jwks : "{\"keys\":[]}");
    out->jwks_uri = strdup("https://fake.invalid/keys?appid=fake");
    if (!out->issuer || !out->jwks_json || !out->jwks_uri) {
        extid_signing_info_free(out);
        return EXTID_SYSTEM_ERR;
    }
    return EXTID_OK;
}

/* The transport table for f. */
static inline struct extid_transport fake_transport(struct fake_entra *f)
{
    struct extid_transport t = {
        .open = fake_open,
        .prepare_initiate = fake_prepare,
        .initiate = fake_initiate,
        .challenge = fake_challenge,
        .token = fake_token,
        .introspect = fake_introspect,
        .challenge_method = fake_challenge_method,
        .signing_info = fake_signing_info,
        .app_signing_info = fake_app_signing_info,
        .close = fake_close,
        .ctx = f,
    };
    return t;
}

#endif
