/* mediamtx-exporter: wiring, signals, the poll loop and the shutdown order.
 *
 * Exit status: 0 success; 1 startup or runtime failure (e.g. the listen port is taken);
 * 2 invalid configuration; 3 (--once) the poll failed; 4 (--once) a mirror failed. */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "cycle.h"
#include "http.h"
#include "log.h"
#include "snapshot.h"
#include "version.h"

enum { EXIT_RUNTIME = 1, EXIT_CONFIG = 2, EXIT_POLL = 3, EXIT_MIRROR = 4 };

extern char **environ;

/* The only global: set by SIGTERM/SIGINT, read by the loop and by libcurl's progress hook. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a signal cuts the sleep short */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a vanished HTTP client or Redis must not kill us */
}

/* Sleep until `until_ms` on CLOCK_MONOTONIC or a stop request, whichever comes first.
 * SIGTERM and SIGINT stay blocked except inside ppoll(), which unblocks them atomically
 * with going to sleep: a signal that lands just before the sleep is delivered in it and
 * ends it. So the loop needs no timer slices, and an idle exporter is woken only by its
 * next cycle (every wake-up costs tens of µs on a VM). */
static void sleep_until(int64_t until_ms)
{
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stops, &old);
    for (;;) {
        int64_t left = until_ms - mxe_now_mono_ms();
        if (left <= 0 || stop_requested)
            break;
        struct timespec ts = {left / 1000, (long)(left % 1000) * 1000000L};
        ppoll(NULL, 0, &ts, &old);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int run_once(const mxe_config *cfg)
{
    mxe_collector c;
    if (mxe_collector_init(&c, cfg, NULL, &stop_requested) != 0) {
        mxe_error("out of memory at startup");
        return EXIT_RUNTIME;
    }
    mxe_cycle_result r = mxe_collector_cycle(&c);
    mxe_collector_free(&c);
    return r == MXE_CYCLE_OK ? 0 : r == MXE_CYCLE_POLL_FAILED ? EXIT_POLL : EXIT_MIRROR;
}

static int run_daemon(const mxe_config *cfg)
{
    mxe_hub hub;
    if (mxe_hub_init(&hub) != 0) {
        mxe_error("cannot initialise the snapshot hub");
        return EXIT_RUNTIME;
    }
    mxe_collector c;
    if (mxe_collector_init(&c, cfg, &hub, &stop_requested) != 0) {
        mxe_error("out of memory at startup");
        mxe_hub_destroy(&hub);
        return EXIT_RUNTIME;
    }
    char err[256];
    mxe_http *http = mxe_http_start(cfg, &hub, err, sizeof err);
    if (!http) {
        mxe_error("%s", err);
        mxe_collector_free(&c);
        mxe_hub_destroy(&hub);
        return EXIT_RUNTIME;
    }
    c.live = mxe_http_live(http); /* for mediamtx_exporter_subscribers */
    mxe_info("listening on port %d; polling %s every %g s", mxe_http_port(http), cfg->api_url,
             cfg->poll_interval_s);

    /* Cycles start on a fixed grid: no drift, and a slow cycle skips grid points rather
     * than letting cycles pile up. */
    const int64_t interval_ms = (int64_t)(cfg->poll_interval_s * 1000 + 0.5);
    int64_t next = mxe_now_mono_ms();
    while (!stop_requested) {
        mxe_collector_cycle(&c);
        next += interval_ms;
        int64_t now = mxe_now_mono_ms();
        if (now >= next) {
            int64_t skipped = (now - next) / interval_ms + 1;
            mxe_warn("poll cycle took longer than the interval; skipping %lld cycle(s)",
                     (long long)skipped);
            next += skipped * interval_ms;
        }
        sleep_until(next);
    }
    mxe_info("shutting down");
    mxe_hub_close(&hub);
    mxe_http_stop(http);
    mxe_collector_free(&c); /* finishes the mirror write under way: no torn file */
    mxe_hub_destroy(&hub);
    return 0;
}

int main(int argc, char **argv)
{
    mxe_config cfg;
    char err[512];
    mxe_config_result cr = mxe_config_load(&cfg, argc, argv, environ, stdout, err, sizeof err);
    if (cr != MXE_CONFIG_OK) {
        if (cr == MXE_CONFIG_BAD)
            fprintf(stderr, "mediamtx-exporter: %s\n", err);
        mxe_config_free(&cfg);
        return cr == MXE_CONFIG_EXIT ? 0 : EXIT_CONFIG;
    }
    mxe_log_setup(cfg.log_level, cfg.log_format);
    install_signals();
    mxe_info("mediamtx-exporter %s (revision %s) starting", MXE_VERSION, MXE_REVISION);
    mxe_config_log(&cfg);
    int rc = cfg.once ? run_once(&cfg) : run_daemon(&cfg);
    mxe_config_free(&cfg);
    return rc;
}
