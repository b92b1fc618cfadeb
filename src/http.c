/* HTTPS session on one reused curl easy handle: HTTPS only, TLS verified, bounded bodies. */
#include "http.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "early.h"
#include "safefile.h"
#include "util.h"

#ifndef EXTID_VERSION
#define EXTID_VERSION "0"
#endif

#define DEFAULT_TIMEOUT 10L
#ifndef EXTID_SYSTEM_CA_DIR
#define EXTID_SYSTEM_CA_DIR "/etc/ssl/certs" /* Debian's hashed store (update-ca-certificates) */
#endif
/* A Retry-After beyond a day is nonsense; clamp so callers never do arithmetic on huge values. */
#define MAX_RETRY_AFTER 86400L

/* Where the write callback collects one response body. */
struct sink {
    char *buf;
    size_t len;
    size_t cap;
    bool too_big;
};

/* Grows without realloc so that an old copy of the body (it may hold tokens) is wiped, not
 * left behind in freed memory. */
static bool sink_reserve(struct sink *s, size_t need)
{
    if (need <= s->cap)
        return true;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *nb = malloc(cap);
    if (!nb)
        return false;
    if (s->buf) {
        memcpy(nb, s->buf, s->len);
        extid_free_secret_n(s->buf, s->cap);
    }
    s->buf = nb;
    s->cap = cap;
    return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct sink *s = userp;
    size_t n = size * nmemb;
    /* Enforced while reading: a hostile or broken server cannot make us buffer more. */
    if (n > EXTID_HTTP_MAX_BODY - s->len) {
        s->too_big = true;
        return 0;
    }
    if (!sink_reserve(s, s->len + n + 1))
        return 0;
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

/* Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
static long parse_retry_after(const char *v, size_t n)
{
    char tmp[64];
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    if (strspn(tmp, "0123456789") == n) {
        long secs = n > 6 ? MAX_RETRY_AFTER : strtol(tmp, NULL, 10);
        return secs > MAX_RETRY_AFTER ? MAX_RETRY_AFTER : secs;
    }
    time_t when = curl_getdate(tmp, NULL);
    if (when == (time_t)-1)
        return -1;
    time_t now = time(NULL);
    if (when <= now)
        return 0;
    return when - now > MAX_RETRY_AFTER ? MAX_RETRY_AFTER : (long)(when - now);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    long *retry_after = userp;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    /* A new status line starts a new response (e.g. after "100 Continue"): only the final
     * response's header counts. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        *retry_after = -1;
    else if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0)
        *retry_after = parse_retry_after(data + sizeof(name) - 1, n - (sizeof(name) - 1));
    return n;
}

/* OpenSSL keeps the last decrypted record (a response with tokens in it) in its buffers unless
 * told to wipe it; curl calls this for every new connection. */
static CURLcode on_ssl_ctx(CURL *c, void *ssl_ctx, void *userp)
{
    (void)c;
    (void)userp;
    SSL_CTX_set_options(ssl_ctx, SSL_OP_CLEANSE_PLAINTEXT);
    return CURLE_OK;
}

enum extid_result extid_http_open(struct extid_http *h, const struct extid_http_settings *cfg,
                                  const struct extid_log *log)
{
    if (!h || !cfg)
        return EXTID_SYSTEM_ERR;
    memset(h, 0, sizeof(*h));
    h->timeout = cfg->timeout > 0 ? cfg->timeout : DEFAULT_TIMEOUT;
    h->log = log;

    enum extid_result rc = EXTID_SYSTEM_ERR;
    struct curl_slist *hdrs = NULL;
    char idhdr[64];
    CURL *c = NULL;
    /* libcurl's OpenSSL layer appends TLS secrets to the file SSLKEYLOGFILE names, with no
     * option to turn that off; in su or sudo that variable comes from the unprivileged caller,
     * and root would create or append to any file it names. Refuse rather than write. */
    if (getenv("SSLKEYLOGFILE")) {
        extid_log(log, LOG_ERR,
                  "http: SSLKEYLOGFILE is set in the environment; refusing to "
                  "open TLS connections that would write their secrets to it");
        goto out;
    }
    /* No curl_global_init: curl_easy_init does it lazily, and libcurl >= 7.84 makes that
     * thread-safe, so a PAM module need not own process-wide library state. */
    c = curl_easy_init();
    if (!c) {
        extid_log(log, LOG_ERR, "http: curl_easy_init failed");
        goto out;
    }
    if (!extid_uuid4(h->request_id)) {
        extid_log(log, LOG_ERR, "http: no randomness for client-request-id");
        goto out;
    }
    snprintf(idhdr, sizeof(idhdr), "client-request-id: %s", h->request_id);
    const char *const lines[] = { idhdr, "return-client-request-id: true",
                                  "Accept: application/json" };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct curl_slist *next = curl_slist_append(hdrs, lines[i]);
        if (!next) {
            extid_log(log, LOG_ERR, "http: out of memory");
            goto out;
        }
        hdrs = next;
    }

    long timeout = h->timeout;
    bool bad = false;
    bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
    if (cfg->ca_file) {
        /* The administrator's bundle is the only trust: no system store beside it, and as
         * safe from other users as the configuration (whoever can write it owns the logins). */
        char *ca_file = NULL;
        rc = extid_safefile_trusted(cfg->ca_file, &ca_file, log);
        if (rc != EXTID_OK) {
            extid_log(log, LOG_ERR, "ca_file %s refused", cfg->ca_file);
            goto out;
        }
        rc = EXTID_SYSTEM_ERR;
        bad |= curl_easy_setopt(c, CURLOPT_CAINFO, ca_file) != CURLE_OK; /* curl copies it */
        free(ca_file);
        bad |= curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK;
    } else {
        /* The system store through its hashed directory: OpenSSL then reads only the issuer it
         * needs, where the bundle file would be parsed whole (~240 M instructions) per login. */
        bad |= curl_easy_setopt(c, CURLOPT_CAINFO, NULL) != CURLE_OK;
        bad |= curl_easy_setopt(c, CURLOPT_CAPATH, EXTID_SYSTEM_CA_DIR) != CURLE_OK;
    }
    bad |= curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) != CURLE_OK;
    /* "" disables curl's https_proxy/all_proxy and no_proxy environment lookups: sshd's or
     * sudo's caller's environment must not be able to route the login elsewhere. */
    bad |= curl_easy_setopt(c, CURLOPT_PROXY, cfg->proxy ? cfg->proxy : "") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_NOPROXY, "") != CURLE_OK;
    /* Three requests in a row gain nothing from HTTP/2; HTTP/1.1 is what the early request's
     * Content-Length and its fallback are built and tested for. */
    bad |= curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "pam_extid/" EXTID_VERSION) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK;
    /* Rejects an announced oversized body before reading it; on_body catches the rest. */
    bad |=
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)EXTID_HTTP_MAX_BODY) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
    if (bad) {
        extid_log(log, LOG_ERR, "http: libcurl rejected a required option (libcurl too old?)");
        goto out;
    }
    h->curl = c;
    h->headers = hdrs;
    c = NULL;
    hdrs = NULL;
    extid_debug(log, "http: session open, client-request-id %s", h->request_id);
    rc = EXTID_OK;
out:
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    return rc;
}

/* What one request's callbacks write into. */
struct transfer {
    struct sink body;
    long retry_after;
    char errbuf[CURL_ERROR_SIZE];
};

static void transfer_bind(CURL *c, const char *url, struct transfer *t)
{
    t->body.len = 0;
    t->body.too_big = false;
    t->retry_after = -1;
    t->errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t->body);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t->retry_after);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
}

/* The pointers set by transfer_bind die with the transfer; never leave them in the handle. */
static void transfer_unbind(CURL *c, struct transfer *t)
{
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
    if (t->body.buf)
        extid_free_secret_n(t->body.buf, t->body.cap);
    t->body.buf = NULL;
    t->body.cap = t->body.len = 0;
}

static const char *curl_reason(CURLcode cr, const struct transfer *t)
{
    return t->errbuf[0] ? t->errbuf : curl_easy_strerror(cr);
}

/* Judges curl's outcome of a transfer and fills resp (taking the body). */
static enum extid_result conclude(struct extid_http *h, const char *method, const char *url,
                                  CURLcode cr, struct transfer *t, struct extid_http_response *resp)
{
    CURL *c = h->curl;
    long status = 0, conns = -1;
    curl_off_t usecs = 0;

    resp->retry_after = -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &usecs);
    if (cr != CURLE_OK) {
        if (t->body.too_big || cr == CURLE_FILESIZE_EXCEEDED)
            extid_log(h->log, LOG_ERR, "%s %s: response body larger than %d bytes", method, url,
                      EXTID_HTTP_MAX_BODY);
        else
            extid_log(h->log, LOG_ERR, "%s %s: %s", method, url, curl_reason(cr, t));
        return EXTID_UNAVAILABLE;
    }
    if (status < 100 || status > 599) {
        extid_log(h->log, LOG_ERR, "%s %s: no valid HTTP status (%ld)", method, url, status);
        return EXTID_UNAVAILABLE;
    }
    if (!sink_reserve(&t->body, 1)) {
        extid_log(h->log, LOG_ERR, "%s %s: out of memory", method, url);
        return EXTID_SYSTEM_ERR;
    }
    if (t->body.len == 0)
        t->body.buf[0] = '\0';
    extid_debug(h->log, "%s %s: HTTP %ld, %zu bytes, %.3f s, %s connection (request %lu)", method,
                url, status, t->body.len, (double)usecs / 1e6, conns == 0 ? "reused" : "new",
                h->requests);
    resp->status = status;
    resp->body = t->body.buf;
    resp->len = t->body.len;
    resp->retry_after = t->retry_after;
    t->body.buf = NULL;
    t->body.cap = t->body.len = 0;
    return EXTID_OK;
}

/* Runs the transfer prepared by the caller and fills resp. */
static enum extid_result perform(struct extid_http *h, const char *method, const char *url,
                                 struct extid_http_response *resp)
{
    struct transfer t = { 0 };
    enum extid_result rc;

    transfer_bind(h->curl, url, &t);
    h->requests++;
    rc = conclude(h, method, url, curl_easy_perform(h->curl), &t, resp);
    transfer_unbind(h->curl, &t);
    return rc;
}

/* A POST made ready by extid_http_prepare_post: the worker that holds the connection, the URL
 * it is for, and where its response goes. */
struct extid_http_pending {
    struct extid_early *early;
    char *url;
    struct transfer transfer;
};

static void pending_free(struct extid_http *h)
{
    free(h->pending->url);
    free(h->pending);
    h->pending = NULL;
}

/* Forgets a prepared POST that will not be sent. */
static void early_drop(struct extid_http *h)
{
    if (!h->pending)
        return;
    extid_early_cancel(h->pending->early);
    transfer_unbind(h->curl, &h->pending->transfer);
    pending_free(h);
}

/* Sends the body of the prepared POST. false: it never got an answer on the early connection
 * (which failed or was closed meanwhile), and should go out again on a fresh one. */
static bool early_send(struct extid_http *h, const char *url, const char *form, size_t len,
                       struct extid_http_response *resp, enum extid_result *rc)
{
    struct transfer *t = &h->pending->transfer;
    bool expired = false, again;
    long status = 0;
    CURLcode cr;

    h->requests++;
    cr = (CURLcode)extid_early_finish(h->pending->early, form, len, &expired);
    h->pending->early = NULL;
    if (expired)
        t->errbuf[0] = '\0'; /* early.c's own limit: curl's text would say "aborted" */
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    /* Whatever went wrong before a response began (the connection failed while the person
     * typed, or the server had closed it by the time the request was written), nothing came
     * back, so sending it again is safe; not when the time allowed is over. */
    again = cr != CURLE_OK && !expired && status == 0;
    if (again)
        extid_log(h->log, LOG_INFO,
                  "POST %s: the connection opened during the prompt failed "
                  "or is gone (%s); connecting again",
                  url, curl_reason(cr, t));
    else {
        if (cr == CURLE_OK)
            extid_debug(h->log,
                        "http: the request went out on the connection opened during "
                        "the prompt");
        *rc = conclude(h, "POST", url, cr, t, resp);
    }
    transfer_unbind(h->curl, t);
    pending_free(h);
    return !again;
}

/* Only https:// is ever sent; curl's protocol whitelist enforces it again. */
static bool url_ok(struct extid_http *h, const char *method, const char *url)
{
    if (strncmp(url, "https://", 8) != 0) {
        extid_log(h->log, LOG_ERR, "%s %s: refused, only https:// URLs are allowed", method, url);
        return false;
    }
    return true;
}

static void response_init(struct extid_http_response *resp)
{
    resp->status = 0;
    resp->body = NULL;
    resp->len = 0;
    resp->retry_after = -1;
}

/* application/x-www-form-urlencoded with RFC 3986's unreserved characters kept. Done here rather
 * than by curl_easy_escape, which grows its result by realloc and so leaves prefixes of the
 * values (codes, continuation tokens) in freed memory; this writes one buffer, sized first. */
static bool form_keeps(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
        || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static size_t form_put(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (form_keeps(*p)) {
            if (out)
                out[n] = (char)*p;
            n++;
            continue;
        }
        if (out) {
            out[n] = '%';
            out[n + 1] = hex[*p >> 4];
            out[n + 2] = hex[*p & 15];
        }
        n += 3;
    }
    return n;
}

/* Builds name=value&name=value; NULL when out of memory. */
static char *encode_form(const struct extid_form_field *fields, size_t nfields, size_t *outlen)
{
    size_t len = 0;
    char *out;

    for (size_t i = 0; i < nfields; i++) {
        size_t n = form_put(NULL, fields[i].name) + form_put(NULL, fields[i].value) + 2;
        if (n > SIZE_MAX - 1 - len)
            return NULL;
        len += n;
    }
    out = malloc(len + 1);
    if (!out)
        return NULL;
    len = 0;
    for (size_t i = 0; i < nfields; i++) {
        if (i > 0)
            out[len++] = '&';
        len += form_put(out + len, fields[i].name);
        out[len++] = '=';
        len += form_put(out + len, fields[i].value);
    }
    out[len] = '\0';
    *outlen = len;
    return out;
}

enum extid_result extid_http_post_form(struct extid_http *h, const char *url,
                                       const struct extid_form_field *fields, size_t nfields,
                                       struct extid_http_response *resp)
{
    if (!resp)
        return EXTID_SYSTEM_ERR;
    response_init(resp);
    if (!h || !h->curl || !url || (nfields && !fields))
        return EXTID_SYSTEM_ERR;
    for (size_t i = 0; i < nfields; i++)
        if (!fields[i].name || !fields[i].value) {
            extid_log(h->log, LOG_ERR, "POST %s: form field %zu has no %s", url, i,
                      fields[i].name ? "value" : "name");
            return EXTID_SYSTEM_ERR;
        }
    if (!url_ok(h, "POST", url))
        return EXTID_UNAVAILABLE;

    enum extid_result rc = EXTID_SYSTEM_ERR;
    CURL *c = h->curl;
    size_t blen = 0;
    char *form = encode_form(fields, nfields, &blen);
    if (!form) {
        extid_log(h->log, LOG_ERR, "POST %s: out of memory encoding the form", url);
        goto out;
    }
    if (h->pending && strcmp(h->pending->url, url) == 0
        && early_send(h, url, form, blen, resp, &rc))
        goto out;
    early_drop(h);
    if (curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen) != CURLE_OK
        || curl_easy_setopt(c, CURLOPT_POSTFIELDS, form) != CURLE_OK) {
        extid_log(h->log, LOG_ERR, "POST %s: cannot set the request body", url);
        goto out;
    }
    rc = perform(h, "POST", url, resp);
out:
    /* Drop curl's pointer to the body before wiping it; HTTPGET undoes the implied POST. */
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    if (form)
        extid_free_secret_n(form, blen + 1);
    return rc;
}

enum extid_result extid_http_get(struct extid_http *h, const char *url,
                                 struct extid_http_response *resp)
{
    if (!resp)
        return EXTID_SYSTEM_ERR;
    response_init(resp);
    if (!h || !h->curl || !url)
        return EXTID_SYSTEM_ERR;
    if (!url_ok(h, "GET", url))
        return EXTID_UNAVAILABLE;
    early_drop(h);
    if (curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L) != CURLE_OK) {
        extid_log(h->log, LOG_ERR, "GET %s: cannot select GET", url);
        return EXTID_SYSTEM_ERR;
    }
    return perform(h, "GET", url, resp);
}

void extid_http_response_free(struct extid_http_response *resp)
{
    if (!resp)
        return;
    /* Bytes past len + 1 were never written (see sink_reserve), so this wipes every copy. */
    if (resp->body)
        extid_free_secret_n(resp->body, resp->len + 1);
    response_init(resp);
}

void extid_http_prepare_post(struct extid_http *h, const char *url)
{
    struct extid_http_pending *p;

    if (!h || !h->curl || !url || h->pending || strncmp(url, "https://", 8) != 0)
        return;
    p = calloc(1, sizeof *p);
    if (!p)
        return;
    h->pending = p;
    p->url = strdup(url);
    if (!p->url)
        goto fail;
    transfer_bind(h->curl, url, &p->transfer);
    p->early = extid_early_start(h->curl, h->headers, h->timeout);
    if (!p->early) {
        transfer_unbind(h->curl, &p->transfer);
        goto fail;
    }
    extid_debug(h->log, "http: connecting for POST %s while the person types", url);
    return;
fail:
    pending_free(h); /* best effort: the POST goes out as usual */
}

void extid_http_close(struct extid_http *h)
{
    if (!h)
        return;
    if (h->curl)
        early_drop(h);
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    h->curl = NULL;
    h->headers = NULL;
}
