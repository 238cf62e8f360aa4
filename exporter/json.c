/* The JSON reader; see json.h.
 * One pass over the text checks the whole RFC 8259 grammar and writes the tokens that the
 * helpers below walk, with the meaning jsmn gives them. It replaces a validator followed by
 * jsmn (strict mode still accepted [1,,2], {"a":1,} and {"a"}), which read every byte
 * twice. */
#include "json.h"
#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* start and end are byte offsets, a string's without its quotes. `ts` packs the type (an
 * mxe_json_type, low 4 bits: primitives are told apart while they are checked) and the
 * size (the rest): the direct children, the keys of an object, the elements of an array, 1
 * for a key (its value). 12 bytes, not 16: the array holds a whole page of 1,000 items
 * (90,000 tokens for SRT connections), a megabyte of the exporter's memory. */
typedef struct {
    int start;
    int end;
    uint32_t ts;
} token;

#define TS(type, size) ((uint32_t)(type) | (uint32_t)(size) << 4)
#define TYPE(t)        ((int)((t).ts & 15u))
#define SIZE(t)        ((int)((t).ts >> 4))
#define ONE_MORE       (1u << 4) /* added to ts: size + 1 */

#define TOK(j) ((const token *)(j)->tokens)

/* 3 GiB of tokens at most, and every size fits its 28 bits (the answers are capped far
 * below that). */
#define MAX_TOKENS (1 << 28)

/* Double the token array (it starts at 256 tokens). It is kept across parses, so this is
 * rare once the exporter has read its largest page. NULL, the array left as it was, when
 * memory runs out or past MAX_TOKENS. */
static token *grow(mxe_json *j, char *err, size_t errlen)
{
    int cap = j->cap ? 2 * j->cap : 256;
    token *t = cap <= MAX_TOKENS ? realloc(j->tokens, (size_t)cap * sizeof *t) : NULL;
    if (!t) {
        snprintf(err, errlen, "out of memory for %d JSON tokens", cap);
        return NULL;
    }
    j->tokens = t;
    j->cap = cap;
    return t;
}

/* The tokenizer runs over every byte of every answer, so it is kept cheap: a byte class
 * table, strings (most of the bytes) skipped with memchr, and the expectations as a small
 * state machine with one bit per open container. On the way it
 *  - bounds the nesting depth (MediaMTX nests about six levels), which also bounds the
 *    stack of open containers whose sizes are being counted;
 *  - checks every primitive (true, false, null or a JSON number), so that readers can
 *    take a number's text as it is. */
enum {
    C_OTHER = 0,
    C_SPACE,
    C_QUOTE,
    C_OPEN_OBJ,
    C_OPEN_ARR,
    C_CLOSE_OBJ,
    C_CLOSE_ARR,
    C_COMMA,
    C_COLON
};

static const unsigned char byte_class[256] = {
    [' '] = C_SPACE,     ['\t'] = C_SPACE,   ['\n'] = C_SPACE,   ['\r'] = C_SPACE,
    ['"'] = C_QUOTE,     ['{'] = C_OPEN_OBJ, ['['] = C_OPEN_ARR, ['}'] = C_CLOSE_OBJ,
    [']'] = C_CLOSE_ARR, [','] = C_COMMA,    [':'] = C_COLON,
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

/* Inside strings only backslashes and NULs need a look: escapes must be valid, and a NUL
 * is refused, as jsmn refused it. Other raw control characters are accepted, as jsmn
 * 1.1.0's strict mode accepts them (RFC 8259 wants them escaped; MediaMTX never sends
 * them and mxe_json_str copies them as they are). Both bytes are rare, so instead of
 * searching every string for them, a cursor per byte holds where the next one is (or
 * where the window that memchr searched ends): no such byte lies between the strings
 * already checked and the cursor, so a string that ends before both cursors needs
 * nothing more, and the slow path runs once per string that holds one and per window.
 * The window keeps memchr just ahead of the tokenizer, in cache, rather than reading the
 * whole answer first. */
enum { WINDOW = 16384 };

/* The next c at or after `from`, or the end of the window searched: no c in [from, it). */
static size_t next_of(const char *s, size_t n, size_t from, int c)
{
    size_t lim = n - from > WINDOW ? from + WINDOW : n;
    const char *p = memchr(s + from, c, lim - from);
    return p ? (size_t)(p - s) : lim;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The first invalid escape in a string whose content ends at `end` and has its first
 * backslash at b, or end when all are valid: \" \\ \/ \b \f \n \r \t, or \u and four hex
 * digits (jsmn's rule; mxe_json_str pairs surrogates). */
static size_t bad_escape(const char *s, size_t b, size_t end)
{
    while (b < end) {
        if (end - b < 2)
            return b;
        switch (s[b + 1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            b += 2;
            break;
        case 'u':
            if (end - b < 6 || !is_hex(s[b + 2]) || !is_hex(s[b + 3]) || !is_hex(s[b + 4]) ||
                !is_hex(s[b + 5]))
                return b;
            b += 6;
            break;
        default:
            return b;
        }
        const char *p = b < end ? memchr(s + b, '\\', end - b) : NULL;
        b = p ? (size_t)(p - s) : end;
    }
    return end;
}

/* The slow path for the string s[open] .. s[close] (its quotes) when it reaches a cursor:
 * look inside it for the byte, then move the cursor past it. 0, or -1 with err. */
static int check_string(const char *s, size_t n, size_t open, size_t close, size_t *bs, size_t *nul,
                        char *err, size_t errlen)
{
    /* The cursor may lie before the string (a window ended outside strings). */
    if (*nul <= close) {
        size_t from = *nul > open ? *nul : open + 1;
        const char *z = memchr(s + from, '\0', close - from);
        if (z) {
            snprintf(err, errlen, "invalid JSON at byte %zu (NUL in a string)", (size_t)(z - s));
            return -1;
        }
        *nul = next_of(s, n, close + 1, '\0');
    }
    if (*bs <= close) {
        size_t from = *bs > open ? *bs : open + 1;
        const char *b = memchr(s + from, '\\', close - from);
        size_t bad = b ? bad_escape(s, (size_t)(b - s), close) : close;
        if (bad != close) {
            snprintf(err, errlen, "invalid JSON at byte %zu (bad escape)", bad);
            return -1;
        }
        *bs = next_of(s, n, close + 1, '\\');
    }
    return 0;
}

/* End of the JSON number starting at s[i] (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?),
 * or 0 when there is none. */
static size_t number_end(const char *s, size_t n, size_t i)
{
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return 0;
    }
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    return i;
}

/* End of the primitive (true, false, null or a number) starting at s[i], or 0; its type
 * in *type. */
static size_t primitive_end(const char *s, size_t n, size_t i, int *type)
{
    switch (s[i]) {
    case 't':
        *type = MXE_JSON_TRUE;
        return n - i >= 4 && memcmp(s + i, "true", 4) == 0 ? i + 4 : 0;
    case 'f':
        *type = MXE_JSON_FALSE;
        return n - i >= 5 && memcmp(s + i, "false", 5) == 0 ? i + 5 : 0;
    case 'n':
        *type = MXE_JSON_NULL;
        return n - i >= 4 && memcmp(s + i, "null", 4) == 0 ? i + 4 : 0;
    default:
        *type = MXE_JSON_NUMBER;
        return number_end(s, n, i);
    }
}

/* What the tokenizer expects next. */
enum {
    X_ROOT,          /* the root: an object or an array */
    X_MEMBER,        /* after ':' */
    X_ELEMENT,       /* after ',' in an array */
    X_ELEM_OR_CLOSE, /* after '[' */
    X_KEY,           /* after ',' in an object */
    X_KEY_OR_CLOSE,  /* after '{' */
    X_COLON,         /* after a key */
    X_NEXT,          /* after a value inside a container: ',' or its closing bracket */
    X_END,           /* after the root: only white space */
};

/* Tokenize s[0..n) into j's token array; j->count is set by the caller. */
static int tokenize(mxe_json *j, const char *s, size_t n, int *ntok, char *err, size_t errlen)
{
    token *tok = j->tokens;
    int cap = j->cap, count = 0;
    int stack[MXE_JSON_MAX_DEPTH]; /* the open containers' tokens, innermost last */
    int depth = 0, x = X_ROOT;
    uint64_t objects = 0;   /* bit d set: the container at depth d+1 is an object */
    size_t bs = 0, nul = 0; /* the cursors of check_string; 0: not searched yet */
    for (size_t i = 0; i < n; i++) {
        unsigned cls = byte_class[(unsigned char)s[i]];
        if (cls == C_SPACE)
            continue;
        switch (x) {
        case X_ROOT:
        case X_MEMBER:
        case X_ELEMENT:
        case X_ELEM_OR_CLOSE:
            if (cls == C_CLOSE_ARR && x == X_ELEM_OR_CLOSE)
                break; /* closed below */
            if (x == X_ROOT && cls != C_OPEN_OBJ && cls != C_OPEN_ARR) {
                if (cls != C_QUOTE && (!s[i] || !strchr("-0123456789tfn", s[i])))
                    goto invalid; /* not JSON at all, e.g. an HTML error page */
                snprintf(err, errlen, "JSON root is not an object or array");
                return -1;
            }
            if (count == cap) {
                if (!(tok = grow(j, err, errlen)))
                    return -1;
                cap = j->cap;
            }
            if (x == X_ELEMENT || x == X_ELEM_OR_CLOSE)
                tok[stack[depth - 1]].ts += ONE_MORE;
            if (cls == C_OPEN_OBJ || cls == C_OPEN_ARR) {
                if (depth == MXE_JSON_MAX_DEPTH) {
                    snprintf(err, errlen, "JSON nested deeper than %d levels", MXE_JSON_MAX_DEPTH);
                    return -1;
                }
                bool obj = cls == C_OPEN_OBJ;
                objects = (objects & ~(1ull << depth)) | ((uint64_t)obj << depth);
                stack[depth++] = count;
                /* end is set when the container closes */
                tok[count++] = (token){(int)i, 0, TS(obj ? MXE_JSON_OBJECT : MXE_JSON_ARRAY, 0)};
                x = obj ? X_KEY_OR_CLOSE : X_ELEM_OR_CLOSE;
                continue;
            }
            if (cls == C_QUOTE) {
                size_t close = string_end(s, n, i);
                if (close == n)
                    goto truncated;
                if (close >= (bs < nul ? bs : nul) &&
                    check_string(s, n, i, close, &bs, &nul, err, errlen) != 0)
                    return -1;
                tok[count++] = (token){(int)i + 1, (int)close, TS(MXE_JSON_STRING, 0)};
                i = close;
            } else if (cls == C_OTHER) {
                /* The primitive must end where its bytes do: "truex", "01", "1.5x" fail. */
                int type;
                size_t end = primitive_end(s, n, i, &type);
                if (!end || (end < n && byte_class[(unsigned char)s[end]] == C_OTHER)) {
                    size_t to = i;
                    while (to < n && byte_class[(unsigned char)s[to]] == C_OTHER)
                        to++;
                    if (to == n)
                        goto truncated; /* "tru", "1e" at the very end */
                    snprintf(err, errlen, "invalid JSON value at byte %zu", i);
                    return -1;
                }
                tok[count++] = (token){(int)i, (int)end, TS(type, 0)};
                i = end - 1;
            } else {
                goto invalid;
            }
            x = X_NEXT;
            continue;
        case X_KEY:
        case X_KEY_OR_CLOSE:
            if (cls == C_QUOTE) {
                size_t close = string_end(s, n, i);
                if (close == n)
                    goto truncated;
                if (close >= (bs < nul ? bs : nul) &&
                    check_string(s, n, i, close, &bs, &nul, err, errlen) != 0)
                    return -1;
                if (count == cap) {
                    if (!(tok = grow(j, err, errlen)))
                        return -1;
                    cap = j->cap;
                }
                tok[stack[depth - 1]].ts += ONE_MORE;
                /* A key's size is 1: the grammar makes its value follow. */
                tok[count++] = (token){(int)i + 1, (int)close, TS(MXE_JSON_STRING, 1)};
                i = close;
                x = X_COLON;
                continue;
            }
            if (cls == C_CLOSE_OBJ && x == X_KEY_OR_CLOSE)
                break;
            goto invalid;
        case X_COLON:
            if (cls != C_COLON)
                goto invalid;
            x = X_MEMBER;
            continue;
        case X_NEXT:
            if (cls == C_COMMA) {
                x = (objects >> (depth - 1)) & 1 ? X_KEY : X_ELEMENT;
                continue;
            }
            if (cls == C_CLOSE_OBJ || cls == C_CLOSE_ARR)
                break;
            goto invalid;
        default: /* X_END */
            snprintf(err, errlen, "trailing bytes after JSON at byte %zu", i);
            return -1;
        }
        /* A closing bracket where one may stand: it must match the open container. */
        if ((cls == C_CLOSE_OBJ) != (((objects >> (depth - 1)) & 1) == 1))
            goto invalid;
        tok[stack[--depth]].end = (int)i + 1;
        x = depth ? X_NEXT : X_END;
        continue;
    invalid:
        snprintf(err, errlen, "invalid JSON at byte %zu", i);
        return -1;
    }
    if (x == X_END) {
        *ntok = count;
        return 0;
    }
    if (x == X_ROOT) {
        snprintf(err, errlen, n ? "no JSON value in body" : "empty body");
        return -1;
    }
truncated:
    snprintf(err, errlen, "truncated JSON (%zu bytes)", n);
    return -1;
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
    int n;
    if (tokenize(j, text, len, &n, err, errlen) != 0)
        return -1;
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

static bool lit_is(const mxe_json *j, const token *t, const char *lit, size_t n)
{
    return (size_t)(t->end - t->start) == n && memcmp(j->text + t->start, lit, n) == 0;
}

mxe_json_type mxe_json_type_of(const mxe_json *j, int t)
{
    if (t < 0 || t >= j->count)
        return MXE_JSON_INVALID;
    return (mxe_json_type)TYPE(TOK(j)[t]);
}

int mxe_json_size(const mxe_json *j, int t)
{
    return (t >= 0 && t < j->count) ? SIZE(TOK(j)[t]) : 0;
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
    const token *k = &TOK(j)[t];
    *len = (size_t)(k->end - k->start);
    return j->text + k->start;
}

bool mxe_json_eq(const mxe_json *j, int t, const char *lit)
{
    const token *k = &TOK(j)[t];
    return TYPE(*k) == MXE_JSON_STRING && lit_is(j, k, lit, strlen(lit));
}

int mxe_json_get(const mxe_json *j, int obj, const char *key)
{
    if (mxe_json_type_of(j, obj) != MXE_JSON_OBJECT)
        return -1;
    int n = SIZE(TOK(j)[obj]);
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
    /* Objects have tens of keys (an SRT connection ~45) and we look for a few: chain the
     * wanted keys by length once, so that each key of the object costs one table look-up
     * and, rarely, a memcmp. Keys of 32 bytes or more go on the last chain. */
    enum { LONG_KEYS = 32 };
    signed char first[LONG_KEYS + 1], next[64];
    size_t lens[64];
    memset(first, -1, sizeof first);
    if (nkeys > 64)
        nkeys = 64;
    for (int f = nkeys - 1; f >= 0; f--) {
        lens[f] = strlen(keys[f]);
        size_t slot = lens[f] < LONG_KEYS ? lens[f] : LONG_KEYS;
        next[f] = first[slot];
        first[slot] = (signed char)f;
    }
    const token *tok = TOK(j);
    int n = SIZE(tok[obj]);
    int k = obj + 1;
    for (int i = 0; i < n; i++) {
        size_t klen = (size_t)(tok[k].end - tok[k].start);
        const char *kt = j->text + tok[k].start;
        for (int f = first[klen < LONG_KEYS ? klen : LONG_KEYS]; f >= 0; f = next[f]) {
            if (lens[f] == klen && memcmp(kt, keys[f], klen) == 0) {
                vals[f] = k + 1;
                break;
            }
        }
        /* The value's subtree ends where the next key starts: skip it. */
        k = TYPE(tok[k + 1]) != MXE_JSON_OBJECT && TYPE(tok[k + 1]) != MXE_JSON_ARRAY
                ? k + 2
                : mxe_json_skip(j, k + 1);
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

/* Clinger's fast path: a decimal with at most 15 significant digits and a power of ten
 * up to 10^22 converts exactly with one multiplication or division, because both
 * operands are exact doubles and IEEE rounds the result once. MediaMTX's numbers (Go's
 * shortest form: 0.36, 1808.58, 120) nearly always qualify; the rest go to strtod. */
static bool fast_decimal(const char *s, size_t n, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    bool neg = s[0] == '-';
    i += neg;
    uint64_t m = 0;
    int digits = 0, exp10 = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        m = m * 10 + (uint64_t)(s[i] - '0');
        digits += m != 0; /* leading zeros are not significant */
        if (digits > 15)
            return false;
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            m = m * 10 + (uint64_t)(s[i] - '0');
            digits += m != 0;
            exp10--;
            if (digits > 15)
                return false;
        }
    }
    if (i != n) /* an exponent: rare, leave it to strtod */
        return false;
    double v = (double)m;
    if (exp10 < -22)
        return false;
    v = exp10 < 0 ? v / pow10[-exp10] : v;
    *out = neg ? -v : v;
    return true;
}

int mxe_json_double(const mxe_json *j, int t, double *out)
{
    if (mxe_json_type_of(j, t) != MXE_JSON_NUMBER)
        return -1;
    size_t n;
    const char *s = mxe_json_raw(j, t, &n);
    if (fast_decimal(s, n, out))
        return 0;
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
