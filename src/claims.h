/* The claim policy an ID token must meet before a login is granted. */
#ifndef EXTID_CLAIMS_H
#define EXTID_CLAIMS_H

#include <time.h>
#include "log.h"
#include "result.h"

struct cJSON;

struct extid_claim_policy {
    const char *issuer;         /* iss must equal it exactly */
    const char *audience;       /* client_id: aud (string, or array containing it) */
    const char *tenant_id;      /* NULL: tid not checked */
    const char *identity_claim; /* claim that must equal email, case-insensitively */
    const char *email;          /* the challenged address */
    long clock_skew;            /* seconds */
    time_t now;
};

/* Checks iss, aud, exp, nbf, iat (present, numeric, within skew: exp > now - skew,
 * nbf <= now + skew, iat <= now + skew), tid, identity claim. Logs which check failed and why
 * (claim values other than secrets may be logged). EXTID_OK or EXTID_AUTH_ERR. */
enum extid_result extid_claims_check(const struct cJSON *payload,
                                     const struct extid_claim_policy *policy,
                                     const struct extid_log *log);

#endif
