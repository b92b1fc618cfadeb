/* What Entra's answers mean when they are not a step forward: its error bodies, their mapping
 * to results (with the setting to fix when the app registration or tenant is wrong), and what a
 * refusal leaves open. */
#ifndef EXTID_ENTRA_ERRORS_H
#define EXTID_ENTRA_ERRORS_H

#include <stddef.h>
#include "http.h"
#include "log.h"
#include "result.h"

#define EXTID_ENTRA_CODES_MAX 8

/* An Entra error body: error, suberror, trace and correlation ids. Any field may be NULL. */
struct extid_entra_error {
    char *error;
    char *suberror;
    char *description; /* control characters stripped */
    char *summary;     /* the description's first line (Entra's own message), stripped */
    char *trace_id;
    char *correlation_id;
    long first_error_code;             /* error_codes[0], or 0 */
    long codes[EXTID_ENTRA_CODES_MAX]; /* the first error_codes, in order */
    size_t ncodes;
};

/* What an Entra refusal (EXTID_AUTH_ERR) leaves open, told beside the result: the login decides
 * what to do with it. */
enum extid_na_opening {
    EXTID_NA_FINAL,        /* nothing: the refusal stands */
    EXTID_NA_WRONG_SECRET, /* the code or password itself was wrong: another may be tried on the
                            * same continuation token */
    EXTID_NA_MFA_REQUIRED, /* the first factor was right; a second factor is needed */
};

/* Pure parser (no I/O), for unit tests and fuzzing. The body need not be NUL-terminated. */
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
 *    (account locked) → EXTID_AUTH_ERR said plainly, 50126 (wrong password) → EXTID_AUTH_ERR
 *    with EXTID_NA_WRONG_SECRET. Then by error and suberror, without regard to letter case:
 *    invalid_grant+invalid_oob_value → EXTID_AUTH_ERR with EXTID_NA_WRONG_SECRET;
 *    invalid_grant+mfa_required → EXTID_AUTH_ERR with EXTID_NA_MFA_REQUIRED; user_not_found,
 *    registration_required, expired_token, access_denied, invalid_request, other
 *    invalid_grant → EXTID_AUTH_ERR; invalid_client, unauthorized_client, invalid_tenant,
 *    unsupported_challenge_type, invalid_scope, unsupported_grant_type → EXTID_CONFIG_ERR (the app
 *    registration or tenant is wrong: nobody can log in); an unknown error → EXTID_AUTH_ERR
 *  - 200 otherwise → EXTID_OK and *json set to the parsed object (caller frees with cJSON_Delete)
 * *opening (when not NULL) says what a refusal leaves open; EXTID_NA_FINAL for anything else.
 */
struct cJSON;
enum extid_result extid_na_interpret(const char *endpoint, const struct extid_http_response *resp,
                                     struct cJSON **json, enum extid_na_opening *opening,
                                     const struct extid_log *log);

#endif
