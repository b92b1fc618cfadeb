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

/* What a cache read found: the cache's own outcome, which its callers turn into theirs. */
enum extid_cache_read {
    EXTID_CACHE_HIT,   /* a usable copy: *out (NUL-terminated) and *len set */
    EXTID_CACHE_MISS,  /* missing, stale, unsafe or too large: get it afresh */
    EXTID_CACHE_ERROR, /* could not be read (no descriptor, no memory, an I/O error, a bad name):
                        * the file may hold something that counts */
};

/* Reads dir/name if it is a regular root-owned file younger than ttl seconds. */
enum extid_cache_read extid_cache_read(const char *dir, const char *name, long ttl, char **out,
                                       size_t *len, const struct extid_log *log);

/* Writes data to dir/name via a unique temp file, fsync, rename: readers see old or new. */
enum extid_result extid_cache_write(const char *dir, const char *name, const char *data, size_t len,
                                    const struct extid_log *log);

#endif
