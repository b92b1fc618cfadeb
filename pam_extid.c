/* pam_extid: PAM glue only. The core (src/) knows nothing of PAM; this file adapts its
 * prompter and log to the PAM conversation and syslog, and maps its result to a PAM code. */
#define PAM_SM_AUTH

#include <pwd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "src/config.h"
#include "src/log.h"
#include "src/login.h"
#include "src/users.h"
#include "src/util.h"

/* The only place core results become PAM codes (pam_extid(8), RETURN VALUES). Unknown
 * values fail closed. */
static int pam_code_for(enum extid_result r)
{
    switch (r) {
    case EXTID_OK: return PAM_SUCCESS;
    case EXTID_MAXTRIES: return PAM_MAXTRIES;
    case EXTID_UNAVAILABLE: return PAM_AUTHINFO_UNAVAIL;
    case EXTID_USER_UNKNOWN: return PAM_USER_UNKNOWN;
    case EXTID_IGNORE: return PAM_IGNORE;
    case EXTID_CONFIG_ERR: return PAM_SERVICE_ERR;
    case EXTID_CONV_ERR: return PAM_CONV_ERR;
    case EXTID_SYSTEM_ERR: return PAM_SYSTEM_ERR;
    case EXTID_AUTH_ERR: return PAM_AUTH_ERR;
    }
    return PAM_AUTH_ERR;
}

#define HELD_MAX 512

/* What the conversation callbacks need: the handle, and whether the caller asked for silence.
 * With PAM_SILENT only prompts may go out, yet sudo (before 1.9.16 it cannot be told
 * otherwise) always asks for it, and a refused person must still learn why (how long to wait,
 * say): messages are held and go out as part of the next prompt, or of one last prompt. */
struct conv_ctx {
    pam_handle_t *pamh;
    bool silent;         /* PAM_SILENT: no informational or error messages, prompts still go out */
    char held[HELD_MAX]; /* messages waiting for a prompt, one after the other */
};

static void log_to_syslog(void *ctx, int priority, const char *msg)
{
    pam_syslog((pam_handle_t *)ctx, priority, "%s", msg);
}

static enum extid_result conv_ask(void *ctx, bool echo, const char *prompt, char **answer)
{
    struct conv_ctx *c = ctx;
    char *resp = NULL;
    int rc = pam_prompt(c->pamh, echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF, &resp, "%s%s%s",
                        c->held, c->held[0] ? " " : "", prompt);

    c->held[0] = '\0';

    if (rc != PAM_SUCCESS || !resp) {
        extid_free_secret(resp);
        return EXTID_CONV_ERR;
    }
    *answer = resp;
    return EXTID_OK;
}

static void conv_show(void *ctx, bool error, const char *message)
{
    struct conv_ctx *c = ctx;
    size_t used = strlen(c->held);

    if (c->silent) {
        /* Truncated rather than lost: the log has the whole story anyway. */
        snprintf(c->held + used, sizeof c->held - used, "%s%s", used ? " " : "", message);
        return;
    }
    if (error)
        pam_error(c->pamh, "%s", message);
    else
        pam_info(c->pamh, "%s", message);
}

/* Messages no prompt carried (a refusal ends the login): one last prompt shows them. Its
 * answer is ignored, and so is a caller that cannot answer. */
static void show_held(struct conv_ctx *c)
{
    char *resp = NULL;

    if (!c->held[0])
        return;
    pam_prompt(c->pamh, PAM_PROMPT_ECHO_ON, &resp, "%s Press Enter: ", c->held);
    extid_free_secret(resp);
    c->held[0] = '\0';
}

static const char *item_string(pam_handle_t *pamh, int item)
{
    const void *value = NULL;

    if (pam_get_item(pamh, item, &value) != PAM_SUCCESS)
        return NULL;
    return value;
}

/* Why pam_get_user failed, as a result: the conversation, the system, or else no user. */
static enum extid_result user_error(int pam_rc)
{
    switch (pam_rc) {
    case PAM_CONV_ERR:
    case PAM_CONV_AGAIN: /* no resumable conversations here: the login fails */
    case PAM_ABORT: return EXTID_CONV_ERR;
    case PAM_BUF_ERR:
    case PAM_SYSTEM_ERR: return EXTID_SYSTEM_ERR;
    default: return EXTID_USER_UNKNOWN;
    }
}

/* The verified identity into the PAM environment, which sshd, sudo and login hand to the
 * session; the core filled env only for a login that succeeded with export_env. All or none:
 * a half-set identity is taken back and the login fails. */
static enum extid_result export_env(pam_handle_t *pamh, const struct extid_env *env,
                                    const struct extid_log *log)
{
    size_t i, j;
    int rc;

    for (i = 0; i < env->count; i++) {
        rc = pam_putenv(pamh, env->vars[i]);
        if (rc == PAM_SUCCESS)
            continue;
        extid_log(log, LOG_ERR, "cannot set the PAM environment: %s", pam_strerror(pamh, rc));
        for (j = 0; j < i; j++) {
            char name[32];
            size_t n = strcspn(env->vars[j], "=");
            if (n < sizeof name) {
                memcpy(name, env->vars[j], n);
                name[n] = '\0';
                pam_putenv(pamh, name); /* a bare name removes it */
            }
        }
        return EXTID_SYSTEM_ERR;
    }
    return EXTID_OK;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    struct extid_log log = { .emit = log_to_syslog, .ctx = pamh };
    struct conv_ctx conv = { .pamh = pamh, .silent = (flags & PAM_SILENT) != 0 };
    struct extid_prompter prompter = { .ask = conv_ask, .show = conv_show, .ctx = &conv };
    struct extid_config cfg;
    struct extid_login_request req = { 0 };
    struct extid_env env = { 0 };
    const char *user = NULL;
    const struct passwd *pw;
    enum extid_result rc;
    int pam_rc;

    memset(&cfg, 0, sizeof cfg);
    rc = extid_config_load(&cfg, argc, argv, &log);
    if (rc != EXTID_OK)
        return pam_code_for(rc);
    log.debug = cfg.debug;

    pam_rc = pam_get_user(pamh, &user, NULL);
    if (pam_rc != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_ERR, "cannot determine the user name: %s", pam_strerror(pamh, pam_rc));
        rc = user_error(pam_rc);
        goto out;
    }
    if (!user || !*user) {
        pam_syslog(pamh, LOG_ERR, "the user name is empty");
        rc = EXTID_USER_UNKNOWN;
        goto out;
    }
    /* Only local accounts may be opened; checked before any network call. */
    pw = pam_modutil_getpwnam(pamh, user);
    req.account = user;
    req.not_local = !pw;
    req.star_ok = pw && extid_users_star_uid((unsigned long)pw->pw_uid);
    /* Name services that fold case or resolve aliases (sssd, winbind) answer for names other
     * than the account's own: the users file speaks of the account that would be opened. */
    if (pw && strcmp(pw->pw_name, user) != 0) {
        extid_log(&log, LOG_NOTICE, "user %s is the local account %s", user, pw->pw_name);
        req.account = pw->pw_name;
    }
    req.service = item_string(pamh, PAM_SERVICE);
    req.remote_host = item_string(pamh, PAM_RHOST);
    req.env = &env;
    rc = extid_login(&cfg, &req, &prompter, &log);
    if (rc == EXTID_OK)
        rc = export_env(pamh, &env, &log);
    if (rc != EXTID_OK && rc != EXTID_CONV_ERR)
        show_held(&conv);
out:
    extid_env_free(&env);
    extid_config_free(&cfg);
    return pam_code_for(rc);
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    /* No credentials to establish: the ID token is only evidence for this one login. */
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_SUCCESS;
}
