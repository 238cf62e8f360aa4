/* Stream records → JSON: the seed's key order, null SRT fields, escaping, exact counters,
 * record offsets, and a round trip through our own parser. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "snapshot.h"
#include "streams_json.h"
#include "testutil.h"

static const char *tracks2[] = {"H264", "MPEG-4 Audio"};
static mxe_reader_count by_type[] = {{"rtspSession", 2}, {"webRTCSession", 1}};

static void fill(mxe_streams *s, mxe_stream *items, size_t n)
{
    memset(s, 0, sizeof *s);
    s->items = items;
    s->count = n;
}

START_TEST(test_seed_shape_and_order)
{
    mxe_stream items[2] = {
        {.name = "idle"},
        {.name = "testpattern-sport",
         .source_type = "srtConn",
         .source_id = "abc",
         .tracks = tracks2,
         .n_tracks = 2,
         .readers = 3,
         .readers_by_type = by_type,
         .n_reader_types = 2,
         .bytes_received = 3413148,
         .bytes_sent = UINT64_MAX,
         .ready = true,
         .has_srt = true,
         .srt = {.rtt_ms = 0.36, .recv_rate_mbps = 1.94, .link_capacity_mbps = 1808.58}},
    };
    mxe_streams s;
    fill(&s, items, 2);
    mxe_buf out = MXE_BUF_INIT;
    size_t off[2], len[2];
    ck_assert_int_eq(mxe_streams_json_write(&out, &s, off, len), 0);
    const char *want =
        "[{\"name\":\"idle\",\"sourceType\":null,\"tracks\":[],\"bytesReceived\":0,\"readers\":0,"
        "\"rtt\":null,\"recvRateMbps\":null,\"linkCapacityMbps\":null,\"ready\":false,"
        "\"bytesSent\":0,\"sourceId\":null,\"readersByType\":{}},"
        "{\"name\":\"testpattern-sport\",\"sourceType\":\"srtConn\",\"tracks\":[\"H264\","
        "\"MPEG-4 Audio\"],\"bytesReceived\":3413148,\"readers\":3,\"rtt\":0.36,"
        "\"recvRateMbps\":1.94,\"linkCapacityMbps\":1808.58,\"ready\":true,"
        "\"bytesSent\":18446744073709551615,\"sourceId\":\"abc\","
        "\"readersByType\":{\"rtspSession\":2,\"webRTCSession\":1}}]";
    ck_assert_str_eq(out.data, want);
    /* Offsets cut out exactly each record object. */
    ck_assert(out.data[off[0]] == '{' && out.data[off[0] + len[0] - 1] == '}');
    ck_assert(strncmp(out.data + off[1], "{\"name\":\"testpattern-sport\"", 27) == 0);
    ck_assert_uint_eq(off[1] + len[1] + 1, out.len);
    mxe_buf_free(&out);
}
END_TEST

START_TEST(test_escaping_round_trip)
{
    mxe_stream items[1] = {{.name = "we\"ird\\name\n\x01/é", .source_type = "x</script>"}};
    mxe_streams s;
    fill(&s, items, 1);
    mxe_buf out = MXE_BUF_INIT;
    ck_assert_int_eq(mxe_streams_json_write(&out, &s, NULL, NULL), 0);
    mxe_json j = MXE_JSON_INIT;
    char err[128];
    ck_assert_msg(mxe_json_parse(&j, out.data, out.len, err, sizeof err) == 0, "%s", err);
    mxe_arena a = MXE_ARENA_INIT;
    const char *name;
    ck_assert_int_eq(mxe_json_str(&j, mxe_json_get(&j, 1, "name"), &a, &name), 0);
    ck_assert_str_eq(name, items[0].name);
    mxe_arena_free(&a);
    mxe_json_free(&j);
    mxe_buf_free(&out);
}
END_TEST

START_TEST(test_empty_list)
{
    mxe_streams s;
    fill(&s, NULL, 0);
    mxe_buf out = MXE_BUF_INIT;
    ck_assert_int_eq(mxe_streams_json_write(&out, &s, NULL, NULL), 0);
    ck_assert_str_eq(out.data, "[]");
    mxe_buf_free(&out);
}
END_TEST

START_TEST(test_snapshot_etag_and_find)
{
    /* Snapshots take their streams over; build two with equal content. */
    char etag[2][24];
    for (int k = 0; k < 2; k++) {
        mxe_streams s = {0};
        s.items = calloc(2, sizeof *s.items);
        s.count = s.cap = 2;
        s.items[0].name = mxe_arena_strndup(&s.arena, "a", 1);
        s.items[1].name = mxe_arena_strndup(&s.arena, "b/c", 3);
        mxe_snapshot *snap = mxe_snapshot_new(&s, 1, 1700000000.0, 5);
        ck_assert_ptr_nonnull(snap);
        ck_assert_ptr_null(s.items); /* taken over */
        ck_assert_int_eq(mxe_snapshot_find(snap, "b/c", 3), 1);
        ck_assert_int_eq(mxe_snapshot_find(snap, "b", 1), -1);
        ck_assert_str_eq(snap->last_modified, "Tue, 14 Nov 2023 22:13:20 GMT");
        ck_assert_uint_eq(strlen(snap->etag), 18);
        memcpy(etag[k], snap->etag, sizeof snap->etag);
        mxe_snapshot_unref(snap);
    }
    ck_assert_str_eq(etag[0], etag[1]); /* same document, same ETag across cycles */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("streams_json");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_seed_shape_and_order);
    tcase_add_test(tc, test_escaping_round_trip);
    tcase_add_test(tc, test_empty_list);
    tcase_add_test(tc, test_snapshot_etag_and_find);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
