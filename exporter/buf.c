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

int mxe_buf_append_slow(mxe_buf *b, const void *data, size_t n)
{
    if (mxe_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
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

/* "00" … "99": integers are written two digits per division. */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

/* The decimal digits of v, right-aligned in tmp[0..20); returns the index of the first. */
static size_t u64_digits(uint64_t v, char tmp[20])
{
    size_t i = 20;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        i -= 2;
        memcpy(tmp + i, digit_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        i -= 2;
        memcpy(tmp + i, digit_pairs + 2 * v, 2);
    } else {
        tmp[--i] = (char)('0' + v);
    }
    return i;
}

int mxe_buf_u64(mxe_buf *b, uint64_t v)
{
    char tmp[20];
    size_t i = u64_digits(v, tmp);
    return mxe_buf_append(b, tmp + i, 20 - i);
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

/* "%.15g" without printf for 1e-4 <= |v| < 1e15, the magnitudes of every value we write
 * (seconds, bytes per second, exporter statistics); 0 when v is outside, or so close to a
 * power of ten that the decimal exponent is in doubt, and printf must do it.
 *
 * The value is scaled by an exact power of ten to 15 integer digits. fma() gives the
 * rounding error of that product exactly, so the last digit is rounded as printf rounds
 * it: on the exact binary value, half to even. */
static size_t fast_g15(double v, char *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                                   1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15))
        return 0;
    int e = 14; /* decimal exponent: 10^e <= a < 10^(e+1), found from the top */
    while (e > 0 && a < pow10[e])
        e--;
    if (e == 0 && a < 1.0) {
        e = -1;
        while (e > -4 && a * pow10[-e] < 1.0) /* the product is checked again below */
            e--;
    }
    int k = 14 - e; /* 0 … 18: a * 10^k has 15 integer digits */
    double p = a * pow10[k];
    if (p < 1e14 || p >= 1e15)
        return 0; /* a sits at a power of ten that the scaled product crosses: printf */
    double err = fma(a, pow10[k], -p); /* a * 10^k == p + err exactly */
    double m = floor(p), frac = p - m; /* exact: p < 2^50 has at least 3 fraction bits */
    uint64_t digits = (uint64_t)m;
    /* frac - 0.5 is a multiple of ulp(p) and |err| <= ulp(p) / 2, so err only decides an
     * apparent tie: above it rounds up, below down, an exact tie to even. */
    if (frac > 0.5 || (frac == 0.5 && (err > 0 || (err == 0 && (digits & 1)))))
        digits++;
    if (digits == 1000000000000000u) { /* rounded up to the next power of ten */
        digits = 100000000000000u;
        e++;
        if (e >= 15)
            return 0;
    }
    char d[20];
    size_t first = u64_digits(digits, d); /* 15 digits in d[5..20) */
    size_t last = 20;
    while (last > first + 1 && d[last - 1] == '0')
        last--; /* %g drops trailing zeros */
    size_t o = 0;
    if (v < 0)
        out[o++] = '-';
    if (e >= 0) {
        size_t int_digits = (size_t)e + 1;
        memcpy(out + o, d + first, int_digits);
        o += int_digits;
        if (first + int_digits < last) {
            out[o++] = '.';
            memcpy(out + o, d + first + int_digits, last - first - int_digits);
            o += last - first - int_digits;
        }
    } else {
        out[o++] = '0';
        out[o++] = '.';
        for (int z = -1; z > e; z--)
            out[o++] = '0';
        memcpy(out + o, d + first, last - first);
        o += last - first;
    }
    return o;
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
    size_t n = fast_g15(v, tmp);
    if (n)
        return mxe_buf_append(b, tmp, n);
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
