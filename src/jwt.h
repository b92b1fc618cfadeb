/* Compact JWS parsing and RS256 signature check. */
#ifndef EXTID_JWT_H
#define EXTID_JWT_H

#include <stddef.h>
#include <openssl/evp.h>
#include "log.h"
#include "result.h"

struct cJSON;

struct extid_jwt {
    struct cJSON *header;  /* decoded protected header */
    struct cJSON *payload; /* decoded claims (NULL from extid_jws_parse) */
    char *signing_input;   /* "header.payload" as received */
    size_t signing_input_len;
    unsigned char *signature;
    size_t signature_len;
};

/* Splits and decodes a compact JWS (exactly three base64url parts, header and payload JSON
 * objects, at most 64 KiB). Malformed → EXTID_AUTH_ERR (logged). */
enum extid_result extid_jwt_parse(const char *token, struct extid_jwt *out,
                                  const struct extid_log *log);

/* The same for any compact JWS: the payload (possibly empty) must be base64url but is not
 * interpreted, as RFC 7515 allows. For checking signatures apart from claims. */
enum extid_result extid_jws_parse(const char *token, struct extid_jwt *out,
                                  const struct extid_log *log);

/* RS256 (RSASSA-PKCS1-v1_5 with SHA-256) check of the signature with EVP_DigestVerify.
 * Does not look at the header; the caller has checked alg. EXTID_OK or EXTID_AUTH_ERR. */
enum extid_result extid_jwt_verify_rs256(const struct extid_jwt *jwt, EVP_PKEY *key,
                                         const struct extid_log *log);

void extid_jwt_free(struct extid_jwt *jwt);

#endif
