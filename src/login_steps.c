/* The steps of a login (emailed code or password, then a second factor when Entra requires
 * one), in the order login.c runs them. */
#include "login_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authz.h"
#include "idtoken.h"
#include "throttle.h"
#include "util.h"

#define PROMPT_MAX 512

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

/* "<what>; wait N seconds." or minutes. "this address": the person may not have typed it (it
 * can come from the users file), and an unauthenticated caller must not learn it. */
static void tell_wait(const struct login *l, const char *what, long wait)
{
    char msg[160];

    if (wait < 60)
        snprintf(msg, sizeof msg, "%s; wait %ld seconds.", what, wait < 1 ? 1 : wait);
    else
        snprintf(msg, sizeof msg, "%s; wait %ld minutes.", what, (wait + 59) / 60);
    login_show(l, true, msg);
}

static struct extid_throttle_policy send_policy(const struct extid_config *cfg)
{
    struct extid_throttle_policy policy = {
        .limit = cfg->send_limit, .window = cfg->send_window, .gap = cfg->send_gap,
    };
    return policy;
}

/* Every code sent passes here first, so the per-identity limit holds across logins. */
enum extid_throttle login_may_send_code(struct login *l)
{
    struct extid_throttle_policy policy = send_policy(l->cfg);
    time_t now = time(NULL);
    long wait = 0;
    enum extid_throttle rc = extid_throttle_take(l->cfg->cache_dir, l->email, &policy, now,
                                                 &wait, l->log);

    if (rc == EXTID_THROTTLE_REFUSED)
        tell_wait(l, "Too many codes were sent to this address", wait);
    if (rc == EXTID_THROTTLE_GO) {
        l->send_taken_at = now;
        l->send_pending = true;
    }
    return rc;
}

void login_send_done(struct login *l, bool may_have_gone)
{
    struct extid_throttle_policy policy = send_policy(l->cfg);

    if (!l->send_pending)
        return;
    l->send_pending = false;
    l->send_slot = false;
    /* Giving back is best effort: should it fail, the send keeps counting, the safe side. */
    if (!may_have_gone)
        extid_throttle_give_back(l->cfg->cache_dir, l->email, &policy, l->send_taken_at,
                                 time(NULL), l->log);
}

/* A failure budget outcome for the login: EXTID_OK to go on; a refusal tells how long to wait. */
static enum extid_result budget_result(struct login *l, enum extid_throttle t, long wait)
{
    switch (t) {
    case EXTID_THROTTLE_GO: return EXTID_OK;
    case EXTID_THROTTLE_REFUSED:
        tell_wait(l, "Too many wrong codes for this address", wait);
        l->told = true;
        return EXTID_AUTH_ERR;
    case EXTID_THROTTLE_UNSAFE: return EXTID_CONFIG_ERR;
    default: return EXTID_SYSTEM_ERR;
    }
}

enum extid_result login_reserve_try(struct login *l, time_t *taken_at)
{
    const struct extid_config *cfg = l->cfg;
    long wait = 0;
    enum extid_throttle t;

    *taken_at = time(NULL);
    t = extid_fails_reserve(cfg->cache_dir, l->email, cfg->fail_limit, cfg->send_window,
                            *taken_at, &wait, l->log);
    return budget_result(l, t, wait);
}

enum extid_result login_settle_try(struct login *l, time_t taken_at, enum extid_result rc,
                                   bool *wrong)
{
    const struct extid_config *cfg = l->cfg;
    long wait = 0;
    enum extid_throttle t;
    enum extid_result spent;

    if (!*wrong) {
        /* Accepted: cleared with the rest by a successful login. Refused for another reason
         * (an expired flow, a lockout): no wrong secret, the count goes back. No answer at all
         * (network, timeout, 5xx): Entra may have judged it, so it keeps counting. */
        if (rc != EXTID_OK && rc != EXTID_UNAVAILABLE)
            extid_fails_give_back(cfg->cache_dir, l->email, cfg->fail_limit, cfg->send_window,
                                  taken_at, time(NULL), l->log);
        return rc;
    }
    t = extid_fails_check(cfg->cache_dir, l->email, cfg->fail_limit, cfg->send_window,
                          time(NULL), &wait, l->log);
    spent = budget_result(l, t, wait);
    if (spent == EXTID_OK)
        return rc; /* *wrong stays: another may be asked for */
    *wrong = false;
    return spent;
}

/* What a throttle outcome other than a refusal means for the login. */
static enum extid_result throttle_result(enum extid_throttle t)
{
    switch (t) {
    case EXTID_THROTTLE_GO: return EXTID_OK;
    case EXTID_THROTTLE_UNSAFE: return EXTID_CONFIG_ERR;
    default: return EXTID_SYSTEM_ERR;
    }
}

/* ---- account, connect, address ---- */

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
    char prompt[PROMPT_MAX];
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

/* ---- budget, throttle, initiate, challenge, keys ---- */

/* Wrong codes and passwords refused for this address within send_window: once fail_limit of
 * them are counted, no request goes out for it, so that strangers cannot walk an account into
 * Entra's lockout through this host. */
enum extid_result login_step_budget(struct login *l)
{
    const struct extid_config *cfg = l->cfg;
    long wait = 0;
    enum extid_throttle t = extid_fails_check(cfg->cache_dir, l->email, cfg->fail_limit,
                                              cfg->send_window, time(NULL), &wait, l->log);

    return budget_result(l, t, wait);
}

enum extid_result login_step_throttle(struct login *l)
{
    enum extid_throttle t = login_may_send_code(l);

    if (t == EXTID_THROTTLE_REFUSED) {
        l->told = true; /* how long to wait, rather than a bare failure */
        return EXTID_AUTH_ERR;
    }
    l->send_slot = t == EXTID_THROTTLE_GO;
    return throttle_result(t);
}

/* Before each code goes out: the permission taken before initiate if no code used it yet (a
 * password account's), else a new one, so that a password and a second factor count as one. */
static enum extid_throttle may_send(struct login *l)
{
    if (l->send_slot) {
        l->send_slot = false;
        return EXTID_THROTTLE_GO;
    }
    return login_may_send_code(l);
}

enum extid_result login_step_initiate(struct login *l)
{
    enum extid_result rc = l->transport->initiate(l->session, l->email, &l->continuation);

    if (rc != EXTID_OK)
        login_send_done(l, false); /* /initiate sends no code */
    return rc;
}

/* A code goes out (the code step follows), or Entra asks for the password (the password step). */
enum extid_result login_step_challenge(struct login *l)
{
    enum extid_result rc = l->transport->challenge(l->session, l->continuation, &l->challenge);

    if (rc != EXTID_OK) {
        /* Only a code Entra may have sent counts: not one it refused to send. */
        login_send_done(l, rc == EXTID_UNAVAILABLE);
        return rc;
    }
    if (l->challenge.kind == EXTID_CHALLENGE_PASSWORD
        && !(l->cfg->methods & EXTID_METHOD_PASSWORD)) {
        /* Entra asks for a password only of a client that offered it; refuse all the same. */
        extid_log(l->log, LOG_WARNING, "challenge: the account signs in with a password, which "
                  "methods does not offer, refused");
        return EXTID_AUTH_ERR;
    }
    if (l->challenge.kind == EXTID_CHALLENGE_PASSWORD) {
        l->skip |= LOGIN_SKIP(LOGIN_CODE);
    } else {
        login_send_done(l, true);
        l->skip |= LOGIN_SKIP(LOGIN_PASSWORD);
    }
    return EXTID_OK;
}

/* The keys are needed only after the code, but a cold cache is filled now, while the person
 * opens their mailbox, so that nothing but /token stands between code and login. */
enum extid_result login_step_keys(struct login *l)
{
    return l->transport->signing_info(l->session, false, &l->keys);
}

/* /token's answer to a first factor: the ID token, or a second factor to ask for; *wrong when
 * only the secret was wrong, so that another may be asked for. */
static enum extid_result first_factor_token(struct login *l, enum extid_grant grant,
                                            const char *secret, bool *wrong)
{
    enum extid_result rc = l->transport->token(l->session, grant,
                                               l->challenge.continuation_token, secret,
                                               &l->id_token, &l->second, wrong);

    if (rc != EXTID_OK)
        return rc;
    *wrong = false; /* a grant is never a wrong secret, whatever a transport says */
    if (l->id_token) {
        l->skip |= LOGIN_SKIP(LOGIN_SECOND);
        return EXTID_OK;
    }
    /* Without an ID token, the second-factor step takes it from here; with neither, the
     * transport broke its word: never a success. */
    return l->second ? EXTID_OK : EXTID_SYSTEM_ERR;
}

/* ---- password ---- */

/* Asks for the password until Entra takes it. The password lives only in `password`, between the
 * prompt and the /token request, and is wiped right after; it is never logged nor stored, and
 * never becomes a PAM item. */
enum extid_result login_step_password(struct login *l)
{
    char prompt[PROMPT_MAX];
    char *password = NULL;
    int attempts = 0, max = l->cfg->max_attempts;
    bool wrong = false;
    enum extid_result rc = EXTID_MAXTRIES;

    snprintf(prompt, sizeof prompt, "Password for %s: ", l->email);
    while (attempts < max) {
        rc = login_ask(l, false, prompt, &password);
        if (rc != EXTID_OK)
            break;
        attempts++;
        wrong = false;
        if (password[0] == '\0') {
            extid_log(l->log, LOG_NOTICE, "password entry %d of %d: empty, not sent", attempts,
                      max);
            wrong = true;
        } else {
            time_t taken_at;
            rc = login_reserve_try(l, &taken_at);
            if (rc == EXTID_OK) {
                rc = first_factor_token(l, EXTID_GRANT_PASSWORD, password, &wrong);
                if (wrong)
                    extid_log(l->log, LOG_NOTICE, "password entry %d of %d: wrong password",
                              attempts, max);
                rc = login_settle_try(l, taken_at, rc, &wrong);
            }
        }
        extid_free_secret(password);
        password = NULL;
        if (!wrong)
            return rc;
        if (attempts < max)
            login_show(l, true, "Wrong password, try again.");
        rc = EXTID_MAXTRIES;
    }
    if (rc == EXTID_MAXTRIES)
        l->wrong_passwords = true;
    return rc;
}

/* ---- codes (the first factor's, or the second factor's) ---- */

static void code_prompt(char *buf, size_t size, const struct extid_challenge *ch, bool can_resend)
{
    snprintf(buf, size, "Code %s %s (%d digits%s): ",
             ch->channel == EXTID_CHANNEL_SMS ? "texted to" : "emailed to", ch->target_label,
             ch->code_length, can_resend ? "; empty line for a new code" : "");
}

/* A code by the current method: the first factor's, or the chosen second factor's. */
static enum extid_result send_code(struct login *l, const char *continuation,
                                   struct extid_challenge *out)
{
    if (l->method_id)
        return l->transport->challenge_method(l->session, continuation, l->method_id, out);
    return l->transport->challenge(l->session, continuation, out);
}

/* An empty answer: a new code, if the throttle and Entra allow one. EXTID_OK when the login goes
 * on (with the new code or the one already sent); *resends counts what may still be asked. */
static enum extid_result resend(struct login *l, int *resends)
{
    struct extid_challenge fresh = { 0 };
    enum extid_throttle t = may_send(l);
    enum extid_result rc = throttle_result(t);

    if (t == EXTID_THROTTLE_GO) {
        rc = send_code(l, l->challenge.continuation_token, &fresh);
        login_send_done(l, rc == EXTID_OK || rc == EXTID_UNAVAILABLE);
    }
    if (rc == EXTID_OK && fresh.kind != EXTID_CHALLENGE_OOB) {
        extid_log(l->log, LOG_ERR, "resend: Entra asked for something else than a code");
        rc = EXTID_UNAVAILABLE;
    }
    if (rc == EXTID_OK) {
        extid_challenge_free(&l->challenge);
        l->challenge = fresh;
        (*resends)++;
        extid_debug(l->log, "new code sent on request (%d of %d)", *resends, l->cfg->max_resends);
        return EXTID_OK;
    }
    extid_challenge_free(&fresh);
    if (t != EXTID_THROTTLE_REFUSED && rc != EXTID_UNAVAILABLE)
        return rc;
    /* No new code went out (the throttle said no, or Entra refused or missed the resend: 429,
     * slow_down, 5xx, network), so the one already sent still works. */
    if (rc == EXTID_UNAVAILABLE) {
        extid_log(l->log, LOG_NOTICE, "no new code was sent; the current one stays valid");
        login_show(l, true, "No new code could be sent now; enter the code already sent.");
    }
    *resends = l->cfg->max_resends;
    return EXTID_OK;
}

/* One typed code: EXTID_OK (the ID token, or a second factor to follow), or a refusal; *wrong
 * is set when it was only the code that was wrong, so that another may be asked for. */
static enum extid_result try_code(struct login *l, const char *code, int attempts, bool *wrong)
{
    const struct extid_challenge *ch = &l->challenge;
    int max = l->cfg->max_attempts;
    enum extid_result rc;
    time_t taken_at;

    *wrong = false;
    if (!extid_code_valid(code, ch->code_length)) {
        extid_log(l->log, LOG_NOTICE, "code entry %d of %d: not %d digits, not sent", attempts,
                  max, ch->code_length);
        if (attempts < max) {
            char msg[96];
            snprintf(msg, sizeof msg, "The code is %d digits.", ch->code_length);
            login_show(l, true, msg);
        }
        *wrong = true;
        return EXTID_AUTH_ERR;
    }
    rc = login_reserve_try(l, &taken_at);
    if (rc != EXTID_OK)
        return rc;
    if (l->method_id) {
        rc = l->transport->token(l->session, EXTID_GRANT_MFA_OOB, ch->continuation_token, code,
                                 &l->id_token, NULL, wrong);
        if (rc == EXTID_OK)
            *wrong = false;
    } else {
        rc = first_factor_token(l, EXTID_GRANT_OOB, code, wrong);
    }
    if (*wrong)
        extid_log(l->log, LOG_NOTICE, "code entry %d of %d: wrong code", attempts, max);
    rc = login_settle_try(l, taken_at, rc, wrong);
    if (*wrong && attempts < max)
        login_show(l, true, "Wrong code, try again.");
    return rc;
}

/* Asks for codes until one is accepted by /token. */
static enum extid_result ask_codes(struct login *l)
{
    char prompt[PROMPT_MAX];
    char *code = NULL;
    int attempts = 0, resends = 0;
    bool again;
    enum extid_result rc = EXTID_MAXTRIES;

    while (attempts < l->cfg->max_attempts) {
        code_prompt(prompt, sizeof prompt, &l->challenge, resends < l->cfg->max_resends);
        rc = login_ask(l, false, prompt, &code);
        if (rc != EXTID_OK)
            break;
        if (code[0] == '\0' && resends < l->cfg->max_resends) {
            rc = resend(l, &resends);
            again = rc == EXTID_OK;
        } else {
            attempts++;
            rc = try_code(l, code, attempts, &again);
        }
        extid_free_secret(code);
        code = NULL;
        if (!again)
            break;
        rc = EXTID_MAXTRIES;
    }
    return rc;
}

enum extid_result login_step_code(struct login *l)
{
    return ask_codes(l);
}

/* ---- second factor ---- */

static const char *channel_name(enum extid_channel c)
{
    return c == EXTID_CHANNEL_SMS ? "text message to" : "email to";
}

/* One method used directly; several offered as a numbered choice (echo on, answered by the
 * number), asked again on an answer that is not one of the numbers. */
static enum extid_result choose_method(struct login *l, const struct extid_mfa_method **out)
{
    const struct extid_mfa_methods *m = &l->methods;
    char prompt[PROMPT_MAX];
    char *answer = NULL;
    size_t used;
    int attempts = 0;
    enum extid_result rc = EXTID_AUTH_ERR;

    if (m->count == 1) {
        *out = &m->methods[0];
        return EXTID_OK;
    }
    used = (size_t)snprintf(prompt, sizeof prompt, "Second factor for %s:", l->email);
    for (size_t i = 0; i < m->count && used < sizeof prompt; i++)
        used += (size_t)snprintf(prompt + used, sizeof prompt - used, " %zu) %s %s%s", i + 1,
                                 channel_name(m->methods[i].channel), m->methods[i].label,
                                 i + 1 < m->count ? "," : ".");
    if (used < sizeof prompt)
        snprintf(prompt + used, sizeof prompt - used, " Choose 1-%zu: ", m->count);
    while (attempts++ < l->cfg->max_attempts) {
        char *end = NULL;
        unsigned long n;

        rc = login_ask(l, true, prompt, &answer);
        if (rc != EXTID_OK)
            return rc;
        n = strtoul(answer, &end, 10);
        if (answer[0] >= '1' && answer[0] <= '9' && end && *end == '\0' && n >= 1
            && n <= m->count) {
            *out = &m->methods[n - 1];
            extid_free_secret(answer);
            return EXTID_OK;
        }
        extid_free_secret(answer);
        answer = NULL;
        login_show(l, true, "Answer with one of the numbers.");
        rc = EXTID_AUTH_ERR;
    }
    extid_log(l->log, LOG_NOTICE, "no second-factor method chosen");
    return rc;
}

/* Entra wants a second factor: its methods (introspect), the person's choice, a code sent by it
 * (challenge with the method's id), then codes as for the first factor, with grant mfa_oob. */
enum extid_result login_step_second(struct login *l)
{
    const struct extid_mfa_method *method = NULL;
    enum extid_throttle throttle;
    enum extid_result rc;

    if (!l->second)
        return l->id_token ? EXTID_OK : EXTID_SYSTEM_ERR; /* no first factor made it here */
    rc = l->transport->introspect(l->session, l->second, &l->methods);
    if (rc != EXTID_OK)
        return rc;
    rc = choose_method(l, &method);
    if (rc != EXTID_OK)
        return rc;
    extid_debug(l->log, "second factor by %s", method->channel == EXTID_CHANNEL_SMS ? "sms"
                                                                                     : "email");
    throttle = may_send(l);
    if (throttle == EXTID_THROTTLE_REFUSED) {
        l->told = true; /* how long to wait, rather than a bare failure */
        return EXTID_AUTH_ERR;
    }
    rc = throttle_result(throttle);
    if (rc != EXTID_OK)
        return rc;
    l->method_id = method->id;
    extid_challenge_free(&l->challenge);
    rc = send_code(l, l->methods.continuation_token, &l->challenge);
    login_send_done(l, rc == EXTID_OK || rc == EXTID_UNAVAILABLE);
    if (rc == EXTID_OK && l->challenge.kind != EXTID_CHALLENGE_OOB)
        rc = EXTID_UNAVAILABLE;
    if (rc != EXTID_OK)
        return rc;
    return ask_codes(l);
}

/* ---- verify ---- */

/* An app with a claims-mapping policy and its own signing key has its tokens signed by a key
 * that only the app-specific discovery document names: tried when the tenant's key set, fresh,
 * still lacks the token's key. Its cached copy first, then a fresh one. */
static enum extid_result verify_with_app_keys(struct login *l, struct extid_claim_policy *policy,
                                              bool *unknown_kid)
{
    struct extid_signing_info app = { 0 };
    enum extid_result rc = EXTID_AUTH_ERR;

    *unknown_kid = true; /* until a key set says otherwise */
    if (!l->transport->app_signing_info)
        return rc;
    for (int fresh = 0; fresh < 2 && *unknown_kid; fresh++) {
        extid_signing_info_free(&app);
        rc = l->transport->app_signing_info(l->session, fresh, &app);
        if (rc == EXTID_OK && !app.jwks_json)
            rc = EXTID_SYSTEM_ERR;
        if (rc != EXTID_OK) {
            *unknown_kid = false; /* no key set to say it: the failure is the answer */
            break;
        }
        policy->issuer = app.issuer;
        policy->now = time(NULL);
        rc = extid_idtoken_verify_claims(l->id_token, app.jwks_json, strlen(app.jwks_json),
                                         policy, l->log, &l->claims, unknown_kid);
        if (*unknown_kid && !app.cached)
            break;
    }
    if (rc == EXTID_OK)
        extid_log(l->log, LOG_NOTICE, "ID token verified with the app's own signing key (from %s), "
                  "not one of the tenant's", app.jwks_uri ? app.jwks_uri : "app discovery");
    extid_signing_info_free(&app);
    return rc;
}

/* Signature and claims against l->keys, fetched before the code prompt. An unknown kid refreshes
 * them once (key rotation), and so does a cached key set that turns out unusable, so that a bad
 * set the tenant has since mended does not refuse every login until jwks_ttl runs out. */
enum extid_result login_step_verify(struct login *l)
{
    const struct extid_config *cfg = l->cfg;
    struct extid_claim_policy policy = {
        .audience = cfg->client_id,
        .tenant_id = cfg->tenant_id,
        .identity_claim = cfg->identity_claim,
        .email = l->email,
        .clock_skew = cfg->clock_skew,
    };
    bool unknown_kid = false;
    enum extid_result rc;

    if (!l->id_token || !l->keys.jwks_json)
        return EXTID_SYSTEM_ERR; /* a step before did not do its part: never a success */
    policy.issuer = l->keys.issuer;
    policy.now = time(NULL);
    rc = extid_idtoken_verify_claims(l->id_token, l->keys.jwks_json, strlen(l->keys.jwks_json),
                                     &policy, l->log, &l->claims, &unknown_kid);
    if (rc == EXTID_UNAVAILABLE && l->keys.cached)
        extid_log(l->log, LOG_WARNING, "the cached JWKS is unusable: refetching");
    else if (unknown_kid)
        extid_debug(l->log, "ID token key not in the cached JWKS: refetching");
    else
        return rc;
    extid_signing_info_free(&l->keys);
    rc = l->transport->signing_info(l->session, true, &l->keys);
    if (rc != EXTID_OK)
        return rc;
    if (!l->keys.jwks_json)
        return EXTID_SYSTEM_ERR;
    policy.issuer = l->keys.issuer;
    policy.now = time(NULL);
    rc = extid_idtoken_verify_claims(l->id_token, l->keys.jwks_json, strlen(l->keys.jwks_json),
                                     &policy, l->log, &l->claims, &unknown_kid);
    if (unknown_kid) {
        extid_debug(l->log, "ID token key not in the tenant's key set: trying the app's own");
        rc = verify_with_app_keys(l, &policy, &unknown_kid);
    }
    if (unknown_kid)
        extid_log(l->log, LOG_ERR, "ID token signed by a key neither the tenant nor the app "
                  "publishes");
    return rc;
}

/* ---- authz ---- */

/* Who may log in: only after the signature and every claim passed, never instead of them. */
enum extid_result login_step_authz(struct login *l)
{
    if (!l->claims || !l->email)
        return EXTID_SYSTEM_ERR; /* a step before did not do its part: never a success */
    return extid_authz_check(&l->ids, l->email, l->claims, l->log, NULL);
}

/* ---- env ---- */

/* Last, so that nothing is handed out for a login that does not succeed. */
enum extid_result login_step_env(struct login *l)
{
    if (!l->cfg->export_env || !l->req->env)
        return EXTID_OK;
    return extid_env_build(l->claims, l->email, l->req->env, l->log);
}

/* ---- forgive ---- */

/* As pam_faillock does, a successful login clears the address's failures. Should that fail,
 * they keep counting (logged), which never lets anyone in who should not be. */
enum extid_result login_step_forgive(struct login *l)
{
    if (l->cfg->fail_limit > 0
        && extid_fails_clear(l->cfg->cache_dir, l->email, l->log) != EXTID_THROTTLE_GO)
        extid_log(l->log, LOG_WARNING, "failure budget: the failures of %s stay counted",
                  l->email);
    return EXTID_OK;
}
