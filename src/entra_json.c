/* Entra's JSON answers read safely: exactly the bytes received, every string wiped before it is
 * freed, numbers taken only as the integers they claim to be. */
#include "entra_json.h"

#include <cjson/cJSON.h>
#include <string.h>

/* Answers carry continuation tokens and ID tokens and cJSON_Delete does not clear memory, so
 * every string is wiped first. */
static void json_wipe(cJSON *j)
{
    for (; j; j = j->next) {
        if (j->valuestring)
            explicit_bzero(j->valuestring, strlen(j->valuestring));
        if (j->string)
            explicit_bzero(j->string, strlen(j->string));
        json_wipe(j->child);
    }
}

void extid_json_delete_wiping(cJSON *j)
{
    if (!j)
        return;
    json_wipe(j->child);
    if (j->valuestring)
        explicit_bzero(j->valuestring, strlen(j->valuestring));
    cJSON_Delete(j);
}

/* Parses exactly len bytes as one JSON value; trailing non-whitespace makes it unparseable. */
cJSON *extid_json_parse_exact(const char *body, size_t len)
{
    const char *end = NULL;
    if (!body || len == 0)
        return NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!j)
        return NULL;
    for (const char *p = end; p && p < body + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            extid_json_delete_wiping(j);
            return NULL;
        }
    return j;
}

/* A JSON number that is an integer within min..max (NaN fails every comparison). */
bool extid_json_int(const cJSON *n, long min, long max, long *out)
{
    if (!cJSON_IsNumber(n) || !(n->valuedouble >= (double)min && n->valuedouble <= (double)max))
        return false;
    long v = (long)n->valuedouble;
    if ((double)v != n->valuedouble)
        return false;
    *out = v;
    return true;
}
