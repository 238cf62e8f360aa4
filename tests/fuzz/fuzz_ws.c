/* libFuzzer target: the WebSocket side of the live feed that reads what clients send —
 * the opening handshake's key check (mxe_ws_accept_key) and the frame decoder
 * (mxe_ws_decode, RFC 6455 framing and UTF-8 rules).
 *
 * The first byte picks a mode.
 *
 * Key (mode byte & 3 == 0): the rest, up to a NUL, is a Sec-WebSocket-Key value.
 *  - mxe_ws_accept_key() accepts it exactly when, blanks (space, tab) trimmed, it is the
 *    canonical base64 of 16 bytes (checked with the strict decoder of web_auth.c, an
 *    independent implementation);
 *  - the accept value is then NUL-terminated, 28 characters, the canonical base64 of 20
 *    bytes, and the same on a second call; on refusal the output is left alone.
 *
 * Raw bytes (mode byte & 3 == 1): the rest is what a client sends, fed to the decoder whole,
 * byte by byte and in chunks whose sizes the input chooses.
 *  - the three feedings give the same events (type, code, reason, control payload) and,
 *    unless the stream ends in an ERROR, consume the same number of bytes: chunk
 *    boundaries never matter;
 *  - no call consumes more than it was given; after an ERROR or a CLOSE nothing more is
 *    consumed; an ERROR's code is one of 1002, 1003, 1007, 1009; a CLOSE's code is 1005 or
 *    a code a peer may send; control payloads are at most 125 bytes.
 *
 * Frames (mode byte & 3 >= 2): the rest describes frames — per frame the first header byte
 * as sent (FIN, RSV bits, any opcode), whether it is masked, which length form it uses
 * (shortest, a longer one, the 64-bit top bit set), its mask and its payload in clear. The
 * target writes them to the wire and compares the decoder's events, fed whole and byte by
 * byte, with those of a reference model written from RFC 6455 and ws.h's documented rules
 * (their order included): 1002 for RSV bits, unmasked frames, lengths not in the shortest
 * form, fragmented or long control frames, continuation without a message, a message inside
 * a message, unknown opcodes, a close of 1 byte or with a code a peer may not send; 1003 for
 * binary; 1009 for a message over the limit; 1007 for a close reason or a text message that
 * is not UTF-8 — as soon as the bytes so far cannot begin valid UTF-8, or at the end of the
 * message when it ends inside a code point, across fragments. The model checks UTF-8 with
 * mxe_utf8_valid()/mxe_utf8_seq_len(), not with the incremental validator under test. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "utf8.h"
#include "web_auth.h"
#include "ws.h"

#define MAX_EVENTS 1024 /* a masked frame takes 6 bytes at least: 4096 / 6 < 1024 */

typedef struct event {
    mxe_ws_event_type type;
    unsigned code;
    const char *reason; /* ERROR: the static text */
    size_t len;
    uint8_t payload[MXE_WS_MAX_CONTROL];
} event;

typedef struct events {
    event ev[MAX_EVENTS];
    size_t n;
    size_t consumed;
} events;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- key mode ---------------------------------------------------------------------------- */

static void fuzz_key(const uint8_t *data, size_t size)
{
    size_t n = strnlen((const char *)data, size);
    char *key = malloc(n + 1); /* its own allocation: ASan sees a read past the NUL */
    FZ_ASSERT(key, "out of memory");
    memcpy(key, data, n);
    key[n] = '\0';

    const char *k = key;
    size_t kn = n;
    while (kn && is_blank(*k)) {
        k++;
        kn--;
    }
    while (kn && is_blank(k[kn - 1]))
        kn--;
    unsigned char raw[32];
    size_t rawlen = 0;
    bool want = kn > 0 && mxe_base64_decode(k, kn, raw, sizeof raw, &rawlen) == 0 && rawlen == 16;

    char out[MXE_WS_ACCEPT_LEN + 1], again[MXE_WS_ACCEPT_LEN + 1];
    memset(out, 'Z', sizeof out);
    int r = mxe_ws_accept_key(key, out);
    FZ_ASSERT((r == 0) == want, "accept_key returned %d for a key that %s 16 bytes", r,
              want ? "encodes" : "does not encode");
    if (r == 0) {
        FZ_ASSERT(out[MXE_WS_ACCEPT_LEN] == '\0' && strlen(out) == MXE_WS_ACCEPT_LEN,
                  "accept value not 28 characters");
        unsigned char digest[32];
        size_t dl = 0;
        FZ_ASSERT(mxe_base64_decode(out, MXE_WS_ACCEPT_LEN, digest, sizeof digest, &dl) == 0 &&
                      dl == 20,
                  "accept value is not the base64 of 20 bytes: %s", out);
        FZ_ASSERT(mxe_ws_accept_key(key, again) == 0 && memcmp(out, again, sizeof out) == 0,
                  "accept value not deterministic");
    } else {
        for (size_t i = 0; i < sizeof out; i++)
            FZ_ASSERT(out[i] == 'Z', "output written for a refused key");
    }
    free(key);
}

/* ---- feeding the decoder -------------------------------------------------------------- */

static void record(events *out, const mxe_ws_event *ev)
{
    FZ_ASSERT(out->n < MAX_EVENTS, "too many events");
    event *e = &out->ev[out->n++];
    memset(e, 0, sizeof *e);
    e->type = ev->type;
    if (ev->type == MXE_WS_EV_ERROR || ev->type == MXE_WS_EV_CLOSE)
        e->code = ev->code;
    if (ev->type == MXE_WS_EV_ERROR)
        e->reason = ev->reason;
    if (ev->type == MXE_WS_EV_PING || ev->type == MXE_WS_EV_PONG || ev->type == MXE_WS_EV_CLOSE) {
        FZ_ASSERT(ev->len <= MXE_WS_MAX_CONTROL, "control payload of %zu bytes", ev->len);
        FZ_ASSERT(ev->len == 0 || ev->payload, "control payload missing");
        e->len = ev->len;
        if (ev->len)
            memcpy(e->payload, ev->payload, ev->len);
    }
    switch (ev->type) {
    case MXE_WS_EV_ERROR:
        FZ_ASSERT(ev->code == 1002 || ev->code == 1003 || ev->code == 1007 || ev->code == 1009,
                  "error code %u", ev->code);
        FZ_ASSERT(ev->reason && ev->reason[0], "error without a reason");
        break;
    case MXE_WS_EV_CLOSE:
        FZ_ASSERT(ev->code == MXE_WS_CLOSE_NO_STATUS || mxe_ws_close_code_valid(ev->code),
                  "close code %u", ev->code);
        FZ_ASSERT(mxe_utf8_valid((const char *)ev->payload, ev->len), "close reason not UTF-8");
        break;
    default:
        break;
    }
}

/* Feed p[0..n) in chunks: `chunk` NULL feeds everything at once, otherwise chunk sizes are
 * taken from chunk[0..nchunk) in turn (0 meaning 1). */
static void feed(const uint8_t *p, size_t n, uint64_t max_message, const uint8_t *chunk,
                 size_t nchunk, events *out)
{
    mxe_ws_decoder d;
    mxe_ws_decoder_init(&d, max_message);
    memset(out, 0, sizeof *out);
    size_t i = 0, k = 0;
    bool done = false;
    while (i < n) {
        size_t want = chunk ? (size_t)(chunk[k++ % nchunk] % 17) : n - i;
        if (want == 0)
            want = 1;
        if (want > n - i)
            want = n - i;
        /* own allocation per call: ASan sees any read outside the piece given */
        uint8_t *piece = malloc(want);
        FZ_ASSERT(piece, "out of memory");
        memcpy(piece, p + i, want);
        size_t off = 0;
        for (;;) {
            mxe_ws_event ev;
            size_t used = mxe_ws_decode(&d, piece + off, want - off, &ev);
            FZ_ASSERT(used <= want - off, "consumed %zu of %zu bytes", used, want - off);
            FZ_ASSERT(!done || used == 0, "consumed %zu bytes after an ERROR or CLOSE", used);
            off += used;
            if (ev.type != MXE_WS_EV_NONE)
                record(out, &ev);
            if (ev.type == MXE_WS_EV_ERROR || ev.type == MXE_WS_EV_CLOSE)
                done = true;
            if (ev.type == MXE_WS_EV_NONE) {
                FZ_ASSERT(done || off == want, "stopped without an event, %zu bytes left",
                          want - off);
                break;
            }
            if (done || off == want)
                break;
        }
        free(piece);
        i += off;
        if (done)
            break;
    }
    out->consumed = i;
}

static void same_events(const events *a, const events *b, const char *what)
{
    FZ_ASSERT(a->n == b->n, "%s: %zu events against %zu", what, b->n, a->n);
    for (size_t i = 0; i < a->n; i++) {
        const event *x = &a->ev[i], *y = &b->ev[i];
        FZ_ASSERT(x->type == y->type && x->code == y->code && x->len == y->len &&
                      memcmp(x->payload, y->payload, x->len) == 0,
                  "%s: event %zu differs (type %d/%d, code %u/%u)", what, i, x->type, y->type,
                  x->code, y->code);
        FZ_ASSERT((x->reason == NULL) == (y->reason == NULL) &&
                      (!x->reason || strcmp(x->reason, y->reason) == 0),
                  "%s: event %zu reason differs", what, i);
    }
}

static void fuzz_raw(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint64_t max_message = 1 + (uint64_t)fz_u8(&in) * 64;
    uint8_t chunks[8];
    for (int i = 0; i < 8; i++)
        chunks[i] = fz_u8(&in);
    static events whole, bytewise, chunked;
    feed(in.p, in.n, max_message, NULL, 0, &whole);
    static const uint8_t one = 1;
    feed(in.p, in.n, max_message, &one, 1, &bytewise);
    feed(in.p, in.n, max_message, chunks, 8, &chunked);
    same_events(&whole, &bytewise, "byte by byte");
    same_events(&whole, &chunked, "in chunks");
    /* Where in its piece an error is noticed may depend on the piece (the connection ends
     * there anyway); otherwise the same bytes are consumed. */
    bool error = whole.n && whole.ev[whole.n - 1].type == MXE_WS_EV_ERROR;
    FZ_ASSERT(error || (whole.consumed == bytewise.consumed && whole.consumed == chunked.consumed),
              "consumed %zu / %zu / %zu", whole.consumed, bytewise.consumed, chunked.consumed);
}

/* ---- frames mode: the reference model ----------------------------------------------------- */

/* Whether s[0..n) can still begin valid UTF-8: valid, except perhaps for an incomplete code
 * point at the end that some continuation would complete. Each continuation byte must lie
 * in a range that depends on the lead byte; every such range contains one of `probe`, so
 * trying those finds a completion if there is one. */
static bool utf8_prefix_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = mxe_utf8_seq_len(s + i, n - i);
        if (len == 0)
            break;
        i += len;
    }
    if (i == n)
        return true;
    size_t tail = n - i;
    if (tail >= 4)
        return false;
    static const uint8_t probe[] = {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF};
    uint8_t t[4];
    memcpy(t, s + i, tail);
    /* every completion of 1..3 more bytes from the probes */
    for (size_t more = 1; tail + more <= 4; more++) {
        size_t combos = 1;
        for (size_t k = 0; k < more; k++)
            combos *= sizeof probe;
        for (size_t c = 0; c < combos; c++) {
            size_t v = c;
            for (size_t k = 0; k < more; k++) {
                t[tail + k] = probe[v % sizeof probe];
                v /= sizeof probe;
            }
            if (mxe_utf8_seq_len(t, tail + more) == tail + more)
                return true;
        }
    }
    return false;
}

typedef struct model {
    events out;
    bool done;
    bool in_message;
    uint64_t message_len, max_message;
    uint8_t text[4096]; /* the open text message in clear, up to max_message (≤ 4096) */
} model;

static void model_event(model *m, mxe_ws_event_type type, unsigned code, const uint8_t *p,
                        size_t len)
{
    FZ_ASSERT(m->out.n < MAX_EVENTS, "too many events");
    event *e = &m->out.ev[m->out.n++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->code = code;
    e->len = len;
    if (len)
        memcpy(e->payload, p, len);
}

static void model_error(model *m, unsigned code)
{
    model_event(m, MXE_WS_EV_ERROR, code, NULL, 0);
    m->done = true;
}

/* One whole frame through the model. */
static void model_frame(model *m, uint8_t b0, bool masked, int form, const uint8_t *payload,
                        size_t len)
{
    bool fin = b0 & 0x80;
    unsigned op = b0 & 0x0F;
    if (b0 & 0x70)
        return model_error(m, 1002);
    if (!masked)
        return model_error(m, 1002);
    if (form != 0) /* a longer length form than needed, or the 64-bit top bit */
        return model_error(m, 1002);
    bool control = op == 0x8 || op == 0x9 || op == 0xA;
    if (control) {
        if (!fin || len > MXE_WS_MAX_CONTROL)
            return model_error(m, 1002);
    } else if (op == 0x2) {
        return model_error(m, 1003);
    } else if (op == 0x1 || op == 0x0) {
        if (op == 0x1 && m->in_message)
            return model_error(m, 1002);
        if (op == 0x0 && !m->in_message)
            return model_error(m, 1002);
        if (op == 0x1)
            m->message_len = 0;
        if (len > m->max_message - m->message_len)
            return model_error(m, 1009);
        m->in_message = true;
        memcpy(m->text + m->message_len, payload, len);
        m->message_len += len;
        if (!utf8_prefix_ok(m->text, (size_t)m->message_len))
            return model_error(m, 1007);
        if (fin) {
            if (!mxe_utf8_valid((const char *)m->text, (size_t)m->message_len))
                return model_error(m, 1007);
            m->in_message = false;
            model_event(m, MXE_WS_EV_MESSAGE, 0, NULL, 0);
        }
        return;
    } else {
        return model_error(m, 1002);
    }
    if (op == 0x9)
        return model_event(m, MXE_WS_EV_PING, 0, payload, len);
    if (op == 0xA)
        return model_event(m, MXE_WS_EV_PONG, 0, payload, len);
    /* close */
    if (len == 1)
        return model_error(m, 1002);
    if (len == 0) {
        model_event(m, MXE_WS_EV_CLOSE, MXE_WS_CLOSE_NO_STATUS, NULL, 0);
        m->done = true;
        return;
    }
    unsigned code = (unsigned)payload[0] << 8 | payload[1];
    bool code_ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                   (code >= 3000 && code <= 4999);
    if (!code_ok)
        return model_error(m, 1002);
    if (!mxe_utf8_valid((const char *)payload + 2, len - 2))
        return model_error(m, 1007);
    model_event(m, MXE_WS_EV_CLOSE, code, payload + 2, len - 2);
    m->done = true;
}

/* Write one frame: header in the chosen length form, mask, masked payload. */
static size_t put_frame(uint8_t *out, uint8_t b0, bool masked, int form, const uint8_t mask[4],
                        const uint8_t *payload, size_t len)
{
    size_t n = 0;
    out[n++] = b0;
    uint8_t mbit = masked ? 0x80 : 0;
    if (form == 0 && len < 126) {
        out[n++] = (uint8_t)(mbit | len);
    } else if (form == 0 || form == 1) { /* 16 bits: shortest for 126..65535, long for less */
        out[n++] = mbit | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else { /* 64 bits (never the shortest here), form 3 with the top bit set */
        uint64_t l = len | (form == 3 ? UINT64_C(1) << 63 : 0);
        out[n++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(l >> (8 * i));
    }
    if (masked) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    memcpy(out + n, payload, len);
    if (masked)
        mxe_ws_mask(out + n, len, mask, 0);
    return n + len;
}

static void fuzz_frames(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    static model m;
    memset(&m, 0, sizeof m);
    m.max_message = 1 + fz_u8(&in) % 64 * 64; /* 1..4033 */
    static uint8_t wire[64 * (14 + 300)];
    size_t wn = 0;
    for (int f = 0; f < 48 && in.n; f++) {
        uint8_t b0 = fz_u8(&in);
        uint8_t flags = fz_u8(&in);
        bool masked = (flags & 0x07) != 0; /* mostly masked */
        int form = (flags >> 3) & 0x03;
        size_t len = fz_u8(&in);
        if (flags & 0x20)
            len += 126; /* reach the 16-bit form (up to 381) */
        if (len > in.n + 4)
            len = in.n > 4 ? in.n - 4 : 0;
        if (form == 1 && len >= 126)
            form = 0; /* the 16-bit form is the shortest then */
        uint8_t mask[4] = {fz_u8(&in), fz_u8(&in), fz_u8(&in), fz_u8(&in)};
        uint8_t payload[400];
        for (size_t i = 0; i < len; i++)
            payload[i] = fz_u8(&in);
        wn += put_frame(wire + wn, b0, masked, form, mask, payload, len);
        if (!m.done)
            model_frame(&m, b0, masked, form, payload, len);
    }
    static events whole, bytewise;
    feed(wire, wn, m.max_message, NULL, 0, &whole);
    static const uint8_t one = 1;
    feed(wire, wn, m.max_message, &one, 1, &bytewise);
    same_events(&whole, &bytewise, "byte by byte");
    FZ_ASSERT(whole.n == m.out.n, "decoder: %zu events, model: %zu", whole.n, m.out.n);
    for (size_t i = 0; i < m.out.n; i++) {
        const event *x = &whole.ev[i], *y = &m.out.ev[i];
        FZ_ASSERT(x->type == y->type && x->code == y->code, "event %zu: decoder %d/%u, model %d/%u",
                  i, x->type, x->code, y->type, y->code);
        FZ_ASSERT(x->len == y->len && memcmp(x->payload, y->payload, x->len) == 0,
                  "event %zu: payloads differ", i);
    }
    if (!m.done)
        FZ_ASSERT(whole.consumed == wn, "consumed %zu of %zu without an error", whole.consumed, wn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] & 3) {
    case 0:
        fuzz_key(data + 1, size - 1);
        break;
    case 1:
        fuzz_raw(data + 1, size - 1);
        break;
    default:
        fuzz_frames(data + 1, size - 1);
        break;
    }
    return 0;
}
