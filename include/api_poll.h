/* One poll of the MediaMTX API: every page of /v3/paths/list and /v3/srtconns/list, and
 * /v3/info, fetched within one deadline and turned into stream records. */
#ifndef MXE_API_POLL_H
#define MXE_API_POLL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "fetch.h"
#include "json.h"
#include "model.h"

/* Items requested per page: large pages keep the request count per cycle small. */
#define MXE_POLL_PAGE_SIZE 1000

/* Time spent in one phase of a cycle: CPU time of the calling thread
 * (CLOCK_THREAD_CPUTIME_ID) and wall time (CLOCK_MONOTONIC), in nanoseconds, summed
 * over every interval added with mxe_phase_add(). */
typedef struct mxe_phase_time {
    uint64_t cpu_ns;
    uint64_t wall_ns;
} mxe_phase_time;

/* A starting point for mxe_phase_add(): both clocks read now. */
typedef struct mxe_phase_mark {
    int64_t cpu_ns;
    int64_t wall_ns;
} mxe_phase_mark;

void mxe_phase_mark_now(mxe_phase_mark *m);
/* Add the time from `since` to now to `acc`; `since` becomes now (so that consecutive
 * phases can be measured with one mark). */
void mxe_phase_add(mxe_phase_time *acc, mxe_phase_mark *since);

/* What /v3/info said about the MediaMTX version. */
typedef enum {
    MXE_INFO_UNKNOWN = 0, /* no answer this time (failed, timed out, no version field) */
    MXE_INFO_ABSENT,      /* 404: a server before v1.15.2, which has no version to report */
    MXE_INFO_VERSION,     /* `version` holds it */
} mxe_info_status;

typedef struct mxe_poll_result {
    mxe_streams streams;  /* sorted by name, SRT joined; empty on failure */
    mxe_info_status info; /* what /v3/info said */
    char version[64];     /* MediaMTX version from /v3/info when info is MXE_INFO_VERSION */
    uint64_t requests;    /* HTTP requests this poll made */
    uint64_t bytes;       /* response bytes this poll read */
    /* Where the poll's time went (also filled, as far as it got, when it failed):
     * fetch: the HTTP requests (libcurl, reading the bodies);
     * parse: the bodies → tokens → records (JSON tokenizing and field extraction);
     * aggregate: sorting, de-duplicating and joining SRT publishers to their paths. */
    mxe_phase_time fetch, parse, aggregate;
} mxe_poll_result;

/* What a poll keeps from one cycle to the next: the response body and the JSON token
 * array, about 1 MB and 2 MB per 1,000 streams. Reusing them spares every cycle growing
 * them again (page faults and copies) and keeps the resident size flat. */
typedef struct mxe_poll_buffers {
    mxe_buf body;
    mxe_json json;
} mxe_poll_buffers;

#define MXE_POLL_BUFFERS_INIT                                                                      \
    {                                                                                              \
        MXE_BUF_INIT, MXE_JSON_INIT                                                                \
    }

/* Release both buffers. Accepts NULL. */
void mxe_poll_buffers_free(mxe_poll_buffers *b);

/* Run one poll. `bufs` (NULL: temporary ones) are reused and kept; they are released when
 * this poll needed less than a quarter of them (after a spike). `timeout_ms` bounds the
 * whole poll, every page included; `max_bytes` caps each response (one body is held at a
 * time, so the buffers stay near one page while the records of all pages accumulate;
 * the timeout bounds how much a poll can read in total). 0 on success
 * (out->streams filled); -1 with one line in err naming the endpoint and the cause. The
 * caller frees out->streams with mxe_streams_free(). */
int mxe_poll_run(mxe_fetch *f, mxe_poll_buffers *bufs, int64_t timeout_ms, size_t max_bytes,
                 mxe_poll_result *out, char *err, size_t errlen);

#endif
