/* The send throttle and the failure budget: one state file per address (event times, one per
 * line) under a lock bucket; a refusal says how long to wait. What strangers can make is bounded:
 * a state with no event left in its window is removed, and a bucket keeps at most BUCKET_CAP
 * addresses of each kind, so cache_dir never holds more than 256 * BUCKET_CAP of them. */
#include "throttle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "util.h"

#define LOCK_WAIT_MS 3000
#define LOCK_RETRY_MS 10
#define MAX_SENDS 1000 /* the largest send_limit and fail_limit accepted by the config */
#define NAME_LEN 96
/* Addresses of one kind a lock bucket may count at once. A full bucket refuses new addresses
 * rather than forget a live count: a flood of strangers' addresses must never reset a
 * victim's. 256 buckets of 64 hold 16384 addresses, far more than a host's real users. */
#define BUCKET_CAP 64

/* Times of one identity's events (codes sent, or wrong secrets), oldest first, as the state
 * file holds them: one decimal Unix time per line. */
struct sends {
    long long at[MAX_SENDS];
    int count;
};

static bool parse_sends(const char *text, struct sends *s)
{
    const char *p = text;

    s->count = 0;
    while (*p) {
        char *end;
        long long t;
        errno = 0;
        t = strtoll(p, &end, 10);
        if (end == p || errno || t < 0 || *end != '\n' || s->count == MAX_SENDS)
            return false;
        s->at[s->count++] = t;
        p = end + 1;
    }
    return true;
}

/* Keeps the sends inside the window, the newest `keep` of them at most. */
static void prune(struct sends *s, time_t now, long window, int keep)
{
    int first = 0, i;

    while (first < s->count && s->at[first] <= (long long)now - window)
        first++;
    if (s->count - first > keep)
        first = s->count - keep;
    for (i = first; i < s->count; i++)
        s->at[i - first] = s->at[i];
    s->count -= first;
}

static char *format_sends(const struct sends *s)
{
    size_t cap = (size_t)s->count * 21 + 1, used = 0;
    char *out = malloc(cap);
    int i;

    if (!out)
        return NULL;
    out[0] = '\0';
    for (i = 0; i < s->count; i++)
        used += (size_t)snprintf(out + used, cap - used, "%lld\n", s->at[i]);
    return out;
}

/* Locks the address's lock bucket (one of 256, chosen by its key): a login held up inside it
 * (stopped by a signal in a set-uid program, say) stalls the addresses of that bucket only,
 * never every login on the host, and strangers typing addresses cannot make lock files without
 * end. It is taken without blocking, retried for at most LOCK_WAIT_MS, and otherwise the send
 * is refused: the critical section is a read and a write of a tiny file. */
static int take_lock(const char *cache_dir, const char *key, const char *email,
                     const struct extid_log *log)
{
    const struct timespec pause = { 0, LOCK_RETRY_MS * 1000000L };
    char path[4096];
    int fd, waited_ms = 0;

    if ((size_t)snprintf(path, sizeof path, "%s/lock-sends-%.2s", cache_dir, key) >= sizeof path)
        return -1;
    fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        extid_log(log, LOG_ERR, "address state: cannot open %s: %s", path, EXTID_STRERROR(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK && waited_ms < LOCK_WAIT_MS) {
            nanosleep(&pause, NULL);
            waited_ms += LOCK_RETRY_MS;
        } else if (errno != EINTR) {
            if (errno == EWOULDBLOCK)
                extid_log(log, LOG_ERR,
                          "address state: the state for %s stayed locked by "
                          "another login for %d ms (%s); refusing",
                          email, LOCK_WAIT_MS, path);
            else
                extid_log(log, LOG_ERR, "address state: cannot lock %s: %s", path,
                          EXTID_STRERROR(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* One address's state of one kind ("sends", "fails"), read and pruned under the address's
 * lock; `op` decides, and may change it, and a changed state is written back before the lock
 * goes. The same rules hold for every kind: an unsafe cache_dir, a state that cannot be read
 * (it may hold events that still count) and a failed write all fail closed. */
struct state_op {
    const char *kind; /* file name prefix, and the log's name for the state */
    const char *what; /* the log's name for it */
    long window;      /* seconds an event counts */
    int keep;         /* events worth keeping (the limit) */
    time_t now;
    /* EXTID_THROTTLE_GO or _REFUSED; *changed true to write the state back. */
    enum extid_throttle (*decide)(struct sends *s, const struct state_op *op, bool *changed,
                                  long *retry_after, const char *email,
                                  const struct extid_log *log);
    long long arg; /* the op's own argument (a time to remove, say) */
};

static int unlink_state(const char *cache_dir, const char *name, const struct state_op *op,
                        const struct extid_log *log)
{
    char path[4096];

    if ((size_t)snprintf(path, sizeof path, "%s/%s", cache_dir, name) >= sizeof path)
        return -1;
    if (unlink(path) != 0 && errno != ENOENT) {
        extid_log(log, LOG_ERR, "%s: cannot remove %s: %s", op->what, path, EXTID_STRERROR(errno));
        return -1;
    }
    return 0;
}

static bool state_name(const char *kind, const char *email, char key[EXTID_CACHE_KEY_LEN],
                       char name[NAME_LEN])
{
    char lower[256];
    size_t i;

    /* Addresses differ only in case for Entra; so must their counters. */
    for (i = 0; i < sizeof lower - 1 && email[i]; i++)
        lower[i] = extid_ascii_tolower(email[i]);
    lower[i] = '\0';
    if (extid_cache_key(lower, key) != EXTID_OK)
        return false;
    snprintf(name, NAME_LEN, "%s-%s", kind, key);
    return true;
}

/* Whether one more address of op's kind fits in the bucket `key` falls in: GO, FULL, or ERROR
 * when the directory cannot be looked through. Under the bucket's lock: states of the bucket
 * with no event left in the window are removed on the way; one that cannot be read counts as
 * live (it may hold events that count). */
static enum extid_throttle bucket_room(const char *cache_dir, const char *key, const char *own_name,
                                       const struct state_op *op, const char *email,
                                       const struct extid_log *log)
{
    char prefix[NAME_LEN];
    size_t prefix_len, name_len = strlen(own_name);
    struct sends *s = malloc(sizeof *s);
    DIR *dir = opendir(cache_dir);
    struct dirent *e;
    int live = 0;

    snprintf(prefix, sizeof prefix, "%s-%.2s", op->kind, key);
    prefix_len = strlen(prefix);
    while (s && dir && live < BUCKET_CAP && (e = readdir(dir))) {
        char *text = NULL, path[4096];
        size_t len = 0;
        enum extid_cache_read r;

        if (strlen(e->d_name) != name_len || strncmp(e->d_name, prefix, prefix_len) != 0
            || strcmp(e->d_name, own_name) == 0)
            continue;
        r = extid_cache_read(cache_dir, e->d_name, op->window, &text, &len, log);
        s->count = 0;
        if (r == EXTID_CACHE_HIT && parse_sends(text, s))
            prune(s, op->now, op->window, op->keep);
        free(text);
        if (r == EXTID_CACHE_ERROR || s->count > 0) {
            live++;
            continue;
        }
        if ((size_t)snprintf(path, sizeof path, "%s/%s", cache_dir, e->d_name) < sizeof path)
            unlink(path); /* expired or unusable: nothing in it counts any more */
    }
    if (!s || !dir)
        extid_log(log, LOG_ERR, "%s: cannot look through %s", op->what, cache_dir);
    else if (live >= BUCKET_CAP)
        extid_log(log, LOG_WARNING,
                  "%s: %d other addresses of bucket %.2s are counted; the new address %s is "
                  "refused until one of them leaves its window (a flood of typed addresses?)",
                  op->what, live, key, email);
    if (dir)
        closedir(dir);
    free(s);
    if (!s || !dir)
        return EXTID_THROTTLE_ERROR;
    return live < BUCKET_CAP ? EXTID_THROTTLE_GO : EXTID_THROTTLE_FULL;
}

static enum extid_throttle with_state(const char *cache_dir, const char *email,
                                      const struct state_op *op, long *retry_after,
                                      const struct extid_log *log)
{
    char key[EXTID_CACHE_KEY_LEN], name[NAME_LEN];
    struct sends *s = NULL;
    char *text = NULL, *out_text = NULL;
    size_t len = 0;
    int lock_fd = -1;
    bool changed = false;
    enum extid_cache_read cached;
    enum extid_throttle rc = EXTID_THROTTLE_ERROR;

    *retry_after = 0;
    if (!state_name(op->kind, email, key, name))
        return EXTID_THROTTLE_ERROR;
    switch (extid_cache_dir_check(cache_dir, log)) {
    case EXTID_OK: break;
    case EXTID_CONFIG_ERR: return EXTID_THROTTLE_UNSAFE;
    default: return EXTID_THROTTLE_ERROR;
    }
    lock_fd = take_lock(cache_dir, key, email, log);
    if (lock_fd < 0)
        goto out;
    s = calloc(1, sizeof *s);
    if (!s)
        goto out;
    /* A file untouched for a whole window holds no event that still counts; one that could not
     * be read may hold events that do, so the login stops rather than start the count afresh. */
    cached = extid_cache_read(cache_dir, name, op->window, &text, &len, log);
    if (cached == EXTID_CACHE_ERROR) {
        extid_log(log, LOG_ERR, "%s: cannot read the state for %s", op->what, email);
        goto out;
    }
    if (cached == EXTID_CACHE_HIT && !parse_sends(text, s)) {
        extid_log(log, LOG_WARNING, "%s: state for %s is corrupt; starting afresh", op->what,
                  email);
        s->count = 0;
    }
    prune(s, op->now, op->window, op->keep);
    rc = op->decide(s, op, &changed, retry_after, email, log);
    if (s->count == 0) {
        /* Nothing left that counts: no file, so that strangers' addresses leave nothing. */
        if (unlink_state(cache_dir, name, op, log) != 0)
            rc = EXTID_THROTTLE_ERROR;
        goto out;
    }
    if (!changed)
        goto out;
    if (cached != EXTID_CACHE_HIT) {
        /* A new address: only if its bucket has room (a failure to look is not a full bucket). */
        enum extid_throttle room = bucket_room(cache_dir, key, name, op, email, log);
        if (room != EXTID_THROTTLE_GO) {
            rc = room;
            goto out;
        }
    }
    out_text = format_sends(s);
    if (!out_text
        || extid_cache_write(cache_dir, name, out_text, strlen(out_text), log) != EXTID_OK) {
        extid_log(log, LOG_ERR, "%s: cannot record the state for %s", op->what, email);
        rc = EXTID_THROTTLE_ERROR;
    }
out:
    free(out_text);
    free(text);
    free(s);
    if (lock_fd >= 0)
        close(lock_fd); /* releases the lock */
    return rc;
}

static enum extid_throttle decide_send(struct sends *s, const struct state_op *op, bool *changed,
                                       long *retry_after, const char *email,
                                       const struct extid_log *log)
{
    long gap = (long)op->arg;

    if (s->count > 0 && s->at[s->count - 1] > (long long)op->now - gap) {
        *retry_after = (long)(s->at[s->count - 1] + gap - op->now);
        extid_log(log, LOG_NOTICE, "send throttle: a code went to %s %lld s ago; next in %ld s",
                  email, (long long)op->now - s->at[s->count - 1], *retry_after);
        return EXTID_THROTTLE_REFUSED;
    }
    if (s->count >= op->keep) {
        *retry_after = (long)(s->at[0] + op->window - op->now);
        extid_log(log, LOG_NOTICE, "send throttle: %d codes went to %s in %ld s; next in %ld s",
                  s->count, email, op->window, *retry_after);
        return EXTID_THROTTLE_REFUSED;
    }
    s->at[s->count++] = (long long)op->now;
    *changed = true;
    return EXTID_THROTTLE_GO;
}

enum extid_throttle extid_throttle_take(const char *cache_dir, const char *email,
                                        const struct extid_throttle_policy *policy, time_t now,
                                        long *retry_after, const struct extid_log *log)
{
    struct state_op op = { "sends", "send throttle", policy->window, policy->limit,
                           now,     decide_send,     policy->gap };

    *retry_after = 0;
    if (policy->limit <= 0)
        return EXTID_THROTTLE_GO;
    return with_state(cache_dir, email, &op, retry_after, log);
}

/* Takes back the newest event recorded at op->arg (counted in advance, and it did not happen:
 * a send that failed, a secret that never got Entra's verdict). */
static enum extid_throttle decide_give_back(struct sends *s, const struct state_op *op,
                                            bool *changed, long *retry_after, const char *email,
                                            const struct extid_log *log)
{
    (void)retry_after;
    for (int i = s->count - 1; i >= 0; i--) {
        if (s->at[i] != op->arg)
            continue;
        memmove(&s->at[i], &s->at[i + 1], (size_t)(s->count - i - 1) * sizeof s->at[0]);
        s->count--;
        *changed = true;
        extid_debug(log, "%s: the count taken in advance for %s is given back", op->what, email);
        break;
    }
    return EXTID_THROTTLE_GO;
}

enum extid_throttle extid_throttle_give_back(const char *cache_dir, const char *email,
                                             const struct extid_throttle_policy *policy,
                                             time_t taken_at, time_t now,
                                             const struct extid_log *log)
{
    struct state_op op = { "sends", "send throttle",  policy->window,     policy->limit,
                           now,     decide_give_back, (long long)taken_at };
    long unused;

    if (policy->limit <= 0)
        return EXTID_THROTTLE_GO;
    return with_state(cache_dir, email, &op, &unused, log);
}

static enum extid_throttle decide_fail_check(struct sends *s, const struct state_op *op,
                                             bool *changed, long *retry_after, const char *email,
                                             const struct extid_log *log)
{
    (void)changed;
    if (s->count < op->keep)
        return EXTID_THROTTLE_GO;
    *retry_after = (long)(s->at[0] + op->window - op->now);
    extid_log(log, LOG_NOTICE,
              "failure budget: %d wrong codes or passwords for %s in %ld s; "
              "next login in %ld s",
              s->count, email, op->window, *retry_after);
    return EXTID_THROTTLE_REFUSED;
}

/* Counts one failure in advance, unless the budget is spent (then nothing is recorded). */
static enum extid_throttle decide_fail_reserve(struct sends *s, const struct state_op *op,
                                               bool *changed, long *retry_after, const char *email,
                                               const struct extid_log *log)
{
    if (s->count >= op->keep)
        return decide_fail_check(s, op, changed, retry_after, email, log);
    s->at[s->count++] = (long long)op->now;
    *changed = true;
    extid_debug(log, "failure budget: %d of %d taken for %s", s->count, op->keep, email);
    return EXTID_THROTTLE_GO;
}

enum extid_throttle extid_fails_check(const char *cache_dir, const char *email, int limit,
                                      long window, time_t now, long *retry_after,
                                      const struct extid_log *log)
{
    struct state_op op = { "fails", "failure budget", window, limit, now, decide_fail_check, 0 };

    *retry_after = 0;
    if (limit <= 0)
        return EXTID_THROTTLE_GO;
    return with_state(cache_dir, email, &op, retry_after, log);
}

enum extid_throttle extid_fails_reserve(const char *cache_dir, const char *email, int limit,
                                        long window, time_t now, long *retry_after,
                                        const struct extid_log *log)
{
    struct state_op op = { "fails", "failure budget", window, limit, now, decide_fail_reserve, 0 };

    *retry_after = 0;
    if (limit <= 0)
        return EXTID_THROTTLE_GO;
    return with_state(cache_dir, email, &op, retry_after, log);
}

enum extid_throttle extid_fails_give_back(const char *cache_dir, const char *email, int limit,
                                          long window, time_t taken_at, time_t now,
                                          const struct extid_log *log)
{
    struct state_op op = { "fails",          "failure budget",   window, limit, now,
                           decide_give_back, (long long)taken_at };
    long unused;

    if (limit <= 0)
        return EXTID_THROTTLE_GO;
    return with_state(cache_dir, email, &op, &unused, log);
}

/* Drops every event of the kind: the state file goes, under the address's lock. */
static enum extid_throttle clear_kind(const char *cache_dir, const char *kind, const char *email,
                                      const struct extid_log *log)
{
    char key[EXTID_CACHE_KEY_LEN], name[NAME_LEN], path[4096];
    enum extid_throttle rc = EXTID_THROTTLE_GO;
    int lock_fd;

    if (!state_name(kind, email, key, name))
        return EXTID_THROTTLE_ERROR;
    switch (extid_cache_dir_check(cache_dir, log)) {
    case EXTID_OK: break;
    case EXTID_CONFIG_ERR: return EXTID_THROTTLE_UNSAFE;
    default: return EXTID_THROTTLE_ERROR;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s", cache_dir, name) >= sizeof path)
        return EXTID_THROTTLE_ERROR;
    lock_fd = take_lock(cache_dir, key, email, log);
    if (lock_fd < 0)
        return EXTID_THROTTLE_ERROR;
    if (unlink(path) != 0 && errno != ENOENT) {
        extid_log(log, LOG_ERR, "address state: cannot remove %s: %s", path, EXTID_STRERROR(errno));
        rc = EXTID_THROTTLE_ERROR;
    }
    close(lock_fd);
    return rc;
}

enum extid_throttle extid_fails_clear(const char *cache_dir, const char *email,
                                      const struct extid_log *log)
{
    return clear_kind(cache_dir, "fails", email, log);
}

enum extid_throttle extid_address_reset(const char *cache_dir, const char *email,
                                        const struct extid_log *log)
{
    enum extid_throttle rc = clear_kind(cache_dir, "sends", email, log);

    if (rc == EXTID_THROTTLE_GO)
        rc = clear_kind(cache_dir, "fails", email, log);
    return rc;
}
