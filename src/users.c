/* pam_extid.users (pam_extid.conf(5), USERS FILE): `account identity...` per line.
 *
 * The whole file is checked on every lookup, so a broken file fails closed even when the wanted
 * line itself is fine. '#' starts a comment only as the first non-blank character of a line; a
 * later word starting with '#' is refused so that a trailing note is not taken for an identity. */
#include "users.h"

#include <stdlib.h>
#include <string.h>

#include "safefile.h"
#include "util.h"

#define ACCOUNT_MAX 32
#define DOMAIN_MAX 253
#define LABEL_MAX 63

/* An account name and the line it is on, for finding the same account twice. */
struct seen {
    const char *name;
    int line;
};

struct parser {
    const char *name; /* file name for log lines */
    const struct extid_log *log;
    struct seen *seen;
    size_t nseen, capseen;
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

static bool remember(struct parser *p, const char *account, int line)
{
    struct seen *grown;
    size_t cap;

    if (p->nseen == p->capseen) {
        cap = p->capseen ? p->capseen * 2 : 16;
        grown = realloc(p->seen, cap * sizeof *grown);
        if (!grown)
            return false;
        p->seen = grown;
        p->capseen = cap;
    }
    p->seen[p->nseen].name = account;
    p->seen[p->nseen].line = line;
    p->nseen++;
    return true;
}

static int cmp_seen(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return (x->line > y->line) - (x->line < y->line);
}

/* Sorting keeps this O(n log n) for large files; each repeat is reported at its own line. */
static void check_duplicates(struct parser *p)
{
    size_t i, first = 0;

    if (p->nseen < 2)
        return;
    qsort(p->seen, p->nseen, sizeof *p->seen, cmp_seen);
    for (i = 1; i < p->nseen; i++) {
        if (strcmp(p->seen[first].name, p->seen[i].name) != 0) {
            first = i;
            continue;
        }
        extid_log(p->log, LOG_ERR, "%s:%d: account '%s' is already on line %d", p->name,
                  p->seen[i].line, p->seen[i].name, p->seen[first].line);
        p->failed = true;
    }
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

static enum extid_result take_identities(char **words, size_t count,
                                         struct extid_identities *out)
{
    size_t i;

    out->items = calloc(count, sizeof *out->items);
    if (!out->items)
        return EXTID_SYSTEM_ERR;
    for (i = 0; i < count; i++) {
        out->items[i] = strdup(words[i]);
        if (!out->items[i])
            return EXTID_SYSTEM_ERR; /* caller frees what was copied */
        out->count = i + 1;
    }
    return EXTID_OK;
}

/* Checks one line; copies its identities to out when it is account's line. */
static enum extid_result parse_line(struct parser *p, char *line, int lineno, char **words,
                                    const char *account, struct extid_identities *out)
{
    size_t n = split_words(line, words), i;
    bool line_ok = true;

    if (n == 0 || words[0][0] == '#')
        return EXTID_OK;
    if (!account_valid(words[0])) {
        extid_log(p->log, LOG_ERR, "%s:%d: '%s' is not a valid account name (letters, digits, "
                  "'.', '_', '-', not starting with '-', at most %d characters)",
                  p->name, lineno, words[0], ACCOUNT_MAX);
        p->failed = true;
        return EXTID_OK;
    }
    if (!remember(p, words[0], lineno))
        return EXTID_SYSTEM_ERR;
    if (n == 1) {
        extid_log(p->log, LOG_ERR, "%s:%d: account '%s' has no identity", p->name, lineno,
                  words[0]);
        p->failed = true;
        return EXTID_OK;
    }
    for (i = 1; i < n; i++) {
        if (words[i][0] == '#') {
            extid_log(p->log, LOG_ERR, "%s:%d: a '#' comment must be on a line of its own",
                      p->name, lineno);
            line_ok = false;
            break;
        }
        if (!identity_valid(words[i])) {
            extid_log(p->log, LOG_ERR, "%s:%d: '%s' is neither an email address nor *@domain",
                      p->name, lineno, words[i]);
            line_ok = false;
        }
    }
    if (!line_ok) {
        p->failed = true;
        return EXTID_OK;
    }
    if (account && !out->items && strcmp(words[0], account) == 0)
        return take_identities(words + 1, n - 1, out);
    return EXTID_OK;
}

enum extid_result extid_users_parse(const char *text, const char *name, const char *account,
                                    struct extid_identities *out, const struct extid_log *log)
{
    struct parser p = { .name = name ? name : "(users)", .log = log };
    enum extid_result r = EXTID_OK;
    char *copy = NULL, *line, *nl;
    char **words = NULL;
    int lineno;

    if (!out)
        return EXTID_SYSTEM_ERR;
    out->items = NULL;
    out->count = 0;
    if (!text)
        return EXTID_SYSTEM_ERR;
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
        r = parse_line(&p, line, lineno, words, account, out);
        if (r != EXTID_OK)
            goto out;
        line = nl ? nl + 1 : NULL;
    }
    check_duplicates(&p);
    if (p.failed)
        r = EXTID_CONFIG_ERR;
    else if (!out->items)
        r = EXTID_USER_UNKNOWN;
out:
    if (r == EXTID_SYSTEM_ERR)
        extid_log(log, LOG_ERR, "%s: out of memory", p.name);
    if (r != EXTID_OK)
        extid_identities_free(out);
    free(p.seen);
    free(words);
    free(copy);
    return r;
}

enum extid_result extid_users_lookup(const char *path, const char *account,
                                     struct extid_identities *out, const struct extid_log *log)
{
    enum extid_result r;
    char *text = NULL;
    size_t len = 0;

    if (!out)
        return EXTID_SYSTEM_ERR;
    out->items = NULL;
    out->count = 0;
    r = extid_safefile_read(path, &text, &len, log);
    if (r != EXTID_OK)
        return r;
    r = extid_users_parse(text, path, account, out, log);
    free(text);
    return r;
}

bool extid_identities_allow(const struct extid_identities *ids, const char *email)
{
    const char *domain;
    size_t i;

    if (!ids || !ids->items || !extid_email_valid(email))
        return false;
    /* A valid address has exactly one '@', so this is its whole domain. */
    domain = strchr(email, '@') + 1;
    for (i = 0; i < ids->count; i++) {
        const char *id = ids->items[i];
        if (!id)
            continue;
        if (is_wildcard(id) ? extid_str_ieq(id + 2, domain) : extid_str_ieq(id, email))
            return true;
    }
    return false;
}

const char *extid_identities_single(const struct extid_identities *ids)
{
    if (!ids || !ids->items || ids->count != 1 || !ids->items[0] || is_wildcard(ids->items[0]))
        return NULL;
    return ids->items[0];
}

void extid_identities_free(struct extid_identities *ids)
{
    size_t i;

    if (!ids)
        return;
    for (i = 0; ids->items && i < ids->count; i++)
        free(ids->items[i]);
    free(ids->items);
    ids->items = NULL;
    ids->count = 0;
}
