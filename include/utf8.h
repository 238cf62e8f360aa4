/* UTF-8 validation as Prometheus, RFC 3629 and RFC 6455 require it: no overlong forms,
 * no surrogates, nothing above U+10FFFF. */
#ifndef MXE_UTF8_H
#define MXE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the valid sequence starting at s, of which `avail` bytes may be read,
 * or 0 when none starts there. Bytes are read in order and only while the sequence is
 * still valid, so a NUL-terminated string may pass avail 4. */
size_t mxe_utf8_seq_len(const unsigned char *s, size_t avail);
/* Whether s[0..n) is entirely valid UTF-8. */
bool mxe_utf8_valid(const char *s, size_t n);

/* Incremental validation of a text that arrives in pieces cut anywhere, even inside a code
 * point (WebSocket fragments, RFC 6455 8.1). Zero-initialise it for each text. */
typedef struct mxe_utf8_stream {
    unsigned char need;   /* continuation bytes still due for the code point begun */
    unsigned char lo, hi; /* the range the next continuation byte must be in */
} mxe_utf8_stream;

/* Feed p[0..n). false at the first byte that no valid text can have there: the text is
 * invalid whatever follows (fail fast); the state is then meaningless. */
bool mxe_utf8_stream_feed(mxe_utf8_stream *st, const unsigned char *p, size_t n);
/* Whether the text fed so far ends on a code point boundary (its end is valid). */
bool mxe_utf8_stream_complete(const mxe_utf8_stream *st);

#endif
