/* Cache files on a real file system (tests run as root): atomic writes, every refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "unit_fixture.h"

#define WRITERS 8 /* concurrent writer processes */

struct fixture {
    struct ufx_dir d;        /* d.dir: the temp root; d.log has debug on */
    char dir[128];           /* d.dir/cache: the cache directory under test */
    pid_t children[WRITERS]; /* writers still to reap if a test fails midway */
};

static int setup(void **state)
{
    struct fixture *f = ufx_dir_new(sizeof(*f), true);
    snprintf(f->dir, sizeof(f->dir), "%s/cache", f->d.dir);
    assert_int_equal(extid_cache_dir_check(f->dir, &f->d.log), EXTID_OK);
    ufx_log_clear(&f->d.cap);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < sizeof(f->children) / sizeof(f->children[0]); i++)
        if (f->children[i] > 0) {
            kill(f->children[i], SIGKILL);
            waitpid(f->children[i], NULL, 0);
        }
    ufx_dir_free(&f->d);
    return 0;
}

static const char *in_dir(struct fixture *f, const char *name)
{
    snprintf(f->d.path, sizeof(f->d.path), "%s/%s", f->dir, name);
    return f->d.path;
}

static enum extid_cache_read read_it(struct fixture *f, const char *name, long ttl, char **out,
                                     size_t *len)
{
    *out = (char *)f; /* poison: must be reset */
    return extid_cache_read(f->dir, name, ttl, out, len, &f->d.log);
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    static const char data[] = "{\"keys\":[]}\0binary\xff";
    char *out;
    size_t len;
    struct stat st;

    mode_t old = umask(0);
    assert_int_equal(extid_cache_write(f->dir, "jwks-x.json", data, sizeof(data), &f->d.log),
                     EXTID_OK);
    umask(old);
    assert_int_equal(stat(in_dir(f, "jwks-x.json"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(read_it(f, "jwks-x.json", 60, &out, &len), EXTID_CACHE_HIT);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(out, data, sizeof(data));
    assert_int_equal(out[len], '\0');
    free(out);

    /* Overwrite replaces the content. */
    assert_int_equal(extid_cache_write(f->dir, "jwks-x.json", "new", 3, &f->d.log), EXTID_OK);
    assert_int_equal(read_it(f, "jwks-x.json", 60, &out, &len), EXTID_CACHE_HIT);
    assert_int_equal(len, 3);
    assert_string_equal(out, "new");
    free(out);

    /* Empty content is content. */
    assert_int_equal(extid_cache_write(f->dir, "empty", "", 0, &f->d.log), EXTID_OK);
    assert_int_equal(read_it(f, "empty", 60, &out, &len), EXTID_CACHE_HIT);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(ufx_count_entries(f->dir, NULL), 2);
    assert_int_equal(f->d.cap.lines, 0);
}

/* A file that cannot be opened for want of a descriptor is not "missing": it may hold what
 * counts (the send throttle's history), so the caller must hear of the failure. */
static void test_unreadable_is_an_error(void **state)
{
    struct fixture *f = *state;
    struct rlimit old, tight;
    char *out;
    size_t len;
    int lowest;

    assert_int_equal(extid_cache_write(f->dir, "sends-x", "1\n", 2, &f->d.log), EXTID_OK);
    lowest = dup(0);
    assert_true(lowest >= 0);
    close(lowest);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    tight = old;
    tight.rlim_cur = (rlim_t)lowest; /* the next descriptor would be over the limit */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
    enum extid_cache_read rc = read_it(f, "sends-x", 60, &out, &len);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(rc, EXTID_CACHE_ERROR);
    assert_null(out);
    assert_logged(&f->d.cap, "Too many open files");
}

static void test_missing_is_quiet(void **state)
{
    struct fixture *f = *state;
    char *out;
    size_t len = 7;
    assert_int_equal(read_it(f, "nothing", 60, &out, &len), EXTID_CACHE_MISS);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(f->d.cap.lines, 0);
}

static void test_ttl(void **state)
{
    struct fixture *f = *state;
    char *out;
    size_t len;
    assert_int_equal(extid_cache_write(f->dir, "d", "x", 1, &f->d.log), EXTID_OK);
    ufx_set_mtime(in_dir(f, "d"), time(NULL) - 100);
    assert_int_equal(read_it(f, "d", 50, &out, &len), EXTID_CACHE_MISS);
    assert_null(out);
    assert_int_equal(read_it(f, "d", 100, &out, &len), EXTID_CACHE_MISS);
    assert_int_equal(read_it(f, "d", 0, &out, &len), EXTID_CACHE_MISS);
    assert_int_equal(read_it(f, "d", -1, &out, &len), EXTID_CACHE_MISS);
    assert_int_equal(read_it(f, "d", 200, &out, &len), EXTID_CACHE_HIT);
    free(out);
    /* A rewrite makes it fresh again. */
    assert_int_equal(extid_cache_write(f->dir, "d", "y", 1, &f->d.log), EXTID_OK);
    assert_int_equal(read_it(f, "d", 50, &out, &len), EXTID_CACHE_HIT);
    assert_string_equal(out, "y");
    free(out);
}

static void test_future_mtime_is_stale(void **state)
{
    struct fixture *f = *state;
    char *out;
    size_t len;
    assert_int_equal(extid_cache_write(f->dir, "d", "x", 1, &f->d.log), EXTID_OK);
    ufx_set_mtime(in_dir(f, "d"), time(NULL) + 3600);
    assert_int_equal(read_it(f, "d", 86400, &out, &len), EXTID_CACHE_MISS);
    assert_null(out);
    assert_logged(&f->d.cap, "future");
}

/* A file the cache did not write, with the given owner and mode. */
static void plant(struct fixture *f, const char *name, const char *data, uid_t uid, mode_t mode)
{
    ufx_write_file(in_dir(f, name), data, strlen(data), uid, mode);
}

static void expect_refused(struct fixture *f, const char *name, const char *why)
{
    char *out;
    size_t len;
    ufx_log_clear(&f->d.cap);
    assert_int_equal(read_it(f, name, 3600, &out, &len), EXTID_CACHE_MISS);
    assert_null(out);
    assert_logged(&f->d.cap, why);
    assert_logged(&f->d.cap, name);
    assert_true(f->d.cap.lines >= 1);
}

static void test_unsafe_files_refused(void **state)
{
    struct fixture *f = *state;
    char *out;
    size_t len;

    plant(f, "good", "{}", 0, 0644);
    assert_int_equal(read_it(f, "good", 3600, &out, &len), EXTID_CACHE_HIT); /* control */
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
    assert_int_equal(extid_cache_write(f->dir, "max", big, cap, &f->d.log), EXTID_OK);
    assert_int_equal(read_it(f, "max", 3600, &out, &len), EXTID_CACHE_HIT);
    assert_int_equal(len, cap);
    free(out);
    assert_int_equal(extid_cache_write(f->dir, "over", big, cap + 1, &f->d.log), EXTID_OK);
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
        assert_int_equal(extid_cache_write(f->dir, names[i], "x", 1, &f->d.log), EXTID_SYSTEM_ERR);
        assert_int_equal(read_it(f, names[i], 60, &out, &len), EXTID_CACHE_ERROR);
        assert_null(out);
    }
    assert_int_equal(extid_cache_write(f->dir, NULL, "x", 1, &f->d.log), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_cache_write(NULL, "n", "x", 1, &f->d.log), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_cache_write(f->dir, "n", NULL, 1, &f->d.log), EXTID_SYSTEM_ERR);
    assert_int_equal(ufx_count_entries(f->dir, NULL), 0);
    assert_int_equal(ufx_count_entries(f->d.dir, "cache"), 0);
}

static void test_failed_write_leaves_no_temp(void **state)
{
    struct fixture *f = *state;
    /* The target is a directory: rename fails after the temp file was fully written. */
    assert_int_equal(mkdir(in_dir(f, "taken"), 0700), 0);
    assert_int_equal(extid_cache_write(f->dir, "taken", "data", 4, &f->d.log), EXTID_SYSTEM_ERR);
    assert_logged(&f->d.cap, "cannot write");
    assert_logged(&f->d.cap, "taken");
    assert_int_equal(ufx_count_entries(f->dir, "taken"), 0);

    /* A directory that does not exist. */
    ufx_log_clear(&f->d.cap);
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/nope", f->dir);
    assert_int_equal(extid_cache_write(missing, "n", "data", 4, &f->d.log), EXTID_SYSTEM_ERR);
    assert_true(f->d.cap.lines == 1);
    assert_int_equal(ufx_count_entries(f->dir, "taken"), 0);
}

static void test_successful_writes_leave_no_temp(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 20; i++)
        assert_int_equal(extid_cache_write(f->dir, "one", "abc", 3, &f->d.log), EXTID_OK);
    assert_int_equal(ufx_count_entries(f->dir, "one"), 0);
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
    assert_int_equal(extid_cache_write(f->dir, "shared", init, LEN, &f->d.log), EXTID_OK);
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
        ufx_log_clear(&f->d.cap);
        if (read_it(f, "shared", 3600, &out, &len) != EXTID_CACHE_HIT)
            fail_msg("read failed during concurrent writes: %s", f->d.cap.buf);
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
    assert_int_equal(read_it(f, "shared", 3600, &out, &len), EXTID_CACHE_HIT);
    assert_whole(out, len);
    assert_true(out[0] != 'z');
    free(out);
    assert_int_equal(ufx_count_entries(f->dir, "shared"), 0);
}

static void test_dir_check(void **state)
{
    struct fixture *f = *state;
    char p[200];
    struct stat st;

    /* Created 0700 even under a permissive umask. */
    snprintf(p, sizeof(p), "%s/new", f->d.dir);
    mode_t old = umask(0);
    assert_int_equal(extid_cache_dir_check(p, &f->d.log), EXTID_OK);
    umask(old);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(extid_cache_dir_check(p, &f->d.log), EXTID_OK); /* exists: fine */

    /* An existing 0755 root directory is fine (not writable by others). */
    assert_int_equal(chmod(p, 0755), 0);
    assert_int_equal(extid_cache_dir_check(p, &f->d.log), EXTID_OK);

    ufx_log_clear(&f->d.cap);
    assert_int_equal(chmod(p, 0770), 0);
    assert_int_equal(extid_cache_dir_check(p, &f->d.log), EXTID_CONFIG_ERR);
    assert_logged(&f->d.cap, "writable by group or others");
    assert_int_equal(chmod(p, 0703), 0);
    assert_int_equal(extid_cache_dir_check(p, &f->d.log), EXTID_CONFIG_ERR);
    assert_int_equal(chmod(p, 0700), 0);

    ufx_log_clear(&f->d.cap);
    assert_int_equal(chown(p, 1, 1), 0);
    assert_int_equal(extid_cache_dir_check(p, &f->d.log), EXTID_CONFIG_ERR);
    assert_logged(&f->d.cap, "not owned by root");
    assert_int_equal(chown(p, 0, 0), 0);

    ufx_log_clear(&f->d.cap);
    char link[200];
    snprintf(link, sizeof(link), "%s/link", f->d.dir);
    assert_int_equal(symlink(p, link), 0);
    assert_int_equal(extid_cache_dir_check(link, &f->d.log), EXTID_CONFIG_ERR);
    assert_logged(&f->d.cap, "symbolic link");

    char file[200];
    snprintf(file, sizeof(file), "%s/file", f->d.dir);
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(extid_cache_dir_check(file, &f->d.log), EXTID_CONFIG_ERR);

    snprintf(p, sizeof(p), "%s/no/parent", f->d.dir);
    assert_int_equal(extid_cache_dir_check(p, &f->d.log), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_cache_dir_check("", &f->d.log), EXTID_CONFIG_ERR);
    assert_int_equal(extid_cache_dir_check(NULL, &f->d.log), EXTID_CONFIG_ERR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_round_trip),
        T(test_missing_is_quiet),
        T(test_unreadable_is_an_error),
        T(test_ttl),
        T(test_future_mtime_is_stale),
        T(test_unsafe_files_refused),
        T(test_size_cap),
        T(test_bad_names),
        T(test_failed_write_leaves_no_temp),
        T(test_successful_writes_leave_no_temp),
        T(test_concurrent_writers),
        T(test_dir_check),
#undef T
    };
    return ufx_run_root_group_tests(tests, NULL, NULL);
}
