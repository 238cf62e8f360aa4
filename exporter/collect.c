/* MediaMTX answers → stream records; see collect.h. */
#include "collect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a list page's items are, after checking the envelope. */
static int open_page(mxe_json *j, const char *body, size_t len, uint64_t *page_count, int *items,
                     char *err, size_t errlen)
{
    if (mxe_json_parse(j, body, len, err, errlen) != 0)
        return -1;
    if (mxe_json_type_of(j, 0) != MXE_JSON_OBJECT) {
        snprintf(err, errlen, "list answer is not a JSON object");
        return -1;
    }
    int pc = mxe_json_get(j, 0, "pageCount");
    if (pc < 0 || mxe_json_u64(j, pc, page_count) != 0) {
        snprintf(err, errlen, "list answer has no valid pageCount");
        return -1;
    }
    *items = mxe_json_get(j, 0, "items");
    if (*items < 0 || mxe_json_type_of(j, *items) != MXE_JSON_ARRAY) {
        snprintf(err, errlen, "list answer has no items array");
        return -1;
    }
    return 0;
}

/* A name from MediaMTX as it may appear in a log line: at most `max` bytes (cut at a
 * UTF-8 character boundary), control characters shown as '?'. A path name may hold a
 * newline (JSON "\n"), which would otherwise forge a second log line. */
static const char *loggable(char *buf, size_t buflen, const char *s, size_t max)
{
    size_t len = strlen(s), n = len < max ? len : max;
    if (n >= buflen)
        n = buflen - 1;
    while (n && n < len && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--; /* do not split a multi-byte character */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    buf[n] = '\0';
    return buf;
}

static bool is_null(const mxe_json *j, int t)
{
    return mxe_json_type_of(j, t) == MXE_JSON_NULL;
}

/* Typed optional fields: absent or null leaves *out alone; a wrong type is an error. */
static int opt_u64(const mxe_json *j, int v, uint64_t *out)
{
    return (v < 0 || is_null(j, v)) ? 0 : mxe_json_u64(j, v, out);
}

static int opt_bool(const mxe_json *j, int v, bool *out)
{
    return (v < 0 || is_null(j, v)) ? 0 : mxe_json_bool(j, v, out);
}

static int opt_double(const mxe_json *j, int v, double *out)
{
    return (v < 0 || is_null(j, v)) ? 0 : mxe_json_double(j, v, out);
}

static int opt_str(const mxe_json *j, int v, mxe_arena *a, const char **out)
{
    return (v < 0 || is_null(j, v)) ? 0 : mxe_json_str(j, v, a, out);
}

static int cmp_reader_type(const void *a, const void *b)
{
    return strcmp(((const mxe_reader_count *)a)->type, ((const mxe_reader_count *)b)->type);
}

/* readers: [{type,id}, …] → count and counts per type. */
static int parse_readers(const mxe_json *j, int arr, mxe_stream *st, mxe_arena *a)
{
    if (arr < 0 || is_null(j, arr))
        return 0;
    if (mxe_json_type_of(j, arr) != MXE_JSON_ARRAY)
        return -1;
    int n = mxe_json_size(j, arr);
    st->readers = (uint32_t)n;
    if (n == 0)
        return 0;
    mxe_reader_count *rc = mxe_arena_alloc(a, (size_t)n * sizeof *rc);
    if (!rc)
        return -1;
    uint32_t types = 0;
    int e = arr + 1;
    for (int i = 0; i < n; i++, e = mxe_json_skip(j, e)) {
        if (mxe_json_type_of(j, e) != MXE_JSON_OBJECT)
            return -1;
        int tv = mxe_json_get(j, e, "type");
        size_t tl;
        if (tv < 0 || mxe_json_type_of(j, tv) != MXE_JSON_STRING)
            return -1;
        const char *raw = mxe_json_raw(j, tv, &tl);
        uint32_t k = 0;
        while (k < types && !(strlen(rc[k].type) == tl && memcmp(rc[k].type, raw, tl) == 0))
            k++;
        if (k == types) {
            if (mxe_json_str(j, tv, a, &rc[k].type) != 0)
                return -1;
            rc[k].count = 0;
            types++;
        }
        rc[k].count++;
    }
    qsort(rc, types, sizeof *rc, cmp_reader_type);
    st->readers_by_type = rc;
    st->n_reader_types = types;
    return 0;
}

/* tracks2: [{codec, codecProps}, …] (v1.20) or tracks: ["H264", …] (v1.13). */
static int parse_tracks(const mxe_json *j, int arr, bool v2, mxe_stream *st, mxe_arena *a)
{
    if (arr < 0 || is_null(j, arr))
        return 0;
    if (mxe_json_type_of(j, arr) != MXE_JSON_ARRAY)
        return -1;
    int n = mxe_json_size(j, arr);
    if (n == 0)
        return 0;
    const char **tracks = mxe_arena_alloc(a, (size_t)n * sizeof *tracks);
    if (!tracks)
        return -1;
    int e = arr + 1;
    for (int i = 0; i < n; i++, e = mxe_json_skip(j, e)) {
        int s = v2 ? mxe_json_get(j, e, "codec") : e;
        if (s < 0 || mxe_json_str(j, s, a, &tracks[i]) != 0)
            return -1;
    }
    st->tracks = tracks;
    st->n_tracks = (uint32_t)n;
    return 0;
}

/* The fields of a path we read, in both schemas. */
enum {
    P_NAME,
    P_SOURCE,
    P_AVAILABLE, /* v1.20 */
    P_READY,     /* v1.13; deprecated twin of available in v1.20 */
    P_INBOUND,   /* v1.20 */
    P_BYTES_RECEIVED,
    P_OUTBOUND, /* v1.20 */
    P_BYTES_SENT,
    P_TRACKS2, /* v1.20: [{codec, codecProps}] */
    P_TRACKS,  /* v1.13: ["H264", …] */
    P_READERS,
    P_COUNT
};
static const char *const path_keys[P_COUNT] = {
    "name",          "source",    "available", "ready",  "inboundBytes", "bytesReceived",
    "outboundBytes", "bytesSent", "tracks2",   "tracks", "readers",
};

static int parse_path(const mxe_json *j, int obj, mxe_stream *st, mxe_arena *a, char *err,
                      size_t errlen)
{
    memset(st, 0, sizeof *st);
    int v[P_COUNT];
    if (mxe_json_fields(j, obj, path_keys, P_COUNT, v) != 0) {
        snprintf(err, errlen, "path item is not an object");
        return -1;
    }
    if (v[P_NAME] < 0 || mxe_json_str(j, v[P_NAME], a, &st->name) != 0 || !st->name[0]) {
        snprintf(err, errlen, "path item without a valid name");
        return -1;
    }
    /* The v1.20 name wins over its deprecated v1.13 twin when both are present. */
    bool v2_ready = v[P_AVAILABLE] >= 0, v2_in = v[P_INBOUND] >= 0, v2_out = v[P_OUTBOUND] >= 0;
    bool v2_tracks = v[P_TRACKS2] >= 0;
    const char *field = NULL;
    int src = v[P_SOURCE];
    if (src >= 0 && !is_null(j, src) &&
        (mxe_json_type_of(j, src) != MXE_JSON_OBJECT ||
         opt_str(j, mxe_json_get(j, src, "type"), a, &st->source_type) != 0 ||
         opt_str(j, mxe_json_get(j, src, "id"), a, &st->source_id) != 0))
        field = "source";
    else if (opt_bool(j, v[v2_ready ? P_AVAILABLE : P_READY], &st->ready) != 0)
        field = path_keys[v2_ready ? P_AVAILABLE : P_READY];
    else if (opt_u64(j, v[v2_in ? P_INBOUND : P_BYTES_RECEIVED], &st->bytes_received) != 0)
        field = path_keys[v2_in ? P_INBOUND : P_BYTES_RECEIVED];
    else if (opt_u64(j, v[v2_out ? P_OUTBOUND : P_BYTES_SENT], &st->bytes_sent) != 0)
        field = path_keys[v2_out ? P_OUTBOUND : P_BYTES_SENT];
    else if (parse_tracks(j, v[v2_tracks ? P_TRACKS2 : P_TRACKS], v2_tracks, st, a) != 0)
        field = path_keys[v2_tracks ? P_TRACKS2 : P_TRACKS];
    else if (parse_readers(j, v[P_READERS], st, a) != 0)
        field = path_keys[P_READERS];
    if (field) {
        char name[201];
        snprintf(err, errlen, "path %s: invalid or unexpected type of field %s",
                 loggable(name, sizeof name, st->name, 200), field);
        return -1;
    }
    return 0;
}

int mxe_collect_paths_page(mxe_collect *c, const char *body, size_t len, uint64_t *page_count,
                           char *err, size_t errlen)
{
    int items;
    if (open_page(&c->json, body, len, page_count, &items, err, errlen) != 0)
        return -1;
    const mxe_json *j = &c->json;
    int n = mxe_json_size(j, items);
    mxe_streams *s = &c->streams;
    if (s->count + (size_t)n > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->count + (size_t)n)
            cap *= 2;
        mxe_stream *p = realloc(s->items, cap * sizeof *p);
        if (!p) {
            snprintf(err, errlen, "out of memory for %zu streams", cap);
            return -1;
        }
        s->items = p;
        s->cap = cap;
    }
    /* Parse into the spare slots; commit only when the whole page is valid. */
    int e = items + 1;
    for (int i = 0; i < n; i++, e = mxe_json_skip(j, e)) {
        if (parse_path(j, e, &s->items[s->count + (size_t)i], &s->arena, err, errlen) != 0)
            return -1;
    }
    s->count += (size_t)n;
    return 0;
}

/* The SRT connection fields we read (receiver side of a publisher). */
enum { S_ID, S_RTT, S_RATE, S_CAPACITY, S_LATENCY, S_RECEIVED, S_LOSS, S_RETRANS, S_DROP, S_COUNT };
static const char *const srt_keys[S_COUNT] = {
    "id",
    "msRTT",
    "mbpsReceiveRate",
    "mbpsLinkCapacity",
    "msReceiveTsbPdDelay",
    "packetsReceived",
    "packetsReceivedLoss",
    "packetsReceivedRetrans",
    "packetsReceivedDrop",
};

static int parse_srt(const mxe_json *j, int obj, mxe_srt_conn *sc, mxe_arena *a, char *err,
                     size_t errlen)
{
    memset(sc, 0, sizeof *sc);
    int v[S_COUNT];
    if (mxe_json_fields(j, obj, srt_keys, S_COUNT, v) != 0) {
        snprintf(err, errlen, "srtconn item is not an object");
        return -1;
    }
    if (v[S_ID] < 0 || mxe_json_str(j, v[S_ID], a, &sc->id) != 0) {
        snprintf(err, errlen, "srtconn item without a valid id");
        return -1;
    }
    mxe_srt_stats *st = &sc->stats;
    int bad = -1;
    if (opt_double(j, v[S_RTT], &st->rtt_ms) != 0)
        bad = S_RTT;
    else if (opt_double(j, v[S_RATE], &st->recv_rate_mbps) != 0)
        bad = S_RATE;
    else if (opt_double(j, v[S_CAPACITY], &st->link_capacity_mbps) != 0)
        bad = S_CAPACITY;
    else if (opt_double(j, v[S_LATENCY], &st->recv_latency_ms) != 0)
        bad = S_LATENCY;
    else if (opt_u64(j, v[S_RECEIVED], &st->packets_received) != 0)
        bad = S_RECEIVED;
    else if (opt_u64(j, v[S_LOSS], &st->packets_lost) != 0)
        bad = S_LOSS;
    else if (opt_u64(j, v[S_RETRANS], &st->packets_retrans) != 0)
        bad = S_RETRANS;
    else if (opt_u64(j, v[S_DROP], &st->packets_dropped) != 0)
        bad = S_DROP;
    if (bad >= 0) {
        char id[65];
        snprintf(err, errlen, "srtconn %s: invalid or unexpected type of field %s",
                 loggable(id, sizeof id, sc->id, 64), srt_keys[bad]);
        return -1;
    }
    return 0;
}

int mxe_collect_srt_page(mxe_collect *c, const char *body, size_t len, uint64_t *page_count,
                         char *err, size_t errlen)
{
    int items;
    if (open_page(&c->json, body, len, page_count, &items, err, errlen) != 0)
        return -1;
    const mxe_json *j = &c->json;
    size_t n = (size_t)mxe_json_size(j, items);
    if (c->n_srt + n > c->cap_srt) {
        size_t cap = c->cap_srt ? c->cap_srt : 64;
        while (cap < c->n_srt + n)
            cap *= 2;
        mxe_srt_conn *p = realloc(c->srt, cap * sizeof *p);
        if (!p) {
            snprintf(err, errlen, "out of memory for %zu SRT connections", cap);
            return -1;
        }
        c->srt = p;
        c->cap_srt = cap;
    }
    int e = items + 1;
    for (size_t i = 0; i < n; i++, e = mxe_json_skip(j, e)) {
        mxe_srt_conn *sc = &c->srt[c->n_srt + i];
        if (parse_srt(j, e, sc, &c->srt_arena, err, errlen) != 0)
            return -1;
        sc->order = c->n_srt + i;
    }
    c->n_srt += n;
    return 0;
}

/* Order by name, then arrival, so that the last of equal names is the freshest. */
typedef struct {
    mxe_stream st;
    size_t order;
} ordered_stream;

static int cmp_ordered(const void *a, const void *b)
{
    const ordered_stream *x = a, *y = b;
    int c = strcmp(x->st.name, y->st.name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_srt(const void *a, const void *b)
{
    const mxe_srt_conn *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static bool sorted_unique(const mxe_streams *s)
{
    for (size_t i = 1; i < s->count; i++)
        if (strcmp(s->items[i - 1].name, s->items[i].name) >= 0)
            return false;
    return true;
}

/* Sort and keep the last of each run of equal names. MediaMTX already sends paths sorted
 * (FACTS 22), so the common case is one linear check. */
static int sort_dedupe(mxe_streams *s)
{
    if (sorted_unique(s))
        return 0;
    ordered_stream *tmp = malloc(s->count * sizeof *tmp);
    if (!tmp)
        return -1;
    for (size_t i = 0; i < s->count; i++) {
        tmp[i].st = s->items[i];
        tmp[i].order = i;
    }
    qsort(tmp, s->count, sizeof *tmp, cmp_ordered);
    size_t w = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (i + 1 < s->count && strcmp(tmp[i].st.name, tmp[i + 1].st.name) == 0)
            continue; /* a later copy of this name follows */
        s->items[w++] = tmp[i].st;
    }
    s->count = w;
    free(tmp);
    return 0;
}

static const mxe_srt_conn *find_srt(const mxe_collect *c, const char *id)
{
    size_t lo = 0, hi = c->n_srt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->srt[mid].id, id);
        if (cmp == 0)
            return &c->srt[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Sort connections by id and keep the last copy of each id (the freshest page). */
static void sort_dedupe_srt(mxe_collect *c)
{
    if (c->n_srt < 2)
        return;
    qsort(c->srt, c->n_srt, sizeof *c->srt, cmp_srt);
    size_t w = 0;
    for (size_t i = 0; i < c->n_srt; i++) {
        if (i + 1 < c->n_srt && strcmp(c->srt[i].id, c->srt[i + 1].id) == 0)
            continue;
        c->srt[w++] = c->srt[i];
    }
    c->n_srt = w;
}

int mxe_collect_finish(mxe_collect *c, mxe_streams *out)
{
    if (sort_dedupe(&c->streams) != 0)
        return -1;
    sort_dedupe_srt(c);
    for (size_t i = 0; i < c->streams.count; i++) {
        mxe_stream *st = &c->streams.items[i];
        /* Only the publisher counts: an srtConn reader of the same path is a viewer. */
        if (!st->source_type || !st->source_id || strcmp(st->source_type, "srtConn") != 0)
            continue;
        const mxe_srt_conn *sc = find_srt(c, st->source_id);
        if (sc) {
            st->has_srt = true;
            st->srt = sc->stats;
        }
    }
    *out = c->streams;
    memset(&c->streams, 0, sizeof c->streams);
    return 0;
}

void mxe_collect_free(mxe_collect *c)
{
    if (!c)
        return;
    mxe_streams_free(&c->streams);
    free(c->srt);
    mxe_arena_free(&c->srt_arena);
    mxe_json_free(&c->json);
    memset(c, 0, sizeof *c);
}

static int copy_string_field(const char *body, size_t len, const char *key, char *buf,
                             size_t buflen)
{
    mxe_json j = MXE_JSON_INIT;
    mxe_arena a = MXE_ARENA_INIT;
    char err[64];
    int rc = -1;
    const char *s;
    if (mxe_json_parse(&j, body, len, err, sizeof err) == 0 &&
        mxe_json_str(&j, mxe_json_get(&j, 0, key), &a, &s) == 0 && s[0]) {
        /* Both end up in log lines (and the version in a label): no control characters. */
        loggable(buf, buflen, s, buflen - 1);
        rc = 0;
    }
    mxe_arena_free(&a);
    mxe_json_free(&j);
    return rc;
}

int mxe_collect_info_version(const char *body, size_t len, char *buf, size_t buflen)
{
    return copy_string_field(body, len, "version", buf, buflen);
}

int mxe_collect_error_text(const char *body, size_t len, char *buf, size_t buflen)
{
    return copy_string_field(body, len, "error", buf, buflen);
}
