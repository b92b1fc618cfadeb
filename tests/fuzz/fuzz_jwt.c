/* A compact JWS: extid_jwt_parse, then extid_jwt_verify_rs256 against a fixed RSA key whatever
 * the header says (the header check is fuzz_idtoken's). */
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
    struct extid_jwt jwt;

    if (extid_jwt_parse(token, &jwt, &log) == EXTID_OK) {
        if (!cJSON_IsObject(jwt.header) || !cJSON_IsObject(jwt.payload) || !jwt.signing_input)
            abort();
        enum extid_result rc = extid_jwt_verify_rs256(&jwt, verify_key, &log);
        if (rc != EXTID_OK && rc != EXTID_AUTH_ERR)
            abort();
        extid_jwt_free(&jwt);
    }
    free(token);
    return 0;
}
