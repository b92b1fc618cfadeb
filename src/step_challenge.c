/* Entra starts the sign-in for the address (initiate) and says what it wants (challenge): a code
 * it sends, or the account's password. The code is counted by the throttle only once it may have
 * gone out. */
#include "login_state.h"

enum extid_result login_step_initiate(struct login *l)
{
    enum extid_result rc = l->transport->initiate(l->session, l->email, &l->continuation);

    if (rc != EXTID_OK)
        login_send_done(l, false); /* /initiate sends no code */
    return rc;
}

/* A code goes out (the code step follows), or Entra asks for the password (the password step). */
enum extid_result login_step_challenge(struct login *l)
{
    enum extid_result rc = l->transport->challenge(l->session, l->continuation, &l->challenge);

    if (rc != EXTID_OK) {
        /* Only a code Entra may have sent counts: not one it refused to send. */
        login_send_done(l, rc == EXTID_UNAVAILABLE);
        return rc;
    }
    if (l->challenge.kind == EXTID_CHALLENGE_PASSWORD
        && !(l->cfg->methods & EXTID_METHOD_PASSWORD)) {
        /* Entra asks for a password only of a client that offered it; refuse all the same. */
        extid_log(l->log, LOG_WARNING,
                  "challenge: the account signs in with a password, which "
                  "methods does not offer, refused");
        return EXTID_AUTH_ERR;
    }
    if (l->challenge.kind == EXTID_CHALLENGE_PASSWORD) {
        l->skip |= LOGIN_SKIP(LOGIN_CODE);
    } else {
        login_send_done(l, true);
        l->skip |= LOGIN_SKIP(LOGIN_PASSWORD);
    }
    return EXTID_OK;
}
