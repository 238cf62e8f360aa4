/* TLS material for the HTTP server; see web_tls.h. */
#include "web_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#define CERT_FLAG "--web.tls-cert-file"
#define KEY_FLAG  "--web.tls-key-file"

/* Read a whole file (at most MXE_WEB_TLS_MAX_FILE bytes) into a NUL-terminated buffer.
 * libmicrohttpd takes PEM as a C string, so a NUL byte inside is an error. */
static int read_pem(const char *path, const char *flag, char **out, size_t *outlen, char *err,
                    size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read %s: %s", flag, path, strerror(errno));
        return -1;
    }
    char *buf = malloc(MXE_WEB_TLS_MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", flag);
        return -1;
    }
    size_t n = fread(buf, 1, MXE_WEB_TLS_MAX_FILE + 1, f);
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    const char *problem = NULL;
    if (rerr)
        problem = strerror(rerr);
    else if (n > MXE_WEB_TLS_MAX_FILE)
        problem = "larger than 1 MiB";
    else if (n == 0)
        problem = "empty";
    else if (memchr(buf, '\0', n))
        problem = "contains a NUL byte (expected PEM text)";
    if (problem) {
        snprintf(err, errlen, "%s: %s: %s", flag, path, problem);
        explicit_bzero(buf, n < MXE_WEB_TLS_MAX_FILE + 1 ? n : MXE_WEB_TLS_MAX_FILE + 1);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    char *shrunk = realloc(buf, n + 1); /* 1 MiB per file would be wasteful */
    *out = shrunk ? shrunk : buf;
    *outlen = n;
    return 0;
}

void mxe_web_tls_free(mxe_web_tls *t)
{
    if (!t)
        return;
    free(t->cert);
    if (t->key)
        explicit_bzero(t->key, t->key_len);
    free(t->key);
    memset(t, 0, sizeof *t);
}

int mxe_web_tls_load(mxe_web_tls *t, const char *cert_path, const char *key_path, char *err,
                     size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (!cert_path && !key_path)
        return 0;
    if (!cert_path || !key_path) { /* config.c checks this too */
        snprintf(err, errlen, "%s and %s must be given together", CERT_FLAG, KEY_FLAG);
        return -1;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen, "%s: this libmicrohttpd was built without TLS support", CERT_FLAG);
        return -1;
    }
    if (read_pem(cert_path, CERT_FLAG, &t->cert, &t->cert_len, err, errlen) != 0)
        goto fail;
    if (!strstr(t->cert, "-----BEGIN CERTIFICATE-----")) {
        snprintf(err, errlen, "%s: %s: no PEM certificate (-----BEGIN CERTIFICATE-----)", CERT_FLAG,
                 cert_path);
        goto fail;
    }
    if (strstr(t->cert, "PRIVATE KEY-----")) {
        snprintf(err, errlen,
                 "%s: %s holds a private key; give the key with %s and keep it out of the "
                 "certificate file",
                 CERT_FLAG, cert_path, KEY_FLAG);
        goto fail;
    }
    if (read_pem(key_path, KEY_FLAG, &t->key, &t->key_len, err, errlen) != 0)
        goto fail;
    if (strstr(t->key, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
        strstr(t->key, "Proc-Type: 4,ENCRYPTED")) {
        snprintf(err, errlen, "%s: %s: encrypted private keys are not supported", KEY_FLAG,
                 key_path);
        goto fail;
    }
    const char *begin = strstr(t->key, "-----BEGIN ");
    if (!begin || !strstr(begin, "PRIVATE KEY-----")) {
        snprintf(err, errlen, "%s: %s: no PEM private key (-----BEGIN ... PRIVATE KEY-----)",
                 KEY_FLAG, key_path);
        goto fail;
    }
    return 0;
fail:
    mxe_web_tls_free(t);
    return -1;
}
