/* Unit tests for HTTP basic auth (exporter/web_auth.c), the TLS material loader
 * (exporter/web_tls.c) and their configuration options: users-file parsing and its
 * errors, strict base64, SipHash vectors, real bcrypt hashes ($2a$, $2b$, $2y$; cost 4
 * to stay fast, one cost 10 and one cost 12 where time matters), the unknown-user path,
 * the cache and the queue that runs one bcrypt check at a time, in arrival order, with
 * bounds. The users and their passwords are in tests/fixtures/web/users.txt and below. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"
#include "web_auth.h"
#include "web_tls.h"

#define USERS_FIXTURE MXE_TEST_DIR "/fixtures/web/users.txt"

/* The fixture's hashes, for building other users files. */
#define ALICE_HASH "$2b$10$fkzAUx/lhxZfQ/9Hq4Zk1.E29O5LeIgUkCoX9oQQbsP2b1HyuWW5i" /* wonderland */
#define BOB_HASH   "$2y$04$hAdgaJjnP/E4KkcLi5rtGua5zzEXZwMeq3N0lc7Qhs9RYKw/UMS3K" /* pa:ss word */

static char err[512];

static mxe_web_auth *parse(const char *text)
{
    memset(err, 'X', sizeof err);
    err[sizeof err - 1] = '\0';
    return mxe_web_auth_parse(text, strlen(text), "users.txt", err, sizeof err);
}

static mxe_web_auth *load_fixture(void)
{
    mxe_web_auth *a = mxe_web_auth_load(USERS_FIXTURE, "--web.users-file", err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    return a;
}

/* "Basic " + base64(raw[0..n)) */
static void basic_n(char *out, size_t cap, const char *raw, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = (size_t)snprintf(out, cap, "Basic ");
    const unsigned char *u = (const unsigned char *)raw;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)u[i] << 16 | (i + 1 < n ? (unsigned)u[i + 1] << 8 : 0) |
                     (i + 2 < n ? u[i + 2] : 0);
        ck_assert_uint_lt(o + 4, cap);
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
}

static const char *basic(const char *user, const char *pass)
{
    static char raw[2048], out[4096];
    snprintf(raw, sizeof raw, "%s:%s", user, pass);
    basic_n(out, sizeof out, raw, strlen(raw));
    return out;
}

/* Copy a header value that must outlive the next basic() call. */
static void keep(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    ck_assert_uint_lt(n, cap);
    memcpy(dst, src, n + 1);
}

static mxe_web_auth_stats stats(mxe_web_auth *a)
{
    mxe_web_auth_stats s;
    mxe_web_auth_get_stats(a, &s);
    return s;
}

/* ---------------------------------------------------------------------------------- */
/* Base64 and SipHash */

START_TEST(test_base64_vectors)
{
    /* RFC 4648 section 10 */
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const dec[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    for (size_t i = 0; i < 7; i++) {
        unsigned char out[16];
        size_t n = 99;
        ck_assert_int_eq(mxe_base64_decode(enc[i], strlen(enc[i]), out, sizeof out, &n), 0);
        ck_assert_uint_eq(n, strlen(dec[i]));
        ck_assert(memcmp(out, dec[i], n) == 0);
    }
    unsigned char out[4];
    size_t n;
    /* binary: every byte value survives */
    ck_assert_int_eq(mxe_base64_decode("AP+A", 4, out, sizeof out, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert(out[0] == 0x00 && out[1] == 0xff && out[2] == 0x80);
}
END_TEST

START_TEST(test_base64_strict)
{
    static const char *const bad[] = {
        "Zg",       /* padding missing */
        "Zg=",      /* padding short */
        "Zm9",      /* not a multiple of 4 */
        "Zm9vY",    /* idem */
        "Z===",     /* too much padding */
        "====",     /* nothing but padding */
        "Zh==",     /* unused bits set: not the canonical encoding of "f" */
        "Zm9=",     /* idem for "fo" */
        "Zg==Zg==", /* padding in the middle */
        "Zm=v",     /* idem */
        " Zg=",     /* whitespace */
        "Zm9v\n",   /* idem */
        "Zm-v",     /* URL-safe alphabet */
        "Zm_v",     /* idem */
        "Zm\x80v",  /* 8-bit */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char out[16];
        size_t n;
        ck_assert_msg(mxe_base64_decode(bad[i], strlen(bad[i]), out, sizeof out, &n) == -1,
                      "accepted %s", bad[i]);
    }
    /* a NUL inside the encoded text is not base64 either */
    unsigned char out[16];
    size_t n;
    ck_assert_int_eq(mxe_base64_decode("Zm\0v", 4, out, sizeof out, &n), -1);
    /* bounded output */
    ck_assert_int_eq(mxe_base64_decode("Zm9vYmFy", 8, out, 5, &n), -1);
    ck_assert_int_eq(mxe_base64_decode("Zm9vYmFy", 8, out, 6, &n), 0);
}
END_TEST

START_TEST(test_siphash_vectors)
{
    /* From the SipHash paper (appendix A) and the reference implementation's vectors:
     * key 00 01 .. 0f, messages 00 01 .. (n-1). */
    uint64_t key[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    unsigned char msg[64];
    for (unsigned i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)i;
    ck_assert_uint_eq(mxe_siphash24(key, msg, 0), 0x726fdb47dd0e0e31ULL);
    ck_assert_uint_eq(mxe_siphash24(key, msg, 1), 0x74f839c593dc67fdULL);
    ck_assert_uint_eq(mxe_siphash24(key, msg, 8), 0x93f5f5799a932462ULL);
    ck_assert_uint_eq(mxe_siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);
    ck_assert_uint_eq(mxe_siphash24(key, msg, 63), 0x958a324ceb064572ULL);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* The users file */

START_TEST(test_users_file_fixture)
{
    mxe_web_auth *a = load_fixture();
    /* comments, a blank line, surrounding spaces, CRLF, UTF-8 names */
    ck_assert_uint_eq(mxe_web_auth_user_count(a), 6);
    mxe_web_auth_free(a);
}
END_TEST

static const struct {
    const char *text;
    const char *err; /* exact message */
} users_bad[] = {
    {"", "users.txt: no users (expected lines of user:bcrypt-hash)"},
    {"# only a comment\n\n   \n", "users.txt: no users (expected lines of user:bcrypt-hash)"},
    {"alice\n", "users.txt:1: expected user:bcrypt-hash"},
    {"# c\n:" ALICE_HASH "\n", "users.txt:2: expected user:bcrypt-hash"},
    {"alice :" ALICE_HASH "\n", "users.txt:1: no spaces allowed around ':'"},
    {"alice: " ALICE_HASH "\n", "users.txt:1: no spaces allowed around ':'"},
    {"al\x01ice:" ALICE_HASH "\n", "users.txt:1: control character in the user name"},
    {"alice:" ALICE_HASH "\nbob:" BOB_HASH "\nalice:" BOB_HASH "\n",
     "users.txt:3: duplicate user (first on line 1)"},
};

static const char hash_error[] =
    "not a bcrypt hash (expected $2b$, $2y$ or $2a$, cost 04-31, 60 characters; e.g. from "
    "htpasswd -nBC 10 USER)";

/* Values that are not accepted as hashes: the message never quotes them. */
static const char *const hashes_bad[] = {
    "hunter2",                            /* a plain password */
    "$1$abcdefgh$abcdefghijklmnopqrstuv", /* md5-crypt */
    "$5$rounds=5000$abcdefghijklmnop$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "$6$abcdefgh$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd",
    "$apr1$abcdefgh$abcdefghijklmnopqrstuv",                                    /* htpasswd -m */
    "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=",                                        /* htpasswd -s */
    "$y$j9T$abcdefghijklmnopqrstuv$abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", /* yescrypt */
    "$2x$10$fkzAUx/lhxZfQ/9Hq4Zk1.E29O5LeIgUkCoX9oQQbsP2b1HyuWW5i", /* the buggy variant */
    "$2$10$fkzAUx/lhxZfQ/9Hq4Zk1.E29O5LeIgUkCoX9oQQbsP2b1HyuWW5i",
    "$2b$03$fkzAUx/lhxZfQ/9Hq4Zk1.E29O5LeIgUkCoX9oQQbsP2b1HyuWW5i", /* cost below 4 */
    "$2b$32$fkzAUx/lhxZfQ/9Hq4Zk1.E29O5LeIgUkCoX9oQQbsP2b1HyuWW5i", /* cost above 31 */
    "$2b$1$fkzAUx/lhxZfQ/9Hq4Zk1.E29O5LeIgUkCoX9oQQbsP2b1HyuWW5ii",
    "$2b$10$fkzAUx/lhxZfQ/9Hq4Zk1.E29O5LeIgUkCoX9oQQbsP2b1HyuWW5",   /* one short */
    "$2b$10$fkzAUx/lhxZfQ/9Hq4Zk1.E29O5LeIgUkCoX9oQQbsP2b1HyuWW5ii", /* one long */
    "$2b$10$fkzAUx/lhxZfQ/9Hq4Zk1.E29O5LeIgUkCoX9oQQbsP2b1HyuWW5+",  /* not bcrypt's base64 */
    "$2B$10$fkzAUx/lhxZfQ/9Hq4Zk1.E29O5LeIgUkCoX9oQQbsP2b1HyuWW5i",
    "",
};

START_TEST(test_users_file_errors)
{
    mxe_web_auth *a = parse(users_bad[_i].text);
    ck_assert_ptr_null(a);
    ck_assert_str_eq(err, users_bad[_i].err);
}
END_TEST

START_TEST(test_users_file_bad_hashes)
{
    char text[512], want[512];
    snprintf(text, sizeof text, "# users\nalice:%s\n", hashes_bad[_i]);
    ck_assert_ptr_null(parse(text));
    snprintf(want, sizeof want, "users.txt:2: %s", hash_error);
    ck_assert_str_eq(err, want);
    if (hashes_bad[_i][0])
        ck_assert_ptr_null(strstr(err, hashes_bad[_i] + 1));
}
END_TEST

START_TEST(test_users_file_limits)
{
    /* NUL byte, with its line */
    static const char nul[] = "alice:" ALICE_HASH "\nbo\0b:" BOB_HASH "\n";
    ck_assert_ptr_null(mxe_web_auth_parse(nul, sizeof nul - 1, "u", err, sizeof err));
    ck_assert_str_eq(err, "u:2: NUL byte");
    /* a 256-byte user name is fine, 257 is not */
    char text[1024];
    char name[258];
    memset(name, 'n', 256);
    name[256] = '\0';
    snprintf(text, sizeof text, "%s:%s\n", name, ALICE_HASH);
    mxe_web_auth *a = parse(text);
    ck_assert_msg(a != NULL, "%s", err);
    mxe_web_auth_free(a);
    strcat(name, "n");
    snprintf(text, sizeof text, "%s:%s\n", name, ALICE_HASH);
    ck_assert_ptr_null(parse(text));
    ck_assert_str_eq(err, "users.txt:1: user name longer than 256 bytes");
    /* no newline at the end, CRLF, tabs */
    a = parse("\talice:" ALICE_HASH "\t\r\nbob:" BOB_HASH);
    ck_assert_msg(a != NULL, "%s", err);
    ck_assert_uint_eq(mxe_web_auth_user_count(a), 2);
    mxe_web_auth_free(a);
}
END_TEST

START_TEST(test_users_file_load_errors)
{
    ck_assert_ptr_null(
        mxe_web_auth_load("/nonexistent/users", "--web.users-file", err, sizeof err));
    ck_assert_str_eq(err, "--web.users-file: cannot read /nonexistent/users: No such file or "
                          "directory");
    /* a parse error names the option, the file and the line */
    char path[] = "/tmp/mxe-users-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("# users\nalice:wonderland\n", f);
    fclose(f);
    ck_assert_ptr_null(mxe_web_auth_load(path, "--web.users-file", err, sizeof err));
    char want[512];
    snprintf(want, sizeof want, "--web.users-file: %s:2: %s", path, hash_error);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(strstr(err, "wonderland"));
    /* too large */
    f = fopen(path, "w");
    for (int i = 0; i < MXE_AUTH_MAX_FILE / 64 + 1; i++)
        fputs("# padding padding padding padding padding padding padding padding\n", f);
    fclose(f);
    ck_assert_ptr_null(mxe_web_auth_load(path, "--web.users-file", err, sizeof err));
    snprintf(want, sizeof want, "--web.users-file: %s is larger than 1024 KiB", path);
    ck_assert_str_eq(err, want);
    /* a directory */
    ck_assert_ptr_null(mxe_web_auth_load("/", "--web.users-file", err, sizeof err));
    ck_assert_str_eq(err, "--web.users-file: cannot read /: Is a directory");
    unlink(path);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Checking credentials */

START_TEST(test_check_real_bcrypt)
{
    mxe_web_auth *a = load_fixture();
    ck_assert_int_eq(mxe_web_auth_check(a, basic("alice", "wonderland"), 1000), MXE_AUTH_OK);
    ck_assert_int_eq(stats(a).bcrypt_runs, 1);
    ck_assert_int_eq(mxe_web_auth_check(a, basic("alice", "Wonderland"), 1000), MXE_AUTH_DENIED);
    ck_assert_int_eq(mxe_web_auth_check(a, basic("alice", "wonderlan"), 1000), MXE_AUTH_DENIED);
    ck_assert_int_eq(mxe_web_auth_check(a, basic("alice", ""), 1000), MXE_AUTH_DENIED);
    /* $2y$ and $2a$, a colon inside the password (Basic splits at the first one) */
    ck_assert_int_eq(mxe_web_auth_check(a, basic("bob", "pa:ss word"), 1000), MXE_AUTH_OK);
    ck_assert_int_eq(mxe_web_auth_check(a, basic("bob", "pa"), 1000), MXE_AUTH_DENIED);
    ck_assert_int_eq(mxe_web_auth_check(a, basic("carol", "x"), 1000), MXE_AUTH_OK);
    /* UTF-8 user and password, compared as bytes */
    ck_assert_int_eq(mxe_web_auth_check(a, basic("\xc3\xa9mile", "caf\xc3\xa9"), 1000),
                     MXE_AUTH_OK);
    ck_assert_int_eq(mxe_web_auth_check(a, basic("emile", "caf\xc3\xa9"), 1000), MXE_AUTH_DENIED);
    /* user names are case-sensitive; one user's password does not open another */
    ck_assert_int_eq(mxe_web_auth_check(a, basic("Alice", "wonderland"), 1000), MXE_AUTH_DENIED);
    ck_assert_int_eq(mxe_web_auth_check(a, basic("carol", "wonderland"), 1000), MXE_AUTH_DENIED);
    /* bcrypt reads 72 bytes of a password at most (documented in docs/security.md) */
    char pw[80];
    memset(pw, 'a', 73);
    pw[73] = '\0';
    ck_assert_int_eq(mxe_web_auth_check(a, basic("eve", pw), 1000), MXE_AUTH_OK);
    pw[71] = '\0';
    ck_assert_int_eq(mxe_web_auth_check(a, basic("eve", pw), 1000), MXE_AUTH_DENIED);
    ck_assert_int_eq(stats(a).busy, 0);
    mxe_web_auth_free(a);
}
END_TEST

START_TEST(test_check_header_forms)
{
    mxe_web_auth *a = load_fixture();
    char h[4096];
    keep(h, sizeof h, basic("carol", "x"));
    const char *b64 = h + 6;
    char v[4200];
    /* scheme case-insensitive, spaces and tabs around */
    snprintf(v, sizeof v, "basic %s", b64);
    ck_assert_int_eq(mxe_web_auth_check(a, v, 0), MXE_AUTH_OK);
    snprintf(v, sizeof v, "  BASIC \t %s \t", b64);
    ck_assert_int_eq(mxe_web_auth_check(a, v, 0), MXE_AUTH_OK);
    uint64_t runs = stats(a).bcrypt_runs;

    /* Denied without running bcrypt: nothing to verify */
    static const char *const malformed[] = {
        "",
        "Basic",
        "Basic ",
        "Basic\t",
        "Bearer Y2Fyb2w6eA==",
        "Basicx Y2Fyb2w6eA==",
        "BasicY2Fyb2w6eA==",
        "Digest username=\"carol\"",
        "Basic Y2Fyb2w6eA", /* no padding */
        "Basic Y2Fyb2w6eA== x",
        "Basic Y2Fyb2w6eA==,Y2Fyb2w6eA==",
        "Basic Y2Fyb2w=", /* "carol" */
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        ck_assert_msg(mxe_web_auth_check(a, malformed[i], 0) == MXE_AUTH_DENIED, "%s",
                      malformed[i]);
    ck_assert_int_eq(mxe_web_auth_check(a, NULL, 0), MXE_AUTH_DENIED);
    /* a NUL in the decoded credentials: "carol:x\0junk" must not pass as "carol:x" */
    basic_n(v, sizeof v, "carol:x\0junk", 12);
    ck_assert_int_eq(mxe_web_auth_check(a, v, 0), MXE_AUTH_DENIED);
    basic_n(v, sizeof v, "car\0ol:x", 8);
    ck_assert_int_eq(mxe_web_auth_check(a, v, 0), MXE_AUTH_DENIED);
    /* longer than the bound: denied unread, even when otherwise valid */
    char longpw[800];
    memset(longpw, 'p', 770);
    longpw[770] = '\0';
    keep(v, sizeof v, basic("carol", longpw));
    ck_assert_uint_gt(strlen(v) - 6, MXE_AUTH_MAX_CREDENTIALS_B64);
    ck_assert_int_eq(mxe_web_auth_check(a, v, 0), MXE_AUTH_DENIED);
    ck_assert_int_eq(stats(a).bcrypt_runs, runs);
    /* just within the bound: verified (and wrong) */
    longpw[748] = '\0';
    keep(v, sizeof v, basic("carol", longpw));
    ck_assert_uint_le(strlen(v) - 6, MXE_AUTH_MAX_CREDENTIALS_B64);
    ck_assert_int_eq(mxe_web_auth_check(a, v, 0), MXE_AUTH_DENIED);
    ck_assert_int_eq(stats(a).bcrypt_runs, runs + 1);
    mxe_web_auth_free(a);
}
END_TEST

START_TEST(test_unknown_user_runs_bcrypt)
{
    mxe_web_auth *a = load_fixture();
    ck_assert_int_eq(mxe_web_auth_check(a, basic("mallory", "wonderland"), 0), MXE_AUTH_DENIED);
    ck_assert_int_eq(mxe_web_auth_check(a, basic("", "x"), 0), MXE_AUTH_DENIED);
    ck_assert_int_eq(stats(a).bcrypt_runs, 2);
    ck_assert_int_eq(stats(a).cache_hits, 0);
    mxe_web_auth_free(a);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_unknown_user_costs_what_a_known_user_costs)
{
    /* Timing equality follows from two facts, checked without a stopwatch (timed tests are
     * flaky on loaded machines): an unknown user runs exactly one bcrypt, like a wrong
     * password, and against a hash of the cost most users have. */
    mxe_web_auth *a = parse("alice:" ALICE_HASH "\n");
    ck_assert_msg(a != NULL, "%s", err);
    ck_assert_int_eq(stats(a).dummy_cost, 10);
    ck_assert_int_eq(mxe_web_auth_check(a, basic("alice", "not-wonderland"), 0), MXE_AUTH_DENIED);
    ck_assert_int_eq(stats(a).bcrypt_runs, 1);
    ck_assert_int_eq(mxe_web_auth_check(a, basic("nobody", "not-wonderland"), 0), MXE_AUTH_DENIED);
    ck_assert_int_eq(stats(a).bcrypt_runs, 2);
    mxe_web_auth_free(a);
}
END_TEST

START_TEST(test_cache)
{
    mxe_web_auth *a = load_fixture();
    const char *good = basic("alice", "wonderland");
    char good_copy[256];
    keep(good_copy, sizeof good_copy, good);
    ck_assert_int_eq(mxe_web_auth_check(a, good_copy, 1000), MXE_AUTH_OK);
    ck_assert_int_eq(stats(a).bcrypt_runs, 1);
    /* hits: no bcrypt */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(mxe_web_auth_check(a, good_copy, 2000 + i), MXE_AUTH_OK);
    ck_assert_int_eq(stats(a).bcrypt_runs, 1);
    ck_assert_int_eq(stats(a).cache_hits, 5);
    /* a wrong password is verified (not taken from the cache) and does not evict */
    ck_assert_int_eq(mxe_web_auth_check(a, basic("alice", "wonderland2"), 3000), MXE_AUTH_DENIED);
    ck_assert_int_eq(stats(a).bcrypt_runs, 2);
    ck_assert_int_eq(mxe_web_auth_check(a, good_copy, 3001), MXE_AUTH_OK);
    ck_assert_int_eq(stats(a).bcrypt_runs, 2);
    /* the entry belongs to alice: the same password for another user is verified */
    ck_assert_int_eq(mxe_web_auth_check(a, basic("bob", "wonderland"), 3002), MXE_AUTH_DENIED);
    ck_assert_int_eq(stats(a).bcrypt_runs, 3);
    /* idle expiry slides with use */
    int64_t t = 3001;
    for (int i = 0; i < 3; i++) {
        t += MXE_AUTH_CACHE_IDLE_MS - 1;
        ck_assert_int_eq(mxe_web_auth_check(a, good_copy, t), MXE_AUTH_OK);
    }
    ck_assert_int_eq(stats(a).bcrypt_runs, 3);
    /* unused for the idle time: verified again, then cached again */
    t += MXE_AUTH_CACHE_IDLE_MS;
    ck_assert_int_eq(mxe_web_auth_check(a, good_copy, t), MXE_AUTH_OK);
    ck_assert_int_eq(stats(a).bcrypt_runs, 4);
    ck_assert_int_eq(mxe_web_auth_check(a, good_copy, t + 1), MXE_AUTH_OK);
    ck_assert_int_eq(stats(a).bcrypt_runs, 4);
    /* a second valid password of the same user (bcrypt's 72-byte limit) replaces the entry */
    char pw[80];
    memset(pw, 'a', 72);
    pw[72] = '\0';
    char e1[256];
    keep(e1, sizeof e1, basic("eve", pw));
    strcat(pw, "b");
    char e2[256];
    keep(e2, sizeof e2, basic("eve", pw));
    ck_assert_int_eq(mxe_web_auth_check(a, e1, t), MXE_AUTH_OK);
    ck_assert_int_eq(mxe_web_auth_check(a, e2, t), MXE_AUTH_OK);
    uint64_t runs = stats(a).bcrypt_runs;
    ck_assert_int_eq(mxe_web_auth_check(a, e2, t), MXE_AUTH_OK);
    ck_assert_int_eq(stats(a).bcrypt_runs, runs);
    mxe_web_auth_free(a);
}
END_TEST

/* The queue for bcrypt, made deterministic with the turn hook: each checking thread has a
 * label; the hook records the labels in the order the turns come, and holds the turn of
 * the thread labelled "holder" until the test lets it go. */
static _Thread_local const char *label;

typedef struct turns {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *order[16];
    size_t n;
    bool holder_in, release;
} turns;

static turns T;

static void turns_reset(void)
{
    pthread_mutex_destroy(&T.mu);
    pthread_cond_destroy(&T.cv);
    memset(&T, 0, sizeof T);
    pthread_mutex_init(&T.mu, NULL);
    pthread_cond_init(&T.cv, NULL);
}

static void turn_hook(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&T.mu);
    if (T.n < 16)
        T.order[T.n++] = label ? label : "?";
    if (label && strcmp(label, "holder") == 0) {
        T.holder_in = true;
        pthread_cond_broadcast(&T.cv);
        while (!T.release)
            pthread_cond_wait(&T.cv, &T.mu);
    }
    pthread_mutex_unlock(&T.mu);
}

static void release_holder(void)
{
    pthread_mutex_lock(&T.mu);
    T.release = true;
    pthread_cond_broadcast(&T.cv);
    pthread_mutex_unlock(&T.mu);
}

typedef struct checker {
    mxe_web_auth *a;
    const char *label;
    char hdr[256];
    mxe_auth_result r;
    pthread_t t;
} checker;

static void *check_main(void *p)
{
    checker *c = p;
    label = c->label;
    c->r = mxe_web_auth_check(c->a, c->hdr, 0);
    return NULL;
}

static void start_checker(checker *c, mxe_web_auth *a, const char *lbl, const char *hdr)
{
    c->a = a;
    c->label = lbl;
    keep(c->hdr, sizeof c->hdr, hdr);
    c->r = (mxe_auth_result)-1;
    ck_assert_int_eq(pthread_create(&c->t, NULL, check_main, c), 0);
}

/* Poll (without a stopwatch assertion) until cond holds; 30 s is only a backstop. */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        double deadline_ = now_s() + 30;                                                           \
        while (!(cond) && now_s() < deadline_)                                                     \
            usleep(200);                                                                           \
        ck_assert_msg((cond), "never: %s", #cond);                                                 \
    } while (0)

static bool holder_in(void)
{
    pthread_mutex_lock(&T.mu);
    bool in = T.holder_in;
    pthread_mutex_unlock(&T.mu);
    return in;
}

START_TEST(test_checks_wait_their_turn_in_order)
{
    turns_reset();
    mxe_web_auth *a = load_fixture();
    char alice[256];
    keep(alice, sizeof alice, basic("alice", "wonderland"));
    ck_assert_int_eq(mxe_web_auth_check(a, alice, 0), MXE_AUTH_OK); /* cached now */
    mxe_web_auth_set_turn_hook(a, turn_hook, NULL);

    /* A wrong password holds the turn (as a client looping wrong passwords would) ... */
    checker holder, bob, nobody, bob2;
    start_checker(&holder, a, "holder", basic("dave", "wrong"));
    WAIT_FOR(holder_in());
    /* ... while a first login, an unknown user and the same first login again queue up */
    start_checker(&bob, a, "bob", basic("bob", "pa:ss word"));
    WAIT_FOR(stats(a).waiting == 1);
    start_checker(&nobody, a, "nobody", basic("nobody", "x"));
    WAIT_FOR(stats(a).waiting == 2);
    start_checker(&bob2, a, "bob2", basic("bob", "pa:ss word"));
    WAIT_FOR(stats(a).waiting == 3);
    /* a cached credential needs no turn, nor does a malformed header: answered meanwhile */
    ck_assert_int_eq(mxe_web_auth_check(a, alice, 0), MXE_AUTH_OK);
    ck_assert_int_eq(mxe_web_auth_check(a, "Basic !!!!", 0), MXE_AUTH_DENIED);
    ck_assert_int_eq(stats(a).waiting, 3);

    release_holder();
    checker *all[] = {&holder, &bob, &nobody, &bob2};
    for (size_t i = 0; i < 4; i++)
        pthread_join(all[i]->t, NULL);
    /* nobody was refused: the first login passed despite the wrong password before it */
    ck_assert_int_eq(holder.r, MXE_AUTH_DENIED);
    ck_assert_int_eq(bob.r, MXE_AUTH_OK);
    ck_assert_int_eq(nobody.r, MXE_AUTH_DENIED);
    ck_assert_int_eq(bob2.r, MXE_AUTH_OK);
    /* turns in arrival order */
    ck_assert_uint_eq(T.n, 4);
    const char *want[] = {"holder", "bob", "nobody", "bob2"};
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(T.order[i], want[i]);
    mxe_web_auth_stats st = stats(a);
    ck_assert_int_eq(st.busy, 0);
    ck_assert_int_eq(st.queued, 3);
    ck_assert_int_eq(st.waiting, 0);
    ck_assert(!st.verifying);
    /* alice, holder, bob, nobody; bob2 found bob's fresh entry when its turn came */
    ck_assert_int_eq(st.bcrypt_runs, 4);
    mxe_web_auth_free(a);
}
END_TEST

START_TEST(test_wait_is_bounded)
{
    turns_reset();
    mxe_web_auth *a = load_fixture();
    mxe_web_auth_set_queue_limits(a, 1, 100);
    mxe_web_auth_set_turn_hook(a, turn_hook, NULL);
    checker holder, waiter1, waiter2;
    start_checker(&holder, a, "holder", basic("dave", "wrong"));
    WAIT_FOR(holder_in());
    start_checker(&waiter1, a, "w1", basic("bob", "pa:ss word"));
    WAIT_FOR(stats(a).waiting == 1);
    /* the queue is full (one waiter): refused at once, without queueing */
    ck_assert_int_eq(mxe_web_auth_check(a, basic("nobody", "x"), 0), MXE_AUTH_BUSY);
    ck_assert_int_eq(stats(a).queued, 1);
    ck_assert_int_eq(stats(a).busy, 1);
    /* the waiter gives up after 100 ms: the holder cannot finish before the test lets it */
    pthread_join(waiter1.t, NULL);
    ck_assert_int_eq(waiter1.r, MXE_AUTH_BUSY);
    ck_assert_int_eq(stats(a).busy, 2);
    ck_assert_int_eq(stats(a).waiting, 0);
    /* the place it left blocks nobody: the next waiter gets the turn after the holder */
    mxe_web_auth_set_queue_limits(a, 1, 30000);
    start_checker(&waiter2, a, "w2", basic("carol", "x"));
    WAIT_FOR(stats(a).waiting == 1);
    release_holder();
    pthread_join(holder.t, NULL);
    pthread_join(waiter2.t, NULL);
    ck_assert_int_eq(holder.r, MXE_AUTH_DENIED);
    ck_assert_int_eq(waiter2.r, MXE_AUTH_OK);
    ck_assert_uint_eq(T.n, 2);
    ck_assert_str_eq(T.order[0], "holder");
    ck_assert_str_eq(T.order[1], "w2");
    ck_assert_int_eq(stats(a).waiting, 0);
    mxe_web_auth_free(a);
}
END_TEST

typedef struct hammer_arg {
    mxe_web_auth *a;
    const char *hdr;
    int ok;
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *h = p;
    for (int i = 0; i < 2000; i++)
        h->ok += mxe_web_auth_check(h->a, h->hdr, i) == MXE_AUTH_OK;
    return NULL;
}

START_TEST(test_concurrent_cached_checks)
{
    mxe_web_auth *a = load_fixture();
    char hdr[256];
    keep(hdr, sizeof hdr, basic("carol", "x"));
    ck_assert_int_eq(mxe_web_auth_check(a, hdr, 0), MXE_AUTH_OK);
    hammer_arg args[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (hammer_arg){a, hdr, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(args[i].ok, 2000);
    }
    ck_assert_int_eq(stats(a).bcrypt_runs, 1);
    mxe_web_auth_free(a);
}
END_TEST

START_TEST(test_null_auth_allows)
{
    ck_assert_int_eq(mxe_web_auth_check(NULL, NULL, 0), MXE_AUTH_OK);
    mxe_web_auth_free(NULL);
    ck_assert_uint_eq(mxe_web_auth_user_count(NULL), 0);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* TLS material */

static char *write_temp(const char *content)
{
    static char paths[8][64];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 64, "/tmp/mxe-tls-XXXXXX");
    int fd = mkstemp(p);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(content);
    ck_assert_int_eq(write(fd, content, n), (ssize_t)n);
    close(fd);
    return p;
}

#define PEM_CERT "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
#define PEM_KEY  "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"

START_TEST(test_tls_load)
{
    mxe_web_tls t;
    ck_assert_int_eq(mxe_web_tls_load(&t, NULL, NULL, err, sizeof err), 0);
    ck_assert(!mxe_web_tls_enabled(&t));
    mxe_web_tls_free(&t);

    char *cert = write_temp(PEM_CERT), *key = write_temp(PEM_KEY);
    ck_assert_int_eq(mxe_web_tls_load(&t, cert, key, err, sizeof err), 0);
    ck_assert(mxe_web_tls_enabled(&t));
    ck_assert_str_eq(t.cert, PEM_CERT);
    ck_assert_str_eq(t.key, PEM_KEY);
    ck_assert_uint_eq(t.key_len, strlen(PEM_KEY));
    mxe_web_tls_free(&t);
    ck_assert_ptr_null(t.key);

    char want[512];
    ck_assert_int_eq(mxe_web_tls_load(&t, "/nonexistent.pem", key, err, sizeof err), -1);
    ck_assert_str_eq(
        err, "--web.tls-cert-file: cannot read /nonexistent.pem: No such file or directory");
    ck_assert_int_eq(mxe_web_tls_load(&t, cert, "/nonexistent.pem", err, sizeof err), -1);
    ck_assert_str_eq(err,
                     "--web.tls-key-file: cannot read /nonexistent.pem: No such file or directory");
    ck_assert_int_eq(mxe_web_tls_load(&t, key, key, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "--web.tls-cert-file: %s: no PEM certificate (-----BEGIN CERTIFICATE-----)", key);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(mxe_web_tls_load(&t, cert, cert, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "--web.tls-key-file: %s: no PEM private key (-----BEGIN ... PRIVATE KEY-----)", cert);
    ck_assert_str_eq(err, want);
    char *both = write_temp(PEM_CERT PEM_KEY);
    ck_assert_int_eq(mxe_web_tls_load(&t, both, key, err, sizeof err), -1);
    ck_assert(strstr(err, "holds a private key") != NULL);
    char *enc = write_temp("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE\n"
                           "-----END ENCRYPTED PRIVATE KEY-----\n");
    ck_assert_int_eq(mxe_web_tls_load(&t, cert, enc, err, sizeof err), -1);
    snprintf(want, sizeof want, "--web.tls-key-file: %s: encrypted private keys are not supported",
             enc);
    ck_assert_str_eq(err, want);
    char *empty = write_temp("");
    ck_assert_int_eq(mxe_web_tls_load(&t, empty, key, err, sizeof err), -1);
    snprintf(want, sizeof want, "--web.tls-cert-file: %s: empty", empty);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(mxe_web_tls_load(&t, cert, NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, "--web.tls-cert-file and --web.tls-key-file must be given together");
    ck_assert_ptr_null(t.cert);
    const char *all[] = {cert, key, both, enc, empty};
    for (size_t i = 0; i < 5; i++)
        unlink(all[i]);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Configuration options */

static mxe_config_result load_cfg(mxe_config *cfg, const char *const *args, const char *const *env)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *)"mediamtx-exporter";
    for (size_t i = 0; args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    FILE *sink = fopen("/dev/null", "w");
    mxe_config_result r = mxe_config_load(cfg, argc, argv, (char **)env, sink, err, sizeof err);
    fclose(sink);
    return r;
}

START_TEST(test_config_options)
{
    mxe_config cfg;
    static const char *const none[] = {NULL};
    ck_assert_int_eq(load_cfg(&cfg, none, none), MXE_CONFIG_OK);
    ck_assert_ptr_null(cfg.web_tls_cert_file);
    ck_assert_ptr_null(cfg.web_tls_key_file);
    ck_assert_ptr_null(cfg.web_users_file);
    ck_assert(!cfg.web_auth_exempt_health);
    mxe_config_free(&cfg);

    char *cert = write_temp(PEM_CERT), *key = write_temp(PEM_KEY);
    char a1[128], a2[128];
    snprintf(a1, sizeof a1, "--web.tls-cert-file=%s", cert);
    snprintf(a2, sizeof a2, "--web.tls-key-file=%s", key);
    const char *args[] = {a1,  a2, "--web.users-file", USERS_FIXTURE, "--web.auth-exempt-health",
                          NULL};
    ck_assert_int_eq(load_cfg(&cfg, args, none), MXE_CONFIG_OK);
    ck_assert_str_eq(cfg.web_tls_cert_file, cert);
    ck_assert_str_eq(cfg.web_tls_key_file, key);
    ck_assert_str_eq(cfg.web_users_file, USERS_FIXTURE);
    ck_assert(cfg.web_auth_exempt_health);
    mxe_config_free(&cfg);

    /* the environment, and "" meaning unset */
    char e1[128], e2[128];
    snprintf(e1, sizeof e1, "WEB_TLS_CERT_FILE=%s", cert);
    snprintf(e2, sizeof e2, "WEB_TLS_KEY_FILE=%s", key);
    const char *env[] = {e1, e2, "WEB_USERS_FILE=", "WEB_AUTH_EXEMPT_HEALTH=yes", NULL};
    ck_assert_int_eq(load_cfg(&cfg, none, env), MXE_CONFIG_OK);
    ck_assert_str_eq(cfg.web_tls_key_file, key);
    ck_assert_ptr_null(cfg.web_users_file);
    ck_assert(cfg.web_auth_exempt_health);
    mxe_config_free(&cfg);

    /* both or neither, named as set */
    const char *only_cert[] = {a1, NULL};
    ck_assert_int_eq(load_cfg(&cfg, only_cert, none), MXE_CONFIG_BAD);
    ck_assert_str_eq(err, "--web.tls-cert-file: needs --web.tls-key-file too");
    mxe_config_free(&cfg);
    const char *only_key_env[] = {e2, NULL};
    ck_assert_int_eq(load_cfg(&cfg, none, only_key_env), MXE_CONFIG_BAD);
    ck_assert_str_eq(err, "WEB_TLS_KEY_FILE: needs --web.tls-cert-file too");
    mxe_config_free(&cfg);
    /* unreadable files, named by option */
    const char *missing[] = {"--web.users-file=/nonexistent/users", NULL};
    ck_assert_int_eq(load_cfg(&cfg, missing, none), MXE_CONFIG_BAD);
    ck_assert_str_eq(err,
                     "--web.users-file: cannot read /nonexistent/users: No such file or directory");
    mxe_config_free(&cfg);
    const char *missing_key[] = {a1, "--web.tls-key-file=/nonexistent/key.pem", NULL};
    ck_assert_int_eq(load_cfg(&cfg, missing_key, none), MXE_CONFIG_BAD);
    ck_assert_str_eq(
        err, "--web.tls-key-file: cannot read /nonexistent/key.pem: No such file or directory");
    mxe_config_free(&cfg);
    const char *bad_bool[] = {"--web.auth-exempt-health=maybe", NULL};
    ck_assert_int_eq(load_cfg(&cfg, bad_bool, none), MXE_CONFIG_BAD);
    ck_assert_str_eq(err, "--web.auth-exempt-health: invalid boolean \"maybe\" (expected true, "
                          "false, 1, 0, yes or no)");
    mxe_config_free(&cfg);
    unlink(cert);
    unlink(key);
}
END_TEST

static Suite *web_auth_suite(void)
{
    Suite *s = suite_create("web_auth");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
#define N(a) (int)(sizeof(a) / sizeof((a)[0]))
    tcase_add_test(tc, test_base64_vectors);
    tcase_add_test(tc, test_base64_strict);
    tcase_add_test(tc, test_siphash_vectors);
    tcase_add_test(tc, test_users_file_fixture);
    tcase_add_loop_test(tc, test_users_file_errors, 0, N(users_bad));
    tcase_add_loop_test(tc, test_users_file_bad_hashes, 0, N(hashes_bad));
    tcase_add_test(tc, test_users_file_limits);
    tcase_add_test(tc, test_users_file_load_errors);
    tcase_add_test(tc, test_check_real_bcrypt);
    tcase_add_test(tc, test_check_header_forms);
    tcase_add_test(tc, test_unknown_user_runs_bcrypt);
    tcase_add_test(tc, test_unknown_user_costs_what_a_known_user_costs);
    tcase_add_test(tc, test_cache);
    tcase_add_test(tc, test_checks_wait_their_turn_in_order);
    tcase_add_test(tc, test_wait_is_bounded);
    tcase_add_test(tc, test_concurrent_cached_checks);
    tcase_add_test(tc, test_null_auth_allows);
    tcase_add_test(tc, test_tls_load);
    tcase_add_test(tc, test_config_options);
#undef N
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(web_auth_suite());
}
