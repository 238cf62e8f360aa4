/* The per-stream record: what one MediaMTX path looks like to our users, joined with
 * the SRT connection that publishes it. Pure data; built by collect.c, read by every
 * output (JSON, exposition, HTTP). */
#ifndef MXE_MODEL_H
#define MXE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* Statistics of the SRT connection that publishes a stream (receiver side). */
typedef struct mxe_srt_stats {
    double rtt_ms;             /* msRTT */
    double recv_rate_mbps;     /* mbpsReceiveRate */
    double link_capacity_mbps; /* mbpsLinkCapacity */
    double recv_latency_ms;    /* msReceiveTsbPdDelay */
    uint64_t packets_received; /* packetsReceived (retransmitted ones included) */
    uint64_t packets_lost;     /* packetsReceivedLoss */
    uint64_t packets_retrans;  /* packetsReceivedRetrans */
    uint64_t packets_dropped;  /* packetsReceivedDrop */
} mxe_srt_stats;

typedef struct mxe_reader_count {
    const char *type; /* reader type as MediaMTX spells it, e.g. "rtspSession" */
    uint32_t count;
} mxe_reader_count;

typedef struct mxe_stream {
    const char *name;        /* path name, never NULL */
    const char *source_type; /* source.type, NULL when the path has no source */
    const char *source_id;   /* source.id, NULL when the path has no source */
    const char **tracks;     /* codec names as MediaMTX spells them */
    uint32_t n_tracks;
    uint32_t readers;                  /* length of the path's readers list */
    mxe_reader_count *readers_by_type; /* sorted by type */
    uint32_t n_reader_types;
    uint64_t bytes_received; /* inboundBytes (v1.20) or bytesReceived (v1.13) */
    uint64_t bytes_sent;     /* outboundBytes (v1.20) or bytesSent (v1.13) */
    bool ready;              /* available (v1.20) or ready (v1.13) */
    bool has_srt;            /* the publisher is an SRT connection listed in srtconns */
    mxe_srt_stats srt;       /* valid only when has_srt */
} mxe_stream;

/* All streams of one poll cycle, sorted by name, names unique. Strings and arrays live
 * in `arena`; the whole set is freed by mxe_streams_free(). */
typedef struct mxe_streams {
    mxe_stream *items;
    size_t count;
    size_t cap;
    mxe_arena arena;
} mxe_streams;

void mxe_streams_free(mxe_streams *s);
/* Binary search by name; NULL when absent. */
const mxe_stream *mxe_streams_find(const mxe_streams *s, const char *name, size_t name_len);
/* The number of streams with ready == true. */
size_t mxe_streams_count_ready(const mxe_streams *s);

#endif
