/* The live status page served at GET /: exporter/status_page.html, compiled into the
 * binary by cmake/embed.cmake (with the version and revision filled in). Static data. */
#ifndef MXE_STATUS_PAGE_H
#define MXE_STATUS_PAGE_H

#include <stddef.h>

extern const unsigned char mxe_status_page[]; /* NUL-terminated UTF-8 */
extern const size_t mxe_status_page_len;

#endif
