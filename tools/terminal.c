/* The terminal prompter of extid-check: prompts on a stream, answers read from a descriptor,
 * echo off for secrets. */
#include "terminal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define ANSWER_MAX 1024

/* Signals that would otherwise end or stop the program while echo is off. */
static const int stop_signals[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP };
#define NSIGNALS (sizeof stop_signals / sizeof stop_signals[0])

struct saved {
    struct sigaction actions[NSIGNALS];
    struct termios tio;
    bool tio_changed;
};

/* Does nothing on purpose: it only makes the pending read() fail with EINTR, so the terminal
 * is restored before the person's interrupt ends the question. */
static void interrupted(int sig)
{
    (void)sig;
}

static void catch_signals(struct saved *s)
{
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = interrupted;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART */
    for (i = 0; i < NSIGNALS; i++)
        sigaction(stop_signals[i], &sa, &s->actions[i]);
}

static void restore_signals(const struct saved *s)
{
    size_t i;

    for (i = 0; i < NSIGNALS; i++)
        sigaction(stop_signals[i], &s->actions[i], NULL);
}

/* One line, byte by byte, so that no stdio buffer keeps a copy of a secret. */
static enum extid_result read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;
    bool too_long = false;
    ssize_t r;
    char c;

    for (;;) {
        r = read(fd, &c, 1);
        if (r < 0)
            return EXTID_CONV_ERR; /* interrupted or unreadable */
        if (r == 0) {
            if (n == 0)
                return EXTID_CONV_ERR; /* end of input: nobody to answer */
            break;
        }
        if (c == '\n')
            break;
        if (n + 1 >= size)
            too_long = true;
        else
            buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return too_long ? EXTID_CONV_ERR : EXTID_OK;
}

enum extid_result extid_terminal_ask(void *ctx, bool echo, const char *prompt, char **answer)
{
    struct extid_terminal *t = ctx;
    struct saved saved;
    struct termios quiet;
    char buf[ANSWER_MAX];
    enum extid_result rc = EXTID_CONV_ERR;

    if (!t || !t->out || !prompt || !answer)
        return EXTID_CONV_ERR;
    *answer = NULL;
    if (echo && t->auto_email) {
        /* The address is the first thing a login asks with echo on; later questions (the
         * choice of a second factor) are the person's. */
        fprintf(t->out, "%s%s\n", prompt, t->auto_email);
        fflush(t->out);
        *answer = strdup(t->auto_email);
        t->auto_email = NULL;
        return *answer ? EXTID_OK : EXTID_CONV_ERR;
    }
    memset(&saved, 0, sizeof saved);
    buf[0] = '\0';
    catch_signals(&saved);
    /* Echo goes off before the prompt appears, so a fast typist's answer is never shown. */
    if (!echo && isatty(t->in)) {
        if (tcgetattr(t->in, &saved.tio) != 0)
            goto out;
        quiet = saved.tio;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
        if (tcsetattr(t->in, TCSANOW, &quiet) != 0)
            goto out;
        saved.tio_changed = true;
    }
    fputs(prompt, t->out);
    fflush(t->out);
    rc = read_line(t->in, buf, sizeof buf);
out:
    if (saved.tio_changed)
        tcsetattr(t->in, TCSANOW, &saved.tio);
    /* The Enter was not echoed (echo off, or answers not from a terminal): end the line. */
    if (saved.tio_changed || !isatty(t->in))
        fputc('\n', t->out);
    restore_signals(&saved);
    if (rc == EXTID_OK) {
        *answer = strdup(buf);
        if (!*answer)
            rc = EXTID_CONV_ERR;
    } else {
        fputs("(no answer)\n", t->out);
    }
    fflush(t->out);
    explicit_bzero(buf, sizeof buf);
    return rc;
}

void extid_terminal_show(void *ctx, bool error, const char *message)
{
    struct extid_terminal *t = ctx;

    if (!t || !t->out || !message)
        return;
    fprintf(t->out, "%s%s\n", error ? "! " : "", message);
    fflush(t->out);
}
