/* libcurl client; see fetch.h. */
#include "fetch.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h" /* mxe_now_mono_ms */

struct mxe_fetch {
    CURL *curl;
    char *base_url;
    volatile sig_atomic_t *stop;
    mxe_buf *body;    /* target of the transfer under way */
    size_t max_bytes; /* its cap */
    int over_cap;     /* the write callback refused data */
    mxe_fetch_error last_error;
    bool credentials; /* basic auth or a bearer token is sent */
    uint64_t requests;
    uint64_t connections;
    char errbuf[CURL_ERROR_SIZE];
};

/* libcurl's own global state, initialised once per process before any thread starts. */
static void global_init(void)
{
    static int done;
    if (!done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        done = 1;
    }
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    mxe_fetch *f = userdata;
    size_t n = size * nmemb;
    /* CURLOPT_MAXFILESIZE cannot stop a chunked body: enforce the cap here. */
    if (n > f->max_bytes - f->body->len) {
        f->over_cap = 1;
        return 0;
    }
    if (mxe_buf_append(f->body, ptr, n) != 0)
        return 0;
    return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    mxe_fetch *f = userdata;
    return f->stop && *f->stop; /* non-zero aborts the transfer on shutdown */
}

mxe_fetch *mxe_fetch_new(const mxe_config *cfg, volatile sig_atomic_t *stop)
{
    global_init();
    mxe_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->stop = stop;
    f->base_url = strdup(cfg->api_url);
    f->curl = curl_easy_init();
    if (!f->base_url || !f->curl) {
        mxe_fetch_free(f);
        return NULL;
    }
    CURL *c = f->curl;
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, f);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* timeouts without SIGALRM: we are threaded */
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip/deflate if the server offers */
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mediamtx-exporter/" MXE_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    f->credentials = cfg->bearer_token || cfg->username;
    if (cfg->bearer_token) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, cfg->bearer_token);
    } else if (cfg->username) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, cfg->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->password ? cfg->password : "");
    }
    if (cfg->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->insecure_skip_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return f;
}

void mxe_fetch_free(mxe_fetch *f)
{
    if (!f)
        return;
    if (f->curl)
        curl_easy_cleanup(f->curl);
    free(f->base_url);
    free(f);
}

long mxe_fetch_get(mxe_fetch *f, const char *path_query, int64_t deadline_mono_ms, size_t max_bytes,
                   mxe_buf *body, char *err, size_t errlen)
{
    int64_t left = deadline_mono_ms - mxe_now_mono_ms();
    f->last_error = MXE_FETCH_OK;
    if (left <= 0) {
        snprintf(err, errlen, "GET %s: timed out (poll timeout reached before the request)",
                 path_query);
        f->last_error = MXE_FETCH_TIMEOUT;
        return -1;
    }
    mxe_buf url = MXE_BUF_INIT;
    mxe_buf_printf(&url, "%s%s", f->base_url, path_query);
    if (!mxe_buf_ok(&url)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mxe_buf_reset(body);
    f->body = body;
    f->max_bytes = max_bytes;
    f->over_cap = 0;
    f->errbuf[0] = '\0';
    curl_easy_setopt(f->curl, CURLOPT_URL, url.data);
    curl_easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, (long)left);
    curl_easy_setopt(f->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
    CURLcode rc = curl_easy_perform(f->curl);
    mxe_buf_free(&url);
    f->body = NULL;
    f->requests++;
    long conns = 0;
    if (curl_easy_getinfo(f->curl, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK && conns > 0)
        f->connections += (uint64_t)conns;
    if (rc != CURLE_OK) {
        if (f->over_cap) {
            f->last_error = MXE_FETCH_OVER_CAP;
            snprintf(err, errlen,
                     "GET %s: response larger than the %zu byte cap (--mediamtx.max-response-size)",
                     path_query, max_bytes);
        } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
            f->last_error = MXE_FETCH_ABORTED;
            snprintf(err, errlen, "GET %s: aborted by shutdown", path_query);
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            f->last_error = MXE_FETCH_TIMEOUT;
            snprintf(err, errlen, "GET %s: timed out (poll timeout)", path_query);
        } else if (rc == CURLE_PEER_FAILED_VERIFICATION) {
            f->last_error = MXE_FETCH_TRANSPORT;
            snprintf(
                err, errlen,
                "GET %s: %s; give the CA that signed MediaMTX's certificate with "
                "--mediamtx.ca-file (or, on a trusted network, --mediamtx.insecure-skip-verify)",
                path_query, f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc));
        } else {
            f->last_error = MXE_FETCH_TRANSPORT;
            snprintf(err, errlen, "GET %s: %s", path_query,
                     f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc));
        }
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

mxe_fetch_error mxe_fetch_last_error(const mxe_fetch *f)
{
    return f->last_error;
}

bool mxe_fetch_sends_credentials(const mxe_fetch *f)
{
    return f->credentials;
}

uint64_t mxe_fetch_requests(const mxe_fetch *f)
{
    return f->requests;
}

uint64_t mxe_fetch_connections(const mxe_fetch *f)
{
    return f->connections;
}
