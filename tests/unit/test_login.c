/* The login pipeline against a fake Entra (fake_entra.h): no libpam, no HTTPS. Each test runs
 * extid_login_with over a scripted person and tenant and checks the result, what the person was
 * shown and which requests went out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_entra.h"
#include "login.h"
#include "token_fixture.h"
#include "unit_fixture.h"

#define ANSWERS 8

/* The person: answers in order, then the conversation fails. */
struct person {
    const char *answers[ANSWERS];
    int asked;
    char prompts[2048];
    char shown[2048];
};

struct fixture {
    struct ufx_dir d; /* first: ufx_dir_new */
    struct extid_config cfg;
    char users[320];
    struct fake_entra tenant;
    struct person person;
    struct extid_login_request req;
    struct fx_keys *keys;
    char *jwks;
    char *token;
};

static void append(char *buf, size_t size, const char *line)
{
    size_t len = strlen(buf);

    snprintf(buf + len, size - len, "%s\n", line);
}

static enum extid_result person_ask(void *ctx, bool echo, const char *prompt, char **answer)
{
    struct person *p = ctx;

    (void)echo;
    append(p->prompts, sizeof p->prompts, prompt);
    if (p->asked >= ANSWERS || !p->answers[p->asked])
        return EXTID_CONV_ERR;
    *answer = strdup(p->answers[p->asked++]);
    return *answer ? EXTID_OK : EXTID_SYSTEM_ERR;
}

static void person_show(void *ctx, bool error, const char *msg)
{
    struct person *p = ctx;

    (void)error;
    append(p->shown, sizeof p->shown, msg);
}

/* The claims Entra would put in a token for email now. */
static cJSON *claims_now(const char *email)
{
    cJSON *claims = fx_claims();
    time_t now = time(NULL);

    fx_set(claims, "iat", cJSON_CreateNumber((double)now - 60));
    fx_set(claims, "nbf", cJSON_CreateNumber((double)now - 60));
    fx_set(claims, "exp", cJSON_CreateNumber((double)now + 3540));
    fx_set(claims, "preferred_username", cJSON_CreateString(email));
    return claims;
}

/* A token Entra would issue for email now, signed by key with kid. */
static char *make_token(EVP_PKEY *key, const char *kid, const char *email)
{
    return fx_token(fx_header(kid), claims_now(email), key);
}

/* The same with an app-role claim, as a tenant with role assignments issues it. */
static char *make_token_roles(EVP_PKEY *key, const char *email, const char *role)
{
    cJSON *claims = claims_now(email);

    fx_set(claims, "roles", cJSON_CreateStringArray(&role, 1));
    return fx_token(fx_header(FX_KID), claims, key);
}

static void write_users(struct fixture *f, const char *text)
{
    unlink(f->users);
    ufx_write_file(f->users, text, strlen(text), 0, 0644);
}

static int setup(void **state)
{
    struct fixture *f = ufx_dir_new(sizeof *f, true);
    struct fx_keys *keys = NULL;
    void *k = NULL;

    assert_int_equal(fx_keys_setup(&k), 0);
    keys = k;
    f->keys = keys;
    snprintf(f->users, sizeof f->users, "%s/users", f->d.dir);
    write_users(f, "extidalice " FX_EMAIL "\nextidkiosk *@contoso.com\n");
    f->cfg = (struct extid_config){
        .authority = "https://contoso.ciamlogin.com/" FX_TENANT,
        .client_id = FX_CLIENT,
        .tenant_id = FX_TENANT,
        .users_file = f->users,
        .timeout = 10,
        .max_attempts = 3,
        .max_resends = 1,
        .identity_claim = "preferred_username",
        .clock_skew = 300,
        .cache_dir = f->d.dir,
        .jwks_ttl = 3600,
        .unmapped = EXTID_UNMAPPED_DENY,
        .early_connect = true,
    };
    f->jwks = fx_jwks(fx_jwk(keys->a, FX_KID), NULL);
    f->token = make_token(keys->a, FX_KID, FX_EMAIL);
    f->tenant = (struct fake_entra){
        .code = "12345678",
        .id_token = f->token,
        .issuer = FX_ISSUER,
        .jwks = f->jwks,
    };
    f->req = (struct extid_login_request){ .account = "extidalice", .service = "unit" };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    void *k = f->keys;

    fx_keys_teardown(&k);
    free(f->jwks);
    free(f->token);
    ufx_dir_free(&f->d);
    return 0;
}

/* Runs one login; every session opened must have been closed by the time it returns. */
static enum extid_result login(struct fixture *f)
{
    struct extid_transport t = fake_transport(&f->tenant);
    struct extid_prompter prompter = { .ask = person_ask, .show = person_show, .ctx = &f->person };
    enum extid_result rc = extid_login_with(&t, &f->cfg, &f->req, &prompter, &f->d.log);

    assert_int_equal(f->tenant.opens, f->tenant.closes);
    /* Internal signals never leave the core. */
    assert_true(rc >= EXTID_OK && rc <= EXTID_SYSTEM_ERR);
    return rc;
}

static void say(struct fixture *f, const char *a, const char *b, const char *c, const char *d)
{
    const char *all[] = { a, b, c, d };

    memset(&f->person, 0, sizeof f->person);
    for (int i = 0; i < 4; i++)
        f->person.answers[i] = all[i];
}

static void test_happy_path(void **state)
{
    struct fixture *f = *state;

    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    assert_string_equal(f->tenant.email, FX_EMAIL);
    assert_int_equal(f->tenant.calls[FAKE_INITIATE], 1);
    assert_int_equal(f->tenant.calls[FAKE_CHALLENGE], 1);
    assert_int_equal(f->tenant.calls[FAKE_TOKEN], 1);
    assert_int_equal(f->tenant.prepares, 0); /* the address was known: nothing to get ready */
    assert_string_equal(
        f->person.prompts,
        "Code emailed to a***e@c***o.com (8 digits; empty line for a new code): \n");
    assert_string_equal(f->person.shown, "");
    assert_logged(&f->d.cap, "login granted: user=extidalice email=" FX_EMAIL);
}

/* A token signed by the app's own key (claims mapping): the tenant's set, refreshed once, lacks
 * it; the app's set (discovery ?appid=) has it, and the log says which verified. The verified
 * claims reach a caller that asks for them. */
static void test_app_signing_key(void **state)
{
    struct fixture *f = *state;
    cJSON *claims = NULL;
    char *app_jwks = fx_jwks(fx_jwk(f->keys->b, "app-key"), NULL);

    free(f->token);
    f->token = make_token(f->keys->b, "app-key", FX_EMAIL);
    f->tenant.id_token = f->token;
    f->tenant.app_jwks = app_jwks;
    f->req.claims = &claims;
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    assert_int_equal(f->tenant.key_fetches, 2);     /* before the code, then the one refresh */
    assert_int_equal(f->tenant.app_key_fetches, 1); /* fresh already: not fetched again */
    assert_logged(&f->d.cap,
                  "ID token verified with the app's own signing key (from "
                  "https://fake.invalid/keys?appid=fake), not one of the tenant's");
    assert_non_null(claims);
    assert_string_equal(cJSON_GetObjectItem(claims, "preferred_username")->valuestring, FX_EMAIL);
    cJSON_Delete(claims);
    claims = (cJSON *)f; /* poison: a refusal must reset it */

    /* A key in neither set: refused, and no claims handed out. */
    f->tenant.app_jwks = NULL;
    f->tenant.key_fetches = f->tenant.app_key_fetches = 0;
    ufx_log_clear(&f->d.cap);
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_AUTH_ERR);
    assert_int_equal(f->tenant.app_key_fetches, 1);
    assert_logged(&f->d.cap, "ID token signed by a key neither the tenant nor the app publishes");
    assert_null(claims);
    free(app_jwks);
}

static void test_typed_address(void **state)
{
    struct fixture *f = *state;

    free(f->token);
    f->token = make_token(f->keys->a, FX_KID, "bob@contoso.com");
    f->tenant.id_token = f->token;
    f->req.account = "extidkiosk";
    say(f, "  bob@contoso.com ", "12345678", NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    assert_int_equal(f->tenant.prepares, 1);
    assert_string_equal(f->tenant.email, "bob@contoso.com");
    assert_non_null(strstr(f->person.prompts, "Email address for extidkiosk: "));

    /* early_connect = no: the same login, without a connection got ready during the prompt. */
    f->cfg.early_connect = false;
    f->tenant.prepares = 0;
    say(f, "bob@contoso.com", "12345678", NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    assert_int_equal(f->tenant.prepares, 0);
    assert_string_equal(f->tenant.email, "bob@contoso.com");
}

static void test_wrong_code_then_right(void **state)
{
    struct fixture *f = *state;

    say(f, "00000000", "12345678", NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    assert_int_equal(f->tenant.calls[FAKE_TOKEN], 2);
    assert_string_equal(f->person.shown, "Wrong code, try again.\n");
    assert_logged(&f->d.cap, "code entry 1 of 3: wrong code");
}

static void test_max_attempts(void **state)
{
    struct fixture *f = *state;

    say(f, "00000000", "1234", "11111111", "12345678");
    assert_int_equal(login(f), EXTID_MAXTRIES);
    assert_int_equal(f->person.asked, 3); /* the fourth, right, code was never asked for */
    assert_int_equal(f->tenant.calls[FAKE_TOKEN], 2); /* the short one was not sent */
    assert_string_equal(f->person.shown,
                        "Wrong code, try again.\nThe code is 8 digits.\nToo many wrong codes.\n");
    /* One audit line, with the result in it. */
    assert_logged(&f->d.cap,
                  "login refused: user=extidalice email=alice@contoso.com rhost=- service=unit "
                  "result=maxtries");
    assert_not_logged(&f->d.cap, "login result for");
}

static void test_resend(void **state)
{
    struct fixture *f = *state;

    say(f, "", "12345678", NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    assert_int_equal(f->tenant.calls[FAKE_CHALLENGE], 2);
    /* One resend allowed: the second prompt no longer offers one. */
    assert_non_null(strstr(f->person.prompts, "(8 digits): \n"));
    assert_logged(&f->d.cap, "new code sent on request (1 of 1)");
}

static void test_resend_refused_keeps_code(void **state)
{
    struct fixture *f = *state;

    f->tenant.forced[FAKE_CHALLENGE][1] = (struct fake_answer){ 503, "{}" };
    say(f, "", "12345678", NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    assert_string_equal(f->person.shown,
                        "No new code could be sent now; enter the code already sent.\n");
}

static void test_redirect(void **state)
{
    struct fixture *f = *state;

    f->tenant.forced[FAKE_CHALLENGE][0] =
        (struct fake_answer){ 200, "{\"challenge_type\":\"redirect\"}" };
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_AUTH_ERR);
    assert_int_equal(f->person.asked, 0);
    assert_int_equal(f->tenant.calls[FAKE_TOKEN], 0);
    assert_string_equal(f->person.shown, "Authentication failed.\n");
}

static void test_unavailable(void **state)
{
    struct fixture *f = *state;

    f->tenant.forced[FAKE_INITIATE][0] = (struct fake_answer){ 503, "" };
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_UNAVAILABLE);
    assert_int_equal(f->tenant.calls[FAKE_CHALLENGE], 0);
    assert_string_equal(f->person.shown,
                        "The sign-in service cannot be reached; try again later.\n");
}

static void test_session_cannot_open(void **state)
{
    struct fixture *f = *state;

    f->tenant.open_rc = EXTID_UNAVAILABLE;
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_UNAVAILABLE);
    assert_int_equal(f->tenant.closes, 0);
    assert_int_equal(f->person.asked, 0);
}

static void test_address_refused_before_any_request(void **state)
{
    static const char *const typed[] = { "mallory@evil.example", "not an address", "" };
    struct fixture *f = *state;

    f->req.account = "extidkiosk";
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
        memset(f->tenant.calls, 0, sizeof f->tenant.calls);
        f->tenant.key_fetches = 0;
        say(f, typed[i], "12345678", NULL, NULL);
        assert_int_equal(login(f), EXTID_AUTH_ERR);
        assert_int_equal(f->tenant.calls[FAKE_INITIATE] + f->tenant.calls[FAKE_CHALLENGE]
                             + f->tenant.calls[FAKE_TOKEN] + f->tenant.key_fetches,
                         0);
        assert_string_equal(f->person.shown, "Authentication failed.\n");
    }
}

static void test_conversation_failure(void **state)
{
    struct fixture *f = *state;

    say(f, NULL, NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_CONV_ERR);
    assert_int_equal(f->tenant.calls[FAKE_TOKEN], 0);
    assert_string_equal(f->person.shown, ""); /* nobody is left to tell */
    f->req.account = "extidkiosk";
    assert_int_equal(login(f), EXTID_CONV_ERR);
    assert_int_equal(f->tenant.calls[FAKE_INITIATE], 1); /* only the first login's */
}

static void test_unlisted_account(void **state)
{
    struct fixture *f = *state;

    f->req.account = "extidnobody";
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_USER_UNKNOWN);
    assert_int_equal(f->tenant.opens, 0);
    assert_string_equal(f->person.shown, "Authentication failed.\n");

    /* unmapped=ignore: nothing shown, nothing audited, the next module decides. */
    f->cfg.unmapped = EXTID_UNMAPPED_IGNORE;
    ufx_log_clear(&f->d.cap);
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_IGNORE);
    assert_string_equal(f->person.shown, "");
    assert_not_logged(&f->d.cap, "login refused");

    f->req.account = "extidalice";
    f->req.not_local = true;
    assert_int_equal(login(f), EXTID_IGNORE);
    assert_int_equal(f->tenant.opens, 0);
}

static void test_throttle_refuses_before_initiate(void **state)
{
    struct fixture *f = *state;

    f->cfg.send_limit = 1;
    f->cfg.send_window = 3600;
    f->cfg.send_gap = 0;
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_AUTH_ERR);
    assert_int_equal(f->tenant.calls[FAKE_INITIATE], 1);
    assert_non_null(strstr(f->person.shown, "Too many codes were sent to this address; wait"));
    assert_null(strstr(f->person.shown, "Authentication failed."));
    assert_logged(&f->d.cap, "service=unit result=auth_err");
}

/* A requirement is checked after the token: met, it grants; missing, it refuses like any
 * other cause, after the same three requests. */
static void test_requirement_after_the_token(void **state)
{
    struct fixture *f = *state;
    char *with_role = make_token_roles(f->keys->a, FX_EMAIL, "Linux.Ops");

    write_users(f, "extidalice " FX_EMAIL " role:Linux.Ops\n");
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_AUTH_ERR); /* the fixture's token has no roles */
    assert_int_equal(f->tenant.calls[FAKE_TOKEN], 1);
    assert_logged(&f->d.cap, "does not grant " FX_EMAIL ": the token has none of role:Linux.Ops");
    assert_string_equal(f->person.shown, "Authentication failed.\n");
    assert_null(strstr(f->d.cap.buf, "login granted"));

    f->tenant = (struct fake_entra){
        .code = "12345678",
        .id_token = with_role,
        .issuer = FX_ISSUER,
        .jwks = f->jwks,
    };
    ufx_log_clear(&f->d.cap);
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    assert_logged(&f->d.cap, "users:1 grants " FX_EMAIL " (role:Linux.Ops)");
    free(with_role);
}

/* export_env: the variables come out of a successful login only. */
static void test_env_only_on_success(void **state)
{
    struct fixture *f = *state;
    struct extid_env env = { 0 };

    f->cfg.export_env = true;
    f->req.env = &env;
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    assert_int_equal(env.count, 4);
    assert_string_equal(env.vars[0], "EXTID_EMAIL=" FX_EMAIL);
    assert_string_equal(env.vars[2], "EXTID_TID=" FX_TENANT);
    extid_env_free(&env);

    say(f, "00000000", "00000000", "00000000", NULL);
    assert_int_equal(login(f), EXTID_MAXTRIES);
    assert_int_equal(env.count, 0);

    f->cfg.export_env = false;
    say(f, "12345678", NULL, NULL, NULL);
    assert_int_equal(login(f), EXTID_OK);
    assert_int_equal(env.count, 0);
}

/* Every way the tenant or the token can go wrong ends in a refusal, never EXTID_OK. */
static void test_no_error_path_returns_ok(void **state)
{
    struct fixture *f = *state;
    char *other = make_token(f->keys->b, "key-b", FX_EMAIL);
    char *wrong_user = make_token(f->keys->a, FX_KID, "mallory@contoso.com");
    const struct {
        const char *what;
        enum fake_call call;
        struct fake_answer answer;
        const char *id_token;
        enum extid_result keys_rc;
        enum extid_result want;
    } cases[] = {
        { "initiate 200 without token", FAKE_INITIATE, { 200, "{}" }, NULL, 0, EXTID_UNAVAILABLE },
        { "initiate not JSON", FAKE_INITIATE, { 200, "<html>" }, NULL, 0, EXTID_UNAVAILABLE },
        { "user_not_found",
          FAKE_INITIATE,
          { 400, "{\"error\":\"user_not_found\"}" },
          NULL,
          0,
          EXTID_AUTH_ERR },
        { "invalid_client",
          FAKE_CHALLENGE,
          { 400, "{\"error\":\"invalid_client\"}" },
          NULL,
          0,
          EXTID_CONFIG_ERR },
        { "password account",
          FAKE_CHALLENGE,
          { 200, "{\"challenge_type\":\"password\",\"continuation_token\":\"c\"}" },
          NULL,
          0,
          EXTID_AUTH_ERR },
        { "token 200 without id_token",
          FAKE_TOKEN,
          { 200, "{\"token_type\":\"Bearer\"}" },
          NULL,
          0,
          EXTID_AUTH_ERR },
        { "token expired_token",
          FAKE_TOKEN,
          { 400, "{\"error\":\"expired_token\"}" },
          NULL,
          0,
          EXTID_AUTH_ERR },
        { "token 429", FAKE_TOKEN, { 429, "" }, NULL, 0, EXTID_UNAVAILABLE },
        { "token from an unpublished key", FAKE_CALLS, { 0, NULL }, other, 0, EXTID_AUTH_ERR },
        { "token for another address", FAKE_CALLS, { 0, NULL }, wrong_user, 0, EXTID_AUTH_ERR },
        { "token not a JWT", FAKE_CALLS, { 0, NULL }, "not-a-token", 0, EXTID_AUTH_ERR },
        { "no signing keys", FAKE_CALLS, { 0, NULL }, NULL, EXTID_UNAVAILABLE, EXTID_UNAVAILABLE },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(f->tenant.forced, 0, sizeof f->tenant.forced);
        memset(f->tenant.calls, 0, sizeof f->tenant.calls);
        if (cases[i].call != FAKE_CALLS)
            f->tenant.forced[cases[i].call][0] = cases[i].answer;
        f->tenant.id_token = cases[i].id_token ? cases[i].id_token : f->token;
        f->tenant.keys_rc = cases[i].keys_rc;
        say(f, "12345678", "12345678", "12345678", "12345678");
        enum extid_result rc = login(f);
        if (rc != cases[i].want)
            fail_msg("%s: %s, wanted %s", cases[i].what, extid_result_name(rc),
                     extid_result_name(cases[i].want));
        assert_null(strstr(f->person.shown, "granted"));
    }
    free(other);
    free(wrong_user);
}

/* ---- password and second factor ---- */

#define PW "Right-passw0rd-SECRET"
#define EMAIL_METHOD                                                                               \
    "{\"id\":\"m-email\",\"challenge_type\":\"oob\","                                              \
    "\"challenge_channel\":\"email\",\"login_hint\":\"a***e@c***o.com\"}"
#define SMS_METHOD                                                                                 \
    "{\"id\":\"m-sms\",\"challenge_type\":\"oob\","                                                \
    "\"challenge_channel\":\"sms\",\"login_hint\":\"+1555****42\"}"

static void say_all(struct fixture *f, const char *const *answers, int n)
{
    memset(&f->person, 0, sizeof f->person);
    for (int i = 0; i < n && i < ANSWERS; i++)
        f->person.answers[i] = answers[i];
}

#define SAY(f, ...)                                                                                \
    say_all(f, (const char *const[]){ __VA_ARGS__ },                                               \
            (int)(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)))

/* The password never reaches a log line, a prompt or a message. */
static void assert_password_kept(struct fixture *f)
{
    assert_null(strstr(f->d.cap.buf, PW));
    assert_null(strstr(f->d.cap.buf, "Wrong-one"));
    assert_null(strstr(f->person.prompts, PW));
    assert_null(strstr(f->person.shown, PW));
}

static void password_account(struct fixture *f, const char *methods)
{
    f->cfg.methods = EXTID_METHOD_OTP | EXTID_METHOD_PASSWORD;
    f->cfg.debug = true;
    f->d.log.debug = true;
    f->tenant.password = PW;
    f->tenant.methods = methods;
}

static void test_password(void **state)
{
    struct fixture *f = *state;

    password_account(f, NULL);
    SAY(f, "Wrong-one", PW);
    assert_int_equal(login(f), EXTID_OK);
    assert_string_equal(f->person.prompts,
                        "Password for " FX_EMAIL ": \n"
                        "Password for " FX_EMAIL ": \n");
    assert_string_equal(f->person.shown, "Wrong password, try again.\n");
    assert_int_equal(f->tenant.passwords_sent, 2);
    assert_int_equal(f->tenant.calls[FAKE_CHALLENGE], 1);
    assert_int_equal(f->tenant.calls[FAKE_INTROSPECT], 0);
    assert_logged(&f->d.cap, "password entry 1 of 3: wrong password");
    assert_logged(&f->d.cap, "login granted: user=extidalice");
    assert_password_kept(f);
}

static void test_password_max_attempts(void **state)
{
    struct fixture *f = *state;

    password_account(f, NULL);
    SAY(f, "Wrong-one", "", "Wrong-one", PW);
    assert_int_equal(login(f), EXTID_MAXTRIES);
    assert_int_equal(f->person.asked, 3);
    assert_int_equal(f->tenant.passwords_sent, 2); /* the empty one was not sent */
    assert_string_equal(f->person.shown,
                        "Wrong password, try again.\n"
                        "Wrong password, try again.\n"
                        "Too many wrong passwords.\n");
    assert_logged(&f->d.cap, "password entry 2 of 3: empty, not sent");
    assert_password_kept(f);
}

static void test_password_not_offered(void **state)
{
    struct fixture *f = *state;

    password_account(f, NULL);
    f->cfg.methods = EXTID_METHOD_OTP; /* Entra should have answered redirect */
    SAY(f, PW);
    assert_int_equal(login(f), EXTID_AUTH_ERR);
    assert_int_equal(f->person.asked, 0);
    assert_int_equal(f->tenant.calls[FAKE_TOKEN], 0);
    assert_logged(&f->d.cap,
                  "the account signs in with a password, which methods does not "
                  "offer");
}

static void test_password_then_emailed_code(void **state)
{
    struct fixture *f = *state;

    password_account(f, "[" EMAIL_METHOD "]");
    SAY(f, PW, "000000", "654321");
    assert_int_equal(login(f), EXTID_OK);
    assert_string_equal(
        f->person.prompts,
        "Password for " FX_EMAIL ": \n"
        "Code emailed to a***e@c***o.com (6 digits; empty line for a new code): \n"
        "Code emailed to a***e@c***o.com (6 digits; empty line for a new code): \n");
    assert_string_equal(f->person.shown, "Wrong code, try again.\n");
    assert_string_equal(f->tenant.method_id, "m-email");
    assert_int_equal(f->tenant.calls[FAKE_INTROSPECT], 1);
    assert_int_equal(f->tenant.calls[FAKE_CHALLENGE], 2);
    assert_int_equal(f->tenant.second_codes_sent, 2);
    assert_int_equal(f->tenant.passwords_sent, 1);
    assert_password_kept(f);
}

static void test_second_factor_choice(void **state)
{
    struct fixture *f = *state;

    password_account(f, "[" EMAIL_METHOD "," SMS_METHOD "]");
    SAY(f, PW, "3", "2", "654321");
    assert_int_equal(login(f), EXTID_OK);
    assert_non_null(strstr(f->person.prompts,
                           "Second factor for " FX_EMAIL ": 1) email to a***e@c***o.com, "
                           "2) text message to +1555****42. Choose 1-2: \n"));
    assert_non_null(strstr(f->person.prompts,
                           "Code texted to +1555****42 (6 digits; empty line for a new code): "));
    assert_string_equal(f->person.shown, "Answer with one of the numbers.\n");
    assert_string_equal(f->tenant.method_id, "m-sms");
    assert_int_equal(f->tenant.calls[FAKE_CHALLENGE], 2);
}

static void test_second_factor_resend_uses_the_method(void **state)
{
    struct fixture *f = *state;

    password_account(f, "[" SMS_METHOD "]");
    SAY(f, PW, "", "654321");
    assert_int_equal(login(f), EXTID_OK);
    assert_int_equal(f->tenant.calls[FAKE_CHALLENGE], 3);
    assert_string_equal(f->tenant.method_id, "m-sms");
    assert_non_null(strstr(f->person.prompts, "Code texted to +1555****42 (6 digits): \n"));
}

static void test_emailed_code_then_text_message(void **state)
{
    struct fixture *f = *state;

    f->tenant.methods = "[" SMS_METHOD "]"; /* an emailed-code account with a second factor */
    SAY(f, "12345678", "654321");
    assert_int_equal(login(f), EXTID_OK);
    assert_string_equal(f->person.prompts,
                        "Code emailed to a***e@c***o.com (8 digits; empty line for a new code): \n"
                        "Code texted to +1555****42 (6 digits; empty line for a new code): \n");
    assert_int_equal(f->tenant.calls[FAKE_TOKEN], 2);
}

static void test_password_and_second_factor_take_one_send(void **state)
{
    struct fixture *f = *state;

    /* One code may go out: the password sends none, so the second factor's is that one; its
     * resend is throttled and the code already sent still works. */
    password_account(f, "[" EMAIL_METHOD "]");
    f->cfg.send_limit = 1;
    f->cfg.send_window = 3600;
    SAY(f, PW, "", "654321");
    assert_int_equal(login(f), EXTID_OK);
    assert_int_equal(f->tenant.calls[FAKE_CHALLENGE], 2);
    assert_non_null(strstr(f->person.shown, "Too many codes were sent to this address"));
}

static void test_second_factor_refusals(void **state)
{
    struct fixture *f = *state;
    const struct {
        const char *what;
        const char *methods;
        enum fake_call call;
        int nth;
        struct fake_answer answer;
        enum extid_result want;
        const char *logged;
    } cases[] = {
        { "nothing registered",
          "[]",
          FAKE_CALLS,
          0,
          { 0, NULL },
          EXTID_AUTH_ERR,
          "no second-factor method registered" },
        { "only a kind the module cannot ask for",
          "[{\"id\":\"v\",\"challenge_type\":\"oob\",\"challenge_channel\":\"voice\"}]",
          FAKE_CALLS,
          0,
          { 0, NULL },
          EXTID_AUTH_ERR,
          "challenge_channel=voice" },
        { "registration required",
          "[" EMAIL_METHOD "]",
          FAKE_TOKEN,
          0,
          { 400, "{\"error\":\"invalid_grant\",\"suberror\":\"registration_required\"}" },
          EXTID_AUTH_ERR,
          "register a second factor in a browser first" },
        { "redirect at introspect",
          "[" EMAIL_METHOD "]",
          FAKE_INTROSPECT,
          0,
          { 200, "{\"challenge_type\":\"redirect\",\"redirect_reason\":\"needs more\"}" },
          EXTID_AUTH_ERR,
          "introspect: redirect_reason: needs more" },
        { "redirect instead of tokens",
          "[" EMAIL_METHOD "]",
          FAKE_TOKEN,
          0,
          { 200,
            "{\"challenge_type\":\"redirect\",\"redirect_reason\":\"Client is not "
            "capable: missing mfa_required capability\"}" },
          EXTID_AUTH_ERR,
          "missing mfa_required capability" },
        { "mfa_required without a token",
          "[" EMAIL_METHOD "]",
          FAKE_TOKEN,
          0,
          { 400, "{\"error\":\"invalid_grant\",\"suberror\":\"mfa_required\"}" },
          EXTID_UNAVAILABLE,
          NULL },
        { "second code by an unknown channel",
          "[" EMAIL_METHOD "]",
          FAKE_CHALLENGE,
          1,
          { 200,
            "{\"continuation_token\":\"c\",\"challenge_type\":\"oob\","
            "\"code_length\":6,\"challenge_channel\":\"pigeon\"}" },
          EXTID_AUTH_ERR,
          "\"pigeon\"" },
        { "a password asked as the second factor",
          "[" EMAIL_METHOD "]",
          FAKE_CHALLENGE,
          1,
          { 200, "{\"continuation_token\":\"c\",\"challenge_type\":\"password\"}" },
          EXTID_UNAVAILABLE,
          NULL },
        { "second factor wants a third",
          "[" EMAIL_METHOD "]",
          FAKE_TOKEN,
          1,
          { 400,
            "{\"error\":\"invalid_grant\",\"suberror\":\"mfa_required\","
            "\"continuation_token\":\"again\"}" },
          EXTID_AUTH_ERR,
          NULL },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&f->tenant.forced, 0, sizeof f->tenant.forced);
        memset(f->tenant.calls, 0, sizeof f->tenant.calls);
        ufx_log_clear(&f->d.cap);
        password_account(f, cases[i].methods);
        if (cases[i].call != FAKE_CALLS)
            f->tenant.forced[cases[i].call][cases[i].nth] = cases[i].answer;
        SAY(f, PW, "654321", "654321", "654321");
        enum extid_result rc = login(f);
        if (rc != cases[i].want)
            fail_msg("%s: %s, wanted %s", cases[i].what, extid_result_name(rc),
                     extid_result_name(cases[i].want));
        if (cases[i].logged && !strstr(f->d.cap.buf, cases[i].logged))
            fail_msg("%s: log lacks \"%s\":\n%s", cases[i].what, cases[i].logged, f->d.cap.buf);
        assert_null(strstr(f->d.cap.buf, "login granted"));
        assert_password_kept(f);
    }
}

static void test_bad_arguments(void **state)
{
    struct fixture *f = *state;
    struct extid_transport t = fake_transport(&f->tenant);
    struct extid_prompter prompter = { .ask = person_ask, .ctx = &f->person };
    struct extid_prompter mute = { .ctx = &f->person };

    assert_int_equal(extid_login_with(NULL, &f->cfg, &f->req, &prompter, NULL), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_login_with(&t, NULL, &f->req, &prompter, NULL), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_login_with(&t, &f->cfg, NULL, &prompter, NULL), EXTID_SYSTEM_ERR);
    assert_int_equal(extid_login_with(&t, &f->cfg, &f->req, &mute, NULL), EXTID_SYSTEM_ERR);
    assert_int_equal(f->tenant.opens, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_happy_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requirement_after_the_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_only_on_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_signing_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_code_then_right, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend_refused_keeps_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_cannot_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_address_refused_before_any_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conversation_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlisted_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_refuses_before_initiate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_error_path_returns_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_max_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_not_offered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_then_emailed_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_factor_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_factor_resend_uses_the_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emailed_code_then_text_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_and_second_factor_take_one_send, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_second_factor_refusals, setup, teardown),
    };

    return ufx_run_root_group_tests(tests, NULL, NULL);
}
