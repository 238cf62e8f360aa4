/* The HTTP server on libmicrohttpd; see http.h and docs/http-api.md.
 *
 * Every handler takes a reference to the hub's current view, picks its bytes, and hands
 * them to MHD without copying; the response's free callback drops the reference when MHD
 * is done with the bytes. The only work a request may wait for is the view rendering its
 * /metrics bodies for the cycle's first scrape (snapshot.h); nothing here parses
 * documents or touches the disk while a request waits. */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include "http.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "buf.h"
#include "expo.h"
#include "live.h"
#include "log.h"
#include "status_page.h"
#include "version.h"
#include "web_auth.h"
#include "web_tls.h"
#include "header_deadline.h"
#include "sigmask.h"

/* Internal polling with a thread pool (see mxe_http_start); MHD_USE_AUTO picks epoll on
 * Linux. Overridable at build time only for benchmarks. The live feeds (live.h) need
 * upgrades (WebSocket) and suspend/resume (SSE). */
#ifndef MXE_HTTP_DAEMON_FLAGS
#define MXE_HTTP_DAEMON_FLAGS                                                                      \
    (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE |      \
     MHD_ALLOW_SUSPEND_RESUME)
#endif

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define APP_JSON   "application/json"
#define TEXT_HTML  "text/html; charset=utf-8"

struct mxe_http {
    struct MHD_Daemon *daemon;
    mxe_hub *hub;
    int port;
    mxe_live *live; /* /api/streams/ws and /api/streams/events (live.h) */
    /* security (web_auth.h, web_tls.h) */
    mxe_web_auth *auth;            /* NULL: no basic auth */
    bool auth_exempt_health;       /* /healthz answers without credentials */
    mxe_web_tls tls;               /* certificate and key: must outlive the daemon */
    mxe_header_deadline *deadline; /* slowloris guard (header_deadline.h) */
};

/* ---------------------------------------------------------------------------------- */
/* Per-request state. MHD hands the raw request target to the URI log callback before it
 * percent-decodes it; whatever that callback returns becomes the request's context.
 * Static markers are enough: no allocation per request, nothing to free. */

static const char req_plain_marker;
static const char req_escaped_marker;
static const char req_query_marker;
static const char req_bad_marker;
static const char req_long_marker;
static const char req_seen_marker;
#define REQ_PLAIN   ((void *)&req_plain_marker)   /* target: no '%', no '?' */
#define REQ_ESCAPED ((void *)&req_escaped_marker) /* valid escapes in the path, no '?' */
#define REQ_QUERY   ((void *)&req_query_marker)   /* has a query string (ignored) */
#define REQ_BAD     ((void *)&req_bad_marker)     /* answer 400 */
#define REQ_LONG    ((void *)&req_long_marker)    /* target over the limit: answer 414 */
#define REQ_SEEN    ((void *)&req_seen_marker)    /* headers seen, answer when the request ends */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Classify a raw request target. The path part is bad when a '%' does not start a valid
 * escape or an escape decodes to NUL (which would cut MHD's C string short and make
 * "/api/streams/a%00b" look like "/api/streams/a"). Only '?' ends the path: a '#' is an
 * ordinary (if unusual) byte of it, as for libmicrohttpd, which routes "/metrics#x" as
 * that path, so the escapes after it are checked too. */
static void *classify_target(const char *t)
{
    void *kind = REQ_PLAIN;
    for (; *t; t++) {
        if (*t == '?')
            return REQ_QUERY;
        if (*t != '%')
            continue;
        int hi = hexval(t[1]);
        int lo = hi < 0 ? -1 : hexval(t[2]);
        if (lo < 0 || (hi == 0 && lo == 0))
            return REQ_BAD;
        kind = REQ_ESCAPED;
        t += 2;
    }
    return kind;
}

/* A raw NUL byte inside the request target. libmicrohttpd 0.9.75 does not reject it: it
 * ends the target's C string there, so "GET /metrics\0junk HTTP/1.1" would be served as
 * /metrics. Both `url` and `version` point into the request line in the connection's
 * read buffer, the target occupying [url, version - 1) and MHD's terminator replacing
 * the space before the version. Decoding %XX in place leaves exactly one NUL inside
 * that span (none without escapes); any further NUL came from the client. When the
 * layout is not what this expects (another MHD version), or a query string was split
 * in place, nothing is claimed. */
static bool target_has_nul(const char *url, const char *version, const void *kind)
{
    if (kind == REQ_QUERY || !version || version <= url ||
        (size_t)(version - url) > MXE_HTTP_CONNECTION_MEMORY || version[-1] != '\0')
        return false;
    size_t span = (size_t)(version - 1 - url), nuls = 0;
    for (size_t i = 0; i < span; i++)
        nuls += url[i] == '\0';
    return nuls > (kind == REQ_ESCAPED ? 1u : 0u);
}

/* libmicrohttpd 0.9.75 has checked the request line before calling the URI callback: it
 * ends in " HTTP/d.d", the space replaced by a NUL, and the line's CR or LF by another NUL.
 * Does `p` (at a NUL) start that "\0HTTP/d.d\0"? */
static bool at_version(const char *p)
{
    return p[0] == '\0' && memcmp(p + 1, "HTTP/", 5) == 0 && p[6] >= '0' && p[6] <= '9' &&
           p[7] == '.' && p[8] >= '0' && p[8] <= '9' && p[9] == '\0';
}

/* The first '?' of the raw request target `t`, which libmicrohttpd's C string ends at the
 * first NUL byte: one the client sent inside the target is followed by more of the target
 * (such a request gets 400 later, see target_has_nul), so the search goes on up to the
 * version. NULL when the target has no query. */
static char *find_query(const char *t)
{
    size_t n = strlen(t);
    const char *q = memchr(t, '?', n);
    if (q)
        return (char *)q;
    for (const char *p = t + n; !at_version(p); p++) {
        if (*p == '?')
            return (char *)p;
    }
    return NULL;
}

/* The URI log callback: the raw target, before libmicrohttpd splits off the query and
 * decodes the path. The request's context becomes the target's class (REQ_*).
 *
 * The query is emptied here, in place. libmicrohttpd 0.9.75 stores every query parameter
 * in the connection's memory pool (about 64 bytes each, even for "&&&&"), which a few
 * hundred parameters exhaust; its 431 for that case is then lost (it goes on parsing the
 * request as if nothing happened) and the client gets no answer at all. The exporter never
 * reads a query parameter, so it leaves libmicrohttpd none to store: the byte after the
 * '?' becomes the end of the string, exactly where libmicrohttpd looks for parameters right
 * after this callback returns. `uri` points into the connection's read buffer, which
 * libmicrohttpd itself writes NULs into; the const is only the API's promise not to. */
static void *on_request_target(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    if (!uri) /* no target: libmicrohttpd answers such a line 400 before calling us */
        return REQ_BAD;
    size_t len = strlen(uri);
    char *q = find_query(uri);
    if (q && q[1])
        q[1] = '\0';
    if (len > MXE_HTTP_MAX_TARGET)
        return REQ_LONG;
    return classify_target(uri);
}

/* ---------------------------------------------------------------------------------- */
/* Responses */

static void release_view(void *cls)
{
    mxe_view_unref(cls);
}

/* A response over bytes that `v` keeps alive; takes over the caller's reference to `v`
 * (released by MHD through release_view, or here when creation fails). */
static struct MHD_Response *view_response(mxe_view *v, const char *p, size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
        n, (void *)(p ? p : ""), release_view, v);
    if (!r)
        mxe_view_unref(v);
    return r;
}

static struct MHD_Response *static_response(const char *body, size_t n)
{
    return MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_PERSISTENT);
}

/* A response that owns `b`'s memory (freed by MHD with free()); `b` is emptied. */
static struct MHD_Response *buf_response(mxe_buf *b)
{
    if (!mxe_buf_ok(b) || !b->data) {
        mxe_buf_free(b);
        return NULL;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(b->len, b->data, MHD_RESPMEM_MUST_FREE);
    if (!r)
        mxe_buf_free(b);
    else
        *b = (mxe_buf)MXE_BUF_INIT;
    return r;
}

/* Add headers given as name/value pairs, NULL-terminated. false when MHD ran out of
 * memory (the response is then unusable). */
static bool add_headers(struct MHD_Response *r, ...)
{
    va_list ap;
    va_start(ap, r);
    bool ok = true;
    const char *name;
    while (ok && (name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        ok = MHD_add_response_header(r, name, value) == MHD_YES;
    }
    va_end(ap);
    return ok;
}

/* Queue `r` with `status` and the headers every response carries, then drop our handle
 * (MHD keeps its own until the response is sent). A NULL `r` (out of memory) closes
 * the connection, which is all that can be done then. */
static enum MHD_Result send_response(struct MHD_Connection *c, unsigned status,
                                     struct MHD_Response *r, const char *content_type)
{
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_NO;
    if (add_headers(r, "X-Content-Type-Options", "nosniff", (const char *)NULL) &&
        (!content_type ||
         add_headers(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type, (const char *)NULL)))
        ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_static(struct MHD_Connection *c, unsigned status,
                                   const char *content_type, const char *body)
{
    return send_response(c, status, static_response(body, strlen(body)), content_type);
}

/* Append s[0..n) as a JSON string literal that is valid UTF-8 whatever the input:
 * bytes that are not part of a well-formed UTF-8 sequence become U+FFFD. */
static void json_string_lossy(mxe_buf *b, const char *s, size_t n)
{
    mxe_buf clean = MXE_BUF_INIT;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        bool valid = len > 0 && i + len <= n;
        for (size_t k = 1; valid && k < len; k++)
            valid = (u[i + k] & 0xc0) == 0x80;
        if (valid && len == 3) { /* no overlongs, no surrogates */
            valid = !(c == 0xe0 && u[i + 1] < 0xa0) && !(c == 0xed && u[i + 1] >= 0xa0);
        } else if (valid && len == 4) { /* no overlongs, nothing past U+10FFFF */
            valid = !(c == 0xf0 && u[i + 1] < 0x90) && !(c == 0xf4 && u[i + 1] >= 0x90);
        }
        if (valid) {
            mxe_buf_append(&clean, s + i, len);
            i += len;
        } else {
            mxe_buf_append(&clean, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    if (!mxe_buf_ok(&clean))
        b->failed = true;
    else
        mxe_buf_json_string(b, clean.data ? clean.data : "", clean.len);
    mxe_buf_free(&clean);
}

/* ---------------------------------------------------------------------------------- */
/* Request header parsing */

typedef struct header_walk {
    const char *name;
    void (*fn)(const char *value, void *cls);
    void *cls;
} header_walk;

static enum MHD_Result header_walk_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    header_walk *w = cls;
    if (key && value && strcasecmp(key, w->name) == 0)
        w->fn(value, w->cls);
    return MHD_YES;
}

/* Call fn for the value of every request header named `name` (a list-valued header may
 * be split over several lines; RFC 9110 5.3 makes them one comma-joined list). */
static void each_header(struct MHD_Connection *c, const char *name,
                        void (*fn)(const char *value, void *cls), void *cls)
{
    header_walk w = {name, fn, cls};
    MHD_get_connection_values(c, MHD_HEADER_KIND, header_walk_cb, &w);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* A qvalue ("0", "0.5", "1.000") in thousandths; an invalid one counts as 0. */
static int parse_qvalue(const char *p, size_t n)
{
    if (n == 0 || (p[0] != '0' && p[0] != '1'))
        return 0;
    int q = (p[0] - '0') * 1000;
    if (n == 1)
        return q;
    if (p[1] != '.' || n > 5)
        return 0;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        q += (p[i] - '0') * scale;
    }
    return q > 1000 ? 0 : q;
}

/* What an Accept-Encoding list says about gzip, "*" and identity (-1: not listed). */
typedef struct encoding_prefs {
    int gzip, star, identity;
} encoding_prefs;

static void parse_accept_encoding(const char *v, void *cls)
{
    encoding_prefs *e = cls;
    const char *p = v;
    while (*p) {
        while (*p == ',' || is_ows(*p))
            p++;
        if (!*p)
            break;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && !is_ows(*p))
            p++;
        size_t toklen = (size_t)(p - tok);
        int q = 1000;
        /* parameters: only q matters */
        while (*p && *p != ',') {
            while (is_ows(*p) || *p == ';')
                p++;
            const char *name = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' && !is_ows(*p))
                p++;
            size_t namelen = (size_t)(p - name);
            while (is_ows(*p))
                p++;
            if (*p != '=')
                continue;
            p++;
            while (is_ows(*p))
                p++;
            const char *val = p;
            while (*p && *p != ';' && *p != ',' && !is_ows(*p))
                p++;
            if (namelen == 1 && (name[0] == 'q' || name[0] == 'Q'))
                q = parse_qvalue(val, (size_t)(p - val));
        }
        if ((toklen == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
            (toklen == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
            e->gzip = q > e->gzip ? q : e->gzip;
        else if (toklen == 1 && tok[0] == '*')
            e->star = q;
        else if (toklen == 8 && strncasecmp(tok, "identity", 8) == 0)
            e->identity = q;
    }
}

/* Append one Accept line to the list in `cls` (an mxe_buf), comma-separated. */
static void join_list(const char *v, void *cls)
{
    mxe_buf *b = cls;
    if (b->len)
        mxe_buf_puts(b, ", ");
    mxe_buf_puts(b, v);
}

/* The /metrics format for the request's Accept header; several Accept lines are one list
 * in their order (RFC 9110 5.3), as for Accept-Encoding and If-None-Match. */
static mxe_expo_format negotiate_format(struct MHD_Connection *c)
{
    mxe_buf accept = MXE_BUF_INIT;
    each_header(c, MHD_HTTP_HEADER_ACCEPT, join_list, &accept);
    mxe_expo_format fmt;
    if (mxe_buf_ok(&accept)) /* none: NULL, the text format */
        fmt = mxe_expo_negotiate(accept.data);
    else /* out of memory: the first line alone */
        fmt = mxe_expo_negotiate(
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    mxe_buf_free(&accept);
    return fmt;
}

/* gzip when the client accepts it with q > 0 (named, or through "*") and does not
 * explicitly rate identity higher. */
static bool wants_gzip(struct MHD_Connection *c)
{
    encoding_prefs e = {-1, -1, -1};
    each_header(c, MHD_HTTP_HEADER_ACCEPT_ENCODING, parse_accept_encoding, &e);
    int q = e.gzip >= 0 ? e.gzip : e.star >= 0 ? e.star : 0;
    return q > 0 && q >= e.identity;
}

typedef struct etag_match {
    const char *etag; /* ours, quoted */
    bool seen;        /* the request had If-None-Match */
    bool match;
} etag_match;

/* If-None-Match: "*" or a list of entity tags, compared weakly (W/ ignored on both
 * sides, RFC 9110 13.1.2). Parsing stops at the first malformed element. */
static void parse_if_none_match(const char *v, void *cls)
{
    etag_match *m = cls;
    m->seen = true;
    const char *p = v;
    size_t ours = strlen(m->etag);
    while (*p && !m->match) {
        while (*p == ',' || is_ows(*p))
            p++;
        if (!*p)
            break;
        if (*p == '*') {
            m->match = true;
            break;
        }
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            break;
        const char *end = strchr(p + 1, '"');
        if (!end)
            break;
        size_t n = (size_t)(end - p) + 1;
        if (n == ours && memcmp(p, m->etag, n) == 0)
            m->match = true;
        p = end + 1;
    }
}

/* ---------------------------------------------------------------------------------- */
/* Routes. A handler answers GET and HEAD (which MHD serves from the same response
 * without the body, unless the handler answers HEAD itself, as the live feeds do). */

/* What a handler gets to know about the request besides the connection. */
typedef struct request {
    const char *rest;    /* what follows a prefix route's prefix; "" for an exact route */
    const char *method;  /* "GET" or "HEAD" */
    const char *version; /* as libmicrohttpd gives it, e.g. "HTTP/1.1" */
} request;

typedef enum MHD_Result (*route_fn)(mxe_http *h, struct MHD_Connection *c, const request *rq);

enum { METHOD_GET = 1, METHOD_HEAD = 2 };

typedef struct route {
    const char *path; /* exact path, or prefix when `prefix` */
    bool prefix;
    unsigned methods; /* METHOD_* accepted; others get 405 with Allow */
    route_fn fn;
} route;

static enum MHD_Result api_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    mxe_buf b = MXE_BUF_INIT;
    mxe_buf_puts(&b, "{\"error\":");
    mxe_buf_json_string(&b, msg, strlen(msg));
    mxe_buf_puts(&b, "}\n");
    return send_response(c, status, buf_response(&b), APP_JSON);
}

static const char no_poll_json[] = "{\"error\":\"no successful poll yet\"}\n";

static enum MHD_Result serve_metrics(mxe_http *h, struct MHD_Connection *c, const request *rq)
{
    (void)rq;
    mxe_view *v = mxe_hub_acquire(h->hub);
    if (!v)
        return send_static(c, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT_PLAIN,
                           "no poll cycle has completed yet\n");
    mxe_expo_format fmt = negotiate_format(c);
    int64_t now = mxe_now_mono_ms();
    bool gzip = wants_gzip(c);
    const mxe_buf *body = mxe_view_metrics(v, fmt, gzip, now);
    if (gzip && (!body || body->len == 0)) { /* no gzip copy: identity is always fine */
        gzip = false;
        body = mxe_view_metrics(v, fmt, false, now);
    }
    if (!body || body->len == 0) {
        mxe_view_unref(v);
        return send_static(c, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT_PLAIN,
                           "out of memory rendering /metrics\n");
    }
    struct MHD_Response *r = view_response(v, body->data, body->len);
    if (r && !add_headers(r, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding", (const char *)NULL))
        goto fail;
    if (r && gzip && !add_headers(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip", (const char *)NULL))
        goto fail;
    return send_response(c, MHD_HTTP_OK, r,
                         fmt == MXE_FMT_OPENMETRICS ? MXE_OPENMETRICS_CONTENT_TYPE
                                                    : MXE_PROMETHEUS_CONTENT_TYPE);
fail:
    MHD_destroy_response(r);
    return MHD_NO;
}

static enum MHD_Result serve_latest(mxe_http *h, struct MHD_Connection *c, const request *rq)
{
    (void)rq;
    mxe_view *v = mxe_hub_acquire(h->hub);
    if (!v || !v->snap) {
        mxe_view_unref(v);
        return send_static(c, MHD_HTTP_SERVICE_UNAVAILABLE, APP_JSON, no_poll_json);
    }
    const mxe_snapshot *s = v->snap;
    etag_match m = {s->etag, false, false};
    each_header(c, MHD_HTTP_HEADER_IF_NONE_MATCH, parse_if_none_match, &m);
    bool not_modified = m.match;
    if (!m.seen) { /* If-Modified-Since only without If-None-Match; exact match as nginx */
        const char *ims =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
        not_modified = ims && strcmp(ims, s->last_modified) == 0;
    }
    struct MHD_Response *r;
    unsigned status;
    if (not_modified) {
        status = MHD_HTTP_NOT_MODIFIED;
        r = view_response(v, NULL, 0);
    } else {
        status = MHD_HTTP_OK;
        r = view_response(v, s->json.data, s->json.len);
    }
    if (r &&
        !add_headers(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store", MHD_HTTP_HEADER_ETAG, s->etag,
                     MHD_HTTP_HEADER_LAST_MODIFIED, s->last_modified, (const char *)NULL)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return send_response(c, status, r, not_modified ? NULL : APP_JSON);
}

static enum MHD_Result serve_stream(mxe_http *h, struct MHD_Connection *c, const request *rq)
{
    mxe_view *v = mxe_hub_acquire(h->hub);
    if (!v || !v->snap) {
        mxe_view_unref(v);
        return send_static(c, MHD_HTTP_SERVICE_UNAVAILABLE, APP_JSON, no_poll_json);
    }
    const mxe_snapshot *s = v->snap;
    const char *rest = rq->rest;
    size_t n = strlen(rest);
    long i = n ? mxe_snapshot_find(s, rest, n) : -1;
    if (i < 0) {
        mxe_view_unref(v);
        mxe_buf b = MXE_BUF_INIT;
        mxe_buf_puts(&b, "{\"error\":\"stream not found\",\"path\":");
        json_string_lossy(&b, rest, n);
        mxe_buf_puts(&b, "}\n");
        return send_response(c, MHD_HTTP_NOT_FOUND, buf_response(&b), APP_JSON);
    }
    struct MHD_Response *r = view_response(v, s->json.data + s->record_off[i], s->record_len[i]);
    if (r && !add_headers(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store",
                          MHD_HTTP_HEADER_LAST_MODIFIED, s->last_modified, (const char *)NULL)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return send_response(c, MHD_HTTP_OK, r, APP_JSON);
}

static enum MHD_Result serve_healthz(mxe_http *h, struct MHD_Connection *c, const request *rq)
{
    (void)h;
    (void)rq;
    return send_static(c, MHD_HTTP_OK, TEXT_PLAIN, "ok\n");
}

static enum MHD_Result serve_readyz(mxe_http *h, struct MHD_Connection *c, const request *rq)
{
    (void)rq;
    mxe_view *v = mxe_hub_acquire(h->hub);
    int64_t now = mxe_now_mono_ms();
    if (v && mxe_view_ready(v, now)) {
        mxe_view_unref(v);
        return send_static(c, MHD_HTTP_OK, TEXT_PLAIN, "ready\n");
    }
    mxe_buf b = MXE_BUF_INIT;
    if (!v || v->last_success_mono_ms <= 0)
        mxe_buf_puts(&b, "no successful poll yet\n");
    else
        mxe_buf_printf(&b, "last successful poll %.1f s ago\n",
                       (double)(now - v->last_success_mono_ms) / 1000.0);
    if (v && v->last_error[0])
        mxe_buf_printf(&b, "last error: %.*s\n", (int)sizeof v->last_error, v->last_error);
    mxe_view_unref(v);
    return send_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, buf_response(&b), TEXT_PLAIN);
}

/* GET /: the live status page (exporter/status_page.html, compiled in). */
static enum MHD_Result serve_index(mxe_http *h, struct MHD_Connection *c, const request *rq)
{
    (void)h;
    (void)rq;
    struct MHD_Response *r = static_response((const char *)mxe_status_page, mxe_status_page_len);
    if (r && !add_headers(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache", (const char *)NULL)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return send_response(c, MHD_HTTP_OK, r, TEXT_HTML);
}

/* --- live feeds (live.c) ------------------------------------------------------------ */
/* Cross-site WebSocket hijacking: a browser attaches its cached basic-auth credentials
 * to a WebSocket handshake from any page, and WebSocket is not bound by CORS. With auth on,
 * a handshake whose Origin names another host than the one it was sent to is refused.
 * Non-browser clients send no Origin and are not affected. */
static bool same_origin(struct MHD_Connection *c)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!origin)
        return true;
    const char *p = strstr(origin, "://");
    return p && host && strcasecmp(p + 3, host) == 0;
}

static enum MHD_Result serve_ws(mxe_http *h, struct MHD_Connection *c, const request *rq)
{
    if (h->auth && !same_origin(c))
        return api_error(c, MHD_HTTP_FORBIDDEN, "cross-origin WebSocket refused");
    return mxe_live_serve_ws(h->live, c, rq->method, rq->version);
}

static enum MHD_Result serve_events(mxe_http *h, struct MHD_Connection *c, const request *rq)
{
    return mxe_live_serve_sse(h->live, c, rq->method);
}
/* --- end live feeds ----------------------------------------------------------------- */

/* Exact routes first; the prefix route catches the rest of /api/streams/, so the live
 * feeds sit above it. */
static const route routes[] = {
    {"/metrics", false, METHOD_GET | METHOD_HEAD, serve_metrics},
    {"/api/streams/latest", false, METHOD_GET | METHOD_HEAD, serve_latest},
    {"/api/streams/ws", false, METHOD_GET | METHOD_HEAD, serve_ws},
    {"/api/streams/events", false, METHOD_GET | METHOD_HEAD, serve_events},
    {"/api/streams/", true, METHOD_GET | METHOD_HEAD, serve_stream},
    {"/healthz", false, METHOD_GET | METHOD_HEAD, serve_healthz},
    {"/readyz", false, METHOD_GET | METHOD_HEAD, serve_readyz},
    {"/", false, METHOD_GET | METHOD_HEAD, serve_index},
};

static bool is_api(const char *url)
{
    return strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0;
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *c, const char *url,
                                          unsigned methods)
{
    char allow[32] = "";
    if (methods & METHOD_GET)
        strcat(allow, "GET");
    if (methods & METHOD_HEAD)
        strcat(allow, allow[0] ? ", HEAD" : "HEAD");
    bool api = is_api(url);
    const char *body = api ? "{\"error\":\"method not allowed\"}\n" : "method not allowed\n";
    struct MHD_Response *r = static_response(body, strlen(body));
    if (r && !add_headers(r, MHD_HTTP_HEADER_ALLOW, allow, (const char *)NULL)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return send_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r, api ? APP_JSON : TEXT_PLAIN);
}

/* --- basic auth (web_auth.h) ------------------------------------------------------ */
/* 401 with the challenge, or 503 with Retry-After when the password check's turn did not
 * come: the queue was full or the wait bound passed (see docs/security.md). */
static enum MHD_Result auth_refused(struct MHD_Connection *c, const char *url, mxe_auth_result ar)
{
    bool busy = ar == MXE_AUTH_BUSY, api = is_api(url);
    const char *body = busy ? (api ? "{\"error\":\"busy checking credentials, retry\"}\n"
                                   : "busy checking credentials, retry\n")
                            : (api ? "{\"error\":\"unauthorized\"}\n" : "unauthorized\n");
    struct MHD_Response *r = static_response(body, strlen(body));
    if (r && !add_headers(r, busy ? MHD_HTTP_HEADER_RETRY_AFTER : MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                          busy ? "1" : MXE_AUTH_CHALLENGE, (const char *)NULL)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return send_response(c, busy ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_UNAUTHORIZED, r,
                         api ? APP_JSON : TEXT_PLAIN);
}
/* --- end basic auth ---------------------------------------------------------------- */

/* Route and answer a request whose headers are complete. */
static enum MHD_Result dispatch(mxe_http *h, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version)
{
    /* basic auth first: nothing but an exempt /healthz answers an unauthenticated client */
    if (h->auth && !(h->auth_exempt_health && strcmp(url, "/healthz") == 0)) {
        mxe_auth_result ar = mxe_web_auth_check(
            h->auth, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
            mxe_now_mono_ms());
        if (ar != MXE_AUTH_OK)
            return auth_refused(c, url, ar);
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route *rt = &routes[i];
        size_t plen = strlen(rt->path);
        if (rt->prefix ? strncmp(url, rt->path, plen) != 0 : strcmp(url, rt->path) != 0)
            continue;
        unsigned m = strcmp(method, MHD_HTTP_METHOD_GET) == 0    ? METHOD_GET
                     : strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 ? METHOD_HEAD
                                                                 : 0;
        if (!(m & rt->methods))
            return method_not_allowed(c, url, rt->methods);
        request rq = {rt->prefix ? url + plen : "", method, version ? version : ""};
        return rt->fn(h, c, &rq);
    }
    if (is_api(url))
        return api_error(c, MHD_HTTP_NOT_FOUND, "not found");
    return send_static(c, MHD_HTTP_NOT_FOUND, TEXT_PLAIN, "not found\n");
}

/* The request announces a body (which no route reads). */
static bool has_body(struct MHD_Connection *c)
{
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl && strcmp(cl, "0") != 0) ||
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* --- request head limits ---------------------------------------------------------- */

/* 414 or 431 when the request head is over the exporter's limits (http.h), else 0.
 * libmicrohttpd answers by itself only what does not fit in its connection memory, which
 * is made large enough (MXE_HTTP_CONNECTION_MEMORY) that any head within these limits fits
 * with room for the response. */
static unsigned head_over_limits(struct MHD_Connection *c, const void *kind)
{
    if (kind == REQ_LONG)
        return MHD_HTTP_URI_TOO_LONG;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (ci && ci->header_size > MXE_HTTP_MAX_HEAD_BYTES)
        return MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
    if (MHD_get_connection_values(c, MHD_HEADER_KIND, NULL, NULL) > MXE_HTTP_MAX_HEADER_FIELDS)
        return MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
    return 0;
}

/* The 414/431 answer; the connection is closed after it (a client that sends such heads
 * is not worth keeping). */
static enum MHD_Result head_refused(struct MHD_Connection *c, const char *url, unsigned status)
{
    bool api = is_api(url), uri = status == MHD_HTTP_URI_TOO_LONG;
    const char *body =
        api ? (uri ? "{\"error\":\"request target too long\"}\n"
                   : "{\"error\":\"request header fields too large\"}\n")
            : (uri ? "request target too long\n" : "request header fields too large\n");
    struct MHD_Response *r = static_response(body, strlen(body));
    if (r && !add_headers(r, MHD_HTTP_HEADER_CONNECTION, "close", (const char *)NULL)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return send_response(c, status, r, api ? APP_JSON : TEXT_PLAIN);
}

/* The last resort. libmicrohttpd builds a response's status line and headers in the
 * connection's memory pool, after the request's own lines, which stay there until the
 * request is done. A request that fills the pool to within a few hundred bytes (a head
 * just under the pool size, or a small one after kilobytes of the empty lines that may
 * precede a request line, which count nowhere else) leaves no room for any answer:
 * libmicrohttpd logs "Closing connection (failed to create response header)." and
 * closes the connection without a word. It logs that from the thread that just called
 * on_request for that very connection, before it closes the socket; on_mhd_log then
 * writes a minimal 431 (414 for an overlong target) on the socket itself (through the TLS
 * session with TLS): the only bytes of a response, which libmicrohttpd never started. */
static const char fallback_head[] = "Connection: close\r\n"
                                    "X-Content-Type-Options: nosniff\r\n"
                                    "Content-Type: text/plain; charset=utf-8\r\n";

static const char no_room_message[] = "Closing connection (failed to create response header)";

/* The connection whose request this thread is answering, set on every call of on_request. */
static _Thread_local struct {
    struct MHD_Connection *conn;
    bool head;        /* no body in the answer */
    bool tls;         /* write through the connection's TLS session */
    bool long_target; /* 414 rather than 431 */
} answering;

typedef ssize_t (*tls_send_fn)(void *session, const void *data, size_t len);

static tls_send_fn tls_send;
static pthread_once_t tls_send_once = PTHREAD_ONCE_INIT;

static void find_tls_send(void)
{
    void *sym = dlsym(RTLD_DEFAULT, "gnutls_record_send");
    memcpy(&tls_send, &sym, sizeof tls_send); /* object → function pointer, as POSIX allows */
}

/* gnutls_record_send of the GnuTLS that libmicrohttpd is linked with (no link-time
 * dependency of our own); NULL when it is not loaded. */
static tls_send_fn tls_record_send(void)
{
    pthread_once(&tls_send_once, find_tls_send);
    return tls_send;
}

static void send_fallback(void)
{
    struct MHD_Connection *c = answering.conn;
    answering.conn = NULL;
    const char *status =
        answering.long_target ? "414 URI Too Long" : "431 Request Header Fields Too Large";
    const char *body =
        answering.long_target ? "request target too long\n" : "request header fields too large\n";
    char msg[512];
    int n = snprintf(msg, sizeof msg, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n\r\n%s", status,
                     fallback_head, strlen(body), answering.head ? "" : body);
    if (n < 0 || (size_t)n >= sizeof msg)
        return;
    ssize_t sent = -1;
    if (answering.tls) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        tls_send_fn send_record = tls_record_send();
        if (ci && ci->tls_session && send_record)
            sent = send_record(ci->tls_session, msg, (size_t)n);
    } else {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
            sent = send(ci->connect_fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    mxe_debug("http: the request head left no connection memory for an answer; fallback %.3s "
              "%s",
              status, sent == n ? "sent" : "could not be sent");
}
/* --- end request head limits ------------------------------------------------------- */

/* MHD calls this once when the headers are in (*req_cls is then what on_request_target
 * returned), then once per piece of body, then once more with *upload_data_size 0.
 * Answering on the first call makes MHD close the connection afterwards, so requests
 * without a body are answered on the last call and keep their connection alive; a bad
 * target or an announced body is answered at once, and the connection closed, without
 * reading the body. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)upload_data;
    mxe_http *h = cls;
    answering.conn = c;
    answering.head = method && strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    answering.tls = mxe_web_tls_enabled(&h->tls);
    if (*req_cls != REQ_SEEN)
        answering.long_target = *req_cls == REQ_LONG;
    if (*req_cls != REQ_SEEN) /* headers complete: the header deadline stops */
        mxe_header_deadline_headers_done(h->deadline, c);
    if (!url)
        url = "";
    if (*req_cls != REQ_SEEN) {
        unsigned over = head_over_limits(c, *req_cls);
        if (over)
            return head_refused(c, url, over);
    }
    if (!method || !*method) /* a request line starting with NUL bytes */
        return send_static(c, MHD_HTTP_BAD_REQUEST, TEXT_PLAIN, "bad request\n");
    if (*req_cls == REQ_BAD || (*req_cls != REQ_SEEN && target_has_nul(url, version, *req_cls)))
        return is_api(url)
                   ? api_error(c, MHD_HTTP_BAD_REQUEST, "invalid request path")
                   : send_static(c, MHD_HTTP_BAD_REQUEST, TEXT_PLAIN, "invalid request path\n");
    if (*req_cls != REQ_SEEN) {
        if (has_body(c))
            return dispatch(h, c, url, method, version);
        *req_cls = REQ_SEEN;
        return MHD_YES;
    }
    if (*upload_data_size) { /* not expected: the body was announced as absent */
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(h, c, url, method, version);
}

/* ---------------------------------------------------------------------------------- */
/* Start and stop */

/* While mxe_http_start runs MHD_start_daemon in this thread, the first message MHD logs
 * (e.g. GnuTLS rejecting the certificate or key), quoted in the start error. */
static _Thread_local bool start_capture;
static _Thread_local char start_log[256];

/* libmicrohttpd's messages about one client's request or connection, by their start (as
 * libmicrohttpd 0.9.75 words them): a bad or oversized request, a client that went away, a
 * TLS client that does not speak TLS properly. A flood of bad requests must not flood the
 * log, so these go to debug. */
static const char *const client_messages[] = {
    "Error processing request",             /* 400, 413, 414, 431, 505 sent */
    "Not enough memory in pool",            /* its head does not fit (then 431) */
    "Closing connection (failed to create", /* ... response header): the fallback 431 */
    "Closing connection (failed to queue error response",
    "Too late", /* ... to send an error response */
    "Received HTTP/1.1 request without",
    "Too large value of 'Content-Length'",
    "Failed to parse `Content-Length'",
    "Socket has been disconnected",
    "Connection socket is closed",
    "Connection was closed by remote side",
    "Failed to send", /* the client stopped reading or left */
    "Failed to push the data",
    "Setting ", /* a socket option on a connection the client already closed */
    "Error: received handshake message",
    "Closing connection (application error generating response)", /* a live feed dropped */
    "Closing connection (application reported error generating data)",
};

int mxe_http_log_level_of(const char *msg)
{
    for (size_t i = 0; i < sizeof client_messages / sizeof client_messages[0]; i++) {
        if (strncmp(msg, client_messages[i], strlen(client_messages[i])) == 0)
            return MXE_LOG_DEBUG;
    }
    return MXE_LOG_WARN;
}

/* Everything else is the server's own trouble (out of descriptors or memory, a thread or
 * epoll failure, the connection limit reached) and goes to warn, but at most once in
 * WARN_EVERY_MS: some of these repeat in a tight loop (accept() failing with EMFILE). */
#define WARN_EVERY_MS 10000
static pthread_mutex_t warn_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t warn_last_ms;
static unsigned long warn_suppressed;

static void log_server_message(const char *msg)
{
    int64_t now = mxe_now_mono_ms();
    pthread_mutex_lock(&warn_mu);
    bool emit = warn_last_ms == 0 || now - warn_last_ms >= WARN_EVERY_MS;
    unsigned long suppressed = warn_suppressed;
    if (emit) {
        warn_last_ms = now;
        warn_suppressed = 0;
    } else {
        warn_suppressed++;
    }
    pthread_mutex_unlock(&warn_mu);
    if (!emit)
        mxe_debug("http: %s", msg);
    else if (suppressed)
        mxe_warn("http: %s (%lu more libmicrohttpd warnings in the last %d s at debug level)", msg,
                 suppressed, WARN_EVERY_MS / 1000);
    else
        mxe_warn("http: %s", msg);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (start_capture) { /* mxe_http_start reports it as the start error */
        if (!start_log[0]) {
            size_t m = n < sizeof start_log - 1 ? n : sizeof start_log - 1;
            memcpy(start_log, msg, m);
            start_log[m] = '\0';
        }
        mxe_debug("http: %s", msg);
        return;
    }
    if (answering.conn && strncmp(msg, no_room_message, sizeof no_room_message - 1) == 0)
        send_fallback();
    if (mxe_http_log_level_of(msg) == MXE_LOG_DEBUG)
        mxe_debug("http: %s", msg);
    else
        log_server_message(msg);
}

/* "host:port" for messages, brackets around IPv6 literals. */
static void format_address(char *out, size_t n, const mxe_config *cfg)
{
    if (cfg->listen_address && cfg->listen_address[0])
        snprintf(out, n, "%s", cfg->listen_address);
    else if (!cfg->listen_host)
        snprintf(out, n, ":%d", cfg->listen_port);
    else if (strchr(cfg->listen_host, ':') && cfg->listen_host[0] != '[')
        snprintf(out, n, "[%s]:%d", cfg->listen_host, cfg->listen_port);
    else
        snprintf(out, n, "%s:%d", cfg->listen_host, cfg->listen_port);
}

/* socket + SO_REUSEADDR + bind + listen for one address; the fd, or -1 with errno set. */
static int listen_on(const struct sockaddr *sa, socklen_t salen, bool dual_stack)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int on = 1, off = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (dual_stack && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0) ||
        bind(fd, sa, salen) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The listening socket for cfg, or -1 with a message in err. */
static int open_listener(const mxe_config *cfg, char *err, size_t errlen)
{
    char where[300];
    format_address(where, sizeof where, cfg);
    if (cfg->listen_port < 0 || cfg->listen_port > 65535) {
        snprintf(err, errlen, "listen %s: invalid port %d", where, cfg->listen_port);
        return -1;
    }
    if (!cfg->listen_host || !cfg->listen_host[0]) {
        /* All interfaces: one IPv6 socket that also takes IPv4 (v4-mapped), or IPv4
         * alone where the kernel has no IPv6. */
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
                                  .sin6_port = htons((uint16_t)cfg->listen_port),
                                  .sin6_addr = IN6ADDR_ANY_INIT};
        int fd = listen_on((struct sockaddr *)&a6, sizeof a6, true);
        if (fd >= 0)
            return fd;
        if (errno != EAFNOSUPPORT && errno != EPROTONOSUPPORT && errno != EADDRNOTAVAIL) {
            snprintf(err, errlen, "listen %s: %s", where, strerror(errno));
            return -1;
        }
        struct sockaddr_in a4 = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)cfg->listen_port),
                                 .sin_addr = {htonl(INADDR_ANY)}};
        fd = listen_on((struct sockaddr *)&a4, sizeof a4, false);
        if (fd < 0)
            snprintf(err, errlen, "listen %s: %s", where, strerror(errno));
        return fd;
    }
    /* A name or literal: one socket, like Go's net.Listen, on the name's first IPv4
     * address, or its first address when it has no IPv4 one. getaddrinfo() usually
     * lists ::1 before 127.0.0.1 for "localhost" (RFC 6724 order), and a socket on ::1
     * alone would refuse http://127.0.0.1:PORT. */
    char host[256];
    size_t hl = strlen(cfg->listen_host);
    const char *hp = cfg->listen_host;
    if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') {
        hp++;
        hl -= 2;
    }
    if (hl >= sizeof host) {
        snprintf(err, errlen, "listen %s: host name too long", where);
        return -1;
    }
    memcpy(host, hp, hl);
    host[hl] = '\0';
    char port[8];
    snprintf(port, sizeof port, "%d", cfg->listen_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen %s: %s", where, gai_strerror(rc));
        return -1;
    }
    /* Only an address this host cannot have is skipped; a taken port is the answer (Go
     * does not try another address either). */
    int fd = -1, last_errno = EADDRNOTAVAIL;
    bool stop = false;
    for (int pass = 0; pass < 2 && fd < 0 && !stop; pass++) { /* IPv4 first, then the rest */
        for (struct addrinfo *ai = res; ai && fd < 0 && !stop; ai = ai->ai_next) {
            if ((ai->ai_family == AF_INET) != (pass == 0))
                continue;
            fd = listen_on(ai->ai_addr, ai->ai_addrlen, false);
            if (fd < 0) {
                last_errno = errno;
                stop = errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT && errno != EPROTONOSUPPORT;
            }
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "listen %s: %s", where, strerror(last_errno));
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

mxe_http *mxe_http_start(const mxe_config *cfg, mxe_hub *hub, char *err, size_t errlen)
{
    mxe_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "http: out of memory");
        return NULL;
    }
    h->hub = hub;
    h->live = mxe_live_new(cfg, hub, err, errlen);
    if (!h->live)
        goto fail;
    /* TLS material and the users file are read before the socket is opened */
    if (mxe_web_tls_load(&h->tls, cfg->web_tls_cert_file, cfg->web_tls_key_file, err, errlen) != 0)
        goto fail;
    if (cfg->web_users_file) {
        h->auth = mxe_web_auth_load(cfg->web_users_file, "--web.users-file", err, errlen);
        if (!h->auth)
            goto fail;
        h->auth_exempt_health = cfg->web_auth_exempt_health;
    }
    if (cfg->web_connection_timeout_s) {
        h->deadline = mxe_header_deadline_new(cfg->web_connection_timeout_s * 1000u, err, errlen);
        if (!h->deadline)
            goto fail;
    }
    int fd = open_listener(cfg, err, errlen);
    if (fd < 0)
        goto fail;
    h->port = bound_port(fd);
    struct stat st_before;
    bool have_st = fstat(fd, &st_before) == 0;

    /* Thread pool: MHD divides the connection limit among the workers, so never more
     * workers than connections. */
    unsigned threads = cpu_count();
    if (cfg->web_max_connections && threads > cfg->web_max_connections)
        threads = cfg->web_max_connections;

    struct MHD_OptionItem opts[16];
    size_t k = 0;
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    /* Two-argument options: the function goes into `value`, its closure into `ptr_value`.
     * The logger is passed first, outside the array, as MHD requires. */
    opts[k++] =
        (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_request_target, NULL};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                        (intptr_t)MXE_HTTP_CONNECTION_MEMORY, NULL};
    if (threads > 1)
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
    if (cfg->web_max_connections)
        opts[k++] =
            (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, cfg->web_max_connections, NULL};
    if (cfg->web_max_connections_per_ip)
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                            cfg->web_max_connections_per_ip, NULL};
    if (cfg->web_connection_timeout_s)
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                            cfg->web_connection_timeout_s, NULL};
    unsigned flags = MXE_HTTP_DAEMON_FLAGS;
    if (mxe_web_tls_enabled(&h->tls)) { /* pointer options take ptr_value */
        flags |= MHD_USE_TLS;
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls.cert};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls.key};
        opts[k++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)MXE_WEB_TLS_PRIORITIES};
    }
    if (h->deadline) { /* slowloris guard: request headers within the connection timeout */
        opts[k++] = (struct MHD_OptionItem){
            MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)mxe_header_deadline_on_connection, h->deadline};
        opts[k++] = (struct MHD_OptionItem){
            MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mxe_header_deadline_on_completed, h->deadline};
    }
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    /* MHD's threads inherit this thread's signal mask: block the signals that the main
     * thread handles (and SIGPIPE) while they are created, then restore. */
    sigset_t old;
    mxe_sigmask_block(&old);
    /* MHD_USE_AUTO: epoll on Linux (poll elsewhere), no FD_SETSIZE limit. */
    start_log[0] = '\0';
    start_capture = true;
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                                 on_mhd_log, NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    start_capture = false;
    mxe_sigmask_restore(&old);
    char where[300];
    format_address(where, sizeof where, cfg);
    if (!h->daemon) {
        if (mxe_web_tls_enabled(&h->tls) && strstr(start_log, "TLS"))
            snprintf(err, errlen, "--web.tls-cert-file, --web.tls-key-file: %s", start_log);
        else if (start_log[0])
            snprintf(err, errlen, "listen %s: cannot start the HTTP server: %s", where, start_log);
        else
            snprintf(err, errlen, "listen %s: cannot start the HTTP server", where);
        /* MHD closes the socket on some failure paths and not on others: close it only
         * when the descriptor still names our socket. */
        struct stat st_after;
        if (have_st && fstat(fd, &st_after) == 0 && st_after.st_ino == st_before.st_ino &&
            st_after.st_dev == st_before.st_dev)
            close(fd);
        goto fail;
    }
    mxe_info("http: listening on %s (port %d, %u thread%s, %s, basic auth %s)", where, h->port,
             threads, threads == 1 ? "" : "s", mxe_web_tls_enabled(&h->tls) ? "TLS" : "no TLS",
             h->auth ? "on" : "off");
    if (h->auth && !mxe_web_tls_enabled(&h->tls))
        mxe_warn("http: basic auth without TLS: passwords cross the network in clear text "
                 "(set --web.tls-cert-file and --web.tls-key-file)");
    return h;
fail:
    mxe_header_deadline_free(h->deadline);
    mxe_web_auth_free(h->auth);
    mxe_web_tls_free(&h->tls);
    mxe_live_stop(h->live);
    mxe_live_free(h->live);
    free(h);
    return NULL;
}

int mxe_http_port(const mxe_http *h)
{
    return h ? h->port : -1;
}

void mxe_http_stop(mxe_http *h)
{
    if (!h)
        return;
    /* The feeds end first: MHD must not be stopped with suspended (SSE) connections, and
     * WebSocket subscribers get their close frame. */
    mxe_live_stop(h->live);
    /* Joins the threads, closes the listening socket and every connection; queued
     * responses are destroyed, which releases their view references. */
    MHD_stop_daemon(h->daemon);
    mxe_header_deadline_free(h->deadline);
    mxe_web_auth_free(h->auth);
    mxe_web_tls_free(&h->tls);
    mxe_live_free(h->live);
    free(h);
}

mxe_live *mxe_http_live(const mxe_http *h)
{
    return h ? h->live : NULL;
}
