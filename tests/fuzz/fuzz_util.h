/* Shared by the libFuzzer targets: a byte reader that turns fuzz input into typed values,
 * and independent checkers for what the exporter writes (the Prometheus / OpenMetrics
 * exposition and the JSON document). The checkers are written from the format rules, not
 * from the renderers' code, so that a renderer bug is not copied into its own test.
 * Every violated property prints one line naming it and aborts: libFuzzer then saves the
 * input as a crash. Header-only: each target is one translation unit. */
#ifndef MXE_FUZZ_UTIL_H
#define MXE_FUZZ_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "model.h"

#define FZ_ASSERT(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz property violated at %s:%d: ", __FILE__, __LINE__);              \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- input reader ------------------------------------------------------------------------ */

typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

static inline uint8_t fz_u8(fz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint64_t fz_u64(fz_in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | fz_u8(in);
    return v;
}

/* A double: sometimes raw bits (NaN, Inf, huge, subnormal), mostly small plausible values. */
static inline double fz_f64(fz_in *in)
{
    uint8_t mode = fz_u8(in);
    if (mode < 32) {
        uint64_t bits = fz_u64(in);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    if (mode < 64)
        return (double)(int64_t)fz_u64(in);
    int32_t num = (int32_t)(fz_u8(in) << 8 | fz_u8(in)) - 16384;
    return num / (double)(1 + fz_u8(in));
}

/* A NUL-terminated string of up to `max` bytes from the input (it ends at an input NUL). */
static inline char *fz_str(fz_in *in, mxe_arena *a, size_t max)
{
    size_t len = fz_u8(in) % (max + 1);
    if (len > in->n)
        len = in->n;
    char *s = mxe_arena_strndup(a, (const char *)in->p, len);
    in->p += len;
    in->n -= len;
    return s;
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (overlong forms, surrogates and code
 * points beyond U+10FFFF are invalid, RFC 3629). */
static inline size_t fz_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp, len;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (unsigned i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static inline bool fz_valid_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = fz_utf8_len(u + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

/* ---- exposition checker ------------------------------------------------------------------ */

static inline bool fz_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static inline bool fz_name_char(char c)
{
    return fz_name_start(c) || (c >= '0' && c <= '9');
}

/* Length of a metric name at s (0 when none); label names are the same without ':'. */
static inline size_t fz_metric_name(const char *s, size_t n, bool label)
{
    size_t i = 0;
    if (i < n && fz_name_start(s[i]) && !(label && s[i] == ':'))
        i++;
    else
        return 0;
    while (i < n && fz_name_char(s[i]) && !(label && s[i] == ':'))
        i++;
    return i;
}

/* A sample value as Prometheus parses it: a float, NaN, +Inf or -Inf, nothing else. */
static inline bool fz_sample_value(const char *s, size_t n, bool *negative)
{
    *negative = false;
    if ((n == 3 && memcmp(s, "NaN", 3) == 0) || (n == 4 && memcmp(s, "+Inf", 4) == 0))
        return true;
    if (n == 4 && memcmp(s, "-Inf", 4) == 0) {
        *negative = true;
        return true;
    }
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+'))
            return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    *negative = v < 0 || tmp[0] == '-';
    return end == tmp + n && isfinite(v);
}

typedef struct fz_series {
    const char *p;
    size_t n;
} fz_series;

static inline int fz_series_cmp(const void *a, const void *b)
{
    const fz_series *x = a, *y = b;
    size_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->p, y->p, m);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Unescape a label value s[0..n) (between the quotes) into out (n bytes suffice). Returns
 * the length, or (size_t)-1 on an escape the format does not have. */
static inline size_t fz_unescape_label(const char *s, size_t n, char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[w++] = s[i];
            continue;
        }
        if (++i >= n)
            return (size_t)-1;
        if (s[i] == '\\' || s[i] == '"')
            out[w++] = s[i];
        else if (s[i] == 'n')
            out[w++] = '\n';
        else
            return (size_t)-1;
    }
    return w;
}

typedef struct fz_expo_summary {
    size_t samples;
    size_t stream_info;        /* mediamtx_stream_info samples */
    size_t stream_series;      /* samples of any mediamtx_stream_* family */
    bool saw_up, up_value_one; /* mediamtx_up and whether it was 1 */
} fz_expo_summary;

/* Check `text` line by line against the text format 0.0.4 (om false) or OpenMetrics 1.0.0:
 * every line a HELP/TYPE/UNIT comment or `name{label="value",...} value`; names valid;
 * label values escaped (only \\ \" \n) and valid UTF-8; values numbers; each family
 * declared once by TYPE before its samples and its samples together; counters non-negative
 * and, in OpenMetrics, named <family>_total; no series twice; `# EOF` exactly at the end in
 * OpenMetrics and nowhere in 0.0.4. `out` receives counts for the caller's own checks.
 * `info_names` (may be NULL) receives, for each mediamtx_stream_info sample, the unescaped
 * path label (malloc'd, caller frees), at most `max_info` of them. */
static inline void fz_check_exposition(const char *text, size_t len, bool om, fz_expo_summary *out,
                                       char **info_names, size_t max_info)
{
    memset(out, 0, sizeof *out);
    FZ_ASSERT(len > 0 && text[len - 1] == '\n', "exposition does not end with a newline");
    FZ_ASSERT(memchr(text, '\0', len) == NULL, "NUL byte in the exposition");
    size_t cap = 64, n_series = 0;
    fz_series *series = malloc(cap * sizeof *series);
    /* declared families: name and whether a counter */
    size_t fcap = 64, n_fam = 0;
    fz_series *fams = malloc(fcap * sizeof *fams);
    bool *fam_counter = malloc(fcap * sizeof *fam_counter);
    FZ_ASSERT(series && fams && fam_counter, "out of memory in the checker");
    const char *cur_fam = NULL; /* family of the last TYPE line */
    size_t cur_fam_len = 0;
    bool cur_counter = false;
    bool eof = false;
    char *scratch = malloc(len + 1);
    FZ_ASSERT(scratch, "out of memory in the checker");

    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = (size_t)(nl - line);
        pos += ll + 1;
        FZ_ASSERT(!eof, "content after # EOF");
        FZ_ASSERT(ll > 0, "empty line in the exposition");
        if (line[0] == '#') {
            if (om && ll == 5 && memcmp(line, "# EOF", 5) == 0) {
                eof = true;
                continue;
            }
            FZ_ASSERT(ll > 7 &&
                          (memcmp(line, "# HELP ", 7) == 0 || memcmp(line, "# TYPE ", 7) == 0 ||
                           (om && memcmp(line, "# UNIT ", 7) == 0)),
                      "unknown comment line: %.*s", (int)(ll > 80 ? 80 : ll), line);
            const char *name = line + 7;
            size_t nl2 = fz_metric_name(name, ll - 7, false);
            FZ_ASSERT(nl2 > 0 && 7 + nl2 < ll && name[nl2] == ' ', "bad metadata name: %.*s",
                      (int)(ll > 80 ? 80 : ll), line);
            const char *rest = name + nl2 + 1;
            size_t rl = ll - 7 - nl2 - 1;
            if (line[2] == 'T') {
                bool counter = rl == 7 && memcmp(rest, "counter", 7) == 0;
                FZ_ASSERT(counter || (rl == 5 && memcmp(rest, "gauge", 5) == 0),
                          "unexpected TYPE %.*s", (int)rl, rest);
                for (size_t f = 0; f < n_fam; f++)
                    FZ_ASSERT(fams[f].n != nl2 || memcmp(fams[f].p, name, nl2) != 0,
                              "family %.*s declared twice", (int)nl2, name);
                if (n_fam == fcap) {
                    fcap *= 2;
                    fams = realloc(fams, fcap * sizeof *fams);
                    fam_counter = realloc(fam_counter, fcap * sizeof *fam_counter);
                    FZ_ASSERT(fams && fam_counter, "out of memory in the checker");
                }
                fams[n_fam] = (fz_series){name, nl2};
                fam_counter[n_fam++] = counter;
                cur_fam = name;
                cur_fam_len = nl2;
                cur_counter = counter;
                if (om && counter)
                    FZ_ASSERT(nl2 < 6 || memcmp(name + nl2 - 6, "_total", 6) != 0,
                              "OpenMetrics counter family named with _total");
                if (!om && counter)
                    FZ_ASSERT(nl2 > 6 && memcmp(name + nl2 - 6, "_total", 6) == 0,
                              "0.0.4 counter without _total");
            } else if (line[2] == 'H') {
                /* HELP escapes: \\ and \n, and \" in OpenMetrics (where a bare " is invalid) */
                for (size_t i = 0; i < rl; i++) {
                    if (rest[i] == '\\') {
                        FZ_ASSERT(i + 1 < rl && (rest[i + 1] == '\\' || rest[i + 1] == 'n' ||
                                                 (om && rest[i + 1] == '"')),
                                  "bad escape in HELP");
                        i++;
                    } else {
                        FZ_ASSERT(!(om && rest[i] == '"'), "unescaped quote in OpenMetrics HELP");
                    }
                }
                FZ_ASSERT(fz_valid_utf8(rest, rl), "HELP text is not UTF-8");
            } else {
                FZ_ASSERT(rl > 0 && nl2 > rl && name[nl2 - rl - 1] == '_' &&
                              memcmp(name + nl2 - rl, rest, rl) == 0,
                          "UNIT %.*s is not the suffix of its family", (int)rl, rest);
            }
            continue;
        }
        /* a sample */
        out->samples++;
        size_t nlen = fz_metric_name(line, ll, false);
        FZ_ASSERT(nlen > 0, "sample line without a metric name: %.*s", (int)(ll > 80 ? 80 : ll),
                  line);
        FZ_ASSERT(cur_fam, "sample before any TYPE line");
        if (om) {
            bool ok = cur_counter
                          ? nlen == cur_fam_len + 6 && memcmp(line, cur_fam, cur_fam_len) == 0 &&
                                memcmp(line + cur_fam_len, "_total", 6) == 0
                          : nlen == cur_fam_len && memcmp(line, cur_fam, nlen) == 0;
            FZ_ASSERT(ok, "sample %.*s outside its family %.*s", (int)nlen, line, (int)cur_fam_len,
                      cur_fam);
        } else {
            FZ_ASSERT(nlen == cur_fam_len && memcmp(line, cur_fam, nlen) == 0,
                      "sample %.*s outside its family %.*s", (int)nlen, line, (int)cur_fam_len,
                      cur_fam);
        }
        bool is_info = nlen == 20 && memcmp(line, "mediamtx_stream_info", 20) == 0;
        if (nlen > 16 && memcmp(line, "mediamtx_stream_", 16) == 0)
            out->stream_series++;
        size_t i = nlen;
        if (i < ll && line[i] == '{') {
            i++;
            bool first = true;
            while (i < ll && line[i] != '}') {
                if (!first) {
                    FZ_ASSERT(line[i] == ',', "labels not separated by a comma");
                    i++;
                }
                first = false;
                size_t ln = fz_metric_name(line + i, ll - i, true);
                FZ_ASSERT(ln > 0, "bad label name in %.*s", (int)(ll > 80 ? 80 : ll), line);
                bool is_path = ln == 4 && memcmp(line + i, "path", 4) == 0;
                i += ln;
                FZ_ASSERT(i + 1 < ll && line[i] == '=' && line[i + 1] == '"',
                          "label without =\"value\"");
                i += 2;
                size_t vstart = i;
                while (i < ll && line[i] != '"') {
                    if (line[i] == '\\') {
                        FZ_ASSERT(i + 1 < ll && (line[i + 1] == '\\' || line[i + 1] == '"' ||
                                                 line[i + 1] == 'n'),
                                  "bad escape in a label value");
                        i++;
                    }
                    i++;
                }
                FZ_ASSERT(i < ll, "unterminated label value");
                FZ_ASSERT(fz_valid_utf8(line + vstart, i - vstart), "label value is not UTF-8");
                if (is_info && is_path && info_names && out->stream_info < max_info) {
                    size_t ul = fz_unescape_label(line + vstart, i - vstart, scratch);
                    FZ_ASSERT(ul != (size_t)-1, "bad escape in the path label");
                    char *copy = malloc(ul + 1);
                    FZ_ASSERT(copy, "out of memory in the checker");
                    memcpy(copy, scratch, ul);
                    copy[ul] = '\0';
                    info_names[out->stream_info] = copy;
                }
                i++; /* closing quote */
            }
            FZ_ASSERT(i < ll && line[i] == '}', "unterminated label set");
            FZ_ASSERT(!first, "empty label set {}");
            i++;
        }
        if (is_info)
            out->stream_info++;
        FZ_ASSERT(i < ll && line[i] == ' ', "no space before the value: %.*s",
                  (int)(ll > 80 ? 80 : ll), line);
        bool negative;
        FZ_ASSERT(fz_sample_value(line + i + 1, ll - i - 1, &negative),
                  "bad sample value (or a timestamp): %.*s", (int)(ll > 80 ? 80 : ll), line);
        FZ_ASSERT(!(cur_counter && negative), "negative counter: %.*s", (int)(ll > 80 ? 80 : ll),
                  line);
        if (nlen == 11 && memcmp(line, "mediamtx_up", 11) == 0) {
            out->saw_up = true;
            out->up_value_one = ll - i - 1 == 1 && line[i + 1] == '1';
        }
        if (n_series == cap) {
            cap *= 2;
            series = realloc(series, cap * sizeof *series);
            FZ_ASSERT(series, "out of memory in the checker");
        }
        series[n_series++] = (fz_series){line, i};
    }
    FZ_ASSERT(eof == om, om ? "OpenMetrics without # EOF at the end" : "# EOF in text 0.0.4");
    qsort(series, n_series, sizeof *series, fz_series_cmp);
    for (size_t k = 1; k < n_series; k++)
        FZ_ASSERT(fz_series_cmp(&series[k - 1], &series[k]) != 0, "duplicate series %.*s",
                  (int)(series[k].n > 200 ? 200 : series[k].n), series[k].p);
    free(series);
    free(fams);
    free(fam_counter);
    free(scratch);
}

/* The exposition's path label for a name: invalid UTF-8 bytes become U+FFFD, as Prometheus
 * requires UTF-8. Returns a malloc'd string. */
static inline char *fz_utf8_repair(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1);
    FZ_ASSERT(o, "out of memory in the checker");
    size_t w = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = fz_utf8_len(u + i, n - i);
        if (k) {
            memcpy(o + w, s + i, k);
            w += k;
            i += k;
        } else {
            memcpy(o + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i++;
        }
    }
    o[w] = '\0';
    return o;
}

#endif
