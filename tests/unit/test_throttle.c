/* The send throttle's own outcomes: go, refused with the wait, an unsafe directory; state that
 * is not a file the throttle wrote is not trusted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cache.h"
#include "throttle.h"
#include "unit_fixture.h"

#define NOW ((time_t)1750000000)

static enum extid_throttle take(struct ufx_dir *d, const char *email, int limit, long gap,
                                time_t now, long *wait)
{
    struct extid_throttle_policy policy = { .limit = limit, .window = 3600, .gap = gap };

    return extid_throttle_take(d->dir, email, &policy, now, wait, &d->log);
}

static void test_limit_then_refused(void **state)
{
    struct ufx_dir *d = *state;
    long wait = -1;

    assert_int_equal(take(d, "a@example.com", 2, 0, NOW, &wait), EXTID_THROTTLE_GO);
    assert_int_equal(wait, 0);
    assert_int_equal(take(d, "A@Example.com", 2, 0, NOW + 10, &wait), EXTID_THROTTLE_GO);
    assert_int_equal(take(d, "a@example.com", 2, 0, NOW + 20, &wait), EXTID_THROTTLE_REFUSED);
    assert_int_equal(wait, 3600 - 20);
    /* A refusal records nothing: the window still ends when the first send leaves it. */
    assert_int_equal(take(d, "a@example.com", 2, 0, NOW + 3600, &wait), EXTID_THROTTLE_GO);
    /* Another address has its own count. */
    assert_int_equal(take(d, "b@example.com", 2, 0, NOW + 20, &wait), EXTID_THROTTLE_GO);
}

static void test_gap(void **state)
{
    struct ufx_dir *d = *state;
    long wait = 0;

    assert_int_equal(take(d, "a@example.com", 5, 30, NOW, &wait), EXTID_THROTTLE_GO);
    assert_int_equal(take(d, "a@example.com", 5, 30, NOW + 10, &wait), EXTID_THROTTLE_REFUSED);
    assert_int_equal(wait, 20);
    assert_int_equal(take(d, "a@example.com", 5, 30, NOW + 30, &wait), EXTID_THROTTLE_GO);
}

static void test_off(void **state)
{
    struct ufx_dir *d = *state;
    long wait = 7;

    for (int i = 0; i < 5; i++)
        assert_int_equal(take(d, "a@example.com", 0, 60, NOW, &wait), EXTID_THROTTLE_GO);
    assert_int_equal(wait, 0);
    assert_int_equal(ufx_count_entries(d->dir, NULL), 0); /* nothing kept when off */
}

static void test_unsafe_directory(void **state)
{
    struct ufx_dir *d = *state;
    long wait = 0;

    assert_int_equal(chmod(d->dir, 0777), 0);
    assert_int_equal(take(d, "a@example.com", 2, 0, NOW, &wait), EXTID_THROTTLE_UNSAFE);
    assert_int_equal(chmod(d->dir, 0700), 0);
}

static void test_planted_state_is_ignored(void **state)
{
    struct ufx_dir *d = *state;
    char path[512];
    long wait = 0;
    int found = 0;
    DIR *dir;
    struct dirent *e;

    assert_int_equal(take(d, "a@example.com", 2, 0, NOW, &wait), EXTID_THROTTLE_GO);
    /* A FIFO in the state file's place is ignored (logged), never read or waited on. */
    dir = opendir(d->dir);
    assert_non_null(dir);
    while ((e = readdir(dir))) {
        if (strncmp(e->d_name, "sends-", 6) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", d->dir, e->d_name);
        found++;
    }
    closedir(dir);
    assert_int_equal(found, 1);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(take(d, "a@example.com", 2, 0, NOW + 1, &wait), EXTID_THROTTLE_GO);
    assert_logged(&d->cap, "not a regular file, ignored");
}

/* A send that did not happen is given back: only codes Entra sent count. */
static void test_give_back(void **state)
{
    struct ufx_dir *d = *state;
    struct extid_throttle_policy policy = { .limit = 1, .window = 3600, .gap = 0 };
    long wait = 0;

    assert_int_equal(take(d, "a@example.com", 1, 0, NOW, &wait), EXTID_THROTTLE_GO);
    assert_int_equal(take(d, "a@example.com", 1, 0, NOW + 1, &wait), EXTID_THROTTLE_REFUSED);
    assert_int_equal(
        extid_throttle_give_back(d->dir, "A@example.com", &policy, NOW, NOW + 2, &d->log),
        EXTID_THROTTLE_GO);
    assert_int_equal(take(d, "a@example.com", 1, 0, NOW + 3, &wait), EXTID_THROTTLE_GO);
    /* A time never taken gives nothing back. */
    assert_int_equal(
        extid_throttle_give_back(d->dir, "a@example.com", &policy, NOW + 99, NOW + 4, &d->log),
        EXTID_THROTTLE_GO);
    assert_int_equal(take(d, "a@example.com", 1, 0, NOW + 5, &wait), EXTID_THROTTLE_REFUSED);
}

/* The failure budget: counted in advance up to the limit, then refused, recording nothing,
 * until the oldest leaves the window; a count without a verdict goes back; cleared at once;
 * off at 0. */
static void test_failure_budget(void **state)
{
    struct ufx_dir *d = *state;
    long wait = -1;

    assert_int_equal(extid_fails_check(d->dir, "a@example.com", 2, 3600, NOW, &wait, &d->log),
                     EXTID_THROTTLE_GO);
    assert_int_equal(extid_fails_reserve(d->dir, "a@example.com", 2, 3600, NOW, &wait, &d->log),
                     EXTID_THROTTLE_GO);
    assert_int_equal(
        extid_fails_reserve(d->dir, "A@EXAMPLE.COM", 2, 3600, NOW + 100, &wait, &d->log),
        EXTID_THROTTLE_GO);
    assert_int_equal(
        extid_fails_reserve(d->dir, "a@example.com", 2, 3600, NOW + 100, &wait, &d->log),
        EXTID_THROTTLE_REFUSED);
    assert_int_equal(wait, 3600 - 100);
    assert_int_equal(
        extid_fails_give_back(d->dir, "a@example.com", 2, 3600, NOW + 100, NOW + 150, &d->log),
        EXTID_THROTTLE_GO);
    assert_int_equal(extid_fails_check(d->dir, "a@example.com", 2, 3600, NOW + 150, &wait, &d->log),
                     EXTID_THROTTLE_GO);
    assert_int_equal(
        extid_fails_reserve(d->dir, "a@example.com", 2, 3600, NOW + 100, &wait, &d->log),
        EXTID_THROTTLE_GO);
    assert_int_equal(extid_fails_check(d->dir, "a@example.com", 2, 3600, NOW + 200, &wait, &d->log),
                     EXTID_THROTTLE_REFUSED);
    assert_int_equal(wait, 3600 - 200);
    assert_int_equal(extid_fails_check(d->dir, "b@example.com", 2, 3600, NOW + 200, &wait, &d->log),
                     EXTID_THROTTLE_GO);
    assert_int_equal(
        extid_fails_check(d->dir, "a@example.com", 2, 3600, NOW + 3600, &wait, &d->log),
        EXTID_THROTTLE_GO);
    assert_int_equal(extid_fails_clear(d->dir, "a@example.com", &d->log), EXTID_THROTTLE_GO);
    assert_int_equal(extid_fails_check(d->dir, "a@example.com", 2, 3600, NOW + 200, &wait, &d->log),
                     EXTID_THROTTLE_GO);
    assert_int_equal(extid_fails_reserve(d->dir, "c@example.com", 0, 3600, NOW, &wait, &d->log),
                     EXTID_THROTTLE_GO);
    assert_int_equal(extid_fails_check(d->dir, "c@example.com", 0, 3600, NOW, &wait, &d->log),
                     EXTID_THROTTLE_GO);
}

/* extid-check --reset: both kinds go, for that address only. */
static void test_address_reset(void **state)
{
    struct ufx_dir *d = *state;
    long wait = 0;

    assert_int_equal(take(d, "a@example.com", 1, 0, NOW, &wait), EXTID_THROTTLE_GO);
    assert_int_equal(take(d, "b@example.com", 1, 0, NOW, &wait), EXTID_THROTTLE_GO);
    assert_int_equal(extid_fails_reserve(d->dir, "a@example.com", 1, 3600, NOW, &wait, &d->log),
                     EXTID_THROTTLE_GO);
    assert_int_equal(extid_fails_check(d->dir, "a@example.com", 1, 3600, NOW, &wait, &d->log),
                     EXTID_THROTTLE_REFUSED);
    assert_int_equal(extid_address_reset(d->dir, "A@example.com", &d->log), EXTID_THROTTLE_GO);
    assert_int_equal(take(d, "a@example.com", 1, 0, NOW + 1, &wait), EXTID_THROTTLE_GO);
    assert_int_equal(extid_fails_check(d->dir, "a@example.com", 1, 3600, NOW + 1, &wait, &d->log),
                     EXTID_THROTTLE_GO);
    assert_int_equal(take(d, "b@example.com", 1, 0, NOW + 1, &wait), EXTID_THROTTLE_REFUSED);
    /* Nothing there to remove is not an error. */
    assert_int_equal(extid_address_reset(d->dir, "z@example.com", &d->log), EXTID_THROTTLE_GO);
}

/* Bucket (the first two hex digits of the key) an address's state falls in. */
static void bucket_of(const char *email, char bucket[3])
{
    char key[EXTID_CACHE_KEY_LEN];

    assert_int_equal(extid_cache_key(email, key), EXTID_OK);
    memcpy(bucket, key, 2);
    bucket[2] = '\0';
}

static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* Strangers typing thousands of addresses: cache_dir stays bounded (at most 64 addresses per
 * lock bucket), a full bucket refuses new addresses instead of forgetting a victim's count,
 * states with nothing left in the window go, and so does a state given back to zero. */
static void test_state_strangers_make_is_bounded(void **state)
{
    struct ufx_dir *d = *state;
    char victim_bucket[3], bucket[3], email[64], prefix[16];
    struct extid_throttle_policy policy = { .limit = 2, .window = 3600, .gap = 0 };
    int same_bucket = 0, full = 0, i;
    long wait = 0;

    bucket_of("victim@example.com", victim_bucket);
    assert_int_equal(take(d, "victim@example.com", 2, 0, NOW, &wait), EXTID_THROTTLE_GO);
    assert_int_equal(take(d, "victim@example.com", 2, 0, NOW, &wait), EXTID_THROTTLE_GO);
    for (i = 0; i < 3000 || same_bucket < 100; i++) {
        snprintf(email, sizeof email, "stranger%06d@example.com", i);
        bucket_of(email, bucket);
        if (strcmp(bucket, victim_bucket) == 0)
            same_bucket++;
        else if (i >= 3000)
            continue; /* past the general flood, only the victim's bucket is filled up */
        switch (take(d, email, 2, 0, NOW + 1, &wait)) {
        case EXTID_THROTTLE_GO: break;
        case EXTID_THROTTLE_FULL: full++; break;
        default: fail_msg("unexpected outcome for %s", email);
        }
    }
    snprintf(prefix, sizeof prefix, "sends-%s", victim_bucket);
    assert_int_equal(count_prefixed(d->dir, prefix), 64);
    assert_true(full >= 100 - 63);
    assert_true(count_prefixed(d->dir, "sends-") <= 256 * 64);
    assert_true(count_prefixed(d->dir, "lock-") <= 256);
    assert_logged(&d->cap, "a flood of typed addresses?");
    /* The flood reset nothing: the victim's two codes still count. */
    assert_int_equal(take(d, "victim@example.com", 2, 0, NOW + 2, &wait), EXTID_THROTTLE_REFUSED);

    /* A window later nothing counts: the next new address of the bucket gets in, and the
     * expired states of its bucket are gone. */
    for (i = 0;; i++) {
        snprintf(email, sizeof email, "late%06d@example.com", i);
        bucket_of(email, bucket);
        if (strcmp(bucket, victim_bucket) == 0)
            break;
    }
    assert_int_equal(take(d, email, 2, 0, NOW + 3602, &wait), EXTID_THROTTLE_GO);
    assert_int_equal(count_prefixed(d->dir, prefix), 1);

    /* A send given back leaves no state behind. */
    assert_int_equal(
        extid_throttle_give_back(d->dir, email, &policy, NOW + 3602, NOW + 3603, &d->log),
        EXTID_THROTTLE_GO);
    assert_int_equal(count_prefixed(d->dir, prefix), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limit_then_refused, ufx_dir_setup, ufx_dir_teardown),
        cmocka_unit_test_setup_teardown(test_gap, ufx_dir_setup, ufx_dir_teardown),
        cmocka_unit_test_setup_teardown(test_give_back, ufx_dir_setup, ufx_dir_teardown),
        cmocka_unit_test_setup_teardown(test_failure_budget, ufx_dir_setup, ufx_dir_teardown),
        cmocka_unit_test_setup_teardown(test_address_reset, ufx_dir_setup, ufx_dir_teardown),
        cmocka_unit_test_setup_teardown(test_off, ufx_dir_setup, ufx_dir_teardown),
        cmocka_unit_test_setup_teardown(test_state_strangers_make_is_bounded, ufx_dir_setup,
                                        ufx_dir_teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_directory, ufx_dir_setup, ufx_dir_teardown),
        cmocka_unit_test_setup_teardown(test_planted_state_is_ignored, ufx_dir_setup,
                                        ufx_dir_teardown),
    };

    return ufx_run_root_group_tests(tests, NULL, NULL);
}
