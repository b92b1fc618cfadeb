/* JSON Web Key Set → OpenSSL public key. */
#ifndef EXTID_JWKS_H
#define EXTID_JWKS_H

#include <stddef.h>
#include <openssl/evp.h>
#include "log.h"
#include "result.h"

/* Finds the key with this kid in a JWKS document (kty "RSA"; "use", if present, must be "sig";
 * "alg", if present, must be "RS256"; modulus at least 2048 bits). EXTID_OK: *key set (caller
 * EVP_PKEY_free). EXTID_UNKNOWN_KID: no such kid. Malformed JWKS → EXTID_UNAVAILABLE. */
enum extid_result extid_jwks_find_key(const char *jwks_json, size_t len, const char *kid,
                                      EVP_PKEY **key, const struct extid_log *log);

#endif
