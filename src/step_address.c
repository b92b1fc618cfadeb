/* The first steps: the users file's identities for the account, the provider's session, and the
 * address to challenge. Nothing here sends a request; a refused address never reaches Entra. */
#include "login_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum extid_result login_step_account(struct login *l)
{
    const struct extid_config *cfg = l->cfg;
    const char *account = l->req->account;
    bool ignore = cfg->unmapped == EXTID_UNMAPPED_IGNORE;
    enum extid_result rc;

    if (l->req->not_local) {
        extid_log(l->log, LOG_NOTICE, "user %s is not a local account%s", account,
                  ignore ? ": ignored" : "");
        rc = EXTID_USER_UNKNOWN;
    } else {
        rc = extid_users_lookup(cfg->users_file, account, l->req->star_ok, &l->ids, l->log);
        if (rc == EXTID_USER_UNKNOWN)
            extid_log(l->log, LOG_NOTICE, "account %s is not in %s%s", account, cfg->users_file,
                      ignore ? ": ignored" : "");
    }
    if (rc == EXTID_USER_UNKNOWN && ignore) {
        l->quiet = true; /* silent: the next module in the stack takes over */
        rc = EXTID_IGNORE;
    }
    if (rc != EXTID_OK)
        return rc;
    return EXTID_OK;
}

enum extid_result login_step_connect(struct login *l)
{
    enum extid_result rc = l->transport->open(l->transport->ctx, l->cfg, l->log, &l->session);

    if (rc != EXTID_OK) {
        l->session = NULL;
        return rc;
    }
    /* While the person types the address, the connection (TCP and TLS) gets under way. No
     * request is sent on it until the address has passed the users file and the throttle.
     * early_connect = no leaves the connection for /initiate itself. */
    if (l->cfg->early_connect && !extid_identities_single(&l->ids)
        && l->transport->prepare_initiate)
        l->transport->prepare_initiate(l->session);
    return EXTID_OK;
}

static void trim_blanks(char *s)
{
    char *start = s, *end;

    while (*start == ' ' || *start == '\t')
        start++;
    end = start + strlen(start);
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    memmove(s, start, (size_t)(end - start) + 1);
}

/* The single mapped address, or one the person types that the users file allows. Refused
 * addresses never reach the network. */
enum extid_result login_step_address(struct login *l)
{
    const char *single = extid_identities_single(&l->ids);
    const char *account = l->req->account;
    char prompt[LOGIN_PROMPT_MAX];
    char *typed = NULL;
    enum extid_result rc;

    if (single) {
        l->email = strdup(single);
        return l->email ? EXTID_OK : EXTID_SYSTEM_ERR;
    }
    snprintf(prompt, sizeof prompt, "Email address for %s: ", account);
    rc = login_ask(l, true, prompt, &typed);
    if (rc != EXTID_OK)
        return rc;
    trim_blanks(typed); /* a pasted address often comes with spaces around it */
    if (!extid_email_valid(typed)) {
        extid_log(l->log, LOG_NOTICE, "account %s: typed text is not an email address", account);
        rc = EXTID_AUTH_ERR;
    } else if (!extid_identities_allow(&l->ids, typed)) {
        extid_log(l->log, LOG_NOTICE, "account %s: email %s is not allowed for this account",
                  account, typed);
        rc = EXTID_AUTH_ERR;
    } else {
        l->email = typed;
        typed = NULL;
    }
    free(typed);
    return rc;
}
