/* Growable byte buffer with checked appends; see buf.h. */
#include "buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_fail(mxe_buf *b)
{
    b->failed = true;
    return -1;
}

int mxe_buf_reserve(mxe_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len)
        return buf_fail(b);
    size_t need = b->len + extra + 1; /* room for the NUL */
    if (b->max && need - 1 > b->max)
        return buf_fail(b);
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return buf_fail(b);
    b->data = p;
    b->cap = cap;
    return 0;
}

int mxe_buf_append(mxe_buf *b, const void *data, size_t n)
{
    if (mxe_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int mxe_buf_puts(mxe_buf *b, const char *s)
{
    return mxe_buf_append(b, s, strlen(s));
}

int mxe_buf_putc(mxe_buf *b, char c)
{
    return mxe_buf_append(b, &c, 1);
}

int mxe_buf_vprintf(mxe_buf *b, const char *fmt, va_list ap)
{
    if (b->failed)
        return -1;
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return buf_fail(b);
    if (mxe_buf_reserve(b, (size_t)n) != 0)
        return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int mxe_buf_printf(mxe_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = mxe_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int mxe_buf_u64(mxe_buf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return mxe_buf_append(b, tmp + i, sizeof tmp - i);
}

int mxe_buf_i64(mxe_buf *b, int64_t v)
{
    if (v >= 0)
        return mxe_buf_u64(b, (uint64_t)v);
    if (mxe_buf_putc(b, '-') != 0)
        return -1;
    /* Negate in unsigned arithmetic so INT64_MIN is exact. */
    return mxe_buf_u64(b, (uint64_t)0 - (uint64_t)v);
}

int mxe_buf_double(mxe_buf *b, double v)
{
    if (isnan(v))
        return mxe_buf_puts(b, "NaN");
    if (isinf(v))
        return mxe_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    /* Integral values within 2^53 print as integers: the common case, and exact. */
    /* The range check comes first: converting a double beyond int64 is undefined. */
    if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v)
        return mxe_buf_i64(b, (int64_t)v);
    /* 15 significant digits (DBL_DIG): a value derived by scaling (0.36 ms / 1000) prints as
     * 0.00036, not as its binary neighbour 0.00035999999999999997. This is not the shortest
     * round-trip form: a double that needs 16 or 17 digits to be read back exactly is
     * rounded to 15 (a relative error below 5e-15). */
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.15g", v);
    /* Near DBL_MAX, 15 digits round past it ("1.79769313486232e+308" is out of range for
     * Go's ParseFloat, and Prometheus would reject the whole scrape): use 17. */
    if (isinf(strtod(tmp, NULL)))
        snprintf(tmp, sizeof tmp, "%.17g", v);
    return mxe_buf_puts(b, tmp);
}

int mxe_buf_json_string(mxe_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (mxe_buf_reserve(b, n + 2) != 0)
        return -1;
    mxe_buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        mxe_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            mxe_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            mxe_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            mxe_buf_append(b, "\\n", 2);
            break;
        case '\r':
            mxe_buf_append(b, "\\r", 2);
            break;
        case '\t':
            mxe_buf_append(b, "\\t", 2);
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            mxe_buf_append(b, esc, 6);
        }
        }
    }
    mxe_buf_append(b, s + run, n - run);
    return mxe_buf_putc(b, '"');
}

void mxe_buf_reset(mxe_buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

void mxe_buf_free(mxe_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}
