/* Reads a file only if an attacker cannot have written it. */
#ifndef EXTID_SAFEFILE_H
#define EXTID_SAFEFILE_H

#include <stddef.h>
#include "log.h"
#include "result.h"

#define EXTID_SAFEFILE_MAX (1024 * 1024)

/* Opens path (absolute) without following a final symlink; requires a regular file owned by
 * root (uid 0), not writable by group or others, at most EXTID_SAFEFILE_MAX bytes, in safe
 * directories (extid_safefile_dirs). On success *out is a NUL-terminated malloc'd copy and *len
 * its length. Errors are logged with the path and reason and return EXTID_CONFIG_ERR
 * (EXTID_SYSTEM_ERR on OOM). */
enum extid_result extid_safefile_read(const char *path, char **out, size_t *len,
                                      const struct extid_log *log);

/* Whether the directories above path (its own, resolved, up to "/") are safe: each owned by
 * root and not writable by group or others, unless sticky like /tmp (others cannot rename or
 * remove root's entries there). Logged like extid_safefile_read. */
enum extid_result extid_safefile_dirs(const char *path, const struct extid_log *log);

/* For a file another library opens by name (the CA bundle, for libcurl): path with every link
 * resolved must be a regular file passing extid_safefile_read's checks, in safe directories.
 * *resolved (malloc'd) is the name to hand over, so that no link can be swapped afterwards. */
enum extid_result extid_safefile_trusted(const char *path, char **resolved,
                                         const struct extid_log *log);

#endif
