/* HTTP basic authentication for the exporter's own endpoints: a users file of bcrypt
 * hashes (one `user:hash` per line), verified with libxcrypt's crypt_r. See
 * docs/security.md for the design (cache, serialization, overload behaviour).
 *
 * Thread-safe: mxe_web_auth_check() may be called from every HTTP worker at once. */
#ifndef MXE_WEB_AUTH_H
#define MXE_WEB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mxe_web_auth mxe_web_auth;

typedef enum {
    MXE_AUTH_OK = 0, /* valid credentials */
    MXE_AUTH_DENIED, /* missing, malformed or wrong credentials, or an unknown user: 401 */
    MXE_AUTH_BUSY,   /* a bcrypt check was needed and its turn did not come (queue full,
                        or not within MXE_AUTH_MAX_WAIT_MS): 503 */
} mxe_auth_result;

enum {
    /* Longest base64 credential accepted in `Authorization: Basic` (768 bytes decoded);
     * anything longer is denied without running bcrypt. */
    MXE_AUTH_MAX_CREDENTIALS_B64 = 1024,
    /* Longest user name in the users file, in bytes. */
    MXE_AUTH_MAX_USER = 256,
    /* Largest users file read. */
    MXE_AUTH_MAX_FILE = 1024 * 1024,
};

/* A successful check is remembered for this long after its last use (see
 * docs/security.md): a scraper that keeps coming back never pays for bcrypt again. */
#define MXE_AUTH_CACHE_IDLE_MS (10 * 60 * 1000)

/* bcrypt checks run one at a time in arrival order; a check waits for its turn at most
 * this long, and at most this many wait at once (see docs/security.md). Beyond either:
 * MXE_AUTH_BUSY. */
#define MXE_AUTH_MAX_WAIT_MS 5000
#define MXE_AUTH_MAX_WAITERS 8

/* The realm sent in `WWW-Authenticate`. */
#define MXE_AUTH_CHALLENGE "Basic realm=\"mediamtx-exporter\", charset=\"UTF-8\""

/* Read and parse a users file. `name` (e.g. "--web.users-file") prefixes error
 * messages, which name the file and line but never quote a hash. NULL on error. */
mxe_web_auth *mxe_web_auth_load(const char *path, const char *name, char *err, size_t errlen);
/* Parse users-file text (text[0..len), NULs are an error); `where` names it in errors
 * ("path" in "path:3: ..."). NULL on error. */
mxe_web_auth *mxe_web_auth_parse(const char *text, size_t len, const char *where, char *err,
                                 size_t errlen);
/* Accepts NULL. Zeroes the cache and the verification scratch memory. */
void mxe_web_auth_free(mxe_web_auth *a);
size_t mxe_web_auth_user_count(const mxe_web_auth *a);

/* Check the value of an `Authorization` request header (NULL when absent). `now_ms` is
 * a monotonic clock in milliseconds (mxe_now_mono_ms()), used by the cache. */
mxe_auth_result mxe_web_auth_check(mxe_web_auth *a, const char *authorization, int64_t now_ms);

/* Counters, for tests and diagnostics. */
typedef struct mxe_web_auth_stats {
    uint64_t bcrypt_runs; /* crypt_r calls (known and unknown users alike) */
    uint64_t cache_hits;  /* checks answered from the cache */
    uint64_t busy;        /* MXE_AUTH_BUSY answers */
    uint64_t queued;      /* checks that had to wait for their turn */
    unsigned waiting;     /* checks waiting for their turn right now */
    bool verifying;       /* a crypt_r call is running right now */
    int dummy_cost;       /* bcrypt cost of the hash unknown users are checked against */
} mxe_web_auth_stats;
void mxe_web_auth_get_stats(mxe_web_auth *a, mxe_web_auth_stats *out);

/* Tests: other bounds than MXE_AUTH_MAX_WAITERS and MXE_AUTH_MAX_WAIT_MS. */
void mxe_web_auth_set_queue_limits(mxe_web_auth *a, unsigned max_waiters, unsigned max_wait_ms);
/* Tests only: `hook(arg)` runs in the checking thread when a check that needs bcrypt gets
 * its turn (before the cache is looked at again and bcrypt runs), so a test can hold the
 * turn or see the order. NULL removes it. */
void mxe_web_auth_set_turn_hook(mxe_web_auth *a, void (*hook)(void *arg), void *arg);

/* Strict base64 (RFC 4648 section 4, standard alphabet, '=' padding required, no
 * whitespace, unused bits zero). Decodes in[0..n) into out[0..cap); 0 with *outlen set,
 * -1 when the input is not canonical base64 or does not fit. */
int mxe_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen);

/* SipHash-2-4 of data[0..n) under a 128-bit key (exposed for the unit tests). */
uint64_t mxe_siphash24(const uint64_t key[2], const void *data, size_t n);

#endif
