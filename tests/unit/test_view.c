/* The view's /metrics bodies: rendered on the first request that wants them, at most once,
 * byte for byte what mxe_expo_render() writes, and the same bytes for every thread. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "snapshot.h"
#include "testutil.h"

#define NOW 1000000 /* CLOCK_MONOTONIC ms of the test's "now" */

static const char *const names[] = {"cam/a", "cam/b", "studio"};

static mxe_hub *recycle_hub; /* set by the recycling test */

static const mxe_process_stats fixed_proc = {
    .resident_bytes = 12345, .open_fds = 9, .max_fds = 1024};
static atomic_int proc_reads; /* calls of the readers below */

static int read_fixed_proc(mxe_process_stats *out)
{
    atomic_fetch_add(&proc_reads, 1);
    *out = fixed_proc;
    return 0;
}

static int read_no_proc(mxe_process_stats *out)
{
    (void)out;
    atomic_fetch_add(&proc_reads, 1);
    return -1; /* /proc unreadable */
}

static int (*proc_reader)(mxe_process_stats *) = read_fixed_proc;

/* A view as the poll loop publishes it: a good poll of three streams at NOW. */
static mxe_view *lazy_view(bool poll_ok, const char *version)
{
    mxe_streams s = {0};
    s.items = calloc(3, sizeof *s.items);
    ck_assert_ptr_nonnull(s.items);
    s.cap = s.count = 3;
    for (size_t i = 0; i < 3; i++) {
        s.items[i].name = mxe_arena_strndup(&s.arena, names[i], strlen(names[i]));
        s.items[i].source_type = "rtspSession";
        s.items[i].bytes_received = 1000 * (i + 1);
        s.items[i].readers = (unsigned)i;
        s.items[i].ready = true;
    }
    mxe_view *v = mxe_view_new();
    ck_assert_ptr_nonnull(v);
    v->snap = mxe_snapshot_new(&s, 1, 1700000000.0, NOW);
    ck_assert_ptr_nonnull(v->snap);
    v->last_poll_ok = poll_ok;
    v->last_success_mono_ms = NOW;
    v->stale_after_ms = 6000;
    char vbuf[64]; /* overwritten below: the view must keep its own copy */
    snprintf(vbuf, sizeof vbuf, "%s", version);
    mxe_exporter_stats st = {
        .up = poll_ok, .mediamtx_version = vbuf, .polls_total = 7, .poll_interval_s = 2.0};
    atomic_store(&proc_reads, 0);
    mxe_view_set_inputs(v, &st, proc_reader, recycle_hub);
    memset(vbuf, 'x', sizeof vbuf - 1);
    return v;
}

/* What mxe_expo_render() writes for the same inputs: the reference. */
static void expect_body(mxe_buf *out, const mxe_view *v, mxe_expo_format fmt, bool live)
{
    mxe_exporter_stats st = v->stats;
    st.up = live;
    const mxe_process_stats *proc = proc_reader == read_fixed_proc ? &fixed_proc : NULL;
    ck_assert_int_eq(mxe_expo_render(out, fmt, live ? &v->snap->streams : NULL, &st, proc), 0);
}

static char *gunzip(const mxe_buf *gz, size_t *out_len)
{
    z_stream z = {0};
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    size_t cap = 1 << 20;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    z.next_in = (Bytef *)gz->data;
    z.avail_in = (uInt)gz->len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)(cap - 1);
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = z.total_out;
    inflateEnd(&z);
    return out;
}

static void assert_same(const mxe_buf *got, const mxe_buf *want)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->len, want->len);
    ck_assert(memcmp(got->data, want->data, want->len) == 0);
}

START_TEST(nothing_rendered_until_asked)
{
    mxe_view *v = lazy_view(true, "v1.20.1");
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 2; k++)
            for (int e = 0; e < 2; e++)
                ck_assert_uint_eq(v->metrics[f][k][e].len, 0);
    ck_assert_int_eq(atomic_load(&proc_reads), 0); /* nor reading /proc */
    mxe_view_unref(v);                             /* never asked: freed without rendering */
}
END_TEST

START_TEST(live_body_is_rendered_once_and_exact)
{
    mxe_view *v = lazy_view(true, "v1.20.1");
    mxe_buf want = MXE_BUF_INIT;
    expect_body(&want, v, MXE_FMT_PROMETHEUS, true);
    ck_assert_ptr_nonnull(strstr(want.data, "mediamtx_info{version=\"v1.20.1\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(want.data, "path=\"cam/b\""));

    const mxe_buf *a = mxe_view_metrics(v, MXE_FMT_PROMETHEUS, false, NOW + 10);
    assert_same(a, &want);
    /* Only the format asked for; gzip only when asked for. */
    ck_assert_uint_eq(v->metrics[MXE_FMT_OPENMETRICS][MXE_VARIANT_LIVE][MXE_ENC_IDENTITY].len, 0);
    ck_assert_uint_eq(v->metrics[MXE_FMT_PROMETHEUS][MXE_VARIANT_LIVE][MXE_ENC_GZIP].len, 0);
    ck_assert_uint_eq(v->metrics[MXE_FMT_PROMETHEUS][MXE_VARIANT_STALE][MXE_ENC_IDENTITY].len, 0);
    /* Asked again: the same bytes, not a second rendering. */
    const char *first = a->data;
    ck_assert_ptr_eq(mxe_view_metrics(v, MXE_FMT_PROMETHEUS, false, NOW + 20)->data, first);

    mxe_buf want_om = MXE_BUF_INIT;
    expect_body(&want_om, v, MXE_FMT_OPENMETRICS, true);
    assert_same(mxe_view_metrics(v, MXE_FMT_OPENMETRICS, false, NOW), &want_om);

    for (int f = 0; f < 2; f++) {
        const mxe_buf *gz = mxe_view_metrics(v, (mxe_expo_format)f, true, NOW);
        ck_assert_ptr_nonnull(gz);
        ck_assert_uint_gt(gz->len, 0);
        size_t n;
        char *plain = gunzip(gz, &n);
        const mxe_buf *w = f ? &want_om : &want;
        ck_assert_uint_eq(n, w->len);
        ck_assert(memcmp(plain, w->data, n) == 0);
        free(plain);
    }
    /* Four bodies, one reading of the process values: every body shows the same ones. */
    ck_assert_int_eq(atomic_load(&proc_reads), 1);
    ck_assert_ptr_nonnull(strstr(want.data, "\nprocess_resident_memory_bytes 12345\n"));
    mxe_buf_free(&want);
    mxe_buf_free(&want_om);
    mxe_view_unref(v);
}
END_TEST

/* /proc unreadable when the body is rendered: the process_* families are left out, the
 * rest is served. */
START_TEST(process_families_left_out_when_proc_fails)
{
    proc_reader = read_no_proc;
    mxe_view *v = lazy_view(true, "v1.20.1");
    mxe_buf want = MXE_BUF_INIT;
    expect_body(&want, v, MXE_FMT_OPENMETRICS, true);
    ck_assert_ptr_null(strstr(want.data, "process_"));
    ck_assert_ptr_nonnull(strstr(want.data, "\nmediamtx_up 1\n"));
    assert_same(mxe_view_metrics(v, MXE_FMT_OPENMETRICS, false, NOW), &want);
    ck_assert_int_eq(atomic_load(&proc_reads), 1);
    mxe_buf_free(&want);
    mxe_view_unref(v);
    proc_reader = read_fixed_proc;
}
END_TEST

START_TEST(stale_body_after_a_failed_or_old_poll)
{
    mxe_buf want = MXE_BUF_INIT;
    /* The cycle's poll failed: the stale body, without per-stream series, mediamtx_up 0. */
    mxe_view *v = lazy_view(false, "v1.20.1");
    expect_body(&want, v, MXE_FMT_PROMETHEUS, false);
    ck_assert_ptr_null(strstr(want.data, "path=\""));
    ck_assert_ptr_nonnull(strstr(want.data, "\nmediamtx_up 0\n"));
    assert_same(mxe_view_metrics(v, MXE_FMT_PROMETHEUS, false, NOW), &want);
    ck_assert_uint_eq(v->metrics[MXE_FMT_PROMETHEUS][MXE_VARIANT_LIVE][MXE_ENC_IDENTITY].len, 0);
    mxe_view_unref(v);

    /* A good poll that is now older than stale_after_ms: the same stale body. */
    v = lazy_view(true, "v1.20.1");
    assert_same(mxe_view_metrics(v, MXE_FMT_PROMETHEUS, false, NOW + 6001), &want);
    /* and while it was young, the live one */
    const mxe_buf *live = mxe_view_metrics(v, MXE_FMT_PROMETHEUS, false, NOW + 6000);
    ck_assert_ptr_nonnull(live);
    ck_assert_ptr_nonnull(strstr(live->data, "\nmediamtx_up 1\n"));
    mxe_buf_free(&want);
    mxe_view_unref(v);
}
END_TEST

typedef struct racer {
    mxe_view *v;
    pthread_barrier_t *go;
    mxe_expo_format fmt;
    bool gzip;
    const mxe_buf *got;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->go);
    r->got = mxe_view_metrics(r->v, r->fmt, r->gzip, NOW);
    return NULL;
}

/* Many first requests at once: every one gets a complete body, the same one per format
 * and encoding. */
START_TEST(concurrent_first_requests_share_one_rendering)
{
    enum { N = 16 };
    mxe_view *v = lazy_view(true, "v1.20.1");
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    racer r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){v, &go, (mxe_expo_format)(i % 2), (i / 2) % 2 == 1, NULL};
        ck_assert_int_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    mxe_buf want[2] = {MXE_BUF_INIT, MXE_BUF_INIT};
    expect_body(&want[0], v, MXE_FMT_PROMETHEUS, true);
    expect_body(&want[1], v, MXE_FMT_OPENMETRICS, true);
    for (int i = 0; i < N; i++) {
        ck_assert_ptr_nonnull(r[i].got);
        ck_assert_ptr_eq(r[i].got, &v->metrics[r[i].fmt][MXE_VARIANT_LIVE][r[i].gzip]);
        if (!r[i].gzip) {
            assert_same(r[i].got, &want[r[i].fmt]);
        } else {
            size_t n;
            char *plain = gunzip(r[i].got, &n);
            ck_assert_uint_eq(n, want[r[i].fmt].len);
            ck_assert(memcmp(plain, want[r[i].fmt].data, n) == 0);
            free(plain);
        }
    }
    ck_assert_int_eq(atomic_load(&proc_reads), 1);
    mxe_buf_free(&want[0]);
    mxe_buf_free(&want[1]);
    mxe_view_unref(v);
}
END_TEST

/* The bodies' buffers go back to the hub when a view goes and the next view renders into
 * the same memory (no fresh pages every cycle), with the right bytes. */
START_TEST(body_buffers_are_recycled_through_the_hub)
{
    mxe_hub hub;
    ck_assert_int_eq(mxe_hub_init(&hub), 0);
    recycle_hub = &hub;
    mxe_view *a = lazy_view(true, "v1.20.1");
    const mxe_buf *ap = mxe_view_metrics(a, MXE_FMT_OPENMETRICS, false, NOW);
    const mxe_buf *az = mxe_view_metrics(a, MXE_FMT_OPENMETRICS, true, NOW);
    ck_assert_ptr_nonnull(ap);
    ck_assert_ptr_nonnull(az);
    const char *plain_mem = ap->data, *gz_mem = az->data;
    ck_assert_ptr_null(hub.spare[MXE_FMT_OPENMETRICS][MXE_VARIANT_LIVE][MXE_ENC_IDENTITY].data);
    ck_assert_ptr_nonnull(hub.zmem.data); /* zlib's state came back after the gzip */
    mxe_view_unref(a);
    ck_assert_ptr_eq(hub.spare[MXE_FMT_OPENMETRICS][MXE_VARIANT_LIVE][MXE_ENC_IDENTITY].data,
                     plain_mem);
    ck_assert_uint_eq(hub.spare[MXE_FMT_OPENMETRICS][MXE_VARIANT_LIVE][MXE_ENC_IDENTITY].len, 0);

    mxe_view *b = lazy_view(true, "v1.20.2");
    mxe_buf want = MXE_BUF_INIT;
    expect_body(&want, b, MXE_FMT_OPENMETRICS, true);
    const mxe_buf *bp = mxe_view_metrics(b, MXE_FMT_OPENMETRICS, false, NOW);
    ck_assert_ptr_eq(bp->data, plain_mem);
    assert_same(bp, &want);
    const mxe_buf *bz = mxe_view_metrics(b, MXE_FMT_OPENMETRICS, true, NOW);
    ck_assert_ptr_eq(bz->data, gz_mem);
    size_t n;
    char *plain = gunzip(bz, &n);
    ck_assert_uint_eq(n, want.len);
    ck_assert(memcmp(plain, want.data, n) == 0);
    free(plain);
    mxe_buf_free(&want);
    mxe_view_unref(b);
    recycle_hub = NULL;
    mxe_hub_destroy(&hub); /* frees the spares: valgrind and LeakSanitizer watch */
}
END_TEST

/* A view filled in by hand (no inputs) serves what it holds: the HTTP tests build them. */
START_TEST(view_without_inputs_serves_what_it_holds)
{
    mxe_view *v = mxe_view_new();
    ck_assert_ptr_nonnull(v);
    mxe_buf_puts(&v->metrics[MXE_FMT_PROMETHEUS][MXE_VARIANT_STALE][MXE_ENC_IDENTITY],
                 "mediamtx_up 0\n");
    const mxe_buf *b = mxe_view_metrics(v, MXE_FMT_PROMETHEUS, false, NOW);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(b->data, "mediamtx_up 0\n");
    ck_assert_uint_eq(mxe_view_metrics(v, MXE_FMT_PROMETHEUS, true, NOW)->len, 0);
    mxe_view_unref(v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("view");
    TCase *tc = tcase_create("lazy");
    tcase_add_test(tc, nothing_rendered_until_asked);
    tcase_add_test(tc, live_body_is_rendered_once_and_exact);
    tcase_add_test(tc, stale_body_after_a_failed_or_old_poll);
    tcase_add_test(tc, process_families_left_out_when_proc_fails);
    tcase_add_test(tc, concurrent_first_requests_share_one_rendering);
    tcase_add_test(tc, body_buffers_are_recycled_through_the_hub);
    tcase_add_test(tc, view_without_inputs_serves_what_it_holds);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
