/* An OpenID discovery document: extid_discovery_parse. */
#include "discovery.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0;
    struct extid_log log = fuzz_log(&total);
    char *doc = fuzz_cstr(data, size);
    char *issuer = NULL, *jwks_uri = NULL;

    if (extid_discovery_parse(doc, size, &issuer, &jwks_uri, &log) == EXTID_OK) {
        if (!issuer || !jwks_uri || strncmp(issuer, "https://", 8) != 0
            || strncmp(jwks_uri, "https://", 8) != 0)
            abort();
    } else if (issuer || jwks_uri) {
        abort();
    }
    free(issuer);
    free(jwks_uri);
    free(doc);
    return 0;
}
