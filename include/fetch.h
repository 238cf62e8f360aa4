/* HTTP GETs against the MediaMTX API over one reused libcurl handle (one keep-alive
 * connection across requests and cycles), with auth, TLS options, a deadline and a cap
 * on the response size. */
#ifndef MXE_FETCH_H
#define MXE_FETCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

typedef struct mxe_fetch mxe_fetch;

/* Why the last mxe_fetch_get() returned -1. */
typedef enum {
    MXE_FETCH_OK = 0,
    MXE_FETCH_TIMEOUT,   /* the deadline passed */
    MXE_FETCH_OVER_CAP,  /* the body exceeded max_bytes */
    MXE_FETCH_ABORTED,   /* `stop` became non-zero */
    MXE_FETCH_TRANSPORT, /* refused, reset, TLS, … */
} mxe_fetch_error;

/* A fetcher for cfg's API URL and credentials (copied). `stop` (may be NULL) is checked
 * during transfers: when it becomes non-zero the transfer aborts. NULL when out of memory. */
mxe_fetch *mxe_fetch_new(const mxe_config *cfg, volatile sig_atomic_t *stop);
void mxe_fetch_free(mxe_fetch *f);

/* GET base_url + path_query into `body` (reset first). The transfer must end before
 * `deadline_mono_ms` (CLOCK_MONOTONIC) and the body may not exceed `max_bytes` (the
 * configured --mediamtx.max-response-size, named in the error). Returns the HTTP status
 * (200, 404, …), or -1 on a transport error with one line in err (curl's own text,
 * "timed out (poll timeout)", "response larger than the 67108864 byte cap …"); then
 * mxe_fetch_last_error() tells which kind it was. */
long mxe_fetch_get(mxe_fetch *f, const char *path_query, int64_t deadline_mono_ms, size_t max_bytes,
                   mxe_buf *body, char *err, size_t errlen);

mxe_fetch_error mxe_fetch_last_error(const mxe_fetch *f);
/* Whether requests carry basic auth or a bearer token. */
bool mxe_fetch_sends_credentials(const mxe_fetch *f);

/* Requests sent and TCP connections opened so far (keep-alive proof for tests/bench). */
uint64_t mxe_fetch_requests(const mxe_fetch *f);
uint64_t mxe_fetch_connections(const mxe_fetch *f);

#endif
