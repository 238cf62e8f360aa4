/* The poll cycle; see cycle.h. */
#include "cycle.h"

#include <stdio.h>
#include <string.h>

#include "expo.h"
#include "live.h"
#include "log.h"
#include "api_poll.h"
#include "procstat.h"

/* The same failure repeating every cycle is logged again at most this often. */
#define REPEAT_LOG_MS 60000

static void publish_view(mxe_collector *c, bool ok);

int mxe_collector_init(mxe_collector *c, const mxe_config *cfg, mxe_hub *hub,
                       volatile sig_atomic_t *stop)
{
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->hub = hub;
    c->fetch = mxe_fetch_new(cfg, stop);
    c->mirrors = mxe_mirrors_new(cfg);
    if (!c->fetch || !c->mirrors || (hub && mxe_mirrors_start(c->mirrors) != 0)) {
        mxe_collector_free(c);
        return -1;
    }
    if (hub) { /* /metrics answers 200 (mediamtx_up 0) from the first request on */
        snprintf(c->last_error, sizeof c->last_error, "no poll has completed yet");
        publish_view(c, false);
        c->last_error[0] = '\0';
    }
    return 0;
}

void mxe_collector_free(mxe_collector *c)
{
    mxe_mirrors_free(c->mirrors);
    mxe_fetch_free(c->fetch);
    mxe_poll_buffers_free(&c->poll_buffers);
    mxe_snapshot_unref(c->last_good);
    memset(c, 0, sizeof *c);
}

/* One line per failure, but a failure that repeats unchanged only once a minute. */
static void log_failure(mxe_collector *c, const char *err, int64_t now)
{
    bool same = strncmp(err, c->last_error, sizeof c->last_error - 1) == 0; /* as stored */
    c->same_error_count = same ? c->same_error_count + 1 : 1;
    if (!same || now - c->last_error_log_ms >= REPEAT_LOG_MS) {
        if (same)
            mxe_error("poll failed (%llu times in a row): %s",
                      (unsigned long long)c->same_error_count, err);
        else
            mxe_error("poll failed: %s", err);
        c->last_error_log_ms = now;
    }
    snprintf(c->last_error, sizeof c->last_error, "%.*s", (int)sizeof c->last_error - 1, err);
}

/* Build and publish the view for this cycle. */
static void publish_view(mxe_collector *c, bool ok)
{
    mxe_view *v = mxe_view_new();
    if (!v) {
        mxe_error("out of memory building the view; serving the previous one");
        return;
    }
    v->cycle = c->polls;
    v->snap = mxe_snapshot_ref(c->last_good);
    v->last_poll_ok = ok;
    v->last_success_mono_ms = c->last_success_mono_ms;
    v->stale_after_ms = (int64_t)(3 * c->cfg->poll_interval_s * 1000);
    snprintf(v->last_error, sizeof v->last_error, "%s", ok ? "" : c->last_error);

    mxe_mirror_stats ms;
    mxe_mirrors_stats(c->mirrors, &ms);
    unsigned subs_ws, subs_sse;
    mxe_live_counts(c->live, &subs_ws, &subs_sse);
    mxe_exporter_stats st = {
        .up = ok,
        .mediamtx_version = c->version[0] ? c->version : NULL,
        .polls_total = c->polls,
        .poll_failures_total = c->failures,
        .poll_duration_s = c->last_duration_s,
        .last_success_unix = c->last_success_unix,
        .poll_interval_s = c->cfg->poll_interval_s,
        .redis_up = ms.redis_up,
        .mirror_failures_redis = ms.redis_failures,
        .mirror_failures_file = ms.file_failures,
        .subscribers_websocket = subs_ws,
        .subscribers_sse = subs_sse,
    };
    mxe_view_set_inputs(v, &st, mxe_procstat_read, c->hub);
    mxe_hub_publish(c->hub, v);
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* The debug line of a successful cycle: what it read and where its time went. */
static void log_cycle(const mxe_collector *c, size_t n, const mxe_poll_result *res)
{
    const mxe_cycle_times *t = &c->last_times;
    mxe_debug("poll ok: %zu streams, %llu requests, %llu bytes, %.3f s; "
              "cpu ms: fetch %.3f parse %.3f aggregate %.3f render %.3f mirror %.3f; "
              "wall ms: fetch %.3f parse %.3f aggregate %.3f render %.3f mirror %.3f",
              n, (unsigned long long)res->requests, (unsigned long long)res->bytes,
              c->last_duration_s, ms(t->fetch.cpu_ns), ms(t->parse.cpu_ns), ms(t->aggregate.cpu_ns),
              ms(t->render.cpu_ns), ms(t->mirror.cpu_ns), ms(t->fetch.wall_ns),
              ms(t->parse.wall_ns), ms(t->aggregate.wall_ns), ms(t->render.wall_ns),
              ms(t->mirror.wall_ns));
}

mxe_cycle_result mxe_collector_cycle(mxe_collector *c)
{
    const mxe_config *cfg = c->cfg;
    int64_t t0_ns = mxe_clock_ns(CLOCK_MONOTONIC);
    mxe_poll_result res;
    char err[512];
    int rc = mxe_poll_run(c->fetch, &c->poll_buffers, (int64_t)(cfg->timeout_s * 1000),
                          cfg->max_response_bytes, &res, err, sizeof err);
    int64_t t1 = mxe_now_mono_ms();
    c->polls++;
    /* in ns: a small poll over loopback takes well under a millisecond */
    c->last_duration_s = (double)(mxe_clock_ns(CLOCK_MONOTONIC) - t0_ns) / 1e9;
    mxe_cycle_times times = {.fetch = res.fetch, .parse = res.parse, .aggregate = res.aggregate};
    mxe_phase_mark m;
    mxe_cycle_result result = MXE_CYCLE_OK;
    size_t n = 0;
    if (rc != 0) {
        c->failures++;
        log_failure(c, err, t1);
        result = MXE_CYCLE_POLL_FAILED;
    } else {
        if (c->same_error_count)
            mxe_info("poll recovered after %llu failed cycle(s)",
                     (unsigned long long)c->same_error_count);
        c->same_error_count = 0;
        c->last_error[0] = '\0';
        /* A failed or slow /v3/info keeps the version this server last reported, so
         * mediamtx_info{version} does not flap; only a 404 (a server without /v3/info, e.g.
         * after a downgrade to v1.13) clears it, and a new answer replaces it. */
        if (res.info == MXE_INFO_VERSION)
            snprintf(c->version, sizeof c->version, "%s", res.version);
        else if (res.info == MXE_INFO_ABSENT)
            c->version[0] = '\0';
        n = res.streams.count;
        mxe_phase_mark_now(&m);
        mxe_snapshot *snap = mxe_snapshot_new(&res.streams, ++c->seq, mxe_now_unix(), t1);
        mxe_phase_add(&times.render, &m);
        if (!snap) {
            c->failures++;
            log_failure(c, "out of memory building the snapshot", t1);
            result = MXE_CYCLE_POLL_FAILED;
        } else {
            mxe_snapshot_unref(c->last_good);
            c->last_good = snap;
            c->last_success_unix = snap->unix_time;
            c->last_success_mono_ms = t1;
            if (!c->hub) {
                if (mxe_mirrors_write_now(c->mirrors, snap) != 0)
                    result = MXE_CYCLE_MIRROR_FAILED;
                mxe_phase_add(&times.mirror, &m);
            } else {
                mxe_mirrors_submit(c->mirrors, snap);
            }
        }
    }
    mxe_streams_free(&res.streams); /* empty unless the snapshot took it */
    if (c->hub) {
        mxe_phase_mark_now(&m);
        publish_view(c, result == MXE_CYCLE_OK);
        mxe_phase_add(&times.render, &m);
        mxe_mirror_stats mst;
        mxe_mirrors_stats(c->mirrors, &mst);
        times.mirror.cpu_ns = mst.last_write_cpu_ns;
        times.mirror.wall_ns = mst.last_write_wall_ns;
    }
    if (result != MXE_CYCLE_POLL_FAILED) {
        c->last_times = times;
        if (mxe_log_enabled(MXE_LOG_DEBUG))
            log_cycle(c, n, &res);
    }
    return result;
}
