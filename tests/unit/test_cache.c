/* Cache files on a real file system (tests run as root): atomic writes, every refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"

#define WRITERS 8 /* concurrent writer processes */

struct fixture {
    char root[64];   /* mkdtemp */
    char dir[128];   /* root/cache: the cache directory under test */
    char path[256];
    char logbuf[8192];
    size_t loglen;
    int warnings;    /* lines above LOG_DEBUG */
    struct extid_log log;
    pid_t children[WRITERS]; /* writers still to reap if a test fails midway */
};

static void capture(void *ctx, int priority, const char *msg)
{
    struct fixture *f = ctx;
    int n = snprintf(f->logbuf + f->loglen, sizeof(f->logbuf) - f->loglen, "%s\n", msg);
    if (n > 0 && (size_t)n < sizeof(f->logbuf) - f->loglen)
        f->loglen += (size_t)n;
    if (priority != LOG_DEBUG)
        f->warnings++;
}

static void log_reset(struct fixture *f)
{
    f->logbuf[0] = '\0';
    f->loglen = 0;
    f->warnings = 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->root, "/tmp/extid-cache-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/cache", f->root);
    f->log.emit = capture;
    f->log.ctx = f;
    f->log.debug = true;
    assert_int_equal(extid_cache_dir_check(f->dir, &f->log), EXTID_OK);
    log_reset(f);
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < sizeof(f->children) / sizeof(f->children[0]); i++)
        if (f->children[i] > 0) {
            kill(f->children[i], SIGKILL);
            waitpid(f->children[i], NULL, 0);
        }
    nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static const char *in_dir(struct fixture *f, const char *name)
{
    snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
    return f->path;
}

/* Number of directory entries other than . and .. whose name is not `except`. */
static int count_others(const char *dir, const char *except)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            (!except || strcmp(e->d_name, except)))
            n++;
    closedir(d);
    return n;
}

static void set_mtime(const char *path, time_t when)
{
    struct timespec ts[2] = { { when, 0 }, { when, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static enum extid_result read_it(struct fixture *f, const char *name, long ttl, char **out,
                                 size_t *len)
{
    *out = (char *)f; /* poison: must be reset */
    return extid_cache_read(f->dir, name, ttl, out, len, &f->log);
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    static const char data[] = "{\"keys\":[]}\0binary\xff";
    char *out;
    size_t len;
    struct stat st;

    mode_t old = umask(0);
    assert_int_equal(extid_cache_write(f->dir, "jwks-x.json", data, sizeof(data), &f->log),
                     EXTID_OK);
    umask(old);
    assert_int_equal(stat(in_dir(f, "jwks-x.json"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(read_it(f, "jwks-x.json", 60, &out, &len), EXTID_OK);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(out, data, sizeof(data));
    assert_int_equal(out[len], '\0');
    free(out);

    /* Overwrite replaces the content. */
    assert_int_equal(extid_cache_write(f->dir, "jwks-x.json", "new", 3, &f->log), EXTID_OK);
    assert_int_equal(read_it(f, "jwks-x.json", 60, &out, &len), EXTID_OK);
    assert_int_equal(len, 3);
    assert_string_equal(out, "new");
    free(out);

    /* Empty content is content. */
    assert_int_equal(extid_cache_write(f->dir, "empty", "", 0, &f->log), EXTID_OK);
    assert_int_equal(read_it(f, "empty", 60, &out, &len), EXTID_OK);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(count_others(f->dir, NULL), 2);
    assert_int_equal(f->warnings, 0);
}

static void test_missing_is_quiet(void **state)
{
    struct fixture *f = *state;
    char *out;
    size_t len = 7;
    assert_int_equal(read_it(f, "nothing", 60, &out, &len), EXTID_UNAVAILABLE);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(f->warnings, 0);
}

static void test_ttl(void **state)
{
    struct fixture *f = *state;
    char *out;
    size_t len;
    assert_int_equal(extid_cache_write(f->dir, "d", "x", 1, &f->log), EXTID_OK);
    set_mtime(in_dir(f, "d"), time(NULL) - 100);
    assert_int_equal(read_it(f, "d", 50, &out, &len), EXTID_UNAVAILABLE);
    assert_null(out);
    assert_int_equal(read_it(f, "d", 100, &out, &len), EXTID_UNAVAILABLE);
    assert_int_equal(read_it(f, "d", 0, &out, &len), EXTID_UNAVAILABLE);
    assert_int_equal(read_it(f, "d", -1, &out, &len), EXTID_UNAVAILABLE);
    assert_int_equal(read_it(f, "d", 200, &out, &len), EXTID_OK);
    free(out);
    /* A rewrite makes it fresh again. */
    assert_int_equal(extid_cache_write(f->dir, "d", "y", 1, &f->log), EXTID_OK);
    assert_int_equal(read_it(f, "d", 50, &out, &len), EXTID_OK);
    assert_string_equal(out, "y");
    free(out);
}

static void test_future_mtime_is_stale(void **state)
{
    struct fixture *f = *state;
    char *out;
    size_t len;
    assert_int_equal(extid_cache_write(f->dir, "d", "x", 1, &f->log), EXTID_OK);
    set_mtime(in_dir(f, "d"), time(NULL) + 3600);
    assert_int_equal(read_it(f, "d", 86400, &out, &len), EXTID_UNAVAILABLE);
    assert_null(out);
    assert_non_null(strstr(f->logbuf, "future"));
}

/* A file the cache did not write, with the given owner and mode. */
static void plant(struct fixture *f, const char *name, const char *data, uid_t uid, mode_t mode)
{
    int fd = open(in_dir(f, name), O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    assert_int_equal(fchown(fd, uid, 0), 0);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void expect_refused(struct fixture *f, const char *name, const char *why)
{
    char *out;
    size_t len;
    log_reset(f);
    assert_int_equal(read_it(f, name, 3600, &out, &len), EXTID_UNAVAILABLE);
    assert_null(out);
    if (!strstr(f->logbuf, why) || !strstr(f->logbuf, name))
        fail_msg("%s: log lacks \"%s\": %s", name, why, f->logbuf);
    assert_true(f->warnings >= 1);
}

static void test_unsafe_files_refused(void **state)
{
    struct fixture *f = *state;
    char *out;
    size_t len;

    plant(f, "good", "{}", 0, 0644);
    assert_int_equal(read_it(f, "good", 3600, &out, &len), EXTID_OK); /* control */
    free(out);
    plant(f, "group-writable", "{}", 0, 0620);
    expect_refused(f, "group-writable", "writable by group or others");
    plant(f, "world-writable", "{}", 0, 0602);
    expect_refused(f, "world-writable", "writable by group or others");
    plant(f, "not-root", "{}", 1, 0600);
    expect_refused(f, "not-root", "not owned by root");
    char target[256];
    snprintf(target, sizeof(target), "%s", in_dir(f, "good"));
    assert_int_equal(symlink(target, in_dir(f, "link")), 0);
    expect_refused(f, "link", "symbolic link");
    assert_int_equal(mkfifo(in_dir(f, "fifo"), 0600), 0);
    expect_refused(f, "fifo", "not a regular file");
    assert_int_equal(mkdir(in_dir(f, "subdir"), 0700), 0);
    expect_refused(f, "subdir", "not a regular file");
}

static void test_size_cap(void **state)
{
    struct fixture *f = *state;
    size_t cap = 1024 * 1024;
    char *big = malloc(cap + 1);
    char *out;
    size_t len;
    assert_non_null(big);
    memset(big, 'k', cap + 1);
    assert_int_equal(extid_cache_write(f->dir, "max", big, cap, &f->log), EXTID_OK);
    assert_int_equal(read_it(f, "max", 3600, &out, &len), EXTID_OK);
    assert_int_equal(len, cap);
    free(out);
    assert_int_equal(extid_cache_write(f->dir, "over", big, cap + 1, &f->log), EXTID_OK);
    expect_refused(f, "over", "larger than 1 MiB");
    free(big);
}

static void test_bad_names(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = { "", ".", "..", "../escape", "a/b", "/abs" };
    char *out;
    size_t len;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(extid_cache_write(f->dir, names[i], "x", 1, &f->log), EXTID_SYSTEM_ERR);
        assert_int_equal(read_it(f, names[i], 60, &out, &len), EXTID_SYSTEM_ERR);
        assert_null(out);
    }
    assert_int_equal(extid_cache_write(f->dir, NULL, "x", 1, &f->log), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_cache_write(NULL, "n", "x", 1, &f->log), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_cache_write(f->dir, "n", NULL, 1, &f->log), EXTID_SYSTEM_ERR);
    assert_int_equal(count_others(f->dir, NULL), 0);
    assert_int_equal(count_others(f->root, "cache"), 0);
}

static void test_failed_write_leaves_no_temp(void **state)
{
    struct fixture *f = *state;
    /* The target is a directory: rename fails after the temp file was fully written. */
    assert_int_equal(mkdir(in_dir(f, "taken"), 0700), 0);
    assert_int_equal(extid_cache_write(f->dir, "taken", "data", 4, &f->log), EXTID_SYSTEM_ERR);
    assert_non_null(strstr(f->logbuf, "cannot write"));
    assert_non_null(strstr(f->logbuf, "taken"));
    assert_int_equal(count_others(f->dir, "taken"), 0);

    /* A directory that does not exist. */
    log_reset(f);
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/nope", f->dir);
    assert_int_equal(extid_cache_write(missing, "n", "data", 4, &f->log), EXTID_SYSTEM_ERR);
    assert_true(f->warnings == 1);
    assert_int_equal(count_others(f->dir, "taken"), 0);
}

static void test_successful_writes_leave_no_temp(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 20; i++)
        assert_int_equal(extid_cache_write(f->dir, "one", "abc", 3, &f->log), EXTID_OK);
    assert_int_equal(count_others(f->dir, "one"), 0);
}

/* Content written by writer i: LEN bytes of 'a' + i. */
#define ROUNDS 25
#define LEN (256 * 1024)

/* Every content a reader may see: LEN bytes of one character. */
static void assert_whole(const char *out, size_t len)
{
    assert_int_equal(len, LEN);
    assert_true(out[0] == 'z' || (out[0] >= 'a' && out[0] < 'a' + WRITERS));
    for (size_t b = 0; b < len; b++)
        if (out[b] != out[0])
            fail_msg("torn file at byte %zu", b);
}

static void test_concurrent_writers(void **state)
{
    struct fixture *f = *state;
    pid_t *pids = f->children;
    char *init = malloc(LEN);
    assert_non_null(init);
    memset(init, 'z', LEN);
    assert_int_equal(extid_cache_write(f->dir, "shared", init, LEN, &f->log), EXTID_OK);
    free(init);
    for (int i = 0; i < WRITERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char *buf = malloc(LEN);
            int bad = !buf;
            if (buf) {
                memset(buf, 'a' + i, LEN);
                for (int r = 0; r < ROUNDS && !bad; r++)
                    bad = extid_cache_write(f->dir, "shared", buf, LEN, NULL) != EXTID_OK;
            }
            free(buf);
            _exit(bad);
        }
    }
    /* While they replace it, the file is always there and always one writer's whole content. */
    int alive = WRITERS, failed = 0;
    while (alive > 0) {
        char *out;
        size_t len;
        log_reset(f);
        if (read_it(f, "shared", 3600, &out, &len) != EXTID_OK)
            fail_msg("read failed during concurrent writes: %s", f->logbuf);
        assert_whole(out, len);
        free(out);
        for (int i = 0; i < WRITERS; i++) {
            int st;
            if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
                failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
                pids[i] = 0;
                alive--;
            }
        }
    }
    assert_int_equal(failed, 0);
    char *out;
    size_t len;
    assert_int_equal(read_it(f, "shared", 3600, &out, &len), EXTID_OK);
    assert_whole(out, len);
    assert_true(out[0] != 'z');
    free(out);
    assert_int_equal(count_others(f->dir, "shared"), 0);
}

static void test_dir_check(void **state)
{
    struct fixture *f = *state;
    char p[200];
    struct stat st;

    /* Created 0700 even under a permissive umask. */
    snprintf(p, sizeof(p), "%s/new", f->root);
    mode_t old = umask(0);
    assert_int_equal(extid_cache_dir_check(p, &f->log), EXTID_OK);
    umask(old);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(extid_cache_dir_check(p, &f->log), EXTID_OK); /* exists: fine */

    /* An existing 0755 root directory is fine (not writable by others). */
    assert_int_equal(chmod(p, 0755), 0);
    assert_int_equal(extid_cache_dir_check(p, &f->log), EXTID_OK);

    log_reset(f);
    assert_int_equal(chmod(p, 0770), 0);
    assert_int_equal(extid_cache_dir_check(p, &f->log), EXTID_CONFIG_ERR);
    assert_non_null(strstr(f->logbuf, "writable by group or others"));
    assert_int_equal(chmod(p, 0703), 0);
    assert_int_equal(extid_cache_dir_check(p, &f->log), EXTID_CONFIG_ERR);
    assert_int_equal(chmod(p, 0700), 0);

    log_reset(f);
    assert_int_equal(chown(p, 1, 1), 0);
    assert_int_equal(extid_cache_dir_check(p, &f->log), EXTID_CONFIG_ERR);
    assert_non_null(strstr(f->logbuf, "not owned by root"));
    assert_int_equal(chown(p, 0, 0), 0);

    log_reset(f);
    char link[200];
    snprintf(link, sizeof(link), "%s/link", f->root);
    assert_int_equal(symlink(p, link), 0);
    assert_int_equal(extid_cache_dir_check(link, &f->log), EXTID_CONFIG_ERR);
    assert_non_null(strstr(f->logbuf, "symbolic link"));

    char file[200];
    snprintf(file, sizeof(file), "%s/file", f->root);
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(extid_cache_dir_check(file, &f->log), EXTID_CONFIG_ERR);

    snprintf(p, sizeof(p), "%s/no/parent", f->root);
    assert_int_equal(extid_cache_dir_check(p, &f->log), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_cache_dir_check("", &f->log), EXTID_CONFIG_ERR);
    assert_int_equal(extid_cache_dir_check(NULL, &f->log), EXTID_CONFIG_ERR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_is_quiet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_future_mtime_is_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_files_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_leaves_no_temp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_successful_writes_leave_no_temp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_check, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
