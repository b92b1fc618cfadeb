/* Entra's JSON answers as nativeauth.c and entra_errors.c read them: parsed exactly, wiped when
 * deleted (they carry continuation tokens and ID tokens), integers checked. */
#ifndef EXTID_ENTRA_JSON_H
#define EXTID_ENTRA_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Server strings kept from an answer (for logs and labels) are cut to this length. */
#define EXTID_ENTRA_FIELD_MAX 256

struct cJSON;

/* Parses exactly len bytes (need not be NUL-terminated) as one JSON value; NULL when it does not
 * parse or non-whitespace follows it. Free with extid_json_delete_wiping. */
struct cJSON *extid_json_parse_exact(const char *body, size_t len);
/* Wipes every string in j, then deletes it; NULL is fine. */
void extid_json_delete_wiping(struct cJSON *j);
/* A JSON number that is an integer within min..max, in *out; false otherwise. */
bool extid_json_int(const struct cJSON *n, long min, long max, long *out);

#endif
