/* The secrets the person types: the password, or emailed codes (with resends), then a second
 * factor's code when Entra requires one. Each secret lives only between its prompt and its /token
 * request and is wiped right after; each is counted against the failure budget first. */
#include "login_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

/* /token's answer to a first factor: the ID token, or a second factor to ask for; *wrong when
 * only the secret was wrong, so that another may be asked for. */
static enum extid_result first_factor_token(struct login *l, enum extid_grant grant,
                                            const char *secret, bool *wrong)
{
    enum extid_result rc = l->transport->token(l->session, grant, l->challenge.continuation_token,
                                               secret, &l->id_token, &l->second, wrong);

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

/* Asks for the password until Entra takes it. The password lives only in `password`, between the
 * prompt and the /token request, and is wiped right after; it is never logged nor stored, and
 * never becomes a PAM item. */
enum extid_result login_step_password(struct login *l)
{
    char prompt[LOGIN_PROMPT_MAX];
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
    enum extid_throttle t = login_may_send_next(l);
    enum extid_result rc = login_throttle_result(t);

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
        extid_log(l->log, LOG_NOTICE, "code entry %d of %d: not %d digits, not sent", attempts, max,
                  ch->code_length);
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
    char prompt[LOGIN_PROMPT_MAX];
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
    char prompt[LOGIN_PROMPT_MAX];
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
    extid_debug(l->log, "second factor by %s",
                method->channel == EXTID_CHANNEL_SMS ? "sms" : "email");
    throttle = login_may_send_next(l);
    if (throttle == EXTID_THROTTLE_REFUSED) {
        l->told = true; /* how long to wait, rather than a bare failure */
        return EXTID_AUTH_ERR;
    }
    rc = login_throttle_result(throttle);
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
