/* pam_extid.conf and module arguments (the contract: pam_extid.conf(5), pam_extid(8)).
 *
 * Syntax decisions: a line is `key = value` (spaces around '=' optional, surrounding whitespace
 * and a trailing CR ignored). '#' starts a comment only as the first non-blank character of a
 * line; elsewhere it is part of the value, so `timeout = 5 # x` is refused as a bad number rather
 * than silently read. `tenant` and `authority` both set the authority: giving both in one place
 * (the file, or the arguments) is an error, while an argument still overrides the file.
 * Module arguments are `key=value` exactly as PAM splits them (no trimming), plus bare `debug`
 * and `config=PATH`; the same key twice is an error in either place. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "safefile.h"
#include "util.h"

#define LINE_MAX_LEN 4096
#define TENANT_MAX 63

enum key {
    K_TENANT,
    K_AUTHORITY,
    K_CLIENT_ID,
    K_TENANT_ID,
    K_USERS,
    K_CA_FILE,
    K_PROXY,
    K_TIMEOUT,
    K_MAX_ATTEMPTS,
    K_MAX_RESENDS,
    K_IDENTITY_CLAIM,
    K_CLOCK_SKEW,
    K_CACHE_DIR,
    K_JWKS_TTL,
    K_SEND_LIMIT,
    K_SEND_WINDOW,
    K_SEND_GAP,
    K_FAIL_LIMIT,
    K_UNMAPPED,
    K_EXPORT_ENV,
    K_METHODS,
    K_EARLY_CONNECT,
    K_DEBUG,
    K_CONFIG,
    K_COUNT,
    K_UNKNOWN = K_COUNT,
};

static const char *const key_names[K_COUNT] = {
    [K_TENANT] = "tenant",
    [K_AUTHORITY] = "authority",
    [K_CLIENT_ID] = "client_id",
    [K_TENANT_ID] = "tenant_id",
    [K_USERS] = "users",
    [K_CA_FILE] = "ca_file",
    [K_PROXY] = "proxy",
    [K_TIMEOUT] = "timeout",
    [K_MAX_ATTEMPTS] = "max_attempts",
    [K_MAX_RESENDS] = "max_resends",
    [K_IDENTITY_CLAIM] = "identity_claim",
    [K_CLOCK_SKEW] = "clock_skew",
    [K_CACHE_DIR] = "cache_dir",
    [K_JWKS_TTL] = "jwks_ttl",
    [K_SEND_LIMIT] = "send_limit",
    [K_SEND_WINDOW] = "send_window",
    [K_SEND_GAP] = "send_gap",
    [K_FAIL_LIMIT] = "fail_limit",
    [K_UNMAPPED] = "unmapped",
    [K_EXPORT_ENV] = "export_env",
    [K_METHODS] = "methods",
    [K_EARLY_CONNECT] = "early_connect",
    [K_DEBUG] = "debug",
    [K_CONFIG] = "config",
};

/* One place settings come from (the file, or the module arguments), for log lines and for
 * spotting a key given twice in that place. */
struct source {
    const char *file;   /* NULL: module arguments */
    int pos;            /* line number, or argument number (1-based) */
    const char *arg;    /* the argument text, for log lines */
    int first[K_COUNT]; /* where each key was first seen; 0 = not yet */
    const struct extid_log *log;
};

__attribute__((format(printf, 2, 3))) static void bad(const struct source *src, const char *fmt,
                                                      ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (src->file)
        extid_log(src->log, LOG_ERR, "%s:%d: %s", src->file, src->pos, msg);
    else if (strncmp(src->arg, "proxy=", 6) == 0) /* a proxy URL may carry a password */
        extid_log(src->log, LOG_ERR, "argument %d (proxy=...): %s", src->pos, msg);
    else
        extid_log(src->log, LOG_ERR, "argument %d (%s): %s", src->pos, src->arg, msg);
}

static enum key lookup_key(const char *s, size_t n)
{
    int k;

    for (k = 0; k < K_COUNT; k++)
        if (strlen(key_names[k]) == n && memcmp(key_names[k], s, n) == 0)
            return (enum key)k;
    return K_UNKNOWN;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static enum extid_result set_str(char **field, const char *value)
{
    char *copy = strdup(value);

    if (!copy)
        return EXTID_SYSTEM_ERR;
    free(*field);
    *field = copy;
    return EXTID_OK;
}

/* Plain decimal digits only: no sign, no spaces, no hex, no octal surprises. */
static enum extid_result set_long(const struct source *src, const char *key, const char *value,
                                  long min, long max, long *out)
{
    const char *p;
    long v;

    for (p = value; *p; p++)
        if (*p < '0' || *p > '9')
            break;
    if (*p || p - value > 10) {
        bad(src, "%s must be a plain decimal number from %ld to %ld, not '%s'", key, min, max,
            value);
        return EXTID_CONFIG_ERR;
    }
    errno = 0;
    v = strtol(value, NULL, 10);
    if (errno || v < min || v > max) {
        bad(src, "%s is %s, outside %ld..%ld", key, value, min, max);
        return EXTID_CONFIG_ERR;
    }
    *out = v;
    return EXTID_OK;
}

static enum extid_result set_int(const struct source *src, const char *key, const char *value,
                                 long min, long max, int *out)
{
    long v = 0;
    enum extid_result r = set_long(src, key, value, min, max, &v);

    if (r == EXTID_OK)
        *out = (int)v;
    return r;
}

static enum extid_result set_path(const struct source *src, const char *key, const char *value,
                                  char **field)
{
    if (value[0] != '/') {
        bad(src, "%s must be an absolute path, not '%s'", key, value);
        return EXTID_CONFIG_ERR;
    }
    return set_str(field, value);
}

static bool has_space(const char *s)
{
    return strpbrk(s, " \t") != NULL;
}

/* https://host[/path], nothing that could change where requests go or what they carry. */
static enum extid_result set_authority(const struct source *src, const char *value, char **field)
{
    static const char scheme[] = "https://";
    size_t n = strlen(value);
    enum extid_result r;

    if (strncmp(value, scheme, sizeof scheme - 1) != 0) {
        bad(src, "authority must start with https://, not '%s'", value);
        return EXTID_CONFIG_ERR;
    }
    if (has_space(value) || strpbrk(value, "?#@")) {
        bad(src,
            "authority must be a plain https:// URL without spaces, query ('?'), "
            "fragment ('#') or user name ('@'): '%s'",
            value);
        return EXTID_CONFIG_ERR;
    }
    if (n > sizeof scheme - 1 && value[n - 1] == '/')
        n--;
    if (n == sizeof scheme - 1 || value[sizeof scheme - 1] == '/' || value[n - 1] == '/') {
        bad(src, "authority has no host or ends in '//': '%s'", value);
        return EXTID_CONFIG_ERR;
    }
    r = set_str(field, value);
    if (r == EXTID_OK)
        (*field)[n] = '\0';
    return r;
}

/* A DNS label: the tenant's subdomain of ciamlogin.com. */
static enum extid_result set_tenant(const struct source *src, const char *value, char **field)
{
    size_t n = strlen(value), i;
    char *url = NULL;

    for (i = 0; i < n; i++)
        if (!((value[i] >= 'a' && value[i] <= 'z') || (value[i] >= '0' && value[i] <= '9')
              || value[i] == '-'))
            break;
    if (i < n || n > TENANT_MAX || value[0] == '-' || value[n - 1] == '-') {
        bad(src, "tenant must be a DNS label (a-z, 0-9, '-', at most %d characters), not '%s'",
            TENANT_MAX, value);
        return EXTID_CONFIG_ERR;
    }
    if (asprintf(&url, "https://%s.ciamlogin.com/%s.onmicrosoft.com", value, value) < 0)
        return EXTID_SYSTEM_ERR;
    free(*field);
    *field = url;
    return EXTID_OK;
}

static enum extid_result set_proxy(const struct source *src, const char *value, char **field)
{
    const char *rest = NULL;

    if (strncmp(value, "https://", 8) == 0)
        rest = value + 8;
    else if (strncmp(value, "http://", 7) == 0)
        rest = value + 7;
    /* The value is not echoed: a proxy URL may carry a password. */
    if (!rest || !*rest || *rest == '/' || has_space(value)) {
        bad(src, "proxy must be an http:// or https:// URL with a host and no spaces");
        return EXTID_CONFIG_ERR;
    }
    return set_str(field, value);
}

/* Printable text without whitespace (tenant_id). */
static enum extid_result set_word(const struct source *src, const char *key, const char *value,
                                  char **field)
{
    if (has_space(value)) {
        bad(src, "%s must not contain spaces: '%s'", key, value);
        return EXTID_CONFIG_ERR;
    }
    return set_str(field, value);
}

/* The app registration's Application (client) ID: a GUID, 8-4-4-4-12 hexadecimal digits. A typo
 * found here costs a log line; found by Entra it would cost every login. */
static enum extid_result set_client_id(const struct source *src, const char *value, char **field)
{
    static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    size_t i;

    for (i = 0; form[i] && value[i]; i++) {
        bool hex = (value[i] >= '0' && value[i] <= '9') || (value[i] >= 'a' && value[i] <= 'f')
            || (value[i] >= 'A' && value[i] <= 'F');
        if (form[i] == '-' ? value[i] != '-' : !hex)
            break;
    }
    if (form[i] || value[i]) {
        bad(src,
            "client_id must be the app registration's Application (client) ID, a GUID like "
            "00001111-aaaa-2222-bbbb-3333cccc4444, not '%s'",
            value);
        return EXTID_CONFIG_ERR;
    }
    return set_str(field, value);
}

static enum extid_result set_choice(const struct source *src, const char *key, const char *value,
                                    const char *a, const char *b, int *which)
{
    if (strcmp(value, a) == 0)
        *which = 0;
    else if (strcmp(value, b) == 0)
        *which = 1;
    else {
        bad(src, "%s must be '%s' or '%s', not '%s'", key, a, b, value);
        return EXTID_CONFIG_ERR;
    }
    return EXTID_OK;
}

/* "otp", "password" or both, separated by spaces or commas (a module argument has no spaces
 * unless bracketed), each at most once. */
static enum extid_result set_methods(const struct source *src, const char *value, unsigned *methods)
{
    unsigned got = 0;
    const char *p = value;

    while (*p) {
        size_t n = strcspn(p, " \t,");
        unsigned bit = 0;

        if (n == 3 && memcmp(p, "otp", 3) == 0)
            bit = EXTID_METHOD_OTP;
        else if (n == 8 && memcmp(p, "password", 8) == 0)
            bit = EXTID_METHOD_PASSWORD;
        if (n > 0 && (!bit || (got & bit))) {
            bad(src, "methods must be 'otp', 'password' or 'otp password', not '%s'", value);
            return EXTID_CONFIG_ERR;
        }
        got |= bit;
        p += n;
        p += strspn(p, " \t,");
    }
    if (!got) {
        bad(src, "methods must name at least one of 'otp' and 'password'");
        return EXTID_CONFIG_ERR;
    }
    *methods = got;
    return EXTID_OK;
}

static enum extid_result set_value(struct extid_config *cfg, const struct source *src, enum key k,
                                   const char *value)
{
    const char *name = key_names[k];
    enum extid_result r;
    int which = 0;

    switch (k) {
    case K_TENANT: return set_tenant(src, value, &cfg->authority);
    case K_AUTHORITY: return set_authority(src, value, &cfg->authority);
    case K_CLIENT_ID: return set_client_id(src, value, &cfg->client_id);
    case K_TENANT_ID: return set_word(src, name, value, &cfg->tenant_id);
    case K_USERS: return set_path(src, name, value, &cfg->users_file);
    case K_CA_FILE: return set_path(src, name, value, &cfg->ca_file);
    case K_CACHE_DIR: return set_path(src, name, value, &cfg->cache_dir);
    case K_PROXY: return set_proxy(src, value, &cfg->proxy);
    case K_TIMEOUT: return set_long(src, name, value, 1, 300, &cfg->timeout);
    case K_MAX_ATTEMPTS: return set_int(src, name, value, 1, 10, &cfg->max_attempts);
    case K_MAX_RESENDS: return set_int(src, name, value, 0, 10, &cfg->max_resends);
    case K_CLOCK_SKEW: return set_long(src, name, value, 0, 3600, &cfg->clock_skew);
    case K_JWKS_TTL: return set_long(src, name, value, 60, 2592000, &cfg->jwks_ttl);
    case K_SEND_LIMIT: return set_int(src, name, value, 0, 1000, &cfg->send_limit);
    case K_SEND_WINDOW: return set_long(src, name, value, 60, 86400, &cfg->send_window);
    case K_SEND_GAP: return set_long(src, name, value, 0, 3600, &cfg->send_gap);
    case K_FAIL_LIMIT: return set_int(src, name, value, 0, 1000, &cfg->fail_limit);
    case K_IDENTITY_CLAIM:
        r = set_choice(src, name, value, "preferred_username", "email", &which);
        return r == EXTID_OK ? set_str(&cfg->identity_claim, value) : r;
    case K_UNMAPPED:
        r = set_choice(src, name, value, "deny", "ignore", &which);
        if (r == EXTID_OK)
            cfg->unmapped = which ? EXTID_UNMAPPED_IGNORE : EXTID_UNMAPPED_DENY;
        return r;
    case K_EXPORT_ENV:
        r = set_choice(src, name, value, "no", "yes", &which);
        if (r == EXTID_OK)
            cfg->export_env = which == 1;
        return r;
    case K_METHODS: return set_methods(src, value, &cfg->methods);
    case K_EARLY_CONNECT:
        r = set_choice(src, name, value, "no", "yes", &which);
        if (r == EXTID_OK)
            cfg->early_connect = which == 1;
        return r;
    default:
        /* debug and config are handled by the caller; reaching here is a bug: refuse. */
        return EXTID_CONFIG_ERR;
    }
}

/* One setting from either place. value is NULL when there was no '='. */
static enum extid_result apply(struct extid_config *cfg, struct source *src, const char *key,
                               size_t keylen, const char *value)
{
    const char *form = src->file ? "key = value" : "key=value";
    enum key k;

    if (keylen == 0) {
        bad(src, "missing key before '='");
        return EXTID_CONFIG_ERR;
    }
    k = lookup_key(key, keylen);
    if (k == K_UNKNOWN) {
        if (value)
            bad(src, "unknown key '%.*s'", (int)keylen, key);
        else
            bad(src, "expected '%s' or 'debug', got '%.*s'", form, (int)keylen, key);
        return EXTID_CONFIG_ERR;
    }
    if (k == K_CONFIG && src->file) {
        bad(src, "config is accepted only as a module argument");
        return EXTID_CONFIG_ERR;
    }
    if (src->first[k]) {
        bad(src, "%s given twice (first at %s %d)", key_names[k], src->file ? "line" : "argument",
            src->first[k]);
        return EXTID_CONFIG_ERR;
    }
    src->first[k] = src->pos;
    if ((k == K_TENANT && src->first[K_AUTHORITY]) || (k == K_AUTHORITY && src->first[K_TENANT])) {
        bad(src, "give either tenant or authority, not both");
        return EXTID_CONFIG_ERR;
    }
    if (k == K_DEBUG) {
        if (value) {
            bad(src, "debug is a flag and takes no value");
            return EXTID_CONFIG_ERR;
        }
        cfg->debug = true;
        return EXTID_OK;
    }
    if (!value) {
        bad(src, "expected '%s'", form);
        return EXTID_CONFIG_ERR;
    }
    if (!*value) {
        bad(src, "empty value for %s", key_names[k]);
        return EXTID_CONFIG_ERR;
    }
    if (has_control(value)) {
        bad(src, "value of %s contains a control character", key_names[k]);
        return EXTID_CONFIG_ERR;
    }
    if (k == K_CONFIG) {
        /* Already used to pick the file; only its form is left to check. */
        if (value[0] != '/') {
            bad(src, "config must be an absolute path");
            return EXTID_CONFIG_ERR;
        }
        return EXTID_OK;
    }
    return set_value(cfg, src, k, value);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Trims blanks at both ends in place; returns the new start. */
static char *trim(char *s, char *end)
{
    while (s < end && is_blank(*s))
        s++;
    while (end > s && is_blank(end[-1]))
        end--;
    *end = '\0';
    return s;
}

/* Keeps going after a bad line so that one run reports every mistake; *failed records it. */
static enum extid_result parse_text(struct extid_config *cfg, struct source *src, char *text,
                                    bool *failed)
{
    enum extid_result r;
    char *line = text, *next, *nl, *eq, *key, *value;

    for (src->pos = 1; line && *line; src->pos++, line = next) {
        nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (!nl)
            nl = line + strlen(line);
        if (nl - line > LINE_MAX_LEN) {
            bad(src, "line longer than %d bytes", LINE_MAX_LEN);
            *failed = true;
            continue;
        }
        line = trim(line, nl);
        if (!*line || *line == '#')
            continue;
        eq = strchr(line, '=');
        value = NULL;
        if (eq)
            value = trim(eq + 1, eq + 1 + strlen(eq + 1));
        key = trim(line, eq ? eq : line + strlen(line));
        r = apply(cfg, src, key, strlen(key), value);
        if (r == EXTID_SYSTEM_ERR)
            return r;
        if (r != EXTID_OK)
            *failed = true;
    }
    return EXTID_OK;
}

static enum extid_result parse_args(struct extid_config *cfg, struct source *src, int argc,
                                    const char **argv, bool *failed)
{
    enum extid_result r;
    const char *eq;
    int i;

    for (i = 0; i < argc; i++) {
        src->pos = i + 1;
        src->arg = argv[i] ? argv[i] : "(null)";
        if (!argv[i]) {
            bad(src, "missing argument");
            *failed = true;
            continue;
        }
        eq = strchr(argv[i], '=');
        r = apply(cfg, src, argv[i], eq ? (size_t)(eq - argv[i]) : strlen(argv[i]),
                  eq ? eq + 1 : NULL);
        if (r == EXTID_SYSTEM_ERR)
            return r;
        if (r != EXTID_OK)
            *failed = true;
    }
    return EXTID_OK;
}

/* The first config= argument (a second one is reported by parse_args). */
static const char *config_arg(int argc, const char **argv)
{
    const char *path = NULL;
    int i;

    for (i = 0; i < argc; i++)
        if (argv[i] && strncmp(argv[i], "config=", 7) == 0 && !path)
            path = argv[i] + 7;
    return path;
}

static enum extid_result set_defaults(struct extid_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->timeout = 10;
    cfg->max_attempts = 3;
    cfg->max_resends = 2;
    cfg->clock_skew = 300;
    cfg->jwks_ttl = 86400;
    cfg->send_limit = 5;
    cfg->send_window = 3600;
    cfg->send_gap = 10;
    cfg->fail_limit = 10;
    cfg->unmapped = EXTID_UNMAPPED_DENY;
    cfg->methods = EXTID_METHOD_OTP;
    cfg->early_connect = true;
    cfg->users_file = strdup(EXTID_DEFAULT_USERS);
    cfg->cache_dir = strdup(EXTID_DEFAULT_CACHE_DIR);
    cfg->identity_claim = strdup("preferred_username");
    if (!cfg->users_file || !cfg->cache_dir || !cfg->identity_claim)
        return EXTID_SYSTEM_ERR;
    return EXTID_OK;
}

/* Reads and parses the file. The default file may be absent; a named one may not. */
static enum extid_result load_file(struct extid_config *cfg, bool named, bool *failed,
                                   const struct extid_log *log)
{
    struct source src = { .file = cfg->config_file, .log = log };
    enum extid_result r;
    struct stat st;
    char *text = NULL;
    size_t len = 0;

    if (!named && lstat(cfg->config_file, &st) != 0 && errno == ENOENT) {
        extid_debug(log, "%s: not present; using module arguments only", cfg->config_file);
        return EXTID_OK;
    }
    r = extid_safefile_read(cfg->config_file, &text, &len, log);
    if (r == EXTID_CONFIG_ERR) {
        *failed = true;
        return EXTID_OK;
    }
    if (r != EXTID_OK)
        return r;
    r = parse_text(cfg, &src, text, failed);
    free(text);
    return r;
}

enum extid_result extid_config_load(struct extid_config *cfg, int argc, const char **argv,
                                    const struct extid_log *log)
{
    struct source args = { .file = NULL, .log = log };
    const char *path;
    enum extid_result r;
    bool failed = false;

    if (!cfg)
        return EXTID_SYSTEM_ERR;
    if (argc < 0 || (argc > 0 && !argv)) {
        memset(cfg, 0, sizeof *cfg);
        extid_log(log, LOG_ERR, "invalid module argument list");
        return EXTID_CONFIG_ERR;
    }
    r = set_defaults(cfg);
    if (r != EXTID_OK)
        goto out;
    path = config_arg(argc, argv);
    cfg->config_file = strdup(path ? path : EXTID_DEFAULT_CONFIG);
    if (!cfg->config_file) {
        r = EXTID_SYSTEM_ERR;
        goto out;
    }
    if (path && path[0] != '/') {
        /* Not read: it would depend on the cwd. parse_args logs it with the argument number. */
        failed = true;
    } else {
        r = load_file(cfg, path != NULL, &failed, log);
        if (r != EXTID_OK)
            goto out;
    }
    r = parse_args(cfg, &args, argc, argv, &failed);
    if (r != EXTID_OK)
        goto out;
    if (!cfg->authority) {
        extid_log(log, LOG_ERR,
                  "%s: no tenant or authority given (in the file or as a module "
                  "argument)",
                  cfg->config_file);
        failed = true;
    }
    if (!cfg->client_id) {
        extid_log(log, LOG_ERR, "%s: no client_id given (in the file or as a module argument)",
                  cfg->config_file);
        failed = true;
    }
    r = failed ? EXTID_CONFIG_ERR : EXTID_OK;
out:
    if (r == EXTID_SYSTEM_ERR)
        extid_log(log, LOG_ERR, "out of memory reading the configuration");
    if (r != EXTID_OK)
        extid_config_free(cfg);
    return r;
}

void extid_config_free(struct extid_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->config_file);
    free(cfg->authority);
    free(cfg->client_id);
    free(cfg->tenant_id);
    free(cfg->users_file);
    free(cfg->ca_file);
    free(cfg->proxy);
    free(cfg->identity_claim);
    free(cfg->cache_dir);
    memset(cfg, 0, sizeof *cfg);
}
