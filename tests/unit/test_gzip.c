/* gzip: bodies checked by inflating them with zlib exactly as an HTTP client would (one
 * gzip member, CRC and length verified), with and without a buffer for zlib's state. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "expo.h"
#include "gzip.h"
#include "testutil.h"

/* Inflate one gzip member; returns the text (NUL-terminated, caller frees) and checks
 * that nothing follows the member. */
static char *gunzip(const mxe_buf *gz, size_t *out_len)
{
    z_stream z = {0};
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    z.next_in = (Bytef *)gz->data;
    z.avail_in = (uInt)gz->len;
    int rc;
    do {
        if (cap - len < 4096) {
            cap *= 2;
            out = realloc(out, cap);
        }
        z.next_out = (Bytef *)out + len;
        z.avail_out = (uInt)(cap - len - 1);
        rc = inflate(&z, Z_NO_FLUSH);
        len = z.total_out;
        ck_assert_msg(rc == Z_OK || rc == Z_STREAM_END, "inflate: %d", rc);
    } while (rc != Z_STREAM_END);
    ck_assert_uint_eq(z.avail_in, 0); /* one member, nothing after its trailer */
    inflateEnd(&z);
    out[len] = '\0';
    *out_len = len;
    return out;
}

static void check_gunzip(const mxe_buf *gz, const char *want, size_t want_len)
{
    size_t n;
    char *got = gunzip(gz, &n);
    ck_assert_uint_eq(n, want_len);
    ck_assert(memcmp(got, want, n) == 0);
    free(got);
}

START_TEST(single_body_round_trips)
{
    const char *texts[] = {"", "a", "hello hello hello hello\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        mxe_buf gz = MXE_BUF_INIT;
        ck_assert_int_eq(mxe_gzip(texts[i], strlen(texts[i]), &gz, NULL), 0);
        check_gunzip(&gz, texts[i], strlen(texts[i]));
        mxe_buf_free(&gz);
    }
}
END_TEST

/* Expositions, small and large: the gzip body inflates to the text, about a tenth of
 * its size; with zlib's state in a buffer kept between calls, the same bytes, and the
 * state in the same memory each time. */
static const int expo_sizes[] = {10, 3000};

START_TEST(exposition_round_trips)
{
    const int N = expo_sizes[_i];
    mxe_stream *items = calloc(N, sizeof *items);
    char(*names)[32] = calloc(N, sizeof *names);
    static const char *tracks[] = {"H264", "MPEG-4 Audio"};
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "camera/%05d", i);
        items[i].name = names[i];
        items[i].source_type = i % 3 ? "rtspSession" : "srtConn";
        items[i].tracks = tracks;
        items[i].n_tracks = 2;
        items[i].ready = i % 5 != 0;
        items[i].readers = (uint32_t)(i % 4);
        items[i].bytes_received = (uint64_t)i * 7919u;
        items[i].has_srt = i % 3 == 0;
        items[i].srt.rtt_ms = 0.25 * (i % 9);
        items[i].srt.recv_rate_mbps = 1.5 + i % 11;
    }
    mxe_streams s = {items, (size_t)N, (size_t)N, MXE_ARENA_INIT};
    mxe_exporter_stats st = {.up = true, .polls_total = 3, .poll_interval_s = 2};
    mxe_buf text = MXE_BUF_INIT, gz = MXE_BUF_INIT;
    ck_assert_int_eq(mxe_expo_render(&text, MXE_FMT_OPENMETRICS, &s, &st, NULL), 0);
    ck_assert_int_eq(mxe_gzip(text.data, text.len, &gz, NULL), 0);
    check_gunzip(&gz, text.data, text.len);
    if (N >= 1000)
        ck_assert_uint_lt(gz.len, text.len / 6);
    mxe_buf zmem = MXE_BUF_INIT;
    for (int round = 0; round < 2; round++) {
        mxe_buf again = MXE_BUF_INIT;
        const char *before = zmem.data;
        ck_assert_int_eq(mxe_gzip(text.data, text.len, &again, &zmem), 0);
        ck_assert_uint_eq(again.len, gz.len);
        ck_assert(memcmp(again.data, gz.data, gz.len) == 0);
        ck_assert_uint_ge(zmem.cap, 256 * 1024);
        if (round)
            ck_assert_ptr_eq(zmem.data, before);
        mxe_buf_free(&again);
    }
    mxe_buf_free(&zmem);
    mxe_buf_free(&text);
    mxe_buf_free(&gz);
    free(items);
    free(names);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gzip");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, single_body_round_trips);
    tcase_add_loop_test(tc, exposition_round_trips, 0, 2);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
