/* HTTP basic authentication; see web_auth.h and docs/security.md.
 *
 * Cost model. One bcrypt check costs tens of milliseconds of CPU in the HTTP worker that
 * runs it, so:
 *  - a successful check is cached per user: the cache entry is a SipHash-2-4 tag of the
 *    candidate "user:password" under a random key drawn at start, compared in constant
 *    time; it lives as long as it keeps being used (idle expiry MXE_AUTH_CACHE_IDLE_MS),
 *    so a scraper that comes back every few seconds pays for bcrypt once. Wrong passwords
 *    never touch the cache, so a flood of them cannot evict anybody's entry. One entry
 *    per user: the cache is as large as the users file and no larger.
 *  - bcrypt runs one at a time, in the order the requests asked for it (a FIFO queue,
 *    like a ticket lock): a request that needs a check while another is running waits
 *    its turn, so a client looping wrong passwords delays a legitimate first login by one
 *    check at most, never refuses it. The wait is bounded in time (MXE_AUTH_MAX_WAIT_MS)
 *    and in the number of waiters (MXE_AUTH_MAX_WAITERS); beyond either the answer is
 *    MXE_AUTH_BUSY (503 with Retry-After), so a parallel flood ties up a bounded number of
 *    HTTP worker threads for a bounded time. A waiter whose turn comes looks at the cache
 *    again: the same credentials may have been verified while it waited.
 *  - an unknown user is checked against a dummy hash with the cost most users have, so
 *    the answer takes as long as for a known user with a wrong password.
 * Nothing here logs: credentials and hashes never reach the log. */
#include "web_auth.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"

#define BCRYPT_LEN 60 /* "$2b$" "10" "$" 22 salt + 31 hash characters */

typedef struct user {
    char *name;
    size_t name_len;
    char hash[BCRYPT_LEN + 1];
    unsigned line;
    /* cache, guarded by cache_lock */
    bool cached;
    uint64_t tag;
    int64_t used_ms;
} user;

struct mxe_web_auth {
    user *users;
    size_t n_users;
    char dummy[BCRYPT_LEN + 1]; /* a bcrypt setting: salt and cost, never matches */
    uint64_t key[2];            /* SipHash key of the cache tags */
    pthread_mutex_t cache_lock; /* users[].cached/tag/used_ms and the stats; held briefly */
    /* The queue for bcrypt: one check at a time, in arrival order. */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_moved; /* broadcast when the running check ends or a waiter leaves */
    struct waiter *head, *tail; /* waiting checks, oldest first */
    unsigned n_waiting;
    bool running;              /* a check holds the turn */
    unsigned max_waiters;      /* MXE_AUTH_MAX_WAITERS unless a test set another */
    unsigned max_wait_ms;      /* MXE_AUTH_MAX_WAIT_MS unless a test set another */
    void (*turn_hook)(void *); /* tests: runs when a check gets its turn */
    void *turn_hook_arg;
    struct crypt_data *scratch; /* ~32 KiB, used by the check holding the turn, zeroed
                                   around each use */
    mxe_web_auth_stats stats;
};

typedef struct waiter {
    struct waiter *next;
} waiter;

/* ------------------------------------------------------------------------------------ */
/* Small helpers                                                                         */

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Equal bytes, in time that depends on n only. */
static bool ct_memeq(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(x[i] ^ y[i]);
    return d == 0;
}

/* Equal strings of possibly different lengths, in time that depends on the shorter
 * length only (the lengths themselves are not secret here). */
static bool ct_nameeq(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    return ct_memeq(a, b, n) & (an == bn);
}

static int fill_random(void *p, size_t n)
{
    unsigned char *b = p;
    while (n) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        b += r;
        n -= (size_t)r;
    }
    if (n == 0)
        return 0;
    /* getrandom(2) missing (old kernel, seccomp): /dev/urandom */
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        b += r;
        n -= (size_t)r;
    }
    close(fd);
    return n == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------------------ */
/* SipHash-2-4 (Aumasson and Bernstein), 64-bit output                                   */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t mxe_siphash24(const uint64_t key[2], const void *data, size_t n)
{
    const unsigned char *in = data;
    uint64_t k0 = key[0], k1 = key[1];
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t full = n & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = load_le64(in + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)n << 56;
    for (size_t i = 0; i < (n & 7); i++)
        b |= (uint64_t)in[full + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

#undef SIPROUND
#undef ROTL

/* ------------------------------------------------------------------------------------ */
/* Base64                                                                                */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int mxe_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    if (n % 4 != 0)
        return -1;
    size_t pad = 0;
    if (n >= 1 && in[n - 1] == '=')
        pad = (n >= 2 && in[n - 2] == '=') ? 2 : 1;
    size_t len = n / 4 * 3 - pad;
    if (len > cap)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        bool last = i + 4 == n;
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = b64val((unsigned char)in[i + k]);
            /* '=' only as the final pad characters */
            if (v[k] < 0 && !(last && in[i + k] == '=' && (size_t)k >= 4 - pad))
                return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
        out[o++] = (unsigned char)(w >> 16);
        if (last && pad == 2) {
            if (v[1] & 0x0f) /* unused bits must be zero: one encoding per input */
                return -1;
            break;
        }
        w |= (uint32_t)v[2] << 6;
        out[o++] = (unsigned char)(w >> 8);
        if (last && pad == 1) {
            if (v[2] & 0x03)
                return -1;
            break;
        }
        w |= (uint32_t)v[3];
        out[o++] = (unsigned char)w;
    }
    *outlen = o;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* The users file                                                                        */

static bool bcrypt_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
}

/* "$2a$", "$2b$" or "$2y$", a two-digit cost 04-31, "$", 53 characters of bcrypt's
 * base64. The cost, or -1. */
static int bcrypt_cost(const char *h, size_t n)
{
    if (n != BCRYPT_LEN || h[0] != '$' || h[1] != '2' ||
        (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') || h[3] != '$' || h[4] < '0' || h[4] > '9' ||
        h[5] < '0' || h[5] > '9' || h[6] != '$')
        return -1;
    int cost = (h[4] - '0') * 10 + (h[5] - '0');
    if (cost < 4 || cost > 31)
        return -1;
    for (size_t i = 7; i < n; i++) {
        if (!bcrypt_char(h[i]))
            return -1;
    }
    return cost;
}

static bool is_sp(char c)
{
    return c == ' ' || c == '\t';
}

static bool has_ctrl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

void mxe_web_auth_free(mxe_web_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_users; i++) {
        free(a->users[i].name);
    }
    if (a->users)
        explicit_bzero(a->users, a->n_users * sizeof a->users[0]);
    free(a->users);
    if (a->scratch) {
        explicit_bzero(a->scratch, sizeof *a->scratch);
        free(a->scratch);
    }
    pthread_mutex_destroy(&a->cache_lock);
    pthread_mutex_destroy(&a->queue_lock);
    pthread_cond_destroy(&a->queue_moved);
    explicit_bzero(a, sizeof *a);
    free(a);
}

/* One user:hash line, already trimmed and known not to be blank or a comment. 0, or -1
 * with err filled. */
static int parse_line(mxe_web_auth *a, const char *p, size_t n, const char *where, unsigned lineno,
                      size_t *cap, char *err, size_t errlen)
{
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p) {
        fail(err, errlen, "%s:%u: expected user:bcrypt-hash", where, lineno);
        return -1;
    }
    size_t ulen = (size_t)(colon - p);
    const char *h = colon + 1;
    size_t hlen = n - ulen - 1;
    if (ulen > MXE_AUTH_MAX_USER) {
        fail(err, errlen, "%s:%u: user name longer than %d bytes", where, lineno,
             MXE_AUTH_MAX_USER);
        return -1;
    }
    if (has_ctrl(p, ulen)) {
        fail(err, errlen, "%s:%u: control character in the user name", where, lineno);
        return -1;
    }
    if (is_sp(p[ulen - 1]) || (hlen && is_sp(h[0]))) {
        fail(err, errlen, "%s:%u: no spaces allowed around ':'", where, lineno);
        return -1;
    }
    if (bcrypt_cost(h, hlen) < 0) {
        /* never quote the value: it may be a plain password put there by mistake */
        fail(err, errlen,
             "%s:%u: not a bcrypt hash (expected $2b$, $2y$ or $2a$, cost 04-31, 60 characters; "
             "e.g. from htpasswd -nBC 10 USER)",
             where, lineno);
        return -1;
    }
    for (size_t i = 0; i < a->n_users; i++) {
        const user *u = &a->users[i];
        if (u->name_len == ulen && memcmp(u->name, p, ulen) == 0) {
            fail(err, errlen, "%s:%u: duplicate user (first on line %u)", where, lineno, u->line);
            return -1;
        }
    }
    if (a->n_users == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        user *nu = realloc(a->users, ncap * sizeof *nu);
        if (!nu) {
            fail(err, errlen, "out of memory");
            return -1;
        }
        a->users = nu;
        *cap = ncap;
    }
    user *u = &a->users[a->n_users];
    memset(u, 0, sizeof *u);
    u->name = malloc(ulen + 1);
    if (!u->name) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    memcpy(u->name, p, ulen);
    u->name[ulen] = '\0';
    u->name_len = ulen;
    memcpy(u->hash, h, BCRYPT_LEN);
    u->hash[BCRYPT_LEN] = '\0';
    u->line = lineno;
    a->n_users++;
    return 0;
}

/* The cost most users have (the higher one on a tie), so that an unknown user costs
 * what a typical known user costs. */
static int dummy_cost(const mxe_web_auth *a)
{
    unsigned count[32] = {0};
    for (size_t i = 0; i < a->n_users; i++)
        count[bcrypt_cost(a->users[i].hash, BCRYPT_LEN)]++;
    int best = 10;
    unsigned best_n = 0;
    for (int c = 4; c < 32; c++) {
        if (count[c] && count[c] >= best_n) {
            best = c;
            best_n = count[c];
        }
    }
    return best;
}

mxe_web_auth *mxe_web_auth_parse(const char *text, size_t len, const char *where, char *err,
                                 size_t errlen)
{
    mxe_web_auth *a = calloc(1, sizeof *a);
    if (!a) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&a->cache_lock, NULL);
    pthread_mutex_init(&a->queue_lock, NULL);
    mxe_cond_init_mono(&a->queue_moved);
    a->max_waiters = MXE_AUTH_MAX_WAITERS;
    a->max_wait_ms = MXE_AUTH_MAX_WAIT_MS;
    size_t cap = 0;
    unsigned lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (memchr(line, '\0', n)) {
            fail(err, errlen, "%s:%u: NUL byte", where, lineno);
            goto bad;
        }
        if (n && line[n - 1] == '\r')
            n--;
        while (n && is_sp(line[n - 1]))
            n--;
        while (n && is_sp(*line)) {
            line++;
            n--;
        }
        if (n == 0 || line[0] == '#')
            continue;
        if (parse_line(a, line, n, where, lineno, &cap, err, errlen) != 0)
            goto bad;
    }
    if (a->n_users == 0) {
        fail(err, errlen, "%s: no users (expected lines of user:bcrypt-hash)", where);
        goto bad;
    }
    unsigned char salt_random[16];
    a->scratch = calloc(1, sizeof *a->scratch);
    if (!a->scratch) {
        fail(err, errlen, "out of memory");
        goto bad;
    }
    if (fill_random(a->key, sizeof a->key) != 0 ||
        fill_random(salt_random, sizeof salt_random) != 0) {
        fail(err, errlen, "cannot read random bytes: %s", strerror(errno ? errno : EIO));
        goto bad;
    }
    /* The dummy is a bcrypt setting ("$2b$10$" and 22 salt characters): crypt_r hashes
     * with it exactly as with a real hash, and nothing can match it. */
    if (!crypt_gensalt_rn("$2b$", (unsigned long)dummy_cost(a), (const char *)salt_random,
                          (int)sizeof salt_random, a->dummy, (int)sizeof a->dummy)) {
        fail(err, errlen, "cannot make a bcrypt salt: %s", strerror(errno ? errno : EINVAL));
        goto bad;
    }
    return a;
bad:
    mxe_web_auth_free(a);
    return NULL;
}

mxe_web_auth *mxe_web_auth_load(const char *path, const char *name, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(err, errlen, "%s: cannot read %s: %s", name, path, strerror(errno));
        return NULL;
    }
    char *text = malloc(MXE_AUTH_MAX_FILE + 1);
    if (!text) {
        fclose(f);
        fail(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    size_t len = fread(text, 1, MXE_AUTH_MAX_FILE + 1, f);
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    mxe_web_auth *a = NULL;
    if (rerr) {
        fail(err, errlen, "%s: cannot read %s: %s", name, path, strerror(rerr));
    } else if (len > MXE_AUTH_MAX_FILE) {
        fail(err, errlen, "%s: %s is larger than %d KiB", name, path, MXE_AUTH_MAX_FILE / 1024);
    } else {
        char msg[512];
        a = mxe_web_auth_parse(text, len, path, msg, sizeof msg);
        if (!a)
            fail(err, errlen, "%s: %s", name, msg);
    }
    explicit_bzero(text, len);
    free(text);
    return a;
}

size_t mxe_web_auth_user_count(const mxe_web_auth *a)
{
    return a ? a->n_users : 0;
}

void mxe_web_auth_get_stats(mxe_web_auth *a, mxe_web_auth_stats *out)
{
    pthread_mutex_lock(&a->cache_lock);
    *out = a->stats;
    pthread_mutex_unlock(&a->cache_lock);
    out->dummy_cost = atoi(a->dummy + 4); /* "$2b$NN$…" */
}

/* ------------------------------------------------------------------------------------ */
/* Checking a request                                                                    */

void mxe_web_auth_set_queue_limits(mxe_web_auth *a, unsigned max_waiters, unsigned max_wait_ms)
{
    pthread_mutex_lock(&a->queue_lock);
    a->max_waiters = max_waiters;
    a->max_wait_ms = max_wait_ms;
    pthread_mutex_unlock(&a->queue_lock);
}

void mxe_web_auth_set_turn_hook(mxe_web_auth *a, void (*hook)(void *arg), void *arg)
{
    pthread_mutex_lock(&a->queue_lock);
    a->turn_hook = hook;
    a->turn_hook_arg = arg;
    pthread_mutex_unlock(&a->queue_lock);
}

static void count_busy(mxe_web_auth *a)
{
    pthread_mutex_lock(&a->cache_lock);
    a->stats.busy++;
    pthread_mutex_unlock(&a->cache_lock);
}

static void remove_waiter(mxe_web_auth *a, waiter *w)
{
    waiter **pp = &a->head, *prev = NULL;
    while (*pp && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = w->next;
    if (a->tail == w)
        a->tail = prev;
    a->n_waiting--;
}

/* Wait for the turn to run bcrypt: true with the turn held (give it back with
 * leave_turn()), false when the queue is full or the turn did not come within the wait
 * bound. */
static bool take_turn(mxe_web_auth *a)
{
    pthread_mutex_lock(&a->queue_lock);
    if (!a->running && !a->head) { /* the common case: nobody else */
        a->running = true;
        pthread_mutex_unlock(&a->queue_lock);
        return true;
    }
    if (a->n_waiting >= a->max_waiters) {
        pthread_mutex_unlock(&a->queue_lock);
        return false;
    }
    waiter w = {NULL};
    if (a->tail)
        a->tail->next = &w;
    else
        a->head = &w;
    a->tail = &w;
    a->n_waiting++;
    pthread_mutex_lock(&a->cache_lock);
    a->stats.queued++;
    a->stats.waiting = a->n_waiting;
    pthread_mutex_unlock(&a->cache_lock);
    struct timespec deadline = mxe_mono_deadline(mxe_now_mono_ms() + a->max_wait_ms);
    bool mine = false;
    for (;;) {
        if (!a->running && a->head == &w) {
            mine = true;
            break;
        }
        if (pthread_cond_timedwait(&a->queue_moved, &a->queue_lock, &deadline) == ETIMEDOUT &&
            !(!a->running && a->head == &w))
            break;
    }
    /* Leaving the queue, with the turn or without: the next waiter may be first now. */
    remove_waiter(a, &w);
    if (mine)
        a->running = true;
    else
        pthread_cond_broadcast(&a->queue_moved);
    pthread_mutex_lock(&a->cache_lock);
    a->stats.waiting = a->n_waiting;
    pthread_mutex_unlock(&a->cache_lock);
    pthread_mutex_unlock(&a->queue_lock);
    return mine;
}

static void leave_turn(mxe_web_auth *a)
{
    pthread_mutex_lock(&a->queue_lock);
    a->running = false;
    pthread_cond_broadcast(&a->queue_moved);
    pthread_mutex_unlock(&a->queue_lock);
}

/* Whether `tag` is found's cached credential, still fresh at now_ms; counts a hit. */
static bool cache_hit(mxe_web_auth *a, user *found, uint64_t tag, int64_t now_ms)
{
    pthread_mutex_lock(&a->cache_lock);
    bool hit = found->cached && now_ms - found->used_ms < MXE_AUTH_CACHE_IDLE_MS &&
               ct_memeq(&found->tag, &tag, sizeof tag);
    if (hit) {
        found->used_ms = now_ms;
        a->stats.cache_hits++;
    }
    pthread_mutex_unlock(&a->cache_lock);
    return hit;
}

/* The decoded credentials: "user:password" and room for a terminating NUL. */
enum { CRED_MAX = MXE_AUTH_MAX_CREDENTIALS_B64 / 4 * 3 };

static mxe_auth_result check_decoded(mxe_web_auth *a, unsigned char *cred, size_t len,
                                     int64_t now_ms)
{
    /* crypt_r takes C strings: "pass\0junk" must not pass as "pass" */
    if (memchr(cred, '\0', len))
        return MXE_AUTH_DENIED;
    const unsigned char *colon = memchr(cred, ':', len);
    if (!colon)
        return MXE_AUTH_DENIED;
    size_t ulen = (size_t)(colon - cred);
    cred[len] = '\0';
    const char *pass = (const char *)colon + 1;

    /* Scan every user without stopping at a match. */
    user *found = NULL;
    for (size_t i = 0; i < a->n_users; i++) {
        user *u = &a->users[i];
        bool eq = ct_nameeq(u->name, u->name_len, (const char *)cred, ulen);
        found = eq ? u : found;
    }
    /* The user name cannot contain ':' (Basic splits at the first one), so the tag of
     * "user:password" names the pair unambiguously. */
    uint64_t tag = mxe_siphash24(a->key, cred, len);

    if (found && cache_hit(a, found, tag, now_ms))
        return MXE_AUTH_OK;

    if (!take_turn(a)) {
        count_busy(a);
        return MXE_AUTH_BUSY;
    }
    pthread_mutex_lock(&a->queue_lock);
    void (*hook)(void *) = a->turn_hook;
    void *hook_arg = a->turn_hook_arg;
    pthread_mutex_unlock(&a->queue_lock);
    if (hook)
        hook(hook_arg);
    /* Verified by whoever ran before us? (Prometheus opens several connections at once.) */
    if (found && cache_hit(a, found, tag, now_ms)) {
        leave_turn(a);
        return MXE_AUTH_OK;
    }
    pthread_mutex_lock(&a->cache_lock);
    a->stats.bcrypt_runs++;
    a->stats.verifying = true;
    pthread_mutex_unlock(&a->cache_lock);

    const char *expected = found ? found->hash : a->dummy;
    memset(a->scratch, 0, sizeof *a->scratch);
    const char *out = crypt_r(pass, expected, a->scratch);
    /* Known user or not, the same comparison runs; only a known user can pass. */
    bool match = out && strnlen(out, BCRYPT_LEN + 1) == BCRYPT_LEN &&
                 ct_memeq(out, found ? found->hash : a->dummy, BCRYPT_LEN);
    bool ok = found && match;
    explicit_bzero(a->scratch, sizeof *a->scratch); /* holds a copy of the password */

    pthread_mutex_lock(&a->cache_lock);
    if (ok) {
        found->cached = true;
        found->tag = tag;
        found->used_ms = now_ms;
    }
    a->stats.verifying = false;
    pthread_mutex_unlock(&a->cache_lock);
    leave_turn(a);
    return ok ? MXE_AUTH_OK : MXE_AUTH_DENIED;
}

mxe_auth_result mxe_web_auth_check(mxe_web_auth *a, const char *authorization, int64_t now_ms)
{
    if (!a)
        return MXE_AUTH_OK;
    if (!authorization)
        return MXE_AUTH_DENIED;
    const char *p = authorization;
    while (is_sp(*p))
        p++;
    /* the scheme is case-insensitive (RFC 9110 11.1); then at least one space */
    if (strncasecmp(p, "Basic", 5) != 0 || !is_sp(p[5]))
        return MXE_AUTH_DENIED;
    p += 5;
    while (is_sp(*p))
        p++;
    size_t n = strnlen(p, MXE_AUTH_MAX_CREDENTIALS_B64 + 1);
    if (n > MXE_AUTH_MAX_CREDENTIALS_B64)
        return MXE_AUTH_DENIED;
    while (n && is_sp(p[n - 1]))
        n--;
    unsigned char cred[CRED_MAX + 1];
    size_t len;
    mxe_auth_result r = MXE_AUTH_DENIED;
    if (n > 0 && mxe_base64_decode(p, n, cred, CRED_MAX, &len) == 0)
        r = check_decoded(a, cred, len, now_ms);
    explicit_bzero(cred, sizeof cred);
    return r;
}
