/* The EXTID_* session variables from the verified claims: each value checked for shape, and an
 * unsafe one left out rather than passed to the session. */
#include "session_env.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "util.h"

#define GUID_LEN 36
/* A token carries a few roles; this bounds what one variable may grow to. */
#define ROLES_MAX 4096

static bool guid(const char *s)
{
    size_t i;

    if (!s || strlen(s) != GUID_LEN)
        return false;
    for (i = 0; i < GUID_LEN; i++) {
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (i == 8 || i == 13 || i == 18 || i == 23 ? c != '-' : !hex)
            return false;
    }
    return true;
}

/* Safe in any shell word or comma-separated list. */
static bool role_safe(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
              || *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

static char *pair(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, "%s=%s", name, value);
    return s;
}

/* An id claim's value when it is a GUID, else "" (logged). */
static const char *guid_claim(const cJSON *claims, const char *name, const struct extid_log *log)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(claims, name);

    if (cJSON_IsString(item) && guid(item->valuestring))
        return item->valuestring;
    extid_log(log, LOG_WARNING, "export_env: claim %s is not an object id: exported empty", name);
    return "";
}

/* roles joined by ',' into buf, unsafe or overlong ones left out (logged). */
static void roles_value(const cJSON *claims, char *buf, size_t size, const struct extid_log *log)
{
    const cJSON *roles = cJSON_GetObjectItemCaseSensitive(claims, "roles"), *e;
    size_t len = 0, dropped = 0;

    buf[0] = '\0';
    if (!roles)
        return;
    if (!cJSON_IsArray(roles)) {
        extid_log(log, LOG_WARNING, "export_env: the roles claim is not an array: none exported");
        return;
    }
    cJSON_ArrayForEach(e, roles)
    {
        size_t n;
        if (!cJSON_IsString(e) || !role_safe(e->valuestring)) {
            dropped++;
            continue;
        }
        n = strlen(e->valuestring);
        if (len + n + (len ? 1 : 0) >= size) {
            dropped++;
            continue;
        }
        if (len)
            buf[len++] = ',';
        memcpy(buf + len, e->valuestring, n + 1);
        len += n;
    }
    if (dropped)
        extid_log(log, LOG_WARNING,
                  "export_env: %zu role(s) not exported (only A-Za-z0-9._- "
                  "are, up to %d bytes in all)",
                  dropped, ROLES_MAX - 1);
}

enum extid_result extid_env_build(const struct cJSON *claims, const char *email,
                                  struct extid_env *out, const struct extid_log *log)
{
    char roles[ROLES_MAX];
    const char *values[EXTID_ENV_COUNT];
    static const char *const names[EXTID_ENV_COUNT] = { "EXTID_EMAIL", "EXTID_OID", "EXTID_TID",
                                                        "EXTID_ROLES" };
    size_t i;

    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof *out);
    if (!extid_email_valid(email) || !cJSON_IsObject(claims))
        return EXTID_SYSTEM_ERR;
    roles_value(claims, roles, sizeof roles, log);
    values[0] = email;
    values[1] = guid_claim(claims, "oid", log);
    values[2] = guid_claim(claims, "tid", log);
    values[3] = roles;
    for (i = 0; i < EXTID_ENV_COUNT; i++) {
        out->vars[i] = pair(names[i], values[i]);
        if (!out->vars[i]) {
            extid_env_free(out);
            return EXTID_SYSTEM_ERR;
        }
        out->count = i + 1;
    }
    return EXTID_OK;
}

void extid_env_free(struct extid_env *env)
{
    size_t i;

    if (!env)
        return;
    for (i = 0; i < env->count; i++)
        free(env->vars[i]);
    memset(env, 0, sizeof *env);
}
