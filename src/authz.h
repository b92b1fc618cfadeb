/* Who may log in, from the verified ID token: the users file's requirements (role:, group:)
 * against the token's roles and groups claims. */
#ifndef EXTID_AUTHZ_H
#define EXTID_AUTHZ_H

#include <stddef.h>
#include "log.h"
#include "result.h"
#include "users.h"

struct cJSON;

/* Call only with claims whose signature and every other check passed. Finds the first line of
 * ids that allows email and whose requirements hold (a line without requirements needs none;
 * with some, one of them). roles must be an array of strings holding the role exactly; groups
 * an array of strings holding the object id in any case; a token that signals group overage
 * satisfies no group: requirement. EXTID_OK (*granted, when not NULL, points into ids) or
 * EXTID_AUTH_ERR; the log names the granting line, or each line's missing requirement and what
 * the token carried. */
enum extid_result extid_authz_check(const struct extid_identities *ids, const char *email,
                                    const struct cJSON *claims, const struct extid_log *log,
                                    const struct extid_users_line **granted);

/* The token's roles or groups claim ("roles", "groups") for people: "a, b", "(none)", "(not an
 * array of strings)", with group overage named; cut with "..." to fit size. */
void extid_authz_describe(const struct cJSON *claims, const char *name, char *buf, size_t size);

#endif
