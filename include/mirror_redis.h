/* The Redis mirror: SET key json EX ttl and PUBLISH channel json in one MULTI/EXEC.
 * A failed write drops the connection; the next write (the next cycle's snapshot)
 * reconnects, so Redis sees at most one attempt per poll cycle and the first cycle after
 * Redis returns writes again. A whole write (connect, AUTH, SELECT, MULTI/EXEC) is bounded
 * by min(poll interval / 2, 1 s). It logs nothing: the caller decides what to say.
 * Not thread-safe (one writer), except mxe_mirror_redis_interrupt(). */
#ifndef MXE_MIRROR_REDIS_H
#define MXE_MIRROR_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct mxe_mirror_redis mxe_mirror_redis;

/* A mirror for cfg->redis (copied); no connection is made yet. NULL when out of memory. */
mxe_mirror_redis *mxe_mirror_redis_new(const mxe_config *cfg);
/* Close the connection and free. Accepts NULL. */
void mxe_mirror_redis_free(mxe_mirror_redis *m);

typedef enum {
    MXE_REDIS_WRITTEN = 0,     /* SET (and PUBLISH) done */
    MXE_REDIS_FAILED = -1,     /* connect or command failed; err says why */
    MXE_REDIS_INTERRUPTED = 1, /* cut short or not tried: mxe_mirror_redis_interrupt() */
} mxe_redis_result;

/* Mirror one JSON document. `subscribers` (may be NULL) receives PUBLISH's count. */
mxe_redis_result mxe_mirror_redis_write(mxe_mirror_redis *m, const char *json, size_t len,
                                        long long *subscribers, char *err, size_t errlen);

/* From any thread: end the write under way now (its socket is shut down, so a Redis that
 * accepted the connection but never answers cannot hold it) and make every later write
 * return MXE_REDIS_INTERRUPTED without I/O. A connect in progress still ends by its
 * timeout. For shutdown. */
void mxe_mirror_redis_interrupt(mxe_mirror_redis *m);

#endif
