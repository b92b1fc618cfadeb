/* Whole ID-token verification: parse, alg, kid → key, signature, claims. */
#ifndef EXTID_IDTOKEN_H
#define EXTID_IDTOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include "claims.h"
#include "log.h"
#include "result.h"

/* header alg must be exactly "RS256" (none, HS*, PS*, ES*... refused), kid a non-empty string;
 * key from jwks_json; RS256 signature; then extid_claims_check.
 * EXTID_OK, EXTID_AUTH_ERR (a kid the key set does not hold too), EXTID_UNAVAILABLE (JWKS
 * malformed). */
enum extid_result extid_idtoken_verify(const char *token, const char *jwks_json, size_t jwks_len,
                                       const struct extid_claim_policy *policy,
                                       const struct extid_log *log);

struct extid_jwt;

/* The signature half of extid_idtoken_verify, on a parsed JWS (extid_jwt_parse or
 * extid_jws_parse): the header checks, the key by kid from jwks_json, the RS256 signature.
 * Claims are not looked at. Same results as extid_idtoken_verify; *unknown_kid (when not NULL)
 * is set when the refusal is only that the key set lacks the token's kid, which a newer key
 * set may hold. */
enum extid_result extid_idtoken_check_signature(const struct extid_jwt *jwt, const char *jwks_json,
                                                size_t jwks_len, bool *unknown_kid,
                                                const struct extid_log *log);

/* The same; on EXTID_OK only, *claims (when claims is not NULL) receives the verified payload,
 * which the caller frees with cJSON_Delete. Anything else leaves *claims NULL. */
/* *unknown_kid as for extid_idtoken_check_signature. */
enum extid_result extid_idtoken_verify_claims(const char *token, const char *jwks_json,
                                              size_t jwks_len,
                                              const struct extid_claim_policy *policy,
                                              const struct extid_log *log, struct cJSON **claims,
                                              bool *unknown_kid);

#endif
