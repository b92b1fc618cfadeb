/* Users-file requirements against the verified token: a line's role: and group: words are met
 * only by string lists in the roles and groups claims; a groups overage never counts as a match. */
#include "authz.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "util.h"

/* Room for what a log line says about a line's requirements and the token's claims. */
#define DESC_MAX 384

/* What a roles or groups claim is worth: absent, a usable list, or anything else. */
enum shape { SHAPE_ABSENT, SHAPE_LIST, SHAPE_BAD };

static enum shape string_list(const cJSON *claims, const char *name, const cJSON **list)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(claims, name), *e;

    *list = NULL;
    if (!item)
        return SHAPE_ABSENT;
    if (!cJSON_IsArray(item))
        return SHAPE_BAD;
    cJSON_ArrayForEach(e, item) if (!cJSON_IsString(e) || !e->valuestring) return SHAPE_BAD;
    *list = item;
    return SHAPE_LIST;
}

/* Entra leaves the groups out when there are too many for a token, and says so with
 * _claim_names naming "groups" (or, in implicit flows, hasgroups). */
static bool group_overage(const cJSON *claims)
{
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(claims, "_claim_names");

    return cJSON_GetObjectItemCaseSensitive(claims, "hasgroups") != NULL
        || (cJSON_IsObject(names) && cJSON_GetObjectItemCaseSensitive(names, "groups"));
}

static bool list_has(const cJSON *list, const char *value, bool fold_case)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, list) if (fold_case ? extid_str_ieq(e->valuestring, value)
                                              : strcmp(e->valuestring, value) == 0) return true;
    return false;
}

/* The first requirement of line that the token meets, or NULL. */
static const struct extid_requirement *met(const struct extid_users_line *line, const cJSON *roles,
                                           const cJSON *groups)
{
    size_t i;

    for (i = 0; i < line->nreqs; i++) {
        const struct extid_requirement *r = &line->reqs[i];
        if (r->kind == EXTID_REQ_ROLE ? roles && list_has(roles, r->value, false)
                                      : groups && list_has(groups, r->value, true))
            return r;
    }
    return NULL;
}

static const char *prefix(const struct extid_requirement *r)
{
    return r->kind == EXTID_REQ_ROLE ? "role:" : "group:";
}

/* Appends s to buf (size bytes), marking a cut with "...". */
static void append(char *buf, size_t size, const char *s)
{
    size_t len = strlen(buf), n = strlen(s);

    if (len + n < size) {
        memcpy(buf + len, s, n + 1);
    } else if (size >= 4) {
        memcpy(buf + len, s, size - len - 1);
        buf[size - 1] = '\0';
        memcpy(buf + size - 4, "...", 4);
    }
}

static void describe_line(const struct extid_users_line *line, char *buf, size_t size)
{
    size_t i;

    buf[0] = '\0';
    for (i = 0; i < line->nreqs; i++) {
        append(buf, size, i ? " or " : "");
        append(buf, size, prefix(&line->reqs[i]));
        append(buf, size, line->reqs[i].value);
    }
}

void extid_authz_describe(const struct cJSON *claims, const char *name, char *buf, size_t size)
{
    const cJSON *list, *e;
    bool first = true;

    if (!buf || size == 0)
        return;
    buf[0] = '\0';
    if (strcmp(name, "groups") == 0 && group_overage(claims)) {
        append(buf, size, "(overage: too many groups for a token)");
        return;
    }
    switch (string_list(claims, name, &list)) {
    case SHAPE_ABSENT: append(buf, size, "(none)"); return;
    case SHAPE_BAD: append(buf, size, "(not an array of strings)"); return;
    case SHAPE_LIST: break;
    }
    cJSON_ArrayForEach(e, list)
    {
        append(buf, size, first ? "" : ", ");
        append(buf, size, e->valuestring);
        first = false;
    }
    if (first)
        append(buf, size, "(empty)");
}

/* Says once why group: requirements could not be met, and what the administrator can do. */
static void explain_groups(const cJSON *claims, enum shape groups_shape,
                           const struct extid_log *log)
{
    if (group_overage(claims))
        extid_log(log, LOG_WARNING,
                  "the token signals group overage (the person is in more "
                  "groups than a token carries), so no group: requirement can be met: require "
                  "an app role assigned to the group (role:NAME) instead, or have the app "
                  "registration emit only groups assigned to the application");
    else if (groups_shape == SHAPE_BAD)
        extid_log(log, LOG_WARNING,
                  "the token's groups claim is not an array of strings: no "
                  "group: requirement can be met");
    else if (groups_shape == SHAPE_ABSENT)
        extid_log(log, LOG_NOTICE,
                  "the token has no groups claim: add it to the app "
                  "registration (Token configuration, groups claim, security groups) for "
                  "group: requirements");
}

enum extid_result extid_authz_check(const struct extid_identities *ids, const char *email,
                                    const struct cJSON *claims, const struct extid_log *log,
                                    const struct extid_users_line **granted)
{
    const cJSON *roles = NULL, *groups = NULL;
    enum shape roles_shape, groups_shape;
    bool any = false, wanted_group = false;
    char need[DESC_MAX], had_roles[DESC_MAX], had_groups[DESC_MAX];
    size_t i;

    if (granted)
        *granted = NULL;
    if (!ids || !email || !cJSON_IsObject(claims)) {
        extid_log(log, LOG_ERR, "authorization: nothing to check against");
        return EXTID_AUTH_ERR;
    }
    roles_shape = string_list(claims, "roles", &roles);
    groups_shape = string_list(claims, "groups", &groups);
    if (group_overage(claims))
        groups = NULL;
    if (roles_shape == SHAPE_BAD)
        extid_log(log, LOG_WARNING,
                  "the token's roles claim is not an array of strings: no "
                  "role: requirement can be met");
    for (i = 0; i < ids->nlines; i++) {
        const struct extid_users_line *line = &ids->lines[i];
        const struct extid_requirement *r;
        if (!extid_users_line_allows(line, email))
            continue;
        any = true;
        r = met(line, roles, groups);
        if (line->nreqs == 0 || r) {
            extid_authz_describe(claims, "roles", had_roles, sizeof had_roles);
            extid_authz_describe(claims, "groups", had_groups, sizeof had_groups);
            extid_log(log, LOG_INFO, "%s:%d grants %s (%s%s); token roles %s; groups %s", ids->file,
                      line->lineno, email, r ? prefix(r) : "no requirement", r ? r->value : "",
                      had_roles, had_groups);
            if (granted)
                *granted = line;
            return EXTID_OK;
        }
        describe_line(line, need, sizeof need);
        extid_log(log, LOG_NOTICE, "%s:%d does not grant %s: the token has none of %s", ids->file,
                  line->lineno, email, need);
        for (size_t j = 0; j < line->nreqs; j++)
            wanted_group = wanted_group || line->reqs[j].kind == EXTID_REQ_GROUP;
    }
    if (!any) {
        extid_log(log, LOG_NOTICE, "no line of %s allows %s", ids->file, email);
        return EXTID_AUTH_ERR;
    }
    if (wanted_group)
        explain_groups(claims, groups_shape, log);
    extid_authz_describe(claims, "roles", had_roles, sizeof had_roles);
    extid_authz_describe(claims, "groups", had_groups, sizeof had_groups);
    extid_log(log, LOG_NOTICE, "token of %s: roles %s; groups %s", email, had_roles, had_groups);
    return EXTID_AUTH_ERR;
}
