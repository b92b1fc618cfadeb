/* Compact JWS: three base64url parts, the header (and an ID token's payload) a JSON object
 * without duplicate members, and the RS256 signature checked with OpenSSL EVP. */
#include "jwt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "util.h"

/* Entra ID tokens are a few kilobytes; the cap bounds the work done on untrusted input. */
#define JWT_MAX_BYTES (64u * 1024u)
/* Bounds the quadratic duplicate-member check; real headers and claim sets are far smaller. */
#define JWT_MAX_MEMBERS 256

static bool json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Two members with the same name would let different parsers see different claims. */
static bool has_duplicate_members(const cJSON *obj, int *count)
{
    const cJSON *a, *b;

    *count = 0;
    for (a = obj->child; a; a = a->next) {
        if (++*count > JWT_MAX_MEMBERS)
            return true;
        for (b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0)
                return true;
    }
    return false;
}

/* Decodes one base64url part that must hold exactly one JSON object. */
static enum extid_result decode_object(const char *part, size_t len, const char *what, cJSON **obj,
                                       const struct extid_log *log)
{
    enum extid_result rc = EXTID_AUTH_ERR;
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    const char *text, *end = NULL;
    cJSON *doc = NULL;
    int members = 0;

    if (!extid_b64url_decode(part, len, &raw, &raw_len)) {
        extid_log(log, LOG_ERR, "id token: %s is not valid base64url", what);
        goto out;
    }
    text = (const char *)raw;
    /* cJSON turns \u0000 into a string terminator, so "a@b.c\u0000x" would read as "a@b.c":
     * refuse NUL in any form rather than compare truncated claims. */
    if (memchr(raw, '\0', raw_len) || memmem(raw, raw_len, "\\u0000", 6)) {
        extid_log(log, LOG_ERR, "id token: %s contains a NUL character", what);
        goto out;
    }
    doc = cJSON_ParseWithLengthOpts(text, raw_len, &end, false);
    if (!doc) {
        extid_log(log, LOG_ERR, "id token: %s is not valid JSON", what);
        goto out;
    }
    for (; end < text + raw_len; end++) {
        if (!json_ws(*end)) {
            extid_log(log, LOG_ERR, "id token: %s has data after the JSON value", what);
            goto out;
        }
    }
    if (!cJSON_IsObject(doc)) {
        extid_log(log, LOG_ERR, "id token: %s is not a JSON object", what);
        goto out;
    }
    if (has_duplicate_members(doc, &members)) {
        extid_log(log, LOG_ERR,
                  members > JWT_MAX_MEMBERS ? "id token: %s has too many members"
                                            : "id token: %s repeats a member name",
                  what);
        goto out;
    }
    *obj = doc;
    doc = NULL;
    rc = EXTID_OK;
out:
    cJSON_Delete(doc);
    extid_free_secret_n(raw, raw_len);
    return rc;
}

/* Splits and decodes; the payload becomes a claims object only when claims is set (then it may
 * not be empty), otherwise it stays uninterpreted bytes inside signing_input. */
static enum extid_result parse(const char *token, struct extid_jwt *out, bool claims,
                               const struct extid_log *log)
{
    enum extid_result rc = EXTID_AUTH_ERR;
    const char *dot1, *dot2, *sig;
    size_t len, hlen, plen, slen;

    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof *out);
    if (!token) {
        extid_log(log, LOG_ERR, "id token: missing");
        return EXTID_AUTH_ERR;
    }
    len = strnlen(token, JWT_MAX_BYTES + 1);
    if (len > JWT_MAX_BYTES) {
        extid_log(log, LOG_ERR, "id token: longer than %u bytes", JWT_MAX_BYTES);
        return EXTID_AUTH_ERR;
    }
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        extid_log(log, LOG_ERR, "id token: not three dot-separated parts");
        return EXTID_AUTH_ERR;
    }
    sig = dot2 + 1;
    hlen = (size_t)(dot1 - token);
    plen = (size_t)(dot2 - dot1 - 1);
    slen = len - (size_t)(sig - token);
    if (hlen == 0 || (plen == 0 && claims) || slen == 0) {
        extid_log(log, LOG_ERR, "id token: empty %s part",
                  hlen == 0       ? "header"
                      : slen == 0 ? "signature"
                                  : "payload");
        return EXTID_AUTH_ERR;
    }

    if (decode_object(token, hlen, "header", &out->header, log) != EXTID_OK
        || (claims && decode_object(dot1 + 1, plen, "payload", &out->payload, log) != EXTID_OK))
        goto out;
    if (!claims && plen > 0) {
        unsigned char *raw = NULL;
        size_t raw_len = 0;

        if (!extid_b64url_decode(dot1 + 1, plen, &raw, &raw_len)) {
            extid_log(log, LOG_ERR, "id token: payload is not valid base64url");
            goto out;
        }
        extid_free_secret_n(raw, raw_len);
    }
    if (!extid_b64url_decode(sig, slen, &out->signature, &out->signature_len)
        || out->signature_len == 0) {
        extid_log(log, LOG_ERR, "id token: signature is not valid base64url");
        goto out;
    }
    out->signing_input_len = (size_t)(dot2 - token);
    out->signing_input = malloc(out->signing_input_len + 1);
    if (!out->signing_input) {
        extid_log(log, LOG_ERR, "id token: out of memory");
        rc = EXTID_SYSTEM_ERR;
        goto out;
    }
    memcpy(out->signing_input, token, out->signing_input_len);
    out->signing_input[out->signing_input_len] = '\0';
    rc = EXTID_OK;
out:
    if (rc != EXTID_OK)
        extid_jwt_free(out);
    return rc;
}

enum extid_result extid_jwt_parse(const char *token, struct extid_jwt *out,
                                  const struct extid_log *log)
{
    return parse(token, out, true, log);
}

enum extid_result extid_jws_parse(const char *token, struct extid_jwt *out,
                                  const struct extid_log *log)
{
    return parse(token, out, false, log);
}

enum extid_result extid_jwt_verify_rs256(const struct extid_jwt *jwt, EVP_PKEY *key,
                                         const struct extid_log *log)
{
    enum extid_result rc = EXTID_AUTH_ERR;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    int key_size, ok;

    if (!jwt || !key || !jwt->signing_input || !jwt->signature)
        return EXTID_AUTH_ERR;
    if (!EVP_PKEY_is_a(key, "RSA")) {
        extid_log(log, LOG_ERR, "id token: verification key is not an RSA key");
        return EXTID_AUTH_ERR;
    }
    /* RFC 8017 §8.2.2: the signature is exactly as long as the modulus. */
    key_size = EVP_PKEY_get_size(key);
    if (key_size <= 0 || jwt->signature_len != (size_t)key_size) {
        extid_log(log, LOG_ERR, "id token: signature is %zu bytes, the key needs %d",
                  jwt->signature_len, key_size);
        return EXTID_AUTH_ERR;
    }
    md = EVP_MD_CTX_new();
    if (!md) {
        extid_log(log, LOG_ERR, "id token: out of memory");
        rc = EXTID_SYSTEM_ERR;
        goto out;
    }
    if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) {
        extid_log(log, LOG_ERR, "id token: cannot set up RS256 verification: %s",
                  ERR_reason_error_string(ERR_peek_last_error())
                      ? ERR_reason_error_string(ERR_peek_last_error())
                      : "unknown error");
        goto out;
    }
    ok = EVP_DigestVerify(md, jwt->signature, jwt->signature_len,
                          (const unsigned char *)jwt->signing_input, jwt->signing_input_len);
    if (ok != 1) {
        extid_log(log, LOG_ERR, "id token: RS256 signature does not verify");
        goto out;
    }
    rc = EXTID_OK;
out:
    /* A failed verification leaves errors queued; later OpenSSL users must not see them. */
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    return rc;
}

void extid_jwt_free(struct extid_jwt *jwt)
{
    if (!jwt)
        return;
    cJSON_Delete(jwt->header);
    cJSON_Delete(jwt->payload);
    extid_free_secret_n(jwt->signing_input, jwt->signing_input_len);
    extid_free_secret_n(jwt->signature, jwt->signature_len);
    memset(jwt, 0, sizeof *jwt);
}
