/* gzip via zlib; see gzip.h. */
#include "gzip.h"

#include <zlib.h>

int mxe_gzip(const char *in, size_t len, mxe_buf *out)
{
    z_stream z = {0};
    /* Level 1: exposition text is repetitive, so the fastest level already shrinks it
     * about tenfold, at a fraction of the default level's CPU. windowBits 15+16: gzip. */
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong bound = deflateBound(&z, (uLong)len);
    if (mxe_buf_reserve(out, bound) != 0) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    if (rc == Z_STREAM_END) {
        out->len += z.total_out;
        out->data[out->len] = '\0';
    }
    deflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}
