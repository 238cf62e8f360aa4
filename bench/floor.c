/* mxe-bench-floor: the physical limit of one poll cycle, for ci/bench.
 *
 * Does what any client of the MediaMTX API must do to read what the exporter reads, and
 * nothing else: fetch every page of /v3/paths/list and /v3/srtconns/list (the same page
 * size as the exporter, following pageCount) and /v3/info, over one reused libcurl handle
 * (one keep-alive connection), and tokenize each body once with jsmn built the same way as
 * the exporter's (parent links, strict). No validation, no records, no output.
 *
 * Usage: mxe-bench-floor URL CYCLES [INTERVAL_MS]
 * Runs one warm-up cycle, then CYCLES measured ones INTERVAL_MS apart (default 0: back to
 * back), and prints one JSON object: medians and means per cycle of the process CPU time
 * (CLOCK_PROCESS_CPUTIME_ID; the program has one thread), split into fetch and tokenize,
 * wall time, requests, bytes, tokens, and the TCP connections opened in all.
 * Exit status 0, or 1 when a request fails or a body does not tokenize. */
#define JSMN_PARENT_LINKS
#define JSMN_STRICT
#define JSMN_STATIC
#include <jsmn.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_poll.h" /* MXE_POLL_PAGE_SIZE: the exporter's page size */

typedef struct body {
    char *data;
    size_t len, cap;
} body;

typedef struct floor_ctx {
    CURL *curl;
    const char *base;
    body b;
    jsmntok_t *tok;
    unsigned ntok;
    /* per cycle */
    uint64_t fetch_ns, tokenize_ns, requests, bytes, tokens;
} floor_ctx;

static int64_t now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    body *b = ud;
    size_t len = size * n;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    return len;
}

/* GET base+pq into c->b; the HTTP status, or -1. */
static long get(floor_ctx *c, const char *pq)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", c->base, pq);
    c->b.len = 0;
    int64_t t0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    CURLcode rc = curl_easy_perform(c->curl);
    c->fetch_ns += (uint64_t)(now_ns(CLOCK_PROCESS_CPUTIME_ID) - t0);
    c->requests++;
    if (rc != CURLE_OK) {
        fprintf(stderr, "floor: GET %s: %s\n", url, curl_easy_strerror(rc));
        return -1;
    }
    c->bytes += c->b.len;
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* Tokenize c->b once; the number of tokens, or -1. The token array grows by resuming the
 * parse (jsmn keeps its position), as the jsmn documentation suggests. */
static int tokenize(floor_ctx *c)
{
    int64_t t0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    jsmn_parser p;
    jsmn_init(&p);
    int n;
    if (!c->tok) { /* jsmn only counts when given no array */
        c->ntok = 4096;
        if (!(c->tok = malloc(c->ntok * sizeof *c->tok)))
            return -1;
    }
    for (;;) {
        n = jsmn_parse(&p, c->b.data, c->b.len, c->tok, c->ntok);
        if (n != JSMN_ERROR_NOMEM)
            break;
        unsigned cap = c->ntok * 2;
        jsmntok_t *t = realloc(c->tok, cap * sizeof *t);
        if (!t)
            return -1;
        c->tok = t;
        c->ntok = cap;
    }
    c->tokenize_ns += (uint64_t)(now_ns(CLOCK_PROCESS_CPUTIME_ID) - t0);
    if (n > 0)
        c->tokens += (uint64_t)n;
    return n;
}

/* pageCount of a tokenized list page: a direct child key of the root object. */
static long page_count(const floor_ctx *c, int n)
{
    for (int i = 1; i + 1 < n; i++) {
        const jsmntok_t *t = &c->tok[i];
        if (t->parent == 0 && t->type == JSMN_STRING && t->end - t->start == 9 &&
            memcmp(c->b.data + t->start, "pageCount", 9) == 0)
            return strtol(c->b.data + c->tok[i + 1].start, NULL, 10);
    }
    return -1;
}

static int fetch_list(floor_ctx *c, const char *endpoint, int optional)
{
    long pages = 1;
    for (long page = 0; page < pages; page++) {
        char pq[160];
        snprintf(pq, sizeof pq, "%s?itemsPerPage=%d&page=%ld", endpoint, MXE_POLL_PAGE_SIZE, page);
        long status = get(c, pq);
        if (status == 404 && page == 0 && optional)
            return 0;
        if (status != 200) {
            fprintf(stderr, "floor: GET %s: status %ld\n", pq, status);
            return -1;
        }
        int n = tokenize(c);
        if (n <= 0) {
            fprintf(stderr, "floor: GET %s: jsmn error %d\n", pq, n);
            return -1;
        }
        pages = page_count(c, n);
        if (pages < 0) {
            fprintf(stderr, "floor: GET %s: no pageCount\n", pq);
            return -1;
        }
    }
    return 0;
}

static int cycle(floor_ctx *c)
{
    if (fetch_list(c, "/v3/paths/list", 0) != 0 || fetch_list(c, "/v3/srtconns/list", 1) != 0)
        return -1;
    long status = get(c, "/v3/info");
    if (status == 200 && tokenize(c) <= 0)
        return -1;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_ms(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    double m = n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
    return m / 1e6;
}

static double mean_ms(const uint64_t *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i];
    return s / n / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s URL CYCLES [INTERVAL_MS]\n", argv[0]);
        return 2;
    }
    int cycles = atoi(argv[2]);
    long interval_ms = argc > 3 ? atol(argv[3]) : 0;
    if (cycles < 1 || cycles > 100000 || interval_ms < 0) {
        fprintf(stderr, "floor: bad CYCLES or INTERVAL_MS\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    floor_ctx c = {0};
    c.base = argv[1];
    c.curl = curl_easy_init();
    if (!c.curl)
        return 1;
    curl_easy_setopt(c.curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c.curl, CURLOPT_WRITEDATA, &c.b);
    curl_easy_setopt(c.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.curl, CURLOPT_TCP_KEEPALIVE, 1L);

    uint64_t *cpu = calloc((size_t)cycles, sizeof *cpu),
             *wall = calloc((size_t)cycles, sizeof *wall);
    uint64_t *fetch = calloc((size_t)cycles, sizeof *fetch);
    uint64_t *tokn = calloc((size_t)cycles, sizeof *tokn);
    if (!cpu || !wall || !fetch || !tokn)
        return 1;
    uint64_t requests = 0, bytes = 0, tokens = 0;
    for (int i = -1; i < cycles; i++) { /* cycle -1 warms up: connection, buffers, tokens */
        c.fetch_ns = c.tokenize_ns = c.requests = c.bytes = c.tokens = 0;
        int64_t c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);
        if (cycle(&c) != 0)
            return 1;
        int64_t c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID), w1 = now_ns(CLOCK_MONOTONIC);
        if (i >= 0) {
            cpu[i] = (uint64_t)(c1 - c0);
            wall[i] = (uint64_t)(w1 - w0);
            fetch[i] = c.fetch_ns;
            tokn[i] = c.tokenize_ns;
            requests = c.requests;
            bytes = c.bytes;
            tokens = c.tokens;
        }
        if (interval_ms > 0 && i + 1 < cycles) {
            struct timespec ts = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    long conns = 0;
    curl_easy_getinfo(c.curl, CURLINFO_NUM_CONNECTS, &conns); /* of the last transfer */
    printf("{\"cycles\":%d,\"cpu_ms_median\":%.3f,\"cpu_ms_mean\":%.3f,"
           "\"fetch_cpu_ms_median\":%.3f,\"tokenize_cpu_ms_median\":%.3f,"
           "\"wall_ms_median\":%.3f,\"requests\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"tokens\":%" PRIu64 ",\"new_connections_last_request\":%ld}\n",
           cycles, median_ms(cpu, cycles), mean_ms(cpu, cycles), median_ms(fetch, cycles),
           median_ms(tokn, cycles), median_ms(wall, cycles), requests, bytes, tokens, conns);
    curl_easy_cleanup(c.curl);
    free(c.b.data);
    free(c.tok);
    free(cpu);
    free(wall);
    free(fetch);
    free(tokn);
    curl_global_cleanup();
    return 0;
}
