/* The users file: extid_users_parse. The first line is the account looked up; the rest is the
 * file's text. A found line is then asked about a few addresses. */
#include "fuzz.h"
#include "users.h"

static const char *const emails[] = { "alice@example.com",
                                      "ALICE@Example.COM",
                                      "bob@sub.example.com",
                                      "x@example.com.evil.org",
                                      "not-an-email",
                                      "@example.com",
                                      "a@b" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0, text_size, i;
    struct extid_log log = fuzz_log(&total);
    const uint8_t *rest;
    char *account = fuzz_first_line(data, size, 64, &rest, &text_size);
    char *text = fuzz_cstr(rest, text_size);
    struct extid_identities ids;
    enum extid_result rc;

    rc = extid_users_parse(text, "fuzz.users", *account ? account : "alice", true, &ids, &log);
    if (rc == EXTID_OK) {
        if (ids.count == 0 || !ids.items)
            abort(); /* a line always names at least one identity */
        (void)extid_identities_single(&ids);
        for (i = 0; i < sizeof emails / sizeof emails[0]; i++)
            (void)extid_identities_allow(&ids, emails[i]);
        extid_identities_free(&ids);
    }
    free(text);
    free(account);
    return 0;
}
