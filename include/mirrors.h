/* The mirror worker: writes each new snapshot's JSON to the file and to Redis on its own
 * thread, so a slow disk or a slow Redis never delays polling or /metrics. It keeps only
 * the newest snapshot pending: when writes fall behind, older ones are skipped. */
#ifndef MXE_MIRRORS_H
#define MXE_MIRRORS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "snapshot.h"

typedef struct mxe_mirrors mxe_mirrors;

typedef struct mxe_mirror_stats {
    bool redis_enabled;
    bool redis_up; /* the last Redis write succeeded */
    bool file_enabled;
    uint64_t redis_failures; /* failed Redis writes (one attempt per cycle at most) */
    uint64_t file_failures;  /* failed file writes */
    uint64_t written;        /* snapshots fully mirrored */
    /* The last write of both mirrors by the worker: CPU time of the worker thread and
     * wall time, in nanoseconds (0 before the first write). */
    uint64_t last_write_cpu_ns;
    uint64_t last_write_wall_ns;
} mxe_mirror_stats;

/* Mirrors as configured (either may be disabled). NULL when out of memory. */
mxe_mirrors *mxe_mirrors_new(const mxe_config *cfg);
/* Start the worker thread (daemon mode). 0 or -1. */
int mxe_mirrors_start(mxe_mirrors *m);
/* Hand a snapshot to the worker (a reference is taken); replaces one still pending. */
void mxe_mirrors_submit(mxe_mirrors *m, mxe_snapshot *snap);
/* Write synchronously on the calling thread (--once). 0 when every enabled mirror was
 * written, -1 otherwise (each failure already logged). */
int mxe_mirrors_write_now(mxe_mirrors *m, mxe_snapshot *snap);
void mxe_mirrors_stats(mxe_mirrors *m, mxe_mirror_stats *out);
/* Stop the worker and free. The write under way and the pending one may finish for
 * 250 ms; after that Redis I/O is cut off (a file write always completes), so a hanging
 * Redis delays the return by at most that, plus a Redis connect still in progress (its
 * timeout, at most 1 s). Accepts NULL. */
void mxe_mirrors_free(mxe_mirrors *m);

#endif
