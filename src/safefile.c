#include "safefile.h"

#include <errno.h>
#include <fcntl.h>
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

/* Reads until EOF; one byte more than the limit is allowed so a file that grew is noticed. */
static enum extid_result read_all(int fd, const char *path, char *buf, size_t *len,
                                  const struct extid_log *log)
{
    char errbuf[ERRBUF];
    size_t have = 0;
    ssize_t got;

    for (;;) {
        got = read(fd, buf + have, (size_t)EXTID_SAFEFILE_MAX + 1 - have);
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
        if (have > EXTID_SAFEFILE_MAX) {
            extid_log(log, LOG_ERR, "%s: too large (more than %d bytes)", path,
                      EXTID_SAFEFILE_MAX);
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
    char *buf = NULL, *shrunk;
    size_t n = 0;
    int fd;

    if (!out || !len)
        return EXTID_SYSTEM_ERR;
    *out = NULL;
    *len = 0;
    if (!path || !*path) {
        extid_log(log, LOG_ERR, "no file name given");
        return EXTID_CONFIG_ERR;
    }
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ELOOP)
            extid_log(log, LOG_ERR, "%s: is a symbolic link", path);
        else
            extid_log(log, LOG_ERR, "%s: cannot open: %s", path,
                      errtext(errno, errbuf, sizeof errbuf));
        return EXTID_CONFIG_ERR;
    }
    if (fstat(fd, &st) != 0) {
        extid_log(log, LOG_ERR, "%s: cannot stat: %s", path,
                  errtext(errno, errbuf, sizeof errbuf));
        goto out;
    }
    res = check_stat(path, &st, log);
    if (res != EXTID_OK)
        goto out;
    buf = malloc((size_t)EXTID_SAFEFILE_MAX + 2);
    if (!buf) {
        extid_log(log, LOG_ERR, "%s: out of memory", path);
        res = EXTID_SYSTEM_ERR;
        goto out;
    }
    res = read_all(fd, path, buf, &n, log);
    if (res != EXTID_OK)
        goto out;
    if (memchr(buf, '\0', n)) {
        extid_log(log, LOG_ERR, "%s: contains a NUL byte", path);
        res = EXTID_CONFIG_ERR;
        goto out;
    }
    buf[n] = '\0';
    /* Give back the unused part of the worst-case buffer; keeping the big one is harmless. */
    shrunk = realloc(buf, n + 1);
    if (shrunk)
        buf = shrunk;
    *out = buf;
    *len = n;
    buf = NULL;
    res = EXTID_OK;
out:
    free(buf);
    close(fd);
    return res;
}
