/* MediaMTX answers → stream records. Pure: takes response bodies, never does I/O.
 * Understands both ends of the supported API range: v1.13 (ready, tracks as strings,
 * bytesReceived/bytesSent) and v1.20 (available, tracks2, inboundBytes/outboundBytes,
 * with the deprecated fields still present — the new ones win). */
#ifndef MXE_COLLECT_H
#define MXE_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "model.h"

typedef struct mxe_srt_conn {
    const char *id;
    mxe_srt_stats stats;
    size_t order; /* arrival order, so that the latest page wins on duplicates */
} mxe_srt_conn;

typedef struct mxe_collect {
    mxe_streams streams; /* in arrival order until mxe_collect_finish() */
    mxe_srt_conn *srt;
    size_t n_srt, cap_srt;
    mxe_arena srt_arena;
    mxe_json json; /* token storage reused across pages */
} mxe_collect;

#define MXE_COLLECT_INIT                                                                           \
    {                                                                                              \
        0                                                                                          \
    }

/* Add one page of /v3/paths/list. Stores the page count the server reported in
 * *page_count. 0 on success; -1 with a reason in err (the page is rejected whole). */
int mxe_collect_paths_page(mxe_collect *c, const char *body, size_t len, uint64_t *page_count,
                           char *err, size_t errlen);
/* Add one page of /v3/srtconns/list; as above. */
int mxe_collect_srt_page(mxe_collect *c, const char *body, size_t len, uint64_t *page_count,
                         char *err, size_t errlen);
/* Sort by name, keep the latest of duplicate names (a list that changed between pages),
 * join each SRT-published stream with its connection, and move the result into *out
 * (which must be empty). 0, or -1 when out of memory. */
int mxe_collect_finish(mxe_collect *c, mxe_streams *out);
/* Release everything. Accepts NULL; the collector is reusable afterwards. */
void mxe_collect_free(mxe_collect *c);

/* The `version` of a /v3/info answer, copied into buf; -1 when absent or invalid. */
int mxe_collect_info_version(const char *body, size_t len, char *buf, size_t buflen);
/* The `error` text of a MediaMTX error body ({"error"} or {"status","error"}) copied into
 * buf; -1 when the body is not such a document. */
int mxe_collect_error_text(const char *body, size_t len, char *buf, size_t buflen);

#endif
