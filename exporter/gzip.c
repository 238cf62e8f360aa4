/* gzip via zlib; see gzip.h. */
#include "gzip.h"

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

/* Level 1: exposition text is repetitive, so the fastest level already shrinks it about
 * tenfold, at a fraction of the default level's CPU. */
#define LEVEL 1

/* zlib's allocations served from the caller's buffer (see gzip.h): a bump allocator; what
 * does not fit comes from malloc. */
typedef struct scratch {
    mxe_buf *buf; /* NULL: malloc only */
    size_t used;
} scratch;

/* The deflate state for windowBits 15 and memLevel 8: (1 << (15 + 2)) + (1 << (8 + 9))
 * bytes by zlib's own formula, plus its ~6 KiB struct, with room. */
#define SCRATCH_BYTES (288 * 1024)

static voidpf scratch_alloc(voidpf opaque, uInt items, uInt size)
{
    scratch *sc = opaque;
    size_t n = ((size_t)items * size + 63) & ~(size_t)63;
    if (sc->buf && sc->buf->cap - sc->used >= n) {
        void *p = sc->buf->data + sc->used;
        sc->used += n;
        return p;
    }
    return malloc(n);
}

static void scratch_free(voidpf opaque, voidpf p)
{
    scratch *sc = opaque;
    /* as integers: ordering pointers into different objects is undefined in C */
    uintptr_t at = (uintptr_t)p, lo = sc->buf ? (uintptr_t)sc->buf->data : 0;
    if (!(sc->buf && at >= lo && at - lo < sc->buf->cap))
        free(p);
}

int mxe_gzip(const char *in, size_t len, mxe_buf *out, mxe_buf *zmem)
{
    scratch sc = {zmem, 0};
    if (zmem && zmem->cap < SCRATCH_BYTES && mxe_buf_reserve(zmem, SCRATCH_BYTES) != 0)
        sc.buf = NULL;
    z_stream z = {.zalloc = scratch_alloc, .zfree = scratch_free, .opaque = &sc};
    /* windowBits 15+16: gzip. */
    if (deflateInit2(&z, LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
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
