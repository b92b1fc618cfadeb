/* Key-set lookup: the entry with the wanted kid, checked (kty, use, alg, key_ops, size, weak
 * moduli) and imported into an OpenSSL public key. */
#include "jwks.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "b64url.h"
#include "weakkey.h"

/* Entra's key set is a few kilobytes; anything far larger is not a key set we should parse. */
#define JWKS_MAX_BYTES (256u * 1024u)
#define JWKS_MAX_KEYS 64
#define RSA_MIN_BITS 2048
/* Above this, verification cost becomes a denial-of-service lever. */
#define RSA_MAX_BITS 16384
#define KID_LOG_MAX 128

/* Parses exactly len bytes: cJSON alone accepts trailing garbage after the value. */
static cJSON *parse_exact(const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, false);

    if (!doc)
        return NULL;
    for (; end && end < text + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            cJSON_Delete(doc);
            return NULL;
        }
    }
    return doc;
}

/* Decodes the base64url member name of jwk into *bn; false (logged) when absent or malformed. */
static bool b64url_bignum(const cJSON *jwk, const char *name, const char *kid, BIGNUM **bn,
                          const struct extid_log *log)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(jwk, name);
    unsigned char *raw = NULL;
    size_t raw_len = 0;

    if (!cJSON_IsString(item) || !item->valuestring) {
        extid_log(log, LOG_ERR, "jwks: key kid=\"%.*s\": \"%s\" missing or not a string",
                  KID_LOG_MAX, kid, name);
        return false;
    }
    if (!extid_b64url_decode(item->valuestring, strlen(item->valuestring), &raw, &raw_len)
        || raw_len == 0) {
        extid_log(log, LOG_ERR, "jwks: key kid=\"%.*s\": \"%s\" is not valid base64url",
                  KID_LOG_MAX, kid, name);
        free(raw);
        return false;
    }
    *bn = BN_bin2bn(raw, (int)raw_len, NULL);
    free(raw);
    if (!*bn) {
        extid_log(log, LOG_ERR, "jwks: out of memory decoding \"%s\"", name);
        return false;
    }
    return true;
}

/* "use"/"alg" may be absent; when present they must say what we do with the key. */
static bool optional_member_is(const cJSON *jwk, const char *name, const char *want,
                               const char *kid, const struct extid_log *log)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(jwk, name);

    if (!item)
        return true;
    if (!cJSON_IsString(item) || !item->valuestring) {
        extid_log(log, LOG_ERR, "jwks: key kid=\"%.*s\": \"%s\" is not a string", KID_LOG_MAX, kid,
                  name);
        return false;
    }
    if (strcmp(item->valuestring, want) != 0) {
        extid_log(log, LOG_ERR, "jwks: key kid=\"%.*s\": %s=\"%.64s\", expected \"%s\"",
                  KID_LOG_MAX, kid, name, item->valuestring, want);
        return false;
    }
    return true;
}

/* RFC 7517 §4.3: a key whose "key_ops" is present may be used only for the operations listed,
 * so without "verify" it is not a signature-checking key, whatever "use" says (or omits). */
static bool key_ops_allow_verify(const cJSON *jwk, const char *kid, const struct extid_log *log)
{
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(jwk, "key_ops"), *op;

    if (!ops)
        return true;
    if (!cJSON_IsArray(ops)) {
        extid_log(log, LOG_ERR, "jwks: key kid=\"%.*s\": \"key_ops\" is not an array", KID_LOG_MAX,
                  kid);
        return false;
    }
    cJSON_ArrayForEach(op, ops)
    {
        if (cJSON_IsString(op) && op->valuestring && strcmp(op->valuestring, "verify") == 0)
            return true;
    }
    extid_log(log, LOG_ERR, "jwks: key kid=\"%.*s\": \"key_ops\" does not include \"verify\"",
              KID_LOG_MAX, kid);
    return false;
}

static EVP_PKEY *rsa_key_from_bignums(const BIGNUM *n, const BIGNUM *e, const struct extid_log *log)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;

    if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)
        || !(params = OSSL_PARAM_BLD_to_param(bld))
        || !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL))
        || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        extid_log(log, LOG_ERR, "jwks: OpenSSL could not build the RSA key: %s",
                  ERR_reason_error_string(ERR_peek_last_error())
                      ? ERR_reason_error_string(ERR_peek_last_error())
                      : "unknown error");
        ERR_clear_error();
        EVP_PKEY_free(key);
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return key;
}

/* Validates one JWK whose kid matched and converts it; NULL (logged) when it is unusable. */
static EVP_PKEY *jwk_to_key(const cJSON *jwk, const char *kid, const struct extid_log *log)
{
    const cJSON *kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY *key = NULL;
    int bits;

    if (!cJSON_IsString(kty) || !kty->valuestring || strcmp(kty->valuestring, "RSA") != 0) {
        extid_log(log, LOG_ERR, "jwks: key kid=\"%.*s\": kty is not \"RSA\"", KID_LOG_MAX, kid);
        goto out;
    }
    if (!optional_member_is(jwk, "use", "sig", kid, log)
        || !optional_member_is(jwk, "alg", "RS256", kid, log)
        || !key_ops_allow_verify(jwk, kid, log))
        goto out;
    if (!b64url_bignum(jwk, "n", kid, &n, log) || !b64url_bignum(jwk, "e", kid, &e, log))
        goto out;
    bits = BN_num_bits(n);
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        extid_log(log, LOG_ERR,
                  "jwks: key kid=\"%.*s\": RSA modulus of %d bits refused "
                  "(allowed %d..%d)",
                  KID_LOG_MAX, kid, bits, RSA_MIN_BITS, RSA_MAX_BITS);
        goto out;
    }
    /* An even or tiny exponent is never a real RSA signing key; e must also be below n. */
    if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_cmp(e, n) >= 0) {
        extid_log(log, LOG_ERR,
                  "jwks: key kid=\"%.*s\": RSA public exponent refused "
                  "(must be odd, at least 3 and below the modulus)",
                  KID_LOG_MAX, kid);
        goto out;
    }
    if (extid_rsa_modulus_is_weak(n)) {
        extid_log(log, LOG_ERR,
                  "jwks: key kid=\"%.*s\": RSA modulus has the structure of a "
                  "known-weak key generator (ROCA); refused",
                  KID_LOG_MAX, kid);
        goto out;
    }
    key = rsa_key_from_bignums(n, e, log);
out:
    BN_free(n);
    BN_free(e);
    return key;
}

EVP_PKEY *extid_jwk_import(const struct cJSON *jwk, const struct extid_log *log)
{
    const cJSON *jkid = cJSON_GetObjectItemCaseSensitive(jwk, "kid");

    if (!cJSON_IsObject(jwk)) {
        extid_log(log, LOG_ERR, "jwks: a key is not a JSON object");
        return NULL;
    }
    return jwk_to_key(jwk, cJSON_IsString(jkid) && jkid->valuestring ? jkid->valuestring : "", log);
}

enum extid_result extid_jwks_find_key(const char *jwks_json, size_t len, const char *kid,
                                      EVP_PKEY **key, bool *unknown_kid,
                                      const struct extid_log *log)
{
    enum extid_result rc = EXTID_UNAVAILABLE;
    cJSON *doc = NULL;
    const cJSON *keys, *jwk;
    int count, matches = 0;

    if (unknown_kid)
        *unknown_kid = false;
    if (!key)
        return EXTID_SYSTEM_ERR;
    *key = NULL;
    if (!kid || !*kid) {
        extid_log(log, LOG_ERR, "jwks: no kid to look up");
        return EXTID_AUTH_ERR;
    }
    if (!jwks_json || len == 0) {
        extid_log(log, LOG_ERR, "jwks: empty key set");
        return EXTID_UNAVAILABLE;
    }
    if (len > JWKS_MAX_BYTES) {
        extid_log(log, LOG_ERR, "jwks: key set of %zu bytes exceeds the %u byte limit", len,
                  JWKS_MAX_BYTES);
        return EXTID_UNAVAILABLE;
    }
    doc = parse_exact(jwks_json, len);
    if (!cJSON_IsObject(doc)) {
        extid_log(log, LOG_ERR, "jwks: key set is not a JSON object");
        goto out;
    }
    keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
    if (!cJSON_IsArray(keys)) {
        extid_log(log, LOG_ERR, "jwks: key set has no \"keys\" array");
        goto out;
    }
    count = cJSON_GetArraySize(keys);
    if (count > JWKS_MAX_KEYS) {
        extid_log(log, LOG_ERR, "jwks: key set has %d keys, more than the limit of %d", count,
                  JWKS_MAX_KEYS);
        goto out;
    }
    cJSON_ArrayForEach(jwk, keys)
    {
        const cJSON *jkid;

        if (!cJSON_IsObject(jwk)) {
            extid_log(log, LOG_ERR, "jwks: an entry of \"keys\" is not a JSON object");
            goto out;
        }
        jkid = cJSON_GetObjectItemCaseSensitive(jwk, "kid");
        /* Keys without a string kid cannot be the one the token names. */
        if (!cJSON_IsString(jkid) || !jkid->valuestring || strcmp(jkid->valuestring, kid) != 0)
            continue;
        matches++;
        /* With duplicate kids the first usable key wins; rejected ones are logged. */
        *key = jwk_to_key(jwk, kid, log);
        if (*key) {
            rc = EXTID_OK;
            goto out;
        }
    }
    if (matches == 0) {
        extid_log(log, LOG_NOTICE, "jwks: no key with kid=\"%.*s\"", KID_LOG_MAX, kid);
        rc = EXTID_AUTH_ERR;
        if (unknown_kid)
            *unknown_kid = true;
    } else {
        /* The IdP publishes this kid but not as a key we accept: an IdP-side fault. */
        extid_log(log, LOG_ERR, "jwks: no usable key among %d with kid=\"%.*s\"", matches,
                  KID_LOG_MAX, kid);
        rc = EXTID_UNAVAILABLE;
    }
out:
    cJSON_Delete(doc);
    return rc;
}
