/* The whole ID-token verification, extid_idtoken_verify, with a fixed JWKS (kids "key-a" and
 * "key-b") and claim policy. First byte even: the rest is the token as received. Odd: the rest
 * is "header JSON\npayload JSON", which the harness signs with key-a, so that mutated headers
 * and claims get past the signature and reach the header and claim checks. */
#include <strings.h>

#include "../unit/token_fixture.h"
#include "fuzz.h"
#include "idtoken.h"
#include "jwt.h"

/* Harness state, made once. */
static EVP_PKEY *sign_key;
static char *jwks;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    EVP_PKEY *other = fx_key(FX_KEY_B_PEM);

    (void)argc;
    (void)argv;
    sign_key = fx_key(FX_KEY_A_PEM);
    if (!sign_key || !other)
        abort();
    jwks = fx_jwks(fx_jwk(sign_key, FX_KID), fx_jwk(other, "key-b"), (cJSON *)NULL);
    EVP_PKEY_free(other);
    if (!jwks)
        abort();
    return 0;
}

static bool contains(const cJSON *array, const char *want)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, array) if (cJSON_IsString(it)
                                      && strcmp(it->valuestring, want) == 0) return true;
    return false;
}

/* An independent look at an accepted token: RS256, the policy's issuer, audience, tenant and
 * identity. Catches a check that lets through what the harness signed. */
static void check_accepted(const char *token)
{
    size_t total = 0;
    struct extid_log log = fuzz_log(&total);
    struct extid_jwt jwt;
    const cJSON *alg, *iss, *aud, *tid, *who;

    if (extid_jwt_parse(token, &jwt, &log) != EXTID_OK)
        abort();
    alg = cJSON_GetObjectItemCaseSensitive(jwt.header, "alg");
    iss = cJSON_GetObjectItemCaseSensitive(jwt.payload, "iss");
    aud = cJSON_GetObjectItemCaseSensitive(jwt.payload, "aud");
    tid = cJSON_GetObjectItemCaseSensitive(jwt.payload, "tid");
    who = cJSON_GetObjectItemCaseSensitive(jwt.payload, "preferred_username");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "RS256") != 0)
        abort();
    if (!cJSON_IsString(iss) || strcmp(iss->valuestring, FX_ISSUER) != 0)
        abort();
    if (cJSON_IsString(aud) ? strcmp(aud->valuestring, FX_CLIENT) != 0 : !contains(aud, FX_CLIENT))
        abort();
    if (!cJSON_IsString(tid) || strcasecmp(tid->valuestring, FX_TENANT) != 0)
        abort();
    if (!cJSON_IsString(who) || strcasecmp(who->valuestring, FX_EMAIL) != 0)
        abort();
    extid_jwt_free(&jwt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0, rest_size;
    struct extid_log log = fuzz_log(&total);
    struct extid_claim_policy policy = fx_policy();
    const uint8_t *rest;
    char *token, *header = NULL, *payload = NULL;
    enum extid_result rc;

    if (size < 1)
        return 0;
    if (data[0] & 1) {
        header = fuzz_first_line(data + 1, size - 1, 4096, &rest, &rest_size);
        payload = fuzz_cstr(rest, rest_size);
        token = fx_sign(header, payload, sign_key);
        if (!token)
            abort();
    } else {
        token = fuzz_cstr(data + 1, size - 1);
    }
    rc = extid_idtoken_verify(token, jwks, strlen(jwks), &policy, &log);
    if (rc == EXTID_OK)
        check_accepted(token);
    else if (rc != EXTID_AUTH_ERR)
        abort();
    free(token);
    free(header);
    free(payload);
    return 0;
}
