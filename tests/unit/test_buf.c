/* The byte buffer: exact integers, shortest doubles, JSON escaping, the size cap. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "testutil.h"

START_TEST(test_integers)
{
    mxe_buf b = MXE_BUF_INIT;
    mxe_buf_u64(&b, 0);
    mxe_buf_putc(&b, ' ');
    mxe_buf_u64(&b, UINT64_MAX);
    mxe_buf_putc(&b, ' ');
    mxe_buf_i64(&b, INT64_MIN);
    ck_assert_str_eq(b.data, "0 18446744073709551615 -9223372036854775808");
    mxe_buf_free(&b);
}
END_TEST

START_TEST(test_doubles_round_trip)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {-1, "-1"},
        {0.36, "0.36"},
        {1808.58, "1808.58"},
        {1e-7, "1e-07"},
        {0.1 + 0.2, "0.3"},
        {0.36 / 1000, "0.00036"},
        {242500, "242500"},
        {0.00036, "0.00036"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mxe_buf b = MXE_BUF_INIT;
        mxe_buf_double(&b, cases[i].v);
        ck_assert_str_eq(b.data, cases[i].want);
        mxe_buf_free(&b);
    }
    mxe_buf b = MXE_BUF_INIT;
    mxe_buf_double(&b, 1e308); /* beyond int64: no undefined conversion */
    ck_assert_str_eq(b.data, "1e+308");
    mxe_buf_reset(&b);
    mxe_buf_double(&b, 1.7976931348623157e308); /* 15 digits would round past DBL_MAX */
    ck_assert(!isinf(strtod(b.data, NULL)));
    mxe_buf_reset(&b);
    mxe_buf_double(&b, NAN);
    mxe_buf_double(&b, INFINITY);
    mxe_buf_double(&b, -INFINITY);
    ck_assert_str_eq(b.data, "NaN+Inf-Inf");
    mxe_buf_free(&b);
}
END_TEST

START_TEST(test_json_string_escapes)
{
    mxe_buf b = MXE_BUF_INIT;
    const char s[] = "a\"b\\c\nd\te\x01\x1f\x7f\xc3\xa9";
    mxe_buf_json_string(&b, s, sizeof s - 1);
    ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f\x7f\xc3\xa9\"");
    mxe_buf_free(&b);
}
END_TEST

START_TEST(test_cap_fails_sticky)
{
    mxe_buf b = MXE_BUF_INIT;
    b.max = 8;
    ck_assert_int_eq(mxe_buf_puts(&b, "12345678"), 0);
    ck_assert_int_eq(mxe_buf_putc(&b, '9'), -1);
    ck_assert(!mxe_buf_ok(&b));
    ck_assert_int_eq(mxe_buf_puts(&b, ""), -1); /* sticky */
    ck_assert_uint_eq(b.len, 8);
    mxe_buf_reset(&b);
    ck_assert(mxe_buf_ok(&b));
    ck_assert_int_eq(mxe_buf_printf(&b, "%d-%s", 42, "x"), 0);
    ck_assert_str_eq(b.data, "42-x");
    mxe_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_integers);
    tcase_add_test(tc, test_doubles_round_trip);
    tcase_add_test(tc, test_json_string_escapes);
    tcase_add_test(tc, test_cap_fails_sticky);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
