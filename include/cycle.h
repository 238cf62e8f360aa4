/* The poll cycle: poll MediaMTX → snapshot → mirrors → exposition → publish. Owns the
 * exporter's counters. One collector per MediaMTX server (all state lives here). */
#ifndef MXE_CYCLE_H
#define MXE_CYCLE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "fetch.h"
#include "mirrors.h"
#include "api_poll.h"
#include "snapshot.h"

/* Where one cycle's time went (see mxe_phase_time): fetch, parse and aggregate as the
 * poll measured them; render: the JSON document, its ETag, the /proc statistics and
 * publishing the view (the /metrics bodies are rendered later, by the first scrape, see
 * snapshot.h); mirror: the last write of the file and Redis
 * (daemon: by the mirror worker, usually the previous cycle's snapshot; --once: this
 * cycle's synchronous write). */
typedef struct mxe_cycle_times {
    mxe_phase_time fetch, parse, aggregate, render, mirror;
} mxe_cycle_times;

typedef struct mxe_live mxe_live; /* live.h */

typedef struct mxe_collector {
    const mxe_config *cfg;
    mxe_fetch *fetch;
    mxe_mirrors *mirrors;
    mxe_hub *hub;            /* NULL in --once mode: nothing is served */
    const mxe_live *live;    /* the live feeds, for their subscriber counts; NULL: none */
    mxe_snapshot *last_good; /* a reference, NULL before the first good poll */
    uint64_t polls, failures, seq;
    double last_duration_s, last_success_unix;
    int64_t last_success_mono_ms;
    char version[64]; /* the last version /v3/info reported; "" when none (see cycle.c) */
    char last_error[256];
    uint64_t same_error_count; /* consecutive failures with last_error's text */
    int64_t last_error_log_ms;
    mxe_cycle_times last_times; /* the last successful cycle's */
    mxe_poll_buffers poll_buffers;
} mxe_collector;

typedef enum {
    MXE_CYCLE_OK = 0,
    MXE_CYCLE_POLL_FAILED = 1,
    MXE_CYCLE_MIRROR_FAILED = 2, /* --once only: mirrors are synchronous there */
} mxe_cycle_result;

/* Set up; `hub` NULL means --once (mirrors written synchronously, nothing rendered).
 * 0, or -1 when out of memory. */
int mxe_collector_init(mxe_collector *c, const mxe_config *cfg, mxe_hub *hub,
                       volatile sig_atomic_t *stop);
mxe_cycle_result mxe_collector_cycle(mxe_collector *c);
/* Stop the mirror worker (finishing its writes) and free everything. */
void mxe_collector_free(mxe_collector *c);

#endif
