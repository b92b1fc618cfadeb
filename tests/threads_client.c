/* extid-threads-client: host-process safety check. Runs pam_authenticate for several identities
 * at once, one thread each with its own PAM handle, in a single process, and each thread ROUNDS
 * times in a row; then checks that the module left the process's signal dispositions and signal
 * mask as it found them. SIGPIPE keeps its default action, so a module that let it through would
 * kill the process.
 *
 *   extid-threads-client --confdir DIR --service NAME --outbox DIR [--rounds N] [--same-handle]
 *                        USER EMAIL...
 *
 * Each EMAIL gets a thread that answers the echo-on prompt with it and the echo-off prompt with
 * the code the mock tenant "emailed", read from OUTBOX/<email in lower case>. With --same-handle
 * the rounds of a thread reuse one PAM handle, as sudo does when it asks again.
 *
 * Output, one line per login then a summary:
 *     LOGIN <thread> <round> <email> <pam code>
 *     SIGMASK changed in thread <n>           (a login left its thread's mask changed)
 *     SIGNALS unchanged | SIGNALS changed <signal numbers>
 * Exit status: 0 when every thread finished and signals are unchanged (whatever the PAM codes),
 * 1 on a failure of the client itself, 2 on usage errors, 3 when signals or masks changed. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 256
#define MAX_ROUNDS 16

struct job {
    int index;
    const char *email;
    const char *confdir;
    const char *service;
    const char *outbox;
    const char *user;
    int rounds;
    int same_handle;
    int rc[MAX_ROUNDS];
    int mask_changed; /* the thread's signal mask differed after a login */
};

static char *dup_secret_line(const char *path)
{
    char buf[128];
    FILE *f = fopen(path, "re");
    char *out = NULL;
    size_t n;

    if (!f)
        return NULL;
    if (fgets(buf, sizeof buf, f)) {
        n = strcspn(buf, "\r\n");
        buf[n] = '\0';
        out = strdup(buf);
    }
    fclose(f);
    explicit_bzero(buf, sizeof buf);
    return out;
}

/* The latest code the mock sent to the job's address. */
static char *read_code(const struct job *j)
{
    char path[4096], lower[320];
    size_t i;

    for (i = 0; i < sizeof lower - 1 && j->email[i]; i++)
        lower[i] = (char)tolower((unsigned char)j->email[i]);
    lower[i] = '\0';
    if (snprintf(path, sizeof path, "%s/%s", j->outbox, lower) >= (int)sizeof path)
        return NULL;
    return dup_secret_line(path);
}

static void free_responses(struct pam_response *r, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (r[i].resp) {
            explicit_bzero(r[i].resp, strlen(r[i].resp));
            free(r[i].resp);
        }
    }
    free(r);
}

static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    const struct job *j = data;
    struct pam_response *out;
    int i;

    if (n <= 0 || n > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    out = calloc((size_t)n, sizeof *out);
    if (!out)
        return PAM_BUF_ERR;
    for (i = 0; i < n; i++) {
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_ON: out[i].resp = strdup(j->email); break;
        case PAM_PROMPT_ECHO_OFF: out[i].resp = read_code(j); break;
        case PAM_TEXT_INFO:
        case PAM_ERROR_MSG: continue;
        default: break;
        }
        if (!out[i].resp) {
            free_responses(out, n);
            return PAM_CONV_ERR;
        }
    }
    *resp = out;
    return PAM_SUCCESS;
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    struct pam_conv conv = { converse, j };
    pam_handle_t *pamh = NULL;
    sigset_t mask_before, mask_after;
    int r, rc, sig;

    for (r = 0; r < j->rounds; r++) {
        pthread_sigmask(SIG_SETMASK, NULL, &mask_before);
        if (!pamh) {
            rc = pam_start_confdir(j->service, j->user, &conv, j->confdir, &pamh);
            if (rc != PAM_SUCCESS) {
                j->rc[r] = rc;
                pamh = NULL;
                continue;
            }
        }
        rc = pam_authenticate(pamh, 0);
        j->rc[r] = rc;
        printf("LOGIN %d %d %s %d\n", j->index, r, j->email, rc);
        fflush(stdout);
        if (!j->same_handle || r == j->rounds - 1) {
            pam_end(pamh, rc);
            pamh = NULL;
        }
        pthread_sigmask(SIG_SETMASK, NULL, &mask_after);
        for (sig = 1; sig < NSIG; sig++)
            if (sigismember(&mask_before, sig) != sigismember(&mask_after, sig))
                j->mask_changed = 1;
    }
    return NULL;
}

struct signal_state {
    struct sigaction act[NSIG];
    sigset_t mask;
};

static void snapshot(struct signal_state *s)
{
    int sig;

    memset(s, 0, sizeof *s);
    for (sig = 1; sig < NSIG; sig++)
        sigaction(sig, NULL, &s->act[sig]);
    pthread_sigmask(SIG_SETMASK, NULL, &s->mask);
}

/* Prints the signals whose handler, flags or blocked state differ; returns how many. */
static int compare(const struct signal_state *a, const struct signal_state *b)
{
    int sig, changed = 0;

    for (sig = 1; sig < NSIG; sig++) {
        const struct sigaction *x = &a->act[sig], *y = &b->act[sig];
        int differs = x->sa_handler != y->sa_handler || x->sa_flags != y->sa_flags
            || sigismember(&a->mask, sig) != sigismember(&b->mask, sig);
        if (differs) {
            printf("%s %d", changed ? "" : "SIGNALS changed", sig);
            changed++;
        }
    }
    fputs(changed ? "\n" : "SIGNALS unchanged\n", stdout);
    return changed;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: extid-threads-client --confdir DIR --service NAME --outbox DIR "
            "[--rounds N] [--same-handle] USER EMAIL...\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "confdir", required_argument, NULL, 'c' }, { "service", required_argument, NULL, 's' },
        { "outbox", required_argument, NULL, 'o' },  { "rounds", required_argument, NULL, 'n' },
        { "same-handle", no_argument, NULL, 'h' },   { NULL, 0, NULL, 0 }
    };
    static struct job jobs[MAX_THREADS];
    static struct signal_state before, after;
    pthread_t tids[MAX_THREADS];
    const char *confdir = NULL, *service = NULL, *outbox = NULL;
    int rounds = 1, same_handle = 0, opt, i, nthreads, failed = 0;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': confdir = optarg; break;
        case 's': service = optarg; break;
        case 'o': outbox = optarg; break;
        case 'n': rounds = atoi(optarg); break;
        case 'h': same_handle = 1; break;
        default: usage(); return 2;
        }
    }
    nthreads = argc - optind - 1;
    if (!confdir || !service || !outbox || nthreads < 1 || nthreads > MAX_THREADS || rounds < 1
        || rounds > MAX_ROUNDS) {
        usage();
        return 2;
    }
    /* The default action, so that a SIGPIPE the module lets through ends the process. */
    signal(SIGPIPE, SIG_DFL);
    snapshot(&before);

    for (i = 0; i < nthreads; i++) {
        jobs[i] = (struct job){ .index = i,
                                .email = argv[optind + 1 + i],
                                .confdir = confdir,
                                .service = service,
                                .outbox = outbox,
                                .user = argv[optind],
                                .rounds = rounds,
                                .same_handle = same_handle };
        errno = pthread_create(&tids[i], NULL, run_job, &jobs[i]);
        if (errno) {
            perror("pthread_create");
            nthreads = i;
            failed = 1;
            break;
        }
    }
    for (i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);

    for (i = 0; i < nthreads; i++) {
        if (jobs[i].mask_changed) {
            printf("SIGMASK changed in thread %d\n", i);
            failed = 3;
        }
    }
    snapshot(&after);
    if (compare(&before, &after))
        failed = 3;
    return failed;
}
