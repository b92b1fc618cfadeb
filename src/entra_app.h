/* The Entra app a login speaks for, and the HTTPS session it speaks over: what the native-auth
 * calls and discovery need, handed to them explicitly. The session itself knows only how to
 * reach and trust the server (http.h). */
#ifndef EXTID_ENTRA_APP_H
#define EXTID_ENTRA_APP_H

#include <stdbool.h>
#include "config.h"
#include "http.h"

struct extid_app {
    struct extid_http *http; /* the session the requests go over */
    const char *authority;   /* https:// base URL, no trailing slash */
    const char *client_id;
    unsigned methods;      /* EXTID_METHOD_*: the challenge types offered */
    bool email_scope;      /* ask for the email claim too (identity_claim = email) */
    const char *cache_dir; /* discovery and key cache; NULL: none */
    long jwks_ttl;         /* seconds a cached key set is trusted */
};

/* The app as cfg describes it, over http. The strings stay cfg's. */
struct extid_app extid_app_of(const struct extid_config *cfg, struct extid_http *http);

/* What of cfg the HTTPS session uses: ca_file, proxy, timeout. */
struct extid_http_settings extid_http_settings_of(const struct extid_config *cfg);

#endif
