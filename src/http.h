/* One HTTPS session per login: a single reused curl easy handle, so every call of the login
 * shares one connection. */
#ifndef EXTID_HTTP_H
#define EXTID_HTTP_H

#include <stddef.h>
#include "log.h"
#include "result.h"

#define EXTID_HTTP_MAX_BODY (1024 * 1024)

struct extid_http_pending;

/* How to reach and trust the server: all the session knows of the configuration. */
struct extid_http_settings {
    const char *ca_file; /* NULL: the system store */
    const char *proxy;   /* NULL: none */
    long timeout;        /* seconds per request; 0: the default */
};

struct extid_http {
    void *curl;   /* CURL *, opaque to keep curl.h out of other headers */
    long timeout; /* seconds per request */
    const struct extid_log *log;
    char request_id[37];    /* client-request-id sent with every request of this login */
    void *headers;          /* struct curl_slist * */
    unsigned long requests; /* requests sent (for debug logs) */
    struct extid_http_pending *pending; /* a POST made ready by extid_http_prepare_post (its
                                         * worker, URL and response: http.c's own), or NULL */
};

struct extid_form_field {
    const char *name;
    const char *value; /* URL-encoded by extid_http_post_form */
};

struct extid_http_response {
    long status; /* HTTP status code */
    char *body;  /* NUL-terminated; may hold secrets: freed with wiping */
    size_t len;
    long retry_after; /* seconds from Retry-After (number or HTTP date), -1 if absent */
};

/* Creates the handle: HTTPS only (also for redirects, which are not followed), TLS peer and host
 * verification on, ca_file/proxy/timeout from s, no signals, User-Agent "pam_extid/VERSION",
 * a fresh client-request-id UUID. */
enum extid_result extid_http_open(struct extid_http *h, const struct extid_http_settings *s,
                                  const struct extid_log *log);

/* POST application/x-www-form-urlencoded. Transport failure (DNS, connect, TLS, timeout, body over
 * EXTID_HTTP_MAX_BODY) → EXTID_UNAVAILABLE, logged with the URL and curl's reason. Any HTTP
 * status → EXTID_OK with resp filled; the caller judges the status. The encoded body is wiped. */
enum extid_result extid_http_post_form(struct extid_http *h, const char *url,
                                       const struct extid_form_field *fields, size_t nfields,
                                       struct extid_http_response *resp);

/* GET, same rules. */
enum extid_result extid_http_get(struct extid_http *h, const char *url,
                                 struct extid_http_response *resp);

/* Makes a POST to url ready now: connection and TLS handshake are done in the background (see
 * early.h) while the caller is busy, e.g. asking for the address the body carries. The next
 * extid_http_post_form to the same url sends its body on that connection; any other call first
 * drops it. Only for a request that is safe to send twice: if the early connection turns out
 * to be gone, the request is sent again on a fresh one. Best effort: on failure to start, the
 * POST later goes out as usual. */
void extid_http_prepare_post(struct extid_http *h, const char *url);

void extid_http_response_free(struct extid_http_response *resp);
void extid_http_close(struct extid_http *h);

#endif
