/* Request-header deadline (slowloris guard); see header_deadline.h. */
#include "header_deadline.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "clock.h"

/* One per connection, in the socket context; all fields under the deadline's mutex. */
typedef struct conn_rec {
    struct conn_rec *prev, *next;
    int fd;
    bool waiting;     /* ready for a request whose headers are not complete yet */
    bool shut;        /* shut down by the watchdog */
    int64_t since_ms; /* when `waiting` began */
} conn_rec;

struct mxe_header_deadline {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signals `stopping`, and a waiting connection while `idle` */
    pthread_t thread;
    bool stopping;
    bool idle; /* the watchdog sleeps without a deadline: no connection is waiting */
    unsigned timeout_ms;
    conn_rec *head;
    uint64_t expired;
};

/* Wake the watchdog if it sleeps without a deadline (under d->mu): a connection now waits
 * for request headers. A deadline added while it sleeps towards an earlier one needs no
 * wake-up: every new deadline is now + timeout, later than any set before. */
static void wake_if_idle(mxe_header_deadline *d)
{
    if (d->idle) {
        d->idle = false;
        pthread_cond_signal(&d->cv);
    }
}

static void *watchdog(void *arg)
{
    mxe_header_deadline *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        int64_t now = mxe_now_mono_ms(), next = INT64_MAX; /* the earliest deadline ahead */
        unsigned n = 0;
        for (conn_rec *r = d->head; r; r = r->next) {
            if (!r->waiting || r->shut)
                continue;
            int64_t due = r->since_ms + (int64_t)d->timeout_ms;
            if (due > now) {
                next = due < next ? due : next;
                continue;
            }
            /* Safe: libmicrohttpd reports the connection closed (which unlinks r under
             * this mutex) before it closes the descriptor, so r->fd is still this
             * connection's socket. */
            shutdown(r->fd, SHUT_RDWR);
            r->shut = true;
            d->expired++;
            n++;
        }
        if (n) /* debug: a flood of these must not flood the log */
            mxe_debug("http: closed %u connection(s) that did not send complete request "
                      "headers within %u ms",
                      n, d->timeout_ms);
        /* Sleep until the earliest deadline, or, with none, until a connection waits: no
         * timer wakes an exporter that nobody is talking to (a wake-up costs tens of µs
         * on a VM). */
        d->idle = next == INT64_MAX;
        if (d->idle) {
            pthread_cond_wait(&d->cv, &d->mu);
        } else {
            struct timespec ts = mxe_mono_deadline(next);
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
        }
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

mxe_header_deadline *mxe_header_deadline_new(unsigned timeout_ms, char *err, size_t errlen)
{
    mxe_header_deadline *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "http: out of memory");
        return NULL;
    }
    d->timeout_ms = timeout_ms;
    pthread_mutex_init(&d->mu, NULL);
    mxe_cond_init_mono(&d->cv);
    /* the thread inherits the mask: it must never take the main thread's signals */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&d->thread, NULL, watchdog, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "http: cannot start a thread: %s", strerror(rc));
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

void mxe_header_deadline_free(mxe_header_deadline *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    while (d->head) { /* none after MHD_stop_daemon; defensive */
        conn_rec *r = d->head;
        d->head = r->next;
        free(r);
    }
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

void mxe_header_deadline_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                                       enum MHD_ConnectionNotificationCode toe)
{
    mxe_header_deadline *d = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_rec *r = ci ? calloc(1, sizeof *r) : NULL;
        if (!r) /* out of memory: this connection goes unguarded (the idle timeout holds) */
            return;
        r->fd = ci->connect_fd;
        r->waiting = true;
        r->since_ms = mxe_now_mono_ms();
        pthread_mutex_lock(&d->mu);
        r->next = d->head;
        if (d->head)
            d->head->prev = r;
        d->head = r;
        wake_if_idle(d);
        pthread_mutex_unlock(&d->mu);
        *socket_context = r;
        return;
    }
    conn_rec *r = *socket_context;
    if (!r)
        return;
    pthread_mutex_lock(&d->mu);
    if (r->prev)
        r->prev->next = r->next;
    else
        d->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    pthread_mutex_unlock(&d->mu);
    free(r);
    *socket_context = NULL;
}

static conn_rec *rec_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void set_waiting(mxe_header_deadline *d, struct MHD_Connection *c, bool waiting)
{
    conn_rec *r = rec_of(c);
    if (!d || !r)
        return;
    pthread_mutex_lock(&d->mu);
    r->waiting = waiting;
    r->since_ms = mxe_now_mono_ms();
    if (waiting)
        wake_if_idle(d);
    pthread_mutex_unlock(&d->mu);
}

void mxe_header_deadline_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                                      enum MHD_RequestTerminationCode toe)
{
    (void)req_cls;
    (void)toe;
    /* the response went out (or the request ended otherwise): the connection waits for
     * the next request, whose headers get the full deadline */
    set_waiting(cls, c, true);
}

void mxe_header_deadline_headers_done(mxe_header_deadline *d, struct MHD_Connection *c)
{
    set_waiting(d, c, false);
}

uint64_t mxe_header_deadline_expired(mxe_header_deadline *d)
{
    pthread_mutex_lock(&d->mu);
    uint64_t n = d->expired;
    pthread_mutex_unlock(&d->mu);
    return n;
}
