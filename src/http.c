/* HTTPS session on one reused curl easy handle: HTTPS only, TLS verified, bounded bodies. */
#include "http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

enum extid_result extid_http_open(struct extid_http *h, const struct extid_config *cfg,
                                  const struct extid_log *log)
{
    if (!h || !cfg)
        return EXTID_SYSTEM_ERR;
    memset(h, 0, sizeof(*h));
    h->cfg = cfg;
    h->log = log;

    enum extid_result rc = EXTID_SYSTEM_ERR;
    struct curl_slist *hdrs = NULL;
    char idhdr[64];
    CURL *c = NULL;
    /* libcurl's OpenSSL layer appends TLS secrets to the file SSLKEYLOGFILE names, with no
     * option to turn that off; in su or sudo that variable comes from the unprivileged caller,
     * and root would create or append to any file it names. Refuse rather than write. */
    if (getenv("SSLKEYLOGFILE")) {
        extid_log(log, LOG_ERR, "http: SSLKEYLOGFILE is set in the environment; refusing to "
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

    long timeout = cfg->timeout > 0 ? cfg->timeout : DEFAULT_TIMEOUT;
    bool bad = false;
    bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
    if (cfg->ca_file) {
        /* The administrator's bundle is the only trust: no system store beside it. */
        bad |= curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file) != CURLE_OK;
        bad |= curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK;
    } else {
        /* The system store through its hashed directory: OpenSSL then reads only the issuer it
         * needs, where the bundle file would be parsed whole (~240 M instructions) per login. */
        bad |= curl_easy_setopt(c, CURLOPT_CAINFO, NULL) != CURLE_OK;
        bad |= curl_easy_setopt(c, CURLOPT_CAPATH, EXTID_SYSTEM_CA_DIR) != CURLE_OK;
    }
    /* "" disables curl's https_proxy/all_proxy environment lookup: sshd's environment must
     * not be able to route the login elsewhere. */
    bad |= curl_easy_setopt(c, CURLOPT_PROXY, cfg->proxy ? cfg->proxy : "") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "pam_extid/" EXTID_VERSION) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK;
    /* Rejects an announced oversized body before reading it; on_body catches the rest. */
    bad |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                            (curl_off_t)EXTID_HTTP_MAX_BODY) != CURLE_OK;
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

/* Runs the transfer prepared by the caller and fills resp. */
static enum extid_result perform(struct extid_http *h, const char *method, const char *url,
                                 struct extid_http_response *resp)
{
    CURL *c = h->curl;
    struct sink body = { 0 };
    char errbuf[CURL_ERROR_SIZE];
    enum extid_result rc = EXTID_UNAVAILABLE;

    resp->retry_after = -1;
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp->retry_after);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    h->requests++;

    CURLcode cr = curl_easy_perform(c);
    /* The early connection can die between the poll at hand-over and the TLS hello (a server
     * closing idle connections). No request byte went out before the handshake failed, so one
     * more try on a fresh connection is safe. Only when this very request took that socket. */
    bool took_early = extid_preconnect_take_used(h->preconnect);
    if (cr == CURLE_SSL_CONNECT_ERROR && took_early) {
        extid_log(h->log, LOG_INFO, "%s %s: early connection lost (%s); connecting again",
                  method, url, errbuf[0] ? errbuf : curl_easy_strerror(cr));
        errbuf[0] = '\0';
        body.len = 0;
        resp->retry_after = -1;
        cr = curl_easy_perform(c);
    }
    long status = 0, conns = -1;
    curl_off_t usecs = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &usecs);

    if (cr != CURLE_OK) {
        if (body.too_big || cr == CURLE_FILESIZE_EXCEEDED)
            extid_log(h->log, LOG_ERR, "%s %s: response body larger than %d bytes", method, url,
                      EXTID_HTTP_MAX_BODY);
        else
            extid_log(h->log, LOG_ERR, "%s %s: %s", method, url,
                      errbuf[0] ? errbuf : curl_easy_strerror(cr));
        goto out;
    }
    if (status < 100 || status > 599) {
        extid_log(h->log, LOG_ERR, "%s %s: no valid HTTP status (%ld)", method, url, status);
        goto out;
    }
    if (!sink_reserve(&body, 1)) {
        extid_log(h->log, LOG_ERR, "%s %s: out of memory", method, url);
        rc = EXTID_SYSTEM_ERR;
        goto out;
    }
    if (body.len == 0)
        body.buf[0] = '\0';
    extid_debug(h->log, "%s %s: HTTP %ld, %zu bytes, %.3f s, %s connection (request %lu)", method,
                url, status, body.len, (double)usecs / 1e6, conns == 0 ? "reused" : "new",
                h->requests);
    resp->status = status;
    resp->body = body.buf;
    resp->len = body.len;
    body.buf = NULL;
    rc = EXTID_OK;
out:
    /* The pointers below die with this frame; never leave them in the handle. */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
    if (body.buf)
        extid_free_secret_n(body.buf, body.cap);
    if (rc != EXTID_OK)
        resp->retry_after = -1;
    return rc;
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

/* Builds name=value&name=value with every name and value percent-encoded. */
static char *encode_form(CURL *c, const struct extid_form_field *fields, size_t nfields,
                         size_t *outlen)
{
    char *out = NULL;
    size_t len = 0, cap = 1;
    char **enc = calloc(nfields * 2 + 1, sizeof(*enc));
    if (!enc)
        return NULL;
    for (size_t i = 0; i < nfields * 2; i++) {
        const char *s = i % 2 ? fields[i / 2].value : fields[i / 2].name;
        enc[i] = curl_easy_escape(c, s, 0);
        if (!enc[i])
            goto out;
        cap += strlen(enc[i]) + 1;
    }
    out = malloc(cap);
    if (!out)
        goto out;
    for (size_t i = 0; i < nfields * 2; i++) {
        size_t n = strlen(enc[i]);
        if (i > 0)
            out[len++] = i % 2 ? '=' : '&';
        memcpy(out + len, enc[i], n);
        len += n;
    }
    out[len] = '\0';
    *outlen = len;
out:
    /* Escaped values are codes and continuation tokens too. */
    for (size_t i = 0; i < nfields * 2 && enc[i]; i++) {
        explicit_bzero(enc[i], strlen(enc[i]));
        curl_free(enc[i]);
    }
    free(enc);
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
    char *form = encode_form(c, fields, nfields, &blen);
    if (!form) {
        extid_log(h->log, LOG_ERR, "POST %s: out of memory encoding the form", url);
        goto out;
    }
    if (curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form) != CURLE_OK) {
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

void extid_http_preconnect(struct extid_http *h)
{
    if (!h || !h->curl || h->preconnect || h->cfg->proxy)
        return;
    h->preconnect = extid_preconnect_start(h->curl, h->cfg->authority, h->log);
}

void extid_http_close(struct extid_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    /* After the handle: curl may still hold the socket it took until cleanup. */
    extid_preconnect_free(h->preconnect);
    curl_slist_free_all(h->headers);
    h->curl = NULL;
    h->headers = NULL;
    h->preconnect = NULL;
}
