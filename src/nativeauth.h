/* Entra External ID native authentication: /initiate, /challenge, /token, /introspect (email OTP,
 * password, and a second factor by email or SMS code; docs/entra-signin-flows.md). */
#ifndef EXTID_NATIVEAUTH_H
#define EXTID_NATIVEAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include "entra_app.h"
#include "entra_errors.h"
#include "http.h"
#include "result.h"

/* What a /challenge asked for: a code sent somewhere, or the account's password. */
enum extid_challenge_kind { EXTID_CHALLENGE_OOB = 0, EXTID_CHALLENGE_PASSWORD };
/* Where a code went. */
enum extid_channel { EXTID_CHANNEL_EMAIL = 0, EXTID_CHANNEL_SMS };

struct extid_challenge {
    enum extid_challenge_kind kind;
    char *continuation_token; /* secret */
    /* The rest only for EXTID_CHALLENGE_OOB (NULL / 0 for a password challenge). */
    enum extid_channel channel;
    char *target_label; /* masked address or number, control characters stripped */
    int code_length;    /* 4..16 */
    long interval;      /* seconds before a resend is allowed, 0 if absent */
};

/* A second-factor method /introspect offers (only the kinds the module can ask for). */
struct extid_mfa_method {
    char *id; /* opaque, sent back as /challenge's id */
    enum extid_channel channel;
    char *label; /* masked target (login_hint), control characters stripped */
};

struct extid_mfa_methods {
    char *continuation_token; /* secret */
    struct extid_mfa_method *methods;
    size_t count; /* 1..EXTID_MFA_METHODS_MAX */
};
#define EXTID_MFA_METHODS_MAX 8

/* Pure parsers (no I/O), for unit tests and fuzzing. */
/* Parses a 200 /challenge object; requires continuation_token and challenge_type "oob" or
 * "password". For "oob": code_length in 4..16, challenge_channel "email" (also when absent) or
 * "sms" (another channel → EXTID_AUTH_ERR), target_label defaulting to "your email address" or
 * "your phone". "redirect" → EXTID_AUTH_ERR. */
enum extid_result extid_challenge_from_json(const struct cJSON *json, struct extid_challenge *out,
                                            const struct extid_log *log);
void extid_challenge_free(struct extid_challenge *c);

/* Parses a 200 /introspect object: continuation_token and the methods whose challenge_type is
 * "oob" and challenge_channel "email" or "sms", in Entra's order (others are logged and left
 * out; at most EXTID_MFA_METHODS_MAX). None left → EXTID_AUTH_ERR (the account has nothing the
 * module can ask for); no token or no methods array → EXTID_UNAVAILABLE. */
enum extid_result extid_mfa_methods_from_json(const struct cJSON *json,
                                              struct extid_mfa_methods *out,
                                              const struct extid_log *log);
void extid_mfa_methods_free(struct extid_mfa_methods *m);

/* Proves the client_id without emailing anyone: an /initiate for an address under the reserved
 * .invalid domain, which no tenant can hold. EXTID_OK: Entra knows the app and lets it use
 * native authentication (user_not_found, or any flow answer); EXTID_CONFIG_ERR: Entra refused
 * the app or tenant (logged, with the setting to change); anything else: not checked. */
#define EXTID_PROBE_ADDRESS "extid-check@client-id-probe.invalid"
enum extid_result extid_na_check_client(const struct extid_app *a);

/* Gets the connection for /initiate ready while the person types the address it needs (see
 * extid_http_prepare_post); nothing is sent before extid_na_initiate. */
void extid_na_prepare_initiate(const struct extid_app *a);

/* The calls. Each posts to {authority}/oauth2/v2.0/<endpoint>. challenge_type lists the
 * configured methods (oob, password) and redirect; /initiate also says capabilities=mfa_required
 * (never registration_required: registering a second factor is left to a browser). */
enum extid_result extid_na_initiate(const struct extid_app *a, const char *email,
                                    char **continuation_token);
enum extid_result extid_na_challenge(const struct extid_app *a, const char *continuation_token,
                                     struct extid_challenge *out);
/* /challenge for the second-factor method `method_id` (from /introspect); also its resend. Only
 * an oob answer is accepted. */
enum extid_result extid_na_challenge_method(const struct extid_app *a,
                                            const char *continuation_token, const char *method_id,
                                            struct extid_challenge *out);
/* The second factor's methods, once /token asked for one (extid_na_grant's *next). */
enum extid_result extid_na_introspect(const struct extid_app *a, const char *continuation_token,
                                      struct extid_mfa_methods *out);

enum extid_grant {
    EXTID_GRANT_OOB,      /* the first factor's code: grant_type=oob, oob=secret */
    EXTID_GRANT_PASSWORD, /* grant_type=password, password=secret */
    EXTID_GRANT_MFA_OOB,  /* the second factor's code: grant_type=mfa_oob, oob=secret */
};
/* /token with scope "openid profile" (plus "email" with identity_claim = email). EXTID_OK:
 * *id_token set (secret), or, only when next is not NULL, *next (secret) set instead: a second
 * factor is needed and the login goes on at /introspect (with next NULL that answer is
 * EXTID_AUTH_ERR). The code or password was wrong: EXTID_AUTH_ERR with *wrong_secret set (when
 * not NULL), and another may be tried on the same continuation token. A 200 without id_token →
 * EXTID_AUTH_ERR. */
enum extid_result extid_na_grant(const struct extid_app *a, enum extid_grant grant,
                                 const char *continuation_token, const char *secret,
                                 char **id_token, char **next, bool *wrong_secret);
/* extid_na_grant(h, EXTID_GRANT_OOB, continuation_token, code, id_token, NULL, wrong_code). */
enum extid_result extid_na_token(const struct extid_app *a, const char *continuation_token,
                                 const char *code, char **id_token, bool *wrong_code);

#endif
