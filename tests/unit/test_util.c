/* Input validation and small helpers: email and code checks, control-character stripping,
 * UUIDs, and the log sink's sanitising. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "result.h"
#include "util.h"

static void test_email_valid(void **state)
{
    static const char *good[] = { "alice@example.com", "a.b+tag@sub.example.co.uk", "x@y.z",
                                  "O'Neil@Example.COM", "a*b@example.com" };
    static const char *bad[] = { "",
                                 "alice",
                                 "@example.com",
                                 "alice@",
                                 "alice@example",
                                 "alice@@example.com",
                                 "a@b@example.com",
                                 "alice @example.com",
                                 "alice@exa mple.com",
                                 "alice@.example.com",
                                 "alice@example.com.",
                                 "alice@example..com",
                                 "al\"ice@example.com",
                                 "al<ice@example.com",
                                 "alice@example.com\n",
                                 "\talice@example.com",
                                 "al\x7fice@x.com",
                                 "alice@ex(ample).com",
                                 "ali\xc3\xa9@example.com",
                                 "*@example.com" /* a users-file wildcard */ };
    char long_addr[300];

    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(extid_email_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(extid_email_valid(bad[i]));
    assert_false(extid_email_valid(NULL));
    memset(long_addr, 'a', sizeof long_addr);
    memcpy(long_addr + 240, "@example.com", 13); /* 252 bytes: fits */
    assert_true(extid_email_valid(long_addr));
    memcpy(long_addr + 250, "@example.com", 13); /* 262 bytes: too long */
    assert_false(extid_email_valid(long_addr));
}

static void test_code_valid(void **state)
{
    (void)state;
    assert_true(extid_code_valid("12345678", 8));
    assert_true(extid_code_valid("000000", 6));
    assert_false(extid_code_valid("1234567", 8));
    assert_false(extid_code_valid("123456789", 8));
    assert_false(extid_code_valid("1234567a", 8));
    assert_false(extid_code_valid(" 1234567", 8));
    assert_false(extid_code_valid("1234567\n", 8));
    assert_false(extid_code_valid("", 8));
    assert_false(extid_code_valid(NULL, 8));
    assert_false(extid_code_valid("", 0));
    assert_false(extid_code_valid("１２３４５６", 6)); /* full-width digits are not digits */
}

static void test_strip_controls(void **state)
{
    char buf[] = "a\nb\rc\x1b[31md\x7f";
    char *copy;

    (void)state;
    copy = extid_strip_controls("x\ty");
    assert_string_equal(copy, "x?y");
    free(copy);
    assert_null(extid_strip_controls(NULL));
    extid_strip_controls_inplace(buf);
    assert_string_equal(buf, "a?b?c?[31md?");
    extid_strip_controls_inplace(NULL);
    {
        /* C1 controls as UTF-8 (CSI is U+009B), and bytes that are not UTF-8 at all, go too;
         * letters from beyond ASCII stay. */
        char c1[] = "a\xc2\x9b[2J\xc2\x85"
                    "b\x9b[1m\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91"
                    "\xc0\xaf\xed\xa0\x80\xe2\x82";
        extid_strip_controls_inplace(c1);
        assert_string_equal(c1,
                            "a??[2J??b?[1m\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91"
                            "???????");
    }
}

static void test_str_ieq(void **state)
{
    (void)state;
    assert_true(extid_str_ieq("Alice@Example.COM", "alice@example.com"));
    assert_false(extid_str_ieq("alice@example.com", "alice@example.co"));
    assert_false(extid_str_ieq("\xdd", "i"));     /* no locale folding of non-ASCII bytes */
    assert_false(extid_str_ieq("I", "\xc4\xb1")); /* dotless i is not i */
    assert_false(extid_str_ieq("abc", "ab"));
    assert_true(extid_str_ieq("", ""));
    assert_false(extid_str_ieq(NULL, "a"));
    assert_false(extid_str_ieq("a", NULL));
}

static void test_uuid4(void **state)
{
    char a[37], b[37];

    (void)state;
    assert_true(extid_uuid4(a));
    assert_true(extid_uuid4(b));
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_int_equal(a[8], '-');
    assert_int_equal(a[14], '4');           /* version 4 */
    assert_non_null(strchr("89ab", a[19])); /* RFC 4122 variant */
}

static void test_free_secret_handles_null(void **state)
{
    (void)state;
    extid_free_secret(NULL);
    extid_free_secret_n(NULL, 10);
    extid_free_secret(strdup("12345678"));
    extid_free_secret_n(calloc(1, 16), 16);
}

struct captured {
    int priority;
    char line[2048];
    int calls;
};

static void capture(void *ctx, int priority, const char *msg)
{
    struct captured *c = ctx;
    c->priority = priority;
    snprintf(c->line, sizeof c->line, "%s", msg);
    c->calls++;
}

static void test_log_strips_and_gates_debug(void **state)
{
    struct captured c = { 0 };
    struct extid_log log = { .emit = capture, .ctx = &c, .debug = false };
    char big[3000];

    (void)state;
    extid_log(&log, LOG_NOTICE, "user=%s", "eve\nforged line");
    assert_int_equal(c.priority, LOG_NOTICE);
    assert_string_equal(c.line, "user=eve?forged line");
    extid_debug(&log, "hidden %d", 1);
    assert_int_equal(c.calls, 1);
    log.debug = true;
    extid_debug(&log, "shown %d", 2);
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.priority, LOG_DEBUG);
    assert_string_equal(c.line, "shown 2");
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    extid_log(&log, LOG_ERR, "%s", big); /* cut, never overflowing */
    assert_true(strlen(c.line) < sizeof big - 1);
    extid_log(NULL, LOG_ERR, "no sink");
}

static void test_result_names(void **state)
{
    (void)state;
    assert_string_equal(extid_result_name(EXTID_OK), "ok");
    assert_string_equal(extid_result_name((enum extid_result)999), "unknown_result");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_valid),
        cmocka_unit_test(test_code_valid),
        cmocka_unit_test(test_strip_controls),
        cmocka_unit_test(test_str_ieq),
        cmocka_unit_test(test_uuid4),
        cmocka_unit_test(test_free_secret_handles_null),
        cmocka_unit_test(test_log_strips_and_gates_debug),
        cmocka_unit_test(test_result_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
