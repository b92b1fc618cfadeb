/* The whole login, extid_login_with, against the fake tenant of the unit tests, with the person's
 * answers and the tenant's answers taken from the input, and with one allocation made to fail.
 *
 * Input: two bytes (big-endian) choose the allocation to fail, counted from the start of the
 * login (0: none); a settings byte: bit 0 the account (a single address, or *@domain so that the
 * address is asked for), bit 1 not a local account, bit 2 unmapped=ignore, bit 3 the signing
 * keys cannot be had, bits 4-5 max_attempts - 1, bits 6-7 max_resends; a byte with the number of
 * the person's answers (bit 7: early_connect = no); then lines: the person's answers first,
 * every further line forces one answer of the tenant: its first byte picks the endpoint and
 * status, the rest is the body.
 *
 * Built with -Wl,--wrap for malloc, calloc, realloc, strdup and strndup (see the Makefile), and
 * cJSON's and OpenSSL's allocations go through the same counter, so that every path that runs out
 * of memory is walked: it must neither crash, leak nor grant the login. */
#include <unistd.h>
#include <openssl/crypto.h>

#include "../unit/fake_entra.h"
#include "../unit/token_fixture.h"
#include "fuzz.h"
#include "login.h"

#define ANSWERS 6
#define FUZZ_CODE "12345678"

/* ---- failing allocations ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* Allocations left before the one that fails; 0: none fails. The fuzzer runs one input at a
 * time on one thread. */
static unsigned long alloc_countdown;

static bool fail_now(void)
{
    if (alloc_countdown == 0)
        return false;
    return --alloc_countdown == 0;
}

void *__wrap_malloc(size_t size)
{
    return fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return fail_now() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
    return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return fail_now() ? NULL : __real_strndup(s, n);
}

static void *ossl_malloc(size_t size, const char *file, int line)
{
    (void)file;
    (void)line;
    return __wrap_malloc(size);
}

static void *ossl_realloc(void *p, size_t size, const char *file, int line)
{
    (void)file;
    (void)line;
    return __wrap_realloc(p, size);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

/* ---- the person ---- */

struct person {
    char *answers[ANSWERS];
    int count, asked;
};

static enum extid_result person_ask(void *ctx, bool echo, const char *prompt, char **answer)
{
    struct person *p = ctx;

    (void)echo;
    if (strlen(prompt) == 0)
        abort(); /* every question says what it asks */
    if (p->asked >= p->count)
        return EXTID_CONV_ERR;
    *answer = strdup(p->answers[p->asked++]);
    return *answer ? EXTID_OK : EXTID_CONV_ERR;
}

static void person_show(void *ctx, bool error, const char *msg)
{
    (void)ctx;
    (void)error;
    if (!msg || strlen(msg) == 0)
        abort();
}

/* ---- harness state, made once ---- */

static char dir[64], users[128];
static char *jwks, *token;

/* The throwaway directory goes when the fuzzer exits. */
static void remove_dir(void)
{
    unlink(users);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char text[] = "fzalice alice@contoso.com\nfzkiosk *@contoso.com\n";
    EVP_PKEY *key;
    cJSON *claims;
    time_t now = time(NULL);
    FILE *f;

    (void)argc;
    (void)argv;
    /* Before OpenSSL allocates anything, or it keeps its own allocator. */
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free))
        abort();
    cJSON_Hooks hooks = { .malloc_fn = __wrap_malloc, .free_fn = free };
    cJSON_InitHooks(&hooks);

    snprintf(dir, sizeof dir, "/tmp/fuzz_login-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(users, sizeof users, "%s/users", dir);
    atexit(remove_dir);
    f = fopen(users, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
    key = fx_key(FX_KEY_A_PEM);
    if (!key)
        abort();
    jwks = fx_jwks(fx_jwk(key, FX_KID), (cJSON *)NULL);
    claims = fx_claims();
    /* Valid for a day from now, so that long fuzzing runs keep reaching the claim checks. */
    fx_set(claims, "iat", cJSON_CreateNumber((double)now - 60));
    fx_set(claims, "nbf", cJSON_CreateNumber((double)now - 60));
    fx_set(claims, "exp", cJSON_CreateNumber((double)now + 86400));
    token = fx_token(fx_header(FX_KID), claims, key);
    EVP_PKEY_free(key);
    if (!jwks || !token)
        abort();
    return 0;
}

static const long statuses[] = { 200, 200, 200, 400, 400, 401, 429, 500, 503, 302 };

/* A line forcing the tenant's next answer at one endpoint. */
static void force(struct fake_entra *tenant, int *forced, const char *line)
{
    unsigned char b = (unsigned char)line[0];
    enum fake_call call = (enum fake_call)(b % FAKE_CALLS);
    int i = forced[call];

    if (!b || i >= FAKE_FORCED)
        return;
    tenant->forced[call][i].status = statuses[(b >> 2) % (sizeof statuses / sizeof statuses[0])];
    tenant->forced[call][i].body = line + 1;
    forced[call]++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0;
    struct extid_log log = fuzz_log(&total);
    struct fake_entra tenant = {
        .code = FUZZ_CODE,
        .id_token = token,
        .issuer = FX_ISSUER,
        .jwks = jwks,
    };
    struct extid_transport transport = fake_transport(&tenant);
    struct person person = { 0 };
    struct extid_prompter prompter = { .ask = person_ask, .show = person_show, .ctx = &person };
    struct extid_config cfg = {
        .authority = "https://contoso.ciamlogin.com/" FX_TENANT,
        .client_id = FX_CLIENT,
        .tenant_id = FX_TENANT,
        .users_file = users,
        .timeout = 10,
        .identity_claim = "preferred_username",
        .clock_skew = 300,
        .cache_dir = dir,
        .jwks_ttl = 3600,
    };
    struct extid_login_request req = { .service = "fuzz", .star_ok = true };
    char *lines[ANSWERS + 3 * FAKE_FORCED] = { 0 };
    int forced[FAKE_CALLS] = { 0 };
    size_t nlines = 0;
    const uint8_t *rest;
    size_t rest_size;
    unsigned long fail_at;
    uint8_t settings;
    enum extid_result rc;

    if (size < 4)
        return 0;
    fail_at = ((unsigned long)data[0] << 8) | data[1];
    settings = data[2];
    req.account = settings & 1 ? "fzkiosk" : "fzalice";
    req.not_local = settings & 2;
    cfg.unmapped = settings & 4 ? EXTID_UNMAPPED_IGNORE : EXTID_UNMAPPED_DENY;
    if (settings & 8)
        tenant.keys_rc = EXTID_UNAVAILABLE;
    cfg.max_attempts = 1 + ((settings >> 4) & 3);
    cfg.max_resends = settings >> 6;

    rest = data + 4;
    rest_size = size - 4;
    while (rest_size > 0 && nlines < sizeof lines / sizeof lines[0])
        lines[nlines++] = fuzz_first_line(rest, rest_size, 4096, &rest, &rest_size);
    cfg.early_connect = !(data[3] & 0x80);
    person.count = (data[3] & 0x7f) % (ANSWERS + 1);
    if ((size_t)person.count > nlines)
        person.count = (int)nlines;
    for (int i = 0; i < person.count; i++)
        person.answers[i] = lines[i];
    for (size_t i = (size_t)person.count; i < nlines; i++)
        force(&tenant, forced, lines[i]);

    alloc_countdown = fail_at;
    rc = extid_login_with(&transport, &cfg, &req, &prompter, &log);
    alloc_countdown = 0;

    /* Fail closed: a granted login had the right code accepted by /token, on a session that was
     * closed again, and the core's internal signals never come out. */
    if (tenant.opens != tenant.closes)
        abort();
    if (rc == EXTID_OK
        && (tenant.calls[FAKE_TOKEN] == 0
            || (strcmp(tenant.last_code, FUZZ_CODE) != 0 && !tenant.last_forced[FAKE_TOKEN])))
        abort();
    if (rc < EXTID_OK || rc > EXTID_SYSTEM_ERR)
        abort();
    for (size_t i = 0; i < nlines; i++)
        free(lines[i]);
    return 0;
}
