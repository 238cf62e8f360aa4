/* The byte buffer: exact integers, shortest doubles, JSON escaping, the size cap. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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

/* mxe_buf_double() writes what "%.15g" writes (it only avoids printf where it can): at
 * random bit patterns over the magnitudes it handles itself and across its borders, at
 * powers of ten and their neighbours, at halfway cases, and at the values the exporter
 * derives (ms / 1000, Mibit/s * 131072). */
static void check_like_printf(double v)
{
    char want[40];
    snprintf(want, sizeof want, "%.15g", v);
    if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v)
        return; /* integral: written as an exact integer, tested above */
    mxe_buf b = MXE_BUF_INIT;
    mxe_buf_double(&b, v);
    ck_assert_msg(strcmp(b.data, want) == 0, "%.17g: got %s, printf %s", v, b.data, want);
    mxe_buf_free(&b);
}

START_TEST(test_doubles_like_printf)
{
    uint64_t x = 0x9e3779b97f4a7c15u; /* xorshift64 */
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* exponents from about 1e-6 to 1e17; any mantissa, either sign */
        uint64_t bits = (x & 0x800fffffffffffffu) | ((uint64_t)(1003 + (x >> 52) % 54) << 52);
        double v;
        memcpy(&v, &bits, sizeof v);
        check_like_printf(v);
    }
    for (int e = -6; e <= 16; e++) {
        double p = pow(10, e);
        for (int k = -3; k <= 3; k++)
            check_like_printf(k < 0 ? nextafter(p, 0) : k > 0 ? nextafter(p, INFINITY) : p);
        check_like_printf(p);
        check_like_printf(-p * 1.5);
        check_like_printf(p * 0.999999999999999);
        check_like_printf(p * 9.999999999999995);
        check_like_printf(p * 1.000000000000005);
    }
    for (int i = 1; i < 10000; i++) {
        check_like_printf(i / 100.0 / 1000.0);     /* msRTT / 1000 */
        check_like_printf(i / 100.0 * 131072.0);   /* Mibit/s to bytes/s */
        check_like_printf((i + 0.5) / 1e10 * 1e5); /* near ties */
    }
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
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_integers);
    tcase_add_test(tc, test_doubles_round_trip);
    tcase_add_test(tc, test_doubles_like_printf);
    tcase_add_test(tc, test_json_string_escapes);
    tcase_add_test(tc, test_cap_fails_sticky);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
