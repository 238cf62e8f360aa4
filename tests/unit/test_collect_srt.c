/* The SRT publisher's packet counters in collect.c: packetsReceived (the denominator of a
 * loss ratio) next to packetsReceivedLoss/Retrans/Drop, in both API versions, exact to
 * 2^64 - 1, and rejected with the field's name when it has the wrong type. The rest of
 * collect.c is covered by test_collect.c. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "collect.h"
#include "testutil.h"

/* One paths page and one srtconns page (fixture files or inline bodies) → streams. */
static int collect_pages(const char *paths, size_t paths_len, const char *srt, size_t srt_len,
                         mxe_streams *out, char *err, size_t errlen)
{
    mxe_collect c = MXE_COLLECT_INIT;
    uint64_t pages;
    int rc = mxe_collect_paths_page(&c, paths, paths_len, &pages, err, errlen);
    if (rc == 0)
        rc = mxe_collect_srt_page(&c, srt, srt_len, &pages, err, errlen);
    if (rc == 0)
        rc = mxe_collect_finish(&c, out);
    mxe_collect_free(&c);
    return rc;
}

static int collect_fixtures(const char *paths_rel, const char *srt_rel, mxe_streams *out)
{
    size_t pn, sn;
    char *p = read_fixture(paths_rel, &pn);
    char *s = read_fixture(srt_rel, &sn);
    char err[256] = "";
    int rc = collect_pages(p, pn, s, sn, out, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    free(p);
    free(s);
    return rc;
}

/* A path published by SRT connection "c1" and that connection with the given extra fields. */
static int collect_inline(const char *srt_fields, mxe_streams *out, char *err, size_t errlen)
{
    const char *paths = "{\"pageCount\":1,\"items\":[{\"name\":\"cam\",\"source\":"
                        "{\"type\":\"srtConn\",\"id\":\"c1\"},\"ready\":true}]}";
    char srt[512];
    snprintf(
        srt, sizeof srt,
        "{\"pageCount\":1,\"items\":[{\"id\":\"c1\",\"state\":\"publish\",\"path\":\"cam\"%s%s}]}",
        srt_fields[0] ? "," : "", srt_fields);
    return collect_pages(paths, strlen(paths), srt, strlen(srt), out, err, errlen);
}

START_TEST(test_received_packets_v120)
{
    mxe_streams st = {0};
    collect_fixtures("fixtures/mediamtx/paths-v1.20.json", "fixtures/mediamtx/srtconns-v1.20.json",
                     &st);
    const mxe_stream *sport = mxe_streams_find(&st, "testpattern-sport", 17);
    ck_assert_ptr_nonnull(sport);
    ck_assert(sport->has_srt);
    ck_assert(sport->srt.packets_received == 1000); /* the publisher's; the viewer has 0 */
    ck_assert(sport->srt.packets_lost == 7);
    mxe_streams_free(&st);

    /* the viewer listed first does not feed the publisher's counters */
    collect_fixtures("fixtures/mediamtx/paths-v1.20.json",
                     "fixtures/mediamtx/srtconns-viewer-first-v1.20.json", &st);
    sport = mxe_streams_find(&st, "testpattern-sport", 17);
    ck_assert_ptr_nonnull(sport);
    ck_assert(sport->srt.packets_received == 1000);
    mxe_streams_free(&st);
}
END_TEST

START_TEST(test_received_packets_v113)
{
    mxe_streams st = {0};
    collect_fixtures("fixtures/mediamtx/paths-v1.13.json", "fixtures/mediamtx/srtconns-v1.13.json",
                     &st);
    const mxe_stream *srt = &st.items[1];
    ck_assert(srt->has_srt);
    ck_assert(srt->srt.packets_received == 10);
    ck_assert(srt->srt.packets_lost == 1);
    ck_assert(srt->srt.packets_retrans == 2);
    ck_assert(srt->srt.packets_dropped == 4);
    mxe_streams_free(&st);
}
END_TEST

START_TEST(test_received_packets_exact)
{
    static const struct {
        const char *fields;
        uint64_t want;
    } cases[] = {
        {"\"packetsReceived\":18446744073709551615", UINT64_MAX},
        {"\"packetsReceived\":9007199254740993", 9007199254740993u}, /* 2^53 + 1: not a double */
        {"\"packetsReceived\":0", 0},
        {"\"packetsReceived\":null", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mxe_streams st = {0};
        char err[256] = "";
        ck_assert_msg(collect_inline(cases[i].fields, &st, err, sizeof err) == 0, "%s: %s",
                      cases[i].fields, err);
        ck_assert_uint_eq(st.count, 1);
        ck_assert(st.items[0].has_srt);
        ck_assert_msg(st.items[0].srt.packets_received == cases[i].want, "%s", cases[i].fields);
        mxe_streams_free(&st);
    }
}
END_TEST

START_TEST(test_received_packets_wrong_type)
{
    static const char *const bad[] = {
        "\"packetsReceived\":\"12\"", "\"packetsReceived\":-1",
        "\"packetsReceived\":1.5",    "\"packetsReceived\":18446744073709551616", /* 2^64 */
        "\"packetsReceived\":true",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mxe_streams st = {0};
        char err[256] = "";
        ck_assert_msg(collect_inline(bad[i], &st, err, sizeof err) == -1, "accepted %s", bad[i]);
        ck_assert_msg(strstr(err, "field packetsReceived") != NULL, "%s: %s", bad[i], err);
        mxe_streams_free(&st);
    }
}
END_TEST

static Suite *collect_srt_suite(void)
{
    Suite *s = suite_create("collect_srt");
    TCase *tc = tcase_create("packets");
    tcase_add_test(tc, test_received_packets_v120);
    tcase_add_test(tc, test_received_packets_v113);
    tcase_add_test(tc, test_received_packets_exact);
    tcase_add_test(tc, test_received_packets_wrong_type);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(collect_srt_suite());
}
