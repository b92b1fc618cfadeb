/* The log sink's front end: formats a line (cut, never split, when too long), strips control
 * characters so that server text cannot forge lines, and hands it to the caller's emit
 * function; debug lines only when debug is on. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#include "util.h"

/* Long enough for a URL plus Entra's ids; longer lines are cut, never split. */
#define EXTID_LOG_LINE 1024

__attribute__((format(printf, 3, 0))) static void emit_v(const struct extid_log *log, int priority,
                                                         const char *fmt, va_list ap)
{
    char line[EXTID_LOG_LINE];

    if (!log || !log->emit)
        return;
    vsnprintf(line, sizeof line, fmt, ap);
    /* Server text reaches logs through here: no control characters may forge log lines. */
    extid_strip_controls_inplace(line);
    log->emit(log->ctx, priority, line);
}

void extid_log(const struct extid_log *log, int priority, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit_v(log, priority, fmt, ap);
    va_end(ap);
}

void extid_debug(const struct extid_log *log, const char *fmt, ...)
{
    va_list ap;

    if (!log || !log->debug)
        return;
    va_start(ap, fmt);
    emit_v(log, LOG_DEBUG, fmt, ap);
    va_end(ap);
}
