/* extid_safefile_read: every refusal, checked on real files (tests run as root). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "safefile.h"
#include "unit_fixture.h"

/* Creates dir/name with the given bytes, owner and mode; returns its path in f->path. */
static const char *make_file(struct ufx_dir *f, const char *name, const void *data, size_t len,
                             uid_t uid, mode_t mode)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    ufx_write_file(f->path, data, len, uid, mode);
    return f->path;
}

/* Expects a refusal: CONFIG_ERR, nothing returned, and one log line naming path and reason. */
static void expect_refused(struct ufx_dir *f, const char *path, const char *reason)
{
    char *out = (char *)0x1;
    size_t len = 99;
    char want[512];

    assert_int_equal(extid_safefile_read(path, &out, &len, &f->log), EXTID_CONFIG_ERR);
    assert_null(out);
    assert_int_equal(len, 0);
    snprintf(want, sizeof want, ": %s", reason);
    assert_logged_at(&f->cap, path, want);
}

static void test_reads_root_file(void **state)
{
    struct ufx_dir *f = *state;
    const char *path = make_file(f, "ok.conf", "tenant = contoso\n", 17, 0, 0644);
    char *out = NULL;
    size_t len = 0;

    assert_int_equal(extid_safefile_read(path, &out, &len, &f->log), EXTID_OK);
    assert_non_null(out);
    assert_int_equal(len, 17);
    assert_string_equal(out, "tenant = contoso\n");
    assert_int_equal(f->cap.len, 0);
    free(out);
}

static void test_reads_private_and_readonly(void **state)
{
    struct ufx_dir *f = *state;
    char *out = NULL;
    size_t len = 0;

    /* A group other than root does not matter: only writes by others are a risk. */
    assert_int_equal(extid_safefile_read(make_file(f, "a", "x", 1, 0, 0400), &out, &len, &f->log),
                     EXTID_OK);
    assert_string_equal(out, "x");
    free(out);
    out = NULL;
    make_file(f, "b", "yz", 2, 0, 0640);
    assert_int_equal(chown(f->path, 0, 65534), 0);
    assert_int_equal(extid_safefile_read(f->path, &out, &len, &f->log), EXTID_OK);
    assert_string_equal(out, "yz");
    assert_int_equal(len, 2);
    free(out);
}

static void test_reads_empty_file(void **state)
{
    struct ufx_dir *f = *state;
    char *out = NULL;
    size_t len = 7;

    assert_int_equal(
        extid_safefile_read(make_file(f, "empty", "", 0, 0, 0600), &out, &len, &f->log), EXTID_OK);
    assert_non_null(out);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    free(out);
}

static void test_refuses_other_owner(void **state)
{
    struct ufx_dir *f = *state;

    expect_refused(f, make_file(f, "nobody", "x", 1, 65534, 0644),
                   "is owned by uid 65534, not root");
}

static void test_refuses_world_writable(void **state)
{
    struct ufx_dir *f = *state;

    expect_refused(f, make_file(f, "w666", "x", 1, 0, 0666),
                   "is writable by group or others (mode 0666)");
}

static void test_refuses_group_writable(void **state)
{
    struct ufx_dir *f = *state;

    expect_refused(f, make_file(f, "w620", "x", 1, 0, 0620),
                   "is writable by group or others (mode 0620)");
}

static void test_refuses_other_writable_only(void **state)
{
    struct ufx_dir *f = *state;

    expect_refused(f, make_file(f, "w602", "x", 1, 0, 0602),
                   "is writable by group or others (mode 0602)");
}

static void test_refuses_symlink(void **state)
{
    struct ufx_dir *f = *state;
    char link[300];

    make_file(f, "target", "x", 1, 0, 0644);
    snprintf(link, sizeof link, "%s/link", f->dir);
    assert_int_equal(symlink(f->path, link), 0);
    expect_refused(f, link, "is a symbolic link");
}

static void test_refuses_directory(void **state)
{
    struct ufx_dir *f = *state;

    expect_refused(f, f->dir, "not a regular file");
}

static void test_refuses_fifo_without_blocking(void **state)
{
    struct ufx_dir *f = *state;
    char fifo[300];

    snprintf(fifo, sizeof fifo, "%s/fifo", f->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    /* If open() waited for a writer, SIGALRM would kill the test. */
    alarm(5);
    expect_refused(f, fifo, "not a regular file");
    alarm(0);
}

static void test_refuses_device(void **state)
{
    struct ufx_dir *f = *state;

    expect_refused(f, "/dev/null", "not a regular file");
}

static void test_size_limit(void **state)
{
    struct ufx_dir *f = *state;
    char *big = malloc(EXTID_SAFEFILE_MAX + 1);
    char *out = NULL;
    size_t len = 0;

    assert_non_null(big);
    memset(big, 'a', EXTID_SAFEFILE_MAX + 1);
    make_file(f, "max", big, EXTID_SAFEFILE_MAX, 0, 0644);
    assert_int_equal(extid_safefile_read(f->path, &out, &len, &f->log), EXTID_OK);
    assert_int_equal(len, EXTID_SAFEFILE_MAX);
    assert_int_equal(strlen(out), EXTID_SAFEFILE_MAX);
    free(out);
    expect_refused(f, make_file(f, "toobig", big, EXTID_SAFEFILE_MAX + 1, 0, 0644), "too large");
    free(big);
}

static void test_refuses_nul_byte(void **state)
{
    struct ufx_dir *f = *state;

    expect_refused(f, make_file(f, "nul", "a = b\n\0c = d\n", 13, 0, 0644), "contains a NUL byte");
}

static void test_refuses_missing(void **state)
{
    struct ufx_dir *f = *state;
    char path[300];

    snprintf(path, sizeof path, "%s/absent", f->dir);
    expect_refused(f, path, "cannot open: No such file or directory");
}

static void test_refuses_bad_arguments(void **state)
{
    struct ufx_dir *f = *state;
    char *out = NULL;
    size_t len = 0;

    assert_int_equal(extid_safefile_read(NULL, &out, &len, &f->log), EXTID_CONFIG_ERR);
    assert_int_equal(extid_safefile_read("", &out, &len, &f->log), EXTID_CONFIG_ERR);
    assert_null(out);
    assert_int_not_equal(extid_safefile_read("/dev/null", NULL, &len, &f->log), EXTID_OK);
    assert_int_not_equal(extid_safefile_read("/dev/null", &out, NULL, &f->log), EXTID_OK);
}

/* f->dir/<name>, a directory with the given owner and mode; its path in f->path. */
static const char *make_dir(struct ufx_dir *f, const char *name, uid_t uid, mode_t mode)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    assert_int_equal(mkdir(f->path, 0700), 0);
    assert_int_equal(chown(f->path, uid, 0), 0);
    assert_int_equal(chmod(f->path, mode), 0);
    return f->path;
}

static void test_refuses_file_in_group_writable_dir(void **state)
{
    struct ufx_dir *f = *state;
    char dir[300], want[400];

    snprintf(dir, sizeof dir, "%s", make_dir(f, "shared", 0, 0775));
    make_file(f, "shared/pam_extid.conf", "x", 1, 0, 0644);
    snprintf(want, sizeof want, "directory %s is writable by group or others (mode 0775)", dir);
    expect_refused(f, f->path, want);
}

static void test_refuses_file_below_dir_of_other_owner(void **state)
{
    struct ufx_dir *f = *state;
    char dir[300], want[400];

    /* The unsafe directory is an ancestor, not the parent: its owner could rename the rest. */
    snprintf(dir, sizeof dir, "%s", make_dir(f, "theirs", 65534, 0755));
    make_dir(f, "theirs/inner", 0, 0755);
    make_file(f, "theirs/inner/users", "x", 1, 0, 0644);
    snprintf(want, sizeof want, "directory %s is owned by uid 65534, not root", dir);
    expect_refused(f, f->path, want);
}

static void test_reads_file_in_sticky_world_writable_dir(void **state)
{
    struct ufx_dir *f = *state;
    char *out = NULL;
    size_t len = 0;

    /* Like /tmp: others cannot rename or remove what root keeps there. */
    make_dir(f, "sticky", 0, 01777);
    make_file(f, "sticky/conf", "ok", 2, 0, 0644);
    assert_int_equal(extid_safefile_read(f->path, &out, &len, &f->log), EXTID_OK);
    assert_string_equal(out, "ok");
    free(out);
}

static void test_directories_are_checked_where_links_lead(void **state)
{
    struct ufx_dir *f = *state;
    char link[300], target[300], want[400];
    char *out = NULL;
    size_t len = 0;

    make_dir(f, "real", 0, 0755);
    make_file(f, "real/conf", "ok", 2, 0, 0644);
    snprintf(target, sizeof target, "%s/real", f->dir);
    snprintf(link, sizeof link, "%s/via", f->dir);
    assert_int_equal(symlink(target, link), 0);
    snprintf(f->path, sizeof f->path, "%s/via/conf", f->dir);
    assert_int_equal(extid_safefile_read(f->path, &out, &len, &f->log), EXTID_OK);
    assert_string_equal(out, "ok");
    free(out);
    /* The same link to a directory anyone may write is refused, naming that directory. */
    assert_int_equal(chmod(target, 0777), 0);
    snprintf(want, sizeof want, "directory %s is writable by group or others (mode 0777)", target);
    expect_refused(f, f->path, want);
}

static void test_dirs_check_alone(void **state)
{
    struct ufx_dir *f = *state;
    char cache[300];

    make_dir(f, "var", 0, 0755);
    snprintf(cache, sizeof cache, "%s/var/cache", f->dir); /* need not exist yet */
    assert_int_equal(extid_safefile_dirs(cache, &f->log), EXTID_OK);
    assert_int_equal(f->cap.len, 0);
    snprintf(f->path, sizeof f->path, "%s/var", f->dir);
    assert_int_equal(chmod(f->path, 0770), 0);
    assert_int_equal(extid_safefile_dirs(cache, &f->log), EXTID_CONFIG_ERR);
    assert_logged(&f->cap, "is writable by group or others (mode 0770)");
    assert_int_equal(extid_safefile_dirs("relative/cache", &f->log), EXTID_CONFIG_ERR);
}

static void test_trusted_follows_links_and_checks_the_target(void **state)
{
    struct ufx_dir *f = *state;
    char real[300], link[300];
    char *resolved = (char *)0x1;

    make_dir(f, "certs", 0, 0755);
    make_file(f, "certs/ca.pem", "pem", 3, 0, 0644);
    snprintf(real, sizeof real, "%s", f->path);
    snprintf(link, sizeof link, "%s/ca-link.pem", f->dir);
    assert_int_equal(symlink(real, link), 0);
    assert_int_equal(extid_safefile_trusted(link, &resolved, &f->log), EXTID_OK);
    assert_non_null(resolved);
    assert_string_equal(resolved, real); /* what curl is given: no link left to swap */
    free(resolved);

    assert_int_equal(chmod(real, 0666), 0);
    assert_int_equal(extid_safefile_trusted(link, &resolved, &f->log), EXTID_CONFIG_ERR);
    assert_null(resolved);
    assert_logged_at(&f->cap, link, ": is writable by group or others (mode 0666)");
    assert_int_equal(chmod(real, 0644), 0);
    assert_int_equal(chown(real, 65534, 0), 0);
    assert_int_equal(extid_safefile_trusted(link, &resolved, &f->log), EXTID_CONFIG_ERR);
    assert_logged_at(&f->cap, link, ": is owned by uid 65534, not root");
    assert_int_equal(chown(real, 0, 0), 0);
    snprintf(f->path, sizeof f->path, "%s/certs", f->dir);
    assert_int_equal(chmod(f->path, 0777), 0);
    assert_int_equal(extid_safefile_trusted(link, &resolved, &f->log), EXTID_CONFIG_ERR);
    assert_logged(&f->cap, "/certs is writable by group or others (mode 0777)");

    snprintf(f->path, sizeof f->path, "%s/absent.pem", f->dir);
    assert_int_equal(extid_safefile_trusted(f->path, &resolved, &f->log), EXTID_CONFIG_ERR);
    assert_logged_at(&f->cap, f->path, ": cannot resolve: No such file or directory");
    assert_int_equal(extid_safefile_trusted(f->dir, &resolved, &f->log), EXTID_CONFIG_ERR);
    assert_logged_at(&f->cap, f->dir, ": not a regular file");
    assert_int_equal(extid_safefile_trusted("ca.pem", &resolved, &f->log), EXTID_CONFIG_ERR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, ufx_dir_setup, ufx_dir_teardown)
        T(test_reads_root_file),
        T(test_reads_private_and_readonly),
        T(test_reads_empty_file),
        T(test_refuses_other_owner),
        T(test_refuses_world_writable),
        T(test_refuses_group_writable),
        T(test_refuses_other_writable_only),
        T(test_refuses_symlink),
        T(test_refuses_directory),
        T(test_refuses_fifo_without_blocking),
        T(test_refuses_device),
        T(test_size_limit),
        T(test_refuses_nul_byte),
        T(test_refuses_missing),
        T(test_refuses_bad_arguments),
        T(test_refuses_file_in_group_writable_dir),
        T(test_refuses_file_below_dir_of_other_owner),
        T(test_reads_file_in_sticky_world_writable_dir),
        T(test_directories_are_checked_where_links_lead),
        T(test_dirs_check_alone),
        T(test_trusted_follows_links_and_checks_the_target),
#undef T
    };

    return ufx_run_root_group_tests(tests, NULL, NULL);
}
