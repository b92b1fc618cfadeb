/* Logging sink for the core: the PAM glue routes it to pam_syslog, tests to stderr. */
#ifndef EXTID_LOG_H
#define EXTID_LOG_H

#include <stdbool.h>
#include <syslog.h>

struct extid_log {
    /* priority is a syslog LOG_* level; msg is already formatted and sanitised. */
    void (*emit)(void *ctx, int priority, const char *msg);
    void *ctx;
    bool debug; /* when false, extid_debug() emits nothing */
};

/* Formats, strips control characters, and emits. A NULL log or emit is a no-op.
 * Never pass a code, continuation token or token here. */
void extid_log(const struct extid_log *log, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void extid_debug(const struct extid_log *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
