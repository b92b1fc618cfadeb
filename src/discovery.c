/* OpenID discovery + JWKS for the configured authority, cached per authority on disk. */
#include "discovery.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "util.h"

#define DISCOVERY_PATH "/v2.0/.well-known/openid-configuration"

/* A fetched or cached document, and where it came from (for log lines). */
struct doc {
    char *body;
    size_t len;
    char *origin;
};

static void doc_free(struct doc *d)
{
    free(d->body);
    free(d->origin);
    memset(d, 0, sizeof(*d));
}

/* Parses a NUL-terminated body; passing len + 1 makes cJSON refuse trailing garbage and
 * embedded NULs. */
static cJSON *parse_object(const struct doc *d, const struct extid_log *log)
{
    cJSON *j = cJSON_ParseWithLengthOpts(d->body, d->len + 1, NULL, true);
    if (!cJSON_IsObject(j)) {
        extid_log(log, LOG_ERR, "%s: not a JSON object", d->origin);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static const char *https_member(const cJSON *obj, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(it) || !it->valuestring)
        return NULL;
    return strncmp(it->valuestring, "https://", 8) == 0 && it->valuestring[8] ? it->valuestring
                                                                              : NULL;
}

/* Discovery must name an https issuer and an https jwks_uri; both are copied out. */
static enum extid_result discovery_parse(const struct doc *d, char **issuer, char **jwks_uri,
                                         const struct extid_log *log)
{
    enum extid_result rc = EXTID_UNAVAILABLE;
    cJSON *j = parse_object(d, log);
    if (!j)
        goto out;
    const char *iss = https_member(j, "issuer");
    const char *uri = https_member(j, "jwks_uri");
    if (!iss || !uri) {
        extid_log(log, LOG_ERR, "%s: %s missing, not a string or not https://", d->origin,
                  !iss ? "issuer" : "jwks_uri");
        goto out;
    }
    *issuer = strdup(iss);
    *jwks_uri = strdup(uri);
    if (!*issuer || !*jwks_uri) {
        free(*issuer);
        free(*jwks_uri);
        *issuer = *jwks_uri = NULL;
        rc = EXTID_SYSTEM_ERR;
        goto out;
    }
    rc = EXTID_OK;
out:
    cJSON_Delete(j);
    return rc;
}

/* Only the outline is checked here; jwks.c judges the keys themselves. */
static enum extid_result jwks_check(const struct doc *d, const struct extid_log *log)
{
    cJSON *j = parse_object(d, log);
    if (!j)
        return EXTID_UNAVAILABLE;
    bool ok = cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "keys"));
    if (!ok)
        extid_log(log, LOG_ERR, "%s: JWKS has no \"keys\" array", d->origin);
    cJSON_Delete(j);
    return ok ? EXTID_OK : EXTID_UNAVAILABLE;
}

#define NAME_MAX_LEN 96

/* "discovery-<sha256(authority + query)>.json": tenants, and a tenant's own key set and an
 * app's, never share a cache file. */
static enum extid_result cache_names(const char *authority, const char *query,
                                     char disc[NAME_MAX_LEN], char jwks[NAME_MAX_LEN])
{
    char key[EXTID_CACHE_KEY_LEN];
    char *both = NULL;
    enum extid_result rc;

    if (asprintf(&both, "%s%s", authority, query) < 0)
        return EXTID_SYSTEM_ERR;
    rc = extid_cache_key(both, key);
    free(both);
    if (rc != EXTID_OK)
        return EXTID_SYSTEM_ERR;
    snprintf(disc, NAME_MAX_LEN, "discovery-%s.json", key);
    snprintf(jwks, NAME_MAX_LEN, "jwks-%s.json", key);
    return EXTID_OK;
}

static enum extid_cache_read cache_load(const struct extid_app *cfg, const char *name,
                                        struct doc *d, const struct extid_log *log)
{
    enum extid_cache_read rc =
        extid_cache_read(cfg->cache_dir, name, cfg->jwks_ttl, &d->body, &d->len, log);
    if (rc != EXTID_CACHE_HIT)
        return rc;
    if (asprintf(&d->origin, "cache file %s/%s", cfg->cache_dir, name) < 0) {
        d->origin = NULL;
        doc_free(d);
        return EXTID_CACHE_ERROR;
    }
    return EXTID_CACHE_HIT;
}

static enum extid_result fetch(struct extid_http *h, const char *url, struct doc *d)
{
    struct extid_http_response resp = { 0 };
    enum extid_result rc = extid_http_get(h, url, &resp);
    if (rc != EXTID_OK)
        goto out;
    rc = EXTID_UNAVAILABLE;
    if (resp.status != 200) {
        extid_log(h->log, LOG_ERR, "GET %s: HTTP %ld", url, resp.status);
        goto out;
    }
    if (asprintf(&d->origin, "GET %s", url) < 0) {
        d->origin = NULL;
        rc = EXTID_SYSTEM_ERR;
        goto out;
    }
    d->body = resp.body;
    d->len = resp.len;
    resp.body = NULL;
    resp.len = 0;
    rc = EXTID_OK;
out:
    extid_http_response_free(&resp);
    return rc;
}

/* A hit only when both files are there, fresh and usable; content that does not parse is a
 * miss (the network may have mended it), running out of memory an error. */
static enum extid_cache_read from_cache(const struct extid_app *cfg, const char *disc_name,
                                        const char *jwks_name, struct extid_signing_info *out,
                                        const struct extid_log *log)
{
    struct doc disc = { 0 }, jwks = { 0 };
    enum extid_result parsed = EXTID_OK;
    enum extid_cache_read rc = cache_load(cfg, disc_name, &disc, log);
    if (rc == EXTID_CACHE_HIT)
        rc = cache_load(cfg, jwks_name, &jwks, log);
    if (rc == EXTID_CACHE_HIT)
        parsed = discovery_parse(&disc, &out->issuer, &out->jwks_uri, log);
    if (rc == EXTID_CACHE_HIT && parsed == EXTID_OK)
        parsed = jwks_check(&jwks, log);
    if (parsed != EXTID_OK)
        rc = parsed == EXTID_SYSTEM_ERR ? EXTID_CACHE_ERROR : EXTID_CACHE_MISS;
    if (rc != EXTID_CACHE_HIT)
        goto out;
    out->jwks_json = jwks.body;
    out->cached = true;
    jwks.body = NULL;
    extid_debug(log, "discovery: using cached issuer %s and JWKS from %s", out->issuer,
                out->jwks_uri);
out:
    if (rc != EXTID_CACHE_HIT)
        extid_signing_info_free(out);
    doc_free(&disc);
    doc_free(&jwks);
    return rc;
}

static enum extid_result from_network(const struct extid_app *cfg, const char *query,
                                      bool use_cache, const char *disc_name, const char *jwks_name,
                                      struct extid_signing_info *out)
{
    struct extid_http *h = cfg->http;
    struct doc disc = { 0 }, jwks = { 0 };
    char *url = NULL;
    enum extid_result rc = EXTID_SYSTEM_ERR;
    if (asprintf(&url, "%s%s%s", cfg->authority, DISCOVERY_PATH, query) < 0) {
        url = NULL;
        goto out;
    }
    rc = fetch(h, url, &disc);
    if (rc == EXTID_OK)
        rc = discovery_parse(&disc, &out->issuer, &out->jwks_uri, h->log);
    if (rc == EXTID_OK)
        rc = fetch(h, out->jwks_uri, &jwks);
    if (rc == EXTID_OK)
        rc = jwks_check(&jwks, h->log);
    if (rc != EXTID_OK)
        goto out;
    /* Validated above, so a bad answer never reaches the cache. A cache that cannot be written
     * costs a refetch next time, nothing more (cache_write logs why). */
    if (use_cache) {
        extid_cache_write(cfg->cache_dir, jwks_name, jwks.body, jwks.len, h->log);
        extid_cache_write(cfg->cache_dir, disc_name, disc.body, disc.len, h->log);
    }
    out->jwks_json = jwks.body;
    jwks.body = NULL;
    extid_debug(h->log, "discovery: fetched issuer %s and JWKS from %s", out->issuer,
                out->jwks_uri);
out:
    if (rc != EXTID_OK)
        extid_signing_info_free(out);
    free(url);
    doc_free(&disc);
    doc_free(&jwks);
    return rc;
}

/* The tenant's key set (query "") or an app's own ("?appid=<client_id>"). */
static enum extid_result signing_info_get(const struct extid_app *cfg, const char *query,
                                          bool force_refresh, struct extid_signing_info *out)
{
    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof(*out));
    if (!cfg || !cfg->http)
        return EXTID_SYSTEM_ERR;
    struct extid_http *h = cfg->http;
    if (!cfg->authority) {
        extid_log(h->log, LOG_ERR, "discovery: no authority configured");
        return EXTID_CONFIG_ERR;
    }

    char disc_name[NAME_MAX_LEN], jwks_name[NAME_MAX_LEN];
    if (cache_names(cfg->authority, query, disc_name, jwks_name) != EXTID_OK) {
        extid_log(h->log, LOG_ERR, "discovery: SHA-256 unavailable");
        return EXTID_SYSTEM_ERR;
    }
    /* An unsafe cache directory is neither read nor written; the network is the truth. */
    bool use_cache = cfg->cache_dir && extid_cache_dir_check(cfg->cache_dir, h->log) == EXTID_OK;
    if (cfg->cache_dir && !use_cache)
        extid_log(h->log, LOG_WARNING, "discovery: not using cache directory %s", cfg->cache_dir);

    if (use_cache && !force_refresh) {
        enum extid_cache_read rc = from_cache(cfg, disc_name, jwks_name, out, h->log);
        if (rc == EXTID_CACHE_HIT)
            return EXTID_OK;
        if (rc == EXTID_CACHE_ERROR)
            return EXTID_SYSTEM_ERR;
    }
    return from_network(cfg, query, use_cache, disc_name, jwks_name, out);
}

enum extid_result extid_signing_info_get(const struct extid_app *app, bool force_refresh,
                                         struct extid_signing_info *out)
{
    return signing_info_get(app, "", force_refresh, out);
}

enum extid_result extid_app_signing_info_get(const struct extid_app *app, bool force_refresh,
                                             struct extid_signing_info *out)
{
    char *query = NULL;
    enum extid_result rc;

    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof(*out));
    if (!app || !app->client_id)
        return EXTID_SYSTEM_ERR;
    /* client_id is a GUID (config.c), so it needs no encoding in the query. */
    if (asprintf(&query, "?appid=%s", app->client_id) < 0)
        return EXTID_SYSTEM_ERR;
    rc = signing_info_get(app, query, force_refresh, out);
    free(query);
    return rc;
}

enum extid_result extid_discovery_parse(const char *json, size_t len, char **issuer,
                                        char **jwks_uri, const struct extid_log *log)
{
    struct doc d = { .body = (char *)json, .len = len, .origin = (char *)"discovery document" };
    if (!issuer || !jwks_uri)
        return EXTID_SYSTEM_ERR;
    *issuer = *jwks_uri = NULL;
    if (!json)
        return EXTID_UNAVAILABLE;
    return discovery_parse(&d, issuer, jwks_uri, log);
}

void extid_signing_info_free(struct extid_signing_info *info)
{
    if (!info)
        return;
    free(info->issuer);
    free(info->jwks_json);
    free(info->jwks_uri);
    info->issuer = NULL;
    info->jwks_json = NULL;
    info->jwks_uri = NULL;
}
