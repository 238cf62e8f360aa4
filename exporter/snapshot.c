/* Snapshots, views and the hub; see snapshot.h. */
#include "snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gzip.h"
#include "streams_json.h"

/* A fast 64-bit content hash for the ETag (not cryptographic: it only has to change
 * when the document changes). Eight bytes per step. */
static uint64_t content_hash(const char *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    for (; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3u;
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 32);
}

mxe_snapshot *mxe_snapshot_new(mxe_streams *streams, uint64_t seq, double unix_time,
                               int64_t mono_ms)
{
    mxe_snapshot *s = calloc(1, sizeof *s);
    size_t n = streams->count ? streams->count : 1;
    if (s) {
        s->record_off = malloc(n * sizeof *s->record_off);
        s->record_len = malloc(n * sizeof *s->record_len);
    }
    if (!s || !s->record_off || !s->record_len) {
        if (s) {
            free(s->record_off);
            free(s->record_len);
            free(s);
        }
        mxe_streams_free(streams);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->seq = seq;
    s->unix_time = unix_time;
    s->mono_ms = mono_ms;
    s->streams = *streams;
    memset(streams, 0, sizeof *streams);
    if (mxe_streams_json_write(&s->json, &s->streams, s->record_off, s->record_len) != 0) {
        mxe_snapshot_unref(s);
        return NULL;
    }
    snprintf(s->etag, sizeof s->etag, "\"%016" PRIx64 "\"",
             content_hash(s->json.data, s->json.len));
    time_t t = (time_t)unix_time;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s->last_modified, sizeof s->last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return s;
}

mxe_snapshot *mxe_snapshot_ref(mxe_snapshot *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

void mxe_snapshot_unref(mxe_snapshot *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    mxe_streams_free(&s->streams);
    mxe_buf_free(&s->json);
    free(s->record_off);
    free(s->record_len);
    free(s);
}

long mxe_snapshot_find(const mxe_snapshot *s, const char *name, size_t len)
{
    const mxe_stream *st = mxe_streams_find(&s->streams, name, len);
    return st ? (long)(st - s->streams.items) : -1;
}

mxe_view *mxe_view_new(void)
{
    mxe_view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    if (pthread_mutex_init(&v->render_mu, NULL) != 0) {
        free(v);
        return NULL;
    }
    atomic_init(&v->refs, 1);
    atomic_init(&v->rendered[0], 0);
    atomic_init(&v->rendered[1], 0);
    return v;
}

mxe_view *mxe_view_ref(mxe_view *v)
{
    if (v)
        atomic_fetch_add(&v->refs, 1);
    return v;
}

/* Move a buffer into an empty place (the caller holds the hub's mutex); an emptied
 * buffer keeps its memory. */
static void take(mxe_buf *from, mxe_buf *to)
{
    if (from->data && !from->failed && !to->data) {
        *to = *from;
        to->len = 0;
        *from = (mxe_buf)MXE_BUF_INIT;
    }
}

void mxe_view_unref(mxe_view *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    mxe_snapshot_unref(v->snap);
    if (v->recycle) {
        pthread_mutex_lock(&v->recycle->mu);
        for (int f = 0; f < 2; f++)
            for (int k = 0; k < 2; k++)
                for (int e = 0; e < 2; e++)
                    take(&v->metrics[f][k][e], &v->recycle->spare[f][k][e]);
        pthread_mutex_unlock(&v->recycle->mu);
    }
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 2; k++)
            for (int e = 0; e < 2; e++)
                mxe_buf_free(&v->metrics[f][k][e]);
    pthread_mutex_destroy(&v->render_mu);
    free(v);
}

void mxe_view_set_inputs(mxe_view *v, const mxe_exporter_stats *stats,
                         int (*read_proc)(mxe_process_stats *out), mxe_hub *recycle)
{
    v->lazy = true;
    v->recycle = recycle;
    v->stats = *stats;
    if (stats->mediamtx_version) {
        snprintf(v->version, sizeof v->version, "%s", stats->mediamtx_version);
        v->stats.mediamtx_version = v->version;
    }
    v->read_proc = read_proc;
}

bool mxe_view_ready(const mxe_view *v, int64_t now_mono_ms)
{
    return v->last_success_mono_ms > 0 &&
           now_mono_ms - v->last_success_mono_ms <= v->stale_after_ms;
}

/* The bit of rendered[variant] that says metrics[fmt][variant][enc] exists. */
static unsigned done_bit(int fmt, int enc)
{
    return 1u << (fmt * 2 + enc);
}

/* Render what fmt/variant/enc needs, under render_mu: the plain body, then its gzip copy
 * if asked for. Only the format a scraper asks for is rendered (Prometheus asks for one),
 * into the buffers the last view gave back. The STALE variant has no per-stream series. */
static int render(mxe_view *v, int variant, int fmt, int enc)
{
    mxe_buf *plain = &v->metrics[fmt][variant][MXE_ENC_IDENTITY];
    mxe_buf *gz = &v->metrics[fmt][variant][MXE_ENC_GZIP];
    mxe_buf zmem = MXE_BUF_INIT;
    unsigned have = atomic_load_explicit(&v->rendered[variant], memory_order_relaxed);
    bool want_plain = !(have & done_bit(fmt, MXE_ENC_IDENTITY));
    bool want_gz = enc == MXE_ENC_GZIP && !(have & done_bit(fmt, MXE_ENC_GZIP));
    if (v->recycle) {
        pthread_mutex_lock(&v->recycle->mu);
        if (want_plain)
            take(&v->recycle->spare[fmt][variant][MXE_ENC_IDENTITY], plain);
        if (want_gz) {
            take(&v->recycle->spare[fmt][variant][MXE_ENC_GZIP], gz);
            take(&v->recycle->zmem, &zmem);
        }
        pthread_mutex_unlock(&v->recycle->mu);
    }
    int rc = 0;
    if (want_plain && !v->proc_read) {
        v->proc_read = true;
        v->have_proc = v->read_proc && v->read_proc(&v->proc) == 0;
    }
    if (want_plain) {
        mxe_exporter_stats st = v->stats;
        st.up = variant == MXE_VARIANT_LIVE;
        const mxe_streams *streams = variant == MXE_VARIANT_LIVE ? &v->snap->streams : NULL;
        rc = mxe_expo_render(plain, (mxe_expo_format)fmt, streams, &st,
                             v->have_proc ? &v->proc : NULL);
        if (rc == 0) {
            have |= done_bit(fmt, MXE_ENC_IDENTITY);
            atomic_store_explicit(&v->rendered[variant], have, memory_order_release);
        } else {
            mxe_buf_free(plain);
        }
    }
    if (want_gz && rc == 0) {
        rc = mxe_gzip(plain->data, plain->len, gz, &zmem);
        if (rc == 0)
            atomic_store_explicit(&v->rendered[variant], have | done_bit(fmt, MXE_ENC_GZIP),
                                  memory_order_release);
        else
            mxe_buf_free(gz);
    }
    if (v->recycle && zmem.data) {
        pthread_mutex_lock(&v->recycle->mu);
        take(&zmem, &v->recycle->zmem);
        pthread_mutex_unlock(&v->recycle->mu);
    }
    mxe_buf_free(&zmem); /* kept only when the hub had none back already */
    return rc;
}

const mxe_buf *mxe_view_metrics(mxe_view *v, mxe_expo_format fmt, bool gzip, int64_t now_mono_ms)
{
    int enc = gzip ? MXE_ENC_GZIP : MXE_ENC_IDENTITY;
    bool live_ok = v->lazy ? v->snap != NULL : v->metrics[fmt][MXE_VARIANT_LIVE][0].len > 0;
    int variant = v->last_poll_ok && live_ok && mxe_view_ready(v, now_mono_ms) ? MXE_VARIANT_LIVE
                                                                               : MXE_VARIANT_STALE;
    /* Acquire pairs with render()'s release: the bytes are complete once the bit shows. */
    if (v->lazy &&
        !(atomic_load_explicit(&v->rendered[variant], memory_order_acquire) & done_bit(fmt, enc))) {
        pthread_mutex_lock(&v->render_mu);
        int rc = render(v, variant, fmt, enc);
        pthread_mutex_unlock(&v->render_mu);
        if (rc != 0)
            return NULL;
    }
    return &v->metrics[fmt][variant][enc];
}

int mxe_hub_init(mxe_hub *h)
{
    memset(h, 0, sizeof *h);
    if (pthread_mutex_init(&h->mu, NULL) != 0)
        return -1;
    if (mxe_cond_init_mono(&h->changed) != 0) {
        pthread_mutex_destroy(&h->mu);
        return -1;
    }
    return 0;
}

void mxe_hub_publish(mxe_hub *h, mxe_view *v)
{
    pthread_mutex_lock(&h->mu);
    mxe_view *old = h->current;
    h->current = v;
    bool wake = h->listeners > 0; /* else nobody waits for it: spare the fan-out a wake-up */
    pthread_mutex_unlock(&h->mu);
    if (wake) /* after the unlock, so the woken thread does not block on the lock at once */
        pthread_cond_broadcast(&h->changed);
    mxe_view_unref(old); /* outside the lock: freeing a large view takes time */
}

mxe_view *mxe_hub_acquire(mxe_hub *h)
{
    pthread_mutex_lock(&h->mu);
    mxe_view *v = mxe_view_ref(h->current);
    pthread_mutex_unlock(&h->mu);
    return v;
}

void mxe_hub_close(mxe_hub *h)
{
    pthread_mutex_lock(&h->mu);
    h->closing = true;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->mu);
}

void mxe_hub_destroy(mxe_hub *h)
{
    mxe_view_unref(h->current);
    h->current = NULL;
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 2; k++)
            for (int e = 0; e < 2; e++)
                mxe_buf_free(&h->spare[f][k][e]);
    mxe_buf_free(&h->zmem);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->mu);
}
