/* Growable byte buffer with checked appends.
 *
 * Appends never truncate: when an allocation fails the buffer becomes "failed",
 * later appends are no-ops, and every append returns -1 from then on. Render code
 * can therefore append freely and check mxe_buf_ok() once at the end. */
#ifndef MXE_BUF_H
#define MXE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mxe_buf {
    char *data;  /* always NUL-terminated when len > 0 or after any append */
    size_t len;  /* bytes used, excluding the terminating NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* 0 = unlimited; otherwise growing past max fails the buffer */
    bool failed; /* sticky: an append failed (out of memory or over max) */
} mxe_buf;

#define MXE_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0, 0, false                                                                       \
    }

/* Ensure room for `extra` more bytes (plus NUL). 0 on success, -1 on failure. */
int mxe_buf_reserve(mxe_buf *b, size_t extra);
int mxe_buf_append(mxe_buf *b, const void *data, size_t n);
int mxe_buf_puts(mxe_buf *b, const char *s);
int mxe_buf_putc(mxe_buf *b, char c);
int mxe_buf_printf(mxe_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mxe_buf_vprintf(mxe_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Decimal text of an unsigned / signed 64-bit integer, exact. */
int mxe_buf_u64(mxe_buf *b, uint64_t v);
int mxe_buf_i64(mxe_buf *b, int64_t v);
/* A double with 15 significant digits (%.15g; integral values below 2^53 as exact
 * integers). Not necessarily the shortest text that reads back as the same double: values
 * needing 16 or 17 digits are rounded to 15. Non-finite values are written as NaN, +Inf,
 * -Inf (Prometheus spelling); JSON writers must not pass them. */
int mxe_buf_double(mxe_buf *b, double v);
/* A JSON string literal: quoted, with ", \ and control characters escaped. */
int mxe_buf_json_string(mxe_buf *b, const char *s, size_t n);

static inline bool mxe_buf_ok(const mxe_buf *b)
{
    return !b->failed;
}

/* Forget the content, keep the allocation and the failure state cleared. */
void mxe_buf_reset(mxe_buf *b);
/* Release the memory; the buffer is then empty and reusable. Accepts NULL. */
void mxe_buf_free(mxe_buf *b);

#endif
