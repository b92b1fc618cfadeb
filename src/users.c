/* pam_extid.users (pam_extid.users(5)): `account identity... [requirement...]`
 * per line.
 *
 * Several lines may name one account: each is an alternative. The account '*' stands for every
 * person's local account that no line names; on such a line *@domain allows only the address
 * whose local part is the account name, so one line serves every account without letting one
 * person open another's. The whole file is checked on every lookup, so a broken file fails
 * closed even when the wanted lines are fine. '#' starts a comment only as the first non-blank
 * character of a line; a later word starting with '#' is refused so that a trailing note is not
 * taken for an identity. */
#include "users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safefile.h"
#include "util.h"

#define ACCOUNT_MAX 32
#define DOMAIN_MAX 253
#define LABEL_MAX 63
#define ROLE_MAX 256
#define GUID_LEN 36
#define UID_PERSON_MIN 1000UL
#define UID_OVERFLOW 65534UL

/* The lines that apply, collected while the whole file is checked. */
struct line_list {
    struct extid_users_line *items;
    size_t count, cap;
};

struct parser {
    const char *name; /* file name for log lines */
    const char *account;
    bool star_ok;
    bool all; /* keep every line as written */
    const struct extid_log *log;
    struct line_list own, star;
    bool failed;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static bool account_valid(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > ACCOUNT_MAX || s[0] == '-')
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

/* Host name: dot-separated labels of letters, digits and inner '-', at least two labels. */
static bool domain_valid(const char *s)
{
    size_t n = strlen(s), label = 0, labels = 1, i;

    if (n == 0 || n > DOMAIN_MAX)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            labels++;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-'))
            return false;
        if (label == 0 && c == '-')
            return false;
        if (++label > LABEL_MAX)
            return false;
    }
    return label > 0 && s[n - 1] != '-' && labels >= 2;
}

static bool is_wildcard(const char *id)
{
    return strncmp(id, "*@", 2) == 0;
}

static bool identity_valid(const char *id)
{
    return is_wildcard(id) ? domain_valid(id + 2) : extid_email_valid(id);
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* An object id as Entra writes it: 8-4-4-4-12 hexadecimal digits. */
static bool guid_valid(const char *s)
{
    size_t i;

    if (strlen(s) != GUID_LEN)
        return false;
    for (i = 0; i < GUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return true;
}

/* App role values are printable ASCII without spaces; '#' and ',' are kept out so that a role
 * never reads as a comment nor splits EXTID_ROLES. */
static bool role_valid(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > ROLE_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == ',' || s[i] == '#')
            return false;
    return true;
}

bool extid_users_star_uid(unsigned long uid)
{
    return uid >= UID_PERSON_MIN && uid != UID_OVERFLOW;
}

/* A word is a requirement when it has a ':' before any '@' (addresses never hold a ':'). */
static bool is_requirement(const char *w)
{
    const char *colon = strchr(w, ':'), *at = strchr(w, '@');

    return colon && (!at || colon < at);
}

/* Checks one requirement word; logs and returns false when it is malformed. */
static bool requirement_valid(const struct parser *p, int lineno, const char *w)
{
    if (strncmp(w, "role:", 5) == 0) {
        if (role_valid(w + 5))
            return true;
        extid_log(p->log, LOG_ERR,
                  "%s:%d: '%s': a role needs a name of printable characters "
                  "without ',' or '#' (at most %d)",
                  p->name, lineno, w, ROLE_MAX);
        return false;
    }
    if (strncmp(w, "group:", 6) == 0) {
        if (guid_valid(w + 6))
            return true;
        extid_log(p->log, LOG_ERR,
                  "%s:%d: '%s': a group is named by its object id "
                  "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                  p->name, lineno, w);
        return false;
    }
    extid_log(p->log, LOG_ERR, "%s:%d: '%.*s' is not a known requirement (role: or group:)",
              p->name, lineno, (int)(strchr(w, ':') - w + 1), w);
    return false;
}

static void line_free(struct extid_users_line *l)
{
    size_t i;

    for (i = 0; l->ids && i < l->nids; i++)
        free(l->ids[i]);
    for (i = 0; l->reqs && i < l->nreqs; i++)
        free(l->reqs[i].value);
    free(l->ids);
    free(l->reqs);
    free(l->account);
    memset(l, 0, sizeof *l);
}

static void list_free(struct line_list *list)
{
    size_t i;

    for (i = 0; i < list->count; i++)
        line_free(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}

/* The identity as it applies to the account: on a '*' line, *@domain becomes account@domain
 * (NULL with *skip when that is no valid address). */
static char *applied_identity(const char *id, bool star, const char *account, bool *skip)
{
    size_t n;
    char *s;

    *skip = false;
    if (!star)
        return strdup(id);
    n = strlen(account) + strlen(id + 1) + 1;
    s = malloc(n);
    if (!s)
        return NULL;
    snprintf(s, n, "%s%s", account, id + 1);
    if (!extid_email_valid(s)) {
        free(s);
        *skip = true;
        return NULL;
    }
    return s;
}

/* Copies a checked line (words[1..nids] identities, the rest requirements) into list. */
static enum extid_result keep_line(struct parser *p, struct line_list *list, int lineno,
                                   char **words, size_t nids, size_t nreqs, bool star)
{
    struct extid_users_line l = { .lineno = lineno, .star = star };
    size_t i;
    bool skip;

    l.ids = calloc(nids, sizeof *l.ids);
    l.reqs = calloc(nreqs ? nreqs : 1, sizeof *l.reqs);
    l.account = strdup(words[0]);
    if (!l.ids || !l.reqs || !l.account)
        goto oom;
    for (i = 0; i < nids; i++) {
        char *id = applied_identity(words[1 + i], star && !p->all, p->account, &skip);
        if (skip)
            continue;
        if (!id)
            goto oom;
        l.ids[l.nids++] = id;
    }
    for (i = 0; i < nreqs; i++) {
        const char *w = words[1 + nids + i];
        bool role = strncmp(w, "role:", 5) == 0;
        char *v = strdup(strchr(w, ':') + 1);
        if (!v)
            goto oom;
        if (!role)
            for (char *c = v; *c; c++)
                *c = extid_ascii_tolower(*c);
        l.reqs[l.nreqs].kind = role ? EXTID_REQ_ROLE : EXTID_REQ_GROUP;
        l.reqs[l.nreqs++].value = v;
    }
    if (l.nids == 0) { /* a '*' line whose domains cannot follow this account name */
        line_free(&l);
        return EXTID_OK;
    }
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 4;
        struct extid_users_line *grown = realloc(list->items, cap * sizeof *grown);
        if (!grown)
            goto oom;
        list->items = grown;
        list->cap = cap;
    }
    list->items[list->count++] = l;
    return EXTID_OK;
oom:
    line_free(&l);
    return EXTID_SYSTEM_ERR;
}

/* Length of the longest line, to size the word array once. */
static size_t longest_line(const char *s)
{
    size_t best = 0, n;
    const char *nl;

    for (;;) {
        nl = strchr(s, '\n');
        n = nl ? (size_t)(nl - s) : strlen(s);
        if (n > best)
            best = n;
        if (!nl)
            return best;
        s = nl + 1;
    }
}

/* Splits one line (already NUL-terminated) into words in place; returns the word count. A line
 * of n bytes has at most n / 2 + 1 words, which is how the words array is sized. */
static size_t split_words(char *line, char **words)
{
    size_t n = 0;

    for (;;) {
        while (is_blank(*line))
            line++;
        if (!*line)
            return n;
        words[n++] = line;
        while (*line && !is_blank(*line))
            line++;
        if (!*line)
            return n;
        *line++ = '\0';
    }
}

/* Checks the words after the account; counts identities and requirements. */
static bool check_words(struct parser *p, int lineno, char **words, size_t n, bool star,
                        size_t *nids, size_t *nreqs)
{
    bool ok = true;
    size_t i;

    *nids = *nreqs = 0;
    for (i = 1; i < n; i++) {
        const char *w = words[i];
        if (w[0] == '#') {
            extid_log(p->log, LOG_ERR, "%s:%d: a '#' comment must be on a line of its own", p->name,
                      lineno);
            return false;
        }
        if (is_requirement(w)) {
            ok = requirement_valid(p, lineno, w) && ok;
            (*nreqs)++;
            continue;
        }
        if (*nreqs) {
            extid_log(p->log, LOG_ERR,
                      "%s:%d: identity '%s' after a requirement: identities "
                      "come first",
                      p->name, lineno, w);
            ok = false;
        } else if (!identity_valid(w)) {
            extid_log(p->log, LOG_ERR, "%s:%d: '%s' is neither an email address nor *@domain",
                      p->name, lineno, w);
            ok = false;
        } else if (star && !is_wildcard(w)) {
            extid_log(p->log, LOG_ERR,
                      "%s:%d: '%s': a '*' line takes only *@domain identities "
                      "(one address would open every account)",
                      p->name, lineno, w);
            ok = false;
        }
        (*nids)++;
    }
    if (*nids == 0) {
        if (*nreqs)
            extid_log(p->log, LOG_ERR, "%s:%d: account '%s' has requirements but no identity",
                      p->name, lineno, words[0]);
        else
            extid_log(p->log, LOG_ERR, "%s:%d: account '%s' has no identity", p->name, lineno,
                      words[0]);
        ok = false;
    }
    return ok;
}

/* Checks one line; keeps it when it applies to the account looked up. */
static enum extid_result parse_line(struct parser *p, char *line, int lineno, char **words)
{
    size_t n = split_words(line, words), nids, nreqs;
    bool star;

    if (n == 0 || words[0][0] == '#')
        return EXTID_OK;
    star = strcmp(words[0], "*") == 0;
    if (!star && !account_valid(words[0])) {
        extid_log(p->log, LOG_ERR,
                  "%s:%d: '%s' is not a valid account name (letters, digits, "
                  "'.', '_', '-', not starting with '-', at most %d characters; or '*')",
                  p->name, lineno, words[0], ACCOUNT_MAX);
        p->failed = true;
        return EXTID_OK;
    }
    if (!check_words(p, lineno, words, n, star, &nids, &nreqs)) {
        p->failed = true;
        return EXTID_OK;
    }
    if (p->failed)
        return EXTID_OK; /* nothing from a broken file is ever used */
    if (p->all)
        return keep_line(p, &p->own, lineno, words, nids, nreqs, star);
    if (!p->account)
        return EXTID_OK;
    if (star && p->star_ok)
        return keep_line(p, &p->star, lineno, words, nids, nreqs, true);
    if (!star && strcmp(words[0], p->account) == 0)
        return keep_line(p, &p->own, lineno, words, nids, nreqs, false);
    return EXTID_OK;
}

/* Flattens the chosen lines' identities into out->items. */
static enum extid_result take_lines(struct line_list *list, const char *name,
                                    struct extid_identities *out)
{
    size_t i, j, total = 0;

    for (i = 0; i < list->count; i++)
        total += list->items[i].nids;
    out->items = calloc(total, sizeof *out->items);
    out->file = strdup(name);
    if (!out->items || !out->file)
        return EXTID_SYSTEM_ERR;
    for (i = 0; i < list->count; i++)
        for (j = 0; j < list->items[i].nids; j++) {
            out->items[out->count] = strdup(list->items[i].ids[j]);
            if (!out->items[out->count])
                return EXTID_SYSTEM_ERR;
            out->count++;
        }
    out->lines = list->items;
    out->nlines = list->count;
    memset(list, 0, sizeof *list);
    return EXTID_OK;
}

static enum extid_result parse(const char *text, const char *name, const char *account,
                               bool star_ok, bool all, struct extid_identities *out,
                               const struct extid_log *log)
{
    struct parser p = {
        .name = name ? name : "(users)", .log = log, .star_ok = star_ok, .all = all
    };
    enum extid_result r = EXTID_OK;
    char *copy = NULL, *line, *nl;
    char **words = NULL;
    int lineno;

    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof *out);
    if (!text)
        return EXTID_SYSTEM_ERR;
    /* '*' is no account name: it never looks up the '*' lines themselves. */
    p.account = account && *account && strcmp(account, "*") != 0 ? account : NULL;
    copy = strdup(text);
    words = calloc(longest_line(text) / 2 + 2, sizeof *words);
    if (!copy || !words) {
        r = EXTID_SYSTEM_ERR;
        goto out;
    }
    for (line = copy, lineno = 1; line; lineno++) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        r = parse_line(&p, line, lineno, words);
        if (r != EXTID_OK)
            goto out;
        line = nl ? nl + 1 : NULL;
    }
    if (p.failed)
        r = EXTID_CONFIG_ERR;
    else if (p.own.count)
        r = take_lines(&p.own, p.name, out);
    else if (p.star.count)
        r = take_lines(&p.star, p.name, out);
    else
        r = EXTID_USER_UNKNOWN;
out:
    if (r == EXTID_SYSTEM_ERR)
        extid_log(log, LOG_ERR, "%s: out of memory", p.name);
    if (r != EXTID_OK)
        extid_identities_free(out);
    list_free(&p.own);
    list_free(&p.star);
    free(words);
    free(copy);
    return r;
}

enum extid_result extid_users_parse(const char *text, const char *name, const char *account,
                                    bool star_ok, struct extid_identities *out,
                                    const struct extid_log *log)
{
    return parse(text, name, account, star_ok, false, out, log);
}

static enum extid_result read_and_parse(const char *path, const char *account, bool star_ok,
                                        bool all, struct extid_identities *out,
                                        const struct extid_log *log)
{
    enum extid_result r;
    char *text = NULL;
    size_t len = 0;

    if (!out)
        return EXTID_SYSTEM_ERR;
    memset(out, 0, sizeof *out);
    r = extid_safefile_read(path, &text, &len, log);
    if (r != EXTID_OK)
        return r;
    r = parse(text, path, account, star_ok, all, out, log);
    free(text);
    return r;
}

enum extid_result extid_users_lookup(const char *path, const char *account, bool star_ok,
                                     struct extid_identities *out, const struct extid_log *log)
{
    return read_and_parse(path, account, star_ok, false, out, log);
}

enum extid_result extid_users_lookup_all(const char *path, struct extid_identities *out,
                                         const struct extid_log *log)
{
    return read_and_parse(path, NULL, false, true, out, log);
}

static bool identity_allows(const char *id, const char *email)
{
    /* A valid address has exactly one '@', so this is its whole domain. */
    const char *domain = strchr(email, '@') + 1;

    return is_wildcard(id) ? extid_str_ieq(id + 2, domain) : extid_str_ieq(id, email);
}

static bool any_allows(char *const *ids, size_t count, const char *email)
{
    size_t i;

    if (!ids || !extid_email_valid(email))
        return false;
    for (i = 0; i < count; i++)
        if (ids[i] && identity_allows(ids[i], email))
            return true;
    return false;
}

bool extid_identities_allow(const struct extid_identities *ids, const char *email)
{
    return ids && any_allows(ids->items, ids->count, email);
}

bool extid_users_line_allows(const struct extid_users_line *line, const char *email)
{
    return line && any_allows(line->ids, line->nids, email);
}

const char *extid_identities_single(const struct extid_identities *ids)
{
    const char *only = NULL;
    size_t i;

    if (!ids || !ids->items || ids->count == 0)
        return NULL;
    for (i = 0; i < ids->count; i++) {
        const char *id = ids->items[i];
        if (!id || is_wildcard(id))
            return NULL;
        if (only && !extid_str_ieq(only, id))
            return NULL;
        only = only ? only : id;
    }
    return only;
}

void extid_identities_free(struct extid_identities *ids)
{
    size_t i;

    if (!ids)
        return;
    for (i = 0; ids->items && i < ids->count; i++)
        free(ids->items[i]);
    for (i = 0; ids->lines && i < ids->nlines; i++)
        line_free(&ids->lines[i]);
    free(ids->items);
    free(ids->lines);
    free(ids->file);
    memset(ids, 0, sizeof *ids);
}
