/* The Redis mirror; see mirror_redis.h. hiredis contexts cannot be reused after an error
 * (FIELD-NOTES), so any failure frees the context and the next write reconnects. */
#include "mirror_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "buf.h"
#include "snapshot.h" /* mxe_now_mono_ms */

struct mxe_mirror_redis {
    redisContext *ctx;
    char *host, *unix_path, *username, *password, *key, *channel;
    int port, db;
    unsigned ttl_s;
    int64_t timeout_ms; /* bounds one whole write: connect, AUTH, SELECT, MULTI/EXEC */
    /* What mxe_mirror_redis_interrupt() needs, shared with the writing thread. */
    pthread_mutex_t mu;
    int fd;           /* the socket of ctx, -1 when there is none */
    bool interrupted; /* no more I/O: the process is stopping */
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
    m->fd = -1;
    pthread_mutex_init(&m->mu, NULL);
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
    m->timeout_ms = (int64_t)(tmo * 1000);
    if (m->timeout_ms < 1)
        m->timeout_ms = 1;
    return m;
}

static void drop_connection(mxe_mirror_redis *m)
{
    pthread_mutex_lock(&m->mu);
    m->fd = -1; /* before the close: interrupt() must never shut down a reused descriptor */
    pthread_mutex_unlock(&m->mu);
    if (m->ctx)
        redisFree(m->ctx);
    m->ctx = NULL;
}

void mxe_mirror_redis_free(mxe_mirror_redis *m)
{
    if (!m)
        return;
    drop_connection(m);
    pthread_mutex_destroy(&m->mu);
    free(m->host);
    free(m->unix_path);
    free(m->username);
    free(m->password);
    free(m->key);
    free(m->channel);
    free(m);
}

void mxe_mirror_redis_interrupt(mxe_mirror_redis *m)
{
    pthread_mutex_lock(&m->mu);
    m->interrupted = true;
    /* A blocked send or recv on this socket returns at once; the writer then fails and
     * frees the context as after any error. */
    if (m->fd >= 0)
        shutdown(m->fd, SHUT_RDWR);
    pthread_mutex_unlock(&m->mu);
}

static bool is_interrupted(mxe_mirror_redis *m)
{
    pthread_mutex_lock(&m->mu);
    bool v = m->interrupted;
    pthread_mutex_unlock(&m->mu);
    return v;
}

/* The time left until `deadline` as a timeval, or -1 when it has passed. */
static int time_left(int64_t deadline, struct timeval *tv)
{
    int64_t left = deadline - mxe_now_mono_ms();
    if (left <= 0)
        return -1;
    tv->tv_sec = (time_t)(left / 1000);
    tv->tv_usec = (suseconds_t)(left % 1000) * 1000;
    return 0;
}

/* Let the next blocking send/recv wait at most until `deadline`. */
static int arm(mxe_mirror_redis *m, int64_t deadline, const char *what, char *err, size_t errlen)
{
    struct timeval tv;
    if (time_left(deadline, &tv) != 0 || redisSetTimeout(m->ctx, tv) != REDIS_OK) {
        snprintf(err, errlen, "%s: timed out (%lld ms for the whole write)", what,
                 (long long)m->timeout_ms);
        return -1;
    }
    return 0;
}

/* Check a reply's type; the reply is freed. */
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

static int connect_redis(mxe_mirror_redis *m, int64_t deadline, char *err, size_t errlen)
{
    struct timeval tv;
    if (time_left(deadline, &tv) != 0) {
        snprintf(err, errlen, "connect: no time left");
        return -1;
    }
    m->ctx = m->unix_path ? redisConnectUnixWithTimeout(m->unix_path, tv)
                          : redisConnectWithTimeout(m->host, m->port, tv);
    if (!m->ctx || m->ctx->err) {
        const char *why = m->ctx ? m->ctx->errstr : "out of memory";
        if (m->unix_path)
            snprintf(err, errlen, "connect %s: %s", m->unix_path, why);
        else
            snprintf(err, errlen, "connect %s:%d: %s", m->host, m->port, why);
        return -1;
    }
    pthread_mutex_lock(&m->mu);
    bool stop = m->interrupted;
    if (!stop)
        m->fd = m->ctx->fd;
    pthread_mutex_unlock(&m->mu);
    if (stop) {
        snprintf(err, errlen, "interrupted by shutdown");
        return -1;
    }
    if (m->password) {
        if (arm(m, deadline, "AUTH", err, errlen) != 0)
            return -1;
        redisReply *r = m->username ? redisCommand(m->ctx, "AUTH %s %s", m->username, m->password)
                                    : redisCommand(m->ctx, "AUTH %s", m->password);
        if (command_ok(m, err, errlen, "AUTH", r) != 0) /* the message never has the secret */
            return -1;
    }
    if (m->db != 0 &&
        (arm(m, deadline, "SELECT", err, errlen) != 0 ||
         command_ok(m, err, errlen, "SELECT", redisCommand(m->ctx, "SELECT %d", m->db)) != 0))
        return -1;
    return 0;
}

/* A RESP bulk string header: $<n>\r\n. */
static void put_bulk_head(mxe_buf *b, size_t n)
{
    mxe_buf_putc(b, '$');
    mxe_buf_u64(b, n);
    mxe_buf_append(b, "\r\n", 2);
}

static void put_bulk(mxe_buf *b, const char *s)
{
    put_bulk_head(b, strlen(s));
    mxe_buf_puts(b, s);
    mxe_buf_append(b, "\r\n", 2);
}

/* Write the whole transaction — MULTI; SET key json [EX ttl]; [PUBLISH channel json]; EXEC,
 * pipelined — straight from the caller's buffer. hiredis would copy the document twice
 * per command (formatting it, then into its output buffer): megabytes of copies and of
 * retained heap per cycle at 10,000 streams. Only the framing is formatted here; hiredis
 * reads the replies (its output buffer stays empty, so it has nothing to send first). */
static int send_transaction(mxe_mirror_redis *m, int64_t deadline, const char *json, size_t len,
                            bool publish, char *err, size_t errlen)
{
    mxe_buf head = MXE_BUF_INIT, mid = MXE_BUF_INIT, tail = MXE_BUF_INIT;
    mxe_buf_puts(&head, "*1\r\n$5\r\nMULTI\r\n");
    mxe_buf_puts(&head, m->ttl_s ? "*5\r\n" : "*3\r\n");
    put_bulk(&head, "SET");
    put_bulk(&head, m->key);
    put_bulk_head(&head, len);
    mxe_buf_append(&mid, "\r\n", 2);
    if (m->ttl_s) {
        char ttl[16];
        snprintf(ttl, sizeof ttl, "%u", m->ttl_s);
        put_bulk(&mid, "EX");
        put_bulk(&mid, ttl);
    }
    if (publish) {
        mxe_buf_puts(&mid, "*3\r\n");
        put_bulk(&mid, "PUBLISH");
        put_bulk(&mid, m->channel);
        put_bulk_head(&mid, len);
        mxe_buf_append(&tail, "\r\n", 2);
    }
    mxe_buf_puts(&tail, "*1\r\n$4\r\nEXEC\r\n");
    int rc = -1;
    if (!mxe_buf_ok(&head) || !mxe_buf_ok(&mid) || !mxe_buf_ok(&tail)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    struct iovec iov[5] = {{head.data, head.len},
                           {(void *)(uintptr_t)json, len},
                           {mid.data, mid.len},
                           {(void *)(uintptr_t)json, len},
                           {tail.data, tail.len}};
    if (!publish) { /* head, json, mid + tail */
        iov[3] = iov[4];
    }
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = publish ? 5 : 4};
    while (msg.msg_iovlen > 0) {
        if (arm(m, deadline, "SET", err, errlen) != 0)
            goto out;
        ssize_t w = sendmsg(m->ctx->fd, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "SET: %s",
                     errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
            goto out;
        }
        size_t left = (size_t)w; /* drop what was sent, resume inside a part */
        while (msg.msg_iovlen > 0 && left >= msg.msg_iov->iov_len) {
            left -= msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + left;
            msg.msg_iov->iov_len -= left;
        }
    }
    rc = 0;
out:
    mxe_buf_free(&head);
    mxe_buf_free(&mid);
    mxe_buf_free(&tail);
    return rc;
}

/* The next reply: from what hiredis has read already when it is there (a transaction's
 * replies usually arrive in one segment), else from the socket within the time left, so
 * the socket's timeouts are set only before a read that can block. NULL on an error or
 * a timeout, said in err. */
static redisReply *next_reply(mxe_mirror_redis *m, int64_t deadline, const char *what, char *err,
                              size_t errlen)
{
    void *r = NULL;
    int rc = redisGetReplyFromReader(m->ctx, &r);
    if (rc == REDIS_OK && !r) {
        if (arm(m, deadline, what, err, errlen) != 0)
            return NULL;
        rc = redisGetReply(m->ctx, &r);
    }
    if (rc != REDIS_OK || !r) {
        snprintf(err, errlen, "%s: %s", what, m->ctx->errstr[0] ? m->ctx->errstr : "no reply");
        return NULL;
    }
    return r;
}

static int write_once(mxe_mirror_redis *m, int64_t deadline, const char *json, size_t len,
                      long long *subscribers, char *err, size_t errlen)
{
    bool publish = m->channel[0] != '\0';
    if (send_transaction(m, deadline, json, len, publish, err, errlen) != 0)
        return -1;
    int queued = publish ? 3 : 2; /* MULTI and the queued commands */
    for (int i = 0; i < queued; i++) {
        const char *what = i == 0 ? "MULTI" : "queue";
        redisReply *r = next_reply(m, deadline, what, err, errlen);
        if (!r || command_ok(m, err, errlen, what, r) != 0)
            return -1;
    }
    redisReply *exec = next_reply(m, deadline, "EXEC", err, errlen);
    if (!exec)
        return -1;
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
    if (is_interrupted(m)) {
        snprintf(err, errlen, "interrupted by shutdown");
        drop_connection(m);
        return MXE_REDIS_INTERRUPTED;
    }
    int64_t deadline = mxe_now_mono_ms() + m->timeout_ms;
    if ((m->ctx || connect_redis(m, deadline, err, errlen) == 0) &&
        write_once(m, deadline, json, len, subscribers, err, errlen) == 0)
        return MXE_REDIS_WRITTEN;
    drop_connection(m);
    if (is_interrupted(m)) {
        snprintf(err, errlen, "interrupted by shutdown");
        return MXE_REDIS_INTERRUPTED;
    }
    return MXE_REDIS_FAILED;
}
