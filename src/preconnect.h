/* Opening the TCP connection to the tenant while the person is still typing their address.
 * libcurl 7.88 cannot keep a handshake made ahead of a request (CONNECT_ONLY connections are
 * never reused), so the TCP part is done here and handed to curl for its first connection. */
#ifndef EXTID_PRECONNECT_H
#define EXTID_PRECONNECT_H

#include <stdbool.h>

#include "log.h"

struct extid_preconnect;

/* Resolves the host of url, starts a non-blocking connect() and sets callbacks on the curl easy
 * handle (CURL *) so that curl's first connection to that address takes the socket over; the
 * address is pinned with CURLOPT_RESOLVE so curl picks the same one. Best effort: on any failure
 * nothing is installed, NULL is returned and curl connects as usual. */
struct extid_preconnect *extid_preconnect_start(void *curl, const char *url,
                                                const struct extid_log *log);

/* Whether curl took the early socket since the last call (then false until it happens again,
 * which it cannot: the socket is handed over once). */
bool extid_preconnect_take_used(struct extid_preconnect *p);

/* Closes the socket if curl never took it. Call after curl_easy_cleanup. NULL-safe. */
void extid_preconnect_free(struct extid_preconnect *p);

#endif
