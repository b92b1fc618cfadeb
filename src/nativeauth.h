/* Entra External ID native authentication: /initiate, /challenge, /token (email OTP). */
#ifndef EXTID_NATIVEAUTH_H
#define EXTID_NATIVEAUTH_H

#include <stddef.h>
#include "http.h"
#include "result.h"

#define EXTID_ENTRA_CODES_MAX 8

/* An Entra error body: error, suberror, trace and correlation ids. Any field may be NULL. */
struct extid_entra_error {
    char *error;
    char *suberror;
    char *description;     /* control characters stripped */
    char *summary;         /* the description's first line (Entra's own message), stripped */
    char *trace_id;
    char *correlation_id;
    long first_error_code; /* error_codes[0], or 0 */
    long codes[EXTID_ENTRA_CODES_MAX]; /* the first error_codes, in order */
    size_t ncodes;
};

struct extid_challenge {
    char *continuation_token;  /* secret */
    char *target_label;        /* masked address, control characters stripped */
    int code_length;           /* 4..16 */
    long interval;             /* seconds before a resend is allowed, 0 if absent */
};

/* Pure parsers (no I/O), for unit tests and fuzzing. Bodies need not be NUL-terminated. */
/* Parses an error body; EXTID_OK if it is a JSON object with a string "error". */
enum extid_result extid_entra_error_parse(const char *body, size_t len,
                                          struct extid_entra_error *out);
void extid_entra_error_free(struct extid_entra_error *e);

/* Interprets one HTTP answer of a native-auth endpoint into a result, logging the precise reason
 * (endpoint, status, error, suberror, trace_id, correlation_id; never a token):
 *  - 200 with challenge_type "redirect" → EXTID_AUTH_ERR (browser needed; redirect_reason is
 *    logged at notice level)
 *  - 5xx, 429, other non-200/400/401 statuses, unparseable JSON → EXTID_UNAVAILABLE
 *  - 400/401 errors, by AADSTS code first (in error_codes or the description's "AADSTSnnnn"):
 *    700016 unknown client id, 90002 unknown tenant, 65001/90094 consent missing, 550022
 *    confidential client, 500210 custom domain not matching the tenant → EXTID_CONFIG_ERR with a
 *    log line naming the setting to change and Entra's own first line of description; 50053
 *    (account locked) → EXTID_AUTH_ERR said plainly. Then by error and suberror, without regard
 *    to letter case: invalid_grant+invalid_oob_value → EXTID_WRONG_CODE; user_not_found,
 *    mfa_required, registration_required, expired_token, access_denied, invalid_request, other
 *    invalid_grant → EXTID_AUTH_ERR; invalid_client, unauthorized_client, invalid_tenant,
 *    unsupported_challenge_type, invalid_scope, unsupported_grant_type → EXTID_CONFIG_ERR (the app
 *    registration or tenant is wrong: nobody can log in); an unknown error → EXTID_AUTH_ERR
 *  - 200 otherwise → EXTID_OK and *json set to the parsed object (caller frees with cJSON_Delete)
 */
struct cJSON;
enum extid_result extid_na_interpret(const char *endpoint, const struct extid_http_response *resp,
                                     struct cJSON **json, const struct extid_log *log);

/* Parses a 200 /challenge object; requires continuation_token, challenge_type "oob",
 * code_length in 4..16; target_label defaults to "your email address" if absent. A
 * challenge_type "password" (password account) → EXTID_AUTH_ERR. */
enum extid_result extid_challenge_from_json(const struct cJSON *json, struct extid_challenge *out,
                                            const struct extid_log *log);
void extid_challenge_free(struct extid_challenge *c);

/* Proves the client_id without emailing anyone: an /initiate for an address under the reserved
 * .invalid domain, which no tenant can hold. EXTID_OK: Entra knows the app and lets it use
 * native authentication (user_not_found, or any flow answer); EXTID_CONFIG_ERR: Entra refused
 * the app or tenant (logged, with the setting to change); anything else: not checked. */
#define EXTID_PROBE_ADDRESS "extid-check@client-id-probe.invalid"
enum extid_result extid_na_check_client(struct extid_http *h);

/* Gets the connection for /initiate ready while the person types the address it needs (see
 * extid_http_prepare_post); nothing is sent before extid_na_initiate. */
void extid_na_prepare_initiate(struct extid_http *h);

/* The calls. Each posts to {authority}/oauth2/v2.0/<endpoint>. */
enum extid_result extid_na_initiate(struct extid_http *h, const char *email,
                                    char **continuation_token);
enum extid_result extid_na_challenge(struct extid_http *h, const char *continuation_token,
                                     struct extid_challenge *out);
/* grant_type=oob, scope "openid profile" (plus "email" with identity_claim = email).
 * EXTID_OK: *id_token set (secret). EXTID_WRONG_CODE: try again
 * with the same continuation token. A 200 without id_token → EXTID_AUTH_ERR. */
enum extid_result extid_na_token(struct extid_http *h, const char *continuation_token,
                                 const char *code, char **id_token);

#endif
