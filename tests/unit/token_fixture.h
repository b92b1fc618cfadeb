/* Shared helpers for the ID-token unit tests: fixed RSA test keys, JWKS and token builders,
 * and a log sink that records what the core logged. Header-only: each test_*.c is built alone.
 * The keys are fixed because generating RSA keys under valgrind takes seconds each. They were
 * made for these tests only and protect nothing. */
#ifndef EXTID_TOKEN_FIXTURE_H
#define EXTID_TOKEN_FIXTURE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "claims.h"
#include "log.h"

static const char FX_KEY_A_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDHoo7qImtObmUO\n"
    "k2xOepR5GJI7XGVqKtiusxB0Wy3KNjpMy7vi/afqotXyNX6KYjWtCRDJWkX7uCRH\n"
    "oA3t4iKT2KlYeZWOBbFCfK11iMvYym7ecUhQl5xUdIK1pZttGXbO7fl4xBlThH1N\n"
    "BUnxUlRulYIEEZq+/9bytqJKdnhlOIvljtgBboTi7BmA2qIZS7fTESjqj4lDZelp\n"
    "O1tXkHm10TG8k0QrvzTK/chb4PA5IxNwOsNMX1JgU9qSnWhz90kCZsW0mfHaWVZF\n"
    "GUVejquweyp1fVSgY/zyCVZffwvLql3LhaDsvCbI8qGq72rxbsaiZwrf5D+/v0zh\n"
    "UkZA8ARbAgMBAAECggEAVNT+F/5CTRTaOqRozLyIJSFM2o67xa6pXytWXat1PM1o\n"
    "XsPgdmfFmA5UDdWvjQyItJv6lyWWQY4RVKJt6N1ERkE2TRN1euFuXstuRli4DsqO\n"
    "7FWFHkIeu0C7XoceEfFVLD+x2CC0hmnxeO47aqHKoSdFFYeJk4pSA9eaBTxsks4A\n"
    "1xasbPpYrlNraqvMXG/mko9MImVfbsaXoqbXBo886oUJRqyUc+08ILY0J7dmkoSv\n"
    "qzVCx+qb3IBr4/ioWEzUa6x1mvuBBtGnl09+i+pp8LEZQa1y2rB6oZiH6XfpgDr0\n"
    "JGYV/0OV0WxGHpIw9O6d0YfhW/29nUZs4SH3KxiooQKBgQD1TCz7+W+TgqS37a4t\n"
    "THmkrmI4YiEiUIdeLMhaZkNGBJNkMwQITH834cgMS96aapJpYiDbJWktTJv0WexO\n"
    "zyhTvbvkNbfguGSZFRcGUu9EBEtk1Qw43zJuj4+rjzdiTv/axYb0p6AFSZ2r9z38\n"
    "Zhxk333mJwWpPj3O3JukyFRWkQKBgQDQWFwG2k/ED3edv2ozljlvM4VpNseIlRs1\n"
    "zKfc9bFw5dTtpi+hpWCVc158YyZIvGq3WSrP08/4gH1iyNL2UVI4KCwM4T23IsI5\n"
    "C/IylfzNJ/QA1lSgGMkB+pJc1Y7ZONJd5FbX1GVpgsTdCkFfCRQDdszXSUp0nP2n\n"
    "KvSRCy7aKwKBgQCrUrn0f0HTqCJ9qA7H6qrnPziworD7s3zoZKTGprgD1jxPdmYx\n"
    "maQdFp/PHspp1VdPLU8/YEC2d9RQ9OFcJcnHuzPY7z/vPzpbxOQg8ZnVSp6R3U89\n"
    "BX7Gw5QXwd5v1jdSyDU6+TyFlOX/7p4ng/X+6i2XqteEXklzCpfWnmhxUQKBgB4E\n"
    "PO330forSE5/32sjP48X2ya3b7Pr14m+vIiHFVNwqWa7xK0DSJD/mCNPnZppGu7j\n"
    "d9mNaK8iw+3RhSNbv/67Ou14Hg4egeD6KaDEHzHnia39MyAFsiAI28FoOzZsi1Jf\n"
    "rWtW/G1hG7/E1Ho+spV1LjnuIz39yEWnWKj09YEVAoGBAIqZ+1OHespj66hgU6VK\n"
    "U4HKj2r0qUb6i2sqD1GqSPNJBgndomXeH2KiHedjFETcmQUMa3Hx2tuXryHI+WLW\n"
    "AXKkmundLfeTrBOJf3UvsvmGaEV/bEotmN6TBWe0qihPf02iT6UoJILm2y50DqsA\n"
    "c7n7g31Xj+IIebZVV9yIm3r0\n"
    "-----END PRIVATE KEY-----\n";

static const char FX_KEY_B_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCb5R12L2IZKYho\n"
    "dx2vzo7am5NfiXkxJ51LcwjpGUz45an8MXODSQoZSwVFuGDK9xkTZERhOu4m015K\n"
    "CBt34DcOsCCR/9PvLX66MUzHpNKOStRykx2BmMDKh4w4dx0HE4R/HTK1QxCN5siM\n"
    "SjqfwQjTdvOLY/eeJ7NI9rv9TSKj1R1bKIJTjMWnYtNPSA55tRwNacl6QpmlumsC\n"
    "jriuek4vX4/2PEh0IzcC2sT2SqBGJqjlT1Q3Nd16hIzniQiVdNjmpN0icTktU5e+\n"
    "w+Sl0CfKBcGqp9iR3WWhydpBIcnJYn1cd3cwGUYy3V3M8kEjhUqZseV9jtf6Dx4O\n"
    "dxwd5Kp7AgMBAAECggEACB4PgSppdL71Y98j9BYQ2TA1pclePqF97sJQKfcPy3wF\n"
    "9GRMy/6/IF8IKL+3hooES76yUs/DO9FQvREcAQtzQngIUiHckr0vNpm/kjuyXQdn\n"
    "dYnUhP2DuGgDdKM7JzWsdgP6snaKA6GLOsbYs53VDFHKz6zGZX1SuA9k7YUZMyee\n"
    "X0QNYh4iSzPKh2KlXqkGbum6peZZoPEHc3sSRglks7iGC84AgBYZ6ENTPxwhXBgH\n"
    "7pUH37R9F46SvfwImNoX6ggbw2+CK9Bqlj1NRMPPszjoeqrGhznR9eOhbbdADBKl\n"
    "sV6MxzRblDP8ozjd546d3NRDQrQSbbpwtR2MyiXb4QKBgQDLnDpdn6ddHjoPIaph\n"
    "/1/J+WBSfeMLUmGZrrCm2O2q9pHhXBj3SyZm6rT/qplS6efDllV7tYVTQmhiKt+w\n"
    "+7olss3OcMUduT0Ff3CrsQbumF1nO7p96luv2PJr8n9Alhdeqggy3NTx3t4W2CNg\n"
    "J8IgYBSXeKEChY00wo8HsWgAWwKBgQDEAePHl5zo54aiaB35MtlFVG2SeGqLQ/TT\n"
    "ijdvVh5Eiks+IAEpKzFmtCsPCyYIcG8OOPX8T2Zv4mOjD9+mOnEWStTcF0Oi3/U7\n"
    "qh8787E4XcKhzr5z+RAeTo4KBOp/DHT1z4+gUO5f6fQvuPFz6Zs5RTIFl3POfk6k\n"
    "IB0zKpwYYQKBgQCJP8F0NNerhGGcq5PfxTY7vrc4RBWVHy4dW01G2vmygc0qPVuy\n"
    "7txvCY2CvevmoTeSdzceUekSi7QzYDUzZyw+lz32B7xH4gMJPrOjeIx0rw5fNTrr\n"
    "/9tYOQSI0YkH72THchRevM9qT1Ij0gRen85S5pFa3XyjZ4Uc6H1jsSmq+wKBgQCr\n"
    "TOuBOCPN+OpVbaEkdSgly0+nvs1+wPlrF1SzXRQ+2o4/0UCydilKlRM8poWqwniM\n"
    "eYOh6tKf3b8ud2UCpfjHfsbhQwO9iPWOG3QItUWg+XBscX9JY9aOZiEE6J74Qi7F\n"
    "1Yy0k4aBFLpwKrX6k6MxPiQlduOjCAg6sEZUvVyGgQKBgCiiHw/XU+84M+QKFxb5\n"
    "mnilVffBk5I9bJV6S1ghlIsSgGCpX5xrpJF3WiwWQmZFi8uDI0oSjUrWOq+PlLYx\n"
    "mkIiZqMB0Hgh1nS8JzUp9ORmBWTGBX/zMHuQJD0yShPi3VqDVirnbba2/W+w1e+k\n"
    "Ty7qVnSdO0p0C/WNJufpum72\n"
    "-----END PRIVATE KEY-----\n";

static const char FX_KEY_SMALL_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBAM+t+8rQlUKhvk/q\n"
    "FT1kVqje0m6T7PCM6sreemItaO+cFZaGHg4AwwTRnINq3cVTt+QW6en2QFhdqO4n\n"
    "fzAA95Zoc1jU/vE62vfxEOWGtW+AljLL8WRDZudEBkkABWWGRkw1RrmEcUEqLZ6e\n"
    "m6XyaYYD5XqP66ABVooyftTUPz4hAgMBAAECgYB7ACGT4mu0lhUgQZSo0qecxrO9\n"
    "ODFp2xwoYRH82cY/u6Lxjqd4Ra07SmY3U3DbsRTFq2iI4AcGDxrBSnVC2h/IS8+m\n"
    "UsISEP1lzrGyX3mhv1vFqHEOQpCPelj1iCRaMpj5GoMMjzmPr9bg0rOqaKsmI1wi\n"
    "qLrJ+QL7E4zNm7Wk7QJBAP4/j/MpsKfKYvUwwLiW+9+aEUkjR6/LHXpQRVHLw/Gx\n"
    "OUXANRg8szryY773/i4isoB3dFyZQ1L5m9BfZvbDS5sCQQDRHEjRGsFvTTA2XDIs\n"
    "QUEK0wIwI/IrtmuNuspMzi73UGyut9mt8NO0WBE2mlQnnovRc5Bw0h3eMW1rj8LB\n"
    "9A7zAkAGhncZVI6WH9meVVv84NMiEAA1klQ6rMna48iDqukigNvpcF9sedJXxvTM\n"
    "Z+z8HiParDYuUjiqHoHjPS+VUbnVAkEAp6MwMQptBkhwHTQ+OMI7XW0Z9PPsQeTl\n"
    "RmL3qSkl97hu2IalKM/HOG3dptOEIZr15fzqT7fyn90qJi/C53A7xwJBAIIxaf9g\n"
    "ilGxD0cHTOe7nVmrs3COgAKtYpngaOsdvTYaq1LwVJBs2Ln7et9DBaX+BRPiBgEQ\n"
    "8xWq4200+ZDDHEo=\n"
    "-----END PRIVATE KEY-----\n";

/* ---- log capture ---- */

struct fx_log {
    char text[16384]; /* every line, '\n'-separated; cut when full */
    size_t len;
    int lines;
};

static inline void fx_log_emit(void *ctx, int priority, const char *msg)
{
    struct fx_log *l = ctx;
    int n;

    (void)priority;
    l->lines++;
    if (l->len >= sizeof l->text - 1)
        return;
    n = snprintf(l->text + l->len, sizeof l->text - l->len, "%s\n", msg);
    if (n > 0)
        l->len += (size_t)n < sizeof l->text - l->len ? (size_t)n : sizeof l->text - 1 - l->len;
    if (getenv("FX_LOG"))
        fprintf(stderr, "log: %s\n", msg);
}

static inline struct extid_log fx_log_sink(struct fx_log *l)
{
    struct extid_log log = { .emit = fx_log_emit, .ctx = l, .debug = true };

    memset(l, 0, sizeof *l);
    return log;
}

static inline bool fx_logged(const struct fx_log *l, const char *needle)
{
    return strstr(l->text, needle) != NULL;
}

/* ---- base64url, written independently of src/b64url.c ---- */

static inline char *fx_b64url(const void *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    char *out = malloc(len / 3 * 4 + 5), *o = out;
    size_t i;

    if (!out)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        *o++ = abc[p[i] >> 2];
        *o++ = abc[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        *o++ = abc[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
        *o++ = abc[p[i + 2] & 63];
    }
    if (len - i == 1) {
        *o++ = abc[p[i] >> 2];
        *o++ = abc[(p[i] & 3) << 4];
    } else if (len - i == 2) {
        *o++ = abc[p[i] >> 2];
        *o++ = abc[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        *o++ = abc[(p[i + 1] & 15) << 2];
    }
    *o = '\0';
    return out;
}

static inline char *fx_b64url_str(const char *s)
{
    return fx_b64url(s, strlen(s));
}

/* ---- keys ---- */

static inline EVP_PKEY *fx_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    return key;
}

/* The three fixed keys, as a cmocka group state. */
struct fx_keys {
    EVP_PKEY *a, *b, *small;
};

static inline int fx_keys_setup(void **state)
{
    struct fx_keys *k = calloc(1, sizeof *k);

    *state = k;
    if (!k)
        return -1;
    k->a = fx_key(FX_KEY_A_PEM);
    k->b = fx_key(FX_KEY_B_PEM);
    k->small = fx_key(FX_KEY_SMALL_PEM);
    return k->a && k->b && k->small ? 0 : -1;
}

static inline int fx_keys_teardown(void **state)
{
    struct fx_keys *k = *state;

    if (k) {
        EVP_PKEY_free(k->a);
        EVP_PKEY_free(k->b);
        EVP_PKEY_free(k->small);
        free(k);
    }
    return 0;
}

/* base64url of a big-endian RSA parameter ("n" or "e"). */
static inline char *fx_key_param(EVP_PKEY *key, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char *buf;
    char *out = NULL;
    int len;

    if (!EVP_PKEY_get_bn_param(key, name, &bn))
        return NULL;
    len = BN_num_bytes(bn);
    buf = malloc((size_t)len);
    if (buf && BN_bn2bin(bn, buf) == len)
        out = fx_b64url(buf, (size_t)len);
    free(buf);
    BN_free(bn);
    return out;
}

/* A JWK for key's public half, with use=sig and alg=RS256. */
static inline cJSON *fx_jwk(EVP_PKEY *key, const char *kid)
{
    cJSON *jwk = cJSON_CreateObject();
    char *n = fx_key_param(key, OSSL_PKEY_PARAM_RSA_N);
    char *e = fx_key_param(key, OSSL_PKEY_PARAM_RSA_E);

    cJSON_AddStringToObject(jwk, "kty", "RSA");
    cJSON_AddStringToObject(jwk, "use", "sig");
    if (kid)
        cJSON_AddStringToObject(jwk, "kid", kid);
    cJSON_AddStringToObject(jwk, "alg", "RS256");
    cJSON_AddStringToObject(jwk, "n", n);
    cJSON_AddStringToObject(jwk, "e", e);
    free(n);
    free(e);
    return jwk;
}

/* {"keys":[jwk...]} as text; takes ownership of the JWKs. NULL-terminated list. */
static inline char *fx_jwks(cJSON *first, ...)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *keys = cJSON_AddArrayToObject(doc, "keys");
    cJSON *jwk = first;
    va_list ap;
    char *text;

    va_start(ap, first);
    while (jwk) {
        cJSON_AddItemToArray(keys, jwk);
        jwk = va_arg(ap, cJSON *);
    }
    va_end(ap);
    text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return text;
}

/* ---- tokens ---- */

/* "a.b", freeing both (they come from fx_b64url or earlier joins). */
static inline char *fx_dot_join(char *a, char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *out = malloc(n);

    snprintf(out, n, "%s.%s", a, b);
    free(a);
    free(b);
    return out;
}

/* "b64(header).b64(payload)" from JSON text. */
static inline char *fx_signing_input(const char *header, const char *payload)
{
    return fx_dot_join(fx_b64url_str(header), fx_b64url_str(payload));
}

static inline char *fx_join_sig(char *input, const unsigned char *sig, size_t sig_len)
{
    return fx_dot_join(input, fx_b64url(sig, sig_len));
}

/* Compact JWS signed with RSASSA-PKCS1-v1_5 and md (EVP_sha256() for RS256). */
static inline char *fx_sign_rsa_md(const char *header, const char *payload, EVP_PKEY *key,
                                   const EVP_MD *md)
{
    char *input = fx_signing_input(header, payload);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig[1024];
    size_t sig_len = sizeof sig;

    if (EVP_DigestSignInit(ctx, &pctx, md, NULL, key) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0
        || EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)input, strlen(input)) != 1) {
        EVP_MD_CTX_free(ctx);
        free(input);
        return NULL;
    }
    EVP_MD_CTX_free(ctx);
    return fx_join_sig(input, sig, sig_len);
}

static inline char *fx_sign(const char *header, const char *payload, EVP_PKEY *key)
{
    return fx_sign_rsa_md(header, payload, key, EVP_sha256());
}

/* HS256 with the given secret: what an attacker does with alg confusion. */
static inline char *fx_sign_hs256(const char *header, const char *payload, const void *secret,
                                  size_t secret_len)
{
    char *input = fx_signing_input(header, payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (unsigned char *)input, strlen(input), mac,
              &mac_len)) {
        free(input);
        return NULL;
    }
    return fx_join_sig(input, mac, mac_len);
}

/* ---- claims ---- */

#define FX_ISSUER "https://contoso.ciamlogin.com/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/v2.0"
#define FX_CLIENT "11111111-2222-4333-8444-555555555555"
#define FX_TENANT "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define FX_EMAIL "alice@contoso.com"
#define FX_NOW ((time_t)1750000000)
#define FX_KID "key-a"

/* The claims Entra sends for FX_EMAIL, valid at FX_NOW. */
static inline cJSON *fx_claims(void)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddStringToObject(c, "aud", FX_CLIENT);
    cJSON_AddStringToObject(c, "iss", FX_ISSUER);
    cJSON_AddNumberToObject(c, "iat", (double)FX_NOW - 60);
    cJSON_AddNumberToObject(c, "nbf", (double)FX_NOW - 60);
    cJSON_AddNumberToObject(c, "exp", (double)FX_NOW + 3540);
    cJSON_AddStringToObject(c, "name", "Alice");
    cJSON_AddStringToObject(c, "oid", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a");
    cJSON_AddStringToObject(c, "preferred_username", FX_EMAIL);
    cJSON_AddStringToObject(c, "sub", "QWxpY2Ugc3ViamVjdA");
    cJSON_AddStringToObject(c, "tid", FX_TENANT);
    cJSON_AddStringToObject(c, "ver", "2.0");
    return c;
}

/* Replaces (or adds) a claim; value NULL removes it. Takes ownership of value. */
static inline void fx_set(cJSON *obj, const char *name, cJSON *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
    if (value)
        cJSON_AddItemToObject(obj, name, value);
}

static inline struct extid_claim_policy fx_policy(void)
{
    struct extid_claim_policy p = {
        .issuer = FX_ISSUER,
        .audience = FX_CLIENT,
        .tenant_id = FX_TENANT,
        .identity_claim = "preferred_username",
        .email = FX_EMAIL,
        .clock_skew = 300,
        .now = FX_NOW,
    };
    return p;
}

/* JSON text of obj, which is freed. */
static inline char *fx_text(cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);

    cJSON_Delete(obj);
    return text;
}

/* Default header: {"typ":"JWT","alg":"RS256","kid":kid}. */
static inline char *fx_header(const char *kid)
{
    cJSON *h = cJSON_CreateObject();

    cJSON_AddStringToObject(h, "typ", "JWT");
    cJSON_AddStringToObject(h, "alg", "RS256");
    if (kid)
        cJSON_AddStringToObject(h, "kid", kid);
    return fx_text(h);
}

/* RS256 token of (header text, claims object, key); frees the inputs given to it. */
static inline char *fx_token(char *header, cJSON *claims, EVP_PKEY *key)
{
    char *payload = fx_text(claims);
    char *tok = fx_sign(header, payload, key);

    free(header);
    free(payload);
    return tok;
}

#endif
