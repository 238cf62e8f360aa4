/* Stream records → JSON; see streams_json.h. */
#include "streams_json.h"

#include <math.h>
#include <string.h>

static void put_key(mxe_buf *b, const char *key)
{
    mxe_buf_puts(b, key); /* keys are literals with their quotes and colon */
}

static void put_str_or_null(mxe_buf *b, const char *s)
{
    if (s)
        mxe_buf_json_string(b, s, strlen(s));
    else
        mxe_buf_puts(b, "null");
}

/* JSON has no NaN or Inf; MediaMTX never sends them, but never emit invalid JSON. */
static void put_number(mxe_buf *b, double v)
{
    if (isfinite(v))
        mxe_buf_double(b, v);
    else
        mxe_buf_puts(b, "null");
}

static void write_record(mxe_buf *b, const mxe_stream *st)
{
    put_key(b, "{\"name\":");
    mxe_buf_json_string(b, st->name, strlen(st->name));
    put_key(b, ",\"sourceType\":");
    put_str_or_null(b, st->source_type);
    put_key(b, ",\"tracks\":[");
    for (uint32_t i = 0; i < st->n_tracks; i++) {
        if (i)
            mxe_buf_putc(b, ',');
        mxe_buf_json_string(b, st->tracks[i], strlen(st->tracks[i]));
    }
    put_key(b, "],\"bytesReceived\":");
    mxe_buf_u64(b, st->bytes_received);
    put_key(b, ",\"readers\":");
    mxe_buf_u64(b, st->readers);
    if (st->has_srt) {
        put_key(b, ",\"rtt\":");
        put_number(b, st->srt.rtt_ms);
        put_key(b, ",\"recvRateMbps\":");
        put_number(b, st->srt.recv_rate_mbps);
        put_key(b, ",\"linkCapacityMbps\":");
        put_number(b, st->srt.link_capacity_mbps);
    } else {
        put_key(b, ",\"rtt\":null,\"recvRateMbps\":null,\"linkCapacityMbps\":null");
    }
    put_key(b, st->ready ? ",\"ready\":true" : ",\"ready\":false");
    put_key(b, ",\"bytesSent\":");
    mxe_buf_u64(b, st->bytes_sent);
    put_key(b, ",\"sourceId\":");
    put_str_or_null(b, st->source_id);
    put_key(b, ",\"readersByType\":{");
    for (uint32_t i = 0; i < st->n_reader_types; i++) {
        if (i)
            mxe_buf_putc(b, ',');
        const mxe_reader_count *rc = &st->readers_by_type[i];
        mxe_buf_json_string(b, rc->type, strlen(rc->type));
        mxe_buf_putc(b, ':');
        mxe_buf_u64(b, rc->count);
    }
    put_key(b, "}}");
}

int mxe_streams_json_write(mxe_buf *out, const mxe_streams *s, size_t *off, size_t *len)
{
    /* ~300 bytes per record: one reservation instead of repeated doubling. */
    mxe_buf_reserve(out, 2 + s->count * 320);
    mxe_buf_putc(out, '[');
    for (size_t i = 0; i < s->count; i++) {
        if (i)
            mxe_buf_putc(out, ',');
        size_t start = out->len;
        write_record(out, &s->items[i]);
        if (off)
            off[i] = start;
        if (len)
            len[i] = out->len - start;
    }
    mxe_buf_putc(out, ']');
    return mxe_buf_ok(out) ? 0 : -1;
}
