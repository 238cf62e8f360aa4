/* Live feeds over WebSocket and Server-Sent Events; see live.h for the design.
 *
 * Locks. `mu` guards the registry (the list of subscribers and the counts), every
 * subscriber's pending slot, the SSE suspend flags and `stopping`. The hub's mutex is
 * never held while `mu` is taken; the one place that holds both takes the hub's inside
 * `mu` (join(): a newcomer reads the current snapshot and joins in one step, so no fan-out
 * can come between). `mu` is held across MHD_suspend_connection
 * and MHD_resume_connection so that a resume can never come before the suspend it answers
 * (libmicrohttpd only takes its own cleanup mutex there, and never calls back into this
 * file while holding it). Everything else of a WebSocket subscriber belongs to the I/O
 * thread; everything else of an SSE subscriber to whichever MHD thread runs its reader
 * (MHD processes one connection on one thread at a time). */
#include "live.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "ws.h"
#include "sigmask.h"

/* Shutdown: how long close handshakes and the ends of SSE streams may take. */
#define SHUTDOWN_GRACE_MS 2000
/* After our close frame: how long to wait for the client to close the connection. */
#define CLOSE_LINGER_MS 2000
/* How often the fan-out thread looks for SSE subscribers that need a keep-alive comment. */
#define KEEPALIVE_TICK_MS (MXE_LIVE_KEEPALIVE_MS / 3)
/* Preferred size of the buffer MHD hands the SSE reader (its connection memory caps it). */
#define SSE_BLOCK 16384

typedef enum { FEED_WS = 0, FEED_SSE = 1 } feed;

/* A WebSocket subscriber: all of it belongs to the I/O thread, except the registry part of
 * the enclosing `sub`. */
typedef struct ws_state {
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    uint8_t *extra; /* bytes MHD read past the handshake, decoded first */
    size_t extra_len;
    mxe_ws_decoder dec;
    bool want_out; /* EPOLLOUT is in the epoll set */
    bool readable; /* the last epoll_wait reported input (or hangup) */
    /* The data frame being written: hdr, then the snapshot's JSON, without a copy. */
    mxe_snapshot *cur;
    uint8_t hdr[MXE_WS_MAX_HEADER];
    size_t hdr_len;
    size_t off; /* bytes of hdr + JSON written */
    /* A control frame being written; starts only between data frames. */
    uint8_t ctl[MXE_WS_MAX_HEADER + MXE_WS_MAX_CONTROL];
    size_t ctl_len, ctl_off;
    bool ctl_is_close;
    bool pong_due; /* answer the latest ping (RFC 6455 5.5.3 allows only the latest) */
    uint8_t pong[MXE_WS_MAX_CONTROL];
    size_t pong_len;
    unsigned close_code;      /* a close frame to send after the current frame; 0 = none */
    const char *close_reason; /* static text */
    bool close_sent;          /* our close frame is out and the write side shut */
    bool peer_closed;         /* the client's close frame arrived */
    bool input_done;          /* the decoder stopped: input is read and discarded */
    int64_t progress_ms;      /* last write progress, or when the frame in flight began */
    int64_t last_send_ms;     /* last frame started (keep-alive pings) */
    int64_t ping_sent_ms;     /* an unanswered ping, 0 = none */
    int64_t close_deadline;   /* once close_sent: finish by then */
    const char *end_reason;   /* why the I/O thread ends it (log) */
} ws_state;

/* An SSE subscriber. */
typedef struct sse_state {
    struct MHD_Connection *conn;
    bool suspended;       /* under mu: the reader suspended the connection */
    bool keepalive_due;   /* under mu: send a comment when nothing else is pending */
    int64_t last_send_ms; /* under mu: when the last event or comment started */
    mxe_sse_writer out;   /* the event being copied into MHD's buffer */
} sse_state;

typedef struct sub sub;
struct sub {
    sub *prev, *next; /* registry, under mu */
    sub *in_next;     /* WebSocket hand-over list to the I/O thread, under mu */
    mxe_live *live;
    feed kind;
    mxe_snapshot *pending; /* under mu: the newest snapshot not yet started */
    uint64_t queued_seq;   /* under mu: seq of the last snapshot put into `pending` */
    bool closing;          /* under mu: end the subscription (shutdown) */
    union {
        ws_state ws;
        sse_state sse;
    } u;
};

struct mxe_live {
    mxe_hub *hub;
    unsigned max_subscribers;
    unsigned stall_ms;
    pthread_mutex_t mu;
    pthread_cond_t drained; /* signalled when an SSE subscriber goes away */
    sub *head;              /* the registry */
    sub *incoming;          /* upgraded WebSockets not yet adopted by the I/O thread */
    unsigned total;         /* registered subscribers, both feeds */
    bool stopping;          /* no new subscribers; feeds are being ended */
    atomic_uint count[2];   /* per feed, for mxe_live_counts() */
    atomic_bool stop_requested;
    mxe_snapshot **scratch;    /* fan-out: replaced snapshots, released outside the lock */
    void (*join_hook)(void *); /* tests: runs before a newcomer joins (mxe_live_set_join_hook) */
    void *join_hook_arg;
    int epfd, evfd;
    pthread_t fanout_thread, io_thread;
    bool fanout_started, io_started, joined;
};

/* ---------------------------------------------------------------------------------- */
/* Registry */

static void link_sub(mxe_live *l, sub *s)
{
    s->prev = NULL;
    s->next = l->head;
    if (l->head)
        l->head->prev = s;
    l->head = s;
    l->total++;
    atomic_fetch_add(&l->count[s->kind], 1);
}

static void unlink_sub(mxe_live *l, sub *s)
{
    pthread_mutex_lock(&l->hub->mu); /* join() counted it in */
    l->hub->listeners--;
    pthread_mutex_unlock(&l->hub->mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        l->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    l->total--;
    atomic_fetch_sub(&l->count[s->kind], 1);
}

typedef enum { JOINED, JOIN_FULL, JOIN_STOPPING } join_result;

/* Register a new subscriber with the current snapshot as its first pending one (none
 * before the first good poll); a WebSocket is also handed to the I/O thread (the caller
 * wakes it). The snapshot is read under `mu`, in the same step as the registration: a
 * fan-out of a newer snapshot either comes before (and this reads that newer one) or after
 * (and reaches the newcomer). Read before taking `mu`, a fan-out in between would skip the
 * newcomer, which would then start one snapshot behind until the next poll. */
static join_result join(mxe_live *l, sub *s)
{
    if (l->join_hook)
        l->join_hook(l->join_hook_arg);
    pthread_mutex_lock(&l->mu);
    join_result r = l->stopping                      ? JOIN_STOPPING
                    : l->total >= l->max_subscribers ? JOIN_FULL
                                                     : JOINED;
    if (r == JOINED) {
        mxe_hub *hub = l->hub;
        pthread_mutex_lock(&hub->mu);
        const mxe_view *v = hub->current;
        s->pending = v && v->snap ? mxe_snapshot_ref(v->snap) : NULL;
        /* The first listener wakes the fan-out thread out of its untimed idle wait. */
        if (hub->listeners++ == 0)
            pthread_cond_broadcast(&hub->changed);
        pthread_mutex_unlock(&hub->mu);
        s->queued_seq = s->pending ? s->pending->seq : 0;
        link_sub(l, s);
        if (s->kind == FEED_WS) {
            s->in_next = l->incoming;
            l->incoming = s;
        } else {
            s->u.sse.last_send_ms = mxe_now_mono_ms();
        }
    }
    pthread_mutex_unlock(&l->mu);
    return r;
}

static void wake_io(mxe_live *l)
{
    uint64_t one = 1;
    ssize_t r = write(l->evfd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is already non-zero, the thread wakes anyway */
}

/* Under mu. */
static void sse_resume(sub *s)
{
    if (s->u.sse.suspended) {
        s->u.sse.suspended = false;
        MHD_resume_connection(s->u.sse.conn);
    }
}

/* Under mu: the feeds end; new subscribers are refused from now on. */
static void begin_shutdown_locked(mxe_live *l)
{
    if (l->stopping)
        return;
    l->stopping = true;
    for (sub *s = l->head; s; s = s->next) {
        s->closing = true;
        if (s->kind == FEED_SSE)
            sse_resume(s);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Fan-out thread */

/* Put `snap` into every subscriber's pending slot (the one it replaces was never started:
 * skipped) and wake the senders. */
static void fan_out(mxe_live *l, mxe_snapshot *snap)
{
    size_t n_old = 0;
    bool any_ws = false;
    pthread_mutex_lock(&l->mu);
    for (sub *s = l->head; s; s = s->next) {
        if (s->closing || s->queued_seq >= snap->seq)
            continue;
        if (s->pending && n_old < l->max_subscribers)
            l->scratch[n_old++] = s->pending;
        else
            mxe_snapshot_unref(s->pending); /* not reached: at most max_subscribers subs */
        s->pending = mxe_snapshot_ref(snap);
        s->queued_seq = snap->seq;
        if (s->kind == FEED_SSE)
            sse_resume(s);
        else
            any_ws = true;
    }
    pthread_mutex_unlock(&l->mu);
    if (any_ws)
        wake_io(l);
    /* Only this thread uses scratch; the last reference to an old snapshot may free a
     * large document, which must not happen under the lock. */
    for (size_t i = 0; i < n_old; i++)
        mxe_snapshot_unref(l->scratch[i]);
}

/* SSE streams idle for MXE_LIVE_KEEPALIVE_MS get a comment, so that proxies and clients
 * see the connection alive (WebSocket subscribers get pings from the I/O thread). */
static void sse_keepalive(mxe_live *l, int64_t now)
{
    pthread_mutex_lock(&l->mu);
    for (sub *s = l->head; s; s = s->next) {
        if (s->kind != FEED_SSE || s->closing ||
            now - s->u.sse.last_send_ms < MXE_LIVE_KEEPALIVE_MS)
            continue;
        s->u.sse.keepalive_due = true;
        sse_resume(s);
    }
    pthread_mutex_unlock(&l->mu);
}

static void *fanout_main(void *arg)
{
    mxe_live *l = arg;
    mxe_hub *hub = l->hub;
    uint64_t last_seq = 0;
    int64_t next_tick = mxe_now_mono_ms() + KEEPALIVE_TICK_MS;
    for (;;) {
        mxe_snapshot *snap = NULL;
        bool stop = false;
        pthread_mutex_lock(&hub->mu);
        for (;;) {
            if (hub->closing || atomic_load(&l->stop_requested)) {
                stop = true;
                break;
            }
            /* A view is published every cycle; only a new snapshot (a successful poll)
             * is pushed. */
            const mxe_view *v = hub->current;
            if (v && v->snap && v->snap->seq != last_seq) {
                snap = mxe_snapshot_ref(v->snap);
                break;
            }
            /* Nobody listens: the hub does not wake us on a publish, and there is no
             * keep-alive to send, so sleep until the first subscriber joins. */
            if (hub->listeners == 0) {
                pthread_cond_wait(&hub->changed, &hub->mu);
                next_tick = mxe_now_mono_ms() + KEEPALIVE_TICK_MS;
                continue;
            }
            if (mxe_now_mono_ms() >= next_tick)
                break;
            struct timespec ts = mxe_mono_deadline(next_tick);
            pthread_cond_timedwait(&hub->changed, &hub->mu, &ts);
        }
        pthread_mutex_unlock(&hub->mu);
        if (stop)
            break;
        if (snap) {
            last_seq = snap->seq;
            fan_out(l, snap);
            mxe_snapshot_unref(snap);
        }
        int64_t now = mxe_now_mono_ms();
        if (now >= next_tick) {
            sse_keepalive(l, now);
            next_tick = now + KEEPALIVE_TICK_MS;
        }
    }
    pthread_mutex_lock(&l->mu);
    begin_shutdown_locked(l);
    pthread_mutex_unlock(&l->mu);
    wake_io(l);
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* WebSocket I/O thread */

static void ws_set_out(mxe_live *l, sub *s, bool on)
{
    ws_state *w = &s->u.ws;
    if (w->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = s};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) == 0)
        w->want_out = on;
}

/* Queue a close frame (sent after the data frame in flight, if any); the first reason
 * wins. */
static void ws_begin_close(ws_state *w, unsigned code, const char *reason)
{
    if (w->close_code || w->close_sent)
        return;
    w->close_code = code;
    w->close_reason = reason;
}

static void ws_handle_event(ws_state *w, const mxe_ws_event *ev)
{
    switch (ev->type) {
    case MXE_WS_EV_PING:
        if (!w->close_code && !w->close_sent) {
            memcpy(w->pong, ev->payload, ev->len);
            w->pong_len = ev->len;
            w->pong_due = true;
        }
        break;
    case MXE_WS_EV_PONG:
        w->ping_sent_ms = 0;
        break;
    case MXE_WS_EV_CLOSE:
        w->peer_closed = true;
        w->input_done = true;
        /* Echo the client's code (RFC 6455 5.5.1); a close without one is answered 1000. */
        ws_begin_close(w, ev->code == MXE_WS_CLOSE_NO_STATUS ? MXE_WS_CLOSE_NORMAL : ev->code, "");
        if (!w->end_reason)
            w->end_reason = "closed by the client";
        break;
    case MXE_WS_EV_ERROR:
        w->input_done = true;
        ws_begin_close(w, ev->code, ev->reason);
        if (!w->end_reason)
            w->end_reason = ev->reason;
        break;
    case MXE_WS_EV_MESSAGE: /* clients have nothing to say; content ignored */
    case MXE_WS_EV_NONE:
        break;
    }
}

static void ws_consume(ws_state *w, const uint8_t *p, size_t n)
{
    while (n && !w->input_done) {
        mxe_ws_event ev;
        size_t used = mxe_ws_decode(&w->dec, p, n, &ev);
        p += used;
        n -= used;
        ws_handle_event(w, &ev);
        if (!used && ev.type == MXE_WS_EV_NONE)
            break;
    }
}

/* Read what the client sent. false when the connection is gone (EOF or error). */
static bool ws_read(ws_state *w)
{
    uint8_t buf[4096];
    for (int round = 0; round < 16; round++) { /* bounded: other subscribers wait */
        ssize_t r = recv(w->fd, buf, sizeof buf, 0);
        if (r > 0) {
            ws_consume(w, buf, (size_t)r);
            continue;
        }
        if (r == 0) {
            if (!w->end_reason)
                w->end_reason = "connection closed by the client";
            return false;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return true;
        if (!w->end_reason)
            w->end_reason = "read error";
        return false;
    }
    return true;
}

/* Send iov; the bytes written, 0 when the socket is full, -1 on error. */
static ssize_t ws_send(ws_state *w, struct iovec *iov, int n)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    for (;;) {
        ssize_t r = sendmsg(w->fd, &mh, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
}

/* Write as much as the socket takes: the control frame in flight, the data frame in
 * flight, then the next frame (close, pong, keep-alive ping, the pending snapshot).
 * false when the connection is gone or finished. */
static bool ws_flush(mxe_live *l, sub *s, int64_t now)
{
    ws_state *w = &s->u.ws;
    for (;;) {
        if (w->ctl_off < w->ctl_len) {
            struct iovec iov = {w->ctl + w->ctl_off, w->ctl_len - w->ctl_off};
            ssize_t r = ws_send(w, &iov, 1);
            if (r < 0) {
                w->end_reason = w->end_reason ? w->end_reason : "write error";
                return false;
            }
            if (r > 0)
                w->progress_ms = now;
            w->ctl_off += (size_t)r;
            if (w->ctl_off < w->ctl_len) {
                ws_set_out(l, s, true);
                return true;
            }
            if (w->ctl_is_close) {
                /* Nothing follows a close frame: shut the write side so the client sees
                 * the end, then wait for it to close (or for the deadline). */
                shutdown(w->fd, SHUT_WR);
                w->close_sent = true;
                w->close_deadline = now + CLOSE_LINGER_MS;
                ws_set_out(l, s, false);
                return !w->peer_closed;
            }
            continue;
        }
        if (w->cur) {
            const mxe_buf *json = &w->cur->json;
            struct iovec iov[2];
            int n = 0;
            if (w->off < w->hdr_len)
                iov[n++] = (struct iovec){w->hdr + w->off, w->hdr_len - w->off};
            size_t body = w->off > w->hdr_len ? w->off - w->hdr_len : 0;
            if (body < json->len)
                iov[n++] = (struct iovec){json->data + body, json->len - body};
            ssize_t r = ws_send(w, iov, n);
            if (r < 0) {
                w->end_reason = w->end_reason ? w->end_reason : "write error";
                return false;
            }
            if (r > 0)
                w->progress_ms = now;
            w->off += (size_t)r;
            if (w->off < w->hdr_len + json->len) {
                ws_set_out(l, s, true);
                return true;
            }
            mxe_snapshot_unref(w->cur);
            w->cur = NULL;
            continue;
        }
        if (w->close_sent)
            return !w->peer_closed;
        /* Nothing in flight: choose the next frame. */
        w->progress_ms = now;
        if (w->close_code) {
            w->ctl_len = mxe_ws_close_frame(w->ctl, w->close_code, w->close_reason);
            w->ctl_off = 0;
            w->ctl_is_close = true;
            w->close_code = 0;
            continue;
        }
        if (w->pong_due) {
            size_t h = mxe_ws_frame_header(w->ctl, MXE_WS_OP_PONG, true, w->pong_len, NULL);
            memcpy(w->ctl + h, w->pong, w->pong_len);
            w->ctl_len = h + w->pong_len;
            w->ctl_off = 0;
            w->pong_due = false;
            w->last_send_ms = now;
            continue;
        }
        if (!w->ping_sent_ms && now - w->last_send_ms >= MXE_LIVE_KEEPALIVE_MS) {
            w->ctl_len = mxe_ws_frame_header(w->ctl, MXE_WS_OP_PING, true, 0, NULL);
            w->ctl_off = 0;
            w->ping_sent_ms = now;
            w->last_send_ms = now;
            continue;
        }
        pthread_mutex_lock(&l->mu);
        mxe_snapshot *next = s->pending;
        s->pending = NULL;
        pthread_mutex_unlock(&l->mu);
        if (next) {
            w->cur = next;
            w->hdr_len = mxe_ws_frame_header(w->hdr, MXE_WS_OP_TEXT, true, next->json.len, NULL);
            w->off = 0;
            w->last_send_ms = now;
            continue;
        }
        ws_set_out(l, s, false);
        return true;
    }
}

/* One pass over a subscriber: input, output, timers. Returns false when it is finished,
 * with *deadline lowered to the next time it needs attention otherwise. */
static bool ws_service(mxe_live *l, sub *s, int64_t now, int64_t *deadline)
{
    ws_state *w = &s->u.ws;
    if (w->extra) {
        ws_consume(w, w->extra, w->extra_len);
        free(w->extra);
        w->extra = NULL;
    }
    if (w->readable) {
        w->readable = false;
        if (!ws_read(w))
            return false;
    }
    if (!ws_flush(l, s, now))
        return false;
    bool in_flight = w->cur || w->ctl_off < w->ctl_len;
    if (in_flight && now - w->progress_ms >= l->stall_ms) {
        w->end_reason = "stalled: no write progress within the stall timeout";
        return false;
    }
    if (w->close_sent && now >= w->close_deadline) {
        if (!w->end_reason)
            w->end_reason = "close handshake timed out";
        return false;
    }
    if (w->ping_sent_ms && !w->close_sent && now - w->ping_sent_ms >= l->stall_ms) {
        ws_begin_close(w, MXE_WS_CLOSE_POLICY, "no pong within the stall timeout");
        w->end_reason = "no pong within the stall timeout";
        w->ping_sent_ms = 0;
        if (!ws_flush(l, s, now))
            return false;
    }
    /* Next attention; only deadlines that this function acts on when they pass (a past
     * one that it ignored would make the I/O thread spin). */
    in_flight = w->cur || w->ctl_off < w->ctl_len;
    int64_t d = INT64_MAX;
    if (in_flight)
        d = w->progress_ms + l->stall_ms;
    if (w->close_sent)
        d = d < w->close_deadline ? d : w->close_deadline;
    else if (w->ping_sent_ms)
        d = d < w->ping_sent_ms + l->stall_ms ? d : w->ping_sent_ms + l->stall_ms;
    else if (!in_flight && !w->close_code)
        d = w->last_send_ms + MXE_LIVE_KEEPALIVE_MS;
    if (d < *deadline)
        *deadline = d;
    return true;
}

/* Release a finished WebSocket subscriber; MHD closes the socket. */
static void ws_finish(mxe_live *l, sub *s)
{
    ws_state *w = &s->u.ws;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    pthread_mutex_lock(&l->mu);
    unlink_sub(l, s);
    mxe_snapshot *pending = s->pending;
    s->pending = NULL;
    pthread_mutex_unlock(&l->mu);
    mxe_debug("live: websocket subscriber left (%s)", w->end_reason ? w->end_reason : "shutdown");
    if (w->end_reason && strncmp(w->end_reason, "stalled", 7) == 0)
        mxe_info("live: dropped a stalled websocket subscriber");
    mxe_snapshot_unref(pending);
    mxe_snapshot_unref(w->cur);
    free(w->extra);
    MHD_upgrade_action(w->urh, MHD_UPGRADE_ACTION_CLOSE);
    free(s);
}

typedef struct ws_set {
    sub **items;
    size_t n, cap;
} ws_set;

static bool ws_set_add(ws_set *set, sub *s)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        sub **p = realloc(set->items, cap * sizeof *p);
        if (!p)
            return false;
        set->items = p;
        set->cap = cap;
    }
    set->items[set->n++] = s;
    return true;
}

/* Take over the WebSockets that upgrade_cb handed over. */
static void ws_adopt(mxe_live *l, ws_set *set, sub *list, int64_t now)
{
    while (list) {
        sub *s = list;
        list = s->in_next;
        s->in_next = NULL;
        ws_state *w = &s->u.ws;
        w->progress_ms = w->last_send_ms = now;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        if (!ws_set_add(set, s) || epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) != 0) {
            if (set->n && set->items[set->n - 1] == s)
                set->n--;
            w->end_reason = "out of resources";
            ws_finish(l, s);
            continue;
        }
        w->readable = true; /* input may have arrived before it joined the set */
    }
}

static void *io_main(void *arg)
{
    mxe_live *l = arg;
    ws_set set = {NULL, 0, 0};
    int64_t stop_deadline = 0;
    int timeout = -1;
    for (;;) {
        struct epoll_event evs[64];
        int k = epoll_wait(l->epfd, evs, 64, timeout);
        int64_t now = mxe_now_mono_ms();
        for (int i = 0; i < k; i++) {
            sub *s = evs[i].data.ptr;
            if (!s) {
                uint64_t v;
                ssize_t r = read(l->evfd, &v, sizeof v);
                (void)r;
            } else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                s->u.ws.readable = true;
            }
        }
        pthread_mutex_lock(&l->mu);
        sub *incoming = l->incoming;
        l->incoming = NULL;
        bool stopping = l->stopping;
        pthread_mutex_unlock(&l->mu);
        ws_adopt(l, &set, incoming, now);
        if (stopping && !stop_deadline) {
            stop_deadline = now + SHUTDOWN_GRACE_MS;
            for (size_t i = 0; i < set.n; i++) {
                ws_state *w = &set.items[i]->u.ws;
                ws_begin_close(w, MXE_WS_CLOSE_GOING_AWAY, "server shutting down");
                if (!w->end_reason)
                    w->end_reason = "server shutting down";
            }
        }
        int64_t deadline = INT64_MAX;
        for (size_t i = 0; i < set.n;) {
            sub *s = set.items[i];
            if (ws_service(l, s, now, &deadline)) {
                i++;
                continue;
            }
            ws_finish(l, s);
            set.items[i] = set.items[--set.n];
        }
        if (stopping && (set.n == 0 || now >= stop_deadline)) {
            for (size_t i = 0; i < set.n; i++) {
                if (!set.items[i]->u.ws.end_reason)
                    set.items[i]->u.ws.end_reason = "shutdown grace period over";
                ws_finish(l, set.items[i]);
            }
            break;
        }
        if (stopping && stop_deadline < deadline)
            deadline = stop_deadline;
        int64_t wait = deadline == INT64_MAX ? -1 : deadline - mxe_now_mono_ms();
        timeout = wait < 0 ? (deadline == INT64_MAX ? -1 : 0) : wait > 60000 ? 60000 : (int)wait;
    }
    free(set.items);
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* WebSocket handshake and upgrade */

/* Send a close frame on a socket that is not (yet) the I/O thread's, without waiting. */
static void ws_refuse(MHD_socket fd, struct MHD_UpgradeResponseHandle *urh, unsigned code,
                      const char *reason)
{
    uint8_t frame[MXE_WS_MAX_HEADER + MXE_WS_MAX_CONTROL];
    size_t n = mxe_ws_close_frame(frame, code, reason);
    ssize_t r = send(fd, frame, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)r;
    shutdown(fd, SHUT_WR);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* MHD calls this once the 101 response is out; the socket is ours from here on. */
static void ws_upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket fd, struct MHD_UpgradeResponseHandle *urh)
{
    (void)c;
    (void)req_cls;
    mxe_live *l = cls;
    sub *s = calloc(1, sizeof *s);
    uint8_t *extra = extra_in_size ? malloc(extra_in_size) : NULL;
    if (!s || (extra_in_size && !extra)) {
        free(s);
        free(extra);
        mxe_warn("live: out of memory accepting a websocket subscriber");
        ws_refuse(fd, urh, 1011, "out of memory");
        return;
    }
    if (extra)
        memcpy(extra, extra_in, extra_in_size);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int one = 1; /* small frames must not wait for Nagle (fails harmlessly on TLS's socketpair) */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->live = l;
    s->kind = FEED_WS;
    ws_state *w = &s->u.ws;
    w->fd = fd;
    w->urh = urh;
    w->extra = extra;
    w->extra_len = extra_in_size;
    mxe_ws_decoder_init(&w->dec, MXE_LIVE_MAX_CLIENT_MESSAGE);
    join_result jr = join(l, s);
    if (jr != JOINED) {
        /* The limit was checked before the 101; concurrent handshakes may still overshoot. */
        free(extra);
        free(s);
        bool stopping = jr == JOIN_STOPPING;
        ws_refuse(fd, urh, stopping ? MXE_WS_CLOSE_GOING_AWAY : MXE_WS_CLOSE_POLICY,
                  stopping ? "server shutting down" : "too many subscribers");
        return;
    }
    mxe_debug("live: websocket subscriber joined");
    wake_io(l);
}

/* Whether a comma-separated header list (all lines of it) contains `token`, case-insensitive. */
typedef struct token_find {
    const char *name, *token;
    bool found;
} token_find;

static enum MHD_Result token_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    token_find *t = cls;
    if (!key || !value || strcasecmp(key, t->name) != 0)
        return MHD_YES;
    size_t tl = strlen(t->token);
    for (const char *p = value; *p;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *end = e;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - p) == tl && strncasecmp(p, t->token, tl) == 0) {
            t->found = true;
            return MHD_NO;
        }
        p = e;
    }
    return MHD_YES;
}

static bool header_has_token(struct MHD_Connection *c, const char *name, const char *token)
{
    token_find t = {name, token, false};
    MHD_get_connection_values(c, MHD_HEADER_KIND, token_cb, &t);
    return t.found;
}

/* A JSON error under /api, with the headers every response carries and optional extras
 * (name/value pairs, NULL-terminated). */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *body,
                                  const char *h1, const char *v1, const char *h2, const char *v2)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_NO;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") == MHD_YES &&
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") == MHD_YES &&
        (!h1 || MHD_add_response_header(r, h1, v1) == MHD_YES) &&
        (!h2 || MHD_add_response_header(r, h2, v2) == MHD_YES))
        ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char busy_json[] = "{\"error\":\"too many subscribers\"}\n";
static const char stopping_json[] = "{\"error\":\"shutting down\"}\n";

/* 503 when no subscriber can be taken now; MHD_YES from `*ret` is then the answer. */
static bool refuse_subscriber(mxe_live *l, struct MHD_Connection *c, enum MHD_Result *ret)
{
    pthread_mutex_lock(&l->mu);
    bool stopping = l->stopping, full = l->total >= l->max_subscribers;
    pthread_mutex_unlock(&l->mu);
    if (!stopping && !full)
        return false;
    *ret = send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, stopping ? stopping_json : busy_json,
                      MHD_HTTP_HEADER_RETRY_AFTER, "2", NULL, NULL);
    return true;
}

static bool is_head(const char *method)
{
    return method && strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

enum MHD_Result mxe_live_serve_ws(mxe_live *l, struct MHD_Connection *c, const char *method,
                                  const char *version)
{
    /* First, as libmicrohttpd would otherwise refuse the 101 on HTTP/1.0 and close the
     * connection without a word. 400, not 426: upgrading to "websocket" is not something
     * an HTTP/1.0 request can do (RFC 6455 4.1 asks for HTTP/1.1 or higher). */
    if (version && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST,
                          "{\"error\":\"a WebSocket handshake needs HTTP/1.1\"}\n", NULL, NULL,
                          NULL, NULL);
    /* A HEAD cannot be upgraded: it gets what a GET without a handshake gets. */
    if (is_head(method) || !header_has_token(c, MHD_HTTP_HEADER_UPGRADE, "websocket") ||
        !header_has_token(c, MHD_HTTP_HEADER_CONNECTION, "upgrade"))
        return send_error(c, MHD_HTTP_UPGRADE_REQUIRED,
                          "{\"error\":\"WebSocket endpoint: send a WebSocket handshake\"}\n",
                          MHD_HTTP_HEADER_UPGRADE, "websocket", MHD_HTTP_HEADER_CONNECTION,
                          "Upgrade");
    const char *ws_version =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_SEC_WEBSOCKET_VERSION);
    if (!ws_version || strcmp(ws_version, "13") != 0)
        return send_error(c, MHD_HTTP_UPGRADE_REQUIRED,
                          "{\"error\":\"unsupported WebSocket version; use 13\"}\n",
                          MHD_HTTP_HEADER_SEC_WEBSOCKET_VERSION, "13", NULL, NULL);
    const char *key =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_SEC_WEBSOCKET_KEY);
    char accept[MXE_WS_ACCEPT_LEN + 1];
    if (!key || mxe_ws_accept_key(key, accept) != 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST,
                          "{\"error\":\"missing or invalid Sec-WebSocket-Key\"}\n", NULL, NULL,
                          NULL, NULL);
    enum MHD_Result ret;
    if (refuse_subscriber(l, c, &ret))
        return ret;
    struct MHD_Response *r = MHD_create_response_for_upgrade(ws_upgraded, l);
    if (!r)
        return MHD_NO;
    ret = MHD_NO;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket") == MHD_YES &&
        MHD_add_response_header(r, MHD_HTTP_HEADER_SEC_WEBSOCKET_ACCEPT, accept) == MHD_YES)
        ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---------------------------------------------------------------------------------- */
/* Server-Sent Events */

void mxe_sse_writer_text(mxe_sse_writer *w, const char *text)
{
    size_t n = strlen(text);
    if (n > sizeof w->small)
        n = sizeof w->small;
    memcpy(w->small, text, n);
    w->small_len = n;
    w->small_off = 0;
}

void mxe_sse_writer_event(mxe_sse_writer *w, mxe_snapshot *snap)
{
    w->cur = snap;
    w->body_off = 0;
    w->body_done = false;
    w->small_len = (size_t)snprintf(w->small, sizeof w->small,
                                    "event: snapshot\nid: %" PRIu64 "\ndata: ", snap->seq);
    w->small_off = 0;
}

/* Line breaks inside the document (CR, LF or CRLF: the JSON writer never emits them, but
 * a data line must not contain one) continue it on a new data line. */
size_t mxe_sse_writer_read(mxe_sse_writer *w, char *buf, size_t max)
{
    size_t n = 0;
    for (;;) {
        if (w->small_off < w->small_len) {
            size_t take = w->small_len - w->small_off;
            if (take > max - n)
                take = max - n;
            memcpy(buf + n, w->small + w->small_off, take);
            w->small_off += take;
            n += take;
            if (w->small_off < w->small_len)
                return n;
            continue;
        }
        if (!w->cur)
            return n;
        const mxe_buf *json = &w->cur->json;
        if (w->body_off < json->len) {
            if (n == max)
                return n;
            const char *p = json->data + w->body_off;
            size_t left = json->len - w->body_off, take = left < max - n ? left : max - n;
            const char *cr = memchr(p, '\r', take), *lf = memchr(p, '\n', take);
            const char *brk = !cr ? lf : !lf ? cr : cr < lf ? cr : lf;
            if (brk)
                take = (size_t)(brk - p);
            memcpy(buf + n, p, take);
            n += take;
            w->body_off += take;
            if (brk) {
                bool crlf = *brk == '\r' && w->body_off + 1 < json->len && brk[1] == '\n';
                w->body_off += crlf ? 2 : 1;
                mxe_sse_writer_text(w, "\ndata: ");
            }
            continue;
        }
        if (!w->body_done) {
            w->body_done = true;
            mxe_sse_writer_text(w, "\n\n");
            continue;
        }
        mxe_snapshot_unref(w->cur);
        w->cur = NULL;
        return n;
    }
}

void mxe_sse_writer_reset(mxe_sse_writer *w)
{
    mxe_snapshot_unref(w->cur);
    memset(w, 0, sizeof *w);
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sub *s = cls;
    mxe_live *l = s->live;
    sse_state *e = &s->u.sse;
    size_t n = 0;
    for (;;) {
        n += mxe_sse_writer_read(&e->out, buf + n, max - n);
        if (n == max)
            return (ssize_t)n;
        /* the event in flight is complete: what next? */
        pthread_mutex_lock(&l->mu);
        if (s->closing) {
            pthread_mutex_unlock(&l->mu);
            return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
        }
        mxe_snapshot *next = s->pending;
        s->pending = NULL;
        bool keepalive = !next && e->keepalive_due;
        e->keepalive_due = false;
        if (next || keepalive)
            e->last_send_ms = mxe_now_mono_ms();
        else if (n == 0) {
            /* Nothing to send: leave MHD's event loop until fan_out() or the keep-alive
             * tick resumes us. Returning 0 without suspending would make MHD spin. */
            e->suspended = true;
            MHD_suspend_connection(e->conn);
        }
        pthread_mutex_unlock(&l->mu);
        if (next)
            mxe_sse_writer_event(&e->out, next);
        else if (keepalive)
            mxe_sse_writer_text(&e->out, ": keep-alive\n\n");
        else
            return (ssize_t)n;
    }
}

/* MHD releases the response when the connection ends (or the stream ended): the
 * subscription ends with it. */
static void sse_free(void *cls)
{
    sub *s = cls;
    mxe_live *l = s->live;
    pthread_mutex_lock(&l->mu);
    unlink_sub(l, s);
    mxe_snapshot *pending = s->pending;
    s->pending = NULL;
    pthread_cond_broadcast(&l->drained);
    pthread_mutex_unlock(&l->mu);
    mxe_debug("live: sse subscriber left");
    mxe_snapshot_unref(pending);
    mxe_sse_writer_reset(&s->u.sse.out);
    free(s);
}

/* The headers of the 200 that starts a stream (GET) or describes one (HEAD). */
static bool add_sse_headers(struct MHD_Response *r)
{
    return MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream") ==
               MHD_YES &&
           MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
           MHD_add_response_header(r, "X-Accel-Buffering", "no") == MHD_YES &&
           MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") == MHD_YES;
}

/* HEAD: the body MHD does not send; never called, but a reader keeps the response's
 * length unknown, as the stream's is (a buffer would make MHD claim Content-Length: 0). */
static ssize_t sse_head_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

enum MHD_Result mxe_live_serve_sse(mxe_live *l, struct MHD_Connection *c, const char *method)
{
    enum MHD_Result ret;
    if (refuse_subscriber(l, c, &ret))
        return ret;
    if (is_head(method)) { /* the status and headers a GET would get now, no subscription */
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, sse_head_reader, NULL, NULL);
        if (!r)
            return MHD_NO;
        /* Not chunked: libmicrohttpd 0.9.75 sends a chunked response's last chunk even for
         * HEAD, a body where none may be. Without chunking the end of the (absent) body is
         * the end of the connection, which RFC 9112 allows; Transfer-Encoding, which a HEAD
         * answer may omit (RFC 9110 9.3.2), is then the only header a GET has and it lacks. */
        ret = add_sse_headers(r) && MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT,
                                                             MHD_RO_END) == MHD_YES
                  ? MHD_queue_response(c, MHD_HTTP_OK, r)
                  : MHD_NO;
        MHD_destroy_response(r);
        return ret;
    }
    sub *s = calloc(1, sizeof *s);
    if (!s)
        return MHD_NO;
    s->live = l;
    s->kind = FEED_SSE;
    sse_state *e = &s->u.sse;
    e->conn = c;
    char preamble[64];
    snprintf(preamble, sizeof preamble, ": mediamtx-exporter live feed\nretry: %d\n\n",
             MXE_LIVE_RETRY_MS);
    mxe_sse_writer_text(&e->out, preamble);
    join_result jr = join(l, s);
    if (jr != JOINED) { /* lost a race with another subscriber or with shutdown */
        free(s);
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                          jr == JOIN_STOPPING ? stopping_json : busy_json,
                          MHD_HTTP_HEADER_RETRY_AFTER, "2", NULL, NULL);
    }
    /* From here the response owns the subscription: sse_free() ends it. */
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_reader, s, sse_free);
    if (!r) {
        sse_free(s);
        return MHD_NO;
    }
    /* A stream that makes no write progress for the stall timeout is closed by MHD
     * (suspended connections do not time out, and resuming restarts the clock). */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                              (unsigned)((l->stall_ms + 999) / 1000));
    ret = add_sse_headers(r) ? MHD_queue_response(c, MHD_HTTP_OK, r) : MHD_NO;
    MHD_destroy_response(r); /* without a queued response this ends the subscription */
    if (ret == MHD_YES)
        mxe_debug("live: sse subscriber joined");
    return ret;
}

/* ---------------------------------------------------------------------------------- */
/* Life cycle */

void mxe_live_set_join_hook(mxe_live *l, void (*hook)(void *arg), void *arg)
{
    l->join_hook = hook;
    l->join_hook_arg = arg;
}

void mxe_live_counts(const mxe_live *l, unsigned *websocket, unsigned *sse)
{
    *websocket = l ? atomic_load(&l->count[FEED_WS]) : 0;
    *sse = l ? atomic_load(&l->count[FEED_SSE]) : 0;
}

mxe_live *mxe_live_new(const mxe_config *cfg, mxe_hub *hub, char *err, size_t errlen)
{
    mxe_live *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "live feeds: out of memory");
        return NULL;
    }
    l->hub = hub;
    l->max_subscribers = cfg->web_max_subscribers;
    /* 0 only from a hand-made config (tests): the option's default then */
    l->stall_ms =
        (cfg->web_subscriber_stall_timeout_s ? cfg->web_subscriber_stall_timeout_s : 10) * 1000u;
    l->epfd = l->evfd = -1;
    atomic_init(&l->count[0], 0);
    atomic_init(&l->count[1], 0);
    atomic_init(&l->stop_requested, false);
    pthread_mutex_init(&l->mu, NULL);
    mxe_cond_init_mono(&l->drained);
    l->scratch = calloc(l->max_subscribers ? l->max_subscribers : 1, sizeof *l->scratch);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (!l->scratch || l->epfd < 0 || l->evfd < 0 ||
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) != 0) {
        snprintf(err, errlen, "live feeds: %s", strerror(errno ? errno : ENOMEM));
        goto fail;
    }
    /* Threads inherit the signal mask: the main thread handles SIGTERM/SIGINT, and a
     * vanished client must not raise SIGPIPE here. */
    sigset_t old;
    mxe_sigmask_block(&old);
    int rc = pthread_create(&l->io_thread, NULL, io_main, l);
    if (rc == 0) {
        l->io_started = true;
        rc = pthread_create(&l->fanout_thread, NULL, fanout_main, l);
        l->fanout_started = rc == 0;
    }
    mxe_sigmask_restore(&old);
    if (rc != 0) {
        snprintf(err, errlen, "live feeds: cannot start a thread: %s", strerror(rc));
        goto fail;
    }
    if (l->max_subscribers >= cfg->web_max_connections)
        mxe_warn("live: --web.max-subscribers (%u) is not below --web.max-connections (%u): "
                 "subscribers can take every connection",
                 l->max_subscribers, cfg->web_max_connections);
    return l;
fail:
    mxe_live_stop(l);
    mxe_live_free(l);
    return NULL;
}

void mxe_live_stop(mxe_live *l)
{
    if (!l || l->joined)
        return;
    l->joined = true;
    atomic_store(&l->stop_requested, true);
    /* Wake the fan-out thread out of its wait on the hub (it rechecks its condition). */
    pthread_mutex_lock(&l->hub->mu);
    pthread_cond_broadcast(&l->hub->changed);
    pthread_mutex_unlock(&l->hub->mu);
    if (l->fanout_started)
        pthread_join(l->fanout_thread, NULL);
    /* Also covers a fan-out thread that never started. */
    pthread_mutex_lock(&l->mu);
    begin_shutdown_locked(l);
    pthread_mutex_unlock(&l->mu);
    if (l->evfd >= 0)
        wake_io(l);
    if (l->io_started)
        pthread_join(l->io_thread, NULL);
    /* SSE streams were resumed to end; give them the grace period to finish. Those left
     * (clients not reading) are closed by MHD_stop_daemon. */
    struct timespec ts = mxe_mono_deadline(mxe_now_mono_ms() + SHUTDOWN_GRACE_MS);
    pthread_mutex_lock(&l->mu);
    while (atomic_load(&l->count[FEED_SSE]) > 0) {
        if (pthread_cond_timedwait(&l->drained, &l->mu, &ts) == ETIMEDOUT)
            break;
    }
    unsigned left = atomic_load(&l->count[FEED_SSE]);
    pthread_mutex_unlock(&l->mu);
    if (left)
        mxe_debug("live: %u sse subscriber(s) did not finish; closing them", left);
}

void mxe_live_free(mxe_live *l)
{
    if (!l)
        return;
    /* Every WebSocket subscriber was finished by the I/O thread and every SSE one by MHD;
     * a WebSocket handed over after the I/O thread ended cannot exist (refused once
     * `stopping` is set). */
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->evfd >= 0)
        close(l->evfd);
    free(l->scratch);
    pthread_cond_destroy(&l->drained);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
