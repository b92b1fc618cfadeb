/* An Entra error body: extid_entra_error_parse on bytes that are not NUL-terminated. */
#include "fuzz.h"
#include "nativeauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct extid_entra_error e;
    char *body = fuzz_exact(data, size);

    if (extid_entra_error_parse(body, size, &e) == EXTID_OK) {
        if (!e.error || !*e.error)
            abort(); /* OK promises a non-empty "error" */
        for (const char *p = e.description; p && *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort(); /* control characters must be stripped */
        extid_entra_error_free(&e);
    }
    free(body);
    return 0;
}
