/* A native-auth endpoint's HTTP answer: extid_na_interpret on a response whose status comes from
 * the first input byte and whose body is the rest; a 200 object then goes through
 * extid_challenge_from_json, as a /challenge answer would, and extid_mfa_methods_from_json, as an
 * /introspect answer would. */
#include <cjson/cJSON.h>

#include "fuzz.h"
#include "nativeauth.h"

static const long statuses[] = { 200, 200, 200, 200, 400, 400, 401, 429, 500, 503, 302, 204, 404 };
static const char *const endpoints[] = { "initiate", "challenge", "token" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0;
    struct extid_log log = fuzz_log(&total);
    struct extid_http_response resp = { .retry_after = -1 };
    struct extid_challenge ch;
    struct extid_mfa_methods methods;
    cJSON *json = NULL;

    if (size < 1)
        return 0;
    resp.status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
    if (data[0] >= 0xf0)
        resp.retry_after = data[0] - 0xf0;
    /* The HTTP layer always hands over a NUL-terminated body. */
    resp.body = fuzz_cstr(data + 1, size - 1);
    resp.len = size - 1;
    enum extid_na_opening opening = EXTID_NA_FINAL;
    enum extid_result rc =
        extid_na_interpret(endpoints[(data[0] >> 4) % 3], &resp, &json, &opening, &log);

    /* Only a 400/401 refusal can leave the flow open. */
    if (opening != EXTID_NA_FINAL
        && (rc != EXTID_AUTH_ERR || (resp.status != 400 && resp.status != 401)))
        abort();
    if (rc == EXTID_OK) {
        if (!json)
            abort(); /* success must hand over the object */
        if (extid_challenge_from_json(json, &ch, &log) == EXTID_OK) {
            if (!ch.continuation_token)
                abort();
            if (ch.kind == EXTID_CHALLENGE_OOB
                && (!ch.target_label || ch.code_length < 4 || ch.code_length > 16))
                abort();
            if (ch.kind == EXTID_CHALLENGE_PASSWORD && (ch.target_label || ch.code_length))
                abort();
            extid_challenge_free(&ch);
        }
        /* The same answer read as /introspect's. */
        if (extid_mfa_methods_from_json(json, &methods, &log) == EXTID_OK) {
            if (!methods.continuation_token || methods.count < 1
                || methods.count > EXTID_MFA_METHODS_MAX)
                abort();
            for (size_t i = 0; i < methods.count; i++)
                if (!methods.methods[i].id || !methods.methods[i].label)
                    abort();
            extid_mfa_methods_free(&methods);
        } else if (methods.methods || methods.continuation_token) {
            abort(); /* a refusal must not leave anything behind */
        }
    } else if (json) {
        abort(); /* a failure must not leave an object behind */
    }
    cJSON_Delete(json);
    free(resp.body);
    return 0;
}
