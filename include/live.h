/* Live feeds: every new snapshot pushed to subscribers the moment the poll cycle publishes
 * it, over WebSocket (GET /api/streams/ws) and Server-Sent Events (GET
 * /api/streams/events). See docs/http-api.md for the wire formats and limits.
 *
 * Threads. A fan-out thread waits on the hub's `changed` condition; when a snapshot with
 * a new sequence number appears it puts a reference to it into every subscriber's one
 * pending slot (replacing, and so skipping, an older one that was never started) and
 * wakes whoever sends it. An I/O thread owns the upgraded WebSocket sockets in its own
 * epoll set: non-blocking writes of the current frame (header + the snapshot's JSON, no
 * copy), reads and decodes client frames, pings, close handshakes and stall checks. SSE
 * connections stay with libmicrohttpd but never hold one of its threads: the response's
 * content reader copies the pending event into MHD's buffer and, when nothing is pending,
 * suspends the connection (MHD_suspend_connection) until the fan-out thread resumes it.
 *
 * Memory per subscriber is bounded: the frame or event being written (a reference to its
 * snapshot, not a copy) and at most one pending snapshot. A subscriber that makes no write
 * progress for the stall timeout is dropped; neither the poll loop nor other subscribers
 * ever wait for one. */
#ifndef MXE_LIVE_H
#define MXE_LIVE_H

#include <microhttpd.h>
#include <stdbool.h>

#include "config.h"
#include "snapshot.h"

typedef struct mxe_live mxe_live;

/* The SSE `retry:` hint and the status page's first reconnect delay, in ms. */
#define MXE_LIVE_RETRY_MS 2000
/* Idle subscribers get a WebSocket ping or an SSE comment this often, in ms. */
#define MXE_LIVE_KEEPALIVE_MS 15000
/* Longest text message a WebSocket client may send (validated as UTF-8, then ignored). */
#define MXE_LIVE_MAX_CLIENT_MESSAGE 4096

/* Start the fan-out and I/O threads for `hub` (their signal masks block SIGTERM, SIGINT
 * and SIGPIPE) with cfg's web_max_subscribers (0 refuses every subscriber) and
 * web_subscriber_stall_timeout_s (0, from a hand-made config, means 10 s). NULL with a
 * message in `err` on failure; release with mxe_live_stop() and mxe_live_free(). */
mxe_live *mxe_live_new(const mxe_config *cfg, mxe_hub *hub, char *err, size_t errlen);

/* End every feed and join the threads: WebSocket subscribers get a close frame 1001
 * ("going away"), SSE streams are ended; whatever has not finished within about two
 * seconds is cut. Call before MHD_stop_daemon() (MHD forbids stopping with suspended
 * connections); afterwards new subscribers are refused. Accepts NULL; idempotent. Also
 * begins by itself when the hub is closed (mxe_hub_close). */
void mxe_live_stop(mxe_live *l);

/* Free; after mxe_live_stop() and after MHD_stop_daemon() (which may still release SSE
 * responses). Accepts NULL. */
void mxe_live_free(mxe_live *l);

/* Current subscriber counts per feed (read at any time, from any thread). Accepts NULL
 * (zeros). */
void mxe_live_counts(const mxe_live *l, unsigned *websocket, unsigned *sse);

/* Tests only: `hook(arg)` runs in the handler's thread just before each new subscriber
 * joins the registry (after the request was accepted, before the current snapshot is
 * read), so a test can publish or shut down at that very moment. Set it while no
 * subscriber is joining; NULL removes it. */
void mxe_live_set_join_hook(mxe_live *l, void (*hook)(void *arg), void *arg);

/* Request handlers for http.c's route table, called from the access handler once the
 * request is complete, for GET and HEAD; `method` and `version` as libmicrohttpd gives
 * them to the access handler.
 * /api/streams/ws: 101 and the upgrade; 400 for HTTP/1.0 (checked first) or an invalid
 * key; 426 for a request that is not a WebSocket handshake (every HEAD among them) or not
 * version 13; 503 at the subscriber limit or while shutting down. */
enum MHD_Result mxe_live_serve_ws(mxe_live *l, struct MHD_Connection *c, const char *method,
                                  const char *version);
/* /api/streams/events: 200 text/event-stream that lasts until the client leaves, or 503
 * at the subscriber limit or while shutting down. HEAD gets the same status and headers
 * without a body and without subscribing. */
enum MHD_Result mxe_live_serve_sse(mxe_live *l, struct MHD_Connection *c, const char *method);

/* The bytes of SSE events, handed out in pieces of any size (MHD's reader gets whatever
 * room its buffer has). Used by the SSE feed; public for the unit tests. */
typedef struct mxe_sse_writer {
    mxe_snapshot *cur; /* the snapshot whose event is being written (a reference) */
    char small[80];    /* short text written before (or instead of) the document */
    size_t small_len, small_off;
    size_t body_off; /* next byte of cur's JSON */
    bool body_done;
} mxe_sse_writer;

/* Begin the event for `snap` (taking over the caller's reference):
 * "event: snapshot\nid: <seq>\ndata: <JSON>\n\n", where a CR, LF or CRLF inside the
 * JSON would continue it on a new "data: " line. Only when the writer is idle. */
void mxe_sse_writer_event(mxe_sse_writer *w, mxe_snapshot *snap);
/* Begin a short raw text (a comment, a field; at most 80 bytes). Only when idle. */
void mxe_sse_writer_text(mxe_sse_writer *w, const char *text);
/* Copy up to `max` bytes of what is in flight to `buf`; returns the count. Fewer than
 * `max` means that the writer is idle now. */
size_t mxe_sse_writer_read(mxe_sse_writer *w, char *buf, size_t max);
/* Drop what is in flight and release its reference. */
void mxe_sse_writer_reset(mxe_sse_writer *w);

#endif
