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

#endif
