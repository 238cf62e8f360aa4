/* gzip for the pre-rendered /metrics bodies: compressed once per cycle, served many times. */
#ifndef MXE_GZIP_H
#define MXE_GZIP_H

#include <stddef.h>

#include "buf.h"

/* Append the gzip stream of in[0..len) to out. 0, or -1 when out of memory. */
int mxe_gzip(const char *in, size_t len, mxe_buf *out);

#endif
