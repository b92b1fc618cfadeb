/* A JWKS document: extid_jwks_find_key. The first line is the kid looked for (empty: the mock
 * tenant's "mock-key-1"); the rest is the document, not NUL-terminated. */
#include <openssl/evp.h>

#include "fuzz.h"
#include "jwks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0, doc_size;
    struct extid_log log = fuzz_log(&total);
    const uint8_t *rest;
    char *kid = fuzz_first_line(data, size, 300, &rest, &doc_size);
    char *doc = fuzz_exact(rest, doc_size);
    EVP_PKEY *key = NULL;
    enum extid_result rc;

    rc = extid_jwks_find_key(doc, doc_size, *kid ? kid : "mock-key-1", &key, NULL, &log);
    if ((rc == EXTID_OK) != (key != NULL))
        abort(); /* a key exactly when OK */
    if (key && (!EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) < 2048))
        abort();
    EVP_PKEY_free(key);
    free(doc);
    free(kid);
    return 0;
}
