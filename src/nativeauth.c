/* Entra native authentication (email OTP, password, second factor): the requests, and the
 * answers that take the sign-in a step on (challenges, second-factor methods, tokens); what its
 * refusals mean is entra_errors.c's. docs/entra-signin-flows.md says what Entra expects. */
#include "nativeauth.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entra_json.h"
#include "util.h"

#define INTERVAL_MAX 86400L
#define CODE_LENGTH_MIN 4
#define CODE_LENGTH_MAX 16
#define DEFAULT_TARGET_LABEL "your email address"
#define DEFAULT_PHONE_LABEL "your phone"

void extid_challenge_free(struct extid_challenge *c)
{
    if (!c)
        return;
    extid_free_secret(c->continuation_token);
    free(c->target_label);
    memset(c, 0, sizeof(*c));
}

void extid_mfa_methods_free(struct extid_mfa_methods *m)
{
    if (!m)
        return;
    extid_free_secret(m->continuation_token);
    for (size_t i = 0; i < m->count; i++) {
        free(m->methods[i].id);
        free(m->methods[i].label);
    }
    free(m->methods);
    memset(m, 0, sizeof(*m));
}

/* "email" or "sms", in any letter case; false for anything else (a channel the module cannot
 * name). */
static bool channel_of(const char *s, enum extid_channel *out)
{
    if (extid_str_ieq(s, "email"))
        *out = EXTID_CHANNEL_EMAIL;
    else if (extid_str_ieq(s, "sms"))
        *out = EXTID_CHANNEL_SMS;
    else
        return false;
    return true;
}

static const char *default_label(enum extid_channel c)
{
    return c == EXTID_CHANNEL_SMS ? DEFAULT_PHONE_LABEL : DEFAULT_TARGET_LABEL;
}

/* Server text for the person: truncated, control characters stripped; the default when the
 * member is absent or empty. NULL only when out of memory. */
static char *label_copy(const cJSON *label, enum extid_channel c)
{
    char *s = label && cJSON_IsString(label) && label->valuestring && *label->valuestring
        ? strndup(label->valuestring, EXTID_ENTRA_FIELD_MAX)
        : strdup(default_label(c));
    if (s)
        extid_strip_controls_inplace(s);
    return s;
}

/* A non-empty string member, or NULL. */
static const char *get_string(const cJSON *obj, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(it) && it->valuestring && *it->valuestring ? it->valuestring : NULL;
}

enum extid_result extid_challenge_from_json(const struct cJSON *json, struct extid_challenge *out,
                                            const struct extid_log *log)
{
    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(json)) {
        extid_log(log, LOG_ERR, "challenge: answer is not a JSON object");
        return EXTID_UNAVAILABLE;
    }

    enum extid_result rc = EXTID_UNAVAILABLE;
    const char *type = get_string(json, "challenge_type");
    const char *token = get_string(json, "continuation_token");
    const cJSON *len = cJSON_GetObjectItemCaseSensitive(json, "code_length");
    long code_length = 0;
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(json, "challenge_target_label");
    const cJSON *interval = cJSON_GetObjectItemCaseSensitive(json, "interval");

    const char *channel = get_string(json, "challenge_channel");

    if (type && extid_str_ieq(type, "password")) {
        if (!token) {
            extid_log(log, LOG_ERR, "challenge: answer has no continuation_token");
            goto out;
        }
        out->kind = EXTID_CHALLENGE_PASSWORD;
        out->continuation_token = strdup(token);
        rc = out->continuation_token ? EXTID_OK : EXTID_SYSTEM_ERR;
        goto out;
    }
    if (type && extid_str_ieq(type, "redirect")) {
        extid_log(log, LOG_WARNING, "challenge: Entra requires a browser sign-in, refused");
        rc = EXTID_AUTH_ERR;
        goto out;
    }
    if (!type || !extid_str_ieq(type, "oob")) {
        extid_log(log, LOG_ERR, "challenge: unexpected challenge_type \"%s\"",
                  type ? type : "(missing)");
        goto out;
    }
    if (!token) {
        extid_log(log, LOG_ERR, "challenge: answer has no continuation_token");
        goto out;
    }
    if (!extid_json_int(len, CODE_LENGTH_MIN, CODE_LENGTH_MAX, &code_length)) {
        extid_log(log, LOG_ERR, "challenge: code_length missing or outside %d..%d", CODE_LENGTH_MIN,
                  CODE_LENGTH_MAX);
        goto out;
    }
    if (label && !(cJSON_IsString(label) && label->valuestring)) {
        extid_log(log, LOG_ERR, "challenge: challenge_target_label is not a string");
        goto out;
    }
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(json, "challenge_channel"))
        && cJSON_GetObjectItemCaseSensitive(json, "challenge_channel")) {
        extid_log(log, LOG_ERR, "challenge: challenge_channel is not a string");
        goto out;
    }
    /* Absent: email, as the first factor's challenges always were. */
    if (channel && !channel_of(channel, &out->channel)) {
        char *shown = strndup(channel, 32);
        if (shown)
            extid_strip_controls_inplace(shown);
        extid_log(log, LOG_WARNING,
                  "challenge: code sent by \"%s\", which the module cannot "
                  "name to the person, refused",
                  shown ? shown : "?");
        free(shown);
        rc = EXTID_AUTH_ERR;
        goto out;
    }
    out->kind = EXTID_CHALLENGE_OOB;
    out->code_length = (int)code_length;
    /* interval is advice; a malformed one is ignored rather than failing the login. */
    if (interval && !extid_json_int(interval, 0, INTERVAL_MAX, &out->interval))
        extid_debug(log, "challenge: ignoring malformed interval");
    out->continuation_token = strdup(token);
    out->target_label = label_copy(label, out->channel);
    if (!out->continuation_token || !out->target_label) {
        extid_log(log, LOG_ERR, "challenge: out of memory");
        rc = EXTID_SYSTEM_ERR;
        goto out;
    }
    /* What a live tenant really answers (code length, resend interval) is worth seeing once. */
    extid_debug(log, "challenge: a code of %d digits went to %s; interval %s%ld s",
                out->code_length, out->target_label, interval ? "" : "absent, ", out->interval);
    rc = EXTID_OK;
out:
    if (rc != EXTID_OK)
        extid_challenge_free(out);
    return rc;
}

/* One entry of /introspect's methods: EXTID_OK (added), EXTID_AUTH_ERR (a kind the module
 * cannot ask for: logged, skipped), EXTID_UNAVAILABLE (malformed), EXTID_SYSTEM_ERR. */
static enum extid_result add_method(const cJSON *m, struct extid_mfa_methods *out,
                                    const struct extid_log *log)
{
    const char *id = get_string(m, "id");
    const char *type = get_string(m, "challenge_type");
    const char *channel = get_string(m, "challenge_channel");
    struct extid_mfa_method *it = &out->methods[out->count];

    if (!cJSON_IsObject(m) || !id || strlen(id) > EXTID_ENTRA_FIELD_MAX) {
        extid_log(log, LOG_ERR, "introspect: a method without a usable id");
        return EXTID_UNAVAILABLE;
    }
    for (const char *p = id; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            extid_log(log, LOG_ERR, "introspect: a method id with control characters");
            return EXTID_UNAVAILABLE;
        }
    if (!extid_str_ieq(type, "oob") || !channel_of(channel, &it->channel)) {
        char t[33], c[33];
        snprintf(t, sizeof t, "%s", type ? type : "-");
        snprintf(c, sizeof c, "%s", channel ? channel : "-");
        extid_strip_controls_inplace(t);
        extid_strip_controls_inplace(c);
        extid_log(log, LOG_NOTICE,
                  "introspect: skipping a second-factor method the module "
                  "cannot ask for (challenge_type=%s challenge_channel=%s)",
                  t, c);
        return EXTID_AUTH_ERR;
    }
    it->id = strdup(id);
    it->label = label_copy(cJSON_GetObjectItemCaseSensitive(m, "login_hint"), it->channel);
    if (!it->id || !it->label) {
        free(it->id);
        free(it->label);
        memset(it, 0, sizeof(*it));
        return EXTID_SYSTEM_ERR;
    }
    out->count++;
    return EXTID_OK;
}

enum extid_result extid_mfa_methods_from_json(const struct cJSON *json,
                                              struct extid_mfa_methods *out,
                                              const struct extid_log *log)
{
    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof(*out));

    enum extid_result rc = EXTID_UNAVAILABLE;
    const char *token = get_string(json, "continuation_token");
    const cJSON *methods = cJSON_GetObjectItemCaseSensitive(json, "methods");
    const cJSON *m;
    size_t offered = 0;

    if (!cJSON_IsObject(json) || !token || !cJSON_IsArray(methods)) {
        extid_log(log, LOG_ERR, "introspect: answer lacks continuation_token or methods");
        goto out;
    }
    out->methods = calloc(EXTID_MFA_METHODS_MAX, sizeof(*out->methods));
    out->continuation_token = strdup(token);
    if (!out->methods || !out->continuation_token) {
        rc = EXTID_SYSTEM_ERR;
        goto out;
    }
    cJSON_ArrayForEach(m, methods)
    {
        if (out->count == EXTID_MFA_METHODS_MAX)
            break;
        offered++;
        enum extid_result r = add_method(m, out, log);
        if (r == EXTID_UNAVAILABLE || r == EXTID_SYSTEM_ERR) {
            rc = r;
            goto out;
        }
    }
    if (out->count == 0) {
        extid_log(log, LOG_WARNING,
                  "introspect: %s; the account must register an email or "
                  "phone second factor in a browser first, refused",
                  offered ? "no second-factor method the module can ask for"
                          : "no second-factor method registered");
        rc = EXTID_AUTH_ERR;
        goto out;
    }
    rc = EXTID_OK;
out:
    if (rc != EXTID_OK)
        extid_mfa_methods_free(out);
    return rc;
}

/* {authority}/oauth2/v2.0/<endpoint>; NULL (logged) on a missing authority or OOM. */
static char *endpoint_url(const struct extid_app *a, const char *endpoint)
{
    char *url = NULL;
    if (!a->authority) {
        extid_log(a->http->log, LOG_ERR, "%s: no authority configured", endpoint);
        return NULL;
    }
    if (asprintf(&url, "%s/oauth2/v2.0/%s", a->authority, endpoint) < 0) {
        extid_log(a->http->log, LOG_ERR, "%s: out of memory", endpoint);
        return NULL;
    }
    return url;
}

/* The continuation token an error answer carries (mfa_required): *next, a secret. */
static enum extid_result error_token(const struct extid_app *a, const char *endpoint,
                                     const struct extid_http_response *resp, char **next)
{
    cJSON *j = extid_json_parse_exact(resp->body, resp->len);
    const char *token = get_string(j, "continuation_token");
    enum extid_result rc = EXTID_OK;

    if (!token) {
        extid_log(a->http->log, LOG_ERR, "%s: second factor required, but no continuation_token",
                  endpoint);
        rc = EXTID_UNAVAILABLE;
    } else if (!(*next = strdup(token))) {
        rc = EXTID_SYSTEM_ERR;
    }
    extid_json_delete_wiping(j);
    return rc;
}

/* Posts the form and interprets the answer; EXTID_OK leaves the 200 object in *json. With next,
 * an answer that a second factor is needed is EXTID_OK too, with the error answer's
 * continuation token in *next and no *json; without, it is a refusal. *wrong_secret (when not
 * NULL) says the code or password itself was refused. */
static enum extid_result call(const struct extid_app *a, const char *endpoint,
                              const struct extid_form_field *fields, size_t nfields, cJSON **json,
                              char **next, bool *wrong_secret)
{
    struct extid_http_response resp = { 0 };
    enum extid_na_opening opening = EXTID_NA_FINAL;
    enum extid_result rc = EXTID_SYSTEM_ERR;
    char *url = endpoint_url(a, endpoint);
    *json = NULL;
    if (wrong_secret)
        *wrong_secret = false;
    if (!url)
        goto out;
    rc = extid_http_post_form(a->http, url, fields, nfields, &resp);
    if (rc != EXTID_OK)
        goto out;
    rc = extid_na_interpret(endpoint, &resp, json, &opening, a->http->log);
    if (opening == EXTID_NA_MFA_REQUIRED && next)
        rc = error_token(a, endpoint, &resp, next);
    else if (opening == EXTID_NA_MFA_REQUIRED)
        extid_log(a->http->log, LOG_WARNING,
                  "%s: the account needs a second factor, which this step "
                  "cannot ask for, refused",
                  endpoint);
    if (wrong_secret)
        *wrong_secret = opening == EXTID_NA_WRONG_SECRET;
out:
    extid_http_response_free(&resp);
    free(url);
    return rc;
}

static bool have_client_id(const struct extid_app *a, const char *endpoint)
{
    if (a->client_id && *a->client_id)
        return true;
    extid_log(a->http->log, LOG_ERR, "%s: no client_id configured", endpoint);
    return false;
}

/* Copies the string member `name` of a 200 answer (a secret) into *out; `missing` if absent. */
static enum extid_result copy_member(const struct extid_app *a, const char *endpoint,
                                     const cJSON *j, const char *name, enum extid_result missing,
                                     char **out)
{
    const char *value = get_string(j, name);

    if (!value) {
        extid_log(a->http->log, LOG_ERR, "%s: HTTP 200 answer has no %s", endpoint, name);
        return missing;
    }
    *out = strdup(value);
    if (!*out) {
        extid_log(a->http->log, LOG_ERR, "%s: out of memory", endpoint);
        return EXTID_SYSTEM_ERR;
    }
    return EXTID_OK;
}

/* The configured methods, then "redirect", which Entra requires (its web fallback). */
static const char *challenge_types(const struct extid_app *a)
{
    unsigned m = a->methods;

    if ((m & EXTID_METHOD_OTP) && (m & EXTID_METHOD_PASSWORD))
        return "oob password redirect";
    if (m & EXTID_METHOD_PASSWORD)
        return "password redirect";
    return "oob redirect";
}

void extid_na_prepare_initiate(const struct extid_app *a)
{
    char *url;

    if (!a || !a->http || !have_client_id(a, "initiate"))
        return;
    url = endpoint_url(a, "initiate");
    if (url)
        extid_http_prepare_post(a->http, url);
    free(url);
}

enum extid_result extid_na_initiate(const struct extid_app *a, const char *email,
                                    char **continuation_token)
{
    if (!continuation_token)
        return EXTID_SYSTEM_ERR;
    *continuation_token = NULL;
    if (!a || !a->http || !email)
        return EXTID_SYSTEM_ERR;
    if (!have_client_id(a, "initiate"))
        return EXTID_CONFIG_ERR;

    const struct extid_form_field fields[] = {
        { "client_id", a->client_id },
        { "username", email },
        { "challenge_type", challenge_types(a) },
        /* Without it, an account a policy requires a second factor of gets only redirect. */
        { "capabilities", "mfa_required" },
    };
    cJSON *j = NULL;
    enum extid_result rc =
        call(a, "initiate", fields, sizeof(fields) / sizeof(fields[0]), &j, NULL, NULL);
    if (rc != EXTID_OK)
        goto out;
    /* No continuation token in a 200: an answer we do not understand, not a refusal. */
    rc = copy_member(a, "initiate", j, "continuation_token", EXTID_UNAVAILABLE, continuation_token);
out:
    extid_json_delete_wiping(j);
    return rc;
}

enum extid_result extid_na_check_client(const struct extid_app *a)
{
    const struct extid_form_field fields[] = {
        { "client_id", a ? a->client_id : NULL },
        { "username", EXTID_PROBE_ADDRESS },
        { "challenge_type", a ? challenge_types(a) : "oob redirect" },
    };
    struct extid_http_response resp = { 0 };
    struct extid_entra_error err = { 0 };
    cJSON *j = NULL;
    char *url = NULL;
    enum extid_result rc = EXTID_SYSTEM_ERR;

    if (!a || !a->http || !have_client_id(a, "initiate"))
        return EXTID_CONFIG_ERR;
    url = endpoint_url(a, "initiate");
    if (!url)
        goto out;
    rc = extid_http_post_form(a->http, url, fields, sizeof(fields) / sizeof(fields[0]), &resp);
    if (rc != EXTID_OK)
        goto out;
    /* user_not_found is the expected answer: Entra looked for the address in this tenant on
     * behalf of this app, so both are real. */
    if ((resp.status == 400 || resp.status == 401)
        && extid_entra_error_parse(resp.body, resp.len, &err) == EXTID_OK
        && extid_str_ieq(err.error, "user_not_found")) {
        rc = EXTID_OK;
        goto out;
    }
    rc = extid_na_interpret("initiate", &resp, &j, NULL, a->http->log);
    /* A flow or a redirect for the probe address is odd, but Entra accepted the app. */
    if (rc == EXTID_OK || (rc == EXTID_AUTH_ERR && resp.status == 200))
        rc = EXTID_OK;
out:
    extid_json_delete_wiping(j);
    extid_entra_error_free(&err);
    extid_http_response_free(&resp);
    free(url);
    return rc;
}

/* /challenge, for the second factor's method when method_id is set. */
static enum extid_result challenge_call(const struct extid_app *a, const char *continuation_token,
                                        const char *method_id, struct extid_challenge *out)
{
    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof(*out));
    if (!a || !a->http || !continuation_token)
        return EXTID_SYSTEM_ERR;
    if (!have_client_id(a, "challenge"))
        return EXTID_CONFIG_ERR;

    const struct extid_form_field fields[] = {
        { "client_id", a->client_id },
        { "continuation_token", continuation_token },
        { "challenge_type", challenge_types(a) },
        { "id", method_id },
    };
    size_t n = sizeof(fields) / sizeof(fields[0]) - (method_id ? 0 : 1);
    cJSON *j = NULL;
    enum extid_result rc = call(a, "challenge", fields, n, &j, NULL, NULL);
    if (rc == EXTID_OK)
        rc = extid_challenge_from_json(j, out, a->http->log);
    extid_json_delete_wiping(j);
    if (rc != EXTID_OK || !method_id || out->kind != EXTID_CHALLENGE_PASSWORD)
        return rc;
    extid_log(a->http->log, LOG_ERR, "challenge: a password asked for as a second factor");
    extid_challenge_free(out);
    return EXTID_UNAVAILABLE;
}

enum extid_result extid_na_challenge(const struct extid_app *a, const char *continuation_token,
                                     struct extid_challenge *out)
{
    return challenge_call(a, continuation_token, NULL, out);
}

enum extid_result extid_na_challenge_method(const struct extid_app *a,
                                            const char *continuation_token, const char *method_id,
                                            struct extid_challenge *out)
{
    if (!method_id) {
        if (out)
            memset(out, 0, sizeof(*out));
        return EXTID_SYSTEM_ERR;
    }
    return challenge_call(a, continuation_token, method_id, out);
}

enum extid_result extid_na_introspect(const struct extid_app *a, const char *continuation_token,
                                      struct extid_mfa_methods *out)
{
    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof(*out));
    if (!a || !a->http || !continuation_token)
        return EXTID_SYSTEM_ERR;
    if (!have_client_id(a, "introspect"))
        return EXTID_CONFIG_ERR;

    const struct extid_form_field fields[] = {
        { "client_id", a->client_id },
        { "continuation_token", continuation_token },
    };
    cJSON *j = NULL;
    enum extid_result rc =
        call(a, "introspect", fields, sizeof(fields) / sizeof(fields[0]), &j, NULL, NULL);
    if (rc == EXTID_OK)
        rc = extid_mfa_methods_from_json(j, out, a->http->log);
    extid_json_delete_wiping(j);
    return rc;
}

enum extid_result extid_na_grant(const struct extid_app *a, enum extid_grant grant,
                                 const char *continuation_token, const char *secret,
                                 char **id_token, char **next, bool *wrong_secret)
{
    if (wrong_secret)
        *wrong_secret = false;
    if (!id_token)
        return EXTID_SYSTEM_ERR;
    *id_token = NULL;
    if (next)
        *next = NULL;
    if (!a || !a->http || !continuation_token || !secret)
        return EXTID_SYSTEM_ERR;
    if (!have_client_id(a, "token"))
        return EXTID_CONFIG_ERR;

    /* openid for the ID token; profile, because Entra puts preferred_username (the sign-in
     * address) in it only for that scope, as Microsoft's SDKs always ask; email when that claim
     * is the one checked, since Entra adds it only for the scope or an optional claim. */
    bool email = a->email_scope;
    const struct extid_form_field fields[] = {
        { "client_id", a->client_id },
        { "continuation_token", continuation_token },
        { "grant_type",
          grant == EXTID_GRANT_PASSWORD      ? "password"
              : grant == EXTID_GRANT_MFA_OOB ? "mfa_oob"
                                             : "oob" },
        /* The password goes in this body only, over the verified TLS connection. */
        { grant == EXTID_GRANT_PASSWORD ? "password" : "oob", secret },
        { "scope", email ? "openid profile email" : "openid profile" },
    };
    cJSON *j = NULL;
    /* The second factor's own /token cannot ask for yet another. */
    enum extid_result rc = call(a, "token", fields, sizeof(fields) / sizeof(fields[0]), &j,
                                grant == EXTID_GRANT_MFA_OOB ? NULL : next, wrong_secret);
    if (rc != EXTID_OK || (next && *next))
        goto out; /* a refusal, or a second factor to come instead of the ID token */
    /* Tokens without an ID token prove nothing about the person: refused. */
    rc = copy_member(a, "token", j, "id_token", EXTID_AUTH_ERR, id_token);
out:
    extid_json_delete_wiping(j);
    return rc;
}

enum extid_result extid_na_token(const struct extid_app *a, const char *continuation_token,
                                 const char *code, char **id_token, bool *wrong_code)
{
    return extid_na_grant(a, EXTID_GRANT_OOB, continuation_token, code, id_token, NULL, wrong_code);
}
