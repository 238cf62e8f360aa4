/* libFuzzer target: stream records and exporter state built from fuzz bytes → the exposition
 * in both formats → parsed back by an independent checker (fuzz_util.h).
 *
 * Names, source types, codecs and the MediaMTX version are arbitrary bytes (control
 * characters, quotes, backslashes, invalid UTF-8); counters span 0 … 2^64−1; the SRT doubles
 * include NaN, ±Inf, huge and subnormal values. Properties, for both formats, with the
 * stream families served and withheld (stale), and with a size cap on the output buffer:
 *  - every line is a comment or `name{labels} value`, label values escaped and UTF-8;
 *  - each family once, its samples together, no duplicate series, no negative counter;
 *  - OpenMetrics ends with `# EOF\n`; text 0.0.4 has none;
 *  - one mediamtx_stream_info series per stream, in order, whose path label unescapes to
 *    the stream's name (invalid UTF-8 replaced by U+FFFD); none when withheld;
 *  - a render that fails (over the cap) says so: -1 exactly when the buffer failed;
 *  - each format's gzip body inflates (zlib, CRC and length checked) to exactly its text. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "buf.h"
#include "expo.h"
#include "gzip.h"
#include "fuzz_util.h"
#include "model.h"

#define MAX_STREAMS 24

static int cmp_stream(const void *a, const void *b)
{
    return strcmp(((const mxe_stream *)a)->name, ((const mxe_stream *)b)->name);
}

/* Records from the input, sorted by name with duplicates dropped (the model's contract). */
static void build_streams(fz_in *in, mxe_streams *s)
{
    size_t n = fz_u8(in) % (MAX_STREAMS + 1);
    s->items = calloc(n ? n : 1, sizeof *s->items);
    FZ_ASSERT(s->items, "out of memory");
    s->cap = n;
    for (size_t i = 0; i < n && in->n; i++) {
        mxe_stream *st = &s->items[s->count];
        uint8_t flags = fz_u8(in);
        const char *name = fz_str(in, &s->arena, 40);
        st->name = name[0] ? name : "x";
        st->source_type = (flags & 1) ? fz_str(in, &s->arena, 16) : NULL;
        st->source_id = (flags & 2) ? fz_str(in, &s->arena, 8) : NULL;
        st->ready = flags & 4;
        st->has_srt = flags & 8;
        st->n_tracks = (flags >> 4) % 4;
        if (st->n_tracks) {
            st->tracks = mxe_arena_alloc(&s->arena, st->n_tracks * sizeof *st->tracks);
            FZ_ASSERT(st->tracks, "out of memory");
            for (uint32_t t = 0; t < st->n_tracks; t++)
                st->tracks[t] = fz_str(in, &s->arena, 12);
        }
        st->readers = (uint32_t)fz_u64(in);
        st->bytes_received = fz_u64(in);
        st->bytes_sent = fz_u64(in);
        if (st->has_srt) {
            st->srt.rtt_ms = fz_f64(in);
            st->srt.recv_rate_mbps = fz_f64(in);
            st->srt.link_capacity_mbps = fz_f64(in);
            st->srt.recv_latency_ms = fz_f64(in);
            st->srt.packets_lost = fz_u64(in);
            st->srt.packets_retrans = fz_u64(in);
            st->srt.packets_dropped = fz_u64(in);
        }
        s->count++;
    }
    qsort(s->items, s->count, sizeof *s->items, cmp_stream);
    /* Unique names, and unique once invalid UTF-8 is replaced by U+FFFD as the exposition
     * does: "a\xff" and "a\xfe" would otherwise make one series twice. The collector never
     * yields such names (json.c rejects strings that are not UTF-8); this target still
     * feeds invalid bytes, one name per repaired form, to test the replacement. */
    size_t w = 0;
    char **seen = calloc(s->count ? s->count : 1, sizeof *seen);
    FZ_ASSERT(seen, "out of memory");
    for (size_t i = 0; i < s->count; i++) {
        char *r = fz_utf8_repair(s->items[i].name);
        bool dup = false;
        for (size_t k = 0; k < w && !dup; k++)
            dup = strcmp(seen[k], r) == 0;
        if (dup) {
            free(r);
            continue;
        }
        seen[w] = r;
        s->items[w++] = s->items[i];
    }
    for (size_t k = 0; k < w; k++)
        free(seen[k]);
    free(seen);
    s->count = w;
}

static void check_render(const mxe_streams *s, const mxe_exporter_stats *st,
                         const mxe_process_stats *proc, mxe_expo_format fmt, size_t max)
{
    mxe_buf out = MXE_BUF_INIT;
    out.max = max;
    int rc = mxe_expo_render(&out, fmt, s, st, proc);
    FZ_ASSERT((rc == 0) == mxe_buf_ok(&out), "render returned %d with buffer ok=%d", rc,
              mxe_buf_ok(&out));
    if (rc != 0) {
        FZ_ASSERT(max != 0, "render failed without a size cap");
        mxe_buf_free(&out);
        return;
    }
    FZ_ASSERT(out.len == strlen(out.data), "length does not match the text");
    bool om = fmt == MXE_FMT_OPENMETRICS;
    if (om)
        FZ_ASSERT(out.len >= 6 && memcmp(out.data + out.len - 6, "# EOF\n", 6) == 0,
                  "OpenMetrics does not end with # EOF");
    char *names[MAX_STREAMS] = {0};
    fz_expo_summary sum;
    fz_check_exposition(out.data, out.len, om, &sum, names, MAX_STREAMS);
    FZ_ASSERT(sum.saw_up && sum.up_value_one == st->up, "mediamtx_up missing or wrong");
    if (s) {
        FZ_ASSERT(sum.stream_info == s->count, "%zu stream_info series for %zu streams",
                  sum.stream_info, s->count);
        for (size_t k = 0; k < s->count; k++) {
            char *want = fz_utf8_repair(s->items[k].name);
            FZ_ASSERT(strcmp(names[k], want) == 0, "path label of stream %zu does not round-trip",
                      k);
            free(want);
        }
    } else {
        FZ_ASSERT(sum.stream_series == 0, "stream series served while withheld");
    }
    for (size_t k = 0; k < MAX_STREAMS; k++)
        free(names[k]);
    mxe_buf_free(&out);
}

/* Inflate one gzip member and compare it with want[0..len). */
static void check_gunzip(const mxe_buf *gz, const mxe_buf *want)
{
    z_stream z = {0};
    FZ_ASSERT(inflateInit2(&z, 15 + 16) == Z_OK, "inflateInit2");
    char *out = malloc(want->len + 1);
    FZ_ASSERT(out, "out of memory");
    z.next_in = (Bytef *)gz->data;
    z.avail_in = (uInt)gz->len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)want->len + 1; /* one byte more: a longer body would show */
    int rc = inflate(&z, Z_FINISH);
    FZ_ASSERT(rc == Z_STREAM_END, "gzip body does not inflate: %d", rc);
    FZ_ASSERT(z.avail_in == 0, "bytes after the gzip member");
    FZ_ASSERT(z.total_out == want->len && memcmp(out, want->data, want->len) == 0,
              "gzip body inflates to other bytes");
    inflateEnd(&z);
    free(out);
}

/* Each format's body compresses to a gzip stream of exactly those bytes, with zlib's
 * state in a scratch buffer as the view keeps it. */
static void check_gzip(const mxe_streams *s, const mxe_exporter_stats *st,
                       const mxe_process_stats *proc)
{
    mxe_buf zmem = MXE_BUF_INIT;
    for (int fmt = 0; fmt < 2; fmt++) {
        mxe_buf text = MXE_BUF_INIT, gz = MXE_BUF_INIT;
        FZ_ASSERT(mxe_expo_render(&text, (mxe_expo_format)fmt, s, st, proc) == 0, "render");
        FZ_ASSERT(mxe_gzip(text.data, text.len, &gz, &zmem) == 0, "gzip failed");
        check_gunzip(&gz, &text);
        mxe_buf_free(&text);
        mxe_buf_free(&gz);
    }
    mxe_buf_free(&zmem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    mxe_streams s = {0};
    uint8_t ctl = fz_u8(&in);

    mxe_arena meta = MXE_ARENA_INIT;
    mxe_exporter_stats st = {
        .up = ctl & 1,
        .mediamtx_version = (ctl & 2) ? fz_str(&in, &meta, 24) : NULL,
        .polls_total = fz_u64(&in),
        .poll_failures_total = fz_u64(&in),
        .poll_duration_s = fz_f64(&in),
        .last_success_unix = fz_f64(&in),
        .poll_interval_s = fz_f64(&in),
        .redis_up = ctl & 4,
        .mirror_failures_redis = fz_u64(&in),
        .mirror_failures_file = fz_u64(&in),
    };
    mxe_process_stats proc = {
        .cpu_seconds_total = fabs(fz_f64(&in)), /* a counter: /proc never gives < 0 */
        .resident_bytes = fz_u64(&in),
        .virtual_bytes = fz_u64(&in),
        .start_time_unix = fz_f64(&in),
        .open_fds = fz_u64(&in),
        .max_fds = fz_u64(&in),
    };
    /* A cap sometimes, so the failure path is exercised too. */
    size_t max = (ctl & 0x10) ? (size_t)fz_u8(&in) * 64 : 0;
    build_streams(&in, &s);

    const mxe_process_stats *pp = (ctl & 8) ? &proc : NULL;
    for (int fmt = 0; fmt < 2; fmt++) {
        check_render(&s, &st, pp, (mxe_expo_format)fmt, max);
        check_render(NULL, &st, pp, (mxe_expo_format)fmt, max);
    }
    check_gzip(&s, &st, pp);
    check_gzip(NULL, &st, pp);
    mxe_streams_free(&s);
    mxe_arena_free(&meta);
    return 0;
}
