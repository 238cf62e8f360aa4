/* UTF-8 validation; see utf8.h. */
#include "utf8.h"

size_t mxe_utf8_seq_len(const unsigned char *s, size_t avail)
{
    if (avail == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* overlong */
        hi = c == 0xED ? 0x9F : 0xBF; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80; /* overlong */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < 2 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if (k >= avail || (s[k] & 0xC0) != 0x80)
            return 0;
    return len;
}

bool mxe_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) { /* the common case, without a call */
            i++;
            continue;
        }
        size_t len = mxe_utf8_seq_len(u + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

bool mxe_utf8_stream_feed(mxe_utf8_stream *st, const unsigned char *p, size_t n)
{
    unsigned need = st->need;
    unsigned char lo = st->lo, hi = st->hi;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (need) {
            if (c < lo || c > hi)
                return false;
            need--;
            lo = 0x80;
            hi = 0xBF;
            continue;
        }
        if (c < 0x80)
            continue;
        /* The same ranges as mxe_utf8_seq_len(): the second byte's range excludes overlong
         * forms, surrogates and code points above U+10FFFF. */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            lo = 0x80;
            hi = 0xBF;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return false;
        }
    }
    st->need = (unsigned char)need;
    st->lo = lo;
    st->hi = hi;
    return true;
}

bool mxe_utf8_stream_complete(const mxe_utf8_stream *st)
{
    return st->need == 0;
}
