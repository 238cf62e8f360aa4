/* gzip: single bodies and pairs of bodies that share pieces, checked by inflating them
 * with zlib exactly as an HTTP client would (one gzip member, CRC and length verified). */
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
        ck_assert_int_eq(mxe_gzip(texts[i], strlen(texts[i]), &gz), 0);
        check_gunzip(&gz, texts[i], strlen(texts[i]));
        mxe_buf_free(&gz);
    }
}
END_TEST

/* Random pieces, shared and not, empty ones among them, large ones that need several
 * deflate rounds: both streams inflate to exactly the texts they describe. */
START_TEST(pair_of_random_pieces_round_trips)
{
    unsigned seed = 12345;
    for (int round = 0; round < 20; round++) {
        mxe_buf a = MXE_BUF_INIT, b = MXE_BUF_INIT;
        mxe_gzip_piece pieces[40];
        size_t n = 1 + (size_t)(rand_r(&seed) % 40);
        for (size_t i = 0; i < n; i++) {
            mxe_gzip_piece *p = &pieces[i];
            size_t max = i == 3 ? 300000 : 2000; /* one piece larger than any first guess */
            size_t la = (size_t)rand_r(&seed) % max, lb = (size_t)rand_r(&seed) % 64;
            p->shared = rand_r(&seed) % 2;
            p->a_off = a.len;
            p->a_len = la;
            for (size_t k = 0; k < la; k++) /* compressible but not trivially */
                mxe_buf_putc(&a,
                             (char)('a' + (rand_r(&seed) % 4 ? (int)(k % 7) : rand_r(&seed) % 26)));
            p->b_off = b.len;
            if (p->shared) {
                mxe_buf_append(&b, a.data + p->a_off, la);
                p->b_len = 0;
            } else {
                p->b_len = lb;
                for (size_t k = 0; k < lb; k++)
                    mxe_buf_putc(&b, (char)('A' + rand_r(&seed) % 26));
            }
        }
        ck_assert(mxe_buf_ok(&a) && mxe_buf_ok(&b));
        mxe_buf ga = MXE_BUF_INIT, gb = MXE_BUF_INIT;
        ck_assert_int_eq(
            mxe_gzip_pair(a.data ? a.data : "", b.data ? b.data : "", pieces, n, &ga, &gb), 0);
        check_gunzip(&ga, a.data ? a.data : "", a.len);
        check_gunzip(&gb, b.data ? b.data : "", b.len);
        mxe_buf_free(&a);
        mxe_buf_free(&b);
        mxe_buf_free(&ga);
        mxe_buf_free(&gb);
    }
}
END_TEST

/* The pieces that mxe_expo_render_pair() reports cover both expositions, and the pair
 * compressed from them inflates to the two bodies; the shared compression keeps the
 * size close to compressing each body on its own: a small exposition (compressed whole)
 * and a large one (spliced from pieces). */
static const int pair_sizes[] = {10, 3000};

START_TEST(exposition_pair_round_trips)
{
    const int N = pair_sizes[_i];
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
    mxe_buf prom = MXE_BUF_INIT, om = MXE_BUF_INIT, pg = MXE_BUF_INIT, og = MXE_BUF_INIT;
    mxe_gzip_piece pieces[MXE_EXPO_MAX_PIECES];
    size_t n = 0;
    ck_assert_int_eq(mxe_expo_render_pair(&prom, &om, &s, &st, NULL, pieces, &n), 0);
    size_t pa = 0, ob = 0;
    for (size_t i = 0; i < n; i++) { /* in order and contiguous on both sides */
        ck_assert_uint_eq(pieces[i].a_off, pa);
        pa += pieces[i].a_len;
        if (pieces[i].shared) {
            ck_assert(memcmp(prom.data + pieces[i].a_off, om.data + ob, pieces[i].a_len) == 0);
            ob += pieces[i].a_len;
        } else {
            ck_assert_uint_eq(pieces[i].b_off, ob);
            ob += pieces[i].b_len;
        }
    }
    ck_assert_uint_eq(pa, prom.len);
    ck_assert_uint_eq(ob, om.len);
    ck_assert_int_eq(mxe_gzip_pair(prom.data, om.data, pieces, n, &pg, &og), 0);
    check_gunzip(&pg, prom.data, prom.len);
    check_gunzip(&og, om.data, om.len);
    mxe_buf whole = MXE_BUF_INIT;
    ck_assert_int_eq(mxe_gzip(prom.data, prom.len, &whole), 0);
    ck_assert_msg(pg.len < whole.len + whole.len / 10, "pair %zu bytes, alone %zu", pg.len,
                  whole.len);
    mxe_buf_free(&whole);
    mxe_buf_free(&prom);
    mxe_buf_free(&om);
    mxe_buf_free(&pg);
    mxe_buf_free(&og);
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
    tcase_add_test(tc, pair_of_random_pieces_round_trips);
    tcase_add_loop_test(tc, exposition_pair_round_trips, 0, 2);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
