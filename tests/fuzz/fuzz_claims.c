/* An ID token's claims: extid_claims_check on a parsed JSON payload. The first byte picks the
 * policy variant (identity claim, tenant check). */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "claims.h"
#include "fuzz.h"

static const cJSON *member(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

/* An independent look at accepted claims: a check that lets through what it should refuse
 * makes the fuzzer stop here. */
/* Whether the aud claim names the policy's audience (a string, or an array holding it). */
static bool names_audience(const cJSON *aud, const char *audience)
{
    const cJSON *item;

    if (cJSON_IsString(aud))
        return strcasecmp(aud->valuestring, audience) == 0;
    if (!cJSON_IsArray(aud))
        return false;
    cJSON_ArrayForEach(item, aud) if (cJSON_IsString(item)
                                      && strcasecmp(item->valuestring, audience) == 0) return true;
    return false;
}

static void check_accepted(const cJSON *c, const struct extid_claim_policy *p)
{
    const cJSON *iss = member(c, "iss"), *tid = member(c, "tid"), *aud = member(c, "aud");
    const cJSON *azp = member(c, "azp"), *nbf = member(c, "nbf"), *iat = member(c, "iat");
    const cJSON *who = member(c, p->identity_claim), *exp = member(c, "exp");

    if (!cJSON_IsString(iss) || strcmp(iss->valuestring, p->issuer) != 0)
        abort();
    /* A GUID: its hex digits compare without case. */
    if (p->tenant_id && (!cJSON_IsString(tid) || strcasecmp(tid->valuestring, p->tenant_id) != 0))
        abort();
    if (!cJSON_IsString(who) || strcasecmp(who->valuestring, p->email) != 0)
        abort();
    if (!cJSON_IsNumber(exp) || !(exp->valuedouble > (double)(p->now - p->clock_skew)))
        abort();
    if (!names_audience(aud, p->audience))
        abort();
    if (cJSON_IsArray(aud) && cJSON_GetArraySize(aud) > 1 && !azp)
        abort();
    if (azp && (!cJSON_IsString(azp) || strcasecmp(azp->valuestring, p->audience) != 0))
        abort();
    if (nbf && (!cJSON_IsNumber(nbf) || nbf->valuedouble > (double)(p->now + p->clock_skew)))
        abort();
    if (!cJSON_IsNumber(iat) || iat->valuedouble > (double)(p->now + p->clock_skew))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0;
    struct extid_log log = fuzz_log(&total);
    struct extid_claim_policy policy = {
        .issuer = "https://mocktenant.ciamlogin.com/11112222-bbbb-3333-cccc-4444dddd5555/v2.0",
        .audience = "00001111-aaaa-2222-bbbb-3333cccc4444",
        .tenant_id = "11112222-bbbb-3333-cccc-4444dddd5555",
        .identity_claim = "preferred_username",
        .email = "alice@example.com",
        .clock_skew = 300,
        .now = 1750000000,
    };
    char *text;
    cJSON *payload;

    if (size < 1)
        return 0;
    if (data[0] & 1)
        policy.identity_claim = "email";
    if (data[0] & 2)
        policy.tenant_id = NULL;
    if (data[0] & 4)
        policy.clock_skew = 0;
    text = fuzz_cstr(data + 1, size - 1);
    payload = cJSON_Parse(text);
    if (payload) {
        enum extid_result rc = extid_claims_check(payload, &policy, &log);
        if (rc == EXTID_OK)
            check_accepted(payload, &policy);
        else if (rc != EXTID_AUTH_ERR)
            abort();
    }
    cJSON_Delete(payload);
    free(text);
    return 0;
}
