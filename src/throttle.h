/* Per-identity limit on emailed codes: knowing an address must not let anyone flood its inbox
 * through this host. State lives under cache_dir, shared by concurrent logins. */
#ifndef EXTID_THROTTLE_H
#define EXTID_THROTTLE_H

#include <time.h>
#include "log.h"
#include "result.h"

struct extid_throttle_policy {
    int limit;   /* codes per window; 0 disables the throttle */
    long window; /* seconds */
    long gap;    /* seconds required between two codes */
};

/* The throttle's own outcome; the login decides what each means for it. */
enum extid_throttle {
    EXTID_THROTTLE_GO,      /* recorded: the code may be sent */
    EXTID_THROTTLE_REFUSED, /* over the policy: nothing recorded, wait *retry_after seconds */
    EXTID_THROTTLE_FULL,    /* a new address, and its lock bucket already counts as many
                             * addresses as it may: nothing recorded, try again later */
    EXTID_THROTTLE_UNSAFE,  /* cache_dir is not a safe directory (see extid_cache_dir_check) */
    EXTID_THROTTLE_ERROR,   /* the state could not be read or written safely: fail closed */
};

/* Records that a code is about to be sent to email at `now`, unless that would break the
 * policy. A corrupt state file is logged and treated as holding no sends: only root can write
 * it, and refusing every future login for that address would be worse. */
enum extid_throttle extid_throttle_take(const char *cache_dir, const char *email,
                                        const struct extid_throttle_policy *policy, time_t now,
                                        long *retry_after, const struct extid_log *log);

/* Takes back a send recorded by extid_throttle_take at taken_at that did not happen (the
 * request failed), so that only codes Entra sent count. */
enum extid_throttle extid_throttle_give_back(const char *cache_dir, const char *email,
                                             const struct extid_throttle_policy *policy,
                                             time_t taken_at, time_t now,
                                             const struct extid_log *log);

/* The failure budget: wrong codes or passwords Entra refused, per address, `limit` per `window`
 * seconds (0 turns it off), in cache_dir under the same lock and file rules as the sends.
 * check: EXTID_THROTTLE_REFUSED when the budget is spent (*retry_after = seconds until one
 * failure leaves the window). reserve: before a secret goes to Entra, counts it as a failure at
 * `now` (as the sends are counted before they go out, so that logins running at once cannot
 * overrun the budget), or EXTID_THROTTLE_REFUSED, recording nothing, when it is spent.
 * give_back: takes back the count reserved at taken_at when Entra gave no verdict on the
 * secret. clear: a successful login forgets them all. */
enum extid_throttle extid_fails_check(const char *cache_dir, const char *email, int limit,
                                      long window, time_t now, long *retry_after,
                                      const struct extid_log *log);
enum extid_throttle extid_fails_reserve(const char *cache_dir, const char *email, int limit,
                                        long window, time_t now, long *retry_after,
                                        const struct extid_log *log);
enum extid_throttle extid_fails_give_back(const char *cache_dir, const char *email, int limit,
                                          long window, time_t taken_at, time_t now,
                                          const struct extid_log *log);
enum extid_throttle extid_fails_clear(const char *cache_dir, const char *email,
                                      const struct extid_log *log);

/* Forgets everything kept for the address: its sends and its failures (extid-check --reset). */
enum extid_throttle extid_address_reset(const char *cache_dir, const char *email,
                                        const struct extid_log *log);

#endif
