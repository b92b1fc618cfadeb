/* Outcome of every core operation; pam_extid.c maps it to a PAM code in one place. */
#ifndef EXTID_RESULT_H
#define EXTID_RESULT_H

enum extid_result {
    EXTID_OK = 0,        /* every check passed */
    EXTID_AUTH_ERR,      /* refused: wrong email, token check failed, Entra said no */
    EXTID_MAXTRIES,      /* wrong code max_attempts times */
    EXTID_UNAVAILABLE,   /* IdP unreachable, TLS, timeout, 5xx/429, unparseable answer */
    EXTID_USER_UNKNOWN,  /* local account absent from the users file */
    EXTID_IGNORE,        /* unmapped account with unmapped=ignore */
    EXTID_CONFIG_ERR,    /* bad or unsafe configuration */
    EXTID_CONV_ERR,      /* conversation failed or the person aborted */
    EXTID_SYSTEM_ERR,    /* out of memory or another local failure */
    /* Internal signals between core layers; they never leave extid_login(). */
    EXTID_WRONG_CODE,    /* /token said invalid_oob_value, or wrong password (50126) */
    EXTID_MFA_REQUIRED,  /* /token: right first factor, a second factor is needed */
};

/* Short stable name for logs ("ok", "auth_err", ...). */
const char *extid_result_name(enum extid_result r);

#endif
