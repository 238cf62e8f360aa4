/* The Redis mirror; see mirror_redis.h. hiredis contexts cannot be reused after an error
 * (FIELD-NOTES), so any failure frees the context and a later write reconnects. */
#include "mirror_redis.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "snapshot.h" /* mxe_now_mono_ms */

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 5000

struct mxe_mirror_redis {
    redisContext *ctx;
    char *host, *unix_path, *username, *password, *key, *channel;
    int port, db;
    unsigned ttl_s;
    struct timeval timeout;
    int64_t next_attempt_ms; /* CLOCK_MONOTONIC; no reconnect before this */
    int64_t backoff_ms;
    uint64_t failures_in_outage; /* 0 while healthy */
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

mxe_mirror_redis *mxe_mirror_redis_new(const mxe_config *cfg)
{
    mxe_mirror_redis *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    const mxe_redis_target *t = &cfg->redis;
    m->host = dup_or_null(t->host);
    m->unix_path = dup_or_null(t->unix_path);
    m->username = dup_or_null(t->username);
    m->password = dup_or_null(t->password);
    m->key = strdup(cfg->redis_key);
    m->channel = strdup(cfg->redis_channel ? cfg->redis_channel : "");
    if ((t->host && !m->host) || (t->unix_path && !m->unix_path) || (t->username && !m->username) ||
        (t->password && !m->password) || !m->key || !m->channel) {
        mxe_mirror_redis_free(m);
        return NULL;
    }
    m->port = t->port;
    m->db = t->db;
    m->ttl_s = cfg->redis_ttl_s;
    /* Redis is local and fast; a slow one must not hold the mirror worker for long. */
    double tmo = cfg->poll_interval_s / 2 < 1.0 ? cfg->poll_interval_s / 2 : 1.0;
    m->timeout.tv_sec = (time_t)tmo;
    m->timeout.tv_usec = (suseconds_t)((tmo - (double)(time_t)tmo) * 1e6);
    m->backoff_ms = BACKOFF_MIN_MS;
    return m;
}

static void drop_connection(mxe_mirror_redis *m)
{
    if (m->ctx)
        redisFree(m->ctx);
    m->ctx = NULL;
}

void mxe_mirror_redis_free(mxe_mirror_redis *m)
{
    if (!m)
        return;
    drop_connection(m);
    free(m->host);
    free(m->unix_path);
    free(m->username);
    free(m->password);
    free(m->key);
    free(m->channel);
    free(m);
}

/* Run one command and check its reply type; the reply is freed. */
static int command_ok(mxe_mirror_redis *m, char *err, size_t errlen, const char *what,
                      redisReply *r)
{
    if (!r) {
        snprintf(err, errlen, "%s: %s", what, m->ctx->errstr[0] ? m->ctx->errstr : "no reply");
        return -1;
    }
    int ok = r->type != REDIS_REPLY_ERROR;
    if (!ok)
        snprintf(err, errlen, "%s: %s", what, r->str ? r->str : "error");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

static int connect_redis(mxe_mirror_redis *m, char *err, size_t errlen)
{
    m->ctx = m->unix_path ? redisConnectUnixWithTimeout(m->unix_path, m->timeout)
                          : redisConnectWithTimeout(m->host, m->port, m->timeout);
    if (!m->ctx || m->ctx->err) {
        const char *why = m->ctx ? m->ctx->errstr : "out of memory";
        if (m->unix_path)
            snprintf(err, errlen, "connect %s: %s", m->unix_path, why);
        else
            snprintf(err, errlen, "connect %s:%d: %s", m->host, m->port, why);
        return -1;
    }
    redisSetTimeout(m->ctx, m->timeout);
    if (m->password) {
        redisReply *r = m->username ? redisCommand(m->ctx, "AUTH %s %s", m->username, m->password)
                                    : redisCommand(m->ctx, "AUTH %s", m->password);
        if (command_ok(m, err, errlen, "AUTH", r) != 0) /* the message never has the secret */
            return -1;
    }
    if (m->db != 0 &&
        command_ok(m, err, errlen, "SELECT", redisCommand(m->ctx, "SELECT %d", m->db)) != 0)
        return -1;
    return 0;
}

/* MULTI; SET key json [EX ttl]; [PUBLISH channel json]; EXEC — pipelined, one round trip. */
static int write_once(mxe_mirror_redis *m, const char *json, size_t len, long long *subscribers,
                      char *err, size_t errlen)
{
    bool publish = m->channel[0] != '\0';
    redisAppendCommand(m->ctx, "MULTI");
    if (m->ttl_s)
        redisAppendCommand(m->ctx, "SET %s %b EX %u", m->key, json, len, m->ttl_s);
    else
        redisAppendCommand(m->ctx, "SET %s %b", m->key, json, len);
    if (publish)
        redisAppendCommand(m->ctx, "PUBLISH %s %b", m->channel, json, len);
    redisAppendCommand(m->ctx, "EXEC");
    int queued = publish ? 3 : 2; /* MULTI and the queued commands */
    for (int i = 0; i < queued; i++) {
        redisReply *r = NULL;
        if (redisGetReply(m->ctx, (void **)&r) != REDIS_OK)
            r = NULL;
        if (command_ok(m, err, errlen, i == 0 ? "MULTI" : "queue", r) != 0)
            return -1;
    }
    redisReply *exec = NULL;
    if (redisGetReply(m->ctx, (void **)&exec) != REDIS_OK || !exec) {
        snprintf(err, errlen, "EXEC: %s", m->ctx->errstr[0] ? m->ctx->errstr : "no reply");
        return -1;
    }
    int rc = 0;
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != (size_t)(publish ? 2 : 1)) {
        snprintf(err, errlen, "EXEC: %s",
                 exec->type == REDIS_REPLY_ERROR ? exec->str : "transaction aborted");
        rc = -1;
    } else if (exec->element[0]->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "SET: %s", exec->element[0]->str);
        rc = -1;
    } else if (publish && subscribers && exec->element[1]->type == REDIS_REPLY_INTEGER) {
        *subscribers = exec->element[1]->integer;
    }
    freeReplyObject(exec);
    return rc;
}

mxe_redis_result mxe_mirror_redis_write(mxe_mirror_redis *m, const char *json, size_t len,
                                        long long *subscribers, char *err, size_t errlen)
{
    int64_t now = mxe_now_mono_ms();
    if (!m->ctx && now < m->next_attempt_ms) {
        snprintf(err, errlen, "waiting %lld ms before reconnecting",
                 (long long)(m->next_attempt_ms - now));
        return MXE_REDIS_BACKOFF;
    }
    if ((m->ctx || connect_redis(m, err, errlen) == 0) &&
        write_once(m, json, len, subscribers, err, errlen) == 0) {
        if (m->failures_in_outage)
            mxe_info("redis: connection restored after %llu failed attempt(s)",
                     (unsigned long long)m->failures_in_outage);
        m->failures_in_outage = 0;
        m->backoff_ms = BACKOFF_MIN_MS;
        return MXE_REDIS_WRITTEN;
    }
    drop_connection(m);
    if (m->failures_in_outage++ == 0) /* once per outage; the metrics count the rest */
        mxe_warn("redis: %s; retrying with backoff, polling and /metrics continue", err);
    else
        mxe_debug("redis: %s", err);
    m->next_attempt_ms = now + m->backoff_ms;
    m->backoff_ms = m->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : m->backoff_ms * 2;
    return MXE_REDIS_FAILED;
}
