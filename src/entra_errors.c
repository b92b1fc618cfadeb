/* Entra's error answers: their parsing, and what each means for the login, in one table of AADSTS
 * codes and one of error strings, each naming the setting to fix when the app registration or
 * tenant is wrong. docs/entra-signin-flows.md says what Entra answers. */
#include "entra_errors.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entra_json.h"
#include "util.h"

/* Server strings are kept for logs only; cap them so one answer cannot flood syslog. */
#define DESCRIPTION_MAX 1024
#define SUMMARY_MAX 300

/* Copy of a string member, truncated to max and stripped of control characters; NULL if the
 * member is absent or not a string. *oom is set when the copy failed. */
static char *copy_text(const cJSON *obj, const char *name, size_t max, bool *oom)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(it) || !it->valuestring)
        return NULL;
    char *s = strndup(it->valuestring, max);
    if (!s) {
        *oom = true;
        return NULL;
    }
    extid_strip_controls_inplace(s);
    return s;
}

/* The first line of a member: Entra's descriptions put the message first and trace, correlation
 * ids and time stamp on the lines after CR LF, which the log has on their own. */
static char *copy_first_line(const cJSON *obj, const char *name, size_t max, bool *oom)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(it) || !it->valuestring)
        return NULL;
    size_t n = strcspn(it->valuestring, "\r\n");
    char *s = strndup(it->valuestring, n < max ? n : max);
    if (!s) {
        *oom = true;
        return NULL;
    }
    extid_strip_controls_inplace(s);
    return s;
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

void extid_entra_error_free(struct extid_entra_error *e)
{
    if (!e)
        return;
    free(e->error);
    free(e->suberror);
    free(e->description);
    free(e->summary);
    free(e->trace_id);
    free(e->correlation_id);
    memset(e, 0, sizeof(*e));
}

/* The first EXTID_ENTRA_CODES_MAX AADSTS numbers of error_codes; first_error_code is the first
 * element when it is a number. AADSTS numbers are positive integers; anything else is skipped. */
static void read_codes(const cJSON *obj, struct extid_entra_error *out)
{
    const cJSON *codes = cJSON_GetObjectItemCaseSensitive(obj, "error_codes");
    const cJSON *it;
    long code = 0;

    if (!cJSON_IsArray(codes))
        return;
    if (extid_json_int(cJSON_GetArrayItem(codes, 0), 0, 2147483647L, &code))
        out->first_error_code = code;
    cJSON_ArrayForEach(it, codes)
    {
        if (out->ncodes == EXTID_ENTRA_CODES_MAX)
            break;
        if (extid_json_int(it, 1, 2147483647L, &code))
            out->codes[out->ncodes++] = code;
    }
}

enum extid_result extid_entra_error_parse(const char *body, size_t len,
                                          struct extid_entra_error *out)
{
    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof(*out));
    enum extid_result rc = EXTID_UNAVAILABLE;
    bool oom = false;
    cJSON *j = extid_json_parse_exact(body, len);
    if (!cJSON_IsObject(j))
        goto out;
    out->error = copy_text(j, "error", EXTID_ENTRA_FIELD_MAX, &oom);
    out->suberror = copy_text(j, "suberror", EXTID_ENTRA_FIELD_MAX, &oom);
    out->description = copy_text(j, "error_description", DESCRIPTION_MAX, &oom);
    out->summary = copy_first_line(j, "error_description", SUMMARY_MAX, &oom);
    out->trace_id = copy_text(j, "trace_id", EXTID_ENTRA_FIELD_MAX, &oom);
    out->correlation_id = copy_text(j, "correlation_id", EXTID_ENTRA_FIELD_MAX, &oom);
    read_codes(j, out);
    if (oom)
        rc = EXTID_SYSTEM_ERR;
    else if (out->error && *out->error)
        rc = EXTID_OK;
out:
    extid_json_delete_wiping(j);
    if (rc != EXTID_OK)
        extid_entra_error_free(out);
    return rc;
}

/* The one line every failed answer gets: enough to find it in Entra's sign-in logs. With
 * `summary`, Entra's own first line of description follows, for the administrator who has to
 * fix the app registration; other refusals keep it at debug level. */
static void log_failure(const struct extid_log *log, int prio, const char *endpoint, long status,
                        const struct extid_entra_error *e, const char *what, bool summary)
{
    const char *said = summary && e ? e->summary : NULL;

    extid_log(log, prio,
              "%s: HTTP %ld: %s (error=%s suberror=%s error_code=%ld trace_id=%s "
              "correlation_id=%s)%s%s%s",
              endpoint, status, what, or_dash(e ? e->error : NULL), or_dash(e ? e->suberror : NULL),
              e ? e->first_error_code : 0L, or_dash(e ? e->trace_id : NULL),
              or_dash(e ? e->correlation_id : NULL), said && *said ? "; Entra says: \"" : "",
              said && *said ? said : "", said && *said ? "\"" : "");
    if (e && e->description)
        extid_debug(log, "%s: error_description: %s", endpoint, e->description);
}

struct error_rule {
    const char *error;
    const char *suberror; /* NULL: any */
    enum extid_result result;
    int prio;
    const char *what;
};

/* AADSTS codes that name the cause whatever `error` says (Entra is not consistent about which
 * error a misconfiguration comes under, and several come under invalid_grant). They are matched
 * in error_codes and in the description's "AADSTSnnnn", before the error strings. */
struct code_rule {
    long code;
    enum extid_result result;
    int prio;
    const char *what;
};

#define WRONG_PASSWORD 50126

static const struct code_rule code_rules[] = {
    { 700016, EXTID_CONFIG_ERR, LOG_ERR,
      "this client_id does not exist in this tenant: set client_id to the app registration's "
      "Application (client) ID, and check that tenant or authority names the tenant holding it" },
    { 90002, EXTID_CONFIG_ERR, LOG_ERR,
      "tenant not found: check tenant (or authority) against the tenant's primary domain" },
    { 65001, EXTID_CONFIG_ERR, LOG_ERR,
      "consent missing: in the app registration's API permissions add the delegated "
      "permissions openid and profile (and email with identity_claim = email) and grant admin "
      "consent; nobody can consent during a login" },
    { 90094, EXTID_CONFIG_ERR, LOG_ERR,
      "admin consent required: grant admin consent for the app registration's delegated "
      "permissions openid and profile (and email with identity_claim = email)" },
    { 550022, EXTID_CONFIG_ERR, LOG_ERR,
      "the app registration is a confidential client: set 'Allow public client flows' to Yes "
      "and remove its client secrets and certificates, or register a public client" },
    { 500210, EXTID_CONFIG_ERR, LOG_ERR,
      "the authority's custom domain does not match the tenant in its path: set authority to "
      "https://<custom domain>/<tenant ID>" },
    { 50053, EXTID_AUTH_ERR, LOG_WARNING,
      "the account is locked at Entra (too many failed sign-ins); it unlocks after a while, or "
      "an administrator unlocks it" },
    /* A wrong password has no suberror, only this code (as Microsoft's SDKs read it). */
    { WRONG_PASSWORD, EXTID_AUTH_ERR, LOG_NOTICE, "wrong password" },
};

/* Entra's documented error and suberror values, matched without regard to letter case (as
 * Microsoft's Android SDK does); the first matching rule wins. */
static const struct error_rule error_rules[] = {
    { "invalid_grant", "invalid_oob_value", EXTID_AUTH_ERR, LOG_NOTICE, "wrong code" },
    { "invalid_grant", "mfa_required", EXTID_AUTH_ERR, LOG_NOTICE,
      "the account needs a second factor" },
    { "invalid_grant", "registration_required", EXTID_AUTH_ERR, LOG_WARNING,
      "the account must register a second factor in a browser first, refused" },
    { "invalid_grant", NULL, EXTID_AUTH_ERR, LOG_NOTICE, "grant refused" },
    { "user_not_found", NULL, EXTID_AUTH_ERR, LOG_NOTICE, "no such user at Entra" },
    { "expired_token", NULL, EXTID_AUTH_ERR, LOG_NOTICE, "login flow expired" },
    { "access_denied", NULL, EXTID_AUTH_ERR, LOG_WARNING, "access denied" },
    { "invalid_request", NULL, EXTID_AUTH_ERR, LOG_WARNING, "request refused" },
    { "invalid_client", "nativeauthapi_disabled", EXTID_CONFIG_ERR, LOG_ERR,
      "native authentication is off for this app: in the app registration set "
      "Authentication > Advanced settings > Enable native authentication to Yes" },
    { "invalid_client", NULL, EXTID_CONFIG_ERR, LOG_ERR,
      "the app registration refuses native authentication: it must be a public client "
      "('Allow public client flows' Yes) with native authentication enabled; check client_id" },
    { "unauthorized_client", NULL, EXTID_CONFIG_ERR, LOG_ERR,
      "this client_id may not use native authentication here: check client_id, and that the app "
      "registration allows public client flows and has native authentication enabled" },
    { "invalid_tenant", NULL, EXTID_CONFIG_ERR, LOG_ERR,
      "tenant not found: check tenant (or authority) against the tenant's primary domain" },
    { "unsupported_challenge_type", NULL, EXTID_CONFIG_ERR, LOG_ERR,
      "Entra refused the challenge types: link the app registration to a user flow that offers "
      "the sign-in methods of the methods setting (Email one-time passcode, Email with "
      "password)" },
    { "invalid_scope", NULL, EXTID_CONFIG_ERR, LOG_ERR,
      "scope refused: the app registration needs the delegated permissions openid and profile "
      "(and email with identity_claim = email), with admin consent" },
    { "unsupported_grant_type", NULL, EXTID_CONFIG_ERR, LOG_ERR, "grant type refused" },
    /* Transient trouble at Entra: the stack may fall back, the person may retry later. */
    { "server_error", NULL, EXTID_UNAVAILABLE, LOG_ERR, "Entra reported a server error" },
    { "temporarily_unavailable", NULL, EXTID_UNAVAILABLE, LOG_ERR, "Entra is busy" },
    { "slow_down", NULL, EXTID_UNAVAILABLE, LOG_ERR, "Entra asked to slow down" },
};

/* "AADSTS<code>" in text, not followed by another digit. */
static bool text_names_code(const char *text, long code)
{
    char tag[32];
    size_t n;

    if (!text)
        return false;
    n = (size_t)snprintf(tag, sizeof tag, "AADSTS%ld", code);
    for (const char *p = strstr(text, tag); p; p = strstr(p + 1, tag))
        if (p[n] < '0' || p[n] > '9')
            return true;
    return false;
}

static bool names_code(const struct extid_entra_error *e, long code)
{
    for (size_t i = 0; i < e->ncodes; i++)
        if (e->codes[i] == code)
            return true;
    return text_names_code(e->description, code);
}

/* The refusals that leave the flow open, told apart by the rule that matched them. */
static enum extid_na_opening opening_of(const char *suberror, long code)
{
    if (code == WRONG_PASSWORD || (suberror && strcmp(suberror, "invalid_oob_value") == 0))
        return EXTID_NA_WRONG_SECRET;
    if (suberror && strcmp(suberror, "mfa_required") == 0)
        return EXTID_NA_MFA_REQUIRED;
    return EXTID_NA_FINAL;
}

static enum extid_result interpret_error(const char *endpoint, long status,
                                         const struct extid_entra_error *e,
                                         enum extid_na_opening *opening,
                                         const struct extid_log *log)
{
    for (size_t i = 0; i < sizeof(code_rules) / sizeof(code_rules[0]); i++) {
        const struct code_rule *r = &code_rules[i];
        if (!names_code(e, r->code))
            continue;
        log_failure(log, r->prio, endpoint, status, e, r->what, r->result == EXTID_CONFIG_ERR);
        *opening = opening_of(NULL, r->code);
        return r->result;
    }
    for (size_t i = 0; i < sizeof(error_rules) / sizeof(error_rules[0]); i++) {
        const struct error_rule *r = &error_rules[i];
        if (!extid_str_ieq(r->error, e->error))
            continue;
        if (r->suberror && !extid_str_ieq(r->suberror, e->suberror))
            continue;
        log_failure(log, r->prio, endpoint, status, e, r->what, r->result == EXTID_CONFIG_ERR);
        *opening = opening_of(r->suberror, 0);
        return r->result;
    }
    log_failure(log, LOG_WARNING, endpoint, status, e, "unknown error, refused", false);
    return EXTID_AUTH_ERR;
}

enum extid_result extid_na_interpret(const char *endpoint, const struct extid_http_response *resp,
                                     struct cJSON **json, enum extid_na_opening *opening,
                                     const struct extid_log *log)
{
    enum extid_na_opening open = EXTID_NA_FINAL;

    if (opening)
        *opening = EXTID_NA_FINAL;
    if (!json)
        return EXTID_SYSTEM_ERR;
    *json = NULL;
    if (!endpoint || !resp)
        return EXTID_SYSTEM_ERR;

    enum extid_result rc = EXTID_UNAVAILABLE;
    struct extid_entra_error err = { 0 };
    cJSON *j = NULL;
    char what[96];
    long status = resp->status;

    if (status == 200) {
        j = extid_json_parse_exact(resp->body, resp->len);
        if (!cJSON_IsObject(j)) {
            log_failure(log, LOG_ERR, endpoint, status, NULL, "answer is not a JSON object", false);
            goto out;
        }
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(j, "challenge_type");
        if (cJSON_IsString(ct) && extid_str_ieq(ct->valuestring, "redirect")) {
            bool oom = false;
            char *reason = copy_text(j, "redirect_reason", EXTID_ENTRA_FIELD_MAX, &oom);
            log_failure(log, LOG_WARNING, endpoint, status, NULL,
                        "Entra requires a browser sign-in (challenge_type redirect), refused",
                        false);
            /* The only hint of why (MFA, Conditional Access, a missing capability): the
             * administrator needs it without turning debug on. */
            if (reason && *reason)
                extid_log(log, LOG_NOTICE, "%s: redirect_reason: %s", endpoint, reason);
            free(reason);
            rc = EXTID_AUTH_ERR;
            goto out;
        }
        *json = j;
        j = NULL;
        rc = EXTID_OK;
        goto out;
    }

    /* Error details help the log whatever the status; a missing body is fine here. */
    enum extid_result perr = extid_entra_error_parse(resp->body, resp->len, &err);
    if (perr == EXTID_SYSTEM_ERR) {
        extid_log(log, LOG_ERR, "%s: HTTP %ld: out of memory", endpoint, status);
        rc = EXTID_SYSTEM_ERR;
        goto out;
    }
    const struct extid_entra_error *e = perr == EXTID_OK ? &err : NULL;
    if ((status == 400 || status == 401) && e) {
        rc = interpret_error(endpoint, status, e, &open, log);
        if (opening)
            *opening = open;
        goto out;
    }
    if (status == 400 || status == 401)
        snprintf(what, sizeof(what), "error answer without a JSON error object (%zu bytes)",
                 resp->len);
    else if (status == 429 && resp->retry_after >= 0)
        snprintf(what, sizeof(what), "throttled, retry after %ld s", resp->retry_after);
    else if (status == 429)
        snprintf(what, sizeof(what), "throttled");
    else if (status >= 500)
        snprintf(what, sizeof(what), "server error");
    else
        snprintf(what, sizeof(what), "unexpected HTTP status");
    log_failure(log, LOG_ERR, endpoint, status, e, what, false);
    rc = EXTID_UNAVAILABLE;
out:
    extid_json_delete_wiping(j);
    extid_entra_error_free(&err);
    return rc;
}
