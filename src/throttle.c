/* The send throttle: one state file per address (send times, one per line) under a lock bucket;
 * a refusal says how long to wait. */
#include "throttle.h"

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
#define MAX_SENDS 1000 /* the largest send_limit accepted by the config */
#define NAME_LEN 96

/* Send times of one identity, oldest first, as the state file holds them: one decimal
 * Unix time per line. */
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
        extid_log(log, LOG_ERR, "send throttle: cannot open %s: %s", path, EXTID_STRERROR(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK && waited_ms < LOCK_WAIT_MS) {
            nanosleep(&pause, NULL);
            waited_ms += LOCK_RETRY_MS;
        } else if (errno != EINTR) {
            if (errno == EWOULDBLOCK)
                extid_log(log, LOG_ERR, "send throttle: the state for %s stayed locked by "
                          "another login for %d ms (%s); refusing", email, LOCK_WAIT_MS, path);
            else
                extid_log(log, LOG_ERR, "send throttle: cannot lock %s: %s", path,
                          EXTID_STRERROR(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

enum extid_throttle extid_throttle_take(const char *cache_dir, const char *email,
                                        const struct extid_throttle_policy *policy, time_t now,
                                        long *retry_after, const struct extid_log *log)
{
    char key[EXTID_CACHE_KEY_LEN], name[NAME_LEN], lower[256];
    struct sends *sends = NULL;
    char *text = NULL, *out_text = NULL;
    size_t len = 0, i;
    int lock_fd = -1;
    enum extid_cache_read cached;
    enum extid_throttle rc = EXTID_THROTTLE_ERROR;

    *retry_after = 0;
    if (policy->limit <= 0)
        return EXTID_THROTTLE_GO;
    /* Addresses differ only in case for Entra; so must their counters. */
    for (i = 0; i < sizeof lower - 1 && email[i]; i++)
        lower[i] = extid_ascii_tolower(email[i]);
    lower[i] = '\0';
    if (extid_cache_key(lower, key) != EXTID_OK)
        return EXTID_THROTTLE_ERROR;
    snprintf(name, sizeof name, "sends-%s", key);

    switch (extid_cache_dir_check(cache_dir, log)) {
    case EXTID_OK: break;
    case EXTID_CONFIG_ERR: return EXTID_THROTTLE_UNSAFE;
    default: return EXTID_THROTTLE_ERROR;
    }
    lock_fd = take_lock(cache_dir, key, email, log);
    if (lock_fd < 0)
        goto out;
    sends = calloc(1, sizeof *sends);
    if (!sends)
        goto out;
    /* A file untouched for a whole window holds no send that still counts; one that could not
     * be read may hold sends that do, so the login stops rather than start the count afresh. */
    cached = extid_cache_read(cache_dir, name, policy->window, &text, &len, log);
    if (cached == EXTID_CACHE_ERROR) {
        extid_log(log, LOG_ERR, "send throttle: cannot read the state for %s", email);
        goto out;
    }
    if (cached == EXTID_CACHE_HIT && !parse_sends(text, sends)) {
        extid_log(log, LOG_WARNING, "send throttle: state for %s is corrupt; starting afresh",
                  email);
        sends->count = 0;
    }
    prune(sends, now, policy->window, policy->limit);

    if (sends->count > 0 && sends->at[sends->count - 1] > (long long)now - policy->gap) {
        *retry_after = (long)(sends->at[sends->count - 1] + policy->gap - now);
        extid_log(log, LOG_NOTICE, "send throttle: a code went to %s %lld s ago; next in %ld s",
                  email, (long long)now - sends->at[sends->count - 1], *retry_after);
        rc = EXTID_THROTTLE_REFUSED;
        goto out;
    }
    if (sends->count >= policy->limit) {
        *retry_after = (long)(sends->at[0] + policy->window - now);
        extid_log(log, LOG_NOTICE, "send throttle: %d codes went to %s in %ld s; next in %ld s",
                  sends->count, email, policy->window, *retry_after);
        rc = EXTID_THROTTLE_REFUSED;
        goto out;
    }
    sends->at[sends->count++] = (long long)now;
    out_text = format_sends(sends);
    if (!out_text)
        goto out;
    if (extid_cache_write(cache_dir, name, out_text, strlen(out_text), log) != EXTID_OK) {
        extid_log(log, LOG_ERR, "send throttle: cannot record a send to %s", email);
        goto out;
    }
    rc = EXTID_THROTTLE_GO;
out:
    free(out_text);
    free(text);
    free(sends);
    if (lock_fd >= 0)
        close(lock_fd); /* releases the lock */
    return rc;
}
