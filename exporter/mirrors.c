/* The mirror worker; see mirrors.h. */
#include "mirrors.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "mirror_file.h"
#include "mirror_redis.h"
#include "sigmask.h"

struct mxe_mirrors {
    mxe_mirror_redis *redis; /* NULL when disabled */
    char *file_path;         /* NULL when disabled */
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    mxe_snapshot *pending; /* newest snapshot not yet written */
    bool stopping;
    bool done;                         /* the worker has returned (under mu) */
    pthread_cond_t done_cv;            /* signalled when `done` becomes true */
    mxe_mirror_stats stats;            /* under mu */
    bool file_failing;                 /* log a file outage once, and its end */
    uint64_t redis_failures_in_outage; /* 0 while Redis is healthy */
};

/* At shutdown the worker may finish its writes for this long; then Redis I/O is cut off,
 * so that a Redis that accepts connections but never answers cannot hold the exit. */
#define STOP_GRACE_MS 250

mxe_mirrors *mxe_mirrors_new(const mxe_config *cfg)
{
    mxe_mirrors *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->wake, NULL);
    mxe_cond_init_mono(&m->done_cv);
    if (cfg->redis.enabled && !(m->redis = mxe_mirror_redis_new(cfg)))
        goto fail;
    if (cfg->json_output_path && cfg->json_output_path[0] &&
        !(m->file_path = strdup(cfg->json_output_path)))
        goto fail;
    m->stats.redis_enabled = m->redis != NULL;
    m->stats.file_enabled = m->file_path != NULL;
    return m;
fail:
    mxe_mirrors_free(m);
    return NULL;
}

/* Log a Redis result. --once (`announce`): one line either way. Daemon: an outage once
 * when it begins and once when it ends; the metrics count the failures in between. */
static void log_redis(mxe_mirrors *m, mxe_redis_result r, const mxe_snapshot *snap, const char *err,
                      bool announce)
{
    if (announce) {
        if (r == MXE_REDIS_WRITTEN)
            mxe_info("%zu entries stored in Redis", snap->streams.count);
        else
            mxe_error("redis mirror: %s", err);
        return;
    }
    if (r == MXE_REDIS_INTERRUPTED) {
        mxe_debug("redis: %s", err);
    } else if (r == MXE_REDIS_WRITTEN) {
        if (m->redis_failures_in_outage)
            mxe_info("redis: connection restored after %llu failed attempt(s)",
                     (unsigned long long)m->redis_failures_in_outage);
        m->redis_failures_in_outage = 0;
    } else if (m->redis_failures_in_outage++ == 0) {
        mxe_warn("redis: %s; retrying every cycle, polling and /metrics continue", err);
    } else {
        mxe_debug("redis: %s", err);
    }
}

/* Write both mirrors; returns 0 when every enabled one succeeded. `announce` (--once) logs
 * the outcome of each, Redis first as the original collector did. */
static int write_all(mxe_mirrors *m, const mxe_snapshot *snap, bool announce)
{
    int rc = 0;
    char ferr[512] = "", rerr[512] = "";
    bool file_ok = true;
    if (m->file_path) {
        file_ok = mxe_mirror_file_write(m->file_path, snap->json.data, snap->json.len, ferr,
                                        sizeof ferr) == 0;
        pthread_mutex_lock(&m->mu);
        m->stats.file_failures += !file_ok;
        pthread_mutex_unlock(&m->mu);
        rc |= file_ok ? 0 : -1;
    }
    if (m->redis) {
        mxe_redis_result r = mxe_mirror_redis_write(m->redis, snap->json.data, snap->json.len, NULL,
                                                    rerr, sizeof rerr);
        log_redis(m, r, snap, rerr, announce);
        pthread_mutex_lock(&m->mu);
        m->stats.redis_up = r == MXE_REDIS_WRITTEN;
        m->stats.redis_failures += r != MXE_REDIS_WRITTEN;
        pthread_mutex_unlock(&m->mu);
        rc |= r == MXE_REDIS_WRITTEN ? 0 : -1;
    }
    if (m->file_path) {
        if (!file_ok && (!m->file_failing || announce))
            mxe_error("file mirror: %s; the previous file is left intact", ferr);
        else if (file_ok && m->file_failing)
            mxe_info("file mirror: writing %s again", m->file_path);
        else if (file_ok && announce)
            mxe_info("JSON file written: %s", m->file_path);
        m->file_failing = !file_ok;
    }
    if (rc == 0) {
        pthread_mutex_lock(&m->mu);
        m->stats.written++;
        pthread_mutex_unlock(&m->mu);
    }
    return rc;
}

static void *worker(void *arg)
{
    mxe_mirrors *m = arg;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        while (!m->pending && !m->stopping)
            pthread_cond_wait(&m->wake, &m->mu);
        mxe_snapshot *snap = m->pending;
        m->pending = NULL;
        if (!snap)
            break; /* stopping with nothing left to write */
        pthread_mutex_unlock(&m->mu);
        uint64_t cpu0 = (uint64_t)mxe_clock_ns(CLOCK_THREAD_CPUTIME_ID),
                 wall0 = (uint64_t)mxe_clock_ns(CLOCK_MONOTONIC);
        write_all(m, snap, false);
        mxe_snapshot_unref(snap);
        uint64_t cpu1 = (uint64_t)mxe_clock_ns(CLOCK_THREAD_CPUTIME_ID),
                 wall1 = (uint64_t)mxe_clock_ns(CLOCK_MONOTONIC);
        pthread_mutex_lock(&m->mu);
        m->stats.last_write_cpu_ns = cpu1 > cpu0 ? cpu1 - cpu0 : 0;
        m->stats.last_write_wall_ns = wall1 > wall0 ? wall1 - wall0 : 0;
    }
    m->done = true;
    pthread_cond_signal(&m->done_cv);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int mxe_mirrors_start(mxe_mirrors *m)
{
    if (!m->redis && !m->file_path)
        return 0; /* nothing to mirror: no thread */
    /* The worker must never take SIGTERM/SIGINT: a signal mid-write would leave the main
     * thread's handler to run there. It inherits this mask. */
    sigset_t old;
    mxe_sigmask_block(&old);
    int rc = pthread_create(&m->thread, NULL, worker, m);
    mxe_sigmask_restore(&old);
    if (rc != 0)
        return -1;
    m->running = true;
    return 0;
}

void mxe_mirrors_submit(mxe_mirrors *m, mxe_snapshot *snap)
{
    if (!m->running)
        return;
    mxe_snapshot_ref(snap);
    pthread_mutex_lock(&m->mu);
    mxe_snapshot *old = m->pending;
    m->pending = snap;
    pthread_mutex_unlock(&m->mu);
    /* Signalled after the unlock: a worker woken under the lock would at once block on it
     * again, a second wake-up per cycle. It re-checks `pending` under the lock. */
    pthread_cond_signal(&m->wake);
    if (old)
        mxe_debug("mirrors: skipped snapshot %llu, a newer one replaced it",
                  (unsigned long long)old->seq);
    mxe_snapshot_unref(old);
}

int mxe_mirrors_write_now(mxe_mirrors *m, mxe_snapshot *snap)
{
    return write_all(m, snap, true);
}

void mxe_mirrors_stats(mxe_mirrors *m, mxe_mirror_stats *out)
{
    pthread_mutex_lock(&m->mu);
    *out = m->stats;
    pthread_mutex_unlock(&m->mu);
}

void mxe_mirrors_free(mxe_mirrors *m)
{
    if (!m)
        return;
    if (m->running) {
        pthread_mutex_lock(&m->mu);
        m->stopping = true;
        pthread_cond_signal(&m->wake);
        /* Let the worker finish the write under way and the pending one, but not for long:
         * a file write always completes (no torn file); Redis I/O is cut off. */
        struct timespec ts = mxe_mono_deadline(mxe_now_mono_ms() + STOP_GRACE_MS);
        while (!m->done && pthread_cond_timedwait(&m->done_cv, &m->mu, &ts) == 0)
            ;
        bool done = m->done;
        pthread_mutex_unlock(&m->mu);
        if (!done && m->redis)
            mxe_mirror_redis_interrupt(m->redis);
        pthread_join(m->thread, NULL);
    }
    mxe_snapshot_unref(m->pending);
    mxe_mirror_redis_free(m->redis);
    free(m->file_path);
    pthread_cond_destroy(&m->wake);
    pthread_cond_destroy(&m->done_cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
