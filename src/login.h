/* One login: users file → address → throttle → initiate → challenge → code → token → verify
 * (the steps are in login_state.h). */
#ifndef EXTID_LOGIN_H
#define EXTID_LOGIN_H

#include <stdbool.h>
#include "config.h"
#include "log.h"
#include "result.h"
#include "session_env.h"

struct cJSON;

/* How the core talks to the person. */
struct extid_prompter {
    /* Ask a question; echo false for secrets. EXTID_OK: *answer malloc'd (caller wipes and
     * frees). Anything else: the conversation failed (EXTID_CONV_ERR). */
    enum extid_result (*ask)(void *ctx, bool echo, const char *prompt, char **answer);
    /* Show a line; error true for failures. */
    void (*show)(void *ctx, bool error, const char *message);
    void *ctx;
};

struct extid_login_request {
    const char *account;     /* PAM_USER */
    bool not_local;          /* account names no local account: refused like an unlisted one,
                               * with the same message, so that neither tells the other apart */
    bool star_ok;            /* a person's account (extid_users_star_uid): '*' lines may apply */
    const char *service;     /* PAM_SERVICE, for the audit line; may be NULL */
    const char *remote_host; /* PAM_RHOST; may be NULL */
    struct extid_env *env;   /* NULL, or filled on EXTID_OK with export_env (extid_env_free) */
    struct cJSON **claims;   /* NULL, or set on EXTID_OK to the verified token's claims
                               * (cJSON_Delete); NULL otherwise. For extid-check. */
};

/* The whole login against Entra over HTTPS. EXTID_OK only when every check passed; the person
 * has been told why otherwise, and the audit line written. */
enum extid_result extid_login(const struct extid_config *cfg, const struct extid_login_request *req,
                              const struct extid_prompter *prompter, const struct extid_log *log);

/* The same against any provider transport (tests and the fuzzer use a fake one). */
struct extid_transport;
enum extid_result extid_login_with(const struct extid_transport *transport,
                                   const struct extid_config *cfg,
                                   const struct extid_login_request *req,
                                   const struct extid_prompter *prompter,
                                   const struct extid_log *log);

#endif
