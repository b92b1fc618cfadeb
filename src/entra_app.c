/* The Entra app's description for the native-auth calls and discovery, and the HTTPS session's
 * settings, taken from the configuration. */
#include "entra_app.h"

#include <string.h>

struct extid_app extid_app_of(const struct extid_config *cfg, struct extid_http *http)
{
    struct extid_app a = { .http = http };

    if (!cfg)
        return a;
    a.authority = cfg->authority;
    a.client_id = cfg->client_id;
    a.methods = cfg->methods;
    a.email_scope = cfg->identity_claim && strcmp(cfg->identity_claim, "email") == 0;
    a.cache_dir = cfg->cache_dir;
    a.jwks_ttl = cfg->jwks_ttl;
    return a;
}

struct extid_http_settings extid_http_settings_of(const struct extid_config *cfg)
{
    struct extid_http_settings s = { 0 };

    if (cfg) {
        s.ca_file = cfg->ca_file;
        s.proxy = cfg->proxy;
        s.timeout = cfg->timeout;
    }
    return s;
}
