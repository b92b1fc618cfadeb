/* JSON Web Key Set → OpenSSL public key. */
#ifndef EXTID_JWKS_H
#define EXTID_JWKS_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/evp.h>
#include "log.h"
#include "result.h"

struct cJSON;

/* Finds the key with this kid in a JWKS document (kty "RSA"; "use", if present, must be "sig";
 * "alg", if present, must be "RS256"; "key_ops", if present, must include "verify"; modulus of
 * 2048..16384 bits and not of a known-weak structure; exponent odd, at least 3).
 * EXTID_OK: *key set (caller EVP_PKEY_free). No key with that kid: EXTID_AUTH_ERR, and
 * *unknown_kid (when not NULL) set, as a newer key set may have it. Malformed JWKS or no usable
 * key with that kid → EXTID_UNAVAILABLE. */
enum extid_result extid_jwks_find_key(const char *jwks_json, size_t len, const char *kid,
                                      EVP_PKEY **key, bool *unknown_kid,
                                      const struct extid_log *log);

/* The same checks and conversion for one JWK object, whatever its kid: the key, or NULL
 * (logged) when it is not a key the module would verify with. Caller EVP_PKEY_free. */
EVP_PKEY *extid_jwk_import(const struct cJSON *jwk, const struct extid_log *log);

#endif
