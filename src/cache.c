/* Root-only cache files: atomic replace on write, ownership/mode/age checks on read. */
#include "cache.h"

#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "safefile.h"
#include "util.h"

#define CACHE_MAX (1024 * 1024)

/* Names are single path components chosen by the code, never by the network. */
static bool name_ok(const char *name)
{
    return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Root-owned and not writable by group/others: nobody but root can have planted it. */
static const char *unsafe_reason(const struct stat *st)
{
    if (st->st_uid != 0)
        return "not owned by root";
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return "writable by group or others";
    return NULL;
}

enum extid_result extid_cache_key(const char *text, char out[EXTID_CACHE_KEY_LEN])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    if (!text || EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) != 1
        || 2 * mdlen + 1 != EXTID_CACHE_KEY_LEN)
        return EXTID_SYSTEM_ERR;
    for (i = 0; i < mdlen; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 0xf];
    }
    out[2 * mdlen] = '\0';
    return EXTID_OK;
}

enum extid_result extid_cache_dir_check(const char *dir, const struct extid_log *log)
{
    if (!dir || !*dir)
        return EXTID_CONFIG_ERR;
    enum extid_result rc = EXTID_CONFIG_ERR;
    struct stat st;
    int fd = -1;

    if (mkdir(dir, 0700) == 0)
        extid_debug(log, "cache: created %s", dir);
    else if (errno != EEXIST) {
        extid_log(log, LOG_ERR, "cache: cannot create %s: %s", dir, EXTID_STRERROR(errno));
        rc = EXTID_SYSTEM_ERR;
        goto out;
    }
    /* O_PATH|O_NOFOLLOW opens a planted symlink itself (refused below) instead of its target. */
    fd = open(dir, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        extid_log(log, LOG_ERR, "cache: cannot open directory %s: %s", dir, EXTID_STRERROR(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        extid_log(log, LOG_ERR, "cache: cannot stat %s: %s", dir, EXTID_STRERROR(errno));
        goto out;
    }
    const char *why = S_ISLNK(st.st_mode) ? "is a symbolic link"
        : !S_ISDIR(st.st_mode)            ? "not a directory"
                                          : unsafe_reason(&st);
    if (why) {
        extid_log(log, LOG_ERR, "cache: directory %s refused: %s", dir, why);
        goto out;
    }
    rc = extid_safefile_dirs(dir, log);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static char *join(const char *dir, const char *name)
{
    char *path = NULL;
    return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

enum extid_cache_read extid_cache_read(const char *dir, const char *name, long ttl, char **out,
                                       size_t *len, const struct extid_log *log)
{
    if (!out || !len)
        return EXTID_CACHE_ERROR;
    *out = NULL;
    *len = 0;
    if (!dir || !name_ok(name))
        return EXTID_CACHE_ERROR;

    enum extid_cache_read rc = EXTID_CACHE_MISS;
    char *path = join(dir, name);
    char *buf = NULL;
    size_t got = 0;
    struct stat st;
    int fd = -1;
    if (!path) {
        rc = EXTID_CACHE_ERROR;
        goto out;
    }
    /* O_NONBLOCK so that a FIFO put in its place cannot hang the login before fstat. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            extid_debug(log, "cache: %s: not cached", path);
        } else if (errno == ELOOP) {
            extid_log(log, LOG_WARNING, "cache: %s: is a symbolic link, ignored", path);
        } else {
            /* Out of descriptors or memory: the file may well hold something that counts. */
            extid_log(log, LOG_ERR, "cache: %s: %s", path, EXTID_STRERROR(errno));
            rc = EXTID_CACHE_ERROR;
        }
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        extid_log(log, LOG_ERR, "cache: %s: cannot stat: %s", path, EXTID_STRERROR(errno));
        rc = EXTID_CACHE_ERROR;
        goto out;
    }
    const char *why = S_ISREG(st.st_mode) ? unsafe_reason(&st) : "not a regular file";
    if (!why && st.st_size > CACHE_MAX)
        why = "larger than 1 MiB";
    if (why) {
        extid_log(log, LOG_WARNING, "cache: %s: %s, ignored", path, why);
        goto out;
    }
    /* Not time(NULL): file systems may stamp mtime from the fine clock, which can be a tick
     * ahead of the coarse one time() reads, and a fresh file would look "from the future". */
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        extid_log(log, LOG_ERR, "cache: %s: no clock: %s", path, EXTID_STRERROR(errno));
        rc = EXTID_CACHE_ERROR;
        goto out;
    }
    time_t now = ts.tv_sec;
    /* A future mtime cannot be trusted to say how old the content is. */
    if (st.st_mtime > now) {
        extid_log(log, LOG_NOTICE, "cache: %s: modified in the future, treated as stale", path);
        goto out;
    }
    if (ttl <= 0 || now - st.st_mtime >= ttl) {
        extid_debug(log, "cache: %s: stale (%lld s old, ttl %ld s)", path,
                    (long long)(now - st.st_mtime), ttl);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = EXTID_CACHE_ERROR;
        goto out;
    }
    /* Files are only ever replaced by rename, so the size seen by fstat is the content. */
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            extid_log(log, LOG_ERR, "cache: %s: read failed: %s", path, EXTID_STRERROR(errno));
            rc = EXTID_CACHE_ERROR;
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    buf = NULL;
    rc = EXTID_CACHE_HIT;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(path);
    return rc;
}

static bool write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

enum extid_result extid_cache_write(const char *dir, const char *name, const char *data, size_t len,
                                    const struct extid_log *log)
{
    if (!dir || !name_ok(name) || (len && !data))
        return EXTID_SYSTEM_ERR;

    enum extid_result rc = EXTID_SYSTEM_ERR;
    char *path = join(dir, name);
    char *tmp = NULL;
    const char *step = NULL;
    int err = 0, fd = -1;
    if (!path || asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
        tmp = NULL;
        step = "out of memory";
        goto out;
    }
    /* mkostemp opens with O_CREAT|O_EXCL: a unique name per writer, never an existing file. */
    fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        step = "cannot create a temporary file";
        err = errno;
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (fchmod(fd, 0600) != 0)
        step = "fchmod";
    else if (!write_all(fd, data, len))
        step = "write";
    /* Content must be on disk before the rename makes it visible, or a crash leaves junk. */
    else if (fsync(fd) != 0)
        step = "fsync";
    if (step) {
        err = errno;
        goto out;
    }
    int cfd = fd;
    fd = -1;
    if (close(cfd) != 0 || rename(tmp, path) != 0) {
        step = "close/rename";
        err = errno;
        goto out;
    }
    free(tmp);
    tmp = NULL;
    extid_debug(log, "cache: wrote %s (%zu bytes)", path, len);
    rc = EXTID_OK;
out:
    if (rc != EXTID_OK)
        extid_log(log, LOG_WARNING, "cache: cannot write %s/%s: %s%s%s", dir, name, step,
                  err ? ": " : "", err ? EXTID_STRERROR(err) : "");
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(path);
    return rc;
}
