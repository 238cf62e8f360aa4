/* A deadline for request headers: the slowloris guard of the HTTP server.
 *
 * libmicrohttpd's connection timeout (MHD_OPTION_CONNECTION_TIMEOUT) is an idle timeout:
 * every byte received restarts it, so a client that sends one header line every few
 * seconds holds its connection (and a slot of --web.max-connections) for as long as it
 * likes. This module closes a connection that has not delivered a complete request line
 * and header block (TLS handshake included) within the deadline of becoming ready for a
 * request: of being accepted, or of having had its previous response sent in full.
 * While a request is being answered (and for the whole life of a WebSocket or SSE feed)
 * no deadline applies; the idle timeout still does.
 *
 * Wiring (http.c): MHD_OPTION_NOTIFY_CONNECTION and MHD_OPTION_NOTIFY_COMPLETED with the
 * two callbacks below and the deadline as their closure, and
 * mxe_header_deadline_headers_done() when the access handler first sees a request. A
 * watchdog thread checks four times a second and shuts the socket down
 * (shutdown(2), never close: the descriptor stays libmicrohttpd's), which makes
 * libmicrohttpd close the connection as if the client had gone. */
#ifndef MXE_HEADER_DEADLINE_H
#define MXE_HEADER_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

typedef struct mxe_header_deadline mxe_header_deadline;

/* Start the watchdog (its thread blocks every signal). NULL with a message in `err`. */
mxe_header_deadline *mxe_header_deadline_new(unsigned timeout_ms, char *err, size_t errlen);
/* Stop the watchdog and free. Call after MHD_stop_daemon. Accepts NULL. */
void mxe_header_deadline_free(mxe_header_deadline *d);

/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is the deadline. */
void mxe_header_deadline_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                                       enum MHD_ConnectionNotificationCode toe);
/* MHD_OPTION_NOTIFY_COMPLETED callback; cls is the deadline. */
void mxe_header_deadline_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                                      enum MHD_RequestTerminationCode toe);
/* The request's headers are complete (the access handler's first call for it). Accepts
 * a NULL deadline. */
void mxe_header_deadline_headers_done(mxe_header_deadline *d, struct MHD_Connection *c);

/* Connections shut down so far (for tests and the log). */
uint64_t mxe_header_deadline_expired(mxe_header_deadline *d);

#endif
