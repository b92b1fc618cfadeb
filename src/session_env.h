/* The verified identity as environment variables for the session (export_env = yes). */
#ifndef EXTID_SESSION_ENV_H
#define EXTID_SESSION_ENV_H

#include <stddef.h>
#include "log.h"
#include "result.h"

struct cJSON;

#define EXTID_ENV_COUNT 4

/* "NAME=value" strings, in a fixed order: EXTID_EMAIL, EXTID_OID, EXTID_TID, EXTID_ROLES. */
struct extid_env {
    char *vars[EXTID_ENV_COUNT];
    size_t count;
};

/* From verified claims and the verified address. Every name is always set, so that no value
 * from elsewhere can pass for ours: EXTID_EMAIL the address; EXTID_OID and EXTID_TID the oid
 * and tid claims when they are object ids (GUIDs), else empty; EXTID_ROLES the roles made of
 * A-Za-z0-9._- only, joined by ','. What is left out is logged. EXTID_OK or EXTID_SYSTEM_ERR
 * (out of memory, or an address that is not one). */
enum extid_result extid_env_build(const struct cJSON *claims, const char *email,
                                  struct extid_env *out, const struct extid_log *log);

void extid_env_free(struct extid_env *env);

#endif
