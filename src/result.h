/* The outcomes of a login, which the core's operations also report in the login's terms;
 * pam_extid.c maps them to PAM codes in one place. Layers with outcomes of their own say so in
 * their own terms (cache.h, throttle.h) or beside the result (a wrong code or password, a second
 * factor to come, a kid the key set lacks), and their callers decide what each means for the
 * login. */
#ifndef EXTID_RESULT_H
#define EXTID_RESULT_H

enum extid_result {
    EXTID_OK = 0,       /* every check passed */
    EXTID_AUTH_ERR,     /* refused: wrong email, token check failed, Entra said no */
    EXTID_MAXTRIES,     /* wrong code max_attempts times */
    EXTID_UNAVAILABLE,  /* IdP unreachable, TLS, timeout, 5xx/429, unparseable answer */
    EXTID_USER_UNKNOWN, /* local account absent from the users file */
    EXTID_IGNORE,       /* unmapped account with unmapped=ignore */
    EXTID_CONFIG_ERR,   /* bad or unsafe configuration */
    EXTID_CONV_ERR,     /* conversation failed or the person aborted */
    EXTID_SYSTEM_ERR,   /* out of memory or another local failure */
};

/* Short stable name for logs ("ok", "auth_err", ...). */
const char *extid_result_name(enum extid_result r);

#endif
