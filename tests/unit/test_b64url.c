/* base64url: the RFC 4648 vectors, the URL alphabet, round trips of every byte, and each kind of
 * malformed input refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "b64url.h"

/* RFC 4648 §10 test vectors, translated to base64url without padding (RFC 7515 §2). */
static const struct {
    const char *plain, *enc;
} rfc4648[] = {
    { "", "" },           { "f", "Zg" },          { "fo", "Zm8" },          { "foo", "Zm9v" },
    { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
};

static void test_rfc4648_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        unsigned char *out = (unsigned char *)"sentinel";
        size_t len = 99;

        assert_true(extid_b64url_decode(rfc4648[i].enc, strlen(rfc4648[i].enc), &out, &len));
        assert_non_null(out);
        assert_int_equal(len, strlen(rfc4648[i].plain));
        assert_memory_equal(out, rfc4648[i].plain, len);
        assert_int_equal(out[len], '\0');
        free(out);
    }
}

static void test_rfc4648_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        char *out = NULL;

        assert_true(extid_b64url_encode((const unsigned char *)rfc4648[i].plain,
                                        strlen(rfc4648[i].plain), &out));
        assert_string_equal(out, rfc4648[i].enc);
        free(out);
    }
}

/* Bytes whose standard encoding uses '+' and '/' must come out as '-' and '_'. */
static void test_url_alphabet(void **state)
{
    static const unsigned char bin[] = { 0xfb, 0xff, 0xbf, 0xfe };
    unsigned char *out = NULL;
    size_t len = 0;
    char *enc = NULL;

    (void)state;
    assert_true(extid_b64url_encode(bin, sizeof bin, &enc));
    assert_string_equal(enc, "-_-__g");
    assert_true(extid_b64url_decode(enc, strlen(enc), &out, &len));
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(out, bin, sizeof bin);
    free(out);
    free(enc);
    /* The standard-alphabet spelling of the same bytes is refused. */
    out = NULL;
    assert_false(extid_b64url_decode("+/+//g", 6, &out, &len));
    assert_null(out);
}

/* Every byte value survives a round trip, at every length modulo 3. */
static void test_roundtrip_all_bytes(void **state)
{
    unsigned char bin[256];

    (void)state;
    for (int i = 0; i < 256; i++)
        bin[i] = (unsigned char)i;
    for (size_t n = 254; n <= 256; n++) {
        char *enc = NULL;
        unsigned char *dec = NULL;
        size_t len = 0;

        assert_true(extid_b64url_encode(bin, n, &enc));
        assert_null(strchr(enc, '='));
        assert_int_equal(strlen(enc), (n * 4 + 2) / 3);
        assert_true(extid_b64url_decode(enc, strlen(enc), &dec, &len));
        assert_int_equal(len, n);
        assert_memory_equal(dec, bin, n);
        free(dec);
        free(enc);
    }
}

/* Only len bytes are read, even if more follow. */
static void test_decode_honours_len(void **state)
{
    unsigned char *out = NULL;
    size_t len = 0;

    (void)state;
    assert_true(extid_b64url_decode("Zm9vYmFy", 4, &out, &len));
    assert_int_equal(len, 3);
    assert_memory_equal(out, "foo", 3);
    free(out);
}

static void expect_reject(const char *in)
{
    unsigned char *out = (unsigned char *)"sentinel";
    size_t len = 42;

    assert_false(extid_b64url_decode(in, strlen(in), &out, &len));
    assert_null(out);
    assert_int_equal(len, 0);
}

static void test_rejects_padding(void **state)
{
    (void)state;
    expect_reject("Zg==");
    expect_reject("Zm8=");
    expect_reject("Zm9vYg==");
    expect_reject("====");
}

static void test_rejects_foreign_characters(void **state)
{
    (void)state;
    expect_reject("Zm9v+mFy");
    expect_reject("Zm9v/mFy");
    expect_reject("Zm9v YmFy");
    expect_reject(" Zm9v");
    expect_reject("Zm9v\n");
    expect_reject("Zm9v\r\nYmFy");
    expect_reject("Zm9v\tYg");
    expect_reject("Zm9v.mFy");
    expect_reject("Zm9v\xc3\xa9");
}

static void test_rejects_impossible_length(void **state)
{
    (void)state;
    expect_reject("Z");
    expect_reject("Zm9vY");
    expect_reject("Zm9vYmFyZ");
}

/* "Zh" and "Zm9" carry set bits below the last whole byte: not the canonical encoding. */
static void test_rejects_nonzero_trailing_bits(void **state)
{
    (void)state;
    expect_reject("Zh");
    expect_reject("Zv");
    expect_reject("Zm9");
    expect_reject("Zm-");
    /* Their canonical neighbours decode. */
    for (int i = 0; i < 2; i++) {
        const char *ok = i ? "Zm8" : "Zg";
        unsigned char *out = NULL;
        size_t len = 0;

        assert_true(extid_b64url_decode(ok, strlen(ok), &out, &len));
        free(out);
    }
}

/* An embedded NUL inside len is a foreign character, not an end of string. */
static void test_rejects_embedded_nul(void **state)
{
    unsigned char *out = NULL;
    size_t len = 0;

    (void)state;
    assert_false(extid_b64url_decode("Zm9v\0mFy", 8, &out, &len));
    assert_null(out);
}

static void test_bad_arguments(void **state)
{
    unsigned char *out = NULL;
    size_t len = 0;
    char *enc = NULL;

    (void)state;
    assert_false(extid_b64url_decode(NULL, 4, &out, &len));
    assert_false(extid_b64url_decode("Zm9v", 4, NULL, &len));
    assert_false(extid_b64url_decode("Zm9v", 4, &out, NULL));
    assert_false(extid_b64url_encode(NULL, 3, &enc));
    assert_false(extid_b64url_encode((const unsigned char *)"foo", 3, NULL));
    /* Empty input is valid and yields an empty, NUL-terminated buffer. */
    assert_true(extid_b64url_decode(NULL, 0, &out, &len));
    assert_non_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(out[0], '\0');
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_decode),
        cmocka_unit_test(test_rfc4648_encode),
        cmocka_unit_test(test_url_alphabet),
        cmocka_unit_test(test_roundtrip_all_bytes),
        cmocka_unit_test(test_decode_honours_len),
        cmocka_unit_test(test_rejects_padding),
        cmocka_unit_test(test_rejects_foreign_characters),
        cmocka_unit_test(test_rejects_impossible_length),
        cmocka_unit_test(test_rejects_nonzero_trailing_bits),
        cmocka_unit_test(test_rejects_embedded_nul),
        cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
