/* WebSocket (RFC 6455), the server's side of the live feed: the opening handshake's
 * accept key, frame headers for what the server sends, and an incremental decoder of what
 * a client sends that enforces the protocol's rules. Pure functions, no I/O: live.c owns
 * the sockets. */
#ifndef MXE_WS_H
#define MXE_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "utf8.h"

/* Opcodes (RFC 6455 5.2). */
enum {
    MXE_WS_OP_CONT = 0x0,
    MXE_WS_OP_TEXT = 0x1,
    MXE_WS_OP_BINARY = 0x2,
    MXE_WS_OP_CLOSE = 0x8,
    MXE_WS_OP_PING = 0x9,
    MXE_WS_OP_PONG = 0xA,
};

/* Close codes (RFC 6455 7.4.1) the exporter sends or names. */
enum {
    MXE_WS_CLOSE_NORMAL = 1000,
    MXE_WS_CLOSE_GOING_AWAY = 1001,
    MXE_WS_CLOSE_PROTOCOL = 1002,
    MXE_WS_CLOSE_UNSUPPORTED = 1003, /* binary frames */
    MXE_WS_CLOSE_NO_STATUS = 1005,   /* received a close frame without a code; never sent */
    MXE_WS_CLOSE_INVALID_DATA = 1007,
    MXE_WS_CLOSE_POLICY = 1008,
    MXE_WS_CLOSE_TOO_BIG = 1009,
};

/* Longest frame header: 2 bytes, a 64-bit length and a masking key. */
#define MXE_WS_MAX_HEADER 14
/* Longest control frame payload. */
#define MXE_WS_MAX_CONTROL 125
/* Length of a Sec-WebSocket-Accept value (base64 of a SHA-1 digest). */
#define MXE_WS_ACCEPT_LEN 28

/* The Sec-WebSocket-Accept value for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)) into
 * `out`, NUL-terminated. `key` must be the base64 encoding of 16 bytes (24 characters;
 * optional whitespace around it is ignored). 0, or -1 when the key is not valid. */
int mxe_ws_accept_key(const char *key, char out[MXE_WS_ACCEPT_LEN + 1]);

/* Write the header of a frame with `len` payload bytes into `out` (MXE_WS_MAX_HEADER
 * bytes): FIN as given, the shortest length encoding, and the masking key when `mask` is
 * not NULL (servers send unmasked frames; tests build client frames). Returns its length. */
size_t mxe_ws_frame_header(uint8_t *out, unsigned opcode, bool fin, uint64_t len,
                           const uint8_t mask[4]);

/* XOR p[0..n) with the masking key; `offset` is p's position within the frame's payload.
 * Applying it twice restores the input. */
void mxe_ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* A whole unmasked close frame with `code` and `reason` (cut to fit 125 payload bytes) into
 * `out` (MXE_WS_MAX_HEADER + MXE_WS_MAX_CONTROL bytes); returns its length. */
size_t mxe_ws_close_frame(uint8_t *out, unsigned code, const char *reason);

/* A close code a peer may send (RFC 6455 7.4: 1000-1003, 1007-1014, 3000-4999). */
bool mxe_ws_close_code_valid(unsigned code);

typedef enum {
    MXE_WS_EV_NONE,    /* the input was consumed; nothing completed */
    MXE_WS_EV_MESSAGE, /* a whole, valid text message arrived (its content is not kept) */
    MXE_WS_EV_PING,    /* payload/len: the ping's payload, to echo in a pong */
    MXE_WS_EV_PONG,    /* payload/len: the pong's payload */
    MXE_WS_EV_CLOSE,   /* code (MXE_WS_CLOSE_NO_STATUS when absent); payload/len: reason */
    MXE_WS_EV_ERROR,   /* the client broke the rules: close with `code`, `reason` says why */
} mxe_ws_event_type;

typedef struct mxe_ws_event {
    mxe_ws_event_type type;
    unsigned code;
    const char *reason;     /* MXE_WS_EV_ERROR: a static text */
    const uint8_t *payload; /* control frames: points into the decoder, valid until the next call */
    size_t len;
} mxe_ws_event;

/* Decoder state for the frames of one client connection. */
typedef struct mxe_ws_decoder {
    uint64_t max_message; /* bytes a text message may have, over all its fragments */
    uint8_t hdr[MXE_WS_MAX_HEADER];
    size_t hdr_len;  /* header bytes gathered so far */
    size_t hdr_need; /* header bytes this frame has (known after 2 bytes), 0 before */
    bool in_payload; /* the header is complete */
    unsigned opcode;
    bool fin;
    uint8_t mask[4];
    uint64_t len, got; /* this frame's payload length and the bytes seen */
    uint8_t ctrl[MXE_WS_MAX_CONTROL];
    bool in_message;      /* a fragmented text message is open */
    uint64_t message_len; /* its bytes so far */
    mxe_utf8_stream text; /* UTF-8 validation of the text message, across its fragments */
    bool done;            /* an ERROR or CLOSE was returned: feed no more */
} mxe_ws_decoder;

void mxe_ws_decoder_init(mxe_ws_decoder *d, uint64_t max_message);

/* Feed p[0..n). Stops after the first event and returns the bytes consumed; ev->type is
 * MXE_WS_EV_NONE when all n bytes were consumed without one. The rules (each an ERROR):
 * RSV bits set, an unknown opcode or an unmasked frame → 1002; a length that is not in its
 * shortest form or has the top bit set → 1002; a control frame that is fragmented or
 * longer than 125 bytes → 1002; a continuation without an open message or a new message
 * inside an open one → 1002; a close payload of 1 byte, with a code a peer may not send
 * → 1002, or whose reason is not UTF-8 → 1007; a binary frame → 1003; a text message
 * longer than max_message → 1009 (detected from the header, before the payload); a text
 * message that is not UTF-8 → 1007 (RFC 6455 8.1), validated as its bytes arrive, across
 * fragments (a code point may span two), so the error comes at the first byte that makes
 * it invalid, or at the end of the message when it ends inside a code point. After an
 * ERROR or a CLOSE the decoder consumes nothing more. */
size_t mxe_ws_decode(mxe_ws_decoder *d, const uint8_t *p, size_t n, mxe_ws_event *ev);

#endif
