/* One poll of the MediaMTX API; see poll.h. */
#include "poll.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "collect.h"
#include "snapshot.h" /* mxe_now_mono_ms */

typedef int (*page_parser)(mxe_collect *c, const char *body, size_t len, uint64_t *page_count,
                           char *err, size_t errlen);

/* Why a non-200 answer failed, with MediaMTX's own error text when it sent one. */
static void describe_status(const char *what, long status, const mxe_buf *body, char *err,
                            size_t errlen)
{
    char text[200];
    if (body->len && mxe_collect_error_text(body->data, body->len, text, sizeof text) == 0)
        snprintf(err, errlen, "GET %s: HTTP %ld: %s", what, status, text);
    else
        snprintf(err, errlen, "GET %s: HTTP %ld", what, status);
}

/* Fetch every page of one list. When `optional`, a 404 on the first page means the list
 * belongs to a disabled server (MediaMTX removes its routes, FACTS 12): an empty list.
 * The paths list always exists, so a 404 there is a failure (wrong URL, not MediaMTX). */
static int fetch_list(mxe_fetch *f, const char *endpoint, bool optional, page_parser parse,
                      mxe_collect *c, int64_t deadline, size_t max_bytes, mxe_buf *body,
                      mxe_poll_result *out, char *err, size_t errlen)
{
    uint64_t pages = 1;
    for (uint64_t page = 0; page < pages; page++) {
        char pq[160];
        snprintf(pq, sizeof pq, "%s?itemsPerPage=%d&page=%" PRIu64, endpoint, MXE_POLL_PAGE_SIZE,
                 page);
        if (out->bytes >= max_bytes) {
            snprintf(err, errlen, "GET %s: poll read more than the %zu byte cap", endpoint,
                     max_bytes);
            return -1;
        }
        long status = mxe_fetch_get(f, pq, deadline, max_bytes - out->bytes, body, err, errlen);
        out->requests++;
        if (status < 0)
            return -1;
        out->bytes += body->len;
        if (status == 404 && page == 0 && optional)
            return 0;
        if (status != 200) {
            describe_status(pq, status, body, err, errlen);
            return -1;
        }
        char why[200];
        if (parse(c, body->data ? body->data : "", body->len, &pages, why, sizeof why) != 0) {
            snprintf(err, errlen, "GET %s: %s", pq, why);
            return -1;
        }
        /* pageCount can change between pages (paths come and go): follow the latest. */
    }
    return 0;
}

int mxe_poll_run(mxe_fetch *f, int64_t timeout_ms, size_t max_bytes, mxe_poll_result *out,
                 char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int64_t deadline = mxe_now_mono_ms() + timeout_ms;
    mxe_collect c = MXE_COLLECT_INIT;
    mxe_buf body = MXE_BUF_INIT;
    int rc = -1;
    if (fetch_list(f, "/v3/paths/list", false, mxe_collect_paths_page, &c, deadline, max_bytes,
                   &body, out, err, errlen) != 0 ||
        fetch_list(f, "/v3/srtconns/list", true, mxe_collect_srt_page, &c, deadline, max_bytes,
                   &body, out, err, errlen) != 0)
        goto done;
    /* /v3/info exists from v1.15.2 on; older servers answer 404 and report no version. */
    char ierr[64];
    long status = mxe_fetch_get(f, "/v3/info", deadline, 65536, &body, ierr, sizeof ierr);
    out->requests++;
    if (status == 200)
        mxe_collect_info_version(body.data, body.len, out->version, sizeof out->version);
    if (mxe_collect_finish(&c, &out->streams) != 0) {
        snprintf(err, errlen, "out of memory while sorting streams");
        goto done;
    }
    rc = 0;
done:
    mxe_collect_free(&c);
    mxe_buf_free(&body);
    return rc;
}
