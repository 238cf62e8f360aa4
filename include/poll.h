/* One poll of the MediaMTX API: every page of /v3/paths/list and /v3/srtconns/list, and
 * /v3/info, fetched within one deadline and turned into stream records. */
#ifndef MXE_POLL_H
#define MXE_POLL_H

#include <stddef.h>
#include <stdint.h>

#include "fetch.h"
#include "model.h"

/* Items requested per page: large pages keep the request count per cycle small. */
#define MXE_POLL_PAGE_SIZE 1000

typedef struct mxe_poll_result {
    mxe_streams streams;  /* sorted by name, SRT joined; empty on failure */
    char version[64];     /* MediaMTX version from /v3/info, "" when not reported */
    uint64_t requests;    /* HTTP requests this poll made */
    uint64_t bytes;       /* response bytes this poll read */
} mxe_poll_result;

/* Run one poll. `timeout_ms` bounds the whole poll; `max_bytes` caps each response and the
 * total read. 0 on success (out->streams filled); -1 with one line in err naming the
 * endpoint and the cause. The caller frees out->streams with mxe_streams_free(). */
int mxe_poll_run(mxe_fetch *f, int64_t timeout_ms, size_t max_bytes, mxe_poll_result *out,
                 char *err, size_t errlen);

#endif
