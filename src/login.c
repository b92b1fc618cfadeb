#include "login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "discovery.h"
#include "http.h"
#include "idtoken.h"
#include "nativeauth.h"
#include "throttle.h"
#include "users.h"
#include "util.h"

#define PROMPT_MAX 512

/* What the person is told; the precise reason only goes to the log (no account enumeration). */
static const char *message_for(enum extid_result r)
{
    switch (r) {
    case EXTID_MAXTRIES: return "Too many wrong codes.";
    case EXTID_UNAVAILABLE: return "The sign-in service cannot be reached; try again later.";
    case EXTID_CONFIG_ERR:
    case EXTID_SYSTEM_ERR: return "Sign-in is not available on this system right now.";
    default: return "Authentication failed.";
    }
}

static void show(const struct extid_prompter *p, bool error, const char *msg)
{
    if (p->show)
        p->show(p->ctx, error, msg);
}

static enum extid_result ask(const struct extid_prompter *p, bool echo, const char *prompt,
                             char **answer)
{
    *answer = NULL;
    if (p->ask(p->ctx, echo, prompt, answer) != EXTID_OK || !*answer) {
        extid_free_secret(*answer);
        *answer = NULL;
        return EXTID_CONV_ERR;
    }
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

/* The email to challenge: the single mapped address, or one the person types that the users
 * file allows. Refused addresses never reach the network. */
static enum extid_result choose_email(const struct extid_identities *ids,
                                      const struct extid_login_request *req,
                                      const struct extid_prompter *p,
                                      const struct extid_log *log, char **email)
{
    const char *single = extid_identities_single(ids);
    char prompt[PROMPT_MAX];
    char *typed = NULL;
    enum extid_result rc;

    if (single) {
        *email = strdup(single);
        return *email ? EXTID_OK : EXTID_SYSTEM_ERR;
    }
    snprintf(prompt, sizeof prompt, "Email address for %s: ", req->account);
    rc = ask(p, true, prompt, &typed);
    if (rc != EXTID_OK)
        return rc;
    trim_blanks(typed); /* a pasted address often comes with spaces around it */
    if (!extid_email_valid(typed)) {
        extid_log(log, LOG_NOTICE, "account %s: typed text is not an email address", req->account);
        rc = EXTID_AUTH_ERR;
        goto out;
    }
    if (!extid_identities_allow(ids, typed)) {
        extid_log(log, LOG_NOTICE, "account %s: email %s is not allowed for this account",
                  req->account, typed);
        rc = EXTID_AUTH_ERR;
        goto out;
    }
    *email = typed;
    typed = NULL;
    rc = EXTID_OK;
out:
    free(typed);
    return rc;
}

/* Every code sent passes here first, so the per-identity limit holds across logins. */
static enum extid_result may_send_code(const struct extid_config *cfg, const char *email,
                                       const struct extid_prompter *p,
                                       const struct extid_log *log)
{
    struct extid_throttle_policy policy = {
        .limit = cfg->send_limit, .window = cfg->send_window, .gap = cfg->send_gap,
    };
    long wait = 0;
    enum extid_result rc = extid_throttle_take(cfg->cache_dir, email, &policy, time(NULL),
                                               &wait, log);
    char msg[160];

    if (rc == EXTID_AUTH_ERR) {
        /* "this address": the person may not have typed it (it can come from the users file),
         * and an unauthenticated caller must not learn it. */
        if (wait < 60)
            snprintf(msg, sizeof msg, "Too many codes were sent to this address; wait %ld seconds.",
                     wait < 1 ? 1 : wait);
        else
            snprintf(msg, sizeof msg, "Too many codes were sent to this address; wait %ld minutes.",
                     (wait + 59) / 60);
        show(p, true, msg);
        rc = EXTID_THROTTLED;
    }
    return rc;
}

static void code_prompt(char *buf, size_t size, const struct extid_challenge *ch, bool can_resend)
{
    snprintf(buf, size, "Code emailed to %s (%d digits%s): ", ch->target_label, ch->code_length,
             can_resend ? "; empty line for a new code" : "");
}

/* Asks for codes until one is accepted by /token. *id_token is set on success. */
static enum extid_result exchange_code(const struct extid_config *cfg, struct extid_http *http,
                                       const char *email, struct extid_challenge *ch,
                                       const struct extid_prompter *p,
                                       const struct extid_log *log, char **id_token)
{
    char prompt[PROMPT_MAX];
    char *code = NULL;
    int attempts = 0, resends = 0;
    enum extid_result rc = EXTID_AUTH_ERR;

    while (attempts < cfg->max_attempts) {
        code_prompt(prompt, sizeof prompt, ch, resends < cfg->max_resends);
        rc = ask(p, false, prompt, &code);
        if (rc != EXTID_OK)
            goto out;
        if (code[0] == '\0' && resends < cfg->max_resends) {
            struct extid_challenge fresh = { 0 };
            rc = may_send_code(cfg, email, p, log);
            if (rc == EXTID_OK)
                rc = extid_na_challenge(http, ch->continuation_token, &fresh);
            if (rc == EXTID_OK) {
                extid_challenge_free(ch);
                *ch = fresh;
                resends++;
                extid_debug(log, "new code sent on request (%d of %d)", resends,
                            cfg->max_resends);
            } else if (rc == EXTID_THROTTLED || rc == EXTID_UNAVAILABLE) {
                /* No new code went out (the throttle said no, or Entra refused or missed the
                 * resend: 429, slow_down, 5xx, network), so the one already sent still works. */
                if (rc == EXTID_UNAVAILABLE) {
                    extid_log(log, LOG_NOTICE, "no new code was sent; the current one stays valid");
                    show(p, true, "No new code could be sent now; enter the code already sent.");
                }
                extid_challenge_free(&fresh);
                resends = cfg->max_resends;
            } else {
                goto out;
            }
            extid_free_secret(code);
            code = NULL;
            continue;
        }
        attempts++;
        if (!extid_code_valid(code, ch->code_length)) {
            extid_log(log, LOG_NOTICE, "code entry %d of %d: not %d digits, not sent", attempts,
                      cfg->max_attempts, ch->code_length);
            if (attempts < cfg->max_attempts) {
                char msg[96];
                snprintf(msg, sizeof msg, "The code is %d digits.", ch->code_length);
                show(p, true, msg);
            }
            rc = EXTID_WRONG_CODE;
        } else {
            rc = extid_na_token(http, ch->continuation_token, code, id_token);
            if (rc == EXTID_WRONG_CODE) {
                extid_log(log, LOG_NOTICE, "code entry %d of %d: wrong code", attempts,
                          cfg->max_attempts);
                if (attempts < cfg->max_attempts)
                    show(p, true, "Wrong code, try again.");
            }
        }
        extid_free_secret(code);
        code = NULL;
        if (rc != EXTID_WRONG_CODE)
            goto out;
    }
    rc = EXTID_MAXTRIES;
out:
    extid_free_secret(code);
    return rc;
}

/* Signature and claims against `info`, fetched before the code prompt. An unknown kid refreshes
 * it once (key rotation), and so does a cached key set that turns out unusable, so that a bad
 * set the tenant has since mended does not refuse every login until jwks_ttl runs out. */
static enum extid_result verify_token(const struct extid_config *cfg, struct extid_http *http,
                                      struct extid_signing_info *info, const char *id_token,
                                      const char *email, const struct extid_log *log)
{
    struct extid_claim_policy policy = {
        .audience = cfg->client_id,
        .tenant_id = cfg->tenant_id,
        .identity_claim = cfg->identity_claim,
        .email = email,
        .clock_skew = cfg->clock_skew,
    };
    enum extid_result rc;

    policy.issuer = info->issuer;
    policy.now = time(NULL);
    rc = extid_idtoken_verify(id_token, info->jwks_json, strlen(info->jwks_json), &policy, log);
    if (rc == EXTID_UNAVAILABLE && info->cached)
        extid_log(log, LOG_WARNING, "the cached JWKS is unusable: refetching");
    else if (rc == EXTID_UNKNOWN_KID)
        extid_debug(log, "ID token key not in the cached JWKS: refetching");
    else
        return rc;
    extid_signing_info_free(info);
    rc = extid_signing_info_get(http, true, info);
    if (rc != EXTID_OK)
        return rc;
    policy.issuer = info->issuer;
    policy.now = time(NULL);
    rc = extid_idtoken_verify(id_token, info->jwks_json, strlen(info->jwks_json), &policy, log);
    if (rc == EXTID_UNKNOWN_KID) {
        extid_log(log, LOG_ERR, "ID token signed by a key the tenant does not publish");
        rc = EXTID_AUTH_ERR;
    }
    return rc;
}

static void audit(const struct extid_login_request *req, const char *email,
                  enum extid_result rc, const struct extid_log *log)
{
    extid_log(log, rc == EXTID_OK ? LOG_INFO : LOG_NOTICE,
              "login %s: user=%s email=%s rhost=%s service=%s",
              rc == EXTID_OK ? "granted" : "refused", req->account, email ? email : "-",
              req->remote_host && *req->remote_host ? req->remote_host : "-",
              req->service ? req->service : "-");
    if (rc != EXTID_OK)
        extid_log(log, LOG_NOTICE, "login result for %s: %s", req->account,
                  extid_result_name(rc));
}

enum extid_result extid_login(const struct extid_config *cfg,
                              const struct extid_login_request *req,
                              const struct extid_prompter *prompter,
                              const struct extid_log *log)
{
    struct extid_identities ids = { 0 };
    struct extid_http http = { 0 };
    struct extid_challenge ch = { 0 };
    struct extid_signing_info info = { 0 };
    char *email = NULL, *continuation = NULL, *id_token = NULL;
    bool http_open = false;
    enum extid_result rc;

    if (!cfg || !req || !req->account || !prompter || !prompter->ask)
        return EXTID_SYSTEM_ERR;

    if (req->not_local) {
        extid_log(log, LOG_NOTICE, "user %s is not a local account%s", req->account,
                  cfg->unmapped == EXTID_UNMAPPED_IGNORE ? ": ignored" : "");
        rc = EXTID_USER_UNKNOWN;
    } else {
        rc = extid_users_lookup(cfg->users_file, req->account, req->star_ok, &ids, log);
        if (rc == EXTID_USER_UNKNOWN)
            extid_log(log, LOG_NOTICE, "account %s is not in %s%s", req->account,
                      cfg->users_file, cfg->unmapped == EXTID_UNMAPPED_IGNORE ? ": ignored" : "");
    }
    if (rc == EXTID_USER_UNKNOWN) {
        if (cfg->unmapped == EXTID_UNMAPPED_IGNORE) {
            rc = EXTID_IGNORE; /* silent: the next module in the stack takes over */
            goto out_quiet;
        }
        goto out;
    }
    if (rc != EXTID_OK)
        goto out;
    for (size_t i = 0; i < ids.nlines; i++) {
        if (ids.lines[i].nreqs) { /* fail closed until the token's claims are checked */
            extid_log(log, LOG_ERR, "%s:%d: requirements are not supported yet", ids.file,
                      ids.lines[i].lineno);
            rc = EXTID_CONFIG_ERR;
            goto out;
        }
    }

    rc = extid_http_open(&http, cfg, log);
    if (rc != EXTID_OK)
        goto out;
    http_open = true;
    /* While the person types the address, the connection (TCP and TLS) gets under way. No
     * request is sent on it until the address has passed the users file and the throttle. */
    if (!extid_identities_single(&ids))
        extid_na_prepare_initiate(&http);

    rc = choose_email(&ids, req, prompter, log, &email);
    if (rc != EXTID_OK)
        goto out;

    rc = may_send_code(cfg, email, prompter, log);
    if (rc != EXTID_OK)
        goto out;

    rc = extid_na_initiate(&http, email, &continuation);
    if (rc != EXTID_OK)
        goto out;
    rc = extid_na_challenge(&http, continuation, &ch);
    if (rc != EXTID_OK)
        goto out;
    /* The keys are needed only after the code, but a cold cache is filled now, while the
     * person opens their mailbox, so that nothing but /token stands between code and login. */
    rc = extid_signing_info_get(&http, false, &info);
    if (rc != EXTID_OK)
        goto out;
    rc = exchange_code(cfg, &http, email, &ch, prompter, log, &id_token);
    if (rc != EXTID_OK)
        goto out;
    rc = verify_token(cfg, &http, &info, id_token, email, log);
out:
    if (rc != EXTID_OK && rc != EXTID_CONV_ERR && rc != EXTID_THROTTLED)
        show(prompter, true, message_for(rc));
    if (rc == EXTID_WRONG_CODE || rc == EXTID_UNKNOWN_KID || rc == EXTID_THROTTLED)
        rc = EXTID_AUTH_ERR; /* internal signals never leave the core */
    audit(req, email, rc, log);
out_quiet:
    extid_free_secret(id_token);
    extid_free_secret(continuation);
    extid_challenge_free(&ch);
    extid_signing_info_free(&info);
    if (http_open)
        extid_http_close(&http);
    free(email);
    extid_identities_free(&ids);
    return rc;
}
