/* libFuzzer target: Accept header values → mxe_expo_negotiate().
 *
 * The value is the input up to its first NUL, copied to its own allocation so that ASan
 * catches any read past the terminator. Properties:
 *  - the result is one of the two formats, and the same on a second call;
 *  - without "application" and without "*" nowhere could OpenMetrics be chosen;
 *  - with "text/plain," in front (weight 1, most specific, named first) it is always 0.0.4;
 *  - the header Prometheus 2.x sends, with the fuzz bytes appended as one more range of
 *    weight ≤ 1, never yields 0.0.4 when it cannot outweigh OpenMetrics's q=1 named first.
 * Time is linear in the length: libFuzzer's -timeout catches a quadratic or endless loop. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expo.h"
#include "fuzz_util.h"

static const char prometheus_accept[] =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

static bool contains_ci(const char *s, const char *lit)
{
    size_t n = strlen(lit);
    for (; *s; s++)
        if (strncasecmp(s, lit, n) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = strnlen((const char *)data, size);
    char *accept = malloc(n + 1);
    FZ_ASSERT(accept, "out of memory");
    memcpy(accept, data, n);
    accept[n] = '\0';

    mxe_expo_format f = mxe_expo_negotiate(accept);
    FZ_ASSERT(f == MXE_FMT_PROMETHEUS || f == MXE_FMT_OPENMETRICS, "format %d", (int)f);
    FZ_ASSERT(mxe_expo_negotiate(accept) == f, "not deterministic");
    FZ_ASSERT(strlen(mxe_expo_content_type(f)) > 0, "no content type");
    if (!contains_ci(accept, "application") && !strchr(accept, '*'))
        FZ_ASSERT(f == MXE_FMT_PROMETHEUS, "OpenMetrics without asking for it: %s", accept);

    /* text/plain at q=1 named first: nothing after it can outweigh it. */
    size_t m = n + sizeof "text/plain,";
    char *more = malloc(m);
    FZ_ASSERT(more, "out of memory");
    snprintf(more, m, "text/plain,%s", accept);
    FZ_ASSERT(mxe_expo_negotiate(more) == MXE_FMT_PROMETHEUS,
              "text/plain named first lost to OpenMetrics: %s", more);

    /* Prometheus's own header, then the fuzz bytes as a range that cannot name text/plain
     * more specifically than Prometheus did: OpenMetrics q=1 named first must win. */
    if (!contains_ci(accept, "text/plain") && !contains_ci(accept, "text/*") &&
        !strchr(accept, ',')) {
        size_t k = sizeof prometheus_accept + 1 + n;
        char *prom = malloc(k);
        FZ_ASSERT(prom, "out of memory");
        snprintf(prom, k, "%s,%s", prometheus_accept, accept);
        FZ_ASSERT(mxe_expo_negotiate(prom) == MXE_FMT_OPENMETRICS,
                  "Prometheus's Accept plus one range lost OpenMetrics: %s", prom);
        free(prom);
    }
    free(more);
    free(accept);
    return 0;
}
