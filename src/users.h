/* pam_extid.users: which identities may log in as which local account. */
#ifndef EXTID_USERS_H
#define EXTID_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include "log.h"
#include "result.h"

struct extid_identities {
    char **items;  /* "alice@contoso.com" or "*@contoso.com", as written */
    size_t count;
};

/* Reads the users file through extid_safefile_read and finds account's line.
 * EXTID_OK: *out filled. EXTID_USER_UNKNOWN: no line for account. EXTID_CONFIG_ERR: unsafe file
 * or a malformed line (logged with file:line): a line with no identity, an identity that is
 * neither an email nor *@domain, the same account on two lines. */
enum extid_result extid_users_lookup(const char *path, const char *account,
                                     struct extid_identities *out, const struct extid_log *log);

/* Same, parsing text already in memory (for tests and fuzzing); name is used in log lines. */
enum extid_result extid_users_parse(const char *text, const char *name, const char *account,
                                    struct extid_identities *out, const struct extid_log *log);

/* Whether email is allowed by the list (case-insensitive; *@domain matches any valid address of
 * exactly that domain). */
bool extid_identities_allow(const struct extid_identities *ids, const char *email);

/* The address to use without asking: the only item when there is exactly one and it is a
 * literal address; otherwise NULL. */
const char *extid_identities_single(const struct extid_identities *ids);

void extid_identities_free(struct extid_identities *ids);

#endif
