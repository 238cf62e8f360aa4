/* The HTTP server (libmicrohttpd): /metrics, /api/streams/latest, /api/streams/{path},
 * /healthz, /readyz and /. Handlers only pick pre-rendered bytes from the hub's current
 * view; nothing is parsed, rendered or written to disk while a request waits. */
#ifndef MXE_HTTP_H
#define MXE_HTTP_H

#include <stddef.h>

#include "config.h"
#include "snapshot.h"

typedef struct mxe_http mxe_http;

/* Memory libmicrohttpd may use per connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT). The
 * request line and headers must fit in it, together with the response headers; a
 * request whose headers do not fit is answered 431. See docs/http-api.md for the exact
 * header size this admits. */
#define MXE_HTTP_CONNECTION_MEMORY (18 * 1024)

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

#endif
