/* Shared helpers for the unit tests: a log sink that records what the core logged, log
 * assertions that report the caller's line, a throwaway directory per test, and files with a
 * chosen owner and mode. Header-only: each test_*.c is built alone. */
#ifndef EXTID_UNIT_FIXTURE_H
#define EXTID_UNIT_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* ---- log capture ---- */

/* Every line as "<priority>|<message>\n", so tests can check the level too. */
struct ufx_log {
    char buf[32768]; /* a line that does not fit is dropped */
    size_t len;
    int lines; /* lines above LOG_DEBUG */
    int debug_lines;
};

static inline void ufx_log_emit(void *ctx, int priority, const char *msg)
{
    struct ufx_log *cap = ctx;
    int n = snprintf(cap->buf + cap->len, sizeof cap->buf - cap->len, "%d|%s\n", priority, msg);

    if (n > 0 && (size_t)n < sizeof cap->buf - cap->len)
        cap->len += (size_t)n;
    else
        cap->buf[cap->len] = '\0';
    if (priority == LOG_DEBUG)
        cap->debug_lines++;
    else
        cap->lines++;
}

static inline void ufx_log_clear(struct ufx_log *cap)
{
    memset(cap, 0, sizeof *cap);
}

/* A sink writing into cap (emptied first); debug as extid_log.debug. */
static inline struct extid_log ufx_log_sink(struct ufx_log *cap, bool debug)
{
    struct extid_log log = { .emit = ufx_log_emit, .ctx = cap, .debug = debug };

    ufx_log_clear(cap);
    return log;
}

/* Fails at file:line unless text holds prefix followed by needle (prefix may be NULL). */
static inline void ufx_check_text(const char *text, const char *prefix, const char *needle,
                                  const char *file, int line)
{
    char want[1024];
    int n = snprintf(want, sizeof want, "%s%s", prefix ? prefix : "", needle);

    if (n < 0 || (size_t)n >= sizeof want) {
        print_error("needle too long: %s%s\n", prefix ? prefix : "", needle);
        _fail(file, line);
    }
    if (!strstr(text, want)) {
        print_error("log lacks \"%s\":\n%s\n", want, text);
        _fail(file, line);
    }
}

#define assert_logged(cap, needle) ufx_check_text((cap)->buf, NULL, (needle), __FILE__, __LINE__)
/* "<path><rest>", e.g. assert_logged_at(cap, path, ":3: unknown key"). */
#define assert_logged_at(cap, path, rest)                                                          \
    ufx_check_text((cap)->buf, (path), (rest), __FILE__, __LINE__)
#define assert_not_logged(cap, needle) assert_null(strstr((cap)->buf, (needle)))
/* For logs kept as plain text (token_fixture.h's struct fx_log). */
#define assert_text_logged(text, needle) ufx_check_text((text), NULL, (needle), __FILE__, __LINE__)

/* ---- files ---- */

static inline int ufx_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it, without following links; a missing dir is fine. */
static inline void ufx_rm_tree(const char *dir)
{
    nftw(dir, ufx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates path, which must not exist yet, with len bytes of data, owner uid:0 and mode. */
static inline void ufx_write_file(const char *path, const void *data, size_t len, uid_t uid,
                                  mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

    if (fd < 0)
        fail_msg("cannot create %s: %s", path, strerror(errno));
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchown(fd, uid, 0), 0);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* Entries in dir other than ".", ".." and except (may be NULL); -1 if dir cannot be read. */
static inline int ufx_count_entries(const char *dir, const char *except)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")
            && (!except || strcmp(e->d_name, except)))
            n++;
    closedir(d);
    return n;
}

/* Sets path's access and modification time (of a link itself, not its target). */
static inline void ufx_set_mtime(const char *path, time_t when)
{
    struct timespec ts[2] = { { when, 0 }, { when, 0 } };

    assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* ---- a throwaway directory per test ---- */

/* The start of a fixture: a fresh directory under /tmp and a log sink. */
struct ufx_dir {
    char dir[64];   /* /tmp/<test program>-XXXXXX */
    char path[256]; /* scratch for the file a test works on */
    struct ufx_log cap;
    struct extid_log log; /* writes into cap */
};

/* Allocates a zeroed fixture of size bytes that begins with struct ufx_dir and makes its
 * directory; debug as extid_log.debug. Fails the test on error. */
static inline void *ufx_dir_new(size_t size, bool debug)
{
    struct ufx_dir *d = calloc(1, size);

    assert_non_null(d);
    snprintf(d->dir, sizeof d->dir, "/tmp/%.40s-XXXXXX", program_invocation_short_name);
    if (!mkdtemp(d->dir))
        fail_msg("mkdtemp %s: %s", d->dir, strerror(errno));
    d->log = ufx_log_sink(&d->cap, debug);
    return d;
}

/* Removes the directory and frees the fixture. */
static inline void ufx_dir_free(struct ufx_dir *d)
{
    ufx_rm_tree(d->dir);
    free(d);
}

/* cmocka setup and teardown for tests whose whole fixture is a struct ufx_dir. */
static inline int ufx_dir_setup(void **state)
{
    *state = ufx_dir_new(sizeof(struct ufx_dir), false);
    return 0;
}

static inline int ufx_dir_teardown(void **state)
{
    ufx_dir_free(*state);
    return 0;
}

/* ---- tests that need root ---- */

/* The core accepts only files owned by root, so tests that create such files (configuration,
 * users file, cache, CA bundle) can run only as root. As another user each of them is reported
 * SKIPPED with this reason, so `make unit` still works; CI runs as root and runs them all. */
static inline void ufx_skip_needs_root(void **state)
{
    (void)state;
    print_message("needs root: it creates files owned by uid 0, the only owner the core accepts\n");
    skip();
}

static inline int ufx_run_group_as_root(const char *name, const struct CMUnitTest *tests, size_t n,
                                        CMFixtureFunction group_setup,
                                        CMFixtureFunction group_teardown)
{
    struct CMUnitTest *skipped;
    int rc;

    if (geteuid() == 0)
        return _cmocka_run_group_tests(name, tests, n, group_setup, group_teardown);
    skipped = calloc(n, sizeof *skipped);
    if (!skipped)
        return 1;
    for (size_t i = 0; i < n; i++) {
        skipped[i].name = tests[i].name;
        skipped[i].test_func = ufx_skip_needs_root;
    }
    rc = _cmocka_run_group_tests(name, skipped, n, NULL, NULL);
    free(skipped);
    return rc;
}

/* cmocka_run_group_tests for a group whose tests all need root. */
#define ufx_run_root_group_tests(tests, group_setup, group_teardown)                               \
    ufx_run_group_as_root(#tests, tests, sizeof(tests) / sizeof((tests)[0]), group_setup,          \
                          group_teardown)

#endif
