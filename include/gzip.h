/* gzip for the /metrics bodies: compressed at most once per cycle, served many times. */
#ifndef MXE_GZIP_H
#define MXE_GZIP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Append the gzip stream of in[0..len) to out. 0, or -1 when out of memory. */
int mxe_gzip(const char *in, size_t len, mxe_buf *out);

/* Two texts, A and B, described as the same sequence of pieces: piece i is
 * A[a_off, a_off + a_len) in A and B[b_off, b_off + b_len) in B, and a `shared` piece has
 * the same bytes in both (b_off/b_len are then ignored). Either side may be empty. */
typedef struct mxe_gzip_piece {
    size_t a_off, a_len;
    size_t b_off, b_len;
    bool shared;
} mxe_gzip_piece;

/* Append the gzip streams of A and B to out_a and out_b. Each piece is deflated on its
 * own (a fresh window), so a shared piece is compressed once and its bytes used in both
 * streams: two expositions that differ only in their metadata cost one compression.
 * The pieces must cover A and B exactly, in order, from a[0] and b[0]. Small texts are
 * compressed whole instead (per-piece blocks would cost more bytes than the shared
 * compression saves time). 0, or -1 when out of memory. */
int mxe_gzip_pair(const char *a, const char *b, const mxe_gzip_piece *pieces, size_t n,
                  mxe_buf *out_a, mxe_buf *out_b);

#endif
