/* A compact JWS: extid_jwt_parse and extid_jws_parse (payload left as bytes), then
 * extid_jwt_verify_rs256 against a fixed RSA key whatever the header says (the header check is
 * fuzz_idtoken's). Whatever the claims parser accepts, the plain JWS parser accepts too. */
#include "../unit/token_fixture.h"
#include "fuzz.h"
#include "jwt.h"

/* Harness state, made once: the public key every signature is checked against. */
static EVP_PKEY *verify_key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verify_key = fx_key(FX_KEY_A_PEM);
    if (!verify_key)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0;
    struct extid_log log = fuzz_log(&total);
    char *token = fuzz_cstr(data, size);
    struct extid_jwt jwt, jws;
    bool claims = extid_jwt_parse(token, &jwt, &log) == EXTID_OK;
    bool plain = extid_jws_parse(token, &jws, &log) == EXTID_OK;

    if (claims) {
        if (!cJSON_IsObject(jwt.header) || !cJSON_IsObject(jwt.payload) || !jwt.signing_input)
            abort();
        enum extid_result rc = extid_jwt_verify_rs256(&jwt, verify_key, &log);
        if (rc != EXTID_OK && rc != EXTID_AUTH_ERR)
            abort();
        extid_jwt_free(&jwt);
    }
    if (claims && !plain)
        abort();
    if (plain) {
        if (!cJSON_IsObject(jws.header) || jws.payload || !jws.signing_input)
            abort();
        enum extid_result rc = extid_jwt_verify_rs256(&jws, verify_key, &log);
        if (rc != EXTID_OK && rc != EXTID_AUTH_ERR)
            abort();
        extid_jwt_free(&jws);
    }
    free(token);
    return 0;
}
