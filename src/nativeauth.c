/* Entra native authentication (email OTP): request building and answer interpretation. */
#include "nativeauth.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Server strings are kept for logs only; cap them so one answer cannot flood syslog. */
#define FIELD_MAX 256
#define DESCRIPTION_MAX 1024
#define INTERVAL_MAX 86400L
#define CODE_LENGTH_MIN 4
#define CODE_LENGTH_MAX 16
#define DEFAULT_TARGET_LABEL "your email address"
/* Every request advertises "redirect", as the API requires (nativeauth-api.md §2.1). */
#define CHALLENGE_TYPES "oob redirect"

/* Wipes every string of a parsed answer before freeing it: answers carry continuation tokens
 * and ID tokens, and cJSON_Delete does not clear memory. */
static void json_delete_wiping(cJSON *j)
{
    if (!j)
        return;
    for (cJSON *it = j; it; it = it->next) {
        if (it->valuestring)
            explicit_bzero(it->valuestring, strlen(it->valuestring));
        if (it->string)
            explicit_bzero(it->string, strlen(it->string));
        if (it->child)
            json_delete_wiping_children(it->child);
    }
    cJSON_Delete(j);
}
