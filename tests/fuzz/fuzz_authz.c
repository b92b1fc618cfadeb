/* Who may log in: extid_authz_check and extid_env_build on fuzzed token claims (the input, as
 * JSON) against a fixed users file whose lines need roles, groups or nothing. A grant is then
 * checked independently here: a check that lets through what it should refuse stops the fuzzer. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "authz.h"
#include "fuzz.h"
#include "session_env.h"

#define GROUP "0f0e0d0c-0b0a-0908-0706-05040302010f"

static const char users[] = "ops alice@contoso.com role:Linux.Ops group:" GROUP "\n"
                            "ops *@contoso.com role:Break.Glass\n"
                            "ops bob@contoso.com\n";

static bool has_string(const cJSON *list, const char *value, bool fold)
{
    const cJSON *e;

    if (!cJSON_IsArray(list))
        return false;
    cJSON_ArrayForEach(e, list)
    {
        if (!cJSON_IsString(e))
            return false; /* the whole claim is worth nothing then */
    }
    cJSON_ArrayForEach(e, list) if (fold ? strcasecmp(e->valuestring, value) == 0
                                         : strcmp(e->valuestring, value) == 0) return true;
    return false;
}

static bool overage(const cJSON *c)
{
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(c, "_claim_names");

    return cJSON_GetObjectItemCaseSensitive(c, "hasgroups")
        || (cJSON_IsObject(names) && cJSON_GetObjectItemCaseSensitive(names, "groups"));
}

static void check_grant(const cJSON *c, const struct extid_users_line *line)
{
    const cJSON *roles = cJSON_GetObjectItemCaseSensitive(c, "roles");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(c, "groups");

    if (!line)
        abort();
    if (line->lineno == 1 && !has_string(roles, "Linux.Ops", false)
        && (overage(c) || !has_string(groups, GROUP, true)))
        abort();
    if (line->lineno == 2 && !has_string(roles, "Break.Glass", false))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const emails[] = { "alice@contoso.com", "carol@contoso.com",
                                          "bob@contoso.com" };
    size_t total = 0, i;
    struct extid_log log = fuzz_log(&total);
    struct extid_identities ids;
    const struct extid_users_line *granted;
    struct extid_env env;
    char *text = fuzz_cstr(data, size);
    cJSON *claims = cJSON_Parse(text);

    if (extid_users_parse(users, "fuzz.users", "ops", true, &ids, &log) != EXTID_OK)
        abort();
    for (i = 0; claims && i < sizeof emails / sizeof emails[0]; i++) {
        if (extid_authz_check(&ids, emails[i], claims, &log, &granted) == EXTID_OK)
            check_grant(claims, granted);
        if (extid_env_build(claims, emails[i], &env, &log) == EXTID_OK) {
            if (env.count != EXTID_ENV_COUNT)
                abort();
            /* EXTID_ROLES holds only A-Za-z0-9._- and ','. */
            if (strspn(env.vars[3] + strlen("EXTID_ROLES="),
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-,")
                != strlen(env.vars[3] + strlen("EXTID_ROLES=")))
                abort();
            extid_env_free(&env);
        }
    }
    extid_identities_free(&ids);
    cJSON_Delete(claims);
    free(text);
    return 0;
}
