/* gzip via zlib; see gzip.h. */
#include "gzip.h"

#include <stdint.h>
#include <string.h>
#include <zlib.h>

/* Level 1: exposition text is repetitive, so the fastest level already shrinks it about
 * tenfold, at a fraction of the default level's CPU. */
#define LEVEL 1

int mxe_gzip(const char *in, size_t len, mxe_buf *out)
{
    z_stream z = {0};
    /* windowBits 15+16: gzip. */
    if (deflateInit2(&z, LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong bound = deflateBound(&z, (uLong)len);
    if (mxe_buf_reserve(out, bound) != 0) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    if (rc == Z_STREAM_END) {
        out->len += z.total_out;
        out->data[out->len] = '\0';
    }
    deflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}

/* One gzip stream being assembled from raw-deflate pieces. */
typedef struct gz_out {
    mxe_buf *buf;
    uLong crc;
    uint32_t size; /* ISIZE: the length modulo 2^32 */
} gz_out;

static void put_header(gz_out *g)
{
    /* magic, deflate, no flags, no mtime, XFL 4 (fastest), OS 3 (Unix): what zlib writes */
    static const char header[10] = {0x1f, (char)0x8b, 8, 0, 0, 0, 0, 0, 4, 3};
    mxe_buf_append(g->buf, header, sizeof header);
    g->crc = crc32(0L, Z_NULL, 0);
    g->size = 0;
}

static void put_le32(mxe_buf *b, uint32_t v)
{
    char le[4] = {(char)(v & 0xff), (char)(v >> 8 & 0xff), (char)(v >> 16 & 0xff),
                  (char)(v >> 24 & 0xff)};
    mxe_buf_append(b, le, 4);
}

static void put_trailer(gz_out *g)
{
    /* The pieces end in non-final blocks: an empty final block with fixed codes (BFINAL
     * 1, BTYPE 01, end-of-block) ends the deflate stream; then CRC-32 and ISIZE. */
    mxe_buf_append(g->buf, "\x03\x00", 2);
    put_le32(g->buf, (uint32_t)g->crc);
    put_le32(g->buf, g->size);
}

/* Deflate in[0..len) as a run of non-final blocks ending on a byte boundary (a sync
 * flush), independent of everything before it (a fresh window), appended to `out`. */
static int deflate_piece(z_stream *z, const char *in, size_t len, mxe_buf *out)
{
    if (deflateReset(z) != Z_OK)
        return -1;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    /* deflateBound covers a whole stream; the sync flush adds at most 5 bytes and the
     * loop below grows the buffer should that ever not suffice. */
    size_t room = deflateBound(z, (uLong)len) + 16;
    for (;;) {
        if (mxe_buf_reserve(out, room) != 0)
            return -1;
        z->next_out = (Bytef *)out->data + out->len;
        z->avail_out = (uInt)room;
        int rc = deflate(z, Z_SYNC_FLUSH);
        out->len += room - z->avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return -1;
        if (z->avail_in == 0 && z->avail_out > 0)
            break; /* all consumed and flushed */
        room = 4096;
    }
    out->data[out->len] = '\0';
    return 0;
}

/* Count a piece of `len` bytes with CRC-32 `piece_crc` into g's trailer. */
static void account(gz_out *g, uLong piece_crc, size_t len)
{
    g->crc = crc32_combine(g->crc, piece_crc, (z_off_t)len);
    g->size += (uint32_t)len;
}

/* Pieces shorter than this (metadata: a few hundred bytes) go through a small stream:
 * deflateReset() clears the hash table, 64 KiB for the big stream, and doing that for
 * every HELP/TYPE block cost more than compressing them. */
#define SMALL_PIECE 4096

/* Below this size a body is compressed whole: every piece is a deflate block of its own
 * with its own code tables, some 100 bytes each, which for a small exposition (tens of
 * pieces of a few hundred bytes) would triple the compressed size to save a fraction of
 * a millisecond. */
#define SPLICE_FROM 131072

int mxe_gzip_pair(const char *a, const char *b, const mxe_gzip_piece *pieces, size_t n,
                  mxe_buf *out_a, mxe_buf *out_b)
{
    size_t a_len = 0, b_len = 0;
    for (size_t i = 0; i < n; i++) {
        a_len += pieces[i].a_len;
        b_len += pieces[i].shared ? pieces[i].a_len : pieces[i].b_len;
    }
    if (a_len < SPLICE_FROM)
        return mxe_gzip(a, a_len, out_a) == 0 && mxe_gzip(b, b_len, out_b) == 0 ? 0 : -1;
    /* windowBits < 0: raw deflate; the gzip framing is written here. */
    z_stream big = {0}, small = {0};
    if (deflateInit2(&big, LEVEL, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    if (deflateInit2(&small, LEVEL, Z_DEFLATED, -10, 2, Z_DEFAULT_STRATEGY) != Z_OK) {
        deflateEnd(&big);
        return -1;
    }
    gz_out ga = {out_a, 0, 0}, gb = {out_b, 0, 0};
    put_header(&ga);
    put_header(&gb);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const mxe_gzip_piece *p = &pieces[i];
        const char *pa = a + p->a_off;
        if (p->shared) {
            if (p->a_len == 0)
                continue;
            size_t start = out_a->len;
            rc = deflate_piece(p->a_len < SMALL_PIECE ? &small : &big, pa, p->a_len, out_a);
            if (rc == 0)
                rc = mxe_buf_append(out_b, out_a->data + start, out_a->len - start);
            uLong c = crc32_z(0L, (const Bytef *)pa, p->a_len);
            account(&ga, c, p->a_len);
            account(&gb, c, p->a_len);
            continue;
        }
        if (p->a_len) {
            rc = deflate_piece(p->a_len < SMALL_PIECE ? &small : &big, pa, p->a_len, out_a);
            account(&ga, crc32_z(0L, (const Bytef *)pa, p->a_len), p->a_len);
        }
        if (p->b_len && rc == 0) {
            const char *pb = b + p->b_off;
            rc = deflate_piece(p->b_len < SMALL_PIECE ? &small : &big, pb, p->b_len, out_b);
            account(&gb, crc32_z(0L, (const Bytef *)pb, p->b_len), p->b_len);
        }
    }
    deflateEnd(&big);
    deflateEnd(&small);
    put_trailer(&ga);
    put_trailer(&gb);
    return rc == 0 && mxe_buf_ok(out_a) && mxe_buf_ok(out_b) ? 0 : -1;
}
