/* libFuzzer target: argv, environment and env file → mxe_config_load().
 *
 * Input: four sections separated by the byte 0x1E —
 *   1. argv elements separated by NUL (argv[0] is supplied),
 *   2. environment entries KEY=value separated by NUL,
 *   3. the content of an env file, written to <tmp>/env,
 *   4. the content of a secret file, written to <tmp>/secret after a fixed marker.
 * In sections 1 and 2, "%E" becomes the env file's path and "%S" the secret file's, so the
 * fuzzer reaches --config.file and the *_FILE options. Inputs naming /dev, /proc, /sys or
 * /run are skipped: a FIFO or a device there could block a read.
 * Properties:
 *  - every outcome is OK, EXIT or BAD; BAD comes with one line naming the problem;
 *  - OK means the documented bounds hold (interval, timeout below it, sizes, ports,
 *    Redis target, auth combinations);
 *  - the content of a secret file never appears in the error (unless that file was also
 *    given as the env file, which is then not a secret);
 *  - nothing leaks or reads out of bounds, whatever the result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_util.h"
#include "log.h"

#define SEP       0x1E
#define MAX_ELEMS 24
/* Lower case and a dash: never a valid env-file key, so an env file that is really the
 * secret file cannot quote it as an "unknown key" either. */
#define MARKER "zq-secret-7f3a"

static char tmpdir[64];
static char env_path[96], secret_path[96];
static FILE *devnull;

static void cleanup(void)
{
    unlink(env_path);
    unlink(secret_path);
    rmdir(tmpdir);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mxe-fuzz-config-%ld", (long)getpid());
    FZ_ASSERT(mkdir(tmpdir, 0700) == 0 || access(tmpdir, W_OK) == 0, "cannot create %s", tmpdir);
    snprintf(env_path, sizeof env_path, "%s/env", tmpdir);
    snprintf(secret_path, sizeof secret_path, "%s/secret", tmpdir);
    devnull = fopen("/dev/null", "w");
    FZ_ASSERT(devnull, "cannot open /dev/null");
    mxe_log_setup(MXE_LOG_ERROR, MXE_LOG_TEXT);
    atexit(cleanup);
}

static void write_file(const char *path, const char *prefix, const char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    FZ_ASSERT(f, "cannot write %s", path);
    fputs(prefix, f);
    fwrite(p, 1, n, f);
    fclose(f);
}

static bool has(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, lit, k) == 0)
            return true;
    return false;
}

/* Copy s[0..n) replacing %E and %S by the files' paths. */
static char *expand(const char *s, size_t n)
{
    size_t cap = n * 48 + 1;
    char *o = malloc(cap);
    FZ_ASSERT(o, "out of memory");
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 1 < n && (s[i + 1] == 'E' || s[i + 1] == 'S')) {
            const char *path = s[i + 1] == 'E' ? env_path : secret_path;
            w += (size_t)snprintf(o + w, cap - w, "%s", path);
            i++;
        } else {
            o[w++] = s[i];
        }
    }
    o[w] = '\0';
    return o;
}

/* Split section s[0..n) at NULs into at most `max` expanded strings after `first`. */
static int split(const char *s, size_t n, char **out, int first, int max)
{
    int k = first;
    const char *end = s + n;
    while (s < end && k < max) {
        const char *z = memchr(s, '\0', (size_t)(end - s));
        const char *stop = z ? z : end;
        out[k++] = expand(s, (size_t)(stop - s));
        s = stop + 1;
    }
    return k;
}

static void check_ok(const mxe_config *c)
{
    FZ_ASSERT(c->api_url && c->api_url[0], "no API URL");
    size_t ul = strlen(c->api_url);
    FZ_ASSERT(c->api_url[ul - 1] != '/', "API URL keeps a trailing slash");
    FZ_ASSERT(c->poll_interval_s >= 0.1 && c->poll_interval_s <= 3600, "interval %g",
              c->poll_interval_s);
    FZ_ASSERT(c->timeout_s > 0 && c->timeout_s < c->poll_interval_s, "timeout %g, interval %g",
              c->timeout_s, c->poll_interval_s);
    FZ_ASSERT(c->max_response_bytes >= 64 * 1024, "response cap %zu", c->max_response_bytes);
    FZ_ASSERT(c->redis_key && c->redis_key[0], "empty Redis key");
    if (c->redis.enabled) {
        FZ_ASSERT((c->redis.host != NULL) != (c->redis.unix_path != NULL),
                  "Redis target is both or neither TCP and unix");
        if (c->redis.host)
            FZ_ASSERT(c->redis.port > 0 && c->redis.port <= 65535, "Redis port %d", c->redis.port);
        FZ_ASSERT(c->redis.db >= 0, "Redis db %d", c->redis.db);
    }
    FZ_ASSERT(c->listen_port >= 0 && c->listen_port <= 65535, "listen port %d", c->listen_port);
    FZ_ASSERT(c->web_max_connections >= 1 && c->web_max_connections <= 65536, "max connections");
    FZ_ASSERT(!c->password || c->username, "password without a user");
    FZ_ASSERT(!(c->bearer_token && c->username), "token and basic auth together");
    FZ_ASSERT(c->log_level <= MXE_LOG_ERROR && c->log_format <= MXE_LOG_JSON, "log settings");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull)
        setup();
    const char *sec[4] = {"", "", "", ""};
    size_t len[4] = {0, 0, 0, 0};
    const char *p = (const char *)data, *end = p + size;
    for (int i = 0; i < 4 && p <= end; i++) {
        const char *sep = i < 3 ? memchr(p, SEP, (size_t)(end - p)) : NULL;
        const char *stop = sep ? sep : end;
        sec[i] = p;
        len[i] = (size_t)(stop - p);
        if (!sep)
            break;
        p = sep + 1;
    }
    static const char *const avoid[] = {"/dev", "/proc", "/sys", "/run"};
    for (int i = 0; i < 2; i++)
        for (size_t k = 0; k < sizeof avoid / sizeof avoid[0]; k++)
            if (has(sec[i], len[i], avoid[k]))
                return 0;
    write_file(env_path, "", sec[2], len[2]);
    write_file(secret_path, MARKER, sec[3], len[3]);

    char *argv[MAX_ELEMS + 1] = {0};
    char *envp[MAX_ELEMS + 1] = {0};
    argv[0] = strdup("mediamtx-exporter");
    FZ_ASSERT(argv[0], "out of memory");
    int argc = split(sec[0], len[0], argv, 1, MAX_ELEMS);
    int envc = split(sec[1], len[1], envp, 0, MAX_ELEMS);

    mxe_config cfg;
    char err[512];
    mxe_config_result r = mxe_config_load(&cfg, argc, argv, envp, devnull, err, sizeof err);
    FZ_ASSERT(r == MXE_CONFIG_OK || r == MXE_CONFIG_EXIT || r == MXE_CONFIG_BAD, "result %d",
              (int)r);
    if (r == MXE_CONFIG_OK)
        check_ok(&cfg);
    if (r == MXE_CONFIG_BAD) {
        FZ_ASSERT(err[0] != '\0', "rejected without a reason");
        FZ_ASSERT(strchr(err, '\n') == NULL, "reason spans lines: %s", err);
        bool secret_as_env_file =
            (has(sec[0], len[0], "%S") || has(sec[1], len[1], "%S")) &&
            (has(sec[0], len[0], "config.file") || has(sec[1], len[1], "CONFIG_FILE"));
        if (!secret_as_env_file && !has((const char *)data, size, MARKER))
            FZ_ASSERT(strstr(err, MARKER) == NULL, "a secret file's content in the error: %s", err);
    }
    mxe_config_free(&cfg);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    for (int i = 0; i < envc; i++)
        free(envp[i]);
    return 0;
}
