/* pam_extid.users: which identities may log in as which local account, and what the verified
 * token must carry for each line (app roles, groups). */
#ifndef EXTID_USERS_H
#define EXTID_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include "log.h"
#include "result.h"

enum extid_req_kind { EXTID_REQ_ROLE, EXTID_REQ_GROUP };

/* role:NAME (value kept as written) or group:GUID (kept in lower case). */
struct extid_requirement {
    enum extid_req_kind kind;
    char *value;
};

/* One line that applies to the account: its own line or, for an account no line names, a '*'
 * line, whose *@domain identities are already narrowed to account@domain. */
struct extid_users_line {
    int lineno;
    char *account; /* the account word as written ("*" for a '*' line) */
    bool star;
    char **ids;
    size_t nids;
    struct extid_requirement *reqs; /* none: the identities alone grant the login */
    size_t nreqs;
};

struct extid_identities {
    char **items; /* every identity of every line below, for the address check and prompt */
    size_t count;
    struct extid_users_line *lines; /* the alternatives, in file order */
    size_t nlines;
    char *file; /* the file's name, for file:line in log lines */
};

/* Whether an account with this uid is one a '*' line may stand for: a person's account
 * (uid >= 1000), not the overflow "nobody" (65534). */
bool extid_users_star_uid(unsigned long uid);

/* Reads the users file through extid_safefile_read and collects the lines for account; when
 * no line names it and star_ok, the '*' lines. EXTID_OK: *out filled. EXTID_USER_UNKNOWN: no
 * line applies. EXTID_CONFIG_ERR: unsafe file or any malformed line (logged with file:line):
 * no identity, an identity that is neither an email nor *@domain, a literal address on a '*'
 * line, an unknown "prefix:" word, an empty role, a malformed group object id, an identity
 * after a requirement. A NULL account checks the whole file only (EXTID_USER_UNKNOWN if valid). */
enum extid_result extid_users_lookup(const char *path, const char *account, bool star_ok,
                                     struct extid_identities *out, const struct extid_log *log);

/* Every line of the file as written (a '*' line keeps its *@domain), for tools that look at
 * the whole file. EXTID_OK, EXTID_USER_UNKNOWN (no line at all) or as extid_users_lookup. */
enum extid_result extid_users_lookup_all(const char *path, struct extid_identities *out,
                                         const struct extid_log *log);

/* Same, parsing text already in memory (for tests and fuzzing); name is used in log lines. */
enum extid_result extid_users_parse(const char *text, const char *name, const char *account,
                                    bool star_ok, struct extid_identities *out,
                                    const struct extid_log *log);

/* Whether email is allowed by the list (case-insensitive; *@domain matches any valid address of
 * exactly that domain). */
bool extid_identities_allow(const struct extid_identities *ids, const char *email);

/* Whether one line allows email, by the same rule. */
bool extid_users_line_allows(const struct extid_users_line *line, const char *email);

/* The address to use without asking: exactly one literal address over all lines and no
 * *@domain; otherwise NULL. */
const char *extid_identities_single(const struct extid_identities *ids);

void extid_identities_free(struct extid_identities *ids);

#endif
