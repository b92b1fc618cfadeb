/* pam_extid.conf and module arguments, as pam_extid.conf(5) documents them. */
#ifndef EXTID_CONFIG_H
#define EXTID_CONFIG_H

#include <stdbool.h>
#include "log.h"
#include "result.h"

#define EXTID_CONFIG_DIR "/etc/security"
#define EXTID_DEFAULT_CONFIG EXTID_CONFIG_DIR "/pam_extid.conf"
#define EXTID_DEFAULT_USERS EXTID_CONFIG_DIR "/pam_extid.users"
#define EXTID_DEFAULT_CACHE_DIR "/var/cache/pam_extid"

enum extid_unmapped { EXTID_UNMAPPED_DENY, EXTID_UNMAPPED_IGNORE };

/* Sign-in methods offered to Entra (the `methods` key); Entra picks the account's. */
#define EXTID_METHOD_OTP 1u      /* a code emailed to the address */
#define EXTID_METHOD_PASSWORD 2u /* the account's password */

struct extid_config {
    char *config_file; /* the file that was read (default or config=) */
    char *authority;   /* https:// base URL, no trailing slash */
    char *client_id;
    char *tenant_id; /* NULL: tid not checked */
    char *users_file;
    char *ca_file; /* NULL: system store */
    char *proxy;   /* NULL: none */
    long timeout;  /* seconds per HTTP request */
    int max_attempts;
    int max_resends;
    char *identity_claim; /* "preferred_username" or "email" */
    long clock_skew;      /* seconds */
    char *cache_dir;
    long jwks_ttl;    /* seconds */
    int send_limit;   /* codes per identity per send_window; 0: no limit */
    long send_window; /* seconds */
    long send_gap;    /* seconds required between two codes to one identity */
    int fail_limit;   /* wrong secrets per identity per send_window; 0: no limit */
    enum extid_unmapped unmapped;
    bool export_env;    /* the verified identity goes into the PAM environment */
    unsigned methods;   /* EXTID_METHOD_* bits, at least one */
    bool early_connect; /* connect to Entra while the address is typed */
    bool debug;
};

/* Fills cfg with defaults, then the config file (config=PATH among argv, else the default path),
 * then argv key=value overrides (argv wins). A missing default file is not an error when argv
 * supplies the required keys; a config= file that is missing is. Checks: unknown keys, malformed
 * or out-of-range values, authority not https://, missing client_id or authority/tenant, unsafe
 * file (see safefile.h). Every error is logged with file:line (or "argument N") and returns
 * EXTID_CONFIG_ERR; cfg is then freed. `log` may have debug turned on by the result. */
enum extid_result extid_config_load(struct extid_config *cfg, int argc, const char **argv,
                                    const struct extid_log *log);
void extid_config_free(struct extid_config *cfg);

#endif
