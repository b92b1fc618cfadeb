/* extid-pamclient: runs one PAM transaction through real libpam with a private service
 * directory (pam_start_confdir), so tests and the demo never touch /etc/pam.d.
 *
 * --script: a line protocol for test drivers on stdin/stdout:
 *     PROMPT_ECHO_ON <text> / PROMPT_ECHO_OFF <text>   → the driver writes one answer line
 *     INFO <text> / ERROR <text>
 *     ENV <NAME=value>                                  (EXTID_ variables of the PAM environment)
 *     RESULT <code> <pam_strerror text>                 (last line; exit status = code)
 * Without --script it asks on the terminal (echo off for secrets), as a login program would. */
#include <getopt.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

struct client {
    int script;
};

static char *read_line(int echo, int script)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    struct termios saved, quiet;
    int hide = !echo && !script && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;

    if (hide) {
        quiet = saved;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    n = getline(&line, &cap, stdin);
    if (hide) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n')
        line[n - 1] = '\0';
    return line;
}

static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    struct client *c = data;
    struct pam_response *out = calloc((size_t)n, sizeof *out);
    int i;

    if (!out)
        return PAM_BUF_ERR;
    for (i = 0; i < n; i++) {
        int style = msg[i]->msg_style;
        const char *text = msg[i]->msg ? msg[i]->msg : "";
        if (style == PAM_PROMPT_ECHO_ON || style == PAM_PROMPT_ECHO_OFF) {
            if (c->script) {
                printf("%s %s\n",
                       style == PAM_PROMPT_ECHO_ON ? "PROMPT_ECHO_ON" : "PROMPT_ECHO_OFF", text);
                fflush(stdout);
            } else {
                fputs(text, stderr);
                fflush(stderr);
            }
            out[i].resp = read_line(style == PAM_PROMPT_ECHO_ON, c->script);
            if (!out[i].resp)
                goto fail;
        } else if (style == PAM_TEXT_INFO || style == PAM_ERROR_MSG) {
            if (c->script) {
                printf("%s %s\n", style == PAM_TEXT_INFO ? "INFO" : "ERROR", text);
                fflush(stdout);
            } else {
                fprintf(stderr, "%s\n", text);
            }
        } else {
            goto fail;
        }
    }
    *resp = out;
    return PAM_SUCCESS;
fail:
    for (i = 0; i < n; i++) {
        if (out[i].resp) {
            memset(out[i].resp, 0, strlen(out[i].resp));
            free(out[i].resp);
        }
    }
    free(out);
    return PAM_CONV_ERR;
}

/* --script: the PAM environment's EXTID_ variables, one "ENV NAME=value" line each, whatever
 * the result (a refused login must have set none). */
static void print_env(pam_handle_t *pamh)
{
    char **env = pam_getenvlist(pamh);
    size_t i;

    for (i = 0; env && env[i]; i++) {
        if (strncmp(env[i], "EXTID_", 6) == 0)
            printf("ENV %s\n", env[i]);
        free(env[i]);
    }
    free(env);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: extid-pamclient [--confdir DIR] [--service NAME] [--rhost HOST] "
            "[--script] [--repeat N] [--silent] USER\n"
            "  USER - starts without a user: the stack asks for one\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "confdir", required_argument, NULL, 'c' }, { "service", required_argument, NULL, 's' },
        { "rhost", required_argument, NULL, 'r' },   { "script", no_argument, NULL, 'x' },
        { "repeat", required_argument, NULL, 'n' },  { "help", no_argument, NULL, 'h' },
        { "silent", no_argument, NULL, 'q' },        { NULL, 0, NULL, 0 }
    };
    struct client c = { 0 };
    struct pam_conv conv = { converse, &c };
    const char *confdir = NULL, *service = "extid-test", *rhost = NULL;
    int repeat = 1, opt, rc = PAM_SYSTEM_ERR, i, flags = 0;

    while ((opt = getopt_long(argc, argv, "c:s:r:xn:qh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': confdir = optarg; break;
        case 's': service = optarg; break;
        case 'r': rhost = optarg; break;
        case 'x': c.script = 1; break;
        case 'n': repeat = atoi(optarg); break;
        case 'q': flags |= PAM_SILENT; break;
        default: usage(); return 2;
        }
    }
    if (optind != argc - 1 || repeat < 1) {
        usage();
        return 2;
    }
    for (i = 0; i < repeat; i++) {
        pam_handle_t *pamh = NULL;
        const char *user = strcmp(argv[optind], "-") ? argv[optind] : NULL;
        rc = pam_start_confdir(service, user, &conv, confdir, &pamh);
        if (rc == PAM_SUCCESS && rhost)
            rc = pam_set_item(pamh, PAM_RHOST, rhost);
        if (rc == PAM_SUCCESS)
            rc = pam_authenticate(pamh, flags);
        if (c.script && pamh)
            print_env(pamh);
        if (c.script)
            printf("RESULT %d %s\n", rc, pam_strerror(pamh, rc));
        else
            fprintf(stderr, "PAM result: %s (%d)\n", pam_strerror(pamh, rc), rc);
        fflush(stdout);
        if (pamh)
            pam_end(pamh, rc);
    }
    return rc;
}
