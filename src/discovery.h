/* OpenID discovery and JWKS, with a disk cache under cache_dir. */
#ifndef EXTID_DISCOVERY_H
#define EXTID_DISCOVERY_H

#include <stdbool.h>
#include "entra_app.h"
#include "http.h"
#include "result.h"

struct extid_signing_info {
    char *issuer;    /* "issuer" of the discovery document */
    char *jwks_json; /* the JWKS document, as fetched */
    char *jwks_uri;  /* where it came from, for log lines */
    bool cached;     /* read from cache_dir rather than fetched by this login */
};

/* Returns the issuer and JWKS for app->authority. Uses the cache files in app->cache_dir when
 * younger than app->jwks_ttl and force_refresh is false; otherwise GETs
 * {authority}/v2.0/.well-known/openid-configuration, then its jwks_uri (must be https://), and
 * rewrites the cache atomically (temp file + rename, mode 0600). cache_dir is created 0700 if
 * missing and refused if not owned by root or group/other-writable. A cache that cannot be
 * written is logged and not fatal. Fetch failures → EXTID_UNAVAILABLE. */
enum extid_result extid_signing_info_get(const struct extid_app *app, bool force_refresh,
                                         struct extid_signing_info *out);
/* The same for the app's own signing keys, which Entra uses for an app with a claims-mapping
 * policy and a custom signing key: discovery is {authority}/v2.0/.well-known/
 * openid-configuration?appid={client_id}, whose jwks_uri names the app's key set. Cached apart
 * from the tenant's. */
enum extid_result extid_app_signing_info_get(const struct extid_app *app, bool force_refresh,
                                             struct extid_signing_info *out);
void extid_signing_info_free(struct extid_signing_info *info);

/* Pure parser of a discovery document (no I/O), for fuzzing: json[len] must be '\0'. EXTID_OK:
 * *issuer and *jwks_uri are malloc'd https:// URLs; otherwise both stay NULL (logged). */
enum extid_result extid_discovery_parse(const char *json, size_t len, char **issuer,
                                        char **jwks_uri, const struct extid_log *log);

#endif
