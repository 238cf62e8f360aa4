/* gzip for the /metrics bodies: compressed at most once per cycle, served many times. */
#ifndef MXE_GZIP_H
#define MXE_GZIP_H

#include <stddef.h>

#include "buf.h"

/* Append the gzip stream of in[0..len) to out. zlib's state (about 270 KiB) lives in
 * `zmem` when it is not NULL: a buffer the caller keeps between calls, so that the
 * state's pages are not faulted in anew every time (tens of µs each on a VM). 0, or -1
 * when out of memory. */
int mxe_gzip(const char *in, size_t len, mxe_buf *out, mxe_buf *zmem);

#endif
