/* MediaMTX pages → stream records: both schemas, the SRT join, pagination duplicates,
 * nulls, missing fields, wrong types. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "collect.h"
#include "testutil.h"

/* Feed fixture pages (NULL-terminated lists) and finish. Returns the collect result. */
static int collect(const char *const *paths, const char *const *srts, mxe_streams *out, char *err,
                   size_t errlen)
{
    mxe_collect c = MXE_COLLECT_INIT;
    uint64_t pages;
    int rc = 0;
    for (; paths && *paths && rc == 0; paths++) {
        size_t n;
        char *body = read_fixture(*paths, &n);
        rc = mxe_collect_paths_page(&c, body, n, &pages, err, errlen);
        free(body);
    }
    for (; srts && *srts && rc == 0; srts++) {
        size_t n;
        char *body = read_fixture(*srts, &n);
        rc = mxe_collect_srt_page(&c, body, n, &pages, err, errlen);
        free(body);
    }
    if (rc == 0)
        rc = mxe_collect_finish(&c, out);
    mxe_collect_free(&c);
    return rc;
}

/* Collect inline page bodies. */
static int collect_text(const char *paths_page, const char *srt_page, mxe_streams *out, char *err,
                        size_t errlen)
{
    mxe_collect c = MXE_COLLECT_INIT;
    uint64_t pages;
    int rc = mxe_collect_paths_page(&c, paths_page, strlen(paths_page), &pages, err, errlen);
    if (rc == 0 && srt_page)
        rc = mxe_collect_srt_page(&c, srt_page, strlen(srt_page), &pages, err, errlen);
    if (rc == 0)
        rc = mxe_collect_finish(&c, out);
    mxe_collect_free(&c);
    return rc;
}

START_TEST(test_v120_schema_prefers_new_fields)
{
    const char *p[] = {"fixtures/mediamtx/paths-v1.20.json", NULL};
    const char *s[] = {"fixtures/mediamtx/srtconns-v1.20.json", NULL};
    mxe_streams st = {0};
    char err[256];
    ck_assert_int_eq(collect(p, s, &st, err, sizeof err), 0);
    ck_assert_uint_eq(st.count, 3);
    const mxe_stream *cam = mxe_streams_find(&st, "cam/lobby", 9);
    ck_assert_ptr_nonnull(cam);
    ck_assert_str_eq(cam->source_type, "rtspSession");
    ck_assert(cam->ready);
    ck_assert_uint_eq(cam->n_tracks, 1);
    ck_assert_str_eq(cam->tracks[0], "H264");
    ck_assert_uint_eq(cam->readers, 3);
    ck_assert_uint_eq(cam->n_reader_types, 2);
    ck_assert_str_eq(cam->readers_by_type[0].type, "hlsSession");
    ck_assert_uint_eq(cam->readers_by_type[1].count, 2);
    ck_assert(!cam->has_srt);

    const mxe_stream *idle = mxe_streams_find(&st, "idle", 4);
    ck_assert_ptr_nonnull(idle);
    ck_assert_ptr_null(idle->source_type);
    ck_assert(!idle->ready);
    ck_assert_uint_eq(idle->n_tracks, 0);

    const mxe_stream *sport = mxe_streams_find(&st, "testpattern-sport", 17);
    ck_assert_ptr_nonnull(sport);
    /* inboundBytes (2^64−1) wins over the deprecated bytesReceived (1), exactly. */
    ck_assert(sport->bytes_received == UINT64_MAX);
    ck_assert(sport->bytes_sent == 3413148);
    ck_assert_uint_eq(sport->n_tracks, 2);
    ck_assert_str_eq(sport->tracks[1], "MPEG-4 Audio");
    /* The publisher's statistics, not those of the srtConn reader on the same path. */
    ck_assert(sport->has_srt);
    ck_assert(sport->srt.rtt_ms == 0.36);
    ck_assert(sport->srt.recv_rate_mbps == 1.94);
    ck_assert(sport->srt.link_capacity_mbps == 1808.58);
    ck_assert(sport->srt.recv_latency_ms == 120);
    ck_assert(sport->srt.packets_lost == 7);
    ck_assert(sport->srt.packets_retrans == 5);
    ck_assert(sport->srt.packets_dropped == 3);
    mxe_streams_free(&st);
}
END_TEST

START_TEST(test_srt_viewer_listed_before_publisher)
{
    /* MediaMTX sorts srtconns by `created` (FACTS 23): after a publisher restarts, a viewer
     * of the same path (state "read") that joined earlier comes first. The SRT fields must
     * still come from the connection whose id is source.id, never from the first one found
     * for the path. */
    const char *p[] = {"fixtures/mediamtx/paths-v1.20.json", NULL};
    const char *s[] = {"fixtures/mediamtx/srtconns-viewer-first-v1.20.json", NULL};
    mxe_streams st = {0};
    char err[256];
    ck_assert_int_eq(collect(p, s, &st, err, sizeof err), 0);
    const mxe_stream *sport = mxe_streams_find(&st, "testpattern-sport", 17);
    ck_assert_ptr_nonnull(sport);
    ck_assert_str_eq(sport->source_id, "0c1f7d5e-9d3b-4b6a-8f0e-2a4b6c8d0e1f");
    ck_assert(sport->has_srt);
    ck_assert(sport->srt.rtt_ms == 0.36);                /* the viewer's is 99 */
    ck_assert(sport->srt.recv_rate_mbps == 1.94);        /* 99 */
    ck_assert(sport->srt.link_capacity_mbps == 1808.58); /* 99 */
    ck_assert(sport->srt.packets_lost == 7);             /* 99 */
    mxe_streams_free(&st);
}
END_TEST

START_TEST(test_v113_schema)
{
    const char *p[] = {"fixtures/mediamtx/paths-v1.13.json", NULL};
    const char *s[] = {"fixtures/mediamtx/srtconns-v1.13.json", NULL};
    mxe_streams st = {0};
    char err[256];
    ck_assert_int_eq(collect(p, s, &st, err, sizeof err), 0);
    ck_assert_uint_eq(st.count, 2);
    const mxe_stream *live = &st.items[0];
    ck_assert_str_eq(live->name, "live");
    ck_assert(live->bytes_received == 987654321);
    ck_assert(live->bytes_sent == 42);
    ck_assert_str_eq(live->tracks[1], "AC-3");
    ck_assert_uint_eq(live->readers, 2);
    const mxe_stream *srt = &st.items[1];
    ck_assert(srt->has_srt);
    ck_assert(srt->srt.rtt_ms == 12.5);
    ck_assert(srt->srt.link_capacity_mbps == 1e-7);
    ck_assert(srt->srt.recv_latency_ms == 200);
    mxe_streams_free(&st);
}
END_TEST

START_TEST(test_srt_without_connection_list)
{
    /* SRT disabled (404 → no srtconns pages): an srtConn source has no statistics. */
    const char *p[] = {"fixtures/mediamtx/paths-v1.13.json", NULL};
    mxe_streams st = {0};
    char err[256];
    ck_assert_int_eq(collect(p, NULL, &st, err, sizeof err), 0);
    ck_assert(!st.items[1].has_srt);
    mxe_streams_free(&st);
}
END_TEST

START_TEST(test_duplicates_across_pages_keep_latest)
{
    /* The list changed between pages: "b" appears on both, the later copy wins. */
    mxe_collect c = MXE_COLLECT_INIT;
    uint64_t pages;
    char err[256];
    const char *p0 =
        "{\"pageCount\":2,\"items\":[{\"name\":\"a\"},{\"name\":\"b\",\"bytesReceived\":1}]}";
    const char *p1 =
        "{\"pageCount\":2,\"items\":[{\"name\":\"b\",\"bytesReceived\":2},{\"name\":\"c\"}]}";
    ck_assert_int_eq(mxe_collect_paths_page(&c, p0, strlen(p0), &pages, err, sizeof err), 0);
    ck_assert(pages == 2);
    ck_assert_int_eq(mxe_collect_paths_page(&c, p1, strlen(p1), &pages, err, sizeof err), 0);
    mxe_streams st = {0};
    ck_assert_int_eq(mxe_collect_finish(&c, &st), 0);
    ck_assert_uint_eq(st.count, 3);
    ck_assert_str_eq(st.items[0].name, "a");
    ck_assert_str_eq(st.items[1].name, "b");
    ck_assert(st.items[1].bytes_received == 2);
    ck_assert_str_eq(st.items[2].name, "c");
    mxe_streams_free(&st);
    mxe_collect_free(&c);
}
END_TEST

START_TEST(test_unsorted_input_is_sorted)
{
    mxe_streams st = {0};
    char err[256];
    const char *p =
        "{\"pageCount\":1,\"items\":[{\"name\":\"z\"},{\"name\":\"B\"},{\"name\":\"a\"}]}";
    ck_assert_int_eq(collect_text(p, NULL, &st, err, sizeof err), 0);
    ck_assert_str_eq(st.items[0].name, "B"); /* byte order, as MediaMTX sorts */
    ck_assert_str_eq(st.items[1].name, "a");
    ck_assert_str_eq(st.items[2].name, "z");
    mxe_streams_free(&st);
}
END_TEST

START_TEST(test_nulls_and_missing_fields)
{
    mxe_streams st = {0};
    char err[256];
    const char *p = "{\"pageCount\":1,\"items\":[{\"name\":\"n\",\"source\":null,\"ready\":null,"
                    "\"tracks\":null,\"readers\":null,\"bytesReceived\":null,\"readyTime\":null},"
                    "{\"name\":\"m\"}]}";
    ck_assert_int_eq(collect_text(p, NULL, &st, err, sizeof err), 0);
    ck_assert_uint_eq(st.count, 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_ptr_null(st.items[i].source_type);
        ck_assert(!st.items[i].ready);
        ck_assert_uint_eq(st.items[i].readers, 0);
        ck_assert(st.items[i].bytes_received == 0);
    }
    mxe_streams_free(&st);
}
END_TEST

START_TEST(test_wrong_types_rejected)
{
    static const struct {
        const char *page;
        const char *expect; /* in the error message */
    } cases[] = {
        {"{\"pageCount\":1,\"items\":[{\"name\":\"x\",\"bytesReceived\":\"12\"}]}",
         "bytesReceived"},
        {"{\"pageCount\":1,\"items\":[{\"name\":\"x\",\"inboundBytes\":-1}]}", "inboundBytes"},
        {"{\"pageCount\":1,\"items\":[{\"name\":\"x\",\"ready\":1}]}", "ready"},
        {"{\"pageCount\":1,\"items\":[{\"name\":\"x\",\"tracks\":\"H264\"}]}", "tracks"},
        {"{\"pageCount\":1,\"items\":[{\"name\":\"x\",\"tracks2\":[{\"codec\":5}]}]}", "tracks2"},
        {"{\"pageCount\":1,\"items\":[{\"name\":\"x\",\"readers\":{}}]}", "readers"},
        {"{\"pageCount\":1,\"items\":[{\"name\":\"x\",\"source\":\"srtConn\"}]}", "source"},
        {"{\"pageCount\":1,\"items\":[{\"name\":7}]}", "name"},
        {"{\"pageCount\":1,\"items\":[{\"name\":\"\"}]}", "name"},
        {"{\"pageCount\":1,\"items\":[5]}", "not an object"},
        {"{\"pageCount\":1,\"items\":{}}", "items"},
        {"{\"pageCount\":\"1\",\"items\":[]}", "pageCount"},
        {"{\"items\":[]}", "pageCount"},
        {"[]", "not a JSON object"},
        {"{\"pageCount\":1,\"items\":[{\"name\":\"x\"}", "truncated"},
        {"<html>502 Bad Gateway</html>", "invalid JSON"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mxe_streams st = {0};
        char err[256] = "";
        ck_assert_msg(collect_text(cases[i].page, NULL, &st, err, sizeof err) == -1, "accepted: %s",
                      cases[i].page);
        ck_assert_msg(strstr(err, cases[i].expect) != NULL, "error '%s' lacks '%s'", err,
                      cases[i].expect);
        mxe_streams_free(&st);
    }
    const char *srt = "{\"pageCount\":1,\"items\":[{\"id\":\"a\",\"msRTT\":\"fast\"}]}";
    mxe_streams st = {0};
    char err[256];
    ck_assert_int_eq(collect_text("{\"pageCount\":0,\"items\":[]}", srt, &st, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "msRTT"));
}
END_TEST

START_TEST(test_error_messages_stay_one_line)
{
    /* A path name holding a newline must not forge a second log line. */
    mxe_streams st = {0};
    char err[256];
    const char *p = "{\"pageCount\":1,\"items\":[{\"name\":\"a\\nERROR forged\",\"ready\":3}]}";
    ck_assert_int_eq(collect_text(p, NULL, &st, err, sizeof err), -1);
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_ptr_nonnull(strstr(err, "a?ERROR forged"));
    const char *body = "{\"error\":\"bad\\nline\"}";
    char buf[64];
    ck_assert_int_eq(mxe_collect_error_text(body, strlen(body), buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "bad?line");
}
END_TEST

START_TEST(test_error_and_info_bodies)
{
    char buf[64];
    const char *v113 = "{\"error\":\"invalid items per page\"}";
    const char *v120 = "{\"status\":\"error\",\"error\":\"authentication error\"}";
    ck_assert_int_eq(mxe_collect_error_text(v113, strlen(v113), buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "invalid items per page");
    ck_assert_int_eq(mxe_collect_error_text(v120, strlen(v120), buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "authentication error");
    ck_assert_int_eq(mxe_collect_error_text("404 page not found", 18, buf, sizeof buf), -1);
    const char *info = "{\"version\":\"v1.20.1\",\"started\":\"2026-11-24T01:00:00Z\"}";
    ck_assert_int_eq(mxe_collect_info_version(info, strlen(info), buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "v1.20.1");
}
END_TEST

START_TEST(test_large_list_scales)
{
    /* 10,000 paths on 10 pages: all collected, in order, each SRT-published one joined. */
    mxe_collect c = MXE_COLLECT_INIT;
    mxe_buf page = MXE_BUF_INIT, srt = MXE_BUF_INIT;
    uint64_t pages;
    char err[256];
    for (int p = 0; p < 10; p++) {
        mxe_buf_reset(&page);
        mxe_buf_puts(&page, "{\"pageCount\":10,\"itemCount\":10000,\"items\":[");
        for (int i = 0; i < 1000; i++) {
            int k = p * 1000 + i;
            mxe_buf_printf(
                &page,
                "%s{\"name\":\"cam-%05d\",\"source\":{\"type\":\"srtConn\",\"id\":\"id-%05d\"},"
                "\"ready\":true,\"tracks\":[\"H264\"],\"bytesReceived\":%d,\"readers\":[]}",
                i ? "," : "", k, k, k);
        }
        mxe_buf_puts(&page, "]}");
        ck_assert_int_eq(mxe_collect_paths_page(&c, page.data, page.len, &pages, err, sizeof err),
                         0);
    }
    mxe_buf_puts(&srt, "{\"pageCount\":1,\"items\":[");
    for (int k = 9999; k >= 0; k--) /* sorted by created, not id */
        mxe_buf_printf(&srt, "%s{\"id\":\"id-%05d\",\"msRTT\":%d}", k != 9999 ? "," : "", k, k);
    mxe_buf_puts(&srt, "]}");
    ck_assert_int_eq(mxe_collect_srt_page(&c, srt.data, srt.len, &pages, err, sizeof err), 0);
    mxe_streams st = {0};
    ck_assert_int_eq(mxe_collect_finish(&c, &st), 0);
    ck_assert_uint_eq(st.count, 10000);
    for (size_t i = 0; i < st.count; i++) {
        ck_assert(st.items[i].has_srt);
        ck_assert(st.items[i].srt.rtt_ms == (double)i);
        ck_assert(st.items[i].bytes_received == i);
    }
    mxe_streams_free(&st);
    mxe_collect_free(&c);
    mxe_buf_free(&page);
    mxe_buf_free(&srt);
}
END_TEST

/* A path published by SRT connection "c1", and that connection with the given fields. */
static int collect_srt_fields(const char *srt_fields, mxe_streams *out, char *err, size_t errlen)
{
    const char *paths = "{\"pageCount\":1,\"items\":[{\"name\":\"cam\",\"source\":"
                        "{\"type\":\"srtConn\",\"id\":\"c1\"},\"ready\":true}]}";
    char srt[512];
    snprintf(
        srt, sizeof srt,
        "{\"pageCount\":1,\"items\":[{\"id\":\"c1\",\"state\":\"publish\",\"path\":\"cam\"%s%s}]}",
        srt_fields[0] ? "," : "", srt_fields);
    return collect_text(paths, srt, out, err, errlen);
}

/* Fixture pages that must collect. */
static void collect_ok(const char *paths_rel, const char *srt_rel, mxe_streams *out)
{
    const char *paths[] = {paths_rel, NULL}, *srts[] = {srt_rel, NULL};
    char err[256] = "";
    ck_assert_msg(collect(paths, srts, out, err, sizeof err) == 0, "%s", err);
}

/* packetsReceived (the denominator of a loss ratio) next to packetsReceivedLoss, Retrans
 * and Drop: both versions, exact to 2^64 - 1, the field named when its type is wrong. */
START_TEST(test_received_packets_v120)
{
    mxe_streams st = {0};
    collect_ok("fixtures/mediamtx/paths-v1.20.json", "fixtures/mediamtx/srtconns-v1.20.json", &st);
    const mxe_stream *sport = mxe_streams_find(&st, "testpattern-sport", 17);
    ck_assert_ptr_nonnull(sport);
    ck_assert(sport->has_srt);
    ck_assert(sport->srt.packets_received == 1000); /* the publisher's; the viewer has 0 */
    ck_assert(sport->srt.packets_lost == 7);
    mxe_streams_free(&st);

    /* the viewer listed first does not feed the publisher's counters */
    collect_ok("fixtures/mediamtx/paths-v1.20.json",
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
    collect_ok("fixtures/mediamtx/paths-v1.13.json", "fixtures/mediamtx/srtconns-v1.13.json", &st);
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
        ck_assert_msg(collect_srt_fields(cases[i].fields, &st, err, sizeof err) == 0, "%s: %s",
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
        ck_assert_msg(collect_srt_fields(bad[i], &st, err, sizeof err) == -1, "accepted %s",
                      bad[i]);
        ck_assert_msg(strstr(err, "field packetsReceived") != NULL, "%s: %s", bad[i], err);
        mxe_streams_free(&st);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("collect");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_v120_schema_prefers_new_fields);
    tcase_add_test(tc, test_srt_viewer_listed_before_publisher);
    tcase_add_test(tc, test_v113_schema);
    tcase_add_test(tc, test_srt_without_connection_list);
    tcase_add_test(tc, test_duplicates_across_pages_keep_latest);
    tcase_add_test(tc, test_unsorted_input_is_sorted);
    tcase_add_test(tc, test_nulls_and_missing_fields);
    tcase_add_test(tc, test_wrong_types_rejected);
    tcase_add_test(tc, test_error_messages_stay_one_line);
    tcase_add_test(tc, test_error_and_info_bodies);
    tcase_add_test(tc, test_large_list_scales);
    tcase_add_test(tc, test_received_packets_v120);
    tcase_add_test(tc, test_received_packets_v113);
    tcase_add_test(tc, test_received_packets_exact);
    tcase_add_test(tc, test_received_packets_wrong_type);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
