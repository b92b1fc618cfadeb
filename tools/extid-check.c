/* extid-check: lets an administrator verify a pam_extid set-up before touching PAM. It uses the
 * module's own core (src/), so it reads the files and talks to the tenant exactly as the module
 * would, and reports with the core's own log lines (on stderr).
 *
 *   extid-check [--config PATH] [--offline] [--user ACCOUNT [--email ADDRESS]] [--login EMAIL]
 *               [--json] [key=value ...]
 *   extid-check [--config PATH] --reset EMAIL [key=value ...]
 *
 * Exit status: 0 every check passed, 1 a check failed, 2 usage error. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "discovery.h"
#include "http.h"
#include "jwks.h"
#include "log.h"
#include "login.h"
#include "nativeauth.h"
#include "terminal.h"
#include "throttle.h"
#include "safefile.h"
#include "users.h"
#include "util.h"

#define EXIT_CHECK_FAILED 1
#define EXIT_USAGE 2
#define DISCOVERY_PATH "/v2.0/.well-known/openid-configuration"
#define TRIAL_ACCOUNT "extid-check"

struct options {
    const char *config; /* --config, as given */
    const char *user;   /* --user */
    const char *login;  /* --login */
    const char *reset;  /* --reset */
    const char *email;  /* --email, with --user */
    bool offline;       /* --offline */
    bool json;          /* --json */
    int nsettings;      /* key=value arguments */
    char **settings;
};

/* Log sink: every line to stderr; the last error is kept to explain a failed step. */
struct sink {
    char last_error[512];
    bool limited; /* a limit per address refused: --reset is the way out during a setup */
};

static void emit(void *ctx, int priority, const char *msg)
{
    struct sink *s = ctx;
    const char *level = priority <= LOG_ERR ? "error"
        : priority == LOG_WARNING           ? "warning"
        : priority == LOG_DEBUG             ? "debug"
                                            : "info";

    fprintf(stderr, "extid-check: %s: %s\n", level, msg);
    if (strstr(msg, "send throttle: ") == msg || strstr(msg, "failure budget: ") == msg)
        s->limited = s->limited || strstr(msg, " next ") || strstr(msg, "no more tries");
    if (priority <= LOG_WARNING)
        snprintf(s->last_error, sizeof s->last_error, "%s", msg);
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: extid-check [--config PATH] [--offline] [--user ACCOUNT [--email ADDRESS]]\n"
        "                   [--login EMAIL] [--json] [key=value ...]\n"
        "       extid-check [--config PATH] --reset EMAIL [key=value ...]\n"
        "Checks the pam_extid configuration and users file, fetches the tenant's OpenID\n"
        "discovery document and key set, and optionally runs a whole login.\n"
        "  --config PATH   configuration file (default " EXTID_DEFAULT_CONFIG ")\n"
        "  --offline       check the files only; no network\n"
        "  --user ACCOUNT  show which identities may open ACCOUNT, and what each line requires\n"
        "  --email ADDRESS with --user: which lines allow ADDRESS, what the token must then hold\n"
        "  --login EMAIL   sign EMAIL in: the code (or password, and a second factor) is\n"
        "                  asked for here; every claim of the verified token is shown\n"
        "                  (a real code: it counts against send_limit, like any login)\n"
        "  --reset EMAIL   forget the codes sent to EMAIL and its wrong codes (send_limit,\n"
        "                  fail_limit), nothing else\n"
        "  --json          the report on stderr, and on stdout one JSON object: result, and\n"
        "                  with --login the verified token's claims\n"
        "  key=value       override a setting, as a PAM module argument would\n"
        "Exit status: 0 all checks passed, 1 a check failed, 2 usage error.\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' }, { "user", required_argument, NULL, 'u' },
        { "login", required_argument, NULL, 'l' },  { "reset", required_argument, NULL, 'r' },
        { "email", required_argument, NULL, 'e' },  { "offline", no_argument, NULL, 'o' },
        { "json", no_argument, NULL, 'j' },         { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },      { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof *o);
    while ((c = getopt_long(argc, argv, "+c:u:l:e:r:ojhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'u': o->user = optarg; break;
        case 'l': o->login = optarg; break;
        case 'r': o->reset = optarg; break;
        case 'e': o->email = optarg; break;
        case 'o': o->offline = true; break;
        case 'j': o->json = true; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("extid-check %s\n", EXTID_VERSION); exit(0);
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    o->settings = argv + optind;
    o->nsettings = argc - optind;
    for (c = 0; c < o->nsettings; c++) {
        if (o->settings[c][0] == '-') {
            fprintf(stderr, "extid-check: options go before key=value settings: '%s'\n",
                    o->settings[c]);
            return EXIT_USAGE;
        }
    }
    if (o->config && !*o->config) {
        fprintf(stderr, "extid-check: --config needs a file name\n");
        return EXIT_USAGE;
    }
    if (o->login && !extid_email_valid(o->login)) {
        fprintf(stderr, "extid-check: --login: '%s' is not an email address\n", o->login);
        return EXIT_USAGE;
    }
    if (o->email && (!o->user || !extid_email_valid(o->email))) {
        fprintf(stderr, "extid-check: --email needs --user and an email address\n");
        return EXIT_USAGE;
    }
    if (o->reset && !extid_email_valid(o->reset)) {
        fprintf(stderr, "extid-check: --reset: '%s' is not an email address\n", o->reset);
        return EXIT_USAGE;
    }
    if (o->reset && (o->login || o->user || o->offline)) {
        fprintf(stderr, "extid-check: --reset goes alone (with --config and settings only)\n");
        return EXIT_USAGE;
    }
    if (o->login && o->offline) {
        fprintf(stderr, "extid-check: --login needs the network; drop --offline\n");
        return EXIT_USAGE;
    }
    return 0;
}

/* The module arguments the core would see: config=PATH (made absolute without resolving
 * symbolic links, which the core refuses on purpose), then the key=value settings. */
static enum extid_result load_config(const struct options *o, struct extid_config *cfg,
                                     const struct extid_log *log)
{
    const char **args = calloc((size_t)o->nsettings + 1, sizeof *args);
    char *config_arg = NULL, *cwd = NULL;
    enum extid_result rc = EXTID_SYSTEM_ERR;
    int n = 0, i;

    if (!args)
        goto out;
    if (o->config) {
        if (o->config[0] == '/') {
            if (asprintf(&config_arg, "config=%s", o->config) < 0)
                config_arg = NULL;
        } else if ((cwd = getcwd(NULL, 0)) != NULL) {
            if (asprintf(&config_arg, "config=%s/%s", cwd, o->config) < 0)
                config_arg = NULL;
        }
        if (!config_arg)
            goto out;
        args[n++] = config_arg;
    }
    for (i = 0; i < o->nsettings; i++)
        args[n++] = o->settings[i];
    rc = extid_config_load(cfg, n, args, log);
out:
    if (rc == EXTID_SYSTEM_ERR)
        fprintf(stderr, "extid-check: cannot build the settings: %s\n", strerror(errno));
    free(config_arg);
    free(cwd);
    free(args);
    return rc;
}

static void show_config(const struct extid_config *cfg)
{
    printf("config %s: ok\n", cfg->config_file);
    printf("  authority       %s\n", cfg->authority);
    printf("  client_id       %s\n", cfg->client_id);
    printf("  tenant_id       %s\n",
           cfg->tenant_id ? cfg->tenant_id : "(not set: tid not checked)");
    printf("  identity_claim  %s\n", cfg->identity_claim);
    printf("  ca_file         %s\n", cfg->ca_file ? cfg->ca_file : "(system CA store)");
    printf("  proxy           %s\n", cfg->proxy ? "(set)" : "(none)");
    printf("  timeout         %ld s\n", cfg->timeout);
    printf("  max_attempts    %d\n", cfg->max_attempts);
    printf("  max_resends     %d\n", cfg->max_resends);
    printf("  clock_skew      %ld s\n", cfg->clock_skew);
    printf("  cache_dir       %s\n", cfg->cache_dir);
    printf("  jwks_ttl        %ld s\n", cfg->jwks_ttl);
    printf("  send_limit      %d\n", cfg->send_limit);
    printf("  send_window     %ld s\n", cfg->send_window);
    printf("  send_gap        %ld s\n", cfg->send_gap);
    printf("  fail_limit      %d\n", cfg->fail_limit);
    printf("  unmapped        %s\n", cfg->unmapped == EXTID_UNMAPPED_IGNORE ? "ignore" : "deny");
    printf("  methods         %s%s%s\n", cfg->methods & EXTID_METHOD_OTP ? "otp" : "",
           cfg->methods == (EXTID_METHOD_OTP | EXTID_METHOD_PASSWORD) ? " " : "",
           cfg->methods & EXTID_METHOD_PASSWORD ? "password" : "");
    printf("  debug           %s\n", cfg->debug ? "on" : "off");
}

/* Lines that map an account: once the file has passed the parser, every line that is neither
 * blank nor a comment is one. */
static size_t mapping_lines(const char *text)
{
    size_t n = 0;
    const char *p = text;

    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p && *p != '\n' && *p != '#')
            n++;
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    return n;
}

/* Mail domains where anyone can get a mailbox. In a tenant with self-service sign-up the owner
 * of any such mailbox can make an account, so *@domain there without a requirement lets
 * strangers in. Providers with a domain per country are matched by their first label. */
static const char *const public_domains[] = {
    "gmail.com", "googlemail.com", "icloud.com",   "me.com",   "mac.com",  "aol.com", "msn.com",
    "proton.me", "protonmail.com", "pm.me",        "mail.com", "zoho.com", "qq.com",  "163.com",
    "126.com",   "fastmail.com",   "tutanota.com", "hey.com",  "web.de",   "mail.ru", "ymail.com",
};
static const char *const public_providers[] = { "outlook", "hotmail", "live",
                                                "yahoo",   "gmx",     "yandex" };

static bool public_mail_domain(const char *domain)
{
    size_t i, n;

    for (i = 0; i < sizeof public_domains / sizeof public_domains[0]; i++)
        if (extid_str_ieq(domain, public_domains[i]))
            return true;
    for (i = 0; i < sizeof public_providers / sizeof public_providers[0]; i++) {
        n = strlen(public_providers[i]);
        if (strncasecmp(domain, public_providers[i], n) == 0 && domain[n] == '.')
            return true;
    }
    return false;
}

/* Warns about *@domain on a public mail domain in a line without requirement. */
static void warn_public_wildcards(const struct extid_config *cfg, const struct extid_log *log)
{
    struct extid_identities all = { 0 };
    size_t i, j;

    if (extid_users_lookup_all(cfg->users_file, &all, log) != EXTID_OK)
        return;
    for (i = 0; i < all.nlines; i++) {
        const struct extid_users_line *l = &all.lines[i];
        for (j = 0; j < l->nids && l->nreqs == 0; j++) {
            const char *id = l->ids[j];
            if (strncmp(id, "*@", 2) != 0 || !public_mail_domain(id + 2))
                continue;
            printf("  WARNING line %d: %s on a public mail domain without a requirement: anyone "
                   "who can sign up with such a mailbox may open %s; add role: or group:\n",
                   l->lineno, id,
                   l->star ? "every person's account no line names" : "this account");
        }
    }
    extid_identities_free(&all);
}

static void print_requirements(const struct extid_users_line *l)
{
    size_t i;

    for (i = 0; i < l->nreqs; i++)
        printf("%s%s%s", i ? " or " : "",
               l->reqs[i].kind == EXTID_REQ_ROLE ? "role:" : "group:", l->reqs[i].value);
}

/* The whole users file is checked by every lookup; no account → only the check. A file that
 * maps nobody (the shipped example) is a failed check: every login would be refused. */
static bool check_users_file(const struct extid_config *cfg, const struct extid_log *log)
{
    struct extid_identities ids = { 0 };
    enum extid_result rc = extid_users_lookup(cfg->users_file, NULL, false, &ids, log);
    char *text = NULL;
    size_t len = 0, lines = 0;

    extid_identities_free(&ids);
    if (rc != EXTID_USER_UNKNOWN) {
        printf("users %s: FAILED (%s)\n", cfg->users_file, extid_result_name(rc));
        return false;
    }
    rc = extid_safefile_read(cfg->users_file, &text, &len, log);
    if (rc == EXTID_OK)
        lines = mapping_lines(text);
    free(text);
    if (rc != EXTID_OK) {
        printf("users %s: FAILED (%s)\n", cfg->users_file, extid_result_name(rc));
        return false;
    }
    if (lines == 0) {
        printf("users %s: FAILED: 0 accounts mapped: %s\n", cfg->users_file,
               cfg->unmapped == EXTID_UNMAPPED_IGNORE
                   ? "the module serves nobody (unmapped = ignore passes every login on)"
                   : "every login is refused");
        return false;
    }
    printf("users %s: ok (%zu line%s mapping accounts)\n", cfg->users_file, lines,
           lines == 1 ? "" : "s");
    warn_public_wildcards(cfg, log);
    return true;
}

/* Which of the account's lines allow email, and what the token must then carry. */
static bool check_address(const struct extid_identities *ids, const char *account,
                          const char *email)
{
    size_t i, allowing = 0, open = 0;

    printf("address %s for %s:\n", email, account);
    for (i = 0; i < ids->nlines; i++) {
        const struct extid_users_line *l = &ids->lines[i];
        if (!extid_users_line_allows(l, email)) {
            printf("  line %-10d does not allow it\n", l->lineno);
            continue;
        }
        allowing++;
        printf("  line %-10d allows it", l->lineno);
        if (l->nreqs == 0) {
            open++;
            printf(": no requirement, a verified code is enough\n");
            continue;
        }
        printf(": the verified token must then hold ");
        print_requirements(l);
        printf("\n");
    }
    if (!allowing) {
        printf("  FAILED: no line allows %s: refused before any network call\n", email);
        return false;
    }
    if (open)
        printf("  a login with %s is granted once the code and token are verified\n", email);
    else
        printf("  a login with %s is granted only if the token meets a requirement above\n", email);
    return true;
}

static bool check_account(const struct extid_config *cfg, const char *account, const char *email,
                          const struct extid_log *log)
{
    struct extid_identities ids = { 0 };
    const struct passwd *pw;
    const char *single;
    bool ok = false;
    enum extid_result rc;
    size_t i, j;

    printf("account %s:\n", account);
    pw = getpwnam(account);
    if (!pw) {
        printf("  not a local account: the module refuses it before any network call\n");
        goto out;
    }
    rc = extid_users_lookup(cfg->users_file, account,
                            extid_users_star_uid((unsigned long)pw->pw_uid), &ids, log);
    if (rc == EXTID_USER_UNKNOWN) {
        printf("  not in %s: %s\n", cfg->users_file,
               cfg->unmapped == EXTID_UNMAPPED_IGNORE
                   ? "the module returns PAM_IGNORE (unmapped = ignore)"
                   : "refused with PAM_USER_UNKNOWN (unmapped = deny)");
        goto out;
    }
    if (rc != EXTID_OK) {
        printf("  users file FAILED (%s)\n", extid_result_name(rc));
        goto out;
    }
    for (i = 0; i < ids.count; i++) {
        if (strncmp(ids.items[i], "*@", 2) == 0)
            printf("  identity        %s (any address of %s)\n", ids.items[i], ids.items[i] + 2);
        else
            printf("  identity        %s\n", ids.items[i]);
    }
    for (i = 0; i < ids.nlines; i++) {
        const struct extid_users_line *l = &ids.lines[i];
        printf("  line %-10d", l->lineno);
        for (j = 0; j < l->nids; j++)
            printf("%s%s", j ? " " : "", l->ids[j]);
        if (l->star)
            printf(" (from the '*' line)");
        if (l->nreqs) {
            printf("; the verified token must hold ");
            print_requirements(l);
        }
        printf("\n");
    }
    single = extid_identities_single(&ids);
    if (single)
        printf("  a login uses %s without asking for the address\n", single);
    else
        printf("  a login asks for the address and refuses one not listed above\n");
    ok = email ? check_address(&ids, account, email) : true;
out:
    extid_identities_free(&ids);
    return ok;
}

/* Lists the key set's keys and whether the core would verify a token with each. */
static bool show_keys(const char *jwks_json, const struct extid_log *log)
{
    cJSON *doc = cJSON_Parse(jwks_json);
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
    const cJSON *key;
    int usable = 0;

    cJSON_ArrayForEach(key, keys)
    {
        const cJSON *kid = cJSON_GetObjectItemCaseSensitive(key, "kid");
        EVP_PKEY *pkey = NULL;

        if (!cJSON_IsString(kid) || !kid->valuestring || !*kid->valuestring) {
            printf("  key             (no kid): ignored, a token cannot name it\n");
            continue;
        }
        if (extid_jwks_find_key(jwks_json, strlen(jwks_json), kid->valuestring, &pkey, NULL, log)
            == EXTID_OK) {
            printf("  key             %s: RSA %d bits, usable\n", kid->valuestring,
                   EVP_PKEY_get_bits(pkey));
            usable++;
        } else {
            printf("  key             %s: NOT usable (see the message above)\n", kid->valuestring);
        }
        EVP_PKEY_free(pkey);
    }
    cJSON_Delete(doc);
    if (usable == 0)
        printf("  no usable signing key: every login would fail\n");
    return usable > 0;
}

/* Fetches the discovery document (for jwks_uri), then issuer and key set through the same core
 * path the module uses, with a fresh fetch so the answer is about the tenant, not the cache. */
static bool check_tenant(const struct extid_config *cfg, const struct extid_log *log,
                         struct sink *sink, char **issuer)
{
    struct extid_http http = { 0 };
    struct extid_http_settings settings = extid_http_settings_of(cfg);
    struct extid_app app = extid_app_of(cfg, &http);
    struct extid_http_response resp = { 0 };
    struct extid_signing_info info = { 0 };
    char *url = NULL, *doc_issuer = NULL, *jwks_uri = NULL;
    bool open = false, ok = false;

    if (asprintf(&url, "%s%s", cfg->authority, DISCOVERY_PATH) < 0) {
        url = NULL;
        goto out;
    }
    printf("discovery %s:\n", url);
    if (extid_http_open(&http, &settings, log) != EXTID_OK)
        goto out;
    open = true;
    sink->last_error[0] = '\0';
    if (extid_http_get(&http, url, &resp) != EXTID_OK) {
        printf("  FAILED: %s\n", sink->last_error[0] ? sink->last_error : "no answer");
        printf("  TLS             not verified: no trusted connection to the authority "
               "(trust: %s)\n",
               cfg->ca_file ? cfg->ca_file : "system CA store");
        goto out;
    }
    printf("  TLS             certificate verified (trust: %s)\n",
           cfg->ca_file ? cfg->ca_file : "system CA store");
    if (resp.status != 200) {
        printf("  FAILED: HTTP %ld (is the authority right?)\n", resp.status);
        goto out;
    }
    if (extid_discovery_parse(resp.body, resp.len, &doc_issuer, &jwks_uri, log) != EXTID_OK) {
        printf("  FAILED: the discovery document is not usable (see the message above)\n");
        goto out;
    }
    printf("  jwks_uri        %s\n", jwks_uri);
    sink->last_error[0] = '\0';
    if (extid_signing_info_get(&app, true, &info) != EXTID_OK) {
        printf("  FAILED: %s\n", sink->last_error[0] ? sink->last_error : "no key set");
        goto out;
    }
    printf("  issuer          %s\n", info.issuer);
    /* Entra's issuers name the tenant: one that does not suggests a tenant_id from elsewhere,
     * and then every token's tid check fails. */
    if (cfg->tenant_id && !strcasestr(info.issuer, cfg->tenant_id))
        printf("  warning: the issuer does not name tenant_id %s: is it this tenant's "
               "Directory (tenant) ID? Every token's tid must equal it\n",
               cfg->tenant_id);
    ok = show_keys(info.jwks_json, log);
    if (ok) {
        *issuer = strdup(info.issuer);
        ok = *issuer != NULL;
    }
out:
    free(doc_issuer);
    free(jwks_uri);
    extid_signing_info_free(&info);
    extid_http_response_free(&resp);
    if (open)
        extid_http_close(&http);
    free(url);
    return ok;
}

/* The app registration, without emailing anyone: Entra is asked to start a sign-in for an address
 * no tenant can hold. Its user_not_found proves that the tenant knows client_id and lets it use
 * native authentication; a refusal of the app names the setting to change. */
static bool check_client(const struct extid_config *cfg, const struct extid_log *log,
                         struct sink *sink)
{
    struct extid_http http = { 0 };
    struct extid_http_settings settings = extid_http_settings_of(cfg);
    struct extid_app app = extid_app_of(cfg, &http);
    enum extid_result rc = EXTID_UNAVAILABLE;

    printf("app registration %s:\n", cfg->client_id);
    /* Consent shows only at the end of a real login (--login), so it is said here. */
    printf("  permissions     delegated openid, profile%s, with admin consent (checked by "
           "--login only)\n",
           strcmp(cfg->identity_claim, "email") == 0 ? ", email" : "");
    sink->last_error[0] = '\0';
    if (extid_http_open(&http, &settings, log) == EXTID_OK) {
        rc = extid_na_check_client(&app);
        extid_http_close(&http);
    }
    if (rc == EXTID_OK) {
        printf("  ok: the tenant knows this client_id and allows it native authentication "
               "(asked about %s; no code was sent)\n",
               EXTID_PROBE_ADDRESS);
        return true;
    }
    if (rc == EXTID_CONFIG_ERR) {
        printf("  FAILED: %s\n", sink->last_error[0] ? sink->last_error : "refused by Entra");
        return false;
    }
    printf("  client_id not checked: %s\n",
           sink->last_error[0] ? sink->last_error : "no usable answer from Entra");
    return true;
}

/* The cache directory: without it the send throttle refuses every login; with the throttle
 * off, logins only lose the key cache. */
static bool check_cache_dir(const struct extid_config *cfg, const struct extid_log *log)
{
    printf("cache %s:\n", cfg->cache_dir);
    if (extid_cache_dir_check(cfg->cache_dir, log) == EXTID_OK) {
        printf("  ok\n");
        return true;
    }
    if (cfg->send_limit > 0 || cfg->fail_limit > 0) {
        printf("  FAILED: not usable (see the message above): with send_limit %d and fail_limit "
               "%d the send throttle and the failure budget keep their state there, so every "
               "login is refused\n",
               cfg->send_limit, cfg->fail_limit);
        return false;
    }
    printf("  warning: not usable (see the message above); logins will fetch the keys every "
           "time\n");
    return true;
}

/* A users file that maps only TRIAL_ACCOUNT to email, in a private directory; root-owned
 * when run as root, which the core requires. */
static char *trial_users_file(const char *email, char *dir_template)
{
    char *path = NULL;
    FILE *f = NULL;
    int fd = -1;

    if (!mkdtemp(dir_template))
        return NULL;
    if (asprintf(&path, "%s/users", dir_template) < 0) {
        path = NULL;
        goto fail;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w")))
        goto fail;
    fd = -1;
    fprintf(f, "%s %s\n", TRIAL_ACCOUNT, email);
    if (fclose(f) != 0) {
        f = NULL;
        goto fail;
    }
    return path;
fail:
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (path)
        unlink(path);
    free(path);
    rmdir(dir_template);
    return NULL;
}

/* Runs fn in a child process and waits for it with the terminal's signals ignored, so that the
 * caller cleans up (the temporary users file) however the child ends: Ctrl-C while it waits
 * for the network kills the child, not this process. The terminal's settings are put back if
 * the child dies by a signal in the middle of a prompt. */
static bool in_child(bool (*fn)(void *), void *arg)
{
    static const int sigs[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP };
    struct sigaction ignore = { .sa_handler = SIG_IGN }, old[sizeof sigs / sizeof sigs[0]];
    struct termios tty;
    bool have_tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &tty) == 0;
    int status = 0;
    pid_t pid;
    size_t i;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        printf("  FAILED: fork: %s\n", strerror(errno));
        return false;
    }
    if (pid == 0) {
        bool ok = fn(arg);
        fflush(NULL);
        _exit(ok ? 0 : EXIT_CHECK_FAILED);
    }
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &ignore, &old[i]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &old[i], NULL);
    if (WIFSIGNALED(status)) {
        if (have_tty)
            tcsetattr(STDIN_FILENO, TCSANOW, &tty);
        printf("\n  FAILED: interrupted (signal %d)\n", WTERMSIG(status));
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct trial {
    const struct extid_config *cfg;
    const struct extid_login_request *req;
    const struct extid_prompter *prompter;
    const struct extid_log *log;
    const char *issuer;
    const char *email;
    FILE *json; /* --json: where the result object goes; NULL without */
};

/* exp, nbf, iat and other NumericDate claims, in UTC as well. */
static bool is_time_claim(const char *name)
{
    return strcmp(name, "exp") == 0 || strcmp(name, "nbf") == 0 || strcmp(name, "iat") == 0
        || strcmp(name, "auth_time") == 0;
}

/* Every claim of the verified token, name and value, in the token's order: what an
 * administrator needs to see what the tenant really puts in it (email, roles, groups, ...). */
static void show_claims(const cJSON *claims)
{
    const cJSON *c;

    printf("  claims of the verified token:\n");
    cJSON_ArrayForEach(c, claims)
    {
        char *text =
            cJSON_IsString(c) ? extid_strip_controls(c->valuestring) : cJSON_PrintUnformatted(c);
        char when[64] = "";

        if (is_time_claim(c->string) && cJSON_IsNumber(c) && c->valuedouble >= 0
            && c->valuedouble < 253402300800.0) {
            time_t t = (time_t)c->valuedouble;
            struct tm tm;
            if (gmtime_r(&t, &tm))
                strftime(when, sizeof when, " (%Y-%m-%d %H:%M:%S UTC)", &tm);
        }
        printf("    %-18s %s%s\n", c->string, text ? text : "(out of memory)", when);
        free(text);
    }
}

/* {"result":"ok","login":EMAIL,"claims":{...}} on one line. */
static bool print_json_login(FILE *out, const char *email, const cJSON *claims)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    bool ok = o && cJSON_AddStringToObject(o, "result", "ok")
        && cJSON_AddStringToObject(o, "login", email)
        && cJSON_AddItemToObject(o, "claims",
                                 claims ? cJSON_Duplicate(claims, true) : cJSON_CreateObject());
    if (ok)
        text = cJSON_PrintUnformatted(o);
    if (text)
        fprintf(out, "%s\n", text);
    fflush(out);
    free(text);
    cJSON_Delete(o);
    return text != NULL;
}

static bool trial_login(void *arg)
{
    const struct trial *t = arg;
    const struct extid_config *cfg = t->cfg;
    cJSON *claims = NULL;
    struct extid_login_request req = *t->req;
    enum extid_result rc;
    bool ok = true;

    req.claims = &claims;
    rc = extid_login(cfg, &req, t->prompter, t->log);
    if (rc != EXTID_OK) {
        const struct sink *sink = t->log->ctx;
        printf("  FAILED: %s (the messages above say why)\n", extid_result_name(rc));
        if (sink->limited)
            printf("  hint: extid-check --reset %s clears what this host counts for the "
                   "address\n",
                   t->email);
        return false;
    }
    /* extid_login returned EXTID_OK only after every check below passed. */
    printf("  ok: the ID token was verified\n");
    printf("  signature       RS256, key from the tenant's (or the app's own) published key set\n");
    printf("  iss             %s\n", t->issuer);
    printf("  aud             %s\n", cfg->client_id);
    printf("  %-15s %s\n", cfg->identity_claim, t->email);
    printf("  tid             %s\n", cfg->tenant_id ? cfg->tenant_id : "(not checked)");
    printf("  exp, nbf, iat   within %ld s of this host's clock\n", cfg->clock_skew);
    show_claims(claims);
    if (t->json)
        ok = print_json_login(t->json, t->email, claims);
    cJSON_Delete(claims);
    return ok;
}

static bool run_login(const struct extid_config *cfg, const struct options *o, const char *issuer,
                      FILE *json, const struct extid_log *log)
{
    struct extid_config trial = *cfg; /* shallow: only users_file may change, never freed */
    struct extid_identities ids = { 0 };
    struct extid_terminal term = { .in = STDIN_FILENO, .out = stderr, .auto_email = o->login };
    struct extid_prompter prompter = {
        .ask = extid_terminal_ask,
        .show = extid_terminal_show,
        .ctx = &term,
    };
    struct extid_login_request req = { .service = "extid-check" };
    char dir[] = "/tmp/extid-check.XXXXXX";
    char *users = NULL;
    enum extid_result rc;
    bool ok = false;

    printf("login %s:\n", o->login);
    fflush(stdout);
    if (o->user) {
        /* The real users file decides, as in a PAM login; refused addresses never reach Entra. */
        const struct passwd *pw = getpwnam(o->user);
        rc = pw ? extid_users_lookup(cfg->users_file, o->user,
                                     extid_users_star_uid((unsigned long)pw->pw_uid), &ids, log)
                : EXTID_USER_UNKNOWN;
        if (rc != EXTID_OK || !extid_identities_allow(&ids, o->login)) {
            printf("  FAILED: %s may not open %s (see --user)\n", o->login, o->user);
            goto out;
        }
        req.account = o->user;
        req.star_ok = extid_users_star_uid((unsigned long)pw->pw_uid);
    } else {
        if (geteuid() != 0) {
            printf("  FAILED: --login without --user must run as root (it writes a private "
                   "users file the core accepts only from root)\n");
            goto out;
        }
        users = trial_users_file(o->login, dir);
        if (!users) {
            printf("  FAILED: cannot write a temporary users file: %s\n", strerror(errno));
            goto out;
        }
        trial.users_file = users;
        req.account = TRIAL_ACCOUNT;
    }
    {
        struct trial t = { &trial, &req, &prompter, log, issuer, o->login, json };
        ok = in_child(trial_login, &t);
    }
out:
    if (users) {
        unlink(users);
        rmdir(dir);
    }
    free(users);
    extid_identities_free(&ids);
    return ok;
}

/* --reset: what this host counts for the address (codes sent, wrong codes) is forgotten, for
 * an administrator who used up the limits while setting up. Entra's own lockout is not. */
static bool reset_address(const struct extid_config *cfg, const char *email,
                          const struct extid_log *log)
{
    printf("reset %s:\n", email);
    if (extid_address_reset(cfg->cache_dir, email, log) != EXTID_THROTTLE_GO) {
        printf("  FAILED: the state in %s could not be removed (see the message above)\n",
               cfg->cache_dir);
        return false;
    }
    printf("  ok: no codes sent and no wrong codes are counted for it any more\n");
    return true;
}

int main(int argc, char **argv)
{
    struct sink sink = { .last_error = "" };
    struct extid_log log = { .emit = emit, .ctx = &sink };
    struct extid_config cfg;
    struct options o;
    char *issuer = NULL;
    FILE *json = NULL;
    bool ok;
    int status;

    status = parse_options(argc, argv, &o);
    if (status != 0)
        return status;
    if (o.json) {
        /* stdout carries the JSON object alone; the report goes to stderr. */
        int fd = dup(STDOUT_FILENO);
        json = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!json || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
            fprintf(stderr, "extid-check: --json: %s\n", strerror(errno));
            return EXIT_CHECK_FAILED;
        }
    }
    memset(&cfg, 0, sizeof cfg);
    if (load_config(&o, &cfg, &log) != EXTID_OK) {
        printf("config: FAILED (the messages above give file and line)\n");
        if (json) {
            fprintf(json, "{\"result\":\"failed\"}\n");
            fclose(json);
        }
        return EXIT_CHECK_FAILED;
    }
    log.debug = cfg.debug;
    if (o.reset) {
        ok = reset_address(&cfg, o.reset, &log);
    } else {
        show_config(&cfg);
        ok = check_users_file(&cfg, &log);
        ok = check_cache_dir(&cfg, &log) && ok;
        if (o.user)
            ok = check_account(&cfg, o.user, o.email, &log) && ok;
        if (!o.offline)
            ok = check_tenant(&cfg, &log, &sink, &issuer) && ok;
        /* --login proves the app registration itself, with a real code. */
        if (!o.offline && !o.login)
            ok = check_client(&cfg, &log, &sink) && ok;
        if (o.login && ok)
            ok = run_login(&cfg, &o, issuer, json, &log);
    }
    printf("result: %s\n", ok ? "ok" : "FAILED");
    /* A login that passed has written its object, claims and all. */
    if (json && !(o.login && ok))
        fprintf(json, "{\"result\":\"%s\"%s}\n", ok ? "ok" : "failed",
                o.login ? ",\"claims\":null" : "");
    if (json)
        fclose(json);
    free(issuer);
    extid_config_free(&cfg);
    return ok ? 0 : EXIT_CHECK_FAILED;
}
