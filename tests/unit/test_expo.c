/* Tests for expo.c (Prometheus / OpenMetrics exposition, Accept negotiation) and
 * procstat.c (process_* statistics).
 *
 * Golden files: tests/golden/{basic,stale}.{prom,om}. After an intended change of the
 * output, regenerate them with MXE_UPDATE_GOLDEN=1 ./test_expo, review the diff by eye
 * and validate them with tests/tools/check_exposition.py. The exporter's own version and
 * revision are replaced by @VERSION@ / @REVISION@ so the files do not change per commit. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "expo.h"
#include "model.h"
#include "procstat.h"
#include "version.h"

/* ---- fixtures ---------------------------------------------------------------------------- */

static const char *tracks_cam[] = {"H264", "MPEG-4 Audio"};
static const char *tracks_lobby[] = {"H265"};
static const char *tracks_weird[] = {"Op\"us", "K\\LV"};

static mxe_stream basic_items[] = {
    {
        .name = "cam/one",
        .source_type = "srtConn",
        .source_id = "8a3e55c2-7f0b-4a64-9f1c-0d6a2c4a8c11",
        .tracks = tracks_cam,
        .n_tracks = 2,
        .readers = 2,
        .bytes_received = 123456789,
        .bytes_sent = 246913578,
        .ready = true,
        .has_srt = true,
        .srt = {.rtt_ms = 1.25,
                .recv_rate_mbps = 4.5,
                .link_capacity_mbps = 123.456,
                .recv_latency_ms = 120,
                .packets_received = 20020,
                .packets_lost = 3,
                .packets_retrans = 7,
                .packets_dropped = 1},
    },
    {
        .name = "lobby",
        .source_type = "rtspSession",
        .source_id = "b0c6d5d1-1d9e-4d4b-a0a7-64b0c5b9c0a2",
        .tracks = tracks_lobby,
        .n_tracks = 1,
        .readers = 0,
        .bytes_received = UINT64_MAX,
        .bytes_sent = 0,
        .ready = true,
    },
    {
        .name = "offline",
        .ready = false,
    },
    {
        .name = "zz/\"quoted\"\\back\nline/\xc3\xbc\xe7\x9b\xb4\xe6\x92\xad",
        .source_type = "webRTC\"Session",
        .tracks = tracks_weird,
        .n_tracks = 2,
        .readers = 4294967295u,
        .bytes_received = 1,
        .bytes_sent = 2,
        .ready = true,
    },
};

static mxe_streams basic_streams(void)
{
    mxe_streams s = {basic_items, sizeof basic_items / sizeof basic_items[0],
                     sizeof basic_items / sizeof basic_items[0], MXE_ARENA_INIT};
    return s;
}

static const mxe_exporter_stats basic_stats = {
    .up = true,
    .mediamtx_version = "v1.20.1",
    .polls_total = 42,
    .poll_failures_total = 1,
    .poll_duration_s = 0.0123,
    .last_success_unix = 1700000000.5,
    .poll_interval_s = 2,
    .redis_up = true,
    .mirror_failures_redis = 2,
    .mirror_failures_file = 0,
    .subscribers_websocket = 3,
    .subscribers_sse = 1,
};

/* MediaMTX's version is still known from the last good poll: the stale body leaves it out. */
static const mxe_exporter_stats stale_stats = {
    .up = false,
    .mediamtx_version = "v1.20.1",
    .polls_total = 43,
    .poll_failures_total = 2,
    .poll_duration_s = 5,
    .last_success_unix = 1700000000.5,
    .poll_interval_s = 2,
    .redis_up = false,
    .mirror_failures_redis = 3,
    .mirror_failures_file = 1,
};

static const mxe_process_stats fixed_proc = {
    .cpu_seconds_total = 1.5,
    .resident_bytes = 10485760,
    .virtual_bytes = 123456789,
    .start_time_unix = 1699999000.25,
    .open_fds = 12,
    .max_fds = 1024,
    .max_virtual_bytes = UINT64_MAX, /* unlimited */
};

/* ---- helpers ----------------------------------------------------------------------------- */

/* Render and return the text (caller frees). */
static char *render(mxe_expo_format fmt, const mxe_streams *s, const mxe_exporter_stats *st,
                    const mxe_process_stats *p)
{
    mxe_buf b = MXE_BUF_INIT;
    ck_assert_int_eq(mxe_expo_render(&b, fmt, s, st, p), 0);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_uint_eq(strlen(b.data), b.len);
    return b.data;
}

static bool contains(const char *text, const char *needle)
{
    return strstr(text, needle) != NULL;
}

/* Replace the exporter's own build labels by placeholders (caller frees). */
static char *normalize_build_info(const char *text)
{
    const char *actual =
        "mediamtx_exporter_build_info{version=\"" MXE_VERSION "\",revision=\"" MXE_REVISION "\"}";
    const char *placeholder =
        "mediamtx_exporter_build_info{version=\"@VERSION@\",revision=\"@REVISION@\"}";
    const char *at = strstr(text, actual);
    ck_assert_msg(at != NULL, "build_info line missing");
    ck_assert_msg(strstr(at + 1, actual) == NULL, "build_info line twice");
    size_t head = (size_t)(at - text), alen = strlen(actual), plen = strlen(placeholder);
    size_t tail = strlen(at + alen);
    char *out = malloc(head + plen + tail + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, text, head);
    memcpy(out + head, placeholder, plen);
    memcpy(out + head + plen, at + alen, tail + 1);
    return out;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    mxe_buf b = MXE_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        mxe_buf_append(&b, chunk, n);
    fclose(f);
    if (!b.data)
        mxe_buf_append(&b, "", 0);
    return b.data;
}

static void check_golden(const char *name, const char *rendered)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/%s", MXE_TEST_DIR, name);
    char *text = normalize_build_info(rendered);
    const char *update = getenv("MXE_UPDATE_GOLDEN");
    if (update && strcmp(update, "1") == 0) {
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
        ck_assert_int_eq(fclose(f), 0);
        fprintf(stderr, "updated %s\n", path);
    } else {
        char *golden = read_file(path);
        ck_assert_msg(golden != NULL, "missing golden file %s (MXE_UPDATE_GOLDEN=1 writes it)",
                      path);
        if (strcmp(golden, text) != 0) {
            size_t i = 0;
            while (golden[i] && golden[i] == text[i])
                i++;
            ck_abort_msg("%s differs at byte %zu: expected \"%.60s\", got \"%.60s\"", name, i,
                         golden + i, text + i);
        }
        free(golden);
    }
    free(text);
}

/* ck_assert* marks a point through a pipe on every call; this runs ~10^6 times. */
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

typedef struct seen_set {
    char **items;
    size_t n, cap;
} seen_set;

static void seen_add(seen_set *s, const char *p, size_t n)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->items = realloc(s->items, s->cap * sizeof *s->items);
        REQUIRE(s->items != NULL, "out of memory");
    }
    char *copy = malloc(n + 1);
    REQUIRE(copy != NULL, "out of memory");
    memcpy(copy, p, n);
    copy[n] = '\0';
    s->items[s->n++] = copy;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort, report the first duplicate (NULL when none; points into the set), keep the set. */
static const char *seen_duplicate(seen_set *s)
{
    if (s->n > 1)
        qsort(s->items, s->n, sizeof *s->items, cmp_str);
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->items[i - 1], s->items[i]) == 0)
            return s->items[i];
    }
    return NULL;
}

static void seen_free(seen_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
    free(s->items);
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Structural check of an exposition, independent of the validators:
 * - no blank lines, every line ends with '\n', OpenMetrics ends with exactly one "# EOF";
 * - every family has exactly one HELP and one TYPE (0.0.4: named like the samples;
 *   OpenMetrics: counters without _total, # UNIT a suffix of the name), all before its
 *   samples, and no family appears twice;
 * - every sample belongs to the family whose metadata precedes it (samples together);
 * - a sample is `name{labels} value` with no timestamp, and no series appears twice.
 * Returns the number of samples. */
static size_t check_structure(const char *text, bool om)
{
    seen_set families = {0}, series = {0};
    char family[256] = "";
    char type[32] = "";
    bool have_help = false, have_type = false, have_unit = false, in_samples = false;
    size_t n_samples = 0;
    const char *p = text;
    bool eof = false;
    while (*p) {
        const char *nl = strchr(p, '\n');
        REQUIRE(nl != NULL, "last line lacks a newline");
        size_t len = (size_t)(nl - p);
        REQUIRE(len > 0, "blank line");
        REQUIRE(!eof, "text after # EOF");
        if (len == 5 && memcmp(p, "# EOF", 5) == 0) {
            REQUIRE(om, "# EOF in the 0.0.4 format");
            eof = true;
        } else if (p[0] == '#') {
            /* "# KIND name rest" */
            char kind[8], name[256];
            REQUIRE(sscanf(p, "# %7s %255s", kind, name) == 2, "bad metadata %.*s", (int)len, p);
            const char *rest = p + 2 + strlen(kind) + 1 + strlen(name);
            REQUIRE(rest < nl && *rest == ' ' && rest + 1 < nl, "metadata without text");
            if (strcmp(name, family) != 0) {
                REQUIRE(!in_samples || (have_help && have_type), "incomplete family %s", family);
                snprintf(family, sizeof family, "%s", name);
                seen_add(&families, name, strlen(name));
                have_help = have_type = have_unit = in_samples = false;
                type[0] = '\0';
            }
            REQUIRE(!in_samples, "metadata after samples of %s", name);
            if (strcmp(kind, "HELP") == 0) {
                REQUIRE(!have_help, "two HELP lines for %s", name);
                have_help = true;
            } else if (strcmp(kind, "TYPE") == 0) {
                REQUIRE(!have_type, "two TYPE lines for %s", name);
                have_type = true;
                snprintf(type, sizeof type, "%.*s", (int)(nl - rest - 1), rest + 1);
                REQUIRE(strcmp(type, "gauge") == 0 || strcmp(type, "counter") == 0, "type %s",
                        type);
                bool total = ends_with(name, strlen(name), "_total");
                if (strcmp(type, "counter") == 0)
                    REQUIRE(om ? !total : total, "counter family name %s", name);
                else
                    REQUIRE(!total, "gauge %s ends in _total", name);
            } else if (strcmp(kind, "UNIT") == 0) {
                REQUIRE(om, "# UNIT in the 0.0.4 format");
                REQUIRE(!have_unit, "two UNIT lines for %s", name);
                have_unit = true;
                char suffix[64];
                snprintf(suffix, sizeof suffix, "_%.*s", (int)(nl - rest - 1), rest + 1);
                REQUIRE(ends_with(name, strlen(name), suffix), "unit of %s", name);
            } else {
                ck_abort_msg("unknown metadata %s", kind);
            }
        } else {
            REQUIRE(have_help && have_type, "sample before metadata: %.*s", (int)len, p);
            in_samples = true;
            const char *q = p;
            while (q < nl && *q != '{' && *q != ' ')
                q++;
            char want[300];
            snprintf(want, sizeof want, "%s%s", family,
                     om && strcmp(type, "counter") == 0 ? "_total" : "");
            REQUIRE((size_t)(q - p) == strlen(want) && memcmp(p, want, strlen(want)) == 0,
                    "sample %.*s outside its family %s", (int)len, p, family);
            if (*q == '{') {
                q++;
                while (q < nl && *q != '}') {
                    /* name="value", value with \\, \" and \n escapes only */
                    while (q < nl && *q != '=')
                        q++;
                    REQUIRE(q + 1 < nl && q[1] == '"', "bad label in %.*s", (int)len, p);
                    q += 2;
                    while (q < nl && *q != '"') {
                        if (*q == '\\') {
                            REQUIRE(q[1] == '\\' || q[1] == '"' || q[1] == 'n',
                                    "bad escape in %.*s", (int)len, p);
                            q++;
                        }
                        q++;
                    }
                    REQUIRE(q < nl, "unterminated label value");
                    q++;
                    if (*q == ',')
                        q++;
                }
                REQUIRE(q < nl && *q == '}', "unterminated labels");
                q++;
            }
            REQUIRE(*q == ' ' && q + 1 < nl, "no value in %.*s", (int)len, p);
            REQUIRE(memchr(q + 1, ' ', (size_t)(nl - q - 1)) == NULL,
                    "timestamp or junk after the value: %.*s", (int)len, p);
            char *endp;
            strtod(q + 1, &endp);
            REQUIRE(endp == nl, "bad value in %.*s", (int)len, p);
            seen_add(&series, p, (size_t)(q - p));
            n_samples++;
        }
        p = nl + 1;
    }
    REQUIRE(!om || eof, "OpenMetrics without # EOF");
    const char *dup = seen_duplicate(&series);
    REQUIRE(dup == NULL, "duplicate series %s", dup ? dup : "");
    dup = seen_duplicate(&families);
    REQUIRE(dup == NULL, "family %s emitted twice", dup ? dup : "");
    seen_free(&series);
    seen_free(&families);
    return n_samples;
}

/* Every HELP line ends with the sampling sentence quoting the poll interval (2 s here). */
static void check_help_sentences(const char *text)
{
    size_t n_help = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        REQUIRE(end != NULL, "unterminated line");
        if (strncmp(line, "# HELP ", 7) == 0) {
            n_help++;
            bool mediamtx = strncmp(line + 7, "mediamtx_", 9) == 0 &&
                            strncmp(line + 7, "mediamtx_exporter_", 18) != 0;
            bool process = strncmp(line + 7, "process_", 8) == 0;
            const char *want =
                mediamtx  ? ". Values come from a background poll of the MediaMTX API every 2 s."
                : process ? ". Values are read at most once per poll cycle, every 2 s."
                          : ". Values are sampled by the background poll every 2 s.";
            size_t wl = strlen(want);
            REQUIRE((size_t)(end - line) > wl && memcmp(end - wl, want, wl) == 0,
                    "HELP without the sampling sentence: %.*s", (int)(end - line), line);
        }
        line = end + 1;
    }
    REQUIRE(n_help >= 10, "only %zu HELP lines", n_help);
}

/* ---- golden files ------------------------------------------------------------------------ */

START_TEST(golden_basic)
{
    mxe_streams s = basic_streams();
    char *prom = render(MXE_FMT_PROMETHEUS, &s, &basic_stats, &fixed_proc);
    char *om = render(MXE_FMT_OPENMETRICS, &s, &basic_stats, &fixed_proc);
    check_structure(prom, false);
    check_structure(om, true);
    check_help_sentences(prom);
    check_help_sentences(om);
    check_golden("basic.prom", prom);
    check_golden("basic.om", om);
    free(prom);
    free(om);
}
END_TEST

START_TEST(golden_stale)
{
    char *prom = render(MXE_FMT_PROMETHEUS, NULL, &stale_stats, &fixed_proc);
    char *om = render(MXE_FMT_OPENMETRICS, NULL, &stale_stats, &fixed_proc);
    check_structure(prom, false);
    check_structure(om, true);
    check_help_sentences(prom);
    check_help_sentences(om);
    /* MediaMTX's version is known (stale_stats), but not served while MediaMTX is down */
    ck_assert(!contains(prom, "mediamtx_info"));
    ck_assert(!contains(om, "mediamtx_info"));
    check_golden("stale.prom", prom);
    check_golden("stale.om", om);
    free(prom);
    free(om);
}
END_TEST

/* The golden files pass promtool and the OpenMetrics parser (and have no duplicates). */
START_TEST(golden_validators)
{
    const char *cmd = "/usr/bin/python3 " MXE_TEST_DIR "/tools/check_exposition.py " MXE_TEST_DIR
                      "/golden/basic.prom " MXE_TEST_DIR "/golden/basic.om " MXE_TEST_DIR
                      "/golden/stale.prom " MXE_TEST_DIR "/golden/stale.om";
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- content ----------------------------------------------------------------------------- */

START_TEST(escaping)
{
    mxe_streams s = basic_streams();
    mxe_exporter_stats st = basic_stats;
    st.mediamtx_version = "v1\"2\\3\n4";
    static const char *bad_tracks[] = {"\xff\xfe", "ok\xc3", "\xed\xa0\x80", "\xf0\x9f\x8e\xa5"};
    mxe_stream items[2] = {basic_items[1], basic_items[3]};
    items[0].tracks = bad_tracks;
    items[0].n_tracks = 4;
    s.items = items;
    s.count = 2;
    for (int fmt = 0; fmt < 2; fmt++) {
        char *t = render((mxe_expo_format)fmt, &s, &st, NULL);
        ck_assert(contains(t, "\nmediamtx_stream_ready{path=\"zz/\\\"quoted\\\"\\\\back\\nline/"
                              "\xc3\xbc\xe7\x9b\xb4\xe6\x92\xad\"} 1\n"));
        ck_assert(
            contains(t, "source_type=\"webRTC\\\"Session\",tracks=\"Op\\\"us,K\\\\LV\"} 1\n"));
        ck_assert(contains(t, "\nmediamtx_info{version=\"v1\\\"2\\\\3\\n4\"} 1\n"));
        /* invalid UTF-8 becomes U+FFFD byte by byte; valid 4-byte sequences stay */
        ck_assert(contains(t, "tracks=\"\xef\xbf\xbd\xef\xbf\xbd,ok\xef\xbf\xbd,"
                              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd,\xf0\x9f\x8e\xa5\"} 1\n"));
        /* an absent source is an empty label value */
        check_structure(t, fmt == MXE_FMT_OPENMETRICS);
        free(t);
    }
    mxe_stream none = {.name = "x"};
    s.items = &none;
    s.count = 1;
    char *t = render(MXE_FMT_PROMETHEUS, &s, &st, NULL);
    ck_assert(contains(t, "\nmediamtx_stream_info{path=\"x\",source_type=\"\",tracks=\"\"} 1\n"));
    free(t);
}
END_TEST

START_TEST(exact_u64)
{
    mxe_streams s = basic_streams();
    mxe_exporter_stats st = basic_stats;
    st.polls_total = UINT64_MAX;
    mxe_stream item = basic_items[0];
    item.bytes_sent = UINT64_MAX;
    item.srt.packets_lost = UINT64_MAX - 1;
    item.srt.packets_received = UINT64_MAX;
    s.items = &item;
    s.count = 1;
    for (int fmt = 0; fmt < 2; fmt++) {
        char *t = render((mxe_expo_format)fmt, &s, &st, NULL);
        ck_assert(contains(
            t, "\nmediamtx_stream_sent_bytes_total{path=\"cam/one\"} 18446744073709551615\n"));
        ck_assert(contains(t, "\nmediamtx_stream_srt_received_packets_lost_total{path=\"cam/one\"} "
                              "18446744073709551614\n"));
        ck_assert(contains(t, "\nmediamtx_stream_srt_received_packets_total{path=\"cam/one\"} "
                              "18446744073709551615\n"));
        ck_assert(contains(t, "\nmediamtx_exporter_polls_total 18446744073709551615\n"));
        free(t);
    }
}
END_TEST

START_TEST(srt_values)
{
    mxe_streams s = basic_streams();
    char *t = render(MXE_FMT_PROMETHEUS, &s, &basic_stats, NULL);
    ck_assert(contains(t, "\nmediamtx_stream_srt_rtt_seconds{path=\"cam/one\"} 0.00125\n"));
    ck_assert(contains(
        t, "\nmediamtx_stream_srt_receive_rate_bytes_per_second{path=\"cam/one\"} 589824\n"));
    ck_assert(contains(
        t,
        "\nmediamtx_stream_srt_link_capacity_bytes_per_second{path=\"cam/one\"} 16181624.832\n"));
    ck_assert(
        contains(t, "\nmediamtx_stream_srt_receive_latency_seconds{path=\"cam/one\"} 0.12\n"));
    ck_assert(contains(t, "# TYPE mediamtx_stream_srt_received_packets_total counter\n"
                          "mediamtx_stream_srt_received_packets_total{path=\"cam/one\"} 20020\n"));
    ck_assert(!contains(t, "srt_received_packets_total{path=\"lobby\"}"));
    /* only the SRT-published stream has SRT series */
    ck_assert(!contains(t, "srt_rtt_seconds{path=\"lobby\"}"));
    free(t);
}
END_TEST

START_TEST(no_srt_families_without_srt_streams)
{
    mxe_streams s = basic_streams();
    s.items = basic_items + 1;
    s.count = 3;
    for (int fmt = 0; fmt < 2; fmt++) {
        char *t = render((mxe_expo_format)fmt, &s, &basic_stats, &fixed_proc);
        ck_assert(!contains(t, "srt"));
        ck_assert(contains(t, "\nmediamtx_stream_readers{path=\"lobby\"} 0\n"));
        free(t);
    }
}
END_TEST

START_TEST(no_streams_no_stream_families)
{
    for (int fmt = 0; fmt < 2; fmt++) {
        char *t = render((mxe_expo_format)fmt, NULL, &basic_stats, &fixed_proc);
        ck_assert(!contains(t, "mediamtx_stream"));
        ck_assert(contains(t, "\nmediamtx_up 1\n"));
        ck_assert(contains(t, "\nprocess_open_fds 12\n"));
        free(t);
    }
    /* an empty list is not "no data": the counts are there, the per-stream families not */
    mxe_streams empty = {NULL, 0, 0, MXE_ARENA_INIT};
    char *t = render(MXE_FMT_PROMETHEUS, &empty, &basic_stats, NULL);
    ck_assert(contains(t, "\nmediamtx_streams 0\n"));
    ck_assert(contains(t, "\nmediamtx_streams_ready 0\n"));
    ck_assert(!contains(t, "mediamtx_stream_"));
    ck_assert(!contains(t, "process_"));
    free(t);
}
END_TEST

START_TEST(server_families)
{
    mxe_streams s = basic_streams();
    char *t = render(MXE_FMT_PROMETHEUS, &s, &basic_stats, &fixed_proc);
    ck_assert(contains(t, "\nmediamtx_streams 4\n"));
    ck_assert(contains(t, "\nmediamtx_streams_ready 3\n"));
    ck_assert(contains(t, "\nmediamtx_info{version=\"v1.20.1\"} 1\n"));
    ck_assert(contains(t, "\nmediamtx_exporter_mirror_failures_total{target=\"redis\"} 2\n"
                          "mediamtx_exporter_mirror_failures_total{target=\"file\"} 0\n"));
    ck_assert(contains(t, "\nmediamtx_exporter_last_success_timestamp_seconds 1700000000.5\n"));
    ck_assert(contains(t, "\nprocess_cpu_seconds_total 1.5\n"));
    ck_assert(contains(t, "\nprocess_virtual_memory_max_bytes 18446744073709551615\n"));
    ck_assert(contains(t, " every 2 s.\n"));
    free(t);
    mxe_process_stats limited = fixed_proc;
    limited.max_virtual_bytes = 8589934592u;
    t = render(MXE_FMT_OPENMETRICS, &s, &basic_stats, &limited);
    ck_assert(contains(t, "# TYPE process_virtual_memory_max_bytes gauge\n"
                          "# UNIT process_virtual_memory_max_bytes bytes\n"));
    ck_assert(contains(t, "\nprocess_virtual_memory_max_bytes 8589934592\n"));
    free(t);

    mxe_exporter_stats st = stale_stats;
    st.poll_interval_s = 0.5;
    st.last_success_unix = 0;
    t = render(MXE_FMT_PROMETHEUS, NULL, &st, NULL);
    ck_assert(contains(t, "\nmediamtx_up 0\n"));
    ck_assert(!contains(t, "mediamtx_info"));
    ck_assert(contains(t, " every 0.5 s.\n"));
    ck_assert(!contains(t, " every 2 s."));
    ck_assert(contains(t, "\nmediamtx_exporter_last_success_timestamp_seconds 0\n"));
    free(t);
}
END_TEST

START_TEST(format_differences)
{
    mxe_streams s = basic_streams();
    char *prom = render(MXE_FMT_PROMETHEUS, &s, &basic_stats, &fixed_proc);
    char *om = render(MXE_FMT_OPENMETRICS, &s, &basic_stats, &fixed_proc);

    ck_assert(contains(prom, "# TYPE mediamtx_stream_received_bytes_total counter\n"));
    ck_assert(contains(prom, "# HELP mediamtx_stream_received_bytes_total "));
    ck_assert(!contains(prom, "# UNIT"));
    ck_assert(!contains(prom, "# EOF"));

    ck_assert(contains(om, "# TYPE mediamtx_stream_received_bytes counter\n"
                           "# UNIT mediamtx_stream_received_bytes bytes\n"
                           "# HELP mediamtx_stream_received_bytes "));
    ck_assert(!contains(om, "_total counter"));
    ck_assert(contains(om, "\nmediamtx_stream_received_bytes_total{path=\"cam/one\"} 123456789\n"));
    ck_assert(contains(om, "# UNIT process_cpu_seconds seconds\n"));
    ck_assert(!contains(om, "# UNIT mediamtx_stream_srt_received_packets"));
    size_t n = strlen(om);
    ck_assert(n > 6 && strcmp(om + n - 6, "# EOF\n") == 0);
    ck_assert(strstr(om, "# EOF") == om + n - 6);
    ck_assert_str_eq(mxe_expo_content_type(MXE_FMT_OPENMETRICS), MXE_OPENMETRICS_CONTENT_TYPE);
    ck_assert_str_eq(mxe_expo_content_type(MXE_FMT_PROMETHEUS), MXE_PROMETHEUS_CONTENT_TYPE);
    free(prom);
    free(om);
}
END_TEST

/* 10,000 streams, every other one over SRT: structure, uniqueness, sample count. */
START_TEST(many_streams)
{
    enum { N = 10000 };
    mxe_stream *items = calloc(N, sizeof *items);
    char(*names)[32] = malloc(N * sizeof *names);
    ck_assert(items && names);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "cam/%05d", i);
        items[i] = basic_items[0];
        items[i].name = names[i];
        items[i].has_srt = i % 2 == 0;
        items[i].bytes_received = (uint64_t)i * 1000003u;
    }
    mxe_streams s = {items, N, N, MXE_ARENA_INIT};
    for (int fmt = 0; fmt < 2; fmt++) {
        char *t = render((mxe_expo_format)fmt, &s, &basic_stats, &fixed_proc);
        size_t n = check_structure(t, fmt == MXE_FMT_OPENMETRICS);
        /* 5 per stream + 8 per SRT stream + up, info, 2 counts, build_info, 2 polls, duration,
         * last success, redis_up, 2 mirror targets, 2 live feeds, 7 process */
        ck_assert_uint_eq(n, (size_t)N * 5 + N / 2 * 8 + 21);
        free(t);
    }
    free(items);
    free(names);
}
END_TEST

START_TEST(buffer_failure_is_reported)
{
    mxe_streams s = basic_streams();
    mxe_buf b = MXE_BUF_INIT;
    b.max = 100;
    ck_assert_int_eq(mxe_expo_render(&b, MXE_FMT_PROMETHEUS, &s, &basic_stats, &fixed_proc), -1);
    mxe_buf_free(&b);
    /* appending after earlier content keeps that content */
    mxe_buf c = MXE_BUF_INIT;
    mxe_buf_puts(&c, "HEAD\n");
    ck_assert_int_eq(mxe_expo_render(&c, MXE_FMT_PROMETHEUS, NULL, &stale_stats, NULL), 0);
    ck_assert(strncmp(c.data, "HEAD\n# HELP mediamtx_up ", 24) == 0);
    mxe_buf_free(&c);
}
END_TEST

/* ---- negotiation ------------------------------------------------------------------------- */

typedef struct negotiate_case {
    const char *accept;
    mxe_expo_format want;
} negotiate_case;

#define OM   MXE_FMT_OPENMETRICS
#define PROM MXE_FMT_PROMETHEUS

static const negotiate_case negotiate_cases[] = {
    /* Prometheus 2.42 */
    {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
     "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
     OM},
    /* Prometheus 2.x with scrape_classic / older: text preferred */
    {"text/plain;version=0.0.4;q=1,*/*;q=0.1", PROM},
    {NULL, PROM},
    {"", PROM},
    {"   ", PROM},
    {",,,", PROM},
    {"*/*", PROM},
    {"text/plain", PROM},
    {"application/openmetrics-text", OM},
    {"APPLICATION/OpenMetrics-Text; Version=1.0.0", OM},
    {"  application/openmetrics-text ; version=1.0.0 ; q=0.9 , text/plain ; q=0.8 ", OM},
    {"application/openmetrics-text;q=0.5,text/plain;q=0.9", PROM},
    {"application/openmetrics-text;q=0.5,text/plain", PROM},   /* missing q = 1 */
    {"text/plain;q=0.4,application/openmetrics-text", OM},     /* missing q = 1 */
    {"text/plain,application/openmetrics-text", PROM},         /* tie: first wins */
    {"application/openmetrics-text,text/plain", OM},           /* tie: first wins */
    {"application/openmetrics-text;q=0", PROM},                /* q=0: not acceptable */
    {"application/openmetrics-text;q=0.000,*/*", PROM},        /* exact range beats * / * */
    {"text/plain;q=0,application/openmetrics-text;q=0.1", OM}, /* text refused */
    {"*/*;q=0.1,application/openmetrics-text;q=0.2", OM},
    {"application/openmetrics-text;q=0.2,*/*;q=0.3", PROM},
    {"text/*;q=0.3,application/openmetrics-text;q=0.2", PROM},
    {"application/*", OM},
    {"application/json", PROM},
    {"application/openmetrics-text;q=1.5", PROM},    /* invalid q: range ignored */
    {"application/openmetrics-text;q=abc", PROM},    /* invalid q: range ignored */
    {"application/openmetrics-text;q=0.1234", PROM}, /* more than 3 decimals */
    {"application/openmetrics-text;q=1.000", OM},
    {"application/openmetrics-text;q=", PROM},
    {"application/openmetrics-text;q=\"1\"", PROM},
    {"garbage", PROM},
    {"garbage,application/openmetrics-text", OM},
    {"application/openmetrics-text garbage", PROM},
    {"application/openmetrics-text;foo=\"a,b;q=0\",text/plain;q=0.5", OM},
    {"application/openmetrics-text;foo=\"unterminated,text/plain", OM},
    {"application/openmetrics-text;foo=\"\\", OM},
    {"text/plain;q=0.5,application/openmetrics-text;q=0.5", PROM},
    {"/plain,application/openmetrics-text", OM},
    {"application/,text/plain;q=0.1", PROM},
    {"application/openmetrics-text;", OM},
    {"application/openmetrics-text;;q=0.9,text/plain;q=0.8", OM},
    {"application/openmetrics-text;version", PROM},
    {"\tapplication/openmetrics-text\t", OM},
    {"*/plain", PROM},
};

START_TEST(negotiate_table)
{
    const negotiate_case *c = &negotiate_cases[_i];
    ck_assert_msg(mxe_expo_negotiate(c->accept) == c->want, "Accept \"%s\": want %s",
                  c->accept ? c->accept : "(null)", c->want == OM ? "OpenMetrics" : "0.0.4");
}
END_TEST

/* Long and adversarial headers: terminates, reads only inside the string (run under ASan). */
START_TEST(negotiate_adversarial)
{
    enum { N = 1 << 20 };
    char *s = malloc(N + 1);
    ck_assert_ptr_nonnull(s);
    const char *patterns[] = {"\"", ";", ",", "\\", "a/b;q=\"", "*/*;q=0.1,", ";a=\"\\"};
    for (size_t k = 0; k < sizeof patterns / sizeof patterns[0]; k++) {
        size_t pl = strlen(patterns[k]), n = 0;
        while (n + pl <= N) {
            memcpy(s + n, patterns[k], pl);
            n += pl;
        }
        s[n] = '\0';
        clock_t t0 = clock();
        mxe_expo_format f = mxe_expo_negotiate(s);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        ck_assert(f == PROM || f == OM);
        ck_assert_msg(secs < 1.0, "pattern %zu took %.3f s", k, secs);
    }
    free(s);
}
END_TEST

/* ---- procstat ---------------------------------------------------------------------------- */

START_TEST(procstat_plausible)
{
    mxe_process_stats p;
    ck_assert_int_eq(mxe_procstat_read(&p), 0);
    double now = (double)time(NULL);
    ck_assert(p.resident_bytes > 0);
    ck_assert(p.virtual_bytes >= p.resident_bytes);
    ck_assert_uint_ge(p.open_fds, 3);
    ck_assert_uint_ge(p.max_fds, p.open_fds);
    struct rlimit as;
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &as), 0);
    ck_assert(p.max_virtual_bytes ==
              (as.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)as.rlim_cur));
    ck_assert(p.cpu_seconds_total >= 0 && p.cpu_seconds_total < 3600);
    ck_assert_msg(p.start_time_unix <= now + 2 && p.start_time_unix > now - 86400,
                  "start %.2f now %.0f", p.start_time_unix, now);

    /* The descriptors, against a listing made here: four more open, counted exactly. */
    int extra[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_ge(extra[i] = open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
    mxe_process_stats q;
    ck_assert_int_eq(mxe_procstat_read(&q), 0);
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    uint64_t listed = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        listed += e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d);
    closedir(d);
    ck_assert_uint_eq(q.open_fds, listed);
    ck_assert_uint_eq(q.open_fds, p.open_fds + 4);
    for (int i = 0; i < 4; i++)
        close(extra[i]);

    /* The start time: the btime line of /proc/stat, read here, plus the start in ticks. */
    FILE *f = fopen("/proc/stat", "re");
    ck_assert_ptr_nonnull(f);
    char line[256];
    unsigned long long btime = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    ck_assert_uint_gt(btime, 0);
    double ticks = (double)sysconf(_SC_CLK_TCK);
    double uptime = 0;
    f = fopen("/proc/uptime", "re");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lf", &uptime), 1);
    fclose(f);
    double since_boot = p.start_time_unix - (double)btime; /* a whole number of ticks */
    ck_assert_msg(since_boot >= 0 && since_boot <= uptime + 1,
                  "started %.2f s after boot, up %.2f s", since_boot, uptime);
    ck_assert_double_eq_tol(since_boot * ticks, (double)(long long)(since_boot * ticks + 0.5),
                            1e-3);
}
END_TEST

START_TEST(procstat_parse)
{
    /* Real layout; the comm holds spaces, ')' and digits to mislead a naive parser. */
    const char *line = "4242 (evil) 1 2 ) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
                       "250 50 0 0 20 0 3 0 123456 987654321 2048 18446744073709551615 1 1 0 "
                       "0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    mxe_proc_stat_fields f;
    ck_assert_int_eq(mxe_procstat_parse_stat(line, strlen(line), &f), 0);
    ck_assert_uint_eq(f.utime_ticks, 250);
    ck_assert_uint_eq(f.stime_ticks, 50);
    ck_assert_uint_eq(f.starttime_ticks, 123456);
    ck_assert_uint_eq(f.vsize_bytes, 987654321);
    ck_assert_uint_eq(f.rss_pages, 2048);

    /* truncated: the text ends before field 24 (the length excludes the rest) */
    size_t cut = (size_t)(strstr(line, " 2048 ") - line);
    ck_assert_int_eq(mxe_procstat_parse_stat(line, cut, &f), -1);
    ck_assert_int_eq(mxe_procstat_parse_stat(line, cut + 2, &f), 0);
    ck_assert_uint_eq(f.rss_pages, 2);
    ck_assert_int_eq(mxe_procstat_parse_stat("1 (x", 4, &f), -1);
    ck_assert_int_eq(mxe_procstat_parse_stat("", 0, &f), -1);
    const char *negative = "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 0 0 0 20 0 1 0 1 1 1\n";
    ck_assert_int_eq(mxe_procstat_parse_stat(negative, strlen(negative), &f), -1);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------------- */

static Suite *expo_suite(void)
{
    Suite *s = suite_create("expo");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, golden_basic);
    tcase_add_test(tc, golden_stale);
    tcase_add_test(tc, escaping);
    tcase_add_test(tc, exact_u64);
    tcase_add_test(tc, srt_values);
    tcase_add_test(tc, no_srt_families_without_srt_streams);
    tcase_add_test(tc, no_streams_no_stream_families);
    tcase_add_test(tc, server_families);
    tcase_add_test(tc, format_differences);
    tcase_add_test(tc, many_streams);
    tcase_add_test(tc, buffer_failure_is_reported);
    suite_add_tcase(s, tc);

    tc = tcase_create("validators");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, golden_validators);
    suite_add_tcase(s, tc);

    tc = tcase_create("negotiate");
    tcase_add_loop_test(tc, negotiate_table, 0,
                        (int)(sizeof negotiate_cases / sizeof negotiate_cases[0]));
    tcase_add_test(tc, negotiate_adversarial);
    suite_add_tcase(s, tc);

    tc = tcase_create("procstat");
    tcase_add_test(tc, procstat_plausible);
    tcase_add_test(tc, procstat_parse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(expo_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
