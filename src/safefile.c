/* Trusted reads: the file and every directory above it must be owned by root and not writable by
 * group or others; the file itself is checked through its opened descriptor, so what is read is
 * what was checked. */
#include "safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room for any strerror_r text. */
#define ERRBUF 128

/* GNU strerror_r may return a static string instead of filling buf; take whichever it gives. */
static const char *errtext(int err, char *buf, size_t size)
{
    return strerror_r(err, buf, size);
}

/* Checks the opened file itself (fstat on the fd, so nothing can be swapped in between). */
static enum extid_result check_stat(const char *path, const struct stat *st,
                                    const struct extid_log *log)
{
    if (!S_ISREG(st->st_mode)) {
        extid_log(log, LOG_ERR, "%s: not a regular file", path);
        return EXTID_CONFIG_ERR;
    }
    if (st->st_uid != 0) {
        extid_log(log, LOG_ERR, "%s: is owned by uid %lu, not root", path,
                  (unsigned long)st->st_uid);
        return EXTID_CONFIG_ERR;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        extid_log(log, LOG_ERR, "%s: is writable by group or others (mode %04o)", path,
                  (unsigned)(st->st_mode & 07777));
        return EXTID_CONFIG_ERR;
    }
    if (st->st_size < 0 || st->st_size > EXTID_SAFEFILE_MAX) {
        extid_log(log, LOG_ERR, "%s: too large (more than %d bytes)", path, EXTID_SAFEFILE_MAX);
        return EXTID_CONFIG_ERR;
    }
    return EXTID_OK;
}

/* check_stat on the open fd, or (fd < 0) on the file name; *st filled. */
static enum extid_result stat_checked(const char *path, int fd, const char *name, struct stat *st,
                                      const struct extid_log *log)
{
    char errbuf[ERRBUF];

    if ((fd >= 0 ? fstat(fd, st) : stat(name, st)) != 0) {
        extid_log(log, LOG_ERR, "%s: cannot stat: %s", path, errtext(errno, errbuf, sizeof errbuf));
        return EXTID_CONFIG_ERR;
    }
    return check_stat(path, st, log);
}

/* The directory dir (already resolved) and every one above it must be root's and not writable
 * by group or others, unless sticky (as /tmp, where others cannot rename or remove root's
 * entries): whoever could write one could put a file of their own in place of path's. */
static enum extid_result check_dirs(const char *path, const char *dir, const struct extid_log *log)
{
    char errbuf[ERRBUF];
    char cur[PATH_MAX];
    struct stat st;
    char *slash;

    if (snprintf(cur, sizeof cur, "%s", dir) >= (int)sizeof cur || cur[0] != '/') {
        extid_log(log, LOG_ERR, "%s: directory path too long", path);
        return EXTID_CONFIG_ERR;
    }
    for (;;) {
        if (stat(cur, &st) != 0) {
            extid_log(log, LOG_ERR, "%s: cannot stat directory %s: %s", path, cur,
                      errtext(errno, errbuf, sizeof errbuf));
            return EXTID_CONFIG_ERR;
        }
        if (st.st_uid != 0) {
            extid_log(log, LOG_ERR, "%s: directory %s is owned by uid %lu, not root", path, cur,
                      (unsigned long)st.st_uid);
            return EXTID_CONFIG_ERR;
        }
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
            extid_log(log, LOG_ERR, "%s: directory %s is writable by group or others (mode %04o)",
                      path, cur, (unsigned)(st.st_mode & 07777));
            return EXTID_CONFIG_ERR;
        }
        if (strcmp(cur, "/") == 0)
            return EXTID_OK;
        slash = strrchr(cur, '/');
        slash[slash == cur ? 1 : 0] = '\0';
    }
}

/* *real = the resolved directory of path (symbolic links followed) + "/" + its last component,
 * the one name that is not resolved. */
static enum extid_result resolve_dir(const char *path, char **real, char **dir,
                                     const struct extid_log *log)
{
    char errbuf[ERRBUF];
    const char *base = strrchr(path, '/');
    char *parent = NULL;
    enum extid_result rc = EXTID_CONFIG_ERR;

    *real = *dir = NULL;
    if (!base || !base[1] || path[0] != '/') {
        extid_log(log, LOG_ERR, "%s: not an absolute file name", path);
        return EXTID_CONFIG_ERR;
    }
    parent = base == path ? strdup("/") : strndup(path, (size_t)(base - path));
    if (!parent)
        return EXTID_SYSTEM_ERR;
    *dir = realpath(parent, NULL);
    if (!*dir) {
        extid_log(log, LOG_ERR, "%s: cannot resolve its directory: %s", path,
                  errtext(errno, errbuf, sizeof errbuf));
        goto out;
    }
    if (asprintf(real, "%s%s", strcmp(*dir, "/") == 0 ? "" : *dir, base) < 0) {
        *real = NULL;
        rc = EXTID_SYSTEM_ERR;
        goto out;
    }
    rc = EXTID_OK;
out:
    if (rc != EXTID_OK) {
        free(*dir);
        *dir = NULL;
    }
    free(parent);
    return rc;
}

enum extid_result extid_safefile_dirs(const char *path, const struct extid_log *log)
{
    char *real = NULL, *dir = NULL;
    enum extid_result rc;

    if (!path)
        return EXTID_CONFIG_ERR;
    rc = resolve_dir(path, &real, &dir, log);
    if (rc == EXTID_OK)
        rc = check_dirs(path, dir, log);
    free(real);
    free(dir);
    return rc;
}

enum extid_result extid_safefile_trusted(const char *path, char **resolved,
                                         const struct extid_log *log)
{
    char errbuf[ERRBUF];
    char *real, *dir = NULL;
    enum extid_result rc = EXTID_CONFIG_ERR;
    struct stat st;

    if (!resolved)
        return EXTID_SYSTEM_ERR;
    *resolved = NULL;
    if (!path || path[0] != '/') {
        extid_log(log, LOG_ERR, "%s: not an absolute file name", path ? path : "(null)");
        return EXTID_CONFIG_ERR;
    }
    real = realpath(path, NULL);
    if (!real) {
        extid_log(log, LOG_ERR, "%s: cannot resolve: %s", path,
                  errtext(errno, errbuf, sizeof errbuf));
        return EXTID_CONFIG_ERR;
    }
    rc = stat_checked(path, -1, real, &st, log);
    if (rc != EXTID_OK)
        goto out;
    /* real is resolved through and through: its directories are those named in it. */
    dir = strrchr(real, '/') == real ? strdup("/")
                                     : strndup(real, (size_t)(strrchr(real, '/') - real));
    rc = dir ? check_dirs(path, dir, log) : EXTID_SYSTEM_ERR;
out:
    if (rc == EXTID_OK) {
        *resolved = real;
        real = NULL;
    }
    free(real);
    free(dir);
    return rc;
}

/* Reads until EOF into buf of cap bytes, cap being one more than the size fstat gave: a file
 * that grows while it is read is noticed rather than cut short. */
static enum extid_result read_all(int fd, const char *path, char *buf, size_t cap, size_t *len,
                                  const struct extid_log *log)
{
    char errbuf[ERRBUF];
    size_t have = 0;
    ssize_t got;

    for (;;) {
        got = read(fd, buf + have, cap - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            extid_log(log, LOG_ERR, "%s: cannot read: %s", path,
                      errtext(errno, errbuf, sizeof errbuf));
            return EXTID_CONFIG_ERR;
        }
        if (got == 0)
            break;
        have += (size_t)got;
        if (have == cap) {
            extid_log(log, LOG_ERR, "%s: changed while being read", path);
            return EXTID_CONFIG_ERR;
        }
    }
    *len = have;
    return EXTID_OK;
}

enum extid_result extid_safefile_read(const char *path, char **out, size_t *len,
                                      const struct extid_log *log)
{
    enum extid_result res = EXTID_CONFIG_ERR;
    char errbuf[ERRBUF];
    struct stat st;
    char *buf = NULL, *real = NULL, *dir = NULL;
    size_t n = 0, cap;
    int fd = -1;

    if (!out || !len)
        return EXTID_SYSTEM_ERR;
    *out = NULL;
    *len = 0;
    if (!path || !*path) {
        extid_log(log, LOG_ERR, "no file name given");
        return EXTID_CONFIG_ERR;
    }
    res = resolve_dir(path, &real, &dir, log);
    if (res == EXTID_OK)
        res = check_dirs(path, dir, log);
    if (res != EXTID_OK)
        goto out;
    /* Through the resolved directory, so that no link on the way can be swapped after the
     * check. O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it. */
    fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ELOOP)
            extid_log(log, LOG_ERR, "%s: is a symbolic link", path);
        else
            extid_log(log, LOG_ERR, "%s: cannot open: %s", path,
                      errtext(errno, errbuf, sizeof errbuf));
        res = EXTID_CONFIG_ERR;
        goto out;
    }
    res = stat_checked(path, fd, real, &st, log);
    if (res != EXTID_OK)
        goto out;
    cap = (size_t)st.st_size + 1; /* check_stat bounded st_size */
    buf = malloc(cap);
    if (!buf) {
        extid_log(log, LOG_ERR, "%s: out of memory", path);
        res = EXTID_SYSTEM_ERR;
        goto out;
    }
    res = read_all(fd, path, buf, cap, &n, log);
    if (res != EXTID_OK)
        goto out;
    if (memchr(buf, '\0', n)) {
        extid_log(log, LOG_ERR, "%s: contains a NUL byte", path);
        res = EXTID_CONFIG_ERR;
        goto out;
    }
    buf[n] = '\0'; /* n < cap: read_all refused a file that filled the buffer */
    *out = buf;
    *len = n;
    buf = NULL;
    res = EXTID_OK;
out:
    free(buf);
    free(real);
    free(dir);
    if (fd >= 0)
        close(fd);
    return res;
}
