/* The JSON reader: strict acceptance, exact integers, string unescaping. */
#include <check.h>
#include <glob.h>
#include <stdint.h>
#include <string.h>

/* jsmn, as json.c used it before it tokenized in its own single pass: the reference that
 * the tokens are compared with. */
#define JSMN_PARENT_LINKS
#define JSMN_STRICT
#define JSMN_STATIC
#include <jsmn.h>

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

static int parse_n(mxe_json *j, const char *s, size_t n, char *err)
{
    return mxe_json_parse(j, s, n, err, 128);
}

/* Check's ck_assert records a mark point on every success, which costs a write: the
 * per-token checks below (millions of them) only call it on failure. */
#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

START_TEST(test_escapes_checked)
{
    static const struct {
        const char *doc;
        size_t at; /* byte of the bad backslash, or 0: another reason */
    } bad[] = {
        {"[\"\\x\"]", 2},
        {"[\"ab\\u12G4\"]", 4},
        {"[\"\\u12\"]", 2}, /* \u12 then the closing quote */
        {"[\"\\u\"]", 2},
        {"[\"\\uABC", 0},        /* truncated inside the escape */
        {"[\"a\\\"]", 0},        /* the backslash escapes the closing quote */
        {"[\"a\\", 0},           /* the text ends with the backslash */
        {"[\"\\\\\\n\\q\"]", 6}, /* after valid escapes */
        {"[\"\\\\\\\"]", 0},     /* \\ then \" : unterminated */
        {"{\"k\\e\":1}", 3},     /* in a key */
        {"[\"ok\",\"\\u00e9\\u00\"]", 13},
        {"[\"\\U00e9\"]", 2},
        {"[\"\\'\"]", 2},
        {"[\"\\ \"]", 2},
    };
    mxe_json j = MXE_JSON_INIT;
    char err[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse_n(&j, bad[i].doc, strlen(bad[i].doc), err) != 0,
                      "accepted bad escape: %s", bad[i].doc);
        ck_assert_int_eq(j.count, 0);
        if (bad[i].at) {
            char want[64];
            snprintf(want, sizeof want, "invalid JSON at byte %zu", bad[i].at);
            ck_assert_msg(strstr(err, want), "%s: %s", bad[i].doc, err);
        } else {
            ck_assert_msg(strstr(err, "truncated JSON"), "%s: %s", bad[i].doc, err);
        }
    }
    static const char *good[] = {
        "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uABcd\"]",
        "[\"a\\\"\"]",                    /* an escaped quote just before the closing one */
        "[\"\\\\\\\\\"]",                 /* \\\\ then the quote */
        "[\"\\\\\"]",                     /* \\ then the quote */
        "{\"\\u0041\":\"\\/\"}",          /* in a key */
        "[\"raw\x01\x1f\x7f controls\"]", /* accepted unescaped, as jsmn did */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(parse_n(&j, good[i], strlen(good[i]), err) == 0, "rejected %s: %s", good[i],
                      err);
        ck_assert_int_eq(mxe_json_type_of(&j, 1), MXE_JSON_STRING);
    }
    /* The string's raw text ends before its closing quote, escaped quotes included. */
    ck_assert_int_eq(parse_n(&j, "[\"a\\\"\"]", 7, err), 0);
    size_t n;
    const char *raw = mxe_json_raw(&j, 1, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(raw, "a\\\"", 3) == 0);
    /* A NUL is refused inside a string as everywhere else. */
    ck_assert_int_ne(parse_n(&j, "[\"a\0b\"]", 7, err), 0);
    ck_assert_ptr_nonnull(strstr(err, "invalid JSON at byte 3"));
    ck_assert_int_ne(parse_n(&j, "{\"a\0\":1}", 8, err), 0);
    ck_assert_int_ne(parse_n(&j, "[1]\0", 4, err), 0);
    mxe_json_free(&j);
}
END_TEST

/* Backslashes and NULs are looked for in windows of the text, not string by string: the
 * ones far into a large document, and in strings that straddle a window's end, count. */
START_TEST(test_escapes_far_into_document)
{
    enum { STRINGS = 20000 }; /* about 160 KB: many windows */
    size_t cap = STRINGS * 8 + 64;
    char *doc = malloc(cap);
    char err[128];
    mxe_json j = MXE_JSON_INIT;
    for (int k = 0; k < 3; k++) { /* a bad escape, a NUL, a valid escape */
        for (size_t at = 1; at < STRINGS; at = at * 3 + 1) { /* which string holds it */
            size_t n = 0, pos = 0;
            doc[n++] = '[';
            for (size_t i = 0; i < STRINGS; i++) {
                n += (size_t)snprintf(doc + n, cap - n, "%s\"abcd\"", i ? "," : "");
                if (i == at) {
                    pos = n - 3; /* the string's "c" */
                    if (k == 2)  /* \t replaces "bc" */
                        memcpy(doc + pos - 1, "\\t", 2);
                    else
                        doc[pos] = k == 0 ? '\\' : '\0';
                }
            }
            doc[n++] = ']';
            int rc = parse_n(&j, doc, n, err);
            if (k == 2) {
                ck_assert_msg(rc == 0, "string %zu: %s", at, err);
                ck_assert_int_eq(j.count, STRINGS + 1);
                continue;
            }
            char want[64];
            snprintf(want, sizeof want, "invalid JSON at byte %zu", pos);
            ck_assert_msg(rc != 0 && strstr(err, want), "string %zu: %s", at, err);
        }
    }
    /* A backslash or a NUL on either side of a window's end, in a long string that spans
     * several windows. json.c's windows are a power of two of at least 4 KiB, the first
     * one starting after the first string: at byte 4 of ["x","aaa…"]. */
    size_t len = 70000;
    memcpy(doc, "[\"x\",\"", 6);
    memset(doc + 6, 'a', len);
    memcpy(doc + 6 + len, "\"]", 2);
    ck_assert_int_eq(parse_n(&j, doc, len + 8, err), 0);
    for (size_t at = 6; at < len + 6; at++) {
        size_t r = (at - 4) % 4096;
        if (r >= 8 && r < 4096 - 8 && at % 997 != 0)
            continue;
        for (int k = 0; k < 2; k++) {
            doc[at] = k ? '\0' : '\\';
            EXPECT(parse_n(&j, doc, len + 8, err) != 0, "byte %zu (%d) not seen", at, k);
            doc[at] = 'a';
        }
    }
    mxe_json_free(&j);
    free(doc);
}
END_TEST

/* jsmn's tokens (strict mode, parent links), or -1 if jsmn refuses the document. */
static int jsmn_tokens(const char *s, size_t n, jsmntok_t **out)
{
    jsmn_parser p;
    jsmn_init(&p);
    int count = jsmn_parse(&p, s, n, NULL, 0);
    if (count < 0)
        return -1;
    jsmntok_t *t = malloc(((size_t)count + 1) * sizeof *t);
    ck_assert_ptr_nonnull(t);
    jsmn_init(&p);
    ck_assert_int_eq(jsmn_parse(&p, s, n, t, (unsigned)count + 1), count);
    *out = t;
    return count;
}

/* The type jsmn's token t has, told as json.c tells it. */
static mxe_json_type jsmn_type(const char *s, const jsmntok_t *t)
{
    switch (t->type) {
    case JSMN_OBJECT:
        return MXE_JSON_OBJECT;
    case JSMN_ARRAY:
        return MXE_JSON_ARRAY;
    case JSMN_STRING:
        return MXE_JSON_STRING;
    default:
        return s[t->start] == 't'   ? MXE_JSON_TRUE
               : s[t->start] == 'f' ? MXE_JSON_FALSE
               : s[t->start] == 'n' ? MXE_JSON_NULL
                                    : MXE_JSON_NUMBER;
    }
}

/* Every token equals jsmn's: type, start, end and size. */
static void same_as_jsmn(mxe_json *j, const char *s, size_t n, const char *what)
{
    jsmntok_t *t = NULL;
    int count = jsmn_tokens(s, n, &t);
    char err[128];
    ck_assert_msg(count > 0, "%s: jsmn refuses it", what);
    ck_assert_msg(parse_n(j, s, n, err) == 0, "%s: %s", what, err);
    ck_assert_int_eq(j->count, count);
    for (int i = 0; i < count; i++) {
        EXPECT(mxe_json_type_of(j, i) == jsmn_type(s, &t[i]), "%s: token %d type %d, jsmn %d", what,
               i, mxe_json_type_of(j, i), t[i].type);
        size_t len;
        const char *raw = mxe_json_raw(j, i, &len);
        EXPECT(raw - s == t[i].start && (int)len == t[i].end - t[i].start,
               "%s: token %d at %td+%zu, jsmn %d..%d", what, i, raw - s, len, t[i].start, t[i].end);
        EXPECT(mxe_json_size(j, i) == t[i].size, "%s: token %d size %d, jsmn %d", what, i,
               mxe_json_size(j, i), t[i].size);
        /* skip() lands where jsmn's tokens say the subtree ends (tokens are in the order
         * of their starts) */
        int next = mxe_json_skip(j, i);
        EXPECT(next > i && (next == count || t[next].start >= t[i].end), "%s: skip %d", what, i);
        EXPECT(next == i + 1 || t[next - 1].start < t[i].end, "%s: skip %d", what, i);
    }
    free(t);
}

/* A random document: nesting, empty containers, escapes, numbers, white space. */
static void gen_value(char *o, size_t *n, unsigned *seed, int depth)
{
    static const char *const prims[] = {"0",    "-1",    "12.5", "1e3", "-0.25E-2",
                                        "true", "false", "null", "7",   "123456789012345678901"};
    static const char *const strs[] = {"",         "a",        "cam-00001",  "\\\"q\\\"",
                                       "\\\\",     "\\u00e9x", "tab\\there", "\\/",
                                       "\\\\\\\"", "\xc3\xbc"};
    static const char *const ws[] = {"", "", "", " ", "\n  ", "\t"};
    int kind = depth >= 6 ? 2 + rand_r(seed) % 2 : rand_r(seed) % 4;
    *n += (size_t)sprintf(o + *n, "%s", ws[rand_r(seed) % 6]);
    if (kind < 2) {
        int members = rand_r(seed) % 5;
        o[(*n)++] = kind == 0 ? '{' : '[';
        for (int m = 0; m < members; m++) {
            if (m)
                o[(*n)++] = ',';
            if (kind == 0)
                *n += (size_t)sprintf(o + *n, "%s\"%s\"%s:", ws[rand_r(seed) % 6],
                                      strs[rand_r(seed) % 10], ws[rand_r(seed) % 6]);
            gen_value(o, n, seed, depth + 1);
        }
        *n += (size_t)sprintf(o + *n, "%s%c", ws[rand_r(seed) % 6], kind == 0 ? '}' : ']');
    } else if (kind == 2) {
        *n += (size_t)sprintf(o + *n, "\"%s\"", strs[rand_r(seed) % 10]);
    } else {
        *n += (size_t)sprintf(o + *n, "%s", prims[rand_r(seed) % 10]);
    }
    *n += (size_t)sprintf(o + *n, "%s", ws[rand_r(seed) % 6]);
}

START_TEST(test_tokens_equal_jsmn)
{
    static const char *docs[] = {
        "{}",
        "[]",
        "[[]]",
        "{\"a\":{}}",
        " {\"a\":[1,{\"b\":null}]} \n",
        "[0,-0,1.5e+10,-2E-3,0.0,1e5,\"\\u00e9\\\"\",{\"\":[]},[[],{}]]",
        "\t[ 1 , { \"a\" : \"x\\\\\" } ]\r\n",
        "{\"x\":{\"a\":1},\"a\":[1,2,{\"a\":3}],\"b\":2}",
        "[{\"a\":[[{\"b\":[]}],{}],\"c\":\"d\"},[true,[false,[null]]]]",
    };
    mxe_json j = MXE_JSON_INIT;
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        same_as_jsmn(&j, docs[i], strlen(docs[i]), docs[i]);

    /* Every JSON fixture. */
    glob_t g;
    ck_assert_int_eq(glob(MXE_TEST_DIR "/fixtures/*.json", 0, NULL, &g) == GLOB_ABORTED, 0);
    ck_assert_int_eq(glob(MXE_TEST_DIR "/fixtures/*/*.json", GLOB_APPEND, NULL, &g) == GLOB_ABORTED,
                     0);
    ck_assert_uint_gt(g.gl_pathc, 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        size_t n;
        char *s = read_fixture(g.gl_pathv[i] + strlen(MXE_TEST_DIR) + 1, &n);
        same_as_jsmn(&j, s, n, g.gl_pathv[i]);
        free(s);
    }
    globfree(&g);

    /* Random documents, with the token array reused from one to the next. */
    unsigned seed = 42;
    char *doc = malloc(1 << 20);
    for (int d = 0; d < 2000; d++) {
        size_t n = 0;
        doc[n++] = d % 2 ? '[' : '{';
        int members = rand_r(&seed) % 8;
        for (int m = 0; m < members; m++) {
            if (m)
                doc[n++] = ',';
            if (d % 2 == 0)
                n += (size_t)sprintf(doc + n, "\"k%d\":", m);
            gen_value(doc, &n, &seed, 1);
        }
        doc[n++] = d % 2 ? ']' : '}';
        doc[n] = '\0';
        same_as_jsmn(&j, doc, n, doc);
    }
    free(doc);
    mxe_json_free(&j);
}
END_TEST

/* The token array grows while tokenizing, containers open across the growth included, and
 * is kept from one parse to the next. */
START_TEST(test_token_array_grows)
{
    static const int sizes[] = {0, 1, 126, 127, 128, 254, 255, 256, 1000, 100000, 3, 150000, 10};
    mxe_json j = MXE_JSON_INIT;
    char *doc = malloc(16 * 150000 + 64);
    char err[128];
    int cap = 0;
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        int k = sizes[c];
        /* {"a":[[0],[1],...],"b":true}: 2k+4 tokens, the outer containers open throughout */
        size_t n = (size_t)sprintf(doc, "{\"a\":[");
        for (int i = 0; i < k; i++)
            n += (size_t)sprintf(doc + n, "%s[%d]", i ? "," : "", i);
        n += (size_t)sprintf(doc + n, "],\"b\":true}");
        ck_assert_int_eq(parse_n(&j, doc, n, err), 0);
        ck_assert_int_eq(j.count, 2 * k + 5);
        ck_assert_int_ge(j.cap, j.count);
        ck_assert_int_ge(j.cap, cap); /* never shrinks */
        cap = j.cap;
        ck_assert_int_eq(mxe_json_size(&j, 0), 2);
        int a = mxe_json_get(&j, 0, "a");
        ck_assert_int_eq(a, 2);
        ck_assert_int_eq(mxe_json_size(&j, a), k);
        for (int i = 0, e = a + 1; i < k; i++, e = mxe_json_skip(&j, e)) {
            uint64_t v;
            EXPECT(mxe_json_size(&j, e) == 1 && mxe_json_u64(&j, e + 1, &v) == 0 &&
                       v == (uint64_t)i,
                   "element %d of %d", i, k);
        }
        ck_assert_int_eq(mxe_json_type_of(&j, mxe_json_get(&j, 0, "b")), MXE_JSON_TRUE);
        same_as_jsmn(&j, doc, n, "growing document");
        /* A refused document leaves no tokens and the array as it was. */
        ck_assert_int_ne(parse_n(&j, doc, n - 1, err), 0);
        ck_assert_ptr_nonnull(strstr(err, "truncated JSON"));
        ck_assert_int_eq(j.count, 0);
        ck_assert_int_eq(j.cap, cap);
    }
    mxe_json_free(&j);
    ck_assert_ptr_null(j.tokens);
    ck_assert_int_eq(j.cap, 0);
    free(doc);
}
END_TEST

START_TEST(test_error_messages)
{
    static const struct {
        const char *doc, *err;
    } cases[] = {
        {"", "empty body"},
        {" \n", "no JSON value in body"},
        {"\"s\"", "JSON root is not an object or array"},
        {"12", "JSON root is not an object or array"},
        {"<html>", "invalid JSON at byte 0"},
        {"{\"a\":1} x", "trailing bytes after JSON at byte 8"},
        {"[1,", "truncated JSON (3 bytes)"},
        {"[tru", "truncated JSON (4 bytes)"},
        {"[1,}", "invalid JSON at byte 3"},
        {"[truex]", "invalid JSON value at byte 1"},
    };
    mxe_json j = MXE_JSON_INIT;
    char err[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_ne(parse_n(&j, cases[i].doc, strlen(cases[i].doc), err), 0);
        ck_assert_msg(strcmp(err, cases[i].err) == 0, "%s: %s", cases[i].doc, err);
    }
    mxe_json_free(&j);
}
END_TEST

/* The depth limit holds for objects and mixed containers too, and counts open containers
 * only: siblings at the deepest level, one after the other, pass. */
START_TEST(test_depth_limit_mixed)
{
    char doc[1024];
    char err[128];
    mxe_json j = MXE_JSON_INIT;
    for (int depth = MXE_JSON_MAX_DEPTH - 1; depth <= MXE_JSON_MAX_DEPTH + 1; depth++) {
        size_t n = 0;
        for (int d = 0; d < depth; d++)
            n += (size_t)sprintf(doc + n, d % 2 ? "[" : "{\"k\":");
        n += (size_t)sprintf(doc + n, "1");
        for (int d = depth - 1; d >= 0; d--)
            doc[n++] = d % 2 ? ']' : '}';
        int rc = parse_n(&j, doc, n, err);
        ck_assert_int_eq(rc, depth > MXE_JSON_MAX_DEPTH ? -1 : 0);
        if (rc)
            ck_assert_str_eq(err, "JSON nested deeper than 64 levels");
        else
            same_as_jsmn(&j, doc, n, "deep");
    }
    /* [ [[...]] , [[...]] ]: two chains of 63 below the root, 64 levels each. */
    size_t n = 0;
    doc[n++] = '[';
    for (int c = 0; c < 2; c++) {
        if (c)
            doc[n++] = ',';
        memset(doc + n, '[', MXE_JSON_MAX_DEPTH - 1);
        n += MXE_JSON_MAX_DEPTH - 1;
        memset(doc + n, ']', MXE_JSON_MAX_DEPTH - 1);
        n += MXE_JSON_MAX_DEPTH - 1;
    }
    doc[n++] = ']';
    same_as_jsmn(&j, doc, n, "two deep chains");
    ck_assert_int_eq(mxe_json_size(&j, 0), 2);
    ck_assert_int_eq(mxe_json_skip(&j, 1), MXE_JSON_MAX_DEPTH);
    mxe_json_free(&j);
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
    tcase_add_test(tc, test_escapes_checked);
    tcase_add_test(tc, test_escapes_far_into_document);
    tcase_add_test(tc, test_tokens_equal_jsmn);
    tcase_add_test(tc, test_token_array_grows);
    tcase_add_test(tc, test_error_messages);
    tcase_add_test(tc, test_depth_limit_mixed);
    tcase_set_timeout(tc, 60); /* under valgrind */
    suite_add_tcase(s, tc);
    return run_suite(s);
}
