/* libFuzzer target: raw request bytes → the real HTTP server (http.c on libmicrohttpd).
 *
 * One server runs for the whole fuzzing process on 127.0.0.1 with an ephemeral port,
 * serving a hub whose view holds a snapshot of a few streams (names with '/', spaces,
 * quotes, UTF-8) and pre-rendered /metrics bodies, as the poll loop would leave it. Each
 * input is sent over a fresh loopback connection (with "\r\n\r\n" appended when it has
 * none, so that most inputs are whole requests that reach http.c), the write side is shut,
 * and the answer read until the server closes or falls silent. Properties:
 *  - whatever was sent, the exchange ends within 5 s (the server reads, answers or closes;
 *    an open keep-alive connection is left once the server has been silent for 20 ms);
 *  - an answer, if any, starts with a valid status line and its status is one of those
 *    the routes or libmicrohttpd give for a request (never 500);
 *  - every 64 inputs, and at the end, GET /healthz still answers 200: nothing sent can
 *    wedge the daemon;
 *  - the live feeds take part as in production (a subscriber limit of 8): a WebSocket
 *    handshake may get 101 (with its Sec-WebSocket-Accept) or 426, either feed 503 only with
 *    the subscriber limit's own message. Every 64 inputs a new snapshot is published, as
 *    a poll cycle would, so that SSE streams whose client has gone are noticed and end
 *    (the next write fails) and free their slots;
 *  - no crash, leak or out-of-bounds access in any server thread (ASan aborts the process).
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "collect.h"
#include "config.h"
#include "expo.h"
#include "fuzz_util.h"
#include "gzip.h"
#include "http.h"
#include "log.h"
#include "snapshot.h"

#define DEADLINE_MS        5000 /* one exchange, however large the answer */
#define FIRST_BYTE_MS      250  /* the server answers from memory: ample even under ASan */
#define IDLE_AFTER_DATA_MS 20
#define MAX_ANSWER         (4u << 20)

static const char paths_page[] =
    "{\"pageCount\":1,\"itemCount\":4,\"items\":["
    "{\"name\":\"cam/lobby\",\"source\":{\"type\":\"rtspSession\",\"id\":\"r1\"},"
    "\"available\":true,\"tracks2\":[{\"codec\":\"H264\"}],\"inboundBytes\":123,"
    "\"outboundBytes\":456,\"readers\":[{\"type\":\"hlsMuxer\",\"id\":\"h\"}]},"
    "{\"name\":\"q\\\"uote\",\"source\":null,\"available\":false,\"tracks2\":[],"
    "\"inboundBytes\":0,\"outboundBytes\":0,\"readers\":[]},"
    "{\"name\":\"sport\",\"source\":{\"type\":\"srtConn\",\"id\":\"s1\"},\"available\":true,"
    "\"tracks2\":[{\"codec\":\"H265\"}],\"inboundBytes\":18446744073709551615,"
    "\"outboundBytes\":1,\"readers\":[]},"
    "{\"name\":\"with space/\\u00fc\",\"source\":null,\"available\":false,\"tracks2\":[],"
    "\"inboundBytes\":0,\"outboundBytes\":0,\"readers\":[]}]}";
static const char srt_page[] = "{\"pageCount\":1,\"itemCount\":1,\"items\":[{\"id\":\"s1\","
                               "\"msRTT\":0.36,\"mbpsReceiveRate\":1.94,"
                               "\"mbpsLinkCapacity\":1808.58,\"packetsReceivedLoss\":3}]}";

static mxe_hub hub;
static mxe_http *server;
static int port;
static unsigned long inputs;

static mxe_view *build_view(uint64_t seq)
{
    mxe_collect c = MXE_COLLECT_INIT;
    char err[256];
    uint64_t pages;
    FZ_ASSERT(
        mxe_collect_paths_page(&c, paths_page, sizeof paths_page - 1, &pages, err, sizeof err) == 0,
        "paths fixture: %s", err);
    FZ_ASSERT(mxe_collect_srt_page(&c, srt_page, sizeof srt_page - 1, &pages, err, sizeof err) == 0,
              "srt fixture: %s", err);
    mxe_streams s = {0};
    FZ_ASSERT(mxe_collect_finish(&c, &s) == 0, "finish");
    mxe_collect_free(&c);
    int64_t now = mxe_now_mono_ms();
    mxe_snapshot *snap = mxe_snapshot_new(&s, seq, mxe_now_unix(), now);
    FZ_ASSERT(snap, "snapshot");
    mxe_view *v = mxe_view_new();
    FZ_ASSERT(v, "view");
    v->cycle = seq;
    v->snap = snap;
    v->last_poll_ok = true;
    v->last_success_mono_ms = now;
    v->stale_after_ms = INT64_C(1) << 50; /* never stale while fuzzing */
    mxe_exporter_stats st = {.up = true, .polls_total = 1, .poll_interval_s = 2};
    for (int fmt = 0; fmt < 2; fmt++) {
        for (int var = 0; var < 2; var++) {
            mxe_buf *plain = &v->metrics[fmt][var][MXE_ENC_IDENTITY];
            FZ_ASSERT(mxe_expo_render(plain, (mxe_expo_format)fmt,
                                      var == MXE_VARIANT_LIVE ? &snap->streams : NULL, &st,
                                      NULL) == 0,
                      "render");
            FZ_ASSERT(
                mxe_gzip(plain->data, plain->len, &v->metrics[fmt][var][MXE_ENC_GZIP], NULL) == 0,
                "gzip");
        }
    }
    return v;
}

static void stop_server(void)
{
    mxe_http_stop(server);
    mxe_hub_destroy(&hub);
}

static void start_server(void)
{
    mxe_log_setup(MXE_LOG_ERROR, MXE_LOG_TEXT); /* libmicrohttpd's complaints are expected */
    FZ_ASSERT(mxe_hub_init(&hub) == 0, "hub");
    mxe_hub_publish(&hub, build_view(1));
    static mxe_config cfg;
    cfg.listen_host = "127.0.0.1";
    cfg.listen_port = 0;
    cfg.web_max_connections = 64;
    cfg.web_max_connections_per_ip = 0;
    cfg.web_connection_timeout_s = 2;
    /* Without subscribers every feed request would be refused (503, or 426 before it). */
    cfg.web_max_subscribers = 8;
    cfg.web_subscriber_stall_timeout_s = 2;
    char err[256] = "";
    server = mxe_http_start(&cfg, &hub, err, sizeof err);
    FZ_ASSERT(server, "cannot start the server: %s", err);
    port = mxe_http_port(server);
    atexit(stop_server);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send `req`, shut the write side and read the answer: until the server closes, or until
 * it has been silent for a moment (libmicrohttpd keeps an answered keep-alive connection
 * open, sometimes past a half-close, until its connection timeout). The connection is
 * then reset, as a client that vanishes would do, which leaves no TIME_WAIT behind.
 * Returns the answer's length; *out is malloc'd. */
static size_t exchange(const uint8_t *req, size_t n, char **out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FZ_ASSERT(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int64_t deadline = now_ms() + DEADLINE_MS;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        /* libFuzzer's timers interrupt system calls: a connect cut short by EINTR goes on in
         * the background, and its outcome is read from SO_ERROR once it is writable. */
        FZ_ASSERT(errno == EINTR, "connect: %s", strerror(errno));
        struct pollfd pfd = {fd, POLLOUT, 0};
        while (poll(&pfd, 1, 100) <= 0)
            FZ_ASSERT(now_ms() < deadline, "connect did not complete");
        int e = 0;
        socklen_t el = sizeof e;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        FZ_ASSERT(e == 0, "connect: %s", strerror(e));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    size_t sent = 0;
    /* The server may answer (431, 400) and close before it read everything: stop then. */
    while (sent < n) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int left = (int)(deadline - now_ms());
        FZ_ASSERT(left > 0, "server stopped reading for %d ms", DEADLINE_MS);
        if (poll(&pfd, 1, left) <= 0)
            continue;
        ssize_t w = send(fd, req + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w < 0)
            break; /* EPIPE / ECONNRESET: the server is done with us */
        sent += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    FZ_ASSERT(buf, "out of memory");
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int left = (int)(deadline - now_ms());
        FZ_ASSERT(left > 0, "answer still coming after %d ms", DEADLINE_MS);
        int wait = len ? IDLE_AFTER_DATA_MS : FIRST_BYTE_MS;
        int pr = poll(&pfd, 1, wait < left ? wait : left);
        if (pr == 0 && wait < left)
            break; /* silent: answered (or nothing to say) and kept alive */
        if (pr <= 0)
            continue;
        if (len == cap) {
            FZ_ASSERT(cap < MAX_ANSWER, "answer larger than %u bytes", MAX_ANSWER);
            cap *= 2;
            buf = realloc(buf, cap);
            FZ_ASSERT(buf, "out of memory");
        }
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* closed (or reset after the server gave up on a huge request) */
        len += (size_t)r;
    }
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    *out = buf;
    return len;
}

static int status_of(const char *p, size_t n)
{
    if (n < 12 || (memcmp(p, "HTTP/1.1 ", 9) != 0 && memcmp(p, "HTTP/1.0 ", 9) != 0))
        return -1;
    int s = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        s = s * 10 + (p[i] - '0');
    }
    return s;
}

static bool has(const char *p, size_t n, const char *lit)
{
    return memmem(p, n, lit, strlen(lit)) != NULL;
}

static void check_answer(const char *p, size_t n)
{
    if (n == 0)
        return; /* libmicrohttpd may close on garbage without a word */
    int s = status_of(p, n);
    FZ_ASSERT(s > 0, "answer without a status line: %.*s", (int)(n > 80 ? 80 : n), p);
    static const int allowed[] = {101, 200, 304, 400, 404, 405, 411, 413,
                                  414, 417, 426, 431, 501, 503, 505};
    bool ok = false;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        ok |= s == allowed[i];
    FZ_ASSERT(ok, "unexpected status %d", s);
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    FZ_ASSERT(end != NULL, "answer without the end of its headers");
    size_t head = (size_t)(end - p) + 4;
    /* the statuses only the live feeds give, each with what only they send */
    if (s == 101)
        FZ_ASSERT(has(p, head, "\r\nSec-WebSocket-Accept: "), "101 without Sec-WebSocket-Accept");
    if (s == 426)
        FZ_ASSERT(has(p, head, "\r\nUpgrade: websocket\r\n") ||
                      has(p, head, "\r\nSec-WebSocket-Version: 13\r\n"),
                  "426 without Upgrade or Sec-WebSocket-Version");
    if (s == 503) /* no body for HEAD: the header says it */
        FZ_ASSERT(
            has(p, head, "\r\nRetry-After: 2\r\n") &&
                (n == head || has(p + head, n - head, "{\"error\":\"too many subscribers\"}")),
            "503 other than the subscriber limit");
}

static void check_alive(void)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *ans;
    size_t n = exchange((const uint8_t *)req, sizeof req - 1, &ans);
    FZ_ASSERT(status_of(ans, n) == 200, "the server stopped answering /healthz");
    free(ans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!server)
        start_server();
    /* The request's header block is ended for the fuzzer when it did not do so: a request
     * left open only waits for the connection timeout inside libmicrohttpd, which never
     * reaches http.c (slow clients are the integration tests' business). */
    uint8_t *req = malloc(size + 4);
    FZ_ASSERT(req, "out of memory");
    memcpy(req, data, size);
    size_t n = size;
    if (!memmem(data, size, "\r\n\r\n", 4)) {
        memcpy(req + n, "\r\n\r\n", 4);
        n += 4;
    }
    char *ans;
    size_t alen = exchange(req, n, &ans);
    check_answer(ans, alen);
    free(ans);
    free(req);
    if (++inputs % 64 == 0) {
        check_alive();
        mxe_hub_publish(&hub, build_view(1 + inputs / 64));
    }
    return 0;
}
