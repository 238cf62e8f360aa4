/* SHA-1 (RFC 3174) and base64 encoding (RFC 4648 section 4, with padding): the two
 * primitives of the WebSocket opening handshake (RFC 6455 4.2.2), where SHA-1 is a fixed transform
 * of the client's key, not a security measure. Nothing else in the exporter hashes. */
#ifndef MXE_SHA1_H
#define MXE_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define MXE_SHA1_LEN 20

typedef struct mxe_sha1_ctx {
    uint32_t h[5];
    uint64_t total;    /* bytes hashed so far */
    uint8_t block[64]; /* the partial block */
    size_t used;       /* bytes in `block` */
} mxe_sha1_ctx;

void mxe_sha1_init(mxe_sha1_ctx *s);
void mxe_sha1_update(mxe_sha1_ctx *s, const void *data, size_t n);
/* Write the digest; `s` must be initialised again before reuse. */
void mxe_sha1_final(mxe_sha1_ctx *s, uint8_t out[MXE_SHA1_LEN]);
/* One-shot digest of data[0..n). */
void mxe_sha1(const void *data, size_t n, uint8_t out[MXE_SHA1_LEN]);

/* Room base64 needs for n bytes, the terminating NUL included. */
#define MXE_BASE64_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/* Encode in[0..n) into `out` (MXE_BASE64_SIZE(n) bytes), NUL-terminated; returns the
 * length without the NUL. */
size_t mxe_base64_encode(const uint8_t *in, size_t n, char *out);
#endif
