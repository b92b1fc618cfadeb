/* One login as a pipeline: the steps of login_state.h run in order over one struct login, then
 * one place tells the person, writes the audit line and releases everything. */
#include "login.h"

#include <stdlib.h>
#include <cjson/cJSON.h>

#include "login_state.h"
#include "util.h"

/* The person's side of the conversation, for every step that asks or tells. */
enum extid_result login_ask(const struct login *l, bool echo, const char *prompt, char **answer)
{
    const struct extid_prompter *p = l->prompter;

    *answer = NULL;
    if (p->ask(p->ctx, echo, prompt, answer) != EXTID_OK || !*answer) {
        extid_free_secret(*answer);
        *answer = NULL;
        return EXTID_CONV_ERR;
    }
    return EXTID_OK;
}

void login_show(const struct login *l, bool error, const char *msg)
{
    if (l->prompter->show)
        l->prompter->show(l->prompter->ctx, error, msg);
}

struct login_step {
    const char *name; /* for debug lines */
    enum extid_result (*run)(struct login *l);
};

/* Indexed by enum login_step_id, so that the order is written down once. */
static const struct login_step steps[LOGIN_STEPS] = {
    [LOGIN_ACCOUNT] = { "account", login_step_account },
    [LOGIN_CONNECT] = { "connect", login_step_connect },
    [LOGIN_ADDRESS] = { "address", login_step_address },
    [LOGIN_BUDGET] = { "budget", login_step_budget },
    [LOGIN_THROTTLE] = { "throttle", login_step_throttle },
    [LOGIN_INITIATE] = { "initiate", login_step_initiate },
    [LOGIN_CHALLENGE] = { "challenge", login_step_challenge },
    [LOGIN_KEYS] = { "keys", login_step_keys },
    [LOGIN_PASSWORD] = { "password", login_step_password },
    [LOGIN_CODE] = { "code", login_step_code },
    [LOGIN_SECOND] = { "second factor", login_step_second },
    [LOGIN_VERIFY] = { "verify", login_step_verify },
    [LOGIN_AUTHZ] = { "authz", login_step_authz },
    [LOGIN_ENV] = { "env", login_step_env },
    [LOGIN_FORGIVE] = { "forgive", login_step_forgive },
};

/* What the person is told; the precise reason only goes to the log (no account enumeration). */
static const char *message_for(const struct login *l, enum extid_result r)
{
    switch (r) {
    case EXTID_MAXTRIES:
        return l->wrong_passwords ? "Too many wrong passwords." : "Too many wrong codes.";
    case EXTID_UNAVAILABLE: return "The sign-in service cannot be reached; try again later.";
    case EXTID_CONFIG_ERR:
    case EXTID_SYSTEM_ERR: return "Sign-in is not available on this system right now.";
    default: return "Authentication failed.";
    }
}

/* One line for every login the module decided, granted or refused; a refusal names its result
 * there too, so that one grep finds each login with its outcome. */
static void audit(const struct login *l)
{
    const struct extid_login_request *req = l->req;
    enum extid_result rc = l->result;

    extid_log(l->log, rc == EXTID_OK ? LOG_INFO : LOG_NOTICE,
              "login %s: user=%s email=%s rhost=%s service=%s%s%s",
              rc == EXTID_OK ? "granted" : "refused", req->account, l->email ? l->email : "-",
              req->remote_host && *req->remote_host ? req->remote_host : "-",
              req->service ? req->service : "-",
              rc == EXTID_OK ? "" : " result=", rc == EXTID_OK ? "" : extid_result_name(rc));
}

/* Runs every step not skipped until one fails; the result is only ever EXTID_OK when all of
 * them ran and passed (or were skipped by one that did). */
static enum extid_result run_steps(struct login *l)
{
    enum extid_result rc = EXTID_SYSTEM_ERR;
    int ran = 0;

    for (int i = 0; i < LOGIN_STEPS; i++) {
        if (l->skip & LOGIN_SKIP(i))
            continue;
        rc = steps[i].run(l);
        ran++;
        if (rc != EXTID_OK) {
            if (!l->quiet)
                extid_debug(l->log, "login step %s: %s", steps[i].name, extid_result_name(rc));
            return rc;
        }
    }
    return ran ? rc : EXTID_SYSTEM_ERR;
}

/* The person is told, unless a step already did, and the audit line is written. */
static void finish(struct login *l)
{
    enum extid_result rc = l->result;

    /* A permission no code used (a password account without a second factor) gives its count
     * back; one whose request ended unreported keeps it. */
    if (l->send_pending)
        login_send_done(l, !l->send_slot);
    if (l->quiet)
        return;
    if (rc != EXTID_OK && rc != EXTID_CONV_ERR && !l->told)
        login_show(l, true, message_for(l, rc));
    audit(l);
}

/* Releases what the steps made, wiping the secrets. */
static void login_free(struct login *l)
{
    extid_free_secret(l->id_token);
    l->id_token = NULL;
    cJSON_Delete(l->claims);
    l->claims = NULL;
    extid_free_secret(l->continuation);
    l->continuation = NULL;
    extid_challenge_free(&l->challenge);
    extid_free_secret(l->second);
    l->second = NULL;
    extid_mfa_methods_free(&l->methods);
    extid_signing_info_free(&l->keys);
    if (l->session)
        l->transport->close(l->session);
    l->session = NULL;
    free(l->email);
    l->email = NULL;
    extid_identities_free(&l->ids);
}

enum extid_result extid_login_with(const struct extid_transport *transport,
                                   const struct extid_config *cfg,
                                   const struct extid_login_request *req,
                                   const struct extid_prompter *prompter,
                                   const struct extid_log *log)
{
    struct login l = {
        .cfg = cfg,
        .req = req,
        .prompter = prompter,
        .log = log,
        .transport = transport,
    };

    if (!transport || !cfg || !req || !req->account || !prompter || !prompter->ask)
        return EXTID_SYSTEM_ERR;
    l.result = run_steps(&l);
    finish(&l);
    if (req->claims) {
        *req->claims = l.result == EXTID_OK ? l.claims : NULL;
        if (l.result == EXTID_OK)
            l.claims = NULL;
    }
    login_free(&l);
    return l.result;
}

enum extid_result extid_login(const struct extid_config *cfg, const struct extid_login_request *req,
                              const struct extid_prompter *prompter, const struct extid_log *log)
{
    return extid_login_with(extid_transport_entra(), cfg, req, prompter, log);
}
