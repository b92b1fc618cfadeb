/* The transport table filled with the real calls: an HTTPS session and Entra's native-auth
 * requests, discovery and key set. */
#include "transport.h"

#include <stdlib.h>

#include "entra_app.h"
#include "http.h"

/* One login's session: the app it speaks for and the HTTPS connection it speaks over. The app
 * comes first, so that the session is handed to the calls as the app. */
struct entra_session {
    struct extid_app app;
    struct extid_http http;
};

static enum extid_result entra_open(void *ctx, const struct extid_config *cfg,
                                    const struct extid_log *log, void **session)
{
    struct entra_session *s = calloc(1, sizeof *s);
    struct extid_http_settings settings = extid_http_settings_of(cfg);
    enum extid_result rc;

    (void)ctx;
    *session = NULL;
    if (!s) {
        extid_log(log, LOG_ERR, "http: out of memory");
        return EXTID_SYSTEM_ERR;
    }
    rc = extid_http_open(&s->http, &settings, log);
    if (rc != EXTID_OK) {
        free(s);
        return rc;
    }
    s->app = extid_app_of(cfg, &s->http);
    *session = s;
    return EXTID_OK;
}

static void entra_prepare_initiate(void *session)
{
    extid_na_prepare_initiate(session);
}

static enum extid_result entra_initiate(void *session, const char *email, char **continuation)
{
    return extid_na_initiate(session, email, continuation);
}

static enum extid_result entra_challenge(void *session, const char *continuation,
                                         struct extid_challenge *out)
{
    return extid_na_challenge(session, continuation, out);
}

static enum extid_result entra_token(void *session, enum extid_grant grant,
                                     const char *continuation, const char *secret, char **id_token,
                                     char **next, bool *wrong_secret)
{
    return extid_na_grant(session, grant, continuation, secret, id_token, next, wrong_secret);
}

static enum extid_result entra_introspect(void *session, const char *continuation,
                                          struct extid_mfa_methods *out)
{
    return extid_na_introspect(session, continuation, out);
}

static enum extid_result entra_challenge_method(void *session, const char *continuation,
                                                const char *method_id, struct extid_challenge *out)
{
    return extid_na_challenge_method(session, continuation, method_id, out);
}

static enum extid_result entra_signing_info(void *session, bool force_refresh,
                                            struct extid_signing_info *out)
{
    return extid_signing_info_get(session, force_refresh, out);
}

static enum extid_result entra_app_signing_info(void *session, bool force_refresh,
                                                struct extid_signing_info *out)
{
    return extid_app_signing_info_get(session, force_refresh, out);
}

static void entra_close(void *session)
{
    struct entra_session *s = session;

    if (!s)
        return;
    extid_http_close(&s->http);
    free(s);
}

static const struct extid_transport entra = {
    .open = entra_open,
    .prepare_initiate = entra_prepare_initiate,
    .initiate = entra_initiate,
    .challenge = entra_challenge,
    .token = entra_token,
    .introspect = entra_introspect,
    .challenge_method = entra_challenge_method,
    .signing_info = entra_signing_info,
    .app_signing_info = entra_app_signing_info,
    .close = entra_close,
};

const struct extid_transport *extid_transport_entra(void)
{
    return &entra;
}
