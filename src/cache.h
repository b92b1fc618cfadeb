/* Small files under cache_dir, written atomically. */
#ifndef EXTID_CACHE_H
#define EXTID_CACHE_H

#include <stddef.h>
#include "log.h"
#include "result.h"

#define EXTID_CACHE_KEY_LEN 65

/* Hex SHA-256 of text: a file-name-safe key that never carries the text itself. */
enum extid_result extid_cache_key(const char *text, char out[EXTID_CACHE_KEY_LEN]);

/* Ensures dir exists (mkdir 0700) and is a directory owned by root, not group/other-writable. */
enum extid_result extid_cache_dir_check(const char *dir, const struct extid_log *log);

/* Reads dir/name if it is a regular root-owned file younger than ttl seconds.
 * EXTID_OK: *out (NUL-terminated) and *len set. EXTID_AUTH_ERR is never returned; a missing,
 * stale or unsafe file gives EXTID_UNAVAILABLE (meaning "fetch it"); a file that could not be
 * read (no descriptor, no memory, an I/O error) EXTID_SYSTEM_ERR. */
enum extid_result extid_cache_read(const char *dir, const char *name, long ttl, char **out,
                                   size_t *len, const struct extid_log *log);

/* Writes data to dir/name via a unique temp file, fsync, rename: readers see old or new. */
enum extid_result extid_cache_write(const char *dir, const char *name, const char *data,
                                    size_t len, const struct extid_log *log);

#endif
