/* The HTTP server (libmicrohttpd): /metrics, /api/streams/latest, /api/streams/{path},
 * /healthz, /readyz and /. Handlers pick bytes from the hub's current view; the only work a
 * request may wait for is the first rendering of that view's /metrics (in memory, at most
 * once per cycle). Nothing is parsed or written to disk while a request waits. */
#ifndef MXE_HTTP_H
#define MXE_HTTP_H

#include <stddef.h>

#include "config.h"
#include "snapshot.h"

typedef struct mxe_http mxe_http;

/* Limits of a request head (request line and header fields), answered by the exporter
 * itself; see docs/http-api.md, "Limits".
 * - a request target (path and query) longer than MXE_HTTP_MAX_TARGET bytes: 414;
 * - a head longer than MXE_HTTP_MAX_HEAD_BYTES, counted as libmicrohttpd does
 *   (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE: from the method to the blank line that ends
 *   the head, CRLFs included): 431;
 * - more than MXE_HTTP_MAX_HEADER_FIELDS header fields: 431. */
#define MXE_HTTP_MAX_TARGET        (16 * 1024)
#define MXE_HTTP_MAX_HEAD_BYTES    (16 * 1024)
#define MXE_HTTP_MAX_HEADER_FIELDS 100

/* Memory libmicrohttpd may use per connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT). It
 * holds the request head, about 64 bytes of bookkeeping per header field and cookie, a
 * copy of the Cookie header, and the response's status line and headers; sized so that
 * every head within the limits above fits with room for its answer. Beyond it,
 * libmicrohttpd answers 414 (request line) or 431 itself, and the rare head that fits but
 * leaves no room for any answer gets a fallback 431 (http.c). */
#define MXE_HTTP_CONNECTION_MEMORY (48 * 1024)

/* Start listening as configured (listen_host/listen_port and the web_* limits).
 * Returns NULL with a message in `err` (e.g. "listen :9977: Address already in use").
 * `hub` must outlive the server. Blocks SIGTERM/SIGINT/SIGPIPE in its threads. */
mxe_http *mxe_http_start(const mxe_config *cfg, mxe_hub *hub, char *err, size_t errlen);
/* The bound port (useful with listen_port 0). */
int mxe_http_port(const mxe_http *h);
/* The live feeds the server runs (live.h), e.g. for their subscriber counts; owned by the
 * server. NULL for NULL. */
typedef struct mxe_live mxe_live;
mxe_live *mxe_http_live(const mxe_http *h);
/* End the live feeds (close frames, ends of SSE streams), then stop accepting, finish or
 * drop open connections, free. Accepts NULL. */
void mxe_http_stop(mxe_http *h);

/* The log level of a message libmicrohttpd reports (MXE_LOG_DEBUG or MXE_LOG_WARN): debug
 * for those about one client's request or connection, warn for the server's own trouble.
 * Exposed for tests. */
int mxe_http_log_level_of(const char *msg);

#endif
