/* TLS for the HTTP server (libmicrohttpd with GnuTLS): the certificate and key, read
 * once at start and kept in memory for the server's lifetime. See docs/security.md. */
#ifndef MXE_WEB_TLS_H
#define MXE_WEB_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* GnuTLS priority string: TLS 1.3 and 1.2 only; for 1.2, ECDHE key exchange and AEAD
 * ciphers only (what Mozilla's "intermediate" profile allows). */
#define MXE_WEB_TLS_PRIORITIES                                                                     \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305:"                   \
    "+AES-256-GCM:+AES-128-GCM:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

/* Largest certificate or key file read. */
#define MXE_WEB_TLS_MAX_FILE (1024 * 1024)

typedef struct mxe_web_tls {
    char *cert; /* NUL-terminated PEM; NULL when TLS is off */
    char *key;  /* NUL-terminated PEM, zeroed when freed */
    size_t cert_len, key_len;
} mxe_web_tls;

/* Both paths NULL: TLS off, returns 0. Otherwise checks that libmicrohttpd has TLS
 * support and reads both files (each must be PEM: a certificate, or the chain leaf
 * first; an unencrypted private key). 0, or -1 with a message naming the option
 * (--web.tls-cert-file / --web.tls-key-file) in `err`. GnuTLS itself checks that the key
 * matches the certificate when the server starts. */
int mxe_web_tls_load(mxe_web_tls *t, const char *cert_path, const char *key_path, char *err,
                     size_t errlen);
static inline bool mxe_web_tls_enabled(const mxe_web_tls *t)
{
    return t->cert != NULL;
}
/* Accepts a zeroed struct. */
void mxe_web_tls_free(mxe_web_tls *t);

#endif
