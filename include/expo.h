/* Stream records and exporter state → Prometheus text format 0.0.4 or OpenMetrics 1.0.0.
 * Called at most once per poll cycle (snapshot.h); the bytes are served as they are. Every family
 * is listed in one table (expo.c), walked family-outer, stream-inner. */
#ifndef MXE_EXPO_H
#define MXE_EXPO_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "model.h"
#include "procstat.h"

typedef enum { MXE_FMT_PROMETHEUS = 0, MXE_FMT_OPENMETRICS = 1 } mxe_expo_format;

#define MXE_PROMETHEUS_CONTENT_TYPE  "text/plain; version=0.0.4; charset=utf-8"
#define MXE_OPENMETRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* The exporter's own state at the end of a cycle. */
typedef struct mxe_exporter_stats {
    bool up;                        /* the last poll succeeded */
    const char *mediamtx_version;   /* from /v3/info, NULL when unknown */
    uint64_t polls_total;           /* cycles run */
    uint64_t poll_failures_total;   /* cycles whose poll failed */
    double poll_duration_s;         /* wall time of the last cycle's poll */
    double last_success_unix;       /* 0 when no poll has succeeded yet */
    double poll_interval_s;         /* quoted in HELP texts */
    bool redis_up;                  /* the last Redis write succeeded (false when disabled) */
    uint64_t mirror_failures_redis; /* failed Redis writes */
    uint64_t mirror_failures_file;  /* failed file writes */
    unsigned subscribers_websocket; /* live-feed subscribers now (live.h) */
    unsigned subscribers_sse;
} mxe_exporter_stats;

/* Append the whole exposition to `out`. `streams` NULL omits every per-stream family
 * and mediamtx_streams / mediamtx_streams_ready (used when data is stale or the poll
 * failed). `proc` NULL omits the process_* families. Returns 0, or -1 when `out`
 * failed (out of memory); nothing is ever truncated silently. */
int mxe_expo_render(mxe_buf *out, mxe_expo_format fmt, const mxe_streams *streams,
                    const mxe_exporter_stats *stats, const mxe_process_stats *proc);

/* Choose the format for an Accept header value (may be NULL): OpenMetrics when the
 * client prefers application/openmetrics-text (by q-value, as Prometheus 2.x sends it),
 * otherwise the 0.0.4 text format. Each range's weight is the q of the most specific
 * matching media range (default 1); equal weights go to the range named first; NULL,
 * empty, garbage, or nothing acceptable give the 0.0.4 text format. Linear in the
 * length of `accept`, never reads past its NUL. */
mxe_expo_format mxe_expo_negotiate(const char *accept);

/* The Content-Type header value for a format (a static string). */
const char *mxe_expo_content_type(mxe_expo_format fmt);

#endif
