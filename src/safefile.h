/* Reads a file only if an attacker cannot have written it. */
#ifndef EXTID_SAFEFILE_H
#define EXTID_SAFEFILE_H

#include <stddef.h>
#include "log.h"
#include "result.h"

#define EXTID_SAFEFILE_MAX (1024 * 1024)

/* Opens path without following a final symlink; requires a regular file owned by root (uid 0),
 * not writable by group or others, at most EXTID_SAFEFILE_MAX bytes. On success *out is a
 * NUL-terminated malloc'd copy and *len its length. Errors are logged with the path and reason
 * and return EXTID_CONFIG_ERR (EXTID_SYSTEM_ERR on OOM). */
enum extid_result extid_safefile_read(const char *path, char **out, size_t *len,
                                      const struct extid_log *log);

#endif
