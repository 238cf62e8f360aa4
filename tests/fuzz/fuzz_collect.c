/* libFuzzer target: MediaMTX answers → stream records → the JSON document → parsed back.
 *
 * The input is up to eight response bodies separated by the byte 0x1E. A body that starts
 * with 'S' (dropped) is a page of /v3/srtconns/list, one that starts with 'I' is a /v3/info
 * or error answer, any other a page of /v3/paths/list. Pages are fed in order, as the poll
 * does, and a rejected page does not end the run (collect.h: "the page is rejected whole",
 * so the collector must stay consistent). Properties:
 *  - a rejected page gives one line of reason, with no control characters (a path name may
 *    hold a newline: it must not forge a log line), and so do the version and error texts;
 *    nothing crashes, leaks or reads out of bounds;
 *  - after mxe_collect_finish(): names non-empty, sorted and unique; readers_by_type sorted,
 *    summing to readers; an SRT join only for a srtConn source;
 *  - mxe_streams_json_write() output is valid UTF-8 and parses with mxe_json_parse() as an
 *    array of as many objects as records, each record's name and bytesReceived read back
 *    equal, the SRT numbers null or finite, each per-record slice (for /api/streams/{path})
 *    a whole JSON object;
 *  - the exposition of the records passes the checker in both formats. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "collect.h"
#include "expo.h"
#include "fuzz_util.h"
#include "json.h"
#include "streams_json.h"

#define SEP       0x1E
#define MAX_PARTS 8

/* Text that goes into a log line: not empty, one line, no control characters, UTF-8. */
static void check_loggable(const char *v, size_t cap)
{
    size_t n = strnlen(v, cap);
    FZ_ASSERT(n > 0 && n < cap, "empty or unterminated text accepted");
    for (size_t i = 0; i < n; i++)
        FZ_ASSERT((unsigned char)v[i] >= 0x20 && v[i] != 0x7f, "control character in %s", v);
    FZ_ASSERT(fz_valid_utf8(v, n), "text is not UTF-8");
}

static void check_err(int rc, const char *err)
{
    if (rc == 0)
        return;
    check_loggable(err, 256);
}

static void check_records(const mxe_streams *s)
{
    for (size_t i = 0; i < s->count; i++) {
        const mxe_stream *st = &s->items[i];
        FZ_ASSERT(st->name && st->name[0], "record %zu without a name", i);
        if (i)
            FZ_ASSERT(strcmp(s->items[i - 1].name, st->name) < 0, "names not sorted/unique at %zu",
                      i);
        uint64_t sum = 0;
        for (uint32_t k = 0; k < st->n_reader_types; k++) {
            sum += st->readers_by_type[k].count;
            if (k)
                FZ_ASSERT(strcmp(st->readers_by_type[k - 1].type, st->readers_by_type[k].type) < 0,
                          "reader types not sorted/unique");
        }
        FZ_ASSERT(sum == st->readers, "readers %u but %llu by type", st->readers,
                  (unsigned long long)sum);
        if (st->has_srt)
            FZ_ASSERT(st->source_type && strcmp(st->source_type, "srtConn") == 0 && st->source_id,
                      "SRT statistics joined to a non-SRT source");
        for (uint32_t t = 0; t < st->n_tracks; t++)
            FZ_ASSERT(st->tracks[t] != NULL, "NULL track");
    }
}

static void check_json_roundtrip(const mxe_streams *s)
{
    mxe_buf out = MXE_BUF_INIT;
    size_t n = s->count ? s->count : 1;
    size_t *off = malloc(n * sizeof *off), *len = malloc(n * sizeof *len);
    FZ_ASSERT(off && len, "out of memory");
    FZ_ASSERT(mxe_streams_json_write(&out, s, off, len) == 0, "JSON write failed");
    FZ_ASSERT(fz_valid_utf8(out.data, out.len), "JSON document is not valid UTF-8");

    mxe_json j = MXE_JSON_INIT;
    char err[256];
    FZ_ASSERT(mxe_json_parse(&j, out.data, out.len, err, sizeof err) == 0,
              "our own JSON does not parse: %s", err);
    FZ_ASSERT(mxe_json_type_of(&j, 0) == MXE_JSON_ARRAY, "root is not an array");
    FZ_ASSERT((size_t)mxe_json_size(&j, 0) == s->count, "%d elements for %zu records",
              mxe_json_size(&j, 0), s->count);
    mxe_arena a = MXE_ARENA_INIT;
    int e = 1;
    for (size_t i = 0; i < s->count; i++, e = mxe_json_skip(&j, e)) {
        FZ_ASSERT(mxe_json_type_of(&j, e) == MXE_JSON_OBJECT, "element %zu is not an object", i);
        const char *name;
        FZ_ASSERT(mxe_json_str(&j, mxe_json_get(&j, e, "name"), &a, &name) == 0,
                  "element %zu: name unreadable", i);
        FZ_ASSERT(strcmp(name, s->items[i].name) == 0, "element %zu: name does not round-trip", i);
        uint64_t br;
        FZ_ASSERT(mxe_json_u64(&j, mxe_json_get(&j, e, "bytesReceived"), &br) == 0 &&
                      br == s->items[i].bytes_received,
                  "element %zu: bytesReceived does not round-trip", i);
        /* SRT numbers: null, or a finite number that reads back (never rounded past the
         * largest double, which JSON readers turn into Infinity or reject). */
        static const char *const nums[] = {"rtt", "recvRateMbps", "linkCapacityMbps"};
        for (int k = 0; k < 3; k++) {
            int t = mxe_json_get(&j, e, nums[k]);
            double d;
            FZ_ASSERT(t >= 0 && (mxe_json_type_of(&j, t) == MXE_JSON_NULL ||
                                 mxe_json_double(&j, t, &d) == 0),
                      "element %zu: %s is neither null nor a finite number", i, nums[k]);
        }
        size_t rl;
        const char *raw = mxe_json_raw(&j, e, &rl);
        FZ_ASSERT(raw == out.data + off[i] && rl == len[i], "record %zu slice is off", i);
    }
    /* Each slice alone is a document (served as /api/streams/{path}). */
    for (size_t i = 0; i < s->count; i++) {
        FZ_ASSERT(mxe_json_parse(&j, out.data + off[i], len[i], err, sizeof err) == 0 &&
                      mxe_json_type_of(&j, 0) == MXE_JSON_OBJECT,
                  "record %zu alone does not parse", i);
    }
    mxe_arena_free(&a);
    mxe_json_free(&j);
    free(off);
    free(len);
    mxe_buf_free(&out);
}

static void check_exposition(const mxe_streams *s)
{
    mxe_exporter_stats st = {.up = true, .polls_total = 1, .poll_interval_s = 2};
    for (int fmt = 0; fmt < 2; fmt++) {
        mxe_buf out = MXE_BUF_INIT;
        FZ_ASSERT(mxe_expo_render(&out, (mxe_expo_format)fmt, s, &st, NULL) == 0, "render failed");
        fz_expo_summary sum;
        fz_check_exposition(out.data, out.len, fmt == MXE_FMT_OPENMETRICS, &sum, NULL, 0);
        FZ_ASSERT(sum.stream_info == s->count, "stream_info count");
        mxe_buf_free(&out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mxe_collect c = MXE_COLLECT_INIT;
    const char *p = (const char *)data, *end = p + size;
    char err[256];
    for (int part = 0; part < MAX_PARTS && p <= end; part++) {
        const char *sep = memchr(p, SEP, (size_t)(end - p));
        const char *stop = sep ? sep : end;
        /* Each body in its own allocation: ASan then catches a read one byte past it. */
        size_t n = (size_t)(stop - p);
        char *body = malloc(n ? n : 1);
        FZ_ASSERT(body, "out of memory");
        memcpy(body, p, n);
        uint64_t pages = 0;
        err[0] = '\0';
        if (n && body[0] == 'S') {
            check_err(mxe_collect_srt_page(&c, body + 1, n - 1, &pages, err, sizeof err), err);
        } else if (n && body[0] == 'I') {
            char v[64];
            if (mxe_collect_info_version(body + 1, n - 1, v, sizeof v) == 0)
                check_loggable(v, sizeof v);
            if (mxe_collect_error_text(body + 1, n - 1, v, sizeof v) == 0)
                check_loggable(v, sizeof v);
        } else {
            check_err(mxe_collect_paths_page(&c, body, n, &pages, err, sizeof err), err);
        }
        free(body);
        if (!sep)
            break;
        p = sep + 1;
    }
    mxe_streams s = {0};
    FZ_ASSERT(mxe_collect_finish(&c, &s) == 0, "finish failed");
    check_records(&s);
    check_json_roundtrip(&s);
    check_exposition(&s);
    mxe_streams_free(&s);
    mxe_collect_free(&c);
    return 0;
}
