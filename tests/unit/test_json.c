/* The JSON reader: strict acceptance, exact integers, string unescaping. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "testutil.h"

static int parse(mxe_json *j, const char *s)
{
    char err[128];
    return mxe_json_parse(j, s, strlen(s), err, sizeof err);
}

START_TEST(test_rejects_invalid_documents)
{
    static const char *bad[] = {
        "",
        "   ",
        "{",
        "{\"a\":1",
        "[1,2",
        "{\"a\"}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "\"str\"",
        "42",
        "true",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "[1 2]",
        "{\"a\":01}x",
        "{\"a\":\"x\"",
        "[1,,2]",
        "[,1]",
        "[1,]",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "[01]",
        "[1.]",
        "[-]",
        "[\"\\q\"]",
        "{,\"a\":1}",
        /* mismatched or misplaced punctuation, and primitives that only look valid */
        "{\"a\":1]",
        "[1}",
        "{\"a\":[}",
        "{1:2}",
        "{\"a\":1 \"b\":2}",
        "[1:2]",
        "{\"a\"::1}",
        "[true false]",
        "{\"a\":1,,\"b\":2}",
        "[[]]]",
        "{\"a\":-}",
        "[1e]",
        "[.5]",
        "[+1]",
        "[0x1]",
        "{\"a\":truex}",
        "[nulll]",
        "[1.5.2]",
        "[1,]]",
        "{\"a\",1}",
        "[\"a\":1]",
        "{\"a\":1}}",
        "[1]]",
        "[-01]",
        "[1e+]",
        "{\"a\":{\"b\":1}",
        "[\"a]",
    };
    mxe_json j = MXE_JSON_INIT;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(parse(&j, bad[i]) != 0, "accepted invalid document: %s", bad[i]);
    mxe_json_free(&j);
}
END_TEST

START_TEST(test_accepts_valid_documents)
{
    static const char *good[] = {
        "{}",
        "[]",
        " {\"a\":[1,{\"b\":null}]} \n",
        "[true,false,null]",
        "[0,-0,1.5e+10,-2E-3,0.0,1e5,\"\\u00e9\\\"\",{\"\":[]},[[],{}]]",
        "\t[ 1 , { \"a\" : \"x\\\\\" } ]\r\n",
    };
    mxe_json j = MXE_JSON_INIT;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(parse(&j, good[i]) == 0, "rejected valid document: %s", good[i]);
    mxe_json_free(&j);
}
END_TEST

START_TEST(test_u64_exact_and_bounded)
{
    mxe_json j = MXE_JSON_INIT;
    ck_assert_int_eq(parse(&j, "[18446744073709551615,18446744073709551616,-1,1.5,1e3,0,\"7\"]"),
                     0);
    uint64_t v = 0;
    int e = 1;
    ck_assert_int_eq(mxe_json_u64(&j, e, &v), 0);
    ck_assert(v == UINT64_MAX);
    e = mxe_json_skip(&j, e);
    ck_assert_int_eq(mxe_json_u64(&j, e, &v), -1); /* 2^64 overflows */
    for (int k = 0; k < 3; k++) {                  /* -1, 1.5, 1e3 are not counters */
        e = mxe_json_skip(&j, e);
        ck_assert_int_eq(mxe_json_u64(&j, e, &v), -1);
    }
    e = mxe_json_skip(&j, e);
    ck_assert_int_eq(mxe_json_u64(&j, e, &v), 0);
    ck_assert(v == 0);
    e = mxe_json_skip(&j, e);
    ck_assert_int_eq(mxe_json_u64(&j, e, &v), -1); /* a string is not a number */
    mxe_json_free(&j);
}
END_TEST

START_TEST(test_double_and_bool)
{
    mxe_json j = MXE_JSON_INIT;
    ck_assert_int_eq(parse(&j, "{\"a\":1808.58,\"b\":1e-7,\"c\":true,\"d\":\"1\"}"), 0);
    double d;
    bool b;
    ck_assert_int_eq(mxe_json_double(&j, mxe_json_get(&j, 0, "a"), &d), 0);
    ck_assert(d == 1808.58);
    ck_assert_int_eq(mxe_json_double(&j, mxe_json_get(&j, 0, "b"), &d), 0);
    ck_assert(d == 1e-7);
    ck_assert_int_eq(mxe_json_bool(&j, mxe_json_get(&j, 0, "c"), &b), 0);
    ck_assert(b);
    ck_assert_int_eq(mxe_json_double(&j, mxe_json_get(&j, 0, "d"), &d), -1);
    ck_assert_int_eq(mxe_json_get(&j, 0, "missing"), -1);
    mxe_json_free(&j);
}
END_TEST

START_TEST(test_string_unescape)
{
    mxe_json j = MXE_JSON_INIT;
    mxe_arena a = MXE_ARENA_INIT;
    const char *s;
    ck_assert_int_eq(parse(&j, "[\"a\\\"b\\\\c\\/\\n\", \"\\u00e9\\ud83d\\ude00\", \"\\u0000\", "
                               "\"\\ud800\", \"plain\"]"),
                     0);
    int e = 1;
    ck_assert_int_eq(mxe_json_str(&j, e, &a, &s), 0);
    ck_assert_str_eq(s, "a\"b\\c/\n");
    e = mxe_json_skip(&j, e);
    ck_assert_int_eq(mxe_json_str(&j, e, &a, &s), 0);
    ck_assert_str_eq(s, "\xc3\xa9\xf0\x9f\x98\x80");
    e = mxe_json_skip(&j, e);
    ck_assert_int_eq(mxe_json_str(&j, e, &a, &s), -1); /* embedded NUL */
    e = mxe_json_skip(&j, e);
    ck_assert_int_eq(mxe_json_str(&j, e, &a, &s), -1); /* lone surrogate */
    e = mxe_json_skip(&j, e);
    ck_assert_int_eq(mxe_json_str(&j, e, &a, &s), 0);
    ck_assert_str_eq(s, "plain");
    mxe_arena_free(&a);
    mxe_json_free(&j);
}
END_TEST

START_TEST(test_string_utf8_validated)
{
    static const struct {
        const char *doc;
        int rc;
    } cases[] = {
        {"[\"a\xff\"]", -1},           /* not UTF-8 at all */
        {"[\"\xc0\x80\"]", -1},        /* overlong NUL */
        {"[\"\xed\xa0\x80\"]", -1},    /* a surrogate, encoded */
        {"[\"\xc3\xbc\"]", 0},         /* ü */
        {"[\"\xf0\x9f\x98\x80\"]", 0}, /* 😀 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mxe_json j = MXE_JSON_INIT;
        mxe_arena a = MXE_ARENA_INIT;
        const char *s;
        ck_assert_int_eq(parse(&j, cases[i].doc), 0);
        ck_assert_msg(mxe_json_str(&j, 1, &a, &s) == cases[i].rc, "case %zu", i);
        mxe_arena_free(&a);
        mxe_json_free(&j);
    }
}
END_TEST

START_TEST(test_fields_one_pass)
{
    mxe_json j = MXE_JSON_INIT;
    ck_assert_int_eq(parse(&j, "{\"x\":{\"a\":1},\"a\":[1,2,{\"a\":3}],\"b\":2}"), 0);
    const char *keys[] = {"a", "b", "c"};
    int v[3];
    ck_assert_int_eq(mxe_json_fields(&j, 0, keys, 3, v), 0);
    ck_assert_int_eq(mxe_json_type_of(&j, v[0]), MXE_JSON_ARRAY); /* top-level a, not x.a */
    ck_assert_int_eq(mxe_json_size(&j, v[0]), 3);
    uint64_t b;
    ck_assert_int_eq(mxe_json_u64(&j, v[1], &b), 0);
    ck_assert(b == 2);
    ck_assert_int_eq(v[2], -1);
    mxe_json_free(&j);
}
END_TEST

/* Decimals read by the fast path equal strtod's result bit for bit, and the types of
 * primitives are told right after validation. */
START_TEST(test_doubles_exact)
{
    unsigned seed = 7;
    mxe_json j = MXE_JSON_INIT;
    for (int i = 0; i < 20000; i++) {
        char num[64];
        int digits = 1 + rand_r(&seed) % 18, point = rand_r(&seed) % (digits + 1);
        size_t n = 0;
        if (rand_r(&seed) % 4 == 0)
            num[n++] = '-';
        for (int d = 0; d < digits; d++) {
            if (d == point && d > 0)
                num[n++] = '.';
            num[n++] =
                (char)('0' + (d == 0 && point != 1 ? 1 + rand_r(&seed) % 9 : rand_r(&seed) % 10));
        }
        if (rand_r(&seed) % 8 == 0)
            n += (size_t)snprintf(num + n, sizeof num - n, "e%d", rand_r(&seed) % 40 - 20);
        num[n] = '\0';
        char doc[80];
        snprintf(doc, sizeof doc, "[%s]", num);
        if (parse(&j, doc) != 0)
            continue; /* e.g. "0" followed by digits: not JSON */
        double got = 0, want = strtod(num, NULL);
        ck_assert_int_eq(mxe_json_double(&j, 1, &got), 0);
        ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "%s: %.17g, strtod %.17g", num, got,
                      want);
    }
    ck_assert_int_eq(parse(&j, "[true,false,null,-1.5,\"t\",{},[]]"), 0);
    static const mxe_json_type types[] = {MXE_JSON_TRUE,   MXE_JSON_FALSE,  MXE_JSON_NULL,
                                          MXE_JSON_NUMBER, MXE_JSON_STRING, MXE_JSON_OBJECT,
                                          MXE_JSON_ARRAY};
    for (int t = 0; t < 7; t++)
        ck_assert_int_eq(mxe_json_type_of(&j, t + 1), types[t]);
    mxe_json_free(&j);
}
END_TEST

START_TEST(test_deep_nesting_is_bounded)
{
    /* 100,000 levels are refused up front (jsmn would take quadratic time); 64 pass. */
    for (size_t depth = 100000; depth >= MXE_JSON_MAX_DEPTH;
         depth = depth == 100000 ? MXE_JSON_MAX_DEPTH + 1 : depth - 1) {
        char *s = malloc(2 * depth + 1);
        memset(s, '[', depth);
        memset(s + depth, ']', depth);
        s[2 * depth] = '\0';
        mxe_json j = MXE_JSON_INIT;
        char err[128];
        int rc = mxe_json_parse(&j, s, 2 * depth, err, sizeof err);
        ck_assert_int_eq(rc, depth > MXE_JSON_MAX_DEPTH ? -1 : 0);
        if (rc == 0)
            ck_assert_int_eq(mxe_json_skip(&j, 0), (int)depth);
        else
            ck_assert_ptr_nonnull(strstr(err, "nested deeper"));
        mxe_json_free(&j);
        free(s);
        if (depth == MXE_JSON_MAX_DEPTH)
            break;
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rejects_invalid_documents);
    tcase_add_test(tc, test_accepts_valid_documents);
    tcase_add_test(tc, test_u64_exact_and_bounded);
    tcase_add_test(tc, test_double_and_bool);
    tcase_add_test(tc, test_string_unescape);
    tcase_add_test(tc, test_string_utf8_validated);
    tcase_add_test(tc, test_fields_one_pass);
    tcase_add_test(tc, test_deep_nesting_is_bounded);
    tcase_add_test(tc, test_doubles_exact);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
