/* The JSON reader over jsmn; see json.h.
 * jsmn is built with parent links (without them closing a container walks back over all
 * earlier tokens, which makes large lists quadratic) and in strict mode. Strict mode still
 * accepts a few invalid documents, so the root is checked to span the whole text and
 * every primitive is validated where it is read. */
#define JSMN_PARENT_LINKS
#define JSMN_STRICT
#define JSMN_STATIC
#include <jsmn.h>

#include "json.h"
#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK(j) ((jsmntok_t *)(j)->tokens)

static int grow(mxe_json *j, int want)
{
    int cap = j->cap ? j->cap : 256;
    while (cap < want) {
        if (cap > (1 << 28))
            return -1;
        cap *= 2;
    }
    jsmntok_t *t = realloc(j->tokens, (size_t)cap * sizeof *t);
    if (!t)
        return -1;
    j->tokens = t;
    j->cap = cap;
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One linear pass before jsmn, for what jsmn does not do:
 *  - bound the nesting depth (jsmn closes a container by walking up through the closed
 *    ones below it, which is quadratic for pathological nesting; MediaMTX nests ~6 deep);
 *  - reject empty elements and trailing commas ([1,,2], {"a":1,}), which jsmn accepts;
 *  - count an upper bound of the tokens (every token but the root follows one of [ { , :
 *    outside a string), so the token array is sized once.
 * It runs over every byte of every answer, so it is kept cheap: a byte class table, and
 * strings (most of the bytes) skipped with memchr. */
enum { C_OTHER = 0, C_SPACE, C_QUOTE, C_OPEN, C_CLOSE, C_COMMA, C_COLON };

static const unsigned char byte_class[256] = {
    [' '] = C_SPACE, ['\t'] = C_SPACE, ['\n'] = C_SPACE, ['\r'] = C_SPACE,
    ['"'] = C_QUOTE, ['{'] = C_OPEN,   ['['] = C_OPEN,   ['}'] = C_CLOSE,
    [']'] = C_CLOSE, [','] = C_COMMA,  [':'] = C_COLON,
};

/* Index of the quote that closes the string whose opening quote is at `open`, or n. A
 * quote is escaped when an odd number of backslashes precedes it inside the string. */
static size_t string_end(const char *s, size_t n, size_t open)
{
    size_t from = open + 1;
    for (;;) {
        const char *q = from < n ? memchr(s + from, '"', n - from) : NULL;
        if (!q)
            return n;
        size_t at = (size_t)(q - s), bs = 0;
        while (at - bs > open + 1 && s[at - bs - 1] == '\\')
            bs++;
        if (bs % 2 == 0)
            return at;
        from = at + 1;
    }
}

static int prescan(const char *s, size_t n, int *tokens, char *err, size_t errlen)
{
    int depth = 0, need = 1;
    char prev = 0; /* 'v' after a value, else the last structural byte outside strings */
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned cls = byte_class[(unsigned char)c];
        if (cls == C_SPACE)
            continue;
        bool value_start = cls == C_QUOTE || cls == C_OPEN || cls == C_OTHER;
        bool bad = (value_start && prev == 'v') || /* [1 2]: a missing comma */
                   ((cls == C_COMMA || cls == C_CLOSE) && (prev == ',' || prev == ':')) ||
                   (cls == C_COMMA && (prev == '[' || prev == '{' || prev == 0));
        if (bad) {
            snprintf(err, errlen, "invalid JSON at byte %zu", i);
            return -1;
        }
        switch (cls) {
        case C_QUOTE:
            i = string_end(s, n, i);
            prev = 'v';
            break;
        case C_OPEN:
            if (++depth > MXE_JSON_MAX_DEPTH) {
                snprintf(err, errlen, "JSON nested deeper than %d levels", MXE_JSON_MAX_DEPTH);
                return -1;
            }
            need++;
            prev = c;
            break;
        case C_CLOSE:
            depth--;
            prev = 'v';
            break;
        case C_COMMA:
        case C_COLON:
            need++;
            prev = c;
            break;
        default: /* a primitive: consume it whole */
            while (i + 1 < n && byte_class[(unsigned char)s[i + 1]] == C_OTHER)
                i++;
            prev = 'v';
        }
    }
    *tokens = need;
    return 0;
}

int mxe_json_parse(mxe_json *j, const char *text, size_t len, char *err, size_t errlen)
{
    j->text = text;
    j->len = len;
    j->count = 0;
    if (len > 0x7fffffff) {
        snprintf(err, errlen, "document too large (%zu bytes)", len);
        return -1;
    }
    int need;
    if (prescan(text, len, &need, err, errlen) != 0)
        return -1;
    if (need > j->cap && grow(j, need) != 0) {
        snprintf(err, errlen, "out of memory for %d JSON tokens", need);
        return -1;
    }
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, text, len, TOK(j), (unsigned)j->cap);
    if (n < 0) {
        const char *why = n == JSMN_ERROR_PART ? "truncated JSON" : "invalid JSON";
        if (n == JSMN_ERROR_NOMEM)
            why = "too many JSON tokens";
        snprintf(err, errlen, "%s at byte %u of %zu", why, p.pos, len);
        return -1;
    }
    if (n == 0) {
        snprintf(err, errlen, len ? "no JSON value in body" : "empty body");
        return -1;
    }
    jsmntok_t *root = &TOK(j)[0];
    if (root->type != JSMN_OBJECT && root->type != JSMN_ARRAY) {
        snprintf(err, errlen, "JSON root is not an object or array");
        return -1;
    }
    for (size_t i = (size_t)root->end; i < len; i++) {
        if (!is_space(text[i])) {
            snprintf(err, errlen, "trailing bytes after JSON at byte %zu", i);
            return -1;
        }
    }
    /* Strict mode lets an object key go without a value ({"a"}): every key must own
     * exactly one value. */
    j->count = n;
    for (int i = 0; i < n; i++) {
        jsmntok_t *t = &TOK(j)[i];
        if (t->type == JSMN_PRIMITIVE && mxe_json_type_of(j, i) == MXE_JSON_INVALID) {
            snprintf(err, errlen, "invalid JSON value at byte %d", t->start);
            j->count = 0;
            return -1;
        }
        if (t->parent >= 0 && TOK(j)[t->parent].type == JSMN_OBJECT &&
            (t->type != JSMN_STRING || t->size != 1)) {
            snprintf(err, errlen, "invalid JSON object at byte %d", t->start);
            j->count = 0;
            return -1;
        }
    }
    j->count = n;
    return 0;
}

void mxe_json_free(mxe_json *j)
{
    if (!j)
        return;
    free(j->tokens);
    j->tokens = NULL;
    j->count = j->cap = 0;
}

static bool lit_is(const mxe_json *j, const jsmntok_t *t, const char *lit, size_t n)
{
    return (size_t)(t->end - t->start) == n && memcmp(j->text + t->start, lit, n) == 0;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

mxe_json_type mxe_json_type_of(const mxe_json *j, int t)
{
    if (t < 0 || t >= j->count)
        return MXE_JSON_INVALID;
    const jsmntok_t *k = &TOK(j)[t];
    switch (k->type) {
    case JSMN_OBJECT:
        return MXE_JSON_OBJECT;
    case JSMN_ARRAY:
        return MXE_JSON_ARRAY;
    case JSMN_STRING:
        return MXE_JSON_STRING;
    case JSMN_PRIMITIVE:
        if (lit_is(j, k, "true", 4))
            return MXE_JSON_TRUE;
        if (lit_is(j, k, "false", 5))
            return MXE_JSON_FALSE;
        if (lit_is(j, k, "null", 4))
            return MXE_JSON_NULL;
        if (is_json_number(j->text + k->start, (size_t)(k->end - k->start)))
            return MXE_JSON_NUMBER;
        return MXE_JSON_INVALID;
    default:
        return MXE_JSON_INVALID;
    }
}

int mxe_json_size(const mxe_json *j, int t)
{
    return (t >= 0 && t < j->count) ? TOK(j)[t].size : 0;
}

int mxe_json_skip(const mxe_json *j, int t)
{
    if (t < 0 || t >= j->count)
        return j->count;
    int end = TOK(j)[t].end;
    int i = t + 1;
    while (i < j->count && TOK(j)[i].start < end)
        i++;
    return i;
}

const char *mxe_json_raw(const mxe_json *j, int t, size_t *len)
{
    const jsmntok_t *k = &TOK(j)[t];
    *len = (size_t)(k->end - k->start);
    return j->text + k->start;
}

bool mxe_json_eq(const mxe_json *j, int t, const char *lit)
{
    const jsmntok_t *k = &TOK(j)[t];
    return k->type == JSMN_STRING && lit_is(j, k, lit, strlen(lit));
}

int mxe_json_get(const mxe_json *j, int obj, const char *key)
{
    if (mxe_json_type_of(j, obj) != MXE_JSON_OBJECT)
        return -1;
    int n = TOK(j)[obj].size;
    int k = obj + 1;
    for (int i = 0; i < n; i++) {
        if (mxe_json_eq(j, k, key))
            return k + 1;
        k = mxe_json_skip(j, k + 1);
    }
    return -1;
}

int mxe_json_fields(const mxe_json *j, int obj, const char *const *keys, int nkeys, int *vals)
{
    for (int i = 0; i < nkeys; i++)
        vals[i] = -1;
    if (mxe_json_type_of(j, obj) != MXE_JSON_OBJECT)
        return -1;
    /* Objects have tens of keys and we look for a few: compare lengths first, and measure
     * each wanted key once per object rather than once per key. */
    size_t lens[32];
    int nl = nkeys < 32 ? nkeys : 32;
    for (int f = 0; f < nl; f++)
        lens[f] = strlen(keys[f]);
    int n = TOK(j)[obj].size;
    int k = obj + 1;
    for (int i = 0; i < n; i++) {
        const jsmntok_t *key = &TOK(j)[k];
        size_t klen = (size_t)(key->end - key->start);
        const char *kt = j->text + key->start;
        for (int f = 0; f < nkeys; f++) {
            size_t fl = f < nl ? lens[f] : strlen(keys[f]);
            if (fl == klen && (klen == 0 || kt[0] == keys[f][0]) &&
                memcmp(kt, keys[f], klen) == 0) {
                vals[f] = k + 1;
                break;
            }
        }
        k = mxe_json_skip(j, k + 1);
    }
    return 0;
}

int mxe_json_u64(const mxe_json *j, int t, uint64_t *out)
{
    if (mxe_json_type_of(j, t) != MXE_JSON_NUMBER)
        return -1;
    size_t n;
    const char *s = mxe_json_raw(j, t, &n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1; /* negative, fraction or exponent: not a counter */
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1; /* overflow */
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int mxe_json_double(const mxe_json *j, int t, double *out)
{
    if (mxe_json_type_of(j, t) != MXE_JSON_NUMBER)
        return -1;
    size_t n;
    const char *s = mxe_json_raw(j, t, &n);
    char tmp[64];
    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    double v = strtod(tmp, NULL);
    if (!isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int mxe_json_bool(const mxe_json *j, int t, bool *out)
{
    mxe_json_type ty = mxe_json_type_of(j, t);
    if (ty != MXE_JSON_TRUE && ty != MXE_JSON_FALSE)
        return -1;
    *out = ty == MXE_JSON_TRUE;
    return 0;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int mxe_json_str(const mxe_json *j, int t, mxe_arena *a, const char **out)
{
    if (mxe_json_type_of(j, t) != MXE_JSON_STRING)
        return -1;
    size_t n;
    const char *s = mxe_json_raw(j, t, &n);
    /* Escapes are ASCII, so checking the raw text checks every byte copied as it is;
     * \u escapes are turned into valid UTF-8 below (lone surrogates rejected). */
    if (!mxe_utf8_valid(s, n))
        return -1;
    if (!memchr(s, '\\', n)) { /* the common case: nothing to unescape */
        if (memchr(s, '\0', n))
            return -1;
        *out = mxe_arena_strndup(a, s, n);
        return *out ? 0 : -1;
    }
    char *o = mxe_arena_alloc(a, n + 1); /* unescaping never grows the text */
    if (!o)
        return -1;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\') {
            o[w++] = c;
            continue;
        }
        if (++i >= n)
            return -1;
        switch (s[i]) {
        case '"':
            o[w++] = '"';
            break;
        case '\\':
            o[w++] = '\\';
            break;
        case '/':
            o[w++] = '/';
            break;
        case 'b':
            o[w++] = '\b';
            break;
        case 'f':
            o[w++] = '\f';
            break;
        case 'n':
            o[w++] = '\n';
            break;
        case 'r':
            o[w++] = '\r';
            break;
        case 't':
            o[w++] = '\t';
            break;
        case 'u': {
            unsigned cp;
            if (n - i - 1 < 4 || hex4(s + i + 1, &cp) != 0)
                return -1;
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* high surrogate: a low one must follow */
                unsigned lo;
                if (n - i - 1 < 6 || s[i + 1] != '\\' || s[i + 2] != 'u' ||
                    hex4(s + i + 3, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1;
            }
            if (cp == 0)
                return -1; /* an embedded NUL would cut the name short */
            w += put_utf8(o + w, cp);
            break;
        }
        default:
            return -1;
        }
    }
    o[w] = '\0';
    *out = o;
    return 0;
}
