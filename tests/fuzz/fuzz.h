/* Shared by the libFuzzer targets (tests/fuzz/fuzz_*.c): the entry point's prototype, a log
 * that formats every line and drops it, and copies of the input in the shapes parsers take. */
#ifndef EXTID_FUZZ_H
#define EXTID_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Reads the whole line so that the sanitizers see any overread in what the core formatted. */
static inline void fuzz_emit(void *ctx, int priority, const char *msg)
{
    size_t *total = ctx;

    *total += strlen(msg) + (size_t)(priority & 7);
}

/* debug on: the debug lines format fuzzed text too. */
static inline struct extid_log fuzz_log(size_t *total)
{
    struct extid_log log = { .emit = fuzz_emit, .ctx = total, .debug = true };

    return log;
}

/* NUL-terminated copy (embedded NULs stay; C-string parsers stop at the first). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Exact-size copy without a terminator, so that reading past len is caught. */
static inline char *fuzz_exact(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);

    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    return s;
}

/* Splits off the bytes before the first '\n' (at most max of them) as a C string; *rest and
 * *rest_size get what follows the newline (everything, when there is none). */
static inline char *fuzz_first_line(const uint8_t *data, size_t size, size_t max,
                                    const uint8_t **rest, size_t *rest_size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - data) : 0;

    if (n > max)
        n = max;
    *rest = nl ? nl + 1 : data;
    *rest_size = nl ? size - (size_t)(nl + 1 - data) : size;
    return fuzz_cstr(data, n);
}

#endif
