/* The proof and what follows from it: the signing keys (made ready while the person reads their
 * mail), the ID token's signature and claims, the users file's requirements on the verified
 * claims, and the session's environment, last. */
#include "login_state.h"

#include <string.h>
#include <time.h>

#include "authz.h"
#include "idtoken.h"

/* The keys are needed only after the code, but a cold cache is filled now, while the person
 * opens their mailbox, so that nothing but /token stands between code and login. */
enum extid_result login_step_keys(struct login *l)
{
    return l->transport->signing_info(l->session, false, &l->keys);
}

/* An app with a claims-mapping policy and its own signing key has its tokens signed by a key
 * that only the app-specific discovery document names: tried when the tenant's key set, fresh,
 * still lacks the token's key. Its cached copy first, then a fresh one. */
static enum extid_result verify_with_app_keys(struct login *l, struct extid_claim_policy *policy,
                                              bool *unknown_kid)
{
    struct extid_signing_info app = { 0 };
    enum extid_result rc = EXTID_AUTH_ERR;

    *unknown_kid = true; /* until a key set says otherwise */
    if (!l->transport->app_signing_info)
        return rc;
    for (int fresh = 0; fresh < 2 && *unknown_kid; fresh++) {
        extid_signing_info_free(&app);
        rc = l->transport->app_signing_info(l->session, fresh, &app);
        if (rc == EXTID_OK && !app.jwks_json)
            rc = EXTID_SYSTEM_ERR;
        if (rc != EXTID_OK) {
            *unknown_kid = false; /* no key set to say it: the failure is the answer */
            break;
        }
        policy->issuer = app.issuer;
        policy->now = time(NULL);
        rc = extid_idtoken_verify_claims(l->id_token, app.jwks_json, strlen(app.jwks_json), policy,
                                         l->log, &l->claims, unknown_kid);
        if (*unknown_kid && !app.cached)
            break;
    }
    if (rc == EXTID_OK)
        extid_log(l->log, LOG_NOTICE,
                  "ID token verified with the app's own signing key (from %s), "
                  "not one of the tenant's",
                  app.jwks_uri ? app.jwks_uri : "app discovery");
    extid_signing_info_free(&app);
    return rc;
}

/* Signature and claims against l->keys, fetched before the code prompt. An unknown kid refreshes
 * them once (key rotation), and so does a cached key set that turns out unusable, so that a bad
 * set the tenant has since mended does not refuse every login until jwks_ttl runs out. */
enum extid_result login_step_verify(struct login *l)
{
    const struct extid_config *cfg = l->cfg;
    struct extid_claim_policy policy = {
        .audience = cfg->client_id,
        .tenant_id = cfg->tenant_id,
        .identity_claim = cfg->identity_claim,
        .email = l->email,
        .clock_skew = cfg->clock_skew,
    };
    bool unknown_kid = false;
    enum extid_result rc;

    if (!l->id_token || !l->keys.jwks_json)
        return EXTID_SYSTEM_ERR; /* a step before did not do its part: never a success */
    policy.issuer = l->keys.issuer;
    policy.now = time(NULL);
    rc = extid_idtoken_verify_claims(l->id_token, l->keys.jwks_json, strlen(l->keys.jwks_json),
                                     &policy, l->log, &l->claims, &unknown_kid);
    if (rc == EXTID_UNAVAILABLE && l->keys.cached)
        extid_log(l->log, LOG_WARNING, "the cached JWKS is unusable: refetching");
    else if (unknown_kid)
        extid_debug(l->log, "ID token key not in the cached JWKS: refetching");
    else
        return rc;
    extid_signing_info_free(&l->keys);
    rc = l->transport->signing_info(l->session, true, &l->keys);
    if (rc != EXTID_OK)
        return rc;
    if (!l->keys.jwks_json)
        return EXTID_SYSTEM_ERR;
    policy.issuer = l->keys.issuer;
    policy.now = time(NULL);
    rc = extid_idtoken_verify_claims(l->id_token, l->keys.jwks_json, strlen(l->keys.jwks_json),
                                     &policy, l->log, &l->claims, &unknown_kid);
    if (unknown_kid) {
        extid_debug(l->log, "ID token key not in the tenant's key set: trying the app's own");
        rc = verify_with_app_keys(l, &policy, &unknown_kid);
    }
    if (unknown_kid)
        extid_log(l->log, LOG_ERR,
                  "ID token signed by a key neither the tenant nor the app "
                  "publishes");
    return rc;
}

/* Who may log in: only after the signature and every claim passed, never instead of them. */
enum extid_result login_step_authz(struct login *l)
{
    if (!l->claims || !l->email)
        return EXTID_SYSTEM_ERR; /* a step before did not do its part: never a success */
    return extid_authz_check(&l->ids, l->email, l->claims, l->log, NULL);
}

/* Last, so that nothing is handed out for a login that does not succeed. */
enum extid_result login_step_env(struct login *l)
{
    if (!l->cfg->export_env || !l->req->env)
        return EXTID_OK;
    return extid_env_build(l->claims, l->email, l->req->env, l->log);
}
