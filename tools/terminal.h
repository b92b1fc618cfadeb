/* A prompter (login.h) for a person at a terminal: extid-check --login. */
#ifndef EXTID_TERMINAL_H
#define EXTID_TERMINAL_H

#include <stdbool.h>
#include <stdio.h>
#include "result.h"

struct extid_terminal {
    int in;                 /* file descriptor answers are read from */
    FILE *out;              /* where prompts and messages go */
    const char *auto_email; /* answer to the first echo-on prompt (the address), given on the
                              * command line, or NULL; cleared once used */
};

/* struct extid_prompter callbacks; ctx is a struct extid_terminal. Echo is turned off for
 * secrets when `in` is a terminal. An interrupt (Ctrl-C), end of input or an answer longer than
 * 1023 bytes gives EXTID_CONV_ERR, with the terminal restored. */
enum extid_result extid_terminal_ask(void *ctx, bool echo, const char *prompt, char **answer);
void extid_terminal_show(void *ctx, bool error, const char *message);

#endif
