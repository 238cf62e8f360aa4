/* Live feeds: SHA-1 and base64 vectors, the WebSocket handshake key, frame encoding and the
 * decoder's rules (table-driven, also fed byte by byte), the SSE event writer, and the
 * feeds end to end on a real server in this process (raw sockets as clients), so that
 * ASan and valgrind see the threads of live.c at work: initial snapshot, updates, a bad
 * frame's close code, and shutdown with subscribers attached. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "http.h"
#include "live.h"
#include "sha1.h"
#include "snapshot.h"
#include "testutil.h"
#include "utf8.h"
#include "ws.h"

/* ---------------------------------------------------------------------------------- */
/* SHA-1 (RFC 3174 section 7.3 test vectors) and base64 (RFC 4648 section 10) */

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02X", d[i]);
}

START_TEST(test_sha1_vectors)
{
    static const struct {
        const char *in;
        size_t repeat;
        const char *digest;
    } v[] = {
        {"abc", 1, "A9993E364706816ABA3E25717850C26C9CD0D89D"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
         "84983E441C3BD26EBAAE4AA1F95129E5E54670F1"},
        {"a", 1000000, "34AA973CD4C4DAA4F61EEB2BDBAD27316534016F"},
        {"0123456701234567012345670123456701234567012345670123456701234567", 10,
         "DEA356A2CDDD90C7A7ECEDC5EBB563934F460452"},
        {"", 1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        mxe_sha1_ctx s;
        mxe_sha1_init(&s);
        for (size_t k = 0; k < v[i].repeat; k++)
            mxe_sha1_update(&s, v[i].in, strlen(v[i].in));
        uint8_t d[MXE_SHA1_LEN];
        char out[2 * MXE_SHA1_LEN + 1];
        mxe_sha1_final(&s, d);
        hex(d, sizeof d, out);
        ck_assert_msg(strcmp(out, v[i].digest) == 0, "vector %zu: %s", i, out);
    }
    /* one-shot equals incremental at every split point of a 150-byte input (1..3 blocks) */
    char buf[150];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)(i * 7 + 1);
    uint8_t whole[MXE_SHA1_LEN];
    mxe_sha1(buf, sizeof buf, whole);
    for (size_t cut = 0; cut <= sizeof buf; cut++) {
        mxe_sha1_ctx s;
        uint8_t d[MXE_SHA1_LEN];
        mxe_sha1_init(&s);
        mxe_sha1_update(&s, buf, cut);
        mxe_sha1_update(&s, buf + cut, sizeof buf - cut);
        mxe_sha1_final(&s, d);
        ck_assert_msg(memcmp(d, whole, sizeof d) == 0, "split at %zu", cut);
    }
}
END_TEST

START_TEST(test_base64_vectors)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char b[MXE_BASE64_SIZE(6)];
        size_t n = mxe_base64_encode((const uint8_t *)in[i], strlen(in[i]), b);
        ck_assert_str_eq(b, out[i]);
        ck_assert_uint_eq(n, strlen(out[i]));
    }
    const uint8_t high[] = {0xff, 0xfe, 0xfd};
    char b[MXE_BASE64_SIZE(3)];
    mxe_base64_encode(high, 3, b);
    ck_assert_str_eq(b, "//79");
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Handshake */

START_TEST(test_accept_key)
{
    char out[MXE_WS_ACCEPT_LEN + 1];
    /* RFC 6455 section 1.3 */
    ck_assert_int_eq(mxe_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ck_assert_int_eq(mxe_ws_accept_key("  dGhlIHNhbXBsZSBub25jZQ==\t", out), 0); /* OWS */
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    static const char *const bad[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ=",   /* 23 characters */
        "dGhlIHNhbXBsZSBub25jZQ===", /* 25 */
        "dGhlIHNhbXBsZSBub25jZQAA",  /* 18 bytes, no padding */
        "dGhlIHNhbXBsZSBub25jZR==",  /* non-zero padding bits */
        "dGhlIHNhbXBsZSBub25j*Q==",  /* not the alphabet */
        "dGhl IHNhbXBsZSBub25jZQ==", /* space inside */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(mxe_ws_accept_key(bad[i], out) == -1, "accepted '%s'", bad[i]);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Frames */

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

START_TEST(test_frame_header_lengths)
{
    static const struct {
        uint64_t len;
        size_t hlen;
        uint8_t b1;
    } v[] = {
        {0, 2, 0},
        {125, 2, 125},
        {126, 4, 126},
        {65535, 4, 126},
        {65536, 10, 127},
        {(uint64_t)1 << 32, 10, 127},
        {((uint64_t)1 << 63) - 1, 10, 127},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t h[MXE_WS_MAX_HEADER];
        size_t n = mxe_ws_frame_header(h, MXE_WS_OP_TEXT, true, v[i].len, NULL);
        ck_assert_uint_eq(n, v[i].hlen);
        ck_assert_uint_eq(h[0], 0x81);
        ck_assert_uint_eq(h[1], v[i].b1); /* no mask bit from a server */
        uint64_t got = h[1] & 0x7f;
        if (got == 126)
            got = (uint64_t)h[2] << 8 | h[3];
        else if (got == 127)
            for (int k = 0, j = 2; k < 8; k++, j++)
                got = (k ? got << 8 : 0) | h[j];
        ck_assert(got == v[i].len);
        /* with a mask (what a client sends): 4 more bytes and the mask bit */
        n = mxe_ws_frame_header(h, MXE_WS_OP_PING, false, v[i].len, key);
        ck_assert_uint_eq(n, v[i].hlen + 4);
        ck_assert_uint_eq(h[0], 0x09);
        ck_assert_uint_eq(h[1] & 0x80, 0x80);
        ck_assert(memcmp(h + n - 4, key, 4) == 0);
    }
}
END_TEST

START_TEST(test_mask_roundtrip)
{
    /* RFC 6455 5.7: "Hello" masked with 37 fa 21 3d */
    uint8_t p[] = "Hello";
    mxe_ws_mask(p, 5, key, 0);
    const uint8_t want[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ck_assert(memcmp(p, want, 5) == 0);
    /* masking in two pieces with the right offset equals one piece */
    uint8_t q[] = "Hello";
    mxe_ws_mask(q, 2, key, 0);
    mxe_ws_mask(q + 2, 3, key, 2);
    ck_assert(memcmp(q, want, 5) == 0);
    mxe_ws_mask(p, 5, key, 0);
    ck_assert(memcmp(p, "Hello", 5) == 0);
}
END_TEST

START_TEST(test_close_frame)
{
    uint8_t f[MXE_WS_MAX_HEADER + MXE_WS_MAX_CONTROL];
    size_t n = mxe_ws_close_frame(f, MXE_WS_CLOSE_GOING_AWAY, "bye");
    const uint8_t want[] = {0x88, 5, 0x03, 0xe9, 'b', 'y', 'e'};
    ck_assert_uint_eq(n, sizeof want);
    ck_assert(memcmp(f, want, n) == 0);
    char longr[200];
    memset(longr, 'x', sizeof longr - 1);
    longr[sizeof longr - 1] = '\0';
    n = mxe_ws_close_frame(f, 1000, longr); /* reason cut to fit 125 bytes */
    ck_assert_uint_eq(n, 2 + 125);
    ck_assert_uint_eq(f[1], 125);
}
END_TEST

/* A masked client frame: header + payload masked with `key`. */
static size_t client_frame(uint8_t *out, uint8_t b0, const void *payload, size_t n)
{
    size_t h = mxe_ws_frame_header(out, b0 & 0x0f, (b0 & 0x80) != 0, n, key);
    out[0] = b0; /* RSV bits as given */
    memcpy(out + h, payload, n);
    mxe_ws_mask(out + h, n, key, 0);
    return h + n;
}

/* Feed everything, collecting events; `bytewise` feeds one byte per call. */
typedef struct decoded {
    mxe_ws_event_type types[8];
    unsigned code;
    size_t n_events;
    char payload[128];
    size_t consumed;
} decoded;

static void decode_all(const uint8_t *p, size_t n, uint64_t max, bool bytewise, decoded *out)
{
    mxe_ws_decoder d;
    mxe_ws_decoder_init(&d, max);
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (i < n) {
        mxe_ws_event ev;
        size_t chunk = bytewise ? 1 : n - i;
        size_t used = mxe_ws_decode(&d, p + i, chunk, &ev);
        i += used;
        if (ev.type != MXE_WS_EV_NONE && out->n_events < 8) {
            out->types[out->n_events++] = ev.type;
            if (ev.type == MXE_WS_EV_ERROR || ev.type == MXE_WS_EV_CLOSE)
                out->code = ev.code;
            if (ev.payload && ev.len < sizeof out->payload) {
                memcpy(out->payload, ev.payload, ev.len);
                out->payload[ev.len] = '\0';
            }
        }
        if (used == 0 && (d.done || ev.type == MXE_WS_EV_NONE))
            break;
    }
    out->consumed = i;
}

START_TEST(test_decoder_accepts)
{
    static uint8_t buf[512], payload[70000];
    memset(payload, 'a', sizeof payload);
    size_t n;
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        decoded d;
        /* "Hello" (RFC 6455 5.7) */
        const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
        decode_all(hello, sizeof hello, 4096, bytewise, &d);
        ck_assert_uint_eq(d.n_events, 1);
        ck_assert_int_eq(d.types[0], MXE_WS_EV_MESSAGE);
        ck_assert_uint_eq(d.consumed, sizeof hello);

        /* fragmented "Hel" + ping("hi") + "lo", then pong, then close 1000 "done" */
        n = client_frame(buf, 0x01, "Hel", 3);
        n += client_frame(buf + n, 0x89, "hi", 2);
        n += client_frame(buf + n, 0x80, "lo", 2);
        n += client_frame(buf + n, 0x8A, "", 0);
        n += client_frame(buf + n, 0x88,
                          "\x03\xe8"
                          "done",
                          6);
        decode_all(buf, n, 4096, bytewise, &d);
        ck_assert_uint_eq(d.n_events, 4);
        ck_assert_int_eq(d.types[0], MXE_WS_EV_PING);
        ck_assert_int_eq(d.types[1], MXE_WS_EV_MESSAGE);
        ck_assert_int_eq(d.types[2], MXE_WS_EV_PONG);
        ck_assert_int_eq(d.types[3], MXE_WS_EV_CLOSE);
        ck_assert_uint_eq(d.code, 1000);
        ck_assert_str_eq(d.payload, "done"); /* the close reason */
        ck_assert_uint_eq(d.consumed, n);

        /* UTF-8 text whose code points span fragments: "h\u00e9" + "\U0001F600" in four
         * fragments cut inside both code points, and an empty final fragment */
        n = client_frame(buf, 0x01, "h\xc3", 2);
        n += client_frame(buf + n, 0x00, "\xa9\xf0", 2);
        n += client_frame(buf + n, 0x00, "\x9f\x98", 2);
        n += client_frame(buf + n, 0x80, "\x80", 1);
        n += client_frame(buf + n, 0x81, "", 0);
        decode_all(buf, n, 4096, bytewise, &d);
        ck_assert_uint_eq(d.n_events, 2);
        ck_assert_int_eq(d.types[0], MXE_WS_EV_MESSAGE);
        ck_assert_int_eq(d.types[1], MXE_WS_EV_MESSAGE);
        ck_assert_uint_eq(d.consumed, n);

        /* empty close: code 1005 (no status) */
        n = client_frame(buf, 0x88, "", 0);
        decode_all(buf, n, 4096, bytewise, &d);
        ck_assert_int_eq(d.types[0], MXE_WS_EV_CLOSE);
        ck_assert_uint_eq(d.code, MXE_WS_CLOSE_NO_STATUS);

        /* 16-bit and 64-bit lengths within the limit */
        n = client_frame(buf, 0x81, payload, 300);
        ck_assert_uint_eq(n, 4 + 4 + 300);
        decode_all(buf, n, 4096, bytewise, &d);
        ck_assert_int_eq(d.types[0], MXE_WS_EV_MESSAGE);
        uint8_t *big = malloc(70000 + 14);
        ck_assert_ptr_nonnull(big);
        n = client_frame(big, 0x81, payload, 70000);
        ck_assert_uint_eq(n, 10 + 4 + 70000);
        decode_all(big, n, 100000, bytewise, &d);
        ck_assert_uint_eq(d.n_events, 1);
        ck_assert_int_eq(d.types[0], MXE_WS_EV_MESSAGE);
        ck_assert_uint_eq(d.consumed, n);
        free(big);

        /* close codes a peer may send */
        const unsigned ok_codes[] = {1000, 1001, 1002, 1003, 1007, 1008,
                                     1009, 1010, 1011, 3000, 4999};
        for (size_t i = 0; i < sizeof ok_codes / sizeof ok_codes[0]; i++) {
            uint8_t cp[2] = {(uint8_t)(ok_codes[i] >> 8), (uint8_t)ok_codes[i]};
            n = client_frame(buf, 0x88, cp, 2);
            decode_all(buf, n, 4096, bytewise, &d);
            ck_assert_int_eq(d.types[0], MXE_WS_EV_CLOSE);
            ck_assert_uint_eq(d.code, ok_codes[i]);
        }
    }
}
END_TEST

START_TEST(test_decoder_rules)
{
    uint8_t big[200];
    memset(big, 'x', sizeof big);
    static const struct {
        const char *what;
        uint8_t b0;
        const char *payload;
        size_t len;
        unsigned code;
        bool unmasked;
    } v[] = {
        {"binary", 0x82, "abc", 3, 1003, false},
        {"unmasked text", 0x81, "abc", 3, 1002, true},
        {"RSV1", 0xC1, "abc", 3, 1002, false},
        {"RSV3", 0x91, "abc", 3, 1002, false},
        {"opcode 3", 0x83, "", 0, 1002, false},
        {"opcode 7", 0x87, "", 0, 1002, false},
        {"opcode 0xB", 0x8B, "", 0, 1002, false},
        {"opcode 0xF", 0x8F, "", 0, 1002, false},
        {"fragmented ping", 0x09, "", 0, 1002, false},
        {"ping of 126 bytes", 0x89, NULL, 126, 1002, false},
        {"continuation first", 0x80, "abc", 3, 1002, false},
        {"close with 1 byte", 0x88, "\x03", 1, 1002, false},
        {"close 999", 0x88, "\x03\xe7", 2, 1002, false},
        {"close 1004", 0x88, "\x03\xec", 2, 1002, false},
        {"close 1005", 0x88, "\x03\xed", 2, 1002, false},
        {"close 1006", 0x88, "\x03\xee", 2, 1002, false},
        {"close 1015", 0x88, "\x03\xf7", 2, 1002, false},
        {"close 2000", 0x88, "\x07\xd0", 2, 1002, false},
        {"close 5000", 0x88, "\x13\x88", 2, 1002, false},
        {"close reason not UTF-8", 0x88, "\x03\xe8\xff", 3, 1007, false},
        {"close reason surrogate", 0x88, "\x03\xe8\xed\xa0\x80", 5, 1007, false},
        {"text over the limit", 0x81, NULL, 101, 1009, false},
        {"text not UTF-8", 0x81, "ok\xff", 3, 1007, false},
        {"text ends inside a code point", 0x81, "ok\xe2\x82", 4, 1007, false},
        {"text with a surrogate", 0x81, "\xed\xa0\x80", 3, 1007, false},
        {"text with an overlong form", 0x81, "\xc0\xaf", 2, 1007, false},
        {"text above U+10FFFF", 0x81, "\xf4\x90\x80\x80", 4, 1007, false},
    };
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            uint8_t buf[300];
            const void *pl = v[i].payload ? (const void *)v[i].payload : big;
            size_t n;
            if (v[i].unmasked) {
                n = mxe_ws_frame_header(buf, v[i].b0 & 0x0f, true, v[i].len, NULL);
                memcpy(buf + n, pl, v[i].len);
                n += v[i].len;
            } else {
                n = client_frame(buf, v[i].b0, pl, v[i].len);
            }
            decoded d;
            decode_all(buf, n, 100, bytewise, &d);
            ck_assert_msg(d.n_events == 1 && d.types[0] == MXE_WS_EV_ERROR && d.code == v[i].code,
                          "%s: %zu events, type %d, code %u", v[i].what, d.n_events, d.types[0],
                          d.code);
        }
    }
    /* the oversize check needs only the header: no payload sent at all */
    uint8_t h[MXE_WS_MAX_HEADER];
    size_t n = mxe_ws_frame_header(h, MXE_WS_OP_TEXT, true, (uint64_t)1 << 40, key);
    decoded d;
    decode_all(h, n, 4096, false, &d);
    ck_assert_int_eq(d.types[0], MXE_WS_EV_ERROR);
    ck_assert_uint_eq(d.code, 1009);
    /* ... also across fragments: 60 + 60 > 100 */
    uint8_t buf[300];
    n = client_frame(buf, 0x01, big, 60);
    n += client_frame(buf + n, 0x80, big, 60);
    decode_all(buf, n, 100, false, &d);
    ck_assert_int_eq(d.types[0], MXE_WS_EV_ERROR);
    ck_assert_uint_eq(d.code, 1009);
    /* a new text message inside a fragmented one */
    n = client_frame(buf, 0x01, "a", 1);
    n += client_frame(buf + n, 0x81, "b", 1);
    decode_all(buf, n, 100, false, &d);
    ck_assert_int_eq(d.types[0], MXE_WS_EV_ERROR);
    ck_assert_uint_eq(d.code, 1002);
    /* lengths not in their shortest form, and the 64-bit top bit */
    const uint8_t long16[] = {0x81, 0xFE, 0x00, 0x05, 1, 2, 3, 4};
    decode_all(long16, sizeof long16, 100, false, &d);
    ck_assert_uint_eq(d.code, 1002);
    const uint8_t long64[] = {0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4};
    decode_all(long64, sizeof long64, 1 << 20, false, &d);
    ck_assert_uint_eq(d.code, 1002);
    const uint8_t top64[] = {0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    decode_all(top64, sizeof top64, UINT64_MAX, false, &d);
    ck_assert_uint_eq(d.code, 1002);
    /* UTF-8 across fragments: a code point cut at the end of a message's last fragment
     * is an error, as is one whose continuation comes in the next fragment wrong */
    n = client_frame(buf, 0x01, "a\xc3", 2);
    n += client_frame(buf + n, 0x80, "\xa9\xe2", 2);
    decode_all(buf, n, 100, false, &d);
    ck_assert_int_eq(d.types[0], MXE_WS_EV_ERROR);
    ck_assert_uint_eq(d.code, 1007);
    n = client_frame(buf, 0x01, "\xf0\x9f", 2);
    n += client_frame(buf + n, 0x80, "\x41", 1);
    decode_all(buf, n, 100, false, &d);
    ck_assert_int_eq(d.types[0], MXE_WS_EV_ERROR);
    ck_assert_uint_eq(d.code, 1007);
    /* fail fast: the invalid byte is enough, before the message (or the frame) ends */
    mxe_ws_decoder dec;
    mxe_ws_event ev;
    mxe_ws_decoder_init(&dec, 100);
    n = client_frame(buf, 0x01,
                     "ab\xff"
                     "cdef",
                     7);
    size_t used = mxe_ws_decode(&dec, buf, n - 3, &ev); /* "def" not sent yet */
    ck_assert_int_eq(ev.type, MXE_WS_EV_ERROR);
    ck_assert_uint_eq(ev.code, 1007);
    ck_assert_uint_le(used, n - 3);
    /* after an error nothing more is consumed */
    mxe_ws_decoder_init(&dec, 100);
    n = client_frame(buf, 0x82, "x", 1);
    mxe_ws_decode(&dec, buf, n, &ev);
    ck_assert_int_eq(ev.type, MXE_WS_EV_ERROR);
    ck_assert_uint_eq(mxe_ws_decode(&dec, buf, n, &ev), 0);
}
END_TEST

START_TEST(test_utf8)
{
    ck_assert(mxe_utf8_valid("", 0));
    ck_assert(mxe_utf8_valid("h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
    ck_assert(!mxe_utf8_valid("\xc0\xaf", 2));         /* overlong */
    ck_assert(!mxe_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    ck_assert(!mxe_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ck_assert(!mxe_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    ck_assert(!mxe_utf8_valid("\xe2\x82", 2));         /* cut short */
    ck_assert(!mxe_utf8_valid("\x80", 1));
}
END_TEST

/* The incremental validator agrees with mxe_utf8_valid() on every way of cutting a text in
 * two or three pieces. */
START_TEST(test_utf8_stream)
{
    static const char *const texts[] = {
        "",
        "plain ascii",
        "h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80!",
        "\xef\xbf\xbf\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80", /* edges */
        "\xc0\xaf",
        "\xc1\xbf",
        "\xe0\x9f\xbf",
        "\xed\xa0\x80",
        "\xf0\x8f\xbf\xbf",
        "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80",
        "ab\xe2\x82",
        "\xe2\x82x",
        "\x80",
        "\xc3\xa9\xff",
        "\xfe\xff",
    };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        const unsigned char *u = (const unsigned char *)texts[t];
        size_t n = strlen(texts[t]);
        bool want = mxe_utf8_valid(texts[t], n);
        for (size_t i = 0; i <= n; i++) {
            for (size_t j = i; j <= n; j++) {
                mxe_utf8_stream st;
                memset(&st, 0, sizeof st);
                bool ok = mxe_utf8_stream_feed(&st, u, i) &&
                          mxe_utf8_stream_feed(&st, u + i, j - i) &&
                          mxe_utf8_stream_feed(&st, u + j, n - j) && mxe_utf8_stream_complete(&st);
                ck_assert_msg(ok == want, "text %zu cut at %zu and %zu: %d", t, i, j, ok);
            }
        }
    }
    /* fail fast: a byte that no text can continue with is refused at once */
    mxe_utf8_stream st;
    memset(&st, 0, sizeof st);
    ck_assert(mxe_utf8_stream_feed(&st, (const unsigned char *)"\xe2", 1));
    ck_assert(!mxe_utf8_stream_complete(&st));
    ck_assert(!mxe_utf8_stream_feed(&st, (const unsigned char *)"A", 1));
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* SSE writer */

static mxe_snapshot *fake_snapshot(uint64_t seq, const char *json)
{
    mxe_snapshot *s = calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    atomic_init(&s->refs, 1);
    s->seq = seq;
    mxe_buf_puts(&s->json, json);
    return s;
}

/* Everything the writer produces, read `piece` bytes at a time. */
static void drain(mxe_sse_writer *w, size_t piece, mxe_buf *out)
{
    char buf[64];
    for (;;) {
        size_t n = mxe_sse_writer_read(w, buf, piece);
        mxe_buf_append(out, buf, n);
        if (n < piece)
            break;
    }
}

START_TEST(test_sse_writer)
{
    static const struct {
        const char *json, *want;
    } v[] = {
        {"[{\"a\":1}]", "event: snapshot\nid: 7\ndata: [{\"a\":1}]\n\n"},
        {"[]", "event: snapshot\nid: 7\ndata: []\n\n"},
        {"[1,\n2]", "event: snapshot\nid: 7\ndata: [1,\ndata: 2]\n\n"},
        {"[1,\r\n2]", "event: snapshot\nid: 7\ndata: [1,\ndata: 2]\n\n"},
        {"[1,\r2\n\n3]", "event: snapshot\nid: 7\ndata: [1,\ndata: 2\ndata: \ndata: 3]\n\n"},
        {"[1]\n", "event: snapshot\nid: 7\ndata: [1]\ndata: \n\n"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        for (size_t piece = 1; piece <= 64; piece = piece * 2 + 1) {
            mxe_sse_writer w;
            memset(&w, 0, sizeof w);
            mxe_snapshot *s = fake_snapshot(7, v[i].json);
            mxe_sse_writer_event(&w, s); /* takes the reference */
            mxe_buf out = MXE_BUF_INIT;
            drain(&w, piece, &out);
            ck_assert_msg(out.data && strcmp(out.data, v[i].want) == 0, "case %zu piece %zu: %s", i,
                          piece, out.data ? out.data : "(null)");
            ck_assert_ptr_null(w.cur); /* released when done */
            mxe_buf_free(&out);
        }
    }
    mxe_sse_writer w;
    memset(&w, 0, sizeof w);
    mxe_sse_writer_text(&w, ": keep-alive\n\n");
    mxe_buf out = MXE_BUF_INIT;
    drain(&w, 5, &out);
    ck_assert_str_eq(out.data, ": keep-alive\n\n");
    mxe_buf_free(&out);
    /* reset drops a half-written event and its reference */
    mxe_sse_writer_event(&w, fake_snapshot(8, "[1,2,3]"));
    char tiny[4];
    ck_assert_uint_eq(mxe_sse_writer_read(&w, tiny, sizeof tiny), 4);
    mxe_sse_writer_reset(&w);
    ck_assert_ptr_null(w.cur);
    ck_assert_uint_eq(mxe_sse_writer_read(&w, tiny, sizeof tiny), 0);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* The feeds on a real server in this process */

static mxe_hub hub;
static mxe_http *srv;
static mxe_config cfg;

static void publish(uint64_t seq, const char *json)
{
    mxe_view *v = mxe_view_new();
    ck_assert_ptr_nonnull(v);
    v->cycle = seq;
    v->snap = fake_snapshot(seq, json);
    v->last_poll_ok = true;
    v->last_success_mono_ms = mxe_now_mono_ms();
    v->stale_after_ms = 6000;
    mxe_hub_publish(&hub, v);
}

static void server_setup(void)
{
    ck_assert_int_eq(mxe_hub_init(&hub), 0);
    memset(&cfg, 0, sizeof cfg);
    cfg.listen_host = "127.0.0.1";
    cfg.web_max_connections = 64;
    cfg.web_connection_timeout_s = 10;
    cfg.web_max_subscribers = 4;
    cfg.web_subscriber_stall_timeout_s = 2;
    char err[256] = "";
    srv = mxe_http_start(&cfg, &hub, err, sizeof err);
    ck_assert_msg(srv != NULL, "start: %s", err);
}

static void server_teardown(void)
{
    mxe_http_stop(srv);
    srv = NULL;
    mxe_hub_destroy(&hub);
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)mxe_http_port(srv))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Read exactly n bytes within 5 s; false on EOF. */
static bool read_exact(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ck_assert_msg(poll(&pfd, 1, 5000) == 1, "timed out reading");
        ssize_t r = recv(fd, (char *)p + got, n - got, 0);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* Read until `marker` has been seen (the marker included) into out. */
static void read_until(int fd, const char *marker, mxe_buf *out)
{
    while (!out->data || !strstr(out->data, marker)) {
        char c;
        ck_assert_msg(read_exact(fd, &c, 1), "EOF before '%s': %s", marker,
                      out->data ? out->data : "");
        mxe_buf_putc(out, c);
    }
}

static int ws_open(void)
{
    int fd = dial();
    const char req[] = "GET /api/streams/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    mxe_buf head = MXE_BUF_INIT;
    read_until(fd, "\r\n\r\n", &head);
    ck_assert_msg(strncmp(head.data, "HTTP/1.1 101 ", 13) == 0, "%s", head.data);
    ck_assert_ptr_nonnull(strstr(head.data, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    mxe_buf_free(&head);
    return fd;
}

/* One server frame: opcode and payload (NUL-terminated, caller frees). */
static char *ws_read_frame(int fd, unsigned *opcode, size_t *len)
{
    uint8_t h[10];
    ck_assert(read_exact(fd, h, 2));
    ck_assert_uint_eq(h[0] & 0x70, 0);
    ck_assert_uint_eq(h[1] & 0x80, 0); /* servers never mask */
    uint64_t n = h[1] & 0x7f;
    if (n == 126) {
        ck_assert(read_exact(fd, h + 2, 2));
        n = (uint64_t)h[2] << 8 | h[3];
    } else if (n == 127) {
        ck_assert(read_exact(fd, h + 2, 8));
        n = 0;
        for (int i = 2; i < 10; i++)
            n = n << 8 | h[i];
    }
    char *p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert(read_exact(fd, p, (size_t)n));
    p[n] = '\0';
    *opcode = h[0] & 0x0f;
    *len = (size_t)n;
    return p;
}

static void wait_counts(unsigned want_ws, unsigned want_sse)
{
    for (int i = 0; i < 500; i++) {
        unsigned w, s;
        mxe_live_counts(mxe_http_live(srv), &w, &s);
        if (w == want_ws && s == want_sse)
            return;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    unsigned w, s;
    mxe_live_counts(mxe_http_live(srv), &w, &s);
    ck_abort_msg("subscribers: %u websocket, %u sse; wanted %u, %u", w, s, want_ws, want_sse);
}

START_TEST(test_ws_initial_and_update)
{
    publish(1, "[{\"name\":\"a\"}]");
    int fd = ws_open();
    unsigned op;
    size_t n;
    char *p = ws_read_frame(fd, &op, &n);
    ck_assert_uint_eq(op, MXE_WS_OP_TEXT);
    ck_assert_str_eq(p, "[{\"name\":\"a\"}]");
    free(p);
    wait_counts(1, 0);
    /* a large document: 64-bit length */
    mxe_buf big = MXE_BUF_INIT;
    mxe_buf_putc(&big, '[');
    for (int i = 0; i < 20000; i++)
        mxe_buf_printf(&big, "%s%d", i ? "," : "", i);
    mxe_buf_putc(&big, ']');
    publish(2, big.data);
    p = ws_read_frame(fd, &op, &n);
    ck_assert_uint_eq(n, big.len);
    ck_assert_str_eq(p, big.data);
    free(p);
    mxe_buf_free(&big);
    /* a failed poll republishes the same snapshot: nothing is pushed; the next one is */
    mxe_view *v = mxe_view_new();
    mxe_view *cur = mxe_hub_acquire(&hub);
    v->snap = mxe_snapshot_ref(cur->snap);
    mxe_view_unref(cur);
    mxe_hub_publish(&hub, v);
    publish(3, "[]");
    p = ws_read_frame(fd, &op, &n);
    ck_assert_str_eq(p, "[]");
    free(p);
    /* ping → pong with the same payload */
    uint8_t f[32];
    size_t fl = client_frame(f, 0x89, "abc", 3);
    send_all(fd, f, fl);
    p = ws_read_frame(fd, &op, &n);
    ck_assert_uint_eq(op, MXE_WS_OP_PONG);
    ck_assert_str_eq(p, "abc");
    free(p);
    /* our close 1000 is echoed, then the server closes */
    fl = client_frame(f, 0x88, "\x03\xe8", 2);
    send_all(fd, f, fl);
    p = ws_read_frame(fd, &op, &n);
    ck_assert_uint_eq(op, MXE_WS_OP_CLOSE);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq((uint8_t)p[0] << 8 | (uint8_t)p[1], 1000);
    free(p);
    char c;
    ck_assert(!read_exact(fd, &c, 1)); /* EOF */
    close(fd);
    wait_counts(0, 0);
}
END_TEST

START_TEST(test_ws_bad_frames)
{
    static const struct {
        uint8_t b0;
        bool masked;
        unsigned code;
    } v[] = {
        {0x82, true, 1003},  /* binary */
        {0x81, false, 1002}, /* unmasked */
        {0x83, true, 1002},  /* bad opcode */
    };
    publish(1, "[]");
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int fd = ws_open();
        unsigned op;
        size_t n;
        free(ws_read_frame(fd, &op, &n)); /* the initial snapshot */
        uint8_t f[32];
        size_t fl;
        if (v[i].masked) {
            fl = client_frame(f, v[i].b0, "xy", 2);
        } else {
            fl = mxe_ws_frame_header(f, v[i].b0 & 0x0f, true, 2, NULL);
            memcpy(f + fl, "xy", 2);
            fl += 2;
        }
        send_all(fd, f, fl);
        char *p = ws_read_frame(fd, &op, &n);
        ck_assert_uint_eq(op, MXE_WS_OP_CLOSE);
        ck_assert_uint_ge(n, 2);
        unsigned code = (unsigned)((uint8_t)p[0] << 8 | (uint8_t)p[1]);
        ck_assert_msg(code == v[i].code, "case %zu: %u", i, code);
        free(p);
        char c;
        ck_assert(!read_exact(fd, &c, 1));
        close(fd);
    }
    wait_counts(0, 0);
}
END_TEST

START_TEST(test_sse_and_limits)
{
    int fd = dial();
    const char req[] = "GET /api/streams/events HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    mxe_buf got = MXE_BUF_INIT;
    read_until(fd, "retry: 2000\n\n", &got); /* before the first poll: no event yet */
    ck_assert_ptr_nonnull(strstr(got.data, "Content-Type: text/event-stream"));
    ck_assert_ptr_nonnull(strstr(got.data, "Transfer-Encoding: chunked"));
    wait_counts(0, 1);
    publish(5, "[{\"name\":\"x\"}]");
    read_until(fd, "event: snapshot\nid: 5\ndata: [{\"name\":\"x\"}]\n\n", &got);
    publish(6, "[]");
    read_until(fd, "id: 6\ndata: []\n\n", &got);
    mxe_buf_free(&got);
    /* the limit (4): three WebSockets join, the fifth subscriber is refused with 503 */
    int w[3];
    for (int i = 0; i < 3; i++)
        w[i] = ws_open();
    wait_counts(3, 1);
    int x = dial();
    const char req2[] = "GET /api/streams/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(x, req2, sizeof req2 - 1);
    mxe_buf r = MXE_BUF_INIT;
    read_until(x, "\r\n\r\n", &r);
    ck_assert_msg(strncmp(r.data, "HTTP/1.1 503", 12) == 0, "%s", r.data);
    mxe_buf_free(&r);
    close(x);
    /* not a handshake: 426 */
    x = dial();
    const char req3[] = "GET /api/streams/ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(x, req3, sizeof req3 - 1);
    read_until(x, "\r\n\r\n", &r);
    ck_assert_msg(strncmp(r.data, "HTTP/1.1 426", 12) == 0, "%s", r.data);
    mxe_buf_free(&r);
    close(x);
    /* shutdown with subscribers attached: WebSockets get 1001, the SSE stream ends with the
     * last chunk; teardown's mxe_http_stop() must not leak any of them */
    mxe_live_stop(mxe_http_live(srv));
    for (int i = 0; i < 3; i++) {
        unsigned op;
        size_t n;
        char *p;
        do { /* skip the snapshot(s) queued before the close */
            p = ws_read_frame(w[i], &op, &n);
            if (op != MXE_WS_OP_CLOSE)
                free(p);
        } while (op != MXE_WS_OP_CLOSE);
        ck_assert_uint_eq((uint8_t)p[0] << 8 | (uint8_t)p[1], 1001);
        free(p);
        close(w[i]);
    }
    mxe_buf tail = MXE_BUF_INIT;
    read_until(fd, "0\r\n\r\n", &tail);
    mxe_buf_free(&tail);
    close(fd);
}
END_TEST

/* A newcomer joining while a fan-out runs: the join hook publishes a new snapshot and
 * waits until an older subscriber has received it (the fan-out is done) before the
 * newcomer joins. The newcomer must start with that newest snapshot; one that read the
 * current snapshot before the fan-out would start with the previous one and then get
 * nothing until the next poll. */
typedef struct race {
    int watcher;       /* a WebSocket subscriber that sees when the fan-out is done */
    uint64_t seq;      /* what the hook publishes */
    const char *json;  /* ... and the watcher waits for */
    bool stop;         /* instead: shut the feeds down at that moment */
    bool ran, watched; /* the hook ran; the watcher saw the snapshot */
} race;

/* Read fd until `marker` appears, within 5 s, without Check's assertions (the hook runs in
 * a server thread). */
static bool saw_within(int fd, const char *marker)
{
    char buf[4096];
    size_t len = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = 5000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
            return false;
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0)
            return false;
        len += (size_t)r;
        buf[len] = '\0';
        if (memmem(buf, len, marker, strlen(marker)))
            return true;
        if (len == sizeof buf - 1)
            len = 0;
    }
}

static void race_hook(void *arg)
{
    race *r = arg;
    if (r->ran)
        return; /* only the first join */
    r->ran = true;
    if (r->stop) {
        mxe_live_stop(mxe_http_live(srv));
        return;
    }
    publish(r->seq, r->json);
    r->watched = saw_within(r->watcher, r->json);
}

START_TEST(test_newcomer_never_starts_behind)
{
    publish(1, "[1]");
    race r = {.watcher = ws_open(), .seq = 2, .json = "[2]"};
    unsigned op;
    size_t n;
    char *p = ws_read_frame(r.watcher, &op, &n);
    ck_assert_str_eq(p, "[1]");
    free(p);
    /* SSE newcomer */
    mxe_live_set_join_hook(mxe_http_live(srv), race_hook, &r);
    int fd = dial();
    const char req[] = "GET /api/streams/events HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    mxe_buf got = MXE_BUF_INIT;
    read_until(fd, "\ndata: ", &got);
    read_until(fd, "]", &got); /* the first event's document (chunk framing may come between) */
    ck_assert(r.ran && r.watched);
    ck_assert_msg(strstr(got.data, "\nid: 2\ndata: ") && strstr(got.data, "[2]") &&
                      !strstr(got.data, "[1]"),
                  "the first event: %s", got.data);
    mxe_buf_free(&got);
    close(fd);
    /* WebSocket newcomer */
    r = (race){.watcher = r.watcher, .seq = 3, .json = "[3]"};
    int ws = ws_open();
    p = ws_read_frame(ws, &op, &n);
    ck_assert(r.ran && r.watched);
    ck_assert_str_eq(p, "[3]");
    free(p);
    mxe_live_set_join_hook(mxe_http_live(srv), NULL, NULL);
    close(ws);
    close(r.watcher);
    wait_counts(0, 0);
}
END_TEST

/* An SSE request accepted just before shutdown began, joining just after: 503 with the
 * shutdown's own message (not the subscriber limit's). */
START_TEST(test_sse_join_racing_shutdown)
{
    publish(1, "[]");
    race r = {.stop = true};
    mxe_live_set_join_hook(mxe_http_live(srv), race_hook, &r);
    int fd = dial();
    const char req[] = "GET /api/streams/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    mxe_buf got = MXE_BUF_INIT;
    read_until(fd, "}\n", &got);
    ck_assert(r.ran);
    ck_assert_msg(strncmp(got.data, "HTTP/1.1 503", 12) == 0, "%s", got.data);
    ck_assert_msg(strstr(got.data, "\r\n\r\n{\"error\":\"shutting down\"}\n") != NULL, "%s",
                  got.data);
    ck_assert_ptr_nonnull(strstr(got.data, "Retry-After: 2\r\n"));
    mxe_buf_free(&got);
    close(fd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("live");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_sha1_vectors);
    tcase_add_test(tc, test_base64_vectors);
    tcase_add_test(tc, test_accept_key);
    tcase_add_test(tc, test_frame_header_lengths);
    tcase_add_test(tc, test_mask_roundtrip);
    tcase_add_test(tc, test_close_frame);
    tcase_add_test(tc, test_decoder_accepts);
    tcase_add_test(tc, test_decoder_rules);
    tcase_add_test(tc, test_utf8);
    tcase_add_test(tc, test_utf8_stream);
    tcase_add_test(tc, test_sse_writer);
    suite_add_tcase(s, tc);
    TCase *srv_tc = tcase_create("server");
    tcase_add_checked_fixture(srv_tc, server_setup, server_teardown);
    tcase_set_timeout(srv_tc, 60);
    tcase_add_test(srv_tc, test_ws_initial_and_update);
    tcase_add_test(srv_tc, test_ws_bad_frames);
    tcase_add_test(srv_tc, test_sse_and_limits);
    tcase_add_test(srv_tc, test_newcomer_never_starts_behind);
    tcase_add_test(srv_tc, test_sse_join_racing_shutdown);
    suite_add_tcase(s, srv_tc);
    return run_suite(s);
}
