/* The first request of a login, made ready while the person is still typing the address it
 * carries.
 *
 * A worker thread runs the transfer on the session's curl handle up to the point where the
 * request would be written (curl's pre-request callback), so that name lookup, TCP set-up and
 * the TLS handshake happen during the prompt, and waits there for the body. Why not simpler:
 * libcurl 7.88 never reuses a connection made without a request (CONNECT_ONLY), and Entra
 * refuses a request body of unknown length (chunked), so the request has to be under way before
 * its body is known, with its Content-Length filled in when the body comes. Nothing goes out
 * on the connection but the TLS handshake until the body is given. */
#ifndef EXTID_EARLY_H
#define EXTID_EARLY_H

#include <stdbool.h>
#include <stddef.h>

struct extid_early;

/* Starts the worker on curl (CURL *), on which the caller has set the URL and where the response
 * goes. headers (struct curl_slist *) are the session's request headers, copied; timeout is the
 * limit in seconds from the moment the body is given to the end of the transfer, whatever of the
 * connection is still to be made by then (a total transfer timeout would count the typing).
 * NULL if it could not start: the caller then sends the request as usual. The handle must not be
 * touched until extid_early_finish or extid_early_cancel has returned; the worker logs nothing. */
struct extid_early *extid_early_start(void *curl, const void *headers, long timeout);

/* Gives the body (kept by the caller until this returns), waits for the transfer to end, puts
 * the handle's options back, frees e and returns curl's result (a CURLcode). *expired is true
 * when the transfer was stopped by the timeout above (the result is then
 * CURLE_OPERATION_TIMEDOUT). */
int extid_early_finish(struct extid_early *e, const char *body, size_t len, bool *expired);

/* Stops the worker without sending anything, puts the handle's options back and frees e.
 * NULL-safe. */
void extid_early_cancel(struct extid_early *e);

#endif
