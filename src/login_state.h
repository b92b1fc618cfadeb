/* The state of one login as it goes through the pipeline (login.c), and what its steps share.
 * Internal to the core: pam_extid.c and the tools use login.h only.
 *
 * A login is a fixed list of steps run in order over one struct login. Each step reads what
 * earlier steps left in it and adds its own part; EXTID_OK goes on to the next step, any other
 * result ends the login with that result. A step may mark later steps as not needed (`skip`),
 * e.g. a step that obtains the ID token another way makes the code step unnecessary. Whatever a
 * step allocates lives in struct login and is released, secrets wiped, by login_free alone. */
#ifndef EXTID_LOGIN_STATE_H
#define EXTID_LOGIN_STATE_H

#include <stdbool.h>
#include <time.h>
#include "config.h"
#include "discovery.h"
#include "log.h"
#include "login.h"
#include "nativeauth.h"
#include "result.h"
#include "throttle.h"
#include "transport.h"
#include "users.h"

/* The steps, in the order they run (login.c holds the list). */
enum login_step_id {
    LOGIN_ACCOUNT,   /* the users file's identities for the account */
    LOGIN_CONNECT,   /* the provider's session, its first connection under way */
    LOGIN_ADDRESS,   /* the address to challenge, refused ones stay local */
    LOGIN_BUDGET,    /* the per-identity failure budget: spent, no request at all */
    LOGIN_THROTTLE,  /* the per-identity limit on codes sent */
    LOGIN_INITIATE,  /* continuation token for the address */
    LOGIN_CHALLENGE, /* a code is emailed, or Entra asks for the password */
    LOGIN_KEYS,      /* signing keys, fetched while the person reads their mail */
    LOGIN_PASSWORD,  /* the password, asked until Entra takes it (password accounts) */
    LOGIN_CODE,      /* codes asked until one yields the ID token (emailed-code accounts) */
    LOGIN_SECOND,    /* a second factor, when Entra requires one after either */
    LOGIN_VERIFY,    /* the ID token's signature and claims */
    LOGIN_AUTHZ,     /* the users file's requirements against the verified claims */
    LOGIN_ENV,       /* the verified identity for the session, with export_env */
    LOGIN_FORGIVE,   /* a successful login clears the address's failure budget */
    LOGIN_STEPS
};

struct cJSON;

#define LOGIN_SKIP(step) (1u << (step))

struct login {
    /* Given by the caller, for the whole login. */
    const struct extid_config *cfg;
    const struct extid_login_request *req;
    const struct extid_prompter *prompter;
    const struct extid_log *log;
    const struct extid_transport *transport;

    /* Made by the steps; login_free releases all of it. */
    void *session;                    /* the transport's, NULL until connect */
    struct extid_identities ids;      /* from the users file */
    char *email;                      /* the address being challenged */
    char *continuation;               /* secret: continuation token from initiate */
    struct extid_challenge challenge; /* the code sent (or the password asked for); its
                                       * continuation token is secret */
    bool send_slot;                   /* the throttle's permission taken before initiate and not
                                     * used yet (a password challenge sends no code) */
    char *second;                     /* secret: continuation token when a second factor is
                                     * required (the grant's *next), NULL otherwise */
    struct extid_mfa_methods methods; /* the second factor's, from introspect */
    const char *method_id;            /* the chosen one's id (in methods), NULL for the first
                                     * factor's code */
    bool wrong_passwords;             /* EXTID_MAXTRIES came from the password, not a code */
    struct extid_signing_info keys;   /* issuer and key set for the ID token */
    char *id_token;                   /* secret: the proof the last steps check */
    struct cJSON *claims;             /* the ID token's claims, once verified */

    time_t send_taken_at;     /* when the throttle counted the code about to go out */
    bool send_pending;        /* counted, but not yet known to have gone out */
    unsigned skip;            /* LOGIN_SKIP(step) for steps no longer needed */
    bool quiet;               /* the result goes to the caller without message or audit */
    bool told;                /* the person has been told why the login ends */
    enum extid_result result; /* the login's outcome, once it has one */
};

/* Room for any prompt a step writes (an address, a list of second-factor methods). */
#define LOGIN_PROMPT_MAX 512

/* Asks the person (login.c); echo false for secrets. EXTID_OK with *answer malloc'd (the caller wipes
 * it), or EXTID_CONV_ERR with *answer NULL. */
enum extid_result login_ask(const struct login *l, bool echo, const char *prompt, char **answer);
/* Tells the person; error true for failures. */
void login_show(const struct login *l, bool error, const char *msg);
/* The limits (step_limits.c). The throttle's permission to send one more code to l->email; when refused, the person has
 * been told how long to wait. A send it counted is pending until login_send_done. */
enum extid_throttle login_may_send_code(struct login *l);
/* The request that was to send the pending code has ended: only a code Entra may have sent
 * counts. A failed /initiate never sent one, nor did a /challenge that Entra refused; one that
 * got no answer (network, timeout, 5xx) may have, and keeps counting. */
void login_send_done(struct login *l, bool may_have_gone);
/* Before a code or password goes to Entra, it is counted against l->email's failure budget
 * (logins running at once then cannot overrun it). EXTID_OK with *taken_at to settle with;
 * EXTID_AUTH_ERR when the budget is spent (the person has been told how long to wait), or the
 * state's failure (EXTID_CONFIG_ERR, EXTID_SYSTEM_ERR): nothing is sent. */
enum extid_result login_reserve_try(struct login *l, time_t *taken_at);
/* After Entra's answer rc (*wrong: the secret itself was refused): a refused secret stays
 * counted and, when that spent the budget, ends the login (*wrong cleared, EXTID_AUTH_ERR, the
 * person told); an accepted one stays until the successful login clears them all; one refused
 * for another reason is given back, one that got no answer (EXTID_UNAVAILABLE) keeps counting.
 * Returns the result the try ends with. */
enum extid_result login_settle_try(struct login *l, time_t taken_at, enum extid_result rc,
                                   bool *wrong);
/* What a throttle outcome other than a refusal means for the login: EXTID_OK for a go. */
enum extid_result login_throttle_result(enum extid_throttle t);
/* Before each code goes out: the permission login_step_throttle took if no code used it yet (a
 * password account's), else a new one from login_may_send_code, so that a password and a second
 * factor count as one send. */
enum extid_throttle login_may_send_next(struct login *l);

/* The steps, by the file that holds them. */
/* step_address.c */
enum extid_result login_step_account(struct login *l);
enum extid_result login_step_connect(struct login *l);
enum extid_result login_step_address(struct login *l);
/* step_limits.c (with the limit helpers above) */
enum extid_result login_step_budget(struct login *l);
enum extid_result login_step_throttle(struct login *l);
enum extid_result login_step_forgive(struct login *l);
/* step_challenge.c */
enum extid_result login_step_initiate(struct login *l);
enum extid_result login_step_challenge(struct login *l);
/* step_secrets.c */
enum extid_result login_step_password(struct login *l);
enum extid_result login_step_code(struct login *l);
enum extid_result login_step_second(struct login *l);
/* step_verify.c */
enum extid_result login_step_keys(struct login *l);
enum extid_result login_step_verify(struct login *l);
enum extid_result login_step_authz(struct login *l);
enum extid_result login_step_env(struct login *l);

#endif
