/* What one login needs from the identity provider, as a table of calls: the native-auth
 * requests and the token's signing keys. The login pipeline only talks to the provider through
 * this table, so that it runs against Entra over HTTPS (extid_transport_entra) in the module and
 * against a fake in the unit tests and the fuzzer. */
#ifndef EXTID_TRANSPORT_H
#define EXTID_TRANSPORT_H

#include <stdbool.h>
#include "config.h"
#include "discovery.h"
#include "log.h"
#include "nativeauth.h"
#include "result.h"

struct extid_transport {
    /* Starts one login's session; *session goes to every other call and to close. Anything but
     * EXTID_OK leaves nothing to close. */
    enum extid_result (*open)(void *ctx, const struct extid_config *cfg,
                              const struct extid_log *log, void **session);
    /* A hint that initiate comes next, while the person types the address it needs: the
     * connection may get under way, but nothing may be sent. May be NULL. */
    void (*prepare_initiate)(void *session);
    /* The native-auth calls, with the results documented in nativeauth.h. */
    enum extid_result (*initiate)(void *session, const char *email, char **continuation_token);
    enum extid_result (*challenge)(void *session, const char *continuation_token,
                                   struct extid_challenge *out);
    /* /token with a code or the password (extid_na_grant): EXTID_OK with *id_token, or *next
     * when a second factor is needed; a refused secret sets *wrong_secret. */
    enum extid_result (*token)(void *session, enum extid_grant grant,
                               const char *continuation_token, const char *secret, char **id_token,
                               char **next, bool *wrong_secret);
    /* The second factor: its methods, and a code sent by one of them (also the resend). */
    enum extid_result (*introspect)(void *session, const char *continuation_token,
                                    struct extid_mfa_methods *out);
    enum extid_result (*challenge_method)(void *session, const char *continuation_token,
                                          const char *method_id, struct extid_challenge *out);
    /* Issuer and key set to verify the ID token with (see discovery.h). */
    enum extid_result (*signing_info)(void *session, bool force_refresh,
                                      struct extid_signing_info *out);
    /* The app's own signing keys (extid_app_signing_info_get), for a token whose key the
     * tenant's set lacks even after a refresh. May be NULL. */
    enum extid_result (*app_signing_info)(void *session, bool force_refresh,
                                          struct extid_signing_info *out);
    void (*close)(void *session);
    void *ctx; /* handed to open */
};

/* Entra External ID over one HTTPS session per login (http.h, nativeauth.h, discovery.h). */
const struct extid_transport *extid_transport_entra(void);

#endif
