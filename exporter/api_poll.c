/* One poll of the MediaMTX API; see api_poll.h. */
#include "api_poll.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "collect.h"
#include "clock.h"

void mxe_phase_mark_now(mxe_phase_mark *m)
{
    m->cpu_ns = mxe_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    m->wall_ns = mxe_clock_ns(CLOCK_MONOTONIC);
}

void mxe_phase_add(mxe_phase_time *acc, mxe_phase_mark *since)
{
    mxe_phase_mark now;
    mxe_phase_mark_now(&now);
    if (now.cpu_ns > since->cpu_ns)
        acc->cpu_ns += (uint64_t)(now.cpu_ns - since->cpu_ns);
    if (now.wall_ns > since->wall_ns)
        acc->wall_ns += (uint64_t)(now.wall_ns - since->wall_ns);
    *since = now;
}

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

/* MediaMTX answers wrong credentials only after a pause (2 s in v1.13, a random 0-4 s
 * in v1.20, FACTS 7), longer than the default timeout: a first request that times out
 * while credentials are sent most likely met that pause. Say so, on the same line. Once a
 * request of this poll was answered, the credentials are known to be good. */
static void hint_wrong_credentials(mxe_fetch *f, char *err, size_t errlen)
{
    if (mxe_fetch_last_error(f) != MXE_FETCH_TIMEOUT || !mxe_fetch_sends_credentials(f))
        return;
    size_t n = strlen(err);
    snprintf(err + n, errlen - n,
             "; MediaMTX delays its answer to wrong credentials by 2-4 s, so check the "
             "configured user and password or token");
}

/* The most a poll used of its buffers: what decides whether they are kept. */
typedef struct buffer_peak {
    size_t body;
    int tokens;
} buffer_peak;

/* Fetch every page of one list. When `optional`, a 404 on the first page means the list
 * belongs to a disabled server (MediaMTX removes its routes, FACTS 12): an empty list.
 * The paths list always exists, so a 404 there is a failure (wrong URL, not MediaMTX). */
static int fetch_list(mxe_fetch *f, const char *endpoint, bool optional, page_parser parse,
                      mxe_collect *c, int64_t deadline, size_t max_bytes, mxe_buf *body,
                      buffer_peak *peak, mxe_poll_result *out, char *err, size_t errlen)
{
    uint64_t pages = 1;
    for (uint64_t page = 0; page < pages; page++) {
        char pq[160];
        snprintf(pq, sizeof pq, "%s?itemsPerPage=%d&page=%" PRIu64, endpoint, MXE_POLL_PAGE_SIZE,
                 page);
        mxe_phase_mark m;
        mxe_phase_mark_now(&m);
        long status = mxe_fetch_get(f, pq, deadline, max_bytes, body, err, errlen);
        mxe_phase_add(&out->fetch, &m);
        bool first = out->requests++ == 0;
        if (status < 0) {
            if (first)
                hint_wrong_credentials(f, err, errlen);
            return -1;
        }
        out->bytes += body->len;
        if (body->len > peak->body)
            peak->body = body->len;
        if (status == 404 && page == 0 && optional)
            return 0;
        if (status != 200) {
            describe_status(pq, status, body, err, errlen);
            return -1;
        }
        char why[200];
        int prc = parse(c, body->data ? body->data : "", body->len, &pages, why, sizeof why);
        mxe_phase_add(&out->parse, &m);
        if (c->json.count > peak->tokens)
            peak->tokens = c->json.count;
        if (prc != 0) {
            snprintf(err, errlen, "GET %s: %s", pq, why);
            return -1;
        }
        /* pageCount can change between pages (paths come and go): follow the latest. */
    }
    return 0;
}

void mxe_poll_buffers_free(mxe_poll_buffers *b)
{
    if (!b)
        return;
    mxe_buf_free(&b->body);
    mxe_json_free(&b->json);
}

int mxe_poll_run(mxe_fetch *f, mxe_poll_buffers *bufs, int64_t timeout_ms, size_t max_bytes,
                 mxe_poll_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    mxe_poll_buffers tmp = MXE_POLL_BUFFERS_INIT;
    if (!bufs)
        bufs = &tmp;
    int64_t deadline = mxe_now_mono_ms() + timeout_ms;
    mxe_collect c = MXE_COLLECT_INIT;
    c.json = bufs->json; /* the token array of the last poll, grown only when needed */
    mxe_buf *body = &bufs->body;
    buffer_peak peak = {0, 0};
    int rc = -1;
    if (fetch_list(f, "/v3/paths/list", false, mxe_collect_paths_page, &c, deadline, max_bytes,
                   body, &peak, out, err, errlen) != 0 ||
        fetch_list(f, "/v3/srtconns/list", true, mxe_collect_srt_page, &c, deadline, max_bytes,
                   body, &peak, out, err, errlen) != 0)
        goto done;
    /* /v3/info exists from v1.15.2 on; older servers answer 404 and report no version. */
    char ierr[256];
    mxe_phase_mark m;
    mxe_phase_mark_now(&m);
    long status = mxe_fetch_get(f, "/v3/info", deadline, 65536, body, ierr, sizeof ierr);
    mxe_phase_add(&out->fetch, &m);
    out->requests++;
    if (status == 200 &&
        mxe_collect_info_version(body->data, body->len, out->version, sizeof out->version) == 0)
        out->info = MXE_INFO_VERSION;
    else if (status == 404)
        out->info = MXE_INFO_ABSENT; /* before v1.15.2: there is no version to know */
    else
        out->info = MXE_INFO_UNKNOWN; /* failed, timed out, or an answer without a version */
    mxe_phase_add(&out->parse, &m);
    int frc = mxe_collect_finish(&c, &out->streams);
    mxe_phase_add(&out->aggregate, &m);
    if (frc != 0) {
        snprintf(err, errlen, "out of memory while sorting streams");
        goto done;
    }
    rc = 0;
done:
    bufs->json = c.json;
    c.json = (mxe_json)MXE_JSON_INIT;
    mxe_collect_free(&c);
    /* Keep what the next poll will need again; let go of what a spike left behind. */
    if (bufs->body.cap > 4 * peak.body + 65536)
        mxe_buf_free(&bufs->body);
    if (bufs->json.cap > 4 * peak.tokens + 4096)
        mxe_json_free(&bufs->json);
    mxe_poll_buffers_free(&tmp);
    return rc;
}
