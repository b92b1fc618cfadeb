/* The login state machine: users file → email → initiate → challenge → code → token → verify. */
#ifndef EXTID_LOGIN_H
#define EXTID_LOGIN_H

#include <stdbool.h>
#include "config.h"
#include "log.h"
#include "result.h"

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
    const char *account;      /* PAM_USER */
    bool not_local;           /* account names no local account: refused like an unlisted one,
                               * with the same message, so that neither tells the other apart */
    bool star_ok;             /* a person's account (extid_users_star_uid): '*' lines may apply */
    const char *service;      /* PAM_SERVICE, for the audit line; may be NULL */
    const char *remote_host;  /* PAM_RHOST; may be NULL */
};

enum extid_result extid_login(const struct extid_config *cfg,
                              const struct extid_login_request *req,
                              const struct extid_prompter *prompter,
                              const struct extid_log *log);

#endif
