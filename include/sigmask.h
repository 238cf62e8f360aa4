/* Signals belong to the main thread: it handles SIGTERM/SIGINT (stop) and nobody wants
 * SIGPIPE. Every thread we or libmicrohttpd start inherits the mask of its creator, so
 * creators block these around thread creation. */
#ifndef MXE_SIGMASK_H
#define MXE_SIGMASK_H

#include <signal.h>

/* Block SIGTERM, SIGINT and SIGPIPE in the calling thread, saving the old mask in *old;
 * threads created before mxe_sigmask_restore(old) inherit the blocked set. */
void mxe_sigmask_block(sigset_t *old);
void mxe_sigmask_restore(const sigset_t *old);

#endif
