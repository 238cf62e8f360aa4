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

void mxe_view_unref(mxe_view *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    mxe_snapshot_unref(v->snap);
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 2; k++)
            for (int e = 0; e < 2; e++)
                mxe_buf_free(&v->metrics[f][k][e]);
    pthread_mutex_destroy(&v->render_mu);
    free(v);
}

void mxe_view_set_inputs(mxe_view *v, const mxe_exporter_stats *stats,
                         const mxe_process_stats *proc)
{
    v->lazy = true;
    v->stats = *stats;
    if (stats->mediamtx_version) {
        snprintf(v->version, sizeof v->version, "%s", stats->mediamtx_version);
        v->stats.mediamtx_version = v->version;
    }
    v->have_proc = proc != NULL;
    if (proc)
        v->proc = *proc;
}

bool mxe_view_ready(const mxe_view *v, int64_t now_mono_ms)
{
    return v->last_success_mono_ms > 0 &&
           now_mono_ms - v->last_success_mono_ms <= v->stale_after_ms;
}

/* Render what variant/enc needs, under render_mu. Both formats at once: their sample
 * lines are the same, so the pair costs little more than one (expo.h); gzip compresses
 * the shared blocks once for both. The STALE variant never has per-stream series. */
static int render(mxe_view *v, int variant, int enc)
{
    mxe_buf *prom = &v->metrics[MXE_FMT_PROMETHEUS][variant][MXE_ENC_IDENTITY];
    mxe_buf *om = &v->metrics[MXE_FMT_OPENMETRICS][variant][MXE_ENC_IDENTITY];
    unsigned have = atomic_load_explicit(&v->rendered[variant], memory_order_relaxed);
    if (!(have & (1u << MXE_ENC_IDENTITY))) {
        mxe_exporter_stats st = v->stats;
        st.up = variant == MXE_VARIANT_LIVE;
        const mxe_streams *streams = variant == MXE_VARIANT_LIVE ? &v->snap->streams : NULL;
        if (mxe_expo_render_pair(prom, om, streams, &st, v->have_proc ? &v->proc : NULL,
                                 v->pieces[variant], &v->n_pieces[variant]) != 0) {
            mxe_buf_free(prom);
            mxe_buf_free(om);
            return -1;
        }
        have |= 1u << MXE_ENC_IDENTITY;
        atomic_store_explicit(&v->rendered[variant], have, memory_order_release);
    }
    if (enc == MXE_ENC_GZIP && !(have & (1u << MXE_ENC_GZIP))) {
        mxe_buf *prom_gz = &v->metrics[MXE_FMT_PROMETHEUS][variant][MXE_ENC_GZIP];
        mxe_buf *om_gz = &v->metrics[MXE_FMT_OPENMETRICS][variant][MXE_ENC_GZIP];
        if (mxe_gzip_pair(prom->data, om->data, v->pieces[variant], v->n_pieces[variant], prom_gz,
                          om_gz) != 0) {
            mxe_buf_free(prom_gz);
            mxe_buf_free(om_gz);
            return -1;
        }
        atomic_store_explicit(&v->rendered[variant], have | 1u << MXE_ENC_GZIP,
                              memory_order_release);
    }
    return 0;
}

const mxe_buf *mxe_view_metrics(mxe_view *v, mxe_expo_format fmt, bool gzip, int64_t now_mono_ms)
{
    int enc = gzip ? MXE_ENC_GZIP : MXE_ENC_IDENTITY;
    bool live_ok = v->lazy ? v->snap != NULL : v->metrics[fmt][MXE_VARIANT_LIVE][0].len > 0;
    int variant = v->last_poll_ok && live_ok && mxe_view_ready(v, now_mono_ms) ? MXE_VARIANT_LIVE
                                                                               : MXE_VARIANT_STALE;
    /* Acquire pairs with render()'s release: the bytes are complete once the bit shows. */
    if (v->lazy &&
        !(atomic_load_explicit(&v->rendered[variant], memory_order_acquire) & (1u << enc))) {
        pthread_mutex_lock(&v->render_mu);
        int rc = render(v, variant, enc);
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
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->mu);
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
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->mu);
}
