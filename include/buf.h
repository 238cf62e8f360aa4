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
#include <string.h>

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
/* mxe_buf_append() when the bytes do not fit yet (grows, or fails the buffer). */
int mxe_buf_append_slow(mxe_buf *b, const void *data, size_t n);

/* Append n bytes. Renderers call this for every piece of every line, so the common case,
 * room already reserved, is inline. */
static inline int mxe_buf_append(mxe_buf *b, const void *data, size_t n)
{
    if (n < b->cap - b->len && !b->failed && (!b->max || n <= b->max - b->len)) {
        if (n)
            memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    return mxe_buf_append_slow(b, data, n);
}

static inline int mxe_buf_puts(mxe_buf *b, const char *s)
{
    return mxe_buf_append(b, s, strlen(s));
}

static inline int mxe_buf_putc(mxe_buf *b, char c)
{
    return mxe_buf_append(b, &c, 1);
}

int mxe_buf_printf(mxe_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mxe_buf_vprintf(mxe_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Decimal text of an unsigned / signed 64-bit integer, exact. */
int mxe_buf_u64(mxe_buf *b, uint64_t v);
int mxe_buf_i64(mxe_buf *b, int64_t v);
/* A double with 15 significant digits, exactly as "%.15g" prints it (integral values below
 * 2^53 as exact integers; the usual magnitudes without printf). Not necessarily the
 * shortest text that reads back as the same double: values needing 16 or 17 digits are
 * rounded to 15. Non-finite values are written as NaN, +Inf, -Inf (Prometheus spelling);
 * JSON writers must not pass them. */
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
