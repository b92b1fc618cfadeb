/* bench-client: PAM logins through real libpam (pam_start_confdir), measured from inside the
 * process that would host the module (sshd, sudo, login).
 *
 * The conversation stands in for the person: an echo-on prompt gets --email, a password prompt
 * gets --password, another echo-off prompt gets the code the mock tenant sent (by email or text
 * message), read from OUTBOX/<email in lower case> (or --code, to type a wrong one). The time spent in the conversation (including --code-delay-ms, a person
 * reading their mail) is reported apart, so wall time is what the person waits for.
 *
 * One JSON line per login on stdout:
 *   {"rc":0,"wall_us":..,"conv_us":..,"before_code_us":..,"after_code_us":..,"user_us":..,
 *    "sys_us":..,"child_user_us":..,"child_sys_us":..,"maxrss_kb":..,"child_maxrss_kb":..,
 *    "anon_kb_at_code":..,"waits_us":[..]}
 * before_code_us is what the person waits for until the code prompt, counted from their typed
 * address (--email-delay-ms stands for the typing) or else from pam_start; after_code_us from
 * their typed code until pam_authenticate returns; waits_us, after each answer (address,
 * password, code) until the next prompt or the end.
 * CPU and wall time cover pam_start..pam_end (module loading included, as in a fresh sshd
 * child); child_* are the processes the stack ran and waited for (pam_exec). maxrss_kb is this
 * process's VmHWM: ru_maxrss would not do, because Linux carries it over execve, so it would
 * report the peak of whatever process spawned us. Exit status: the last login's PAM code. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define CODE_MAX 128
#define WAITS_MAX 8

struct bench {
    const char *email;
    const char *outbox;
    const char *code;     /* --code: typed instead of the emailed one (a wrong code) */
    const char *password; /* --password: the answer to a password prompt */
    long code_delay_ms;
    long email_delay_ms;
    int verbose;
    long long conv_us;          /* time spent answering, this login */
    long anon_kb;               /* private memory (RssAnon) when the code was asked for */
    long long t_email;          /* an address was answered (-1: never asked) */
    long long t_code_prompt;    /* the first code prompt came */
    long long t_code;           /* the last code was answered */
    long long t_answer;         /* the last answer of any kind went back (-1: none yet) */
    long long waits[WAITS_MAX]; /* after each answer, until the next prompt or the end */
    int nwaits;
};

/* What the person waits for after an answer: until the module's next question, or the end. */
static void waited(struct bench *b, long long now)
{
    if (b->t_answer >= 0 && b->nwaits < WAITS_MAX)
        b->waits[b->nwaits++] = now - b->t_answer;
    b->t_answer = -1;
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static long long tv_us(const struct timeval *tv)
{
    return (long long)tv->tv_sec * 1000000LL + tv->tv_usec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The latest code the mock sent to b->email; the mock writes it before it answers /challenge,
 * so it is always the current one when the prompt comes. */
static char *read_code(const struct bench *b)
{
    char path[4096], buf[CODE_MAX];
    size_t n, i;
    FILE *f;
    int len = snprintf(path, sizeof path, "%s/", b->outbox);

    if (len < 0 || (size_t)len >= sizeof path)
        return NULL;
    for (i = 0; b->email[i] && (size_t)len + 1 < sizeof path; i++)
        path[len++] = (char)tolower((unsigned char)b->email[i]);
    path[len] = '\0';
    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench-client: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return strdup(buf);
}

/* A "Name: N kB" field of /proc/self/status, or -1. */
static long status_kb(const char *field)
{
    char line[256], name[64];
    long kb = -1, v;
    FILE *f = fopen("/proc/self/status", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%63[^:]: %ld kB", name, &v) == 2 && strcmp(name, field) == 0) {
            kb = v;
            break;
        }
    fclose(f);
    return kb;
}

/* Peak resident set of this process image (kB), or ru_maxrss if /proc cannot tell. */
static long peak_rss_kb(const struct rusage *ru)
{
    long kb = status_kb("VmHWM");
    return kb >= 0 ? kb : ru->ru_maxrss;
}

static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    struct bench *b = data;
    long long start = now_us();
    struct pam_response *out = calloc((size_t)n, sizeof *out);
    int i, rc = PAM_CONV_ERR, asked_email = 0, asked_code = 0;

    if (!out)
        return PAM_BUF_ERR;
    waited(b, start);
    for (i = 0; i < n; i++) {
        const char *text = msg[i]->msg ? msg[i]->msg : "";
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_ON:
            if (b->email_delay_ms > 0)
                sleep_ms(b->email_delay_ms);
            out[i].resp = strdup(b->email);
            asked_email = 1;
            break;
        case PAM_PROMPT_ECHO_OFF:
            if (b->password && strncmp(text, "Password for ", 13) == 0) {
                out[i].resp = strdup(b->password);
                break;
            }
            if (b->t_code_prompt < 0)
                b->t_code_prompt = start;
            asked_code = 1;
            b->anon_kb = status_kb("RssAnon");
            if (b->code_delay_ms > 0)
                sleep_ms(b->code_delay_ms);
            out[i].resp = b->code ? strdup(b->code) : read_code(b);
            break;
        case PAM_TEXT_INFO:
        case PAM_ERROR_MSG:
            if (b->verbose)
                fprintf(stderr, "bench-client: %s: %s\n",
                        msg[i]->msg_style == PAM_TEXT_INFO ? "info" : "error", text);
            continue;
        default: goto out;
        }
        if (b->verbose)
            fprintf(stderr, "bench-client: prompt: %s\n", text);
        if (!out[i].resp)
            goto out;
    }
    *resp = out;
    out = NULL;
    rc = PAM_SUCCESS;
    if (asked_email)
        b->t_email = now_us();
    if (asked_code)
        b->t_code = now_us();
    b->t_answer = now_us();
out:
    if (out) {
        for (i = 0; i < n; i++) {
            if (out[i].resp) {
                memset(out[i].resp, 0, strlen(out[i].resp));
                free(out[i].resp);
            }
        }
        free(out);
    }
    b->conv_us += now_us() - start;
    return rc;
}

static int login(struct bench *b, const char *service, const char *user, const char *confdir)
{
    struct pam_conv conv = { converse, b };
    struct rusage self0, self1, kids0, kids1;
    pam_handle_t *pamh = NULL;
    long long t0, t1, t_auth;
    int rc;

    b->conv_us = 0;
    b->anon_kb = -1;
    b->t_email = b->t_code_prompt = b->t_code = b->t_answer = -1;
    b->nwaits = 0;
    getrusage(RUSAGE_SELF, &self0);
    getrusage(RUSAGE_CHILDREN, &kids0);
    t0 = now_us();
    rc = pam_start_confdir(service, user, &conv, confdir, &pamh);
    if (rc == PAM_SUCCESS)
        rc = pam_authenticate(pamh, 0);
    t_auth = now_us();
    waited(b, t_auth);
    if (pamh)
        pam_end(pamh, rc);
    t1 = now_us();
    getrusage(RUSAGE_SELF, &self1);
    getrusage(RUSAGE_CHILDREN, &kids1);
    printf("{\"rc\":%d,\"wall_us\":%lld,\"conv_us\":%lld,\"before_code_us\":%lld,"
           "\"after_code_us\":%lld,\"user_us\":%lld,\"sys_us\":%lld,"
           "\"child_user_us\":%lld,\"child_sys_us\":%lld,\"maxrss_kb\":%ld,"
           "\"child_maxrss_kb\":%ld,\"anon_kb_at_code\":%ld,\"waits_us\":[",
           rc, t1 - t0 - b->conv_us, b->conv_us,
           b->t_code_prompt < 0 ? -1 : b->t_code_prompt - (b->t_email >= 0 ? b->t_email : t0),
           b->t_code < 0 ? -1 : t_auth - b->t_code, tv_us(&self1.ru_utime) - tv_us(&self0.ru_utime),
           tv_us(&self1.ru_stime) - tv_us(&self0.ru_stime),
           tv_us(&kids1.ru_utime) - tv_us(&kids0.ru_utime),
           tv_us(&kids1.ru_stime) - tv_us(&kids0.ru_stime), peak_rss_kb(&self1), kids1.ru_maxrss,
           b->anon_kb);
    for (int w = 0; w < b->nwaits; w++)
        printf("%s%lld", w ? "," : "", b->waits[w]);
    printf("]}\n");
    fflush(stdout);
    return rc;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench-client --confdir DIR --service NAME --outbox DIR --email ADDR "
            "[--email-delay-ms N] [--code-delay-ms N] [--code CODE] [--password PW] "
            "[--logins N] [--verbose] USER\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = { { "confdir", required_argument, NULL, 'c' },
                                          { "service", required_argument, NULL, 's' },
                                          { "outbox", required_argument, NULL, 'o' },
                                          { "email", required_argument, NULL, 'e' },
                                          { "code-delay-ms", required_argument, NULL, 'd' },
                                          { "logins", required_argument, NULL, 'n' },
                                          { "verbose", no_argument, NULL, 'v' },
                                          { "code", required_argument, NULL, 'k' },
                                          { "email-delay-ms", required_argument, NULL, 't' },
                                          { "password", required_argument, NULL, 'p' },
                                          { NULL, 0, NULL, 0 } };
    struct bench b = { 0 };
    const char *confdir = NULL, *service = NULL;
    long logins = 1, i;
    int opt, rc = PAM_SYSTEM_ERR;

    while ((opt = getopt_long(argc, argv, "c:s:o:e:d:n:vk:t:p:", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': confdir = optarg; break;
        case 's': service = optarg; break;
        case 'o': b.outbox = optarg; break;
        case 'e': b.email = optarg; break;
        case 'd': b.code_delay_ms = strtol(optarg, NULL, 10); break;
        case 'n': logins = strtol(optarg, NULL, 10); break;
        case 'v': b.verbose = 1; break;
        case 'k': b.code = optarg; break;
        case 't': b.email_delay_ms = strtol(optarg, NULL, 10); break;
        case 'p': b.password = optarg; break;
        default: usage(); return 2;
        }
    }
    if (optind != argc - 1 || !confdir || !service || !b.outbox || !b.email || logins < 1
        || b.code_delay_ms < 0 || b.email_delay_ms < 0) {
        usage();
        return 2;
    }
    for (i = 0; i < logins; i++)
        rc = login(&b, service, argv[optind], confdir);
    return rc;
}
