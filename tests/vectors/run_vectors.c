/* Runs public JOSE and RSA PKCS#1 v1.5 test vectors through the module's own JWS parser, key
 * import and RS256 verification (see docs/test-vectors.md). The vectors are read where they
 * are, never copied: run_vectors DIR, DIR holding wycheproof/, cookbook/ and rfc/.
 *
 * Each vector has an expectation: "valid" ones must be accepted, "invalid" ones refused,
 * "acceptable" ones (legacy quirks) may go either way. A vector outside what the module
 * supports (another algorithm, a key that is not RSA, a modulus below 2048 bits, a hash other
 * than SHA-256, a JWE) is "not applicable" and must be refused whatever its expectation: the
 * module never accepts what it does not implement. Any other outcome is a mismatch; one line
 * sums up, and the exit status is 0 only without mismatches. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "b64url.h"
#include "idtoken.h"
#include "jwks.h"
#include "jwt.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

enum expect { EXPECT_VALID, EXPECT_INVALID, EXPECT_EITHER };

struct tally {
    int valid_accepted, invalid_refused, na_refused, either_accepted, either_refused;
    int mismatches;
    char last_log[512]; /* the module's last log line, to explain a mismatch */
};

static void keep_last(void *ctx, int priority, const char *msg)
{
    struct tally *t = ctx;

    (void)priority;
    snprintf(t->last_log, sizeof t->last_log, "%s", msg);
}

static struct extid_log module_log(struct tally *t)
{
    struct extid_log log = { .emit = keep_last, .ctx = t, .debug = false };

    t->last_log[0] = '\0';
    return log;
}

/* Files the harness must find: a missing one is an error, never a silent skip. */
static cJSON *load_json(const char *dir, const char *name)
{
    char path[4096];
    FILE *f;
    char *text = NULL;
    long size;
    cJSON *doc = NULL;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "vectors: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0
        && (text = malloc((size_t)size + 1)) && fread(text, 1, (size_t)size, f) == (size_t)size) {
        text[size] = '\0';
        doc = cJSON_Parse(text);
    }
    if (!doc)
        fprintf(stderr, "vectors: cannot read %s as JSON\n", path);
    free(text);
    fclose(f);
    return doc;
}

static void record(struct tally *t, const char *where, long id, const char *what,
                   enum expect expect, bool applicable, bool accepted)
{
    bool ok;

    if (!applicable) {
        ok = !accepted;
        t->na_refused += ok;
    } else if (expect == EXPECT_EITHER) {
        ok = true;
        t->either_accepted += accepted;
        t->either_refused += !accepted;
    } else if (expect == EXPECT_VALID) {
        ok = accepted;
        t->valid_accepted += ok;
    } else {
        ok = !accepted;
        t->invalid_refused += ok;
    }
    if (!ok) {
        t->mismatches++;
        fprintf(stderr, "vectors: MISMATCH %s #%ld (%s): expected %s, the module %s%s%s\n", where,
                id, what && *what ? what : "-",
                !applicable                  ? "refusal (not applicable)"
                    : expect == EXPECT_VALID ? "acceptance"
                                             : "refusal",
                accepted ? "accepted it" : "refused it", t->last_log[0] ? ": " : "", t->last_log);
    }
}

static enum expect expectation(const cJSON *test)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(test, "result");
    const char *s = cJSON_IsString(r) ? r->valuestring : "";

    return strcmp(s, "valid") == 0     ? EXPECT_VALID
        : strcmp(s, "acceptable") == 0 ? EXPECT_EITHER
                                       : EXPECT_INVALID;
}

static const char *str_member(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Bits of a big-endian base64url integer (leading zero bytes not counted); 0 if malformed. */
static int b64url_bits(const char *b64)
{
    unsigned char *raw = NULL;
    size_t len = 0, i = 0;
    int bits = 0;

    if (!b64 || !extid_b64url_decode(b64, strlen(b64), &raw, &len))
        return 0;
    while (i < len && raw[i] == 0)
        i++;
    if (i < len) {
        bits = (int)(len - i - 1) * 8;
        for (unsigned char top = raw[i]; top; top >>= 1)
            bits++;
    }
    free(raw);
    return bits;
}

/* What the module implements: an RSA key meant for RS256 (or for no stated algorithm) with a
 * modulus it accepts. Whether "use", "key_ops" or the exponent allow it is for the module to
 * judge: those vectors stay applicable and expect a refusal. */
static bool rs256_key(const cJSON *jwk)
{
    const char *kty = str_member(jwk, "kty"), *alg = str_member(jwk, "alg");
    int bits = b64url_bits(str_member(jwk, "n"));

    return kty && strcmp(kty, "RSA") == 0
        && (!cJSON_GetObjectItemCaseSensitive(jwk, "alg") || (alg && strcmp(alg, "RS256") == 0))
        && bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS;
}

/* The vector's keys as the JWKS text the module receives: a key set as it is, one JWK as a
 * set of one, no key as an empty set. */
static char *as_key_set(const cJSON *key, bool *applicable)
{
    const cJSON *keys = key ? cJSON_GetObjectItemCaseSensitive(key, "keys") : NULL, *k;
    cJSON *set;
    char *text;

    *applicable = false;
    if (cJSON_IsArray(keys)) {
        cJSON_ArrayForEach(k, keys) *applicable = *applicable || rs256_key(k);
        return cJSON_PrintUnformatted(key);
    }
    set = cJSON_CreateObject();
    keys = cJSON_AddArrayToObject(set, "keys");
    if (cJSON_IsObject(key)) {
        *applicable = rs256_key(key);
        cJSON_AddItemToArray((cJSON *)keys, cJSON_Duplicate(key, true));
    }
    text = cJSON_PrintUnformatted(set);
    cJSON_Delete(set);
    return text;
}

/* A token as the module meets one: parse, header, key by kid, RS256 signature. The payload
 * is not interpreted (claims are another layer, with their own tests). */
static bool module_accepts_token(const char *token, const char *jwks, struct tally *t)
{
    struct extid_log log = module_log(t);
    struct extid_jwt jwt;
    bool ok;

    if (extid_jws_parse(token, &jwt, &log) != EXTID_OK)
        return false;
    ok = extid_idtoken_check_signature(&jwt, jwks, strlen(jwks), NULL, &log) == EXTID_OK;
    extid_jwt_free(&jwt);
    return ok;
}

/* A raw message and signature, checked by the module's RS256 verification with the key the
 * module's JWK import makes of jwk. */
static bool module_accepts_signature(const cJSON *jwk, const unsigned char *msg, size_t msg_len,
                                     const unsigned char *sig, size_t sig_len, struct tally *t)
{
    struct extid_log log = module_log(t);
    EVP_PKEY *key = extid_jwk_import(jwk, &log);
    struct extid_jwt jwt = { .signing_input = (char *)msg,
                             .signing_input_len = msg_len,
                             .signature = (unsigned char *)sig,
                             .signature_len = sig_len };
    bool ok = key && extid_jwt_verify_rs256(&jwt, key, &log) == EXTID_OK;

    EVP_PKEY_free(key);
    return ok;
}

/* A key on its own: the module's lookup by kid when it has one, else its JWK import. */
static bool module_accepts_key(const cJSON *jwk, struct tally *t)
{
    struct extid_log log = module_log(t);
    const char *kid = str_member(jwk, "kid");
    EVP_PKEY *key = NULL;
    bool ok;

    if (kid) {
        bool unused;
        char *set = as_key_set(jwk, &unused);

        ok = extid_jwks_find_key(set, strlen(set), kid, &key, NULL, &log) == EXTID_OK;
        free(set);
    } else {
        key = extid_jwk_import(jwk, &log);
        ok = key != NULL;
    }
    EVP_PKEY_free(key);
    return ok;
}

/* One Wycheproof test's outcome, under its file name and tcId. */
static void record_test(struct tally *t, const char *name, const cJSON *test, bool applicable,
                        bool accepted)
{
    record(t, name, (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(test, "tcId")),
           str_member(test, "comment"), expectation(test), applicable, accepted);
}

/* Runs every test group of a Wycheproof file through run_group, which returns how many tests
 * it ran; a file that is missing or holds no tests leaves the run incomplete. */
static bool run_wycheproof_file(const char *dir, const char *name, struct tally *t,
                                int (*run_group)(const cJSON *group, const char *name,
                                                 struct tally *t))
{
    cJSON *doc = load_json(dir, name);
    const cJSON *group;
    int seen = 0;

    if (!doc)
        return false;
    cJSON_ArrayForEach(group, cJSON_GetObjectItemCaseSensitive(doc, "testGroups")) seen +=
        run_group(group, name, t);
    cJSON_Delete(doc);
    if (seen == 0)
        fprintf(stderr, "vectors: no tests in %s\n", name);
    return seen > 0;
}

/* Wycheproof's JSON Web Signature, Key and Crypto files: each test a JWS (or JWE) to verify
 * with the group's public key, or its private one for symmetric keys. */
static int run_jose_group(const cJSON *group, const char *name, struct tally *t)
{
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(group, "public");
    const cJSON *test;
    bool key_applicable;
    char *jwks;
    int seen = 0;

    if (!key)
        key = cJSON_GetObjectItemCaseSensitive(group, "private");
    jwks = as_key_set(key, &key_applicable);
    cJSON_ArrayForEach(test, cJSON_GetObjectItemCaseSensitive(group, "tests"))
    {
        const cJSON *jws = cJSON_GetObjectItemCaseSensitive(test, "jws");
        const cJSON *jwe = cJSON_GetObjectItemCaseSensitive(test, "jwe");
        const cJSON *item = jws ? jws : jwe;
        /* The JSON serialization reaches the module as the text it is. */
        char *token =
            cJSON_IsString(item) ? strdup(item->valuestring) : cJSON_PrintUnformatted(item);
        bool accepted = token && module_accepts_token(token, jwks, t);

        record_test(t, name, test, key_applicable && jws != NULL, accepted);
        free(token);
        seen++;
    }
    free(jwks);
    return seen;
}

static unsigned char *hex_decode(const char *hex, size_t *len)
{
    size_t n = hex ? strlen(hex) : 0;
    unsigned char *out = malloc(n / 2 + 1);

    if (!out || n % 2 != 0) {
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int byte;

        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)byte;
    }
    *len = n / 2;
    return out;
}

/* A JWK {kty, n, e} from hexadecimal modulus and exponent, for groups that give no JWK. */
static cJSON *jwk_from_hex(const cJSON *numbers)
{
    const char *names[2][2] = { { "modulus", "n" }, { "publicExponent", "e" } };
    cJSON *jwk = cJSON_CreateObject();

    cJSON_AddStringToObject(jwk, "kty", "RSA");
    for (int i = 0; i < 2; i++) {
        size_t len = 0, skip = 0;
        unsigned char *raw = hex_decode(str_member(numbers, names[i][0]), &len);
        char *b64 = NULL;

        while (raw && skip + 1 < len && raw[skip] == 0)
            skip++;
        if (raw && extid_b64url_encode(raw + skip, len - skip, &b64))
            cJSON_AddStringToObject(jwk, names[i][1], b64);
        free(b64);
        free(raw);
    }
    return jwk;
}

/* Wycheproof's RSASSA-PKCS1-v1_5 files: raw message and signature under the group's key. */
static int run_rsa_group(const cJSON *group, const char *name, struct tally *t)
{
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(group, "keyJwk");
    const cJSON *numbers = cJSON_GetObjectItemCaseSensitive(group, "publicKey");
    const char *sha = str_member(group, "sha");
    cJSON *jwk = given
        ? cJSON_Duplicate(given, true)
        : jwk_from_hex(numbers ? numbers : cJSON_GetObjectItemCaseSensitive(group, "privateKey"));
    bool applicable = rs256_key(jwk) && sha && strcmp(sha, "SHA-256") == 0;
    const cJSON *test;
    int seen = 0;

    cJSON_ArrayForEach(test, cJSON_GetObjectItemCaseSensitive(group, "tests"))
    {
        size_t msg_len = 0, sig_len = 0;
        unsigned char *msg = hex_decode(str_member(test, "msg"), &msg_len);
        unsigned char *sig = hex_decode(str_member(test, "sig"), &sig_len);
        bool accepted = msg && sig && module_accepts_signature(jwk, msg, msg_len, sig, sig_len, t);

        record_test(t, name, test, applicable, accepted);
        free(msg);
        free(sig);
        seen++;
    }
    cJSON_Delete(jwk);
    return seen;
}

/* Every key of a published example is genuine: accepted when it is an RS256 key, refused
 * (not applicable) otherwise. */
static void run_example_keys(const cJSON *set, const char *where, struct tally *t)
{
    const cJSON *jwk;
    long i = 0;

    cJSON_ArrayForEach(jwk, cJSON_GetObjectItemCaseSensitive(set, "keys"))
    {
        record(t, where, i++, str_member(jwk, "kid"), EXPECT_VALID, rs256_key(jwk),
               module_accepts_key(jwk, t));
    }
}

/* The RFC examples and the JOSE cookbook (RFC 7520). */
static bool run_examples(const char *dir, struct tally *t)
{
    cJSON *rfc = load_json(dir, "rfc/rfc_examples.json");
    cJSON *jws = load_json(dir, "cookbook/jws/4_1.rsa_v15_signature.json");
    cJSON *pub = load_json(dir, "cookbook/jwk/3_3.rsa_public_key.json");
    bool ok = rfc && jws && pub;

    if (ok) {
        const cJSON *a2 = cJSON_GetObjectItemCaseSensitive(rfc, "rfc7515_a2");
        const char *compact = str_member(a2, "compact");
        const cJSON *a2_key = cJSON_GetObjectItemCaseSensitive(a2, "jwk");
        const char *cookbook =
            str_member(cJSON_GetObjectItemCaseSensitive(jws, "output"), "compact");
        const char *dot = compact ? strrchr(compact, '.') : NULL;
        bool applicable;
        char *set;

        ok = compact && dot && cookbook;
        if (ok) {
            /* RFC 7515 A.2 names no kid, and the module picks keys only by kid: as a token it
             * is refused, while its signature must verify under the example key. */
            size_t sig_len = 0;
            unsigned char *sig = NULL;

            set = as_key_set(a2_key, &applicable);
            record(t, "RFC 7515 A.2 token (no kid)", 1, "compact", EXPECT_VALID, false,
                   module_accepts_token(compact, set, t));
            free(set);
            if (!extid_b64url_decode(dot + 1, strlen(dot + 1), &sig, &sig_len))
                sig = NULL;
            record(t, "RFC 7515 A.2 signature", 1, "signing input", EXPECT_VALID, rs256_key(a2_key),
                   sig
                       && module_accepts_signature(a2_key, (const unsigned char *)compact,
                                                   (size_t)(dot - compact), sig, sig_len, t));
            free(sig);
            /* RFC 7520 4.1 is signed with the key of 3.3. */
            set = as_key_set(pub, &applicable);
            record(t, "RFC 7520 4.1 token", 1, "RS256", EXPECT_VALID, applicable,
                   module_accepts_token(cookbook, set, t));
            free(set);
            record(t, "RFC 7520 3.3 key", 1, str_member(pub, "kid"), EXPECT_VALID, rs256_key(pub),
                   module_accepts_key(pub, t));
            run_example_keys(cJSON_GetObjectItemCaseSensitive(rfc, "rfc7517_a1"),
                             "RFC 7517 A.1 key", t);
            run_example_keys(cJSON_GetObjectItemCaseSensitive(rfc, "rfc7517_a3"),
                             "RFC 7517 A.3 key", t);
            run_example_keys(cJSON_GetObjectItemCaseSensitive(rfc, "rfc7517_b"), "RFC 7517 B key",
                             t);
        } else {
            fprintf(stderr, "vectors: the RFC or cookbook examples lack a compact JWS\n");
        }
    }
    cJSON_Delete(rfc);
    cJSON_Delete(jws);
    cJSON_Delete(pub);
    return ok;
}

int main(int argc, char **argv)
{
    static const char *const jose[] = {
        "wycheproof/json_web_signature_test.json",
        "wycheproof/json_web_key_test.json",
        "wycheproof/json_web_crypto_test.json",
    };
    static const char *const rsa[] = {
        "wycheproof/rsa_signature_2048_sha256_test.json",
        "wycheproof/rsa_signature_3072_sha256_test.json",
        "wycheproof/rsa_signature_4096_sha256_test.json",
        "wycheproof/rsa_signature_8192_sha256_test.json",
        "wycheproof/rsa_pkcs1_1024_sig_gen_test.json",
        "wycheproof/rsa_pkcs1_1536_sig_gen_test.json",
        "wycheproof/rsa_pkcs1_2048_sig_gen_test.json",
        "wycheproof/rsa_pkcs1_3072_sig_gen_test.json",
        "wycheproof/rsa_pkcs1_4096_sig_gen_test.json",
    };
    struct tally t = { 0 };
    bool complete = true;
    int total;

    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTORS_DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof jose / sizeof jose[0]; i++)
        complete = run_wycheproof_file(argv[1], jose[i], &t, run_jose_group) && complete;
    for (size_t i = 0; i < sizeof rsa / sizeof rsa[0]; i++)
        complete = run_wycheproof_file(argv[1], rsa[i], &t, run_rsa_group) && complete;
    complete = run_examples(argv[1], &t) && complete;

    total = t.valid_accepted + t.invalid_refused + t.na_refused + t.either_accepted
        + t.either_refused + t.mismatches;
    printf("vectors: %d checked: %d valid accepted, %d invalid refused, %d not applicable "
           "refused, %d acceptable (%d accepted, %d refused), %d mismatches%s\n",
           total, t.valid_accepted, t.invalid_refused, t.na_refused,
           t.either_accepted + t.either_refused, t.either_accepted, t.either_refused, t.mismatches,
           complete ? "" : ", some files missing or unreadable");
    return t.mismatches == 0 && complete ? 0 : 1;
}
