/* ID-token verification in order: header (alg, typ, crit, kid), the key named by kid, the RS256
 * signature, then the claim policy; nothing of the payload is trusted before the signature. */
#include "idtoken.h"

#include <stdbool.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "jwks.h"
#include "jwt.h"
#include "util.h"

#define HDR_LOG_MAX 64
/* A kid is a short identifier; a huge one is not from Entra. */
#define KID_MAX 256

/* Only RS256 with a named key: "none", HMAC (which a JWKS public key could be abused as a
 * secret for) and every other algorithm are refused before any key is looked up. */
static bool check_header(const cJSON *header, const char **kid, const struct extid_log *log)
{
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
    const cJSON *typ = cJSON_GetObjectItemCaseSensitive(header, "typ");
    const cJSON *jkid = cJSON_GetObjectItemCaseSensitive(header, "kid");

    if (!cJSON_IsString(alg) || !alg->valuestring) {
        extid_log(log, LOG_ERR, "id token: header \"alg\" missing or not a string");
        return false;
    }
    if (strcmp(alg->valuestring, "RS256") != 0) {
        extid_log(log, LOG_ERR, "id token: alg \"%.*s\" refused, only RS256 is accepted",
                  HDR_LOG_MAX, alg->valuestring);
        return false;
    }
    /* Media type names are case-insensitive (RFC 7515 §4.1.9). */
    if (typ
        && (!cJSON_IsString(typ) || !typ->valuestring || !extid_str_ieq(typ->valuestring, "JWT"))) {
        extid_log(log, LOG_ERR, "id token: header \"typ\" is not \"JWT\"");
        return false;
    }
    /* We implement no extensions, so any critical one must make us refuse (RFC 7515 §4.1.11). */
    if (cJSON_GetObjectItemCaseSensitive(header, "crit")) {
        extid_log(log, LOG_ERR, "id token: header has \"crit\" extensions, none is supported");
        return false;
    }
    if (!cJSON_IsString(jkid) || !jkid->valuestring || !*jkid->valuestring) {
        extid_log(log, LOG_ERR, "id token: header \"kid\" missing, empty or not a string");
        return false;
    }
    if (strlen(jkid->valuestring) > KID_MAX) {
        extid_log(log, LOG_ERR, "id token: header \"kid\" longer than %d bytes", KID_MAX);
        return false;
    }
    *kid = jkid->valuestring;
    return true;
}

enum extid_result extid_idtoken_check_signature(const struct extid_jwt *jwt, const char *jwks_json,
                                                size_t jwks_len, bool *unknown_kid,
                                                const struct extid_log *log)
{
    enum extid_result rc;
    EVP_PKEY *key = NULL;
    const char *kid = NULL;

    if (unknown_kid)
        *unknown_kid = false;
    if (!jwt || !check_header(jwt->header, &kid, log))
        return EXTID_AUTH_ERR;
    /* An unknown kid and EXTID_UNAVAILABLE go up unchanged: the caller may refetch. */
    rc = extid_jwks_find_key(jwks_json, jwks_len, kid, &key, unknown_kid, log);
    if (rc == EXTID_OK)
        rc = extid_jwt_verify_rs256(jwt, key, log);
    EVP_PKEY_free(key);
    return rc;
}

enum extid_result extid_idtoken_verify(const char *token, const char *jwks_json, size_t jwks_len,
                                       const struct extid_claim_policy *policy,
                                       const struct extid_log *log)
{
    return extid_idtoken_verify_claims(token, jwks_json, jwks_len, policy, log, NULL, NULL);
}

enum extid_result extid_idtoken_verify_claims(const char *token, const char *jwks_json,
                                              size_t jwks_len,
                                              const struct extid_claim_policy *policy,
                                              const struct extid_log *log, struct cJSON **claims,
                                              bool *unknown_kid)
{
    enum extid_result rc;
    struct extid_jwt jwt;

    if (claims)
        *claims = NULL;
    if (unknown_kid)
        *unknown_kid = false;
    if (!policy) {
        extid_log(log, LOG_ERR, "id token: no claim policy");
        return EXTID_AUTH_ERR;
    }
    rc = extid_jwt_parse(token, &jwt, log);
    if (rc != EXTID_OK)
        return rc;
    rc = extid_idtoken_check_signature(&jwt, jwks_json, jwks_len, unknown_kid, log);
    if (rc == EXTID_OK)
        rc = extid_claims_check(jwt.payload, policy, log);
    if (rc == EXTID_OK)
        extid_debug(log, "id token: signature (kid \"%s\") and claims verified",
                    cJSON_GetObjectItemCaseSensitive(jwt.header, "kid")->valuestring);
    if (rc == EXTID_OK && claims) { /* handed over only now that every check passed */
        *claims = jwt.payload;
        jwt.payload = NULL;
    }
    extid_jwt_free(&jwt);
    return rc;
}
