/* The claim checks, one function each (issuer, audience, authorized party, times, tenant,
 * identity), run in that order; the first that fails logs its reason and refuses the token. */
#include "claims.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "util.h"

/* Values are logged to explain a refusal; the cut keeps one line readable. */
#define VAL_LOG_MAX 200
/* 9999-12-31T23:59:59Z: a NumericDate beyond it is not a real timestamp. */
#define NUMERICDATE_MAX 253402300799.0
/* A skew of more than a day would make exp meaningless. */
#define SKEW_MAX 86400L

static const char *json_type_name(const cJSON *item)
{
    if (!item)
        return "missing";
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsBool(item))
        return "a boolean";
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsArray(item))
        return "an array";
    if (cJSON_IsObject(item))
        return "an object";
    return "invalid";
}

/* A string claim, or NULL (logged) when absent or of another type. */
static const char *string_claim(const cJSON *payload, const char *name, const struct extid_log *log)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(payload, name);

    if (!cJSON_IsString(item) || !item->valuestring) {
        extid_log(log, LOG_ERR, "id token: claim \"%s\" is %s, expected a string", name,
                  json_type_name(item));
        return NULL;
    }
    return item->valuestring;
}

/* NumericDate claim (RFC 7519 §2): a finite JSON number within [0, year 9999].
 * Returns false (logged) when it is present but unusable, or absent though required. */
static bool time_claim(const cJSON *payload, const char *name, bool required, bool *present,
                       double *value, const struct extid_log *log)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(payload, name);

    *present = false;
    if (!item) {
        if (required)
            extid_log(log, LOG_ERR, "id token: required claim \"%s\" is missing", name);
        return !required;
    }
    if (!cJSON_IsNumber(item)) {
        extid_log(log, LOG_ERR, "id token: claim \"%s\" is %s, expected a number", name,
                  json_type_name(item));
        return false;
    }
    if (!isfinite(item->valuedouble) || item->valuedouble < 0
        || item->valuedouble > NUMERICDATE_MAX) {
        extid_log(log, LOG_ERR, "id token: claim \"%s\" = %g is not a plausible time", name,
                  item->valuedouble);
        return false;
    }
    *present = true;
    *value = item->valuedouble;
    return true;
}

static bool check_issuer(const cJSON *payload, const struct extid_claim_policy *p,
                         const struct extid_log *log)
{
    const char *iss = string_claim(payload, "iss", log);

    if (!iss)
        return false;
    /* Exact: "https://x/v2.0" and "https://x/v2.0/" are different issuers. */
    if (strcmp(iss, p->issuer) != 0) {
        extid_log(log, LOG_ERR, "id token: iss \"%.*s\" is not the expected \"%.*s\"", VAL_LOG_MAX,
                  iss, VAL_LOG_MAX, p->issuer);
        return false;
    }
    return true;
}

/* Client ids are GUIDs: Entra writes them in lower case, an administrator may paste one in
 * upper case. ASCII-only folding, as for tid. */
static bool is_our_client(const char *claim, const struct extid_claim_policy *p)
{
    return extid_str_ieq(claim, p->audience);
}

/* aud is one string that must equal client_id, or an array of strings that contains it. */
static bool check_audience(const cJSON *payload, const struct extid_claim_policy *p,
                           const struct extid_log *log)
{
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(payload, "aud");
    const cJSON *item;

    if (cJSON_IsString(aud) && aud->valuestring) {
        if (is_our_client(aud->valuestring, p))
            return true;
        extid_log(log, LOG_ERR, "id token: aud \"%.*s\" is not our client_id \"%.*s\"", VAL_LOG_MAX,
                  aud->valuestring, VAL_LOG_MAX, p->audience);
        return false;
    }
    if (!cJSON_IsArray(aud)) {
        extid_log(log, LOG_ERR, "id token: claim \"aud\" is %s, expected a string or an array",
                  json_type_name(aud));
        return false;
    }
    cJSON_ArrayForEach(item, aud)
    {
        if (!cJSON_IsString(item) || !item->valuestring) {
            extid_log(log, LOG_ERR, "id token: aud array holds %s, expected strings only",
                      json_type_name(item));
            return false;
        }
    }
    cJSON_ArrayForEach(item, aud)
    {
        if (is_our_client(item->valuestring, p))
            return true;
    }
    extid_log(log, LOG_ERR,
              "id token: aud array (%d entries) does not contain our client_id "
              "\"%.*s\"",
              cJSON_GetArraySize(aud), VAL_LOG_MAX, p->audience);
    return false;
}

/* OpenID Connect Core 3.1.3.7: a token for several audiences must name the party it was issued
 * to (azp), and azp, whenever present, must be us: a token another app obtained, with our id
 * among its audiences, is not a login to this host. */
static bool check_authorized_party(const cJSON *payload, const struct extid_claim_policy *p,
                                   const struct extid_log *log)
{
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(payload, "aud");
    const cJSON *azp = cJSON_GetObjectItemCaseSensitive(payload, "azp");

    if (!azp) {
        if (cJSON_IsArray(aud) && cJSON_GetArraySize(aud) > 1) {
            extid_log(log, LOG_ERR, "id token: aud names %d audiences but there is no azp",
                      cJSON_GetArraySize(aud));
            return false;
        }
        return true;
    }
    if (!cJSON_IsString(azp) || !azp->valuestring) {
        extid_log(log, LOG_ERR, "id token: claim \"azp\" is %s, expected a string",
                  json_type_name(azp));
        return false;
    }
    if (!is_our_client(azp->valuestring, p)) {
        extid_log(log, LOG_ERR, "id token: azp \"%.*s\" is not our client_id \"%.*s\"", VAL_LOG_MAX,
                  azp->valuestring, VAL_LOG_MAX, p->audience);
        return false;
    }
    return true;
}

/* exp > now - skew; nbf <= now + skew; iat <= now + skew.
 * exp and iat are required. nbf is checked when present: Entra always sends it, but RFC 7519
 * and OpenID Connect make it optional, and its absence grants nothing that exp/iat allow. */
static bool check_times(const cJSON *payload, const struct extid_claim_policy *p,
                        const struct extid_log *log)
{
    double exp = 0, nbf = 0, iat = 0;
    bool has_exp, has_nbf, has_iat;
    double now = (double)p->now, skew = (double)p->clock_skew;

    if (!time_claim(payload, "exp", true, &has_exp, &exp, log)
        || !time_claim(payload, "nbf", false, &has_nbf, &nbf, log)
        || !time_claim(payload, "iat", true, &has_iat, &iat, log))
        return false;
    if (exp <= now - skew) {
        extid_log(log, LOG_ERR, "id token: expired: exp %.0f, now %.0f, clock_skew %ld", exp, now,
                  p->clock_skew);
        return false;
    }
    if (has_nbf && nbf > now + skew) {
        extid_log(log, LOG_ERR, "id token: not yet valid: nbf %.0f, now %.0f, clock_skew %ld", nbf,
                  now, p->clock_skew);
        return false;
    }
    if (iat > now + skew) {
        extid_log(log, LOG_ERR,
                  "id token: issued in the future: iat %.0f, now %.0f, "
                  "clock_skew %ld",
                  iat, now, p->clock_skew);
        return false;
    }
    return true;
}

/* Tenant ids are GUIDs, whose hex digits may be written in either case in the config:
 * compared case-insensitively. */
static bool check_tenant(const cJSON *payload, const struct extid_claim_policy *p,
                         const struct extid_log *log)
{
    const char *tid;

    if (!p->tenant_id)
        return true;
    tid = string_claim(payload, "tid", log);
    if (!tid)
        return false;
    if (!extid_str_ieq(tid, p->tenant_id)) {
        extid_log(log, LOG_ERR, "id token: tid \"%.*s\" is not the expected tenant \"%.*s\"",
                  VAL_LOG_MAX, tid, VAL_LOG_MAX, p->tenant_id);
        return false;
    }
    return true;
}

/* Email addresses are compared case-insensitively, as the users file does. */
static bool check_identity(const cJSON *payload, const struct extid_claim_policy *p,
                           const struct extid_log *log)
{
    const char *who = string_claim(payload, p->identity_claim, log);

    if (!who)
        return false;
    if (!extid_str_ieq(who, p->email)) {
        extid_log(log, LOG_ERR, "id token: %s \"%.*s\" is not the challenged address \"%.*s\"",
                  p->identity_claim, VAL_LOG_MAX, who, VAL_LOG_MAX, p->email);
        return false;
    }
    return true;
}

enum extid_result extid_claims_check(const struct cJSON *payload,
                                     const struct extid_claim_policy *policy,
                                     const struct extid_log *log)
{
    if (!payload || !cJSON_IsObject(payload)) {
        extid_log(log, LOG_ERR, "id token: claims are not a JSON object");
        return EXTID_AUTH_ERR;
    }
    if (!policy || !policy->issuer || !*policy->issuer || !policy->audience || !*policy->audience
        || !policy->identity_claim || !*policy->identity_claim || !policy->email
        || !*policy->email) {
        extid_log(log, LOG_ERR,
                  "id token: claim policy incomplete (issuer, audience, "
                  "identity claim and email are all required)");
        return EXTID_AUTH_ERR;
    }
    if (policy->clock_skew < 0 || policy->clock_skew > SKEW_MAX) {
        extid_log(log, LOG_ERR, "id token: clock_skew %ld outside 0..%ld", policy->clock_skew,
                  SKEW_MAX);
        return EXTID_AUTH_ERR;
    }
    if (policy->now <= 0) {
        extid_log(log, LOG_ERR, "id token: no current time to check the token against");
        return EXTID_AUTH_ERR;
    }
    if (!check_issuer(payload, policy, log) || !check_audience(payload, policy, log)
        || !check_authorized_party(payload, policy, log) || !check_times(payload, policy, log)
        || !check_tenant(payload, policy, log) || !check_identity(payload, policy, log))
        return EXTID_AUTH_ERR;
    return EXTID_OK;
}
