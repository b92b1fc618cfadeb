/* The per-address limits as the login meets them: the failure budget (checked before any request,
 * each secret counted before it goes out, cleared by a successful login) and the throttle on codes
 * sent. The helpers here are shared with the steps that send codes and secrets. */
#include "login_state.h"

#include <stdio.h>
#include <time.h>

#include "throttle.h"

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

/* Too many other addresses are counted in this address's part of cache_dir (see throttle.c). */
#define FULL_MESSAGE "Too many sign-ins for other addresses are under way; try again later."

static struct extid_throttle_policy send_policy(const struct extid_config *cfg)
{
    struct extid_throttle_policy policy = {
        .limit = cfg->send_limit,
        .window = cfg->send_window,
        .gap = cfg->send_gap,
    };
    return policy;
}

/* Every code sent passes here first, so the per-identity limit holds across logins. */
enum extid_throttle login_may_send_code(struct login *l)
{
    struct extid_throttle_policy policy = send_policy(l->cfg);
    time_t now = time(NULL);
    long wait = 0;
    enum extid_throttle rc =
        extid_throttle_take(l->cfg->cache_dir, l->email, &policy, now, &wait, l->log);

    if (rc == EXTID_THROTTLE_FULL) {
        /* To the steps that send, a full bucket is a refusal like any other; the person is
         * told what it is. */
        login_show(l, true, FULL_MESSAGE);
        rc = EXTID_THROTTLE_REFUSED;
    } else if (rc == EXTID_THROTTLE_REFUSED)
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
        extid_throttle_give_back(l->cfg->cache_dir, l->email, &policy, l->send_taken_at, time(NULL),
                                 l->log);
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
    case EXTID_THROTTLE_FULL:
        login_show(l, true, FULL_MESSAGE);
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
    t = extid_fails_reserve(cfg->cache_dir, l->email, cfg->fail_limit, cfg->send_window, *taken_at,
                            &wait, l->log);
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
    t = extid_fails_check(cfg->cache_dir, l->email, cfg->fail_limit, cfg->send_window, time(NULL),
                          &wait, l->log);
    spent = budget_result(l, t, wait);
    if (spent == EXTID_OK)
        return rc; /* *wrong stays: another may be asked for */
    *wrong = false;
    return spent;
}

/* What a throttle outcome other than a refusal means for the login. */
enum extid_result login_throttle_result(enum extid_throttle t)
{
    switch (t) {
    case EXTID_THROTTLE_GO: return EXTID_OK;
    case EXTID_THROTTLE_REFUSED:
    case EXTID_THROTTLE_FULL: return EXTID_AUTH_ERR;
    case EXTID_THROTTLE_UNSAFE: return EXTID_CONFIG_ERR;
    default: return EXTID_SYSTEM_ERR;
    }
}

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
    return login_throttle_result(t);
}

/* Before each code goes out: the permission taken before initiate if no code used it yet (a
 * password account's), else a new one, so that a password and a second factor count as one. */
enum extid_throttle login_may_send_next(struct login *l)
{
    if (l->send_slot) {
        l->send_slot = false;
        return EXTID_THROTTLE_GO;
    }
    return login_may_send_code(l);
}

/* As pam_faillock does, a successful login clears the address's failures. Should that fail,
 * they keep counting (logged), which never lets anyone in who should not be. */
enum extid_result login_step_forgive(struct login *l)
{
    if (l->cfg->fail_limit > 0
        && extid_fails_clear(l->cfg->cache_dir, l->email, l->log) != EXTID_THROTTLE_GO)
        extid_log(l->log, LOG_WARNING, "failure budget: the failures of %s stay counted", l->email);
    return EXTID_OK;
}
