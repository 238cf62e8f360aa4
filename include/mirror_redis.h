/* The Redis mirror: SET key json EX ttl and PUBLISH channel json in one MULTI/EXEC.
 * A lost connection is logged once per outage and retried with backoff; a write never
 * blocks longer than the configured timeout. Not thread-safe: one user. */
#ifndef MXE_MIRROR_REDIS_H
#define MXE_MIRROR_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct mxe_mirror_redis mxe_mirror_redis;

/* A mirror for cfg->redis (copied); no connection is made yet. NULL when out of memory. */
mxe_mirror_redis *mxe_mirror_redis_new(const mxe_config *cfg);
void mxe_mirror_redis_free(mxe_mirror_redis *m);

typedef enum {
    MXE_REDIS_WRITTEN = 0, /* SET (and PUBLISH) done */
    MXE_REDIS_FAILED = -1, /* connect or command failed; err says why */
    MXE_REDIS_BACKOFF = 1, /* not attempted: waiting before the next reconnect */
} mxe_redis_result;

/* Mirror one JSON document. `subscribers` (may be NULL) receives PUBLISH's count. */
mxe_redis_result mxe_mirror_redis_write(mxe_mirror_redis *m, const char *json, size_t len,
                                        long long *subscribers, char *err, size_t errlen);

#endif
