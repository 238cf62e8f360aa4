/* What one poll cycle produces, immutable once published, shared by reference count:
 *
 *  mxe_snapshot — the last successful poll: stream records and the JSON document that
 *                 Redis, the file and /api/streams/latest carry byte for byte.
 *  mxe_view     — everything the HTTP side serves until the next cycle: a reference to
 *                 the last good snapshot and the /metrics bodies, each rendered at most
 *                 once, by the first request that wants it.
 *  mxe_hub      — the one place where the poll loop swaps in a new view and readers
 *                 (HTTP handlers, live feeds) take a reference to the current one. */
#ifndef MXE_SNAPSHOT_H
#define MXE_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "clock.h" /* the view API takes CLOCK_MONOTONIC milliseconds */
#include "expo.h"
#include "model.h"

typedef struct mxe_snapshot {
    atomic_uint refs;
    uint64_t seq;           /* 1 for the first successful poll, then +1 each */
    double unix_time;       /* when the poll completed */
    int64_t mono_ms;        /* the same instant on CLOCK_MONOTONIC */
    mxe_streams streams;    /* sorted by name */
    mxe_buf json;           /* the JSON array */
    size_t *record_off;     /* streams.count offsets of each record inside json */
    size_t *record_len;     /* and their lengths */
    char etag[24];          /* quoted strong ETag of json */
    char last_modified[40]; /* IMF-fixdate of unix_time */
} mxe_snapshot;

/* Build a snapshot from `streams` (taken over: the caller's struct is emptied).
 * Renders the JSON document. Returns NULL when out of memory (streams are freed). */
mxe_snapshot *mxe_snapshot_new(mxe_streams *streams, uint64_t seq, double unix_time,
                               int64_t mono_ms);
mxe_snapshot *mxe_snapshot_ref(mxe_snapshot *s);
/* Drop one reference; the last one frees. Accepts NULL. */
void mxe_snapshot_unref(mxe_snapshot *s);
/* Index of the record named name[0..len) or -1. */
long mxe_snapshot_find(const mxe_snapshot *s, const char *name, size_t len);

struct mxe_hub; /* below */

enum { MXE_VARIANT_LIVE = 0, MXE_VARIANT_STALE = 1 };
enum { MXE_ENC_IDENTITY = 0, MXE_ENC_GZIP = 1 };

typedef struct mxe_view {
    atomic_uint refs;
    uint64_t cycle;               /* poll cycles run so far */
    mxe_snapshot *snap;           /* last good poll, NULL before the first; a reference */
    bool last_poll_ok;            /* the cycle that built this view succeeded */
    int64_t last_success_mono_ms; /* CLOCK_MONOTONIC ms of the last good poll, 0 = never */
    int64_t stale_after_ms;       /* three poll intervals */
    char last_error[256];         /* why the last poll failed, "" when it did not */
    /* /metrics bodies: [format][variant][encoding]. LIVE carries the per-stream series and
     * is only served when the cycle's poll succeeded; STALE never has per-stream series. */
    mxe_buf metrics[2][2][2];
    /* Rendering on demand (mxe_view_set_inputs): Prometheus usually scrapes every 15 s or
     * more while the poll runs every 2 s, so rendering every body every cycle would mostly
     * be thrown away. A view without inputs serves metrics[] as it was filled in. */
    bool lazy;
    mxe_exporter_stats stats; /* stats.mediamtx_version points into version[] */
    char version[64];
    /* process_* values: read by the view's first rendering, as client libraries read them
     * when a scrape arrives, and shared by every body of the view (so at most once per
     * cycle, and not at all in the cycles nobody scrapes). NULL: no process_* families. */
    int (*read_proc)(mxe_process_stats *out);
    bool proc_read; /* under render_mu: read_proc has run */
    bool have_proc; /* under render_mu: it succeeded, proc holds the values */
    mxe_process_stats proc;
    struct mxe_hub *recycle;   /* takes the body buffers back when the view goes; NULL: freed */
    pthread_mutex_t render_mu; /* held while a body is rendered */
    atomic_uint rendered[2];   /* per variant: bit 1 << (format * 2 + encoding) once made */
} mxe_view;

/* A view with one reference and everything empty. NULL when out of memory. */
mxe_view *mxe_view_new(void);
mxe_view *mxe_view_ref(mxe_view *v);
void mxe_view_unref(mxe_view *v);
/* Make the view render its /metrics bodies on demand from these values (copied; the
 * per-stream series come from v->snap) and the process_* values `read_proc` returns
 * (mxe_procstat_read; NULL omits those families; a failed read omits them too).
 * `recycle` (may be NULL) lends and takes back the body buffers; it must outlive v. */
void mxe_view_set_inputs(mxe_view *v, const mxe_exporter_stats *stats,
                         int (*read_proc)(mxe_process_stats *out), struct mxe_hub *recycle);
/* The /metrics body to serve now: LIVE when the last poll succeeded and is younger than
 * stale_after_ms at `now_mono_ms`, else STALE. The first call that wants a body renders
 * it (that format only; its gzip copy only when asked for); later calls, from any thread,
 * get the same bytes. NULL when out of memory (the next call tries again). */
const mxe_buf *mxe_view_metrics(mxe_view *v, mxe_expo_format fmt, bool gzip, int64_t now_mono_ms);
/* A poll succeeded within stale_after_ms of now_mono_ms (the /readyz condition). */
bool mxe_view_ready(const mxe_view *v, int64_t now_mono_ms);

typedef struct mxe_hub {
    pthread_mutex_t mu;
    pthread_cond_t changed; /* broadcast on a publish while listeners > 0 (live feeds) */
    mxe_view *current;      /* NULL before the first publish */
    bool closing;           /* set by mxe_hub_close(): waiters return */
    unsigned listeners;     /* live-feed subscribers, kept by live.c */
    /* The body buffers of the last view that went, emptied, for the next rendering: its
     * memory is already mapped and large enough, so rendering neither page-faults (tens
     * of µs each on a VM) nor fragments the heap. Under mu. */
    mxe_buf spare[2][2][2];
    mxe_buf zmem; /* zlib's state for mxe_gzip(), lent the same way */
} mxe_hub;

int mxe_hub_init(mxe_hub *h);
/* Replace the current view with `v`, taking over the caller's reference. */
void mxe_hub_publish(mxe_hub *h, mxe_view *v);
/* A new reference to the current view, or NULL before the first publish. */
mxe_view *mxe_hub_acquire(mxe_hub *h);
/* Wake every waiter for shutdown. */
void mxe_hub_close(mxe_hub *h);
void mxe_hub_destroy(mxe_hub *h);

#endif
