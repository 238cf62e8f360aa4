/* Stream records and exporter state → Prometheus text 0.0.4 or OpenMetrics 1.0.0; see expo.h.
 *
 * Every family is one row of FAMILIES below: name, type, unit, which objects it has series
 * for, its label set, a getter and its HELP text. mxe_expo_render() walks the table
 * family-outer, stream-inner, so each family is written once with its samples together,
 * and a family without a single series is left out entirely (as client_golang does).
 * The two formats differ only in the metadata lines, the counter family name and # EOF. */
#include "expo.h"
#include "utf8.h"

#include <string.h>

#include "version.h"

/* MediaMTX's SRT library (gosrt) computes the "mbps" rates as bytes * 8 / 1024 / 1024
 * (FACTS 37), i.e. in Mibit/s: one unit is 2^20 / 8 = 131072 bytes/s. Using 125000 would
 * report every rate 4.6 % low. */
#define MBPS_TO_BYTES_PER_SECOND 131072.0

typedef enum { MT_GAUGE, MT_COUNTER } metric_type;

/* Which objects a family has series for: decides whether it is written and how often. */
typedef enum {
    SC_SERVER,     /* one series, always */
    SC_VERSION,    /* one series when stream data is served and MediaMTX reported its version */
    SC_STREAM_SET, /* one series when stream data is served (streams != NULL) */
    SC_STREAM,     /* one series per stream */
    SC_SRT,        /* one series per stream whose publisher is an SRT connection */
    SC_MIRROR,     /* one series per mirror target (redis, file) */
    SC_FEED,       /* one series per live feed (websocket, sse) */
    SC_PROCESS,    /* one series when process statistics are available */
} scope;

typedef enum {
    LS_NONE,        /* no labels */
    LS_PATH,        /* {path} */
    LS_STREAM_INFO, /* {path,source_type,tracks} */
    LS_VERSION,     /* {version} of MediaMTX */
    LS_BUILD,       /* {version,revision} of this exporter */
    LS_TARGET,      /* {target}: "redis", "file" */
    LS_FEED,        /* {feed}: "websocket", "sse" */
} label_set;

/* A sample value: exact unsigned integer, or a double. */
typedef struct value {
    bool is_u64;
    uint64_t u;
    double d;
} value;

typedef struct render_ctx {
    mxe_buf *out;
    bool om; /* OpenMetrics 1.0.0, else Prometheus text 0.0.4 */
    const mxe_streams *streams;
    const mxe_exporter_stats *stats;
    const mxe_process_stats *proc;
    size_t n_ready; /* streams with ready set */
    size_t n_srt;   /* streams with has_srt set */
} render_ctx;

typedef struct family {
    const char *name; /* family name; a counter's samples append _total */
    metric_type type;
    const char *unit; /* OpenMetrics # UNIT, a suffix of name; NULL when none */
    scope scope;
    label_set labels;
    bool polled; /* values come from the MediaMTX poll, else sampled by the poll loop */
    value (*of_stream)(const mxe_stream *s);             /* SC_STREAM, SC_SRT */
    value (*of_server)(const render_ctx *c, size_t idx); /* every other scope */
    const char *help; /* one sentence without the final period; no '"' */
} family;

static inline value v_u64(uint64_t u)
{
    return (value){true, u, 0.0};
}

static inline value v_f64(double d)
{
    return (value){false, 0, d};
}

#define STREAM_GETTER(fn, expr)                                                                    \
    static value fn(const mxe_stream *s)                                                           \
    {                                                                                              \
        return expr;                                                                               \
    }
#define SERVER_GETTER(fn, expr)                                                                    \
    static value fn(const render_ctx *c, size_t idx)                                               \
    {                                                                                              \
        (void)idx;                                                                                 \
        return expr;                                                                               \
    }

STREAM_GETTER(stream_one, ((void)s, v_u64(1)))
STREAM_GETTER(stream_ready, v_u64(s->ready))
STREAM_GETTER(stream_received, v_u64(s->bytes_received))
STREAM_GETTER(stream_sent, v_u64(s->bytes_sent))
STREAM_GETTER(stream_readers, v_u64(s->readers))
STREAM_GETTER(srt_rtt, v_f64(s->srt.rtt_ms / 1000.0))
STREAM_GETTER(srt_recv_rate, v_f64(MBPS_TO_BYTES_PER_SECOND * s->srt.recv_rate_mbps))
STREAM_GETTER(srt_link_capacity, v_f64(MBPS_TO_BYTES_PER_SECOND * s->srt.link_capacity_mbps))
STREAM_GETTER(srt_received, v_u64(s->srt.packets_received))
STREAM_GETTER(srt_lost, v_u64(s->srt.packets_lost))
STREAM_GETTER(srt_retrans, v_u64(s->srt.packets_retrans))
STREAM_GETTER(srt_dropped, v_u64(s->srt.packets_dropped))
STREAM_GETTER(srt_latency, v_f64(s->srt.recv_latency_ms / 1000.0))

SERVER_GETTER(server_one, ((void)c, v_u64(1)))
SERVER_GETTER(server_up, v_u64(c->stats->up))
SERVER_GETTER(server_streams, v_u64(c->streams->count))
SERVER_GETTER(server_streams_ready, v_u64(c->n_ready))
SERVER_GETTER(exporter_polls, v_u64(c->stats->polls_total))
SERVER_GETTER(exporter_poll_failures, v_u64(c->stats->poll_failures_total))
SERVER_GETTER(exporter_poll_duration, v_f64(c->stats->poll_duration_s))
SERVER_GETTER(exporter_last_success, v_f64(c->stats->last_success_unix))
SERVER_GETTER(exporter_redis_up, v_u64(c->stats->redis_up))
SERVER_GETTER(process_cpu, v_f64(c->proc->cpu_seconds_total))
SERVER_GETTER(process_resident, v_u64(c->proc->resident_bytes))
SERVER_GETTER(process_virtual, v_u64(c->proc->virtual_bytes))
SERVER_GETTER(process_virtual_max, v_u64(c->proc->max_virtual_bytes))
SERVER_GETTER(process_start, v_f64(c->proc->start_time_unix))
SERVER_GETTER(process_open_fds, v_u64(c->proc->open_fds))
SERVER_GETTER(process_max_fds, v_u64(c->proc->max_fds))

static const char *const mirror_targets[] = {"redis", "file"};
#define N_MIRROR_TARGETS (sizeof mirror_targets / sizeof mirror_targets[0])

static value exporter_mirror_failures(const render_ctx *c, size_t idx)
{
    return v_u64(idx == 0 ? c->stats->mirror_failures_redis : c->stats->mirror_failures_file);
}

static const char *const live_feeds[] = {"websocket", "sse"};
#define N_LIVE_FEEDS (sizeof live_feeds / sizeof live_feeds[0])

static value exporter_subscribers(const render_ctx *c, size_t idx)
{
    return v_u64(idx == 0 ? c->stats->subscribers_websocket : c->stats->subscribers_sse);
}

#define STREAM(fn) fn, NULL
#define SERVER(fn) NULL, fn

/* clang-format off */
static const family FAMILIES[] = {
    {"mediamtx_up", MT_GAUGE, NULL, SC_SERVER, LS_NONE, true, SERVER(server_up),
     "Whether the last poll of the MediaMTX API succeeded (1) or not (0)"},
    {"mediamtx_info", MT_GAUGE, NULL, SC_VERSION, LS_VERSION, true, SERVER(server_one),
     "MediaMTX version as reported by /v3/info; the value is always 1"},
    {"mediamtx_streams", MT_GAUGE, NULL, SC_STREAM_SET, LS_NONE, true, SERVER(server_streams),
     "Number of paths MediaMTX reports"},
    {"mediamtx_streams_ready", MT_GAUGE, NULL, SC_STREAM_SET, LS_NONE, true,
     SERVER(server_streams_ready), "Number of paths that are ready to be read"},

    {"mediamtx_stream_info", MT_GAUGE, NULL, SC_STREAM, LS_STREAM_INFO, true, STREAM(stream_one),
     "Stream metadata: the source type (empty without a source) and the comma-joined codecs of "
     "its tracks; the value is always 1"},
    {"mediamtx_stream_ready", MT_GAUGE, NULL, SC_STREAM, LS_PATH, true, STREAM(stream_ready),
     "Whether the stream is ready (available) to readers (1) or not (0)"},
    {"mediamtx_stream_received_bytes", MT_COUNTER, "bytes", SC_STREAM, LS_PATH, true,
     STREAM(stream_received), "Bytes received from the stream's source"},
    {"mediamtx_stream_sent_bytes", MT_COUNTER, "bytes", SC_STREAM, LS_PATH, true,
     STREAM(stream_sent), "Bytes sent to the stream's readers"},
    {"mediamtx_stream_readers", MT_GAUGE, NULL, SC_STREAM, LS_PATH, true, STREAM(stream_readers),
     "Number of readers of the stream"},

    {"mediamtx_stream_srt_rtt_seconds", MT_GAUGE, "seconds", SC_SRT, LS_PATH, true,
     STREAM(srt_rtt), "Round-trip time of the SRT connection that publishes the stream"},
    {"mediamtx_stream_srt_receive_rate_bytes_per_second", MT_GAUGE, "bytes_per_second", SC_SRT,
     LS_PATH, true, STREAM(srt_recv_rate),
     "Receive rate of the SRT connection that publishes the stream"},
    {"mediamtx_stream_srt_link_capacity_bytes_per_second", MT_GAUGE, "bytes_per_second", SC_SRT,
     LS_PATH, true, STREAM(srt_link_capacity),
     "Estimated link capacity of the SRT connection that publishes the stream"},
    {"mediamtx_stream_srt_received_packets", MT_COUNTER, NULL, SC_SRT, LS_PATH, true,
     STREAM(srt_received), "Data packets received from the SRT publisher, retransmitted ones "
     "included"},
    {"mediamtx_stream_srt_received_packets_lost", MT_COUNTER, NULL, SC_SRT, LS_PATH, true,
     STREAM(srt_lost), "Packets of the SRT publisher reported lost by the receiver"},
    {"mediamtx_stream_srt_received_packets_retransmitted", MT_COUNTER, NULL, SC_SRT, LS_PATH,
     true, STREAM(srt_retrans), "Retransmitted packets received from the SRT publisher"},
    {"mediamtx_stream_srt_received_packets_dropped", MT_COUNTER, NULL, SC_SRT, LS_PATH, true,
     STREAM(srt_dropped), "Packets of the SRT publisher dropped because they arrived too late"},
    {"mediamtx_stream_srt_receive_latency_seconds", MT_GAUGE, "seconds", SC_SRT, LS_PATH, true,
     STREAM(srt_latency), "Receiver latency (TSBPD delay) of the SRT connection that publishes "
     "the stream"},

    {"mediamtx_exporter_build_info", MT_GAUGE, NULL, SC_SERVER, LS_BUILD, false,
     SERVER(server_one), "Version and revision of mediamtx-exporter; the value is always 1"},
    {"mediamtx_exporter_polls", MT_COUNTER, NULL, SC_SERVER, LS_NONE, false,
     SERVER(exporter_polls), "Poll cycles run"},
    {"mediamtx_exporter_poll_failures", MT_COUNTER, NULL, SC_SERVER, LS_NONE, false,
     SERVER(exporter_poll_failures), "Poll cycles whose poll of the MediaMTX API failed"},
    {"mediamtx_exporter_poll_duration_seconds", MT_GAUGE, "seconds", SC_SERVER, LS_NONE, false,
     SERVER(exporter_poll_duration), "Wall time of the last poll of the MediaMTX API"},
    {"mediamtx_exporter_last_success_timestamp_seconds", MT_GAUGE, "seconds", SC_SERVER, LS_NONE,
     false, SERVER(exporter_last_success),
     "Unix time of the last successful poll, 0 before the first one"},
    {"mediamtx_exporter_redis_up", MT_GAUGE, NULL, SC_SERVER, LS_NONE, false,
     SERVER(exporter_redis_up),
     "Whether the last write to Redis succeeded (1) or not (0); 0 when Redis is disabled"},
    {"mediamtx_exporter_mirror_failures", MT_COUNTER, NULL, SC_MIRROR, LS_TARGET, false,
     SERVER(exporter_mirror_failures), "Failed writes of the stream list, by mirror target"},
    {"mediamtx_exporter_subscribers", MT_GAUGE, NULL, SC_FEED, LS_FEED, false,
     SERVER(exporter_subscribers),
     "Subscribers of the live feeds (/api/streams/ws, /api/streams/events) when the last poll "
     "cycle ended"},

    {"process_cpu_seconds", MT_COUNTER, "seconds", SC_PROCESS, LS_NONE, false,
     SERVER(process_cpu), "Total user and system CPU time spent in seconds"},
    {"process_resident_memory_bytes", MT_GAUGE, "bytes", SC_PROCESS, LS_NONE, false,
     SERVER(process_resident), "Resident memory size in bytes"},
    {"process_virtual_memory_bytes", MT_GAUGE, "bytes", SC_PROCESS, LS_NONE, false,
     SERVER(process_virtual), "Virtual memory size in bytes"},
    {"process_virtual_memory_max_bytes", MT_GAUGE, "bytes", SC_PROCESS, LS_NONE, false,
     SERVER(process_virtual_max), "Maximum amount of virtual memory available in bytes"},
    {"process_start_time_seconds", MT_GAUGE, "seconds", SC_PROCESS, LS_NONE, false,
     SERVER(process_start), "Start time of the process since unix epoch in seconds"},
    {"process_open_fds", MT_GAUGE, NULL, SC_PROCESS, LS_NONE, false, SERVER(process_open_fds),
     "Number of open file descriptors"},
    {"process_max_fds", MT_GAUGE, NULL, SC_PROCESS, LS_NONE, false, SERVER(process_max_fds),
     "Maximum number of open file descriptors"},
};
/* clang-format on */

#define N_FAMILIES (sizeof FAMILIES / sizeof FAMILIES[0])

/* Room for the longest family name plus "_total"; put_family() fails the render beyond. */
#define MAX_SAMPLE_NAME 96

/* ---- escaping ---------------------------------------------------------------------------- */

/* Append s escaped for a label value (`\\`, `\"`, `\n`) or, with `help` set, for a HELP
 * text (`\\`, `\n`, and `\"` in OpenMetrics only: 0.0.4 would keep the backslash).
 * Invalid UTF-8 bytes become U+FFFD: Prometheus rejects the whole scrape otherwise.
 * The string is NUL-terminated, so the look-ahead of mxe_utf8_seq_len() stops at the NUL. */
static void put_escaped(mxe_buf *b, const char *s, bool help, bool om)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    /* Fast path: plain ASCII without anything to escape is copied in one piece. */
    while (u[i] >= 0x20 && u[i] < 0x80 && u[i] != '\\' && u[i] != '"')
        i++;
    if (u[i] == '\0') {
        mxe_buf_append(b, s, i);
        return;
    }
    bool quote = !help || om;
    size_t run = 0; /* start of the pending bytes that are copied as they are */
    while (u[i]) {
        unsigned char c = u[i];
        const char *esc = NULL;
        size_t n = 1;
        if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '"' && quote)
            esc = "\\\"";
        else if (c >= 0x80 && (n = mxe_utf8_seq_len(u + i, 4)) == 0) {
            esc = "\xEF\xBF\xBD";
            n = 1;
        }
        if (esc) {
            mxe_buf_append(b, s + run, i - run);
            mxe_buf_puts(b, esc);
            run = i + n;
        }
        i += n;
    }
    mxe_buf_append(b, s + run, i - run);
}

static inline void put_label_value(mxe_buf *b, const char *s)
{
    put_escaped(b, s ? s : "", false, false);
}

/* ---- samples ----------------------------------------------------------------------------- */

/* "<value>\n" — integers exact, doubles with 15 significant digits (mxe_buf_double). */
static inline void put_value(mxe_buf *b, value v)
{
    if (v.is_u64)
        mxe_buf_u64(b, v.u);
    else
        mxe_buf_double(b, v.d);
    mxe_buf_putc(b, '\n');
}

#define PUT_LIT(b, lit) mxe_buf_append((b), (lit), sizeof(lit) - 1)

/* The labels of a stream's sample after the `{path="` that the caller wrote with the name,
 * up to the closing quote of the last value. */
static void put_stream_labels(mxe_buf *b, label_set ls, const mxe_stream *s)
{
    put_label_value(b, s->name);
    if (ls == LS_STREAM_INFO) {
        PUT_LIT(b, "\",source_type=\"");
        put_label_value(b, s->source_type);
        PUT_LIT(b, "\",tracks=\"");
        for (uint32_t t = 0; t < s->n_tracks; t++) {
            if (t)
                mxe_buf_putc(b, ',');
            put_label_value(b, s->tracks[t]);
        }
    }
}

/* The label set of a server-level sample, if any, and the space before the value. */
static void put_server_labels(const render_ctx *c, label_set ls, size_t idx)
{
    mxe_buf *b = c->out;
    switch (ls) {
    case LS_VERSION:
        PUT_LIT(b, "{version=\"");
        put_label_value(b, c->stats->mediamtx_version);
        PUT_LIT(b, "\"}");
        break;
    case LS_BUILD:
        PUT_LIT(b, "{version=\"");
        put_label_value(b, MXE_VERSION);
        PUT_LIT(b, "\",revision=\"");
        put_label_value(b, MXE_REVISION);
        PUT_LIT(b, "\"}");
        break;
    case LS_TARGET:
        PUT_LIT(b, "{target=\"");
        put_label_value(b, mirror_targets[idx]);
        PUT_LIT(b, "\"}");
        break;
    case LS_FEED:
        PUT_LIT(b, "{feed=\"");
        put_label_value(b, live_feeds[idx]);
        PUT_LIT(b, "\"}");
        break;
    default:
        break;
    }
    mxe_buf_putc(b, ' ');
}

/* Number of series the family has in this rendering; 0 leaves it out. */
static size_t family_series(const render_ctx *c, const family *f)
{
    switch (f->scope) {
    case SC_SERVER:
        return 1;
    case SC_VERSION: /* like the per-stream series: never a frozen value while MediaMTX is down */
        return c->streams && c->stats->mediamtx_version ? 1 : 0;
    case SC_STREAM_SET:
        return c->streams ? 1 : 0;
    case SC_STREAM:
        return c->streams ? c->streams->count : 0;
    case SC_SRT:
        return c->n_srt;
    case SC_MIRROR:
        return N_MIRROR_TARGETS;
    case SC_FEED:
        return N_LIVE_FEEDS;
    case SC_PROCESS:
        return c->proc ? 1 : 0;
    }
    return 0;
}

/* ---- metadata ---------------------------------------------------------------------------- */

static void put_meta_line(mxe_buf *b, const char *kind, const char *name, size_t name_len)
{
    mxe_buf_puts(b, kind);
    mxe_buf_append(b, name, name_len);
    mxe_buf_putc(b, ' ');
}

static void put_help_text(const render_ctx *c, const family *f)
{
    mxe_buf *b = c->out;
    put_escaped(b, f->help, true, c->om);
    /* Values are sampled at most once per poll cycle, not whenever a scrape arrives: the
     * process_* ones by the cycle's first scrape (snapshot.h), the rest by the cycle. */
    if (f->polled)
        PUT_LIT(b, ". Values come from a background poll of the MediaMTX API every ");
    else if (f->scope == SC_PROCESS)
        PUT_LIT(b, ". Values are read at most once per poll cycle, every ");
    else
        PUT_LIT(b, ". Values are sampled by the background poll every ");
    mxe_buf_double(b, c->stats->poll_interval_s);
    PUT_LIT(b, " s.\n");
}

/* 0.0.4:  # HELP <sample name> …  /  # TYPE <sample name> <type>   (a counter keeps _total)
 * OM 1.0: # TYPE <family> <type>  /  # UNIT <family> <unit>  /  # HELP <family> … */
static void put_metadata(const render_ctx *c, const family *f, const char *sample,
                         size_t sample_len, size_t name_len)
{
    mxe_buf *b = c->out;
    const char *type = f->type == MT_COUNTER ? "counter\n" : "gauge\n";
    if (c->om) {
        put_meta_line(b, "# TYPE ", f->name, name_len);
        mxe_buf_puts(b, type);
        if (f->unit) {
            put_meta_line(b, "# UNIT ", f->name, name_len);
            mxe_buf_puts(b, f->unit);
            mxe_buf_putc(b, '\n');
        }
        put_meta_line(b, "# HELP ", f->name, name_len);
        put_help_text(c, f);
    } else {
        put_meta_line(b, "# HELP ", sample, sample_len);
        put_help_text(c, f);
        put_meta_line(b, "# TYPE ", sample, sample_len);
        mxe_buf_puts(b, type);
    }
}

/* ---- rendering --------------------------------------------------------------------------- */

/* The sample name of family f (with _total for a counter) into `sample`; its length, or
 * 0 when the table row is too long (which fails every render and test). */
static size_t sample_name(const family *f, char *sample)
{
    size_t name_len = strlen(f->name);
    if (name_len + 6 > MAX_SAMPLE_NAME)
        return 0;
    size_t sample_len = name_len;
    memcpy(sample, f->name, name_len);
    if (f->type == MT_COUNTER) {
        memcpy(sample + name_len, "_total", 6);
        sample_len += 6;
    }
    sample[sample_len] = '\0';
    return sample_len;
}

/* The sample lines of family f (the same in both formats: only the metadata differs).
 * `sample` holds the sample name and has room for the `{path="` appended to it. */
static void put_samples(const render_ctx *c, const family *f, char *sample, size_t sample_len)
{
    mxe_buf *b = c->out;
    if (f->of_stream) {
        /* The hot loop: ~100k lines for 10,000 streams. Each line is the prefix
         * `name{path="` in one piece, the escaped label values, `"} ` and the value. */
        memcpy(sample + sample_len, "{path=\"", 7);
        size_t prefix_len = sample_len + 7;
        const mxe_streams *ss = c->streams;
        bool srt_only = f->scope == SC_SRT;
        for (size_t k = 0; k < ss->count; k++) {
            const mxe_stream *s = &ss->items[k];
            if (srt_only && !s->has_srt)
                continue;
            mxe_buf_append(b, sample, prefix_len);
            put_stream_labels(b, f->labels, s);
            PUT_LIT(b, "\"} ");
            put_value(b, f->of_stream(s));
        }
        return;
    }
    size_t n = family_series(c, f);
    for (size_t idx = 0; idx < n; idx++) {
        mxe_buf_append(b, sample, sample_len);
        put_server_labels(c, f->labels, idx);
        put_value(b, f->of_server(c, idx));
    }
}

static void put_family(const render_ctx *c, const family *f)
{
    char sample[MAX_SAMPLE_NAME + sizeof "{path=\""];
    size_t sample_len = sample_name(f, sample);
    if (!sample_len) {
        c->out->failed = true;
        return;
    }
    put_metadata(c, f, sample, sample_len, strlen(f->name));
    put_samples(c, f, sample, sample_len);
}

/* A generous guess of the output size, so the buffer grows once instead of ~20 times. */
static size_t estimate_size(const render_ctx *c)
{
    size_t est = 8192; /* metadata and the server, exporter and process families */
    if (c->streams) {
        /* 5 lines per stream, 8 more with SRT; ~50 bytes of name plus labels and value */
        est += c->streams->count * 5 * 96 + c->n_srt * 8 * 112;
        for (size_t k = 0; k < c->streams->count; k++)
            est += c->streams->items[k].n_tracks * 8;
    }
    return est;
}

/* The context of one rendering, with the counts the scopes need. */
static render_ctx make_ctx(mxe_buf *out, bool om, const mxe_streams *streams,
                           const mxe_exporter_stats *stats, const mxe_process_stats *proc)
{
    render_ctx c = {out, om, streams, stats, proc, 0, 0};
    if (streams) {
        for (size_t k = 0; k < streams->count; k++) {
            c.n_ready += streams->items[k].ready;
            c.n_srt += streams->items[k].has_srt;
        }
    }
    return c;
}

int mxe_expo_render(mxe_buf *out, mxe_expo_format fmt, const mxe_streams *streams,
                    const mxe_exporter_stats *stats, const mxe_process_stats *proc)
{
    render_ctx c = make_ctx(out, fmt == MXE_FMT_OPENMETRICS, streams, stats, proc);
    mxe_buf_reserve(out, estimate_size(&c));
    for (size_t i = 0; i < N_FAMILIES; i++) {
        if (family_series(&c, &FAMILIES[i]) > 0)
            put_family(&c, &FAMILIES[i]);
    }
    if (c.om)
        PUT_LIT(out, "# EOF\n");
    return mxe_buf_ok(out) ? 0 : -1;
}

const char *mxe_expo_content_type(mxe_expo_format fmt)
{
    return fmt == MXE_FMT_OPENMETRICS ? MXE_OPENMETRICS_CONTENT_TYPE : MXE_PROMETHEUS_CONTENT_TYPE;
}

/* ---- content negotiation ----------------------------------------------------------------- */

/* RFC 9110 tchar. '*' is one, which is how "* / *" and "text/ *" parse as tokens. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *skip_token(const char *p)
{
    while (is_tchar((unsigned char)*p))
        p++;
    return p;
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* p at the opening quote; returns the position after the closing quote, or at the NUL. */
static const char *skip_quoted(const char *p)
{
    p++;
    while (*p && *p != '"')
        p += (*p == '\\' && p[1] != '\0') ? 2 : 1;
    return *p ? p + 1 : p;
}

static bool token_is(const char *s, size_t n, const char *lit)
{
    size_t i = 0;
    for (; i < n && lit[i]; i++) {
        char a = s[i], l = lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != l)
            return false;
    }
    return i == n && lit[i] == '\0';
}

/* RFC 9110 qvalue: "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ], in thousandths. */
static bool parse_qvalue(const char *s, size_t n, int *q)
{
    if (n == 0 || n > 5 || (s[0] != '0' && s[0] != '1'))
        return false;
    int v = (s[0] - '0') * 1000;
    if (n > 1) {
        if (s[1] != '.')
            return false;
        int scale = 100;
        for (size_t i = 2; i < n; i++, scale /= 10) {
            if (s[i] < '0' || s[i] > '9')
                return false;
            v += (s[i] - '0') * scale;
        }
    }
    if (v > 1000)
        return false;
    *q = v;
    return true;
}

typedef struct media_range {
    const char *type, *sub;
    size_t type_len, sub_len;
    int q; /* thousandths */
    bool valid;
} media_range;

/* Parse one element of an Accept list at p. Returns the position after its ',' (or at the
 * final NUL). An element that does not parse is skipped up to the next ',' outside quotes.
 * Every byte is looked at a bounded number of times. */
static const char *parse_media_range(const char *p, media_range *r)
{
    r->valid = false;
    r->q = 1000;
    p = skip_ows(p);
    r->type = p;
    p = skip_token(p);
    r->type_len = (size_t)(p - r->type);
    if (r->type_len == 0 || *p != '/')
        goto garbage;
    r->sub = ++p;
    p = skip_token(p);
    r->sub_len = (size_t)(p - r->sub);
    if (r->sub_len == 0)
        goto garbage;
    bool ok = true;
    for (;;) {
        p = skip_ows(p);
        if (*p == '\0' || *p == ',')
            break;
        if (*p != ';')
            goto garbage;
        p = skip_ows(p + 1);
        const char *name = p;
        p = skip_token(p);
        size_t name_len = (size_t)(p - name);
        if (name_len == 0)
            continue; /* an empty parameter ("text/plain;") is tolerated */
        p = skip_ows(p);
        if (*p != '=')
            goto garbage;
        p = skip_ows(p + 1);
        const char *val = p;
        if (*p == '"')
            p = skip_quoted(p);
        else
            p = skip_token(p);
        size_t val_len = (size_t)(p - val);
        if (token_is(name, name_len, "q") && !parse_qvalue(val, val_len, &r->q))
            ok = false; /* a malformed weight makes the whole range unusable */
    }
    r->valid = ok;
    return *p == ',' ? p + 1 : p;
garbage:
    while (*p && *p != ',')
        p = *p == '"' ? skip_quoted(p) : p + 1;
    return *p == ',' ? p + 1 : p;
}

/* How well a media range matches type/sub: 3 exact, 2 type/ *, 1 * / *, 0 not at all. */
static int range_specificity(const media_range *r, const char *type, const char *sub)
{
    bool any_type = r->type_len == 1 && r->type[0] == '*';
    bool any_sub = r->sub_len == 1 && r->sub[0] == '*';
    if (any_type)
        return any_sub ? 1 : 0; /* "* / plain" is not a valid range */
    if (!token_is(r->type, r->type_len, type))
        return 0;
    if (any_sub)
        return 2;
    return token_is(r->sub, r->sub_len, sub) ? 3 : 0;
}

/* The weight a client gives to one type we can produce: the q of the most specific range
 * that matches it (RFC 9110 12.5.1), the highest q among equally specific ones, and the
 * position of that range for breaking ties. */
typedef struct preference {
    int specificity; /* 0: no range matches */
    int q;
    size_t pos;
} preference;

static void consider(preference *p, const media_range *r, size_t pos, const char *type,
                     const char *sub)
{
    int spec = range_specificity(r, type, sub);
    if (spec == 0 || spec < p->specificity)
        return;
    if (spec > p->specificity || r->q > p->q) {
        p->specificity = spec;
        p->q = r->q;
        p->pos = pos;
    }
}

mxe_expo_format mxe_expo_negotiate(const char *accept)
{
    if (!accept)
        return MXE_FMT_PROMETHEUS;
    preference om = {0, 0, 0}, text = {0, 0, 0};
    size_t pos = 0;
    const char *p = accept;
    while (*p) {
        media_range r;
        p = parse_media_range(p, &r);
        if (r.valid) {
            consider(&om, &r, pos, "application", "openmetrics-text");
            consider(&text, &r, pos, "text", "plain");
        }
        pos++;
    }
    /* OpenMetrics only when the client weighs it strictly higher than the text format, or
     * equally but named it first; everything else, including "* / *" alone, gets 0.0.4. */
    if (om.specificity == 0 || om.q == 0)
        return MXE_FMT_PROMETHEUS;
    if (text.specificity == 0 || om.q > text.q || (om.q == text.q && om.pos < text.pos))
        return MXE_FMT_OPENMETRICS;
    return MXE_FMT_PROMETHEUS;
}
