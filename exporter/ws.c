/* WebSocket handshake and framing; see ws.h. */
#include "ws.h"

#include <string.h>

#include "sha1.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* The key must be the base64 of 16 bytes (RFC 6455 4.1): 22 characters of the alphabet
 * and "==". The 22nd carries the last 2 bits of the 16th byte; its 4 low bits are zero
 * (canonical encoding). */
static bool key_is_16_bytes(const char *k, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n != 24 || k[22] != '=' || k[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!k[i] || !strchr(alphabet, k[i]))
            return false;
    size_t last = (size_t)(strchr(alphabet, k[21]) - alphabet);
    return (last & 0x0F) == 0;
}

int mxe_ws_accept_key(const char *key, char out[MXE_WS_ACCEPT_LEN + 1])
{
    while (is_ws(*key))
        key++;
    size_t n = strlen(key);
    while (n && is_ws(key[n - 1]))
        n--;
    if (!key_is_16_bytes(key, n))
        return -1;
    mxe_sha1_ctx s;
    uint8_t digest[MXE_SHA1_LEN];
    mxe_sha1_init(&s);
    mxe_sha1_update(&s, key, n);
    mxe_sha1_update(&s, WS_GUID, sizeof WS_GUID - 1);
    mxe_sha1_final(&s, digest);
    mxe_base64_encode(digest, sizeof digest, out);
    return 0;
}

size_t mxe_ws_frame_header(uint8_t *out, unsigned opcode, bool fin, uint64_t len,
                           const uint8_t mask[4])
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (uint8_t)(m | len);
    } else if (len <= 0xFFFF) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void mxe_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[(offset + i) & 3];
}

size_t mxe_ws_close_frame(uint8_t *out, unsigned code, const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > MXE_WS_MAX_CONTROL - 2)
        rlen = MXE_WS_MAX_CONTROL - 2;
    size_t n = mxe_ws_frame_header(out, MXE_WS_OP_CLOSE, true, 2 + rlen, NULL);
    out[n++] = (uint8_t)(code >> 8);
    out[n++] = (uint8_t)code;
    if (rlen)
        memcpy(out + n, reason, rlen);
    return n + rlen;
}

bool mxe_ws_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

void mxe_ws_decoder_init(mxe_ws_decoder *d, uint64_t max_message)
{
    memset(d, 0, sizeof *d);
    d->max_message = max_message;
}

static mxe_ws_event_type fail(mxe_ws_decoder *d, mxe_ws_event *ev, unsigned code,
                              const char *reason)
{
    d->done = true;
    ev->type = MXE_WS_EV_ERROR;
    ev->code = code;
    ev->reason = reason;
    return ev->type;
}

/* Header bytes this frame needs, from its first two bytes. */
static size_t header_size(const uint8_t *h)
{
    unsigned l7 = h[1] & 0x7F;
    return 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
}

/* The header is complete: check the rules that the header alone decides. */
static mxe_ws_event_type start_frame(mxe_ws_decoder *d, mxe_ws_event *ev)
{
    const uint8_t *h = d->hdr;
    d->fin = (h[0] & 0x80) != 0;
    d->opcode = h[0] & 0x0F;
    if (h[0] & 0x70)
        return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "reserved bits set");
    if (!(h[1] & 0x80))
        return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "client frames must be masked");
    unsigned l7 = h[1] & 0x7F;
    uint64_t len = l7;
    size_t at = 2;
    if (l7 == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        at = 4;
        if (len < 126)
            return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "length not in its shortest form");
    } else if (l7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[2 + i];
        at = 10;
        if (len >> 63)
            return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "length has the top bit set");
        if (len <= 0xFFFF)
            return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "length not in its shortest form");
    }
    memcpy(d->mask, h + at, 4);
    d->len = len;
    d->got = 0;
    switch (d->opcode) {
    case MXE_WS_OP_CLOSE:
    case MXE_WS_OP_PING:
    case MXE_WS_OP_PONG:
        if (!d->fin)
            return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "fragmented control frame");
        if (len > MXE_WS_MAX_CONTROL)
            return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "control frame longer than 125 bytes");
        break;
    case MXE_WS_OP_BINARY:
        return fail(d, ev, MXE_WS_CLOSE_UNSUPPORTED, "binary messages are not supported");
    case MXE_WS_OP_TEXT:
        if (d->in_message)
            return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
        d->message_len = 0;
        /* fall through */
    case MXE_WS_OP_CONT:
        if (d->opcode == MXE_WS_OP_CONT && !d->in_message)
            return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "continuation frame without a message");
        if (d->opcode == MXE_WS_OP_TEXT)
            memset(&d->text, 0, sizeof d->text);
        if (len > d->max_message - d->message_len)
            return fail(d, ev, MXE_WS_CLOSE_TOO_BIG, "message too big");
        d->message_len += len;
        d->in_message = true;
        break;
    default:
        return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "unknown opcode");
    }
    d->in_payload = true;
    return MXE_WS_EV_NONE;
}

/* The payload is complete: the event it makes, if any. */
static mxe_ws_event_type end_frame(mxe_ws_decoder *d, mxe_ws_event *ev)
{
    d->in_payload = false;
    d->hdr_len = 0;
    d->hdr_need = 0;
    ev->payload = d->ctrl;
    ev->len = (size_t)d->len;
    switch (d->opcode) {
    case MXE_WS_OP_PING:
        ev->type = MXE_WS_EV_PING;
        break;
    case MXE_WS_OP_PONG:
        ev->type = MXE_WS_EV_PONG;
        break;
    case MXE_WS_OP_CLOSE:
        if (d->len == 1)
            return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "close frame with a 1-byte payload");
        ev->code = MXE_WS_CLOSE_NO_STATUS;
        if (d->len >= 2) {
            ev->code = (unsigned)d->ctrl[0] << 8 | d->ctrl[1];
            if (!mxe_ws_close_code_valid(ev->code))
                return fail(d, ev, MXE_WS_CLOSE_PROTOCOL, "invalid close code");
            if (!mxe_utf8_valid((const char *)d->ctrl + 2, (size_t)d->len - 2))
                return fail(d, ev, MXE_WS_CLOSE_INVALID_DATA, "close reason is not UTF-8");
            ev->payload = d->ctrl + 2;
            ev->len = (size_t)d->len - 2;
        }
        d->done = true;
        ev->type = MXE_WS_EV_CLOSE;
        break;
    default: /* text or continuation */
        ev->payload = NULL;
        ev->len = 0;
        if (d->fin) {
            if (!mxe_utf8_stream_complete(&d->text))
                return fail(d, ev, MXE_WS_CLOSE_INVALID_DATA, "text message is not UTF-8");
            d->in_message = false;
            ev->type = MXE_WS_EV_MESSAGE;
        }
        break;
    }
    return ev->type;
}

/* Validate masked text payload p[0..n), at offset d->got of the frame's payload. */
static bool text_ok(mxe_ws_decoder *d, const uint8_t *p, size_t n)
{
    uint8_t plain[256];
    for (size_t off = 0; off < n;) {
        size_t k = n - off < sizeof plain ? n - off : sizeof plain;
        memcpy(plain, p + off, k);
        mxe_ws_mask(plain, k, d->mask, d->got + off);
        if (!mxe_utf8_stream_feed(&d->text, plain, k))
            return false;
        off += k;
    }
    return true;
}

size_t mxe_ws_decode(mxe_ws_decoder *d, const uint8_t *p, size_t n, mxe_ws_event *ev)
{
    memset(ev, 0, sizeof *ev);
    size_t i = 0;
    while (i < n && !d->done) {
        if (!d->in_payload) {
            /* gather the header: 2 bytes tell how long it is */
            size_t need = d->hdr_need ? d->hdr_need : 2;
            size_t take = need - d->hdr_len < n - i ? need - d->hdr_len : n - i;
            memcpy(d->hdr + d->hdr_len, p + i, take);
            d->hdr_len += take;
            i += take;
            if (d->hdr_len < need)
                break;
            if (!d->hdr_need) {
                d->hdr_need = header_size(d->hdr);
                if (d->hdr_len < d->hdr_need)
                    continue;
            }
            if (start_frame(d, ev) != MXE_WS_EV_NONE)
                return i;
            if (d->len == 0 && end_frame(d, ev) != MXE_WS_EV_NONE)
                return i;
            continue;
        }
        uint64_t left = d->len - d->got;
        size_t take = left < n - i ? (size_t)left : n - i;
        if (d->opcode & 0x8) { /* control: keep and unmask */
            memcpy(d->ctrl + d->got, p + i, take);
            mxe_ws_mask(d->ctrl + d->got, take, d->mask, d->got);
        } else if (!text_ok(d, p + i, take)) { /* text: validated, not kept */
            fail(d, ev, MXE_WS_CLOSE_INVALID_DATA, "text message is not UTF-8");
            return i + take;
        }
        d->got += take;
        i += take;
        if (d->got == d->len && end_frame(d, ev) != MXE_WS_EV_NONE)
            return i;
    }
    return i;
}
