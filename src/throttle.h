/* Per-identity limit on emailed codes: knowing an address must not let anyone flood its inbox
 * through this host. State lives under cache_dir, shared by concurrent logins. */
#ifndef EXTID_THROTTLE_H
#define EXTID_THROTTLE_H

#include <time.h>
#include "log.h"
#include "result.h"

struct extid_throttle_policy {
    int limit;    /* codes per window; 0 disables the throttle */
    long window;  /* seconds */
    long gap;     /* seconds required between two codes */
};

/* The throttle's own outcome; the login decides what each means for it. */
enum extid_throttle {
    EXTID_THROTTLE_GO,      /* recorded: the code may be sent */
    EXTID_THROTTLE_REFUSED, /* over the policy: nothing recorded, wait *retry_after seconds */
    EXTID_THROTTLE_UNSAFE,  /* cache_dir is not a safe directory (see extid_cache_dir_check) */
    EXTID_THROTTLE_ERROR,   /* the state could not be read or written safely: fail closed */
};

/* Records that a code is about to be sent to email at `now`, unless that would break the
 * policy. A corrupt state file is logged and treated as holding no sends: only root can write
 * it, and refusing every future login for that address would be worse. */
enum extid_throttle extid_throttle_take(const char *cache_dir, const char *email,
                                        const struct extid_throttle_policy *policy, time_t now,
                                        long *retry_after, const struct extid_log *log);

#endif
