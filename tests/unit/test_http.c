/* The HTTP server: every route and status, headers, content negotiation, conditional
 * requests, bad input at the socket level, and view lifetimes while responses are in
 * flight. The server runs on 127.0.0.1 with an ephemeral port and a hub filled by hand;
 * libcurl is the client, raw sockets where curl would refuse or fix up the request. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "arena.h"
#include "buf.h"
#include "config.h"
#include "expo.h"
#include "http.h"
#include "log.h"
#include "snapshot.h"
#include "testutil.h"
#include "version.h"

#define PROM_242_ACCEPT                                                                            \
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"       \
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/* ---------------------------------------------------------------------------------- */
/* Name resolution under test control. This definition takes the place of libc's for the
 * whole test program (the server's and libcurl's calls alike); it answers two made-up
 * names itself and passes every other name on to libc:
 *   dual.mxe-test  → ::1, then 127.0.0.1 (the order getaddrinfo() gives "localhost" on a
 *                    stock Debian /etc/hosts, RFC 6724)
 *   v6.mxe-test    → ::1 only
 * The lists are libc's own answers for the literals, chained, so freeaddrinfo() frees
 * them. */

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

static getaddrinfo_fn real_getaddrinfo(void)
{
    void *sym = dlsym(RTLD_NEXT, "getaddrinfo");
    getaddrinfo_fn fn;
    memcpy(&fn, &sym, sizeof fn);
    return fn;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    getaddrinfo_fn real = real_getaddrinfo();
    bool dual = node && strcmp(node, "dual.mxe-test") == 0;
    bool v6 = node && strcmp(node, "v6.mxe-test") == 0;
    if (!dual && !v6)
        return real(node, service, hints, res);
    struct addrinfo h = hints ? *hints : (struct addrinfo){0};
    h.ai_flags |= AI_NUMERICHOST;
    h.ai_family = AF_UNSPEC;
    struct addrinfo *a6 = NULL, *a4 = NULL;
    int rc = real("::1", service, &h, &a6);
    if (rc != 0)
        return rc;
    if (v6) {
        *res = a6;
        return 0;
    }
    rc = real("127.0.0.1", service, &h, &a4);
    if (rc != 0) {
        freeaddrinfo(a6);
        return rc;
    }
    struct addrinfo *tail = a6;
    while (tail->ai_next)
        tail = tail->ai_next;
    tail->ai_next = a4;
    *res = a6;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Fixture: one hub and one server per test */

static mxe_hub hub;
static mxe_http *srv;
static mxe_config cfg;

static void default_config(mxe_config *c)
{
    memset(c, 0, sizeof *c);
    c->listen_host = "127.0.0.1";
    c->listen_port = 0;
    c->web_max_connections = 64;
    c->web_max_connections_per_ip = 32;
    c->web_connection_timeout_s = 10;
    c->web_max_subscribers = 8;
}

static void setup(void)
{
    ck_assert_int_eq(mxe_hub_init(&hub), 0);
    default_config(&cfg);
    char err[256] = "";
    srv = mxe_http_start(&cfg, &hub, err, sizeof err);
    ck_assert_msg(srv != NULL, "start: %s", err);
    ck_assert_int_gt(mxe_http_port(srv), 0);
}

static void teardown(void)
{
    mxe_http_stop(srv);
    srv = NULL;
    mxe_hub_destroy(&hub);
}

/* ---------------------------------------------------------------------------------- */
/* Views built by hand */

static const char *const stream_names[] = {"a/b/c", "cam1", "q\"\\"}; /* sorted */

static void gzip_into(mxe_buf *out, const mxe_buf *in)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    uLong bound = deflateBound(&zs, in->len);
    ck_assert_int_eq(mxe_buf_reserve(out, bound), 0);
    zs.next_in = (Bytef *)in->data;
    zs.avail_in = (uInt)in->len;
    zs.next_out = (Bytef *)out->data;
    zs.avail_out = (uInt)bound;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out->len = zs.total_out;
    deflateEnd(&zs);
}

static void gunzip_into(mxe_buf *out, const char *p, size_t n)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    int rc;
    do {
        ck_assert_int_eq(mxe_buf_reserve(out, 4096), 0);
        zs.next_out = (Bytef *)out->data + out->len;
        zs.avail_out = 4096;
        rc = inflate(&zs, Z_NO_FLUSH);
        ck_assert(rc == Z_OK || rc == Z_STREAM_END);
        out->len = zs.total_out;
    } while (rc != Z_STREAM_END);
    out->data[out->len] = '\0';
    inflateEnd(&zs);
}

static const char *const fmt_names[] = {"prometheus", "openmetrics"};
static const char *const variant_names[] = {"live", "stale"};

/* A view whose last poll succeeded just now, with a snapshot of three streams and
 * /metrics bodies that name their format and variant; `pad` bytes of comments make the
 * bodies large when a test needs that (8 MB: more than the 4 MB the kernel buffers on a
 * loopback connection, so the response stays in flight while the client does not read). */
static mxe_view *make_view(bool with_snapshot, size_t pad)
{
    mxe_view *v = mxe_view_new();
    ck_assert_ptr_nonnull(v);
    int64_t now = mxe_now_mono_ms();
    v->cycle = 1;
    v->stale_after_ms = 6000;
    if (with_snapshot) {
        mxe_streams s;
        memset(&s, 0, sizeof s);
        size_t n = sizeof stream_names / sizeof stream_names[0];
        s.items = calloc(n, sizeof *s.items);
        ck_assert_ptr_nonnull(s.items);
        s.cap = s.count = n;
        for (size_t i = 0; i < n; i++) {
            s.items[i].name = mxe_arena_strndup(&s.arena, stream_names[i], strlen(stream_names[i]));
            s.items[i].source_type = "srtConn";
            s.items[i].bytes_received = 1000 * (i + 1);
            s.items[i].ready = true;
        }
        v->snap = mxe_snapshot_new(&s, 1, 1700000000.0, now);
        ck_assert_ptr_nonnull(v->snap);
        v->last_poll_ok = true;
        v->last_success_mono_ms = now;
    }
    for (int f = 0; f < 2; f++) {
        for (int k = 0; k < 2; k++) {
            mxe_buf *id = &v->metrics[f][k][MXE_ENC_IDENTITY];
            mxe_buf_printf(id, "# format=%s variant=%s\nmediamtx_up %d\n", fmt_names[f],
                           variant_names[k], k == MXE_VARIANT_LIVE);
            while (id->len < pad)
                mxe_buf_puts(id, "# padding to make the body large enough to stay in flight\n");
            if (f == MXE_FMT_OPENMETRICS)
                mxe_buf_puts(id, "# EOF\n");
            ck_assert(mxe_buf_ok(id));
            if (pad < (1 << 20)) /* large bodies are for lifetime tests: identity only */
                gzip_into(&v->metrics[f][k][MXE_ENC_GZIP], id);
        }
    }
    return v;
}

/* ---------------------------------------------------------------------------------- */
/* libcurl client */

typedef struct resp {
    long status;
    mxe_buf body;
    mxe_buf headers;     /* every header line as received */
    curl_off_t declared; /* Content-Length, -1 when absent */
    long new_connections;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *cls)
{
    mxe_buf_append(cls, p, sz * n);
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *cls)
{
    mxe_buf *b = cls;
    if (sz * n >= 5 && strncmp(p, "HTTP/", 5) == 0)
        mxe_buf_reset(b); /* keep only the final response's headers */
    mxe_buf_append(b, p, sz * n);
    return sz * n;
}

/* Perform `method` (NULL = GET) on `path` with extra request headers (NULL-terminated
 * list, may be NULL). `h` may be a reused handle (keep-alive) or NULL. */
static void request_on(CURL *h, resp *r, const char *method, const char *path,
                       const char *const *headers)
{
    bool own = h == NULL;
    if (own)
        h = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    memset(r, 0, sizeof *r);
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", mxe_http_port(srv), path);
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_NOBODY, method && strcmp(method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                     method && strcmp(method, "HEAD") != 0 ? method : NULL);
    CURLcode rc = curl_easy_perform(h);
    ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method ? method : "GET", path,
                  curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->declared);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->new_connections);
    mxe_buf_putc(&r->body, '\0'); /* body.data is a C string for the asserts ... */
    r->body.len--;                /* ... without counting the NUL */
    mxe_buf_putc(&r->headers, '\0');
    curl_slist_free_all(list);
    if (own)
        curl_easy_cleanup(h);
}

static void request(resp *r, const char *method, const char *path, const char *const *headers)
{
    request_on(NULL, r, method, path, headers);
}

static void resp_free(resp *r)
{
    mxe_buf_free(&r->body);
    mxe_buf_free(&r->headers);
}

/* The value of response header `name` (the last one), copied into `out`; NULL if absent. */
static const char *header(const resp *r, const char *name, char *out, size_t n)
{
    const char *found = NULL;
    size_t nl = strlen(name);
    for (const char *line = r->headers.data; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(end - v), v);
            found = out;
        }
        line = end + 2;
    }
    return found;
}

static void assert_header(const resp *r, const char *name, const char *want)
{
    char v[512];
    const char *got = header(r, name, v, sizeof v);
    ck_assert_msg(got != NULL, "no %s header in:\n%s", name, r->headers.data);
    ck_assert_str_eq(got, want);
}

static void assert_no_header(const resp *r, const char *name)
{
    char v[512];
    ck_assert_msg(header(r, name, v, sizeof v) == NULL, "unexpected %s: %s", name, v);
}

/* Status, content type and body at once; every response must carry nosniff. */
static void assert_resp(const resp *r, long status, const char *ctype, const char *body)
{
    ck_assert_int_eq(r->status, status);
    assert_header(r, "X-Content-Type-Options", "nosniff");
    if (ctype)
        assert_header(r, "Content-Type", ctype);
    if (body)
        ck_assert_str_eq(r->body.data, body);
}

/* ---------------------------------------------------------------------------------- */
/* Raw sockets */

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)mxe_http_port(srv))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Read until the peer closes (or 10 s pass); the bytes into `out`. */
static void recv_all(int fd, mxe_buf *out)
{
    char tmp[65536];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0)
            break;
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0)
            break;
        mxe_buf_append(out, tmp, (size_t)n);
    }
    mxe_buf_putc(out, '\0');
    out->len--;
}

/* Send `n` raw bytes on a new connection and return everything the server answers. */
static void raw_exchange(const char *req, size_t n, mxe_buf *out)
{
    int fd = raw_connect();
    send_all(fd, req, n);
    recv_all(fd, out);
    close(fd);
}

static int raw_status(const mxe_buf *b)
{
    int status = 0;
    if (!b->data || sscanf(b->data, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    return status;
}

#define RAW(lit) raw_exchange(lit, sizeof(lit) - 1, &out)

/* ---------------------------------------------------------------------------------- */
/* Simple routes */

START_TEST(test_healthz_and_index)
{
    resp r;
    request(&r, NULL, "/healthz", NULL);
    assert_resp(&r, 200, "text/plain; charset=utf-8", "ok\n");
    resp_free(&r);

    request(&r, NULL, "/", NULL);
    assert_resp(&r, 200, "text/html; charset=utf-8", NULL);
    ck_assert_ptr_nonnull(strstr(r.body.data, "mediamtx-exporter"));
    ck_assert_ptr_nonnull(strstr(r.body.data, MXE_VERSION));
    ck_assert_ptr_nonnull(strstr(r.body.data, "href=\"/metrics\""));
    ck_assert_ptr_nonnull(strstr(r.body.data, "href=\"/api/streams/latest\""));
    ck_assert_ptr_nonnull(strstr(r.body.data, "href=\"/healthz\""));
    ck_assert_ptr_nonnull(strstr(r.body.data, "href=\"/readyz\""));
    resp_free(&r);
}
END_TEST

START_TEST(test_before_first_publish)
{
    resp r;
    request(&r, NULL, "/metrics", NULL);
    assert_resp(&r, 503, "text/plain; charset=utf-8", NULL);
    resp_free(&r);
    request(&r, NULL, "/api/streams/latest", NULL);
    assert_resp(&r, 503, "application/json", "{\"error\":\"no successful poll yet\"}\n");
    resp_free(&r);
    request(&r, NULL, "/api/streams/cam1", NULL);
    assert_resp(&r, 503, "application/json", "{\"error\":\"no successful poll yet\"}\n");
    resp_free(&r);
    request(&r, NULL, "/readyz", NULL);
    assert_resp(&r, 503, "text/plain; charset=utf-8", "no successful poll yet\n");
    resp_free(&r);
    request(&r, NULL, "/healthz", NULL);
    assert_resp(&r, 200, NULL, "ok\n");
    resp_free(&r);
}
END_TEST

/* A view published after failed polls only: /metrics serves STALE, the REST API 503. */
START_TEST(test_no_successful_poll_yet)
{
    mxe_view *v = make_view(false, 0);
    snprintf(v->last_error, sizeof v->last_error, "GET /v3/paths/list: connection refused");
    mxe_hub_publish(&hub, v);
    resp r;
    request(&r, NULL, "/metrics", NULL);
    assert_resp(&r, 200, MXE_PROMETHEUS_CONTENT_TYPE, v->metrics[0][MXE_VARIANT_STALE][0].data);
    resp_free(&r);
    request(&r, NULL, "/api/streams/latest", NULL);
    assert_resp(&r, 503, "application/json", "{\"error\":\"no successful poll yet\"}\n");
    resp_free(&r);
    request(&r, NULL, "/readyz", NULL);
    assert_resp(&r, 503, "text/plain; charset=utf-8",
                "no successful poll yet\nlast error: GET /v3/paths/list: connection refused\n");
    resp_free(&r);
}
END_TEST

START_TEST(test_readyz)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    resp r;
    request(&r, NULL, "/readyz", NULL);
    assert_resp(&r, 200, "text/plain; charset=utf-8", "ready\n");
    resp_free(&r);

    v = make_view(true, 0);
    v->last_poll_ok = false;
    /* Older than stale_after_ms (6 s), but small: CLOCK_MONOTONIC starts at boot, and a
     * fresh CI machine may have been up for less than a minute. */
    v->last_success_mono_ms = mxe_now_mono_ms() - 10000;
    snprintf(v->last_error, sizeof v->last_error, "timeout after 1.5 s");
    mxe_hub_publish(&hub, v);
    request(&r, NULL, "/readyz", NULL);
    ck_assert_int_eq(r.status, 503);
    double ago = 0;
    char err[64] = "";
    ck_assert_int_eq(
        sscanf(r.body.data, "last successful poll %lf s ago\nlast error: %63[^\n]", &ago, err), 2);
    ck_assert(ago >= 10.0 && ago < 70.0);
    ck_assert_str_eq(err, "timeout after 1.5 s");
    resp_free(&r);
    request(&r, "HEAD", "/readyz", NULL);
    ck_assert_int_eq(r.status, 503);
    ck_assert_uint_eq(r.body.len, 0);
    resp_free(&r);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* /metrics */

START_TEST(test_metrics_formats)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    static const struct {
        const char *accept; /* NULL: no Accept header */
        int fmt;
    } cases[] = {
        {NULL, MXE_FMT_PROMETHEUS},
        {"Accept: */*", MXE_FMT_PROMETHEUS},
        {"Accept: text/plain;version=0.0.4", MXE_FMT_PROMETHEUS},
        {"Accept: " PROM_242_ACCEPT, MXE_FMT_OPENMETRICS},
        {"Accept: application/openmetrics-text; version=1.0.0", MXE_FMT_OPENMETRICS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *hdrs[] = {cases[i].accept ? cases[i].accept : "Accept:", NULL};
        resp r;
        request(&r, NULL, "/metrics", hdrs);
        int f = cases[i].fmt;
        assert_resp(&r, 200,
                    f == MXE_FMT_OPENMETRICS ? MXE_OPENMETRICS_CONTENT_TYPE
                                             : MXE_PROMETHEUS_CONTENT_TYPE,
                    v->metrics[f][MXE_VARIANT_LIVE][MXE_ENC_IDENTITY].data);
        assert_header(&r, "Vary", "Accept, Accept-Encoding");
        assert_no_header(&r, "Content-Encoding");
        resp_free(&r);
    }
}
END_TEST

/* Several Accept lines are one list, in their order (RFC 9110 5.3): the second line can
 * decide the format, either way. */
START_TEST(test_metrics_accept_lines)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    static const struct {
        const char *req;
        int fmt;
    } cases[] = {
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         "Accept: text/plain;version=0.0.4;q=0.5\r\n"
         "Accept: application/openmetrics-text;version=1.0.0\r\n\r\n",
         MXE_FMT_OPENMETRICS},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         "Accept: application/openmetrics-text;q=0.1\r\n"
         "Accept: text/plain;q=0.9\r\n\r\n",
         MXE_FMT_PROMETHEUS},
        /* equal weights: the range named first, across lines */
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         "Accept: text/plain\r\nX-Other: 1\r\n"
         "Accept: application/openmetrics-text\r\n\r\n",
         MXE_FMT_PROMETHEUS},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         "Accept:\r\nAccept: application/openmetrics-text\r\n\r\n",
         MXE_FMT_OPENMETRICS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mxe_buf out = MXE_BUF_INIT;
        raw_exchange(cases[i].req, strlen(cases[i].req), &out);
        ck_assert_int_eq(raw_status(&out), 200);
        const char *ct = cases[i].fmt == MXE_FMT_OPENMETRICS ? MXE_OPENMETRICS_CONTENT_TYPE
                                                             : MXE_PROMETHEUS_CONTENT_TYPE;
        char want[160];
        snprintf(want, sizeof want, "Content-Type: %s\r\n", ct);
        ck_assert_msg(strstr(out.data, want) != NULL, "case %zu:\n%s", i, out.data);
        const char *body = strstr(out.data, "\r\n\r\n");
        ck_assert_ptr_nonnull(body);
        ck_assert_str_eq(body + 4, v->metrics[cases[i].fmt][MXE_VARIANT_LIVE][0].data);
        mxe_buf_free(&out);
    }
}
END_TEST

START_TEST(test_metrics_gzip_negotiation)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    static const struct {
        const char *ae; /* NULL: no Accept-Encoding header */
        bool gzip;
    } cases[] = {
        {NULL, false},
        {"", false},
        {"gzip", true},
        {"GZIP", true},
        {"x-gzip", true},
        {"gzip, deflate, br", true},
        {"deflate, gzip;q=0.5", true},
        {"gzip ; q=1.0", true},
        {"gzip;q=0", false},
        {"gzip;q=0.000", false},
        {"gzip;q=0.001", true},
        {"gzip;q=bogus", false},
        {"*", true},
        {"*;q=0", false},
        {"*, gzip;q=0", false},
        {"identity", false},
        {"br, deflate", false},
        {"gzip;q=0.5, identity;q=1", false},
        {"identity;q=0.5, gzip", true},
        {"gzipx", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[128];
        snprintf(line, sizeof line, "Accept-Encoding: %s", cases[i].ae ? cases[i].ae : "");
        const char *hdrs[] = {cases[i].ae ? line : "Accept-Encoding:", NULL};
        resp r;
        request(&r, NULL, "/metrics", hdrs);
        ck_assert_int_eq(r.status, 200);
        assert_header(&r, "Vary", "Accept, Accept-Encoding");
        assert_header(&r, "Content-Type", MXE_PROMETHEUS_CONTENT_TYPE);
        const mxe_buf *id = &v->metrics[0][MXE_VARIANT_LIVE][MXE_ENC_IDENTITY];
        const mxe_buf *gz = &v->metrics[0][MXE_VARIANT_LIVE][MXE_ENC_GZIP];
        if (cases[i].gzip) {
            assert_header(&r, "Content-Encoding", "gzip");
            ck_assert_msg(r.body.len == gz->len && memcmp(r.body.data, gz->data, gz->len) == 0,
                          "case '%s': not the pre-compressed body", cases[i].ae);
            mxe_buf plain = MXE_BUF_INIT;
            gunzip_into(&plain, r.body.data, r.body.len);
            ck_assert_str_eq(plain.data, id->data);
            mxe_buf_free(&plain);
        } else {
            assert_no_header(&r, "Content-Encoding");
            ck_assert_msg(strcmp(r.body.data, id->data) == 0, "case '%s': not identity",
                          cases[i].ae ? cases[i].ae : "(none)");
        }
        resp_free(&r);
    }
    /* Two Accept-Encoding lines form one list. */
    const char *two[] = {"Accept-Encoding: br", "Accept-Encoding: gzip", NULL};
    resp r;
    request(&r, NULL, "/metrics", two);
    assert_header(&r, "Content-Encoding", "gzip");
    resp_free(&r);
    /* OpenMetrics and gzip together, as Prometheus asks. */
    const char *prom[] = {"Accept: " PROM_242_ACCEPT, "Accept-Encoding: gzip", NULL};
    request(&r, NULL, "/metrics", prom);
    assert_resp(&r, 200, MXE_OPENMETRICS_CONTENT_TYPE, NULL);
    assert_header(&r, "Content-Encoding", "gzip");
    mxe_buf plain = MXE_BUF_INIT;
    gunzip_into(&plain, r.body.data, r.body.len);
    ck_assert_str_eq(plain.data, v->metrics[1][MXE_VARIANT_LIVE][MXE_ENC_IDENTITY].data);
    mxe_buf_free(&plain);
    resp_free(&r);
}
END_TEST

START_TEST(test_metrics_gzip_missing_falls_back)
{
    mxe_view *v = make_view(true, 0);
    mxe_buf_free(&v->metrics[0][MXE_VARIANT_LIVE][MXE_ENC_GZIP]);
    mxe_hub_publish(&hub, v);
    const char *hdrs[] = {"Accept-Encoding: gzip", NULL};
    resp r;
    request(&r, NULL, "/metrics", hdrs);
    assert_resp(&r, 200, MXE_PROMETHEUS_CONTENT_TYPE,
                v->metrics[0][MXE_VARIANT_LIVE][MXE_ENC_IDENTITY].data);
    assert_no_header(&r, "Content-Encoding");
    resp_free(&r);
}
END_TEST

START_TEST(test_metrics_stale)
{
    /* The last good poll is older than stale_after_ms: the STALE variant, still 200. */
    mxe_view *v = make_view(true, 0);
    v->last_success_mono_ms = mxe_now_mono_ms() - 10000; /* small: the clock starts at boot */
    mxe_hub_publish(&hub, v);
    const char *om[] = {"Accept: " PROM_242_ACCEPT, NULL};
    resp r;
    request(&r, NULL, "/metrics", NULL);
    assert_resp(&r, 200, MXE_PROMETHEUS_CONTENT_TYPE, v->metrics[0][MXE_VARIANT_STALE][0].data);
    resp_free(&r);
    request(&r, NULL, "/metrics", om);
    assert_resp(&r, 200, MXE_OPENMETRICS_CONTENT_TYPE, v->metrics[1][MXE_VARIANT_STALE][0].data);
    resp_free(&r);

    /* The cycle's poll failed: STALE as well, however recent the last success. */
    v = make_view(true, 0);
    v->last_poll_ok = false;
    mxe_hub_publish(&hub, v);
    request(&r, NULL, "/metrics", NULL);
    assert_resp(&r, 200, MXE_PROMETHEUS_CONTENT_TYPE, v->metrics[0][MXE_VARIANT_STALE][0].data);
    resp_free(&r);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* REST */

START_TEST(test_latest)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    const mxe_snapshot *s = v->snap;
    resp r;
    request(&r, NULL, "/api/streams/latest?ignored=1", NULL);
    assert_resp(&r, 200, "application/json", NULL);
    ck_assert_uint_eq(r.body.len, s->json.len);
    ck_assert(memcmp(r.body.data, s->json.data, s->json.len) == 0);
    assert_header(&r, "ETag", s->etag);
    assert_header(&r, "Last-Modified", "Tue, 14 Nov 2023 22:13:20 GMT");
    assert_header(&r, "Cache-Control", "no-store");
    resp_free(&r);
}
END_TEST

START_TEST(test_latest_conditional)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    const mxe_snapshot *s = v->snap;
    char exact[64], weak[64], list[128], other_weak[64];
    snprintf(exact, sizeof exact, "If-None-Match: %s", s->etag);
    snprintf(weak, sizeof weak, "If-None-Match: W/%s", s->etag);
    snprintf(list, sizeof list, "If-None-Match: \"0000\", W/\"a,b\" ,%s", s->etag);
    snprintf(other_weak, sizeof other_weak, "If-None-Match: W/\"%s\"", "deadbeef");
    char ims[80];
    snprintf(ims, sizeof ims, "If-Modified-Since: %s", s->last_modified);
    static const char *const star = "If-None-Match: *";
    struct {
        const char *h1, *h2;
        long status;
    } cases[] = {
        {exact, NULL, 304},
        {weak, NULL, 304},
        {list, NULL, 304},
        {star, NULL, 304},
        {other_weak, NULL, 200},
        {"If-None-Match: garbage", NULL, 200},
        {"If-None-Match: \"unterminated", NULL, 200},
        {"If-None-Match: \"0000\"", exact, 304}, /* two header lines: one list */
        {ims, NULL, 304},
        {"If-Modified-Since: Mon, 13 Nov 2023 22:13:20 GMT", NULL, 200},
        {other_weak, ims, 200}, /* If-None-Match wins over If-Modified-Since */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *hdrs[] = {cases[i].h1, cases[i].h2, NULL};
        resp r;
        request(&r, NULL, "/api/streams/latest", hdrs);
        ck_assert_msg(r.status == cases[i].status, "case %zu (%s): %ld", i, cases[i].h1, r.status);
        assert_header(&r, "X-Content-Type-Options", "nosniff");
        assert_header(&r, "ETag", s->etag);
        assert_header(&r, "Cache-Control", "no-store");
        if (r.status == 304)
            ck_assert_uint_eq(r.body.len, 0);
        else
            ck_assert_uint_eq(r.body.len, s->json.len);
        resp_free(&r);
    }
}
END_TEST

START_TEST(test_stream_record)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    const mxe_snapshot *s = v->snap;
    static const struct {
        const char *path;
        long index;
    } cases[] = {
        {"/api/streams/a/b/c", 0},       {"/api/streams/a%2Fb%2Fc", 0}, /* MHD decodes %2F before
                                                                           routing */
        {"/api/streams/a%2fb/c?x=1", 0}, {"/api/streams/cam1", 1},      {"/api/streams/c%61m1", 1},
        {"/api/streams/q%22%5C", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resp r;
        request(&r, NULL, cases[i].path, NULL);
        assert_resp(&r, 200, "application/json", NULL);
        long k = cases[i].index;
        ck_assert_uint_eq(r.body.len, s->record_len[k]);
        ck_assert(memcmp(r.body.data, s->json.data + s->record_off[k], s->record_len[k]) == 0);
        assert_header(&r, "Cache-Control", "no-store");
        resp_free(&r);
    }
}
END_TEST

START_TEST(test_stream_not_found)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    static const struct {
        const char *path, *body;
    } cases[] = {
        {"/api/streams/nope", "{\"error\":\"stream not found\",\"path\":\"nope\"}\n"},
        {"/api/streams/", "{\"error\":\"stream not found\",\"path\":\"\"}\n"},
        {"/api/streams/a/b", "{\"error\":\"stream not found\",\"path\":\"a/b\"}\n"},
        {"/api/streams/%22%5C%0A%01<",
         "{\"error\":\"stream not found\",\"path\":\"\\\"\\\\\\n\\u0001<\"}\n"},
        /* invalid UTF-8 becomes U+FFFD so the body stays valid JSON */
        {"/api/streams/x%FFy%C3%A9",
         "{\"error\":\"stream not found\",\"path\":\"x\xef\xbf\xbdy\xc3\xa9\"}\n"},
        {"/api/streams/%ED%A0%80",
         "{\"error\":\"stream not found\",\"path\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"}\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resp r;
        request(&r, NULL, cases[i].path, NULL);
        assert_resp(&r, 404, "application/json", cases[i].body);
        resp_free(&r);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Methods, unknown paths, HEAD */

START_TEST(test_head_everywhere)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    const char *paths[] = {
        "/",     "/metrics", "/api/streams/latest", "/api/streams/cam1", "/healthz", "/readyz",
        "/nope", "/api/nope"};
    const char *gz[] = {"Accept-Encoding: gzip", NULL};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        resp g, h;
        request(&g, NULL, paths[i], gz);
        request(&h, "HEAD", paths[i], gz);
        ck_assert_int_eq(h.status, g.status);
        ck_assert_uint_eq(h.body.len, 0);
        ck_assert_msg(h.declared == (curl_off_t)g.body.len, "%s: HEAD says %ld, GET sent %zu",
                      paths[i], (long)h.declared, g.body.len);
        const char *names[] = {"Content-Type",          "Content-Encoding", "ETag",
                               "Last-Modified",         "Cache-Control",    "Vary",
                               "X-Content-Type-Options"};
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            char a[256], b[256];
            const char *ga = header(&g, names[k], a, sizeof a);
            const char *hb = header(&h, names[k], b, sizeof b);
            ck_assert_msg((ga == NULL) == (hb == NULL), "%s: %s differs", paths[i], names[k]);
            if (ga)
                ck_assert_str_eq(ga, hb);
        }
        resp_free(&g);
        resp_free(&h);
    }
    /* The live feeds take HEAD too (the route table lets it through; live.c answers it
     * without an upgrade or a subscription): what a GET without a handshake gets on the
     * WebSocket route, the stream's status and headers on the SSE route. */
    resp g, h;
    request(&g, NULL, "/api/streams/ws", NULL);
    request(&h, "HEAD", "/api/streams/ws", NULL);
    ck_assert_int_eq(g.status, 426);
    ck_assert_int_eq(h.status, g.status);
    ck_assert_uint_eq(h.body.len, 0);
    assert_header(&h, "Upgrade", "websocket");
    resp_free(&g);
    resp_free(&h);
    request(&h, "HEAD", "/api/streams/events", NULL);
    ck_assert_int_eq(h.status, 200);
    ck_assert_uint_eq(h.body.len, 0);
    assert_header(&h, "Content-Type", "text/event-stream");
    resp_free(&h);
}
END_TEST

START_TEST(test_method_not_allowed)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    const char *paths[] = {"/",        "/metrics", "/api/streams/latest", "/api/streams/cam1",
                           "/healthz", "/readyz",  "/api/streams/ws",     "/api/streams/events"};
    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        for (size_t k = 0; k < sizeof methods / sizeof methods[0]; k++) {
            resp r;
            request(&r, methods[k], paths[i], NULL);
            ck_assert_msg(r.status == 405, "%s %s: %ld", methods[k], paths[i], r.status);
            assert_header(&r, "Allow", "GET, HEAD");
            assert_header(&r, "X-Content-Type-Options", "nosniff");
            bool api = strncmp(paths[i], "/api/", 5) == 0;
            assert_header(&r, "Content-Type",
                          api ? "application/json" : "text/plain; charset=utf-8");
            resp_free(&r);
        }
    }
    /* A body sent with a refused method is not read; the answer still comes. */
    mxe_buf out = MXE_BUF_INIT;
    RAW("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    ck_assert_int_eq(raw_status(&out), 405);
    mxe_buf_free(&out);
    RAW("POST /api/streams/latest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n");
    ck_assert_int_eq(raw_status(&out), 405);
    ck_assert_ptr_nonnull(strstr(out.data, "Allow: GET, HEAD\r\n"));
    mxe_buf_free(&out);
    /* Case matters in methods (RFC 9110 9.1). */
    RAW("get /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(raw_status(&out), 405);
    mxe_buf_free(&out);
}
END_TEST

START_TEST(test_not_found)
{
    static const struct {
        const char *path, *ctype, *body;
    } cases[] = {
        {"/nope", "text/plain; charset=utf-8", "not found\n"},
        {"/metrics/", "text/plain; charset=utf-8", "not found\n"},
        {"/metrics%2F", "text/plain; charset=utf-8", "not found\n"},
        {"/healthz/x", "text/plain; charset=utf-8", "not found\n"},
        {"/api", "application/json", "{\"error\":\"not found\"}\n"},
        {"/api/", "application/json", "{\"error\":\"not found\"}\n"},
        {"/api/streams", "application/json", "{\"error\":\"not found\"}\n"},
        {"/api/v1/query", "application/json", "{\"error\":\"not found\"}\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resp r;
        request(&r, NULL, cases[i].path, NULL);
        assert_resp(&r, 404, cases[i].ctype, cases[i].body);
        resp_free(&r);
        /* unknown paths are 404 whatever the method */
        request(&r, "DELETE", cases[i].path, NULL);
        ck_assert_int_eq(r.status, 404);
        resp_free(&r);
    }
}
END_TEST

START_TEST(test_query_string_ignored)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    resp r;
    request(&r, NULL, "/metrics?format=json&x=%00&y=%zz", NULL);
    assert_resp(&r, 200, MXE_PROMETHEUS_CONTENT_TYPE, v->metrics[0][0][0].data);
    resp_free(&r);
    request(&r, NULL, "/healthz?", NULL);
    assert_resp(&r, 200, NULL, "ok\n");
    resp_free(&r);
    /* a huge query string still fits in the request limit or is refused cleanly */
    char *big = malloc(12000);
    ck_assert_ptr_nonnull(big);
    strcpy(big, "/healthz?q=");
    memset(big + 11, 'a', 10000);
    big[10011] = '\0';
    request(&r, NULL, big, NULL);
    assert_resp(&r, 200, NULL, "ok\n");
    resp_free(&r);
    free(big);
}
END_TEST

START_TEST(test_keep_alive)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    CURL *h = curl_easy_init();
    resp r;
    const char *paths[] = {"/metrics",          "/api/streams/latest",
                           "/api/streams/cam1", "/api/streams/nope",
                           "/healthz",          "/nope"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        request_on(h, &r, NULL, paths[i], NULL);
        ck_assert_msg(r.new_connections == (i == 0), "%s opened a new connection", paths[i]);
        resp_free(&r);
    }
    curl_easy_cleanup(h);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Bad input at the socket */

START_TEST(test_oversized_headers)
{
    mxe_buf req = MXE_BUF_INIT, out = MXE_BUF_INIT;
    /* 16 KiB of request line and headers in a handful of fields: served */
    mxe_buf_puts(&req, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ");
    while (req.len < 16 * 1024 - 4)
        mxe_buf_putc(&req, 'a');
    mxe_buf_puts(&req, "\r\n\r\n");
    ck_assert_uint_eq(req.len, 16 * 1024);
    raw_exchange(req.data, req.len, &out);
    ck_assert_int_eq(raw_status(&out), 200);
    mxe_buf_free(&out);
    /* 20 KB: 431 */
    mxe_buf_reset(&req);
    mxe_buf_puts(&req, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    while (req.len < 20000)
        mxe_buf_putc(&req, 'a');
    mxe_buf_puts(&req, "\r\n\r\n");
    raw_exchange(req.data, req.len, &out);
    ck_assert_int_eq(raw_status(&out), 431);
    mxe_buf_free(&out);
    /* the same spread over many fields */
    mxe_buf_reset(&req);
    mxe_buf_puts(&req, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; req.len < 20000; i++)
        mxe_buf_printf(&req, "X-H%d: %0100d\r\n", i, i);
    mxe_buf_puts(&req, "\r\n");
    raw_exchange(req.data, req.len, &out);
    ck_assert_int_eq(raw_status(&out), 431);
    mxe_buf_free(&out);
    mxe_buf_free(&req);
    /* the server is unaffected */
    resp r;
    request(&r, NULL, "/healthz", NULL);
    assert_resp(&r, 200, NULL, "ok\n");
    resp_free(&r);
}
END_TEST

/* A head of `fields` header fields in total (Host and Connection included) for `path`. */
static void head_with_fields(mxe_buf *req, const char *path, int fields)
{
    mxe_buf_reset(req);
    mxe_buf_printf(req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", path);
    for (int i = 2; i < fields; i++)
        mxe_buf_printf(req, "X-F%d: y\r\n", i);
    mxe_buf_puts(req, "\r\n");
}

/* The body after the blank line of a raw response (NULL without one). */
static const char *raw_body(const mxe_buf *b)
{
    const char *p = b->data ? strstr(b->data, "\r\n\r\n") : NULL;
    return p ? p + 4 : NULL;
}

/* The exporter's own limits (http.h): 100 header fields, a 16 KiB head, a 16 KiB target;
 * the answer comes with Connection: close, in JSON under /api. A query string, however
 * many parameters, costs nothing beyond its bytes. */
START_TEST(test_head_limits)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    mxe_buf req = MXE_BUF_INIT, out = MXE_BUF_INIT;

    head_with_fields(&req, "/healthz", MXE_HTTP_MAX_HEADER_FIELDS);
    raw_exchange(req.data, req.len, &out);
    ck_assert_int_eq(raw_status(&out), 200);
    mxe_buf_free(&out);
    head_with_fields(&req, "/healthz", MXE_HTTP_MAX_HEADER_FIELDS + 1);
    raw_exchange(req.data, req.len, &out);
    ck_assert_int_eq(raw_status(&out), 431);
    ck_assert_ptr_nonnull(strstr(out.data, "\r\nConnection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(out.data, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    ck_assert_str_eq(raw_body(&out), "request header fields too large\n");
    mxe_buf_free(&out);
    head_with_fields(&req, "/api/streams/latest", MXE_HTTP_MAX_HEADER_FIELDS + 1);
    raw_exchange(req.data, req.len, &out);
    ck_assert_int_eq(raw_status(&out), 431);
    ck_assert_str_eq(raw_body(&out), "{\"error\":\"request header fields too large\"}\n");
    mxe_buf_free(&out);

    /* 16,384 bytes of head: served; one more: 431 */
    for (int extra = 0; extra < 2; extra++) {
        mxe_buf_reset(&req);
        mxe_buf_puts(&req, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ");
        while (req.len < (size_t)MXE_HTTP_MAX_HEAD_BYTES + extra - 4)
            mxe_buf_putc(&req, 'a');
        mxe_buf_puts(&req, "\r\n\r\n");
        raw_exchange(req.data, req.len, &out);
        ck_assert_int_eq(raw_status(&out), extra ? 431 : 200);
        mxe_buf_free(&out);
    }

    /* a target of 16,384 bytes is not too long (but its head is); one more byte is */
    for (int extra = 0; extra < 2; extra++) {
        mxe_buf_reset(&req);
        mxe_buf_puts(&req, "GET /api/streams/latest?q=");
        while (req.len - 4 < (size_t)MXE_HTTP_MAX_TARGET + extra)
            mxe_buf_putc(&req, 'x');
        mxe_buf_puts(&req, " HTTP/1.1\r\nHost: x\r\n\r\n");
        raw_exchange(req.data, req.len, &out);
        ck_assert_int_eq(raw_status(&out), extra ? 414 : 431);
        if (extra)
            ck_assert_str_eq(raw_body(&out), "{\"error\":\"request target too long\"}\n");
        mxe_buf_free(&out);
    }

    /* Parameters: libmicrohttpd would keep ~64 bytes of bookkeeping for each (and lose its
     * own 431 when they exhaust the connection memory); they are dropped unread. */
    const char *params[] = {"a=1&", "&", "a&b=%zz&"};
    for (size_t k = 0; k < sizeof params / sizeof params[0]; k++) {
        mxe_buf_reset(&req);
        mxe_buf_puts(&req, "GET /healthz?");
        while (req.len < 16000)
            mxe_buf_puts(&req, params[k]);
        mxe_buf_puts(&req, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        raw_exchange(req.data, req.len, &out);
        ck_assert_msg(raw_status(&out) == 200, "%s: %d", params[k], raw_status(&out));
        ck_assert_str_eq(raw_body(&out), "ok\n");
        mxe_buf_free(&out);
    }
    mxe_buf_free(&req);
}
END_TEST

/* A head that fills the connection memory so tightly that no answer fits — here with empty
 * lines before the request line, which libmicrohttpd skips but keeps — still gets one: the
 * fallback 431 (text/plain, unlike libmicrohttpd's own HTML 431). Sweeping the empty lines
 * across the memory size finds that band; every request there gets an answer. */
START_TEST(test_head_fills_connection_memory)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    const char *tail = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    mxe_buf req = MXE_BUF_INIT;
    size_t fallbacks = 0, band = 0;
    for (size_t junk = MXE_HTTP_CONNECTION_MEMORY - 1024; junk < MXE_HTTP_CONNECTION_MEMORY + 256;
         junk += 4) {
        mxe_buf_reset(&req);
        for (size_t i = 0; i < junk; i += 2)
            mxe_buf_puts(&req, "\r\n");
        mxe_buf_puts(&req, tail);
        mxe_buf out = MXE_BUF_INIT;
        raw_exchange(req.data, req.len, &out);
        int st = raw_status(&out);
        ck_assert_msg(st == 200 || st == 414 || st == 431, "%zu empty-line bytes: no answer (%d)",
                      junk, st);
        if (st == 431 && strstr(out.data, "Content-Type: text/plain")) {
            ck_assert_str_eq(raw_body(&out), "request header fields too large\n");
            fallbacks++;
            band = junk;
        }
        mxe_buf_free(&out);
    }
    ck_assert_msg(fallbacks > 0, "the sweep never reached the band without room for an answer");
    /* HEAD in the band: the same answer without its body */
    mxe_buf_reset(&req);
    for (size_t i = 0; i < band; i += 2)
        mxe_buf_puts(&req, "\r\n");
    mxe_buf_puts(&req, "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    mxe_buf out = MXE_BUF_INIT;
    raw_exchange(req.data, req.len, &out);
    ck_assert_int_eq(raw_status(&out), 431);
    ck_assert_ptr_nonnull(strstr(out.data, "Content-Length: 32\r\n"));
    ck_assert_str_eq(raw_body(&out), "");
    mxe_buf_free(&out);
    mxe_buf_free(&req);
}
END_TEST

START_TEST(test_mhd_log_levels)
{
    static const char *const client[] = {
        "Error processing request (HTTP response code is 431 ('<html>...')). Closing connection.",
        "Not enough memory in pool to allocate header record!",
        "Closing connection (failed to create response header).",
        "Socket has been disconnected when reading request.",
        "Connection was closed by remote side with incomplete request.",
        "Failed to send the response body for the request for `/metrics'. Error: x",
        "Received HTTP/1.1 request without `Host' header.",
        "Error: received handshake message out of context.",
    };
    static const char *const server[] = {
        "Error accepting connection: Too many open files",
        "Server reached connection limit. Closing inbound connection.",
        "Failed to create a thread: Resource temporarily unavailable",
        "Call to epoll_ctl failed: Bad file descriptor",
        "Application reported internal error, closing connection.",
        "Detected system clock 6000 milliseconds jump back.",
        "something libmicrohttpd may say one day",
    };
    for (size_t i = 0; i < sizeof client / sizeof client[0]; i++)
        ck_assert_msg(mxe_http_log_level_of(client[i]) == MXE_LOG_DEBUG, "%s", client[i]);
    for (size_t i = 0; i < sizeof server / sizeof server[0]; i++)
        ck_assert_msg(mxe_http_log_level_of(server[i]) == MXE_LOG_WARN, "%s", server[i]);
}
END_TEST

START_TEST(test_bad_paths)
{
    mxe_view *v = make_view(true, 0);
    mxe_hub_publish(&hub, v);
    static const struct {
        const char *req;
        size_t len;
        int status;
    } cases[] = {
#define C(lit, st) {lit, sizeof(lit) - 1, st}
        C("GET /api/streams/a%00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /api/streams/a%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /api/streams/a% HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /api/streams/a%4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /metrics%0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        /* raw NUL bytes inside the target */
        C("GET /metrics\0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /api/streams/cam1\0junk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /api/streams/c%61m1\0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /api/streams/a\0%2F HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /healthz\0?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        /* only '?' ends the path: after a '#' escapes are still checked, and the '#' is
         * part of the path that is looked up */
        C("GET /api/streams/a#%00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /api/streams/a#%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        C("GET /metrics#x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
        C("GET /api/streams/cam1#\0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        /* a raw NUL, then a query: still the NUL's 400 */
        C("GET /healthz\0x?a=1&b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
        /* control bytes are just bytes of a path that does not exist */
        C("GET /api/streams/a\x01\x7f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
        C("GET /api/streams/a%01 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
        /* what MHD itself refuses */
        C("GET /healthz\r\n\r\n", 400),
        C("\0\0\0\0 / HTTP/1.1\r\nConnection: close\r\n\r\n", 400), /* empty method */
        C("G\0T / HTTP/1.1\r\nConnection: close\r\n\r\n", 405),
#undef C
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mxe_buf out = MXE_BUF_INIT;
        raw_exchange(cases[i].req, cases[i].len, &out);
        int st = raw_status(&out);
        if (cases[i].status)
            ck_assert_msg(st == cases[i].status, "case %zu: %d\n%s", i, st, out.data);
        else
            ck_assert_msg(st == 0 || st == 400 || st == 404 || st == 405, "case %zu: %d", i, st);
        mxe_buf_free(&out);
    }
    resp r;
    request(&r, NULL, "/api/streams/cam1", NULL);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Listening */

START_TEST(test_port_taken)
{
    mxe_config c;
    default_config(&c);
    c.listen_port = mxe_http_port(srv);
    char err[256] = "", want[256];
    mxe_http *other = mxe_http_start(&c, &hub, err, sizeof err);
    ck_assert_ptr_null(other);
    snprintf(want, sizeof want, "listen 127.0.0.1:%d: Address already in use", c.listen_port);
    ck_assert_str_eq(err, want);

    c.listen_address = "127.0.0.1:9977x";
    c.listen_host = "no-such-host.invalid";
    other = mxe_http_start(&c, &hub, err, sizeof err);
    ck_assert_ptr_null(other);
    ck_assert_msg(strncmp(err, "listen 127.0.0.1:9977x: ", 24) == 0, "%s", err);
}
END_TEST

/* The signal mask of thread `tid` of this process, from /proc. */
static unsigned long long blocked_signals(const char *tid)
{
    char path[128], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
    FILE *f = fopen(path, "r");
    unsigned long long mask = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "SigBlk: %llx", &mask) == 1)
            break;
    fclose(f);
    return mask;
}

/* MHD's threads block SIGTERM, SIGINT and SIGPIPE; the starting thread's mask is restored. */
START_TEST(test_signal_masks)
{
    const unsigned long long want =
        (1ull << (SIGTERM - 1)) | (1ull << (SIGINT - 1)) | (1ull << (SIGPIPE - 1));
    char self[32];
    snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
    ck_assert_uint_eq(blocked_signals(self) & want, 0);
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int others = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, self) == 0)
            continue;
        others++;
        ck_assert_msg((blocked_signals(e->d_name) & want) == want, "thread %s: %llx", e->d_name,
                      blocked_signals(e->d_name));
    }
    closedir(d);
    ck_assert_int_ge(others, 1);
}
END_TEST

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Starting and stopping, and failing to start, leave no descriptor behind. */
START_TEST(test_no_fd_leak)
{
    int before = count_fds();
    for (int i = 0; i < 5; i++) {
        mxe_config c;
        default_config(&c);
        char err[256] = "";
        mxe_http *h = mxe_http_start(&c, &hub, err, sizeof err);
        ck_assert_msg(h != NULL, "%s", err);
        mxe_http_stop(h);
        c.listen_port = mxe_http_port(srv);
        ck_assert_ptr_null(mxe_http_start(&c, &hub, err, sizeof err));
    }
    ck_assert_int_eq(count_fds(), before);
}
END_TEST

static bool ipv6_loopback_works(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static long get_status_url(const char *url)
{
    CURL *h = curl_easy_init();
    resp r;
    memset(&r, 0, sizeof r);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    mxe_buf_free(&r.body);
    return status;
}

/* A port P with 127.0.0.1:P and (with IPv6) [::1]:P both bound by us, not listening:
 * connections to them are refused, and nobody else can listen there. *fd4, *fd6 (-1
 * without IPv6) hold them; P is returned. */
static int reserve_port(bool v6, int *fd4, int *fd6)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        *fd4 = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(*fd4, 0);
        struct sockaddr_in a4 = {.sin_family = AF_INET};
        a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a4;
        ck_assert_int_eq(bind(*fd4, (struct sockaddr *)&a4, sizeof a4), 0);
        ck_assert_int_eq(getsockname(*fd4, (struct sockaddr *)&a4, &len), 0);
        int port = ntohs(a4.sin_port);
        *fd6 = -1;
        if (!v6)
            return port;
        *fd6 = socket(AF_INET6, SOCK_STREAM, 0);
        ck_assert_int_ge(*fd6, 0);
        int on = 1;
        setsockopt(*fd6, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
                                  .sin6_addr = IN6ADDR_LOOPBACK_INIT,
                                  .sin6_port = htons((uint16_t)port)};
        if (bind(*fd6, (struct sockaddr *)&a6, sizeof a6) == 0)
            return port;
        close(*fd6);
        close(*fd4);
    }
    ck_abort_msg("no port free on both 127.0.0.1 and ::1");
    return -1;
}

START_TEST(test_listen_variants)
{
    bool v6 = ipv6_loopback_works();
    /* What answers afterwards on 127.0.0.1 and on ::1: 1 answers, 0 refused. */
    struct {
        const char *host;
        bool need_v6;
        int v4, v6;
    } cases[] = {
        {NULL, false, 1, 1}, /* all interfaces, one dual-stack socket */
        {"127.0.0.1", false, 1, 0},
        {"::1", true, 0, 1},
        {"[::1]", true, 0, 1},
        /* A name: its first IPv4 address, as Go's net.Listen does, even when getaddrinfo
         * lists ::1 first (as for "localhost" on a stock Debian); one socket only. */
        {"localhost", false, 1, 0},
        {"dual.mxe-test", true, 1, 0},
        /* no IPv4 address: the first address */
        {"v6.mxe-test", true, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].need_v6 && !v6)
            continue;
        const char *name = cases[i].host ? cases[i].host : "(all)";
        /* The port is held on both loopback addresses; the server gets the ones it is
         * expected to listen on, so the others refuse for certain (no other socket of this
         * or another process can be listening there with the same number). */
        int fd4, fd6;
        int port = reserve_port(v6, &fd4, &fd6);
        if (cases[i].v4 || !v6) {
            close(fd4);
            fd4 = -1;
        }
        if (fd6 >= 0 && cases[i].v6) {
            close(fd6);
            fd6 = -1;
        }
        mxe_config c;
        default_config(&c);
        c.listen_host = (char *)cases[i].host;
        c.listen_port = port;
        char err[256] = "";
        mxe_http *h = mxe_http_start(&c, &hub, err, sizeof err);
        ck_assert_msg(h != NULL, "%s: %s", name, err);
        ck_assert_int_eq(mxe_http_port(h), port);
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
        ck_assert_msg(get_status_url(url) == (cases[i].v4 ? 200 : 0), "%s via 127.0.0.1", name);
        if (v6) {
            snprintf(url, sizeof url, "http://[::1]:%d/healthz", port);
            ck_assert_msg(get_status_url(url) == (cases[i].v6 ? 200 : 0), "%s via ::1", name);
        }
        mxe_http_stop(h);
        if (fd4 >= 0)
            close(fd4);
        if (fd6 >= 0)
            close(fd6);
    }
}
END_TEST

/* A name whose IPv4 address has the port taken is an error, not a silent listen on its
 * IPv6 address (which would leave http://127.0.0.1:PORT answered by someone else). */
START_TEST(test_listen_name_port_taken)
{
    if (!ipv6_loopback_works())
        return;
    mxe_config c;
    default_config(&c);
    c.listen_host = "dual.mxe-test";
    c.listen_port = mxe_http_port(srv); /* srv listens on 127.0.0.1 */
    char err[256] = "", want[256];
    ck_assert_ptr_null(mxe_http_start(&c, &hub, err, sizeof err));
    snprintf(want, sizeof want, "listen dual.mxe-test:%d: Address already in use", c.listen_port);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_limits)
{
    /* a server of its own with a per-IP limit of 2 and a 1 s connection timeout */
    mxe_http_stop(srv);
    default_config(&cfg);
    cfg.web_max_connections_per_ip = 2;
    cfg.web_connection_timeout_s = 1;
    char err[256] = "";
    srv = mxe_http_start(&cfg, &hub, err, sizeof err);
    ck_assert_msg(srv != NULL, "%s", err);

    int a = raw_connect(), b = raw_connect();
    usleep(200000);
    int c = raw_connect(); /* accepted by the kernel, closed by MHD at once */
    char buf[64];
    struct pollfd p = {c, POLLIN, 0};
    ck_assert_int_eq(poll(&p, 1, 2000), 1);
    ck_assert_int_le(recv(c, buf, sizeof buf, 0), 0);
    close(c);

    /* a half-sent request is dropped after the timeout */
    send_all(a, "GET /healthz HTTP/1.1\r\n", 23);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    p.fd = a;
    ck_assert_int_eq(poll(&p, 1, 8000), 1);
    ck_assert_int_le(recv(a, buf, sizeof buf, 0), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(waited > 0.5 && waited < 6.0, "closed after %.2f s", waited);
    close(a);
    close(b);
    usleep(300000);
    resp r;
    request(&r, NULL, "/healthz", NULL);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* View lifetimes */

static unsigned refs_of(mxe_view *v)
{
    return atomic_load(&v->refs);
}

/* Wait up to 10 s for `v` to be held by `want` references. */
static bool wait_refs(mxe_view *v, unsigned want)
{
    for (int i = 0; i < 1000; i++) {
        if (refs_of(v) == want)
            return true;
        usleep(10000);
    }
    return false;
}

/* A large /metrics response stays in flight (the client reads nothing) while the poll
 * loop publishes a new view: the old view lives until the response is finished, its
 * bytes arrive intact, the new view serves the next request, and each reference is
 * released exactly once. */
START_TEST(test_view_replaced_in_flight)
{
    mxe_view *a = make_view(true, 8 << 20);
    mxe_view_ref(a); /* the test's own reference, to watch the count */
    mxe_hub_publish(&hub, a);
    ck_assert_uint_eq(refs_of(a), 2);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)mxe_http_port(srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    ck_assert_msg(wait_refs(a, 3), "the response holds no reference: %u", refs_of(a));

    mxe_view *b = make_view(true, 0);
    mxe_hub_publish(&hub, b);         /* the hub drops its reference to a */
    ck_assert_uint_eq(refs_of(a), 2); /* the test's and the response's */
    resp r;
    request(&r, NULL, "/metrics", NULL);
    assert_resp(&r, 200, NULL, b->metrics[0][0][0].data);
    resp_free(&r);

    mxe_buf out = MXE_BUF_INIT;
    recv_all(fd, &out);
    close(fd);
    const mxe_buf *want = &a->metrics[0][MXE_VARIANT_LIVE][MXE_ENC_IDENTITY];
    const char *body = strstr(out.data, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    body += 4;
    ck_assert_uint_eq(out.len - (size_t)(body - out.data), want->len);
    ck_assert(memcmp(body, want->data, want->len) == 0);
    mxe_buf_free(&out);
    ck_assert_msg(wait_refs(a, 1), "still %u references", refs_of(a));
    mxe_view_unref(a);
}
END_TEST

/* Stopping the server with a response in flight releases its reference. */
START_TEST(test_stop_with_response_in_flight)
{
    mxe_view *a = make_view(true, 8 << 20);
    mxe_view_ref(a);
    mxe_hub_publish(&hub, a);
    int fd = raw_connect();
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    ck_assert(wait_refs(a, 3));
    mxe_http_stop(srv);
    srv = NULL;
    ck_assert_uint_eq(refs_of(a), 2);
    close(fd);
    mxe_view_unref(a);
    /* teardown stops a NULL server */
}
END_TEST

typedef struct hammer {
    int port;
    int fails;
} hammer;

static void *hammer_thread(void *arg)
{
    hammer *hm = arg;
    CURL *h = curl_easy_init();
    const char *paths[] = {"/metrics", "/api/streams/latest", "/api/streams/cam1", "/readyz"};
    for (int i = 0; i < 40; i++) {
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", hm->port, paths[i % 4]);
        mxe_buf body = MXE_BUF_INIT;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
        long status = 0;
        if (curl_easy_perform(h) != CURLE_OK)
            hm->fails++;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
            hm->fails++;
        mxe_buf_free(&body);
    }
    curl_easy_cleanup(h);
    return NULL;
}

/* Concurrent clients while views are swapped underneath them. */
START_TEST(test_concurrent_publish)
{
    mxe_hub_publish(&hub, make_view(true, 64 << 10));
    enum { N = 4 };
    pthread_t t[N];
    hammer hm[N];
    for (int i = 0; i < N; i++) {
        hm[i] = (hammer){mxe_http_port(srv), 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_thread, &hm[i]), 0);
    }
    for (int i = 0; i < 30; i++) {
        mxe_hub_publish(&hub, make_view(true, 64 << 10));
        usleep(5000);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(hm[i].fails, 0);
    }
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("server");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_healthz_and_index);
    tcase_add_test(tc, test_before_first_publish);
    tcase_add_test(tc, test_no_successful_poll_yet);
    tcase_add_test(tc, test_readyz);
    tcase_add_test(tc, test_metrics_formats);
    tcase_add_test(tc, test_metrics_accept_lines);
    tcase_add_test(tc, test_metrics_gzip_negotiation);
    tcase_add_test(tc, test_metrics_gzip_missing_falls_back);
    tcase_add_test(tc, test_metrics_stale);
    tcase_add_test(tc, test_latest);
    tcase_add_test(tc, test_latest_conditional);
    tcase_add_test(tc, test_stream_record);
    tcase_add_test(tc, test_stream_not_found);
    tcase_add_test(tc, test_head_everywhere);
    tcase_add_test(tc, test_method_not_allowed);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_query_string_ignored);
    tcase_add_test(tc, test_keep_alive);
    tcase_add_test(tc, test_oversized_headers);
    tcase_add_test(tc, test_head_limits);
    tcase_add_test(tc, test_head_fills_connection_memory);
    tcase_add_test(tc, test_mhd_log_levels);
    tcase_add_test(tc, test_bad_paths);
    tcase_add_test(tc, test_port_taken);
    tcase_add_test(tc, test_listen_variants);
    tcase_add_test(tc, test_listen_name_port_taken);
    tcase_add_test(tc, test_no_fd_leak);
    tcase_add_test(tc, test_signal_masks);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_view_replaced_in_flight);
    tcase_add_test(tc, test_stop_with_response_in_flight);
    tcase_add_test(tc, test_concurrent_publish);
    suite_add_tcase(s, tc);
    int rc = run_suite(s);
    curl_global_cleanup();
    return rc;
}
