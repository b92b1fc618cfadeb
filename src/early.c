/* The early-connection worker: a thread that drives the session's curl handle up to the request
 * and waits there for the body (early.h says why it is built this way). */
#include "early.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Rewritten in place once the body is known; long enough for any size_t. */
#define LENGTH_PLACEHOLDER "Content-Length: 00000000000000000000"

enum order { ORDER_WAIT, ORDER_GO, ORDER_STOP };

struct extid_early {
    CURL *curl;
    const struct curl_slist *session_headers; /* put back afterwards */
    struct curl_slist *headers; /* the session's, Content-Length, no chunking, no Expect */
    char *length_header;        /* the placeholder's node text, rewritten at the request */
    long timeout;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum order order;         /* under lock, with deadline */
    struct timespec deadline; /* for the transfer, set when the body is given */
    bool timed_out;           /* worker only, read after the join */
    const char *body;
    size_t len;
    size_t off;
    CURLcode result;
};

static double seconds_left(const struct timespec *deadline)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(deadline->tv_sec - now.tv_sec)
        + (double)(deadline->tv_nsec - now.tv_nsec) / 1e9;
}

/* curl's pre-request callback: the connection and its TLS handshake are done. Waits for the
 * body (or the order to give up) and completes the headers. */
static int at_request(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                      int local_port)
{
    struct extid_early *e = clientp;
    int verdict = CURL_PREREQFUNC_ABORT;

    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    pthread_mutex_lock(&e->lock);
    while (e->order == ORDER_WAIT)
        pthread_cond_wait(&e->cond, &e->lock);
    if (e->order == ORDER_GO) {
        /* Shorter than the placeholder, which curl copied when it was appended; curl reads the
         * header list when it writes the request, after this callback. */
        snprintf(e->length_header, sizeof LENGTH_PLACEHOLDER, "Content-Length: %zu", e->len);
        e->off = 0;
        verdict = CURL_PREREQFUNC_OK;
    }
    pthread_mutex_unlock(&e->lock);
    return verdict;
}

static size_t read_body(char *buf, size_t size, size_t nitems, void *userp)
{
    struct extid_early *e = userp;
    size_t room = size * nitems, n = e->len - e->off;

    if (n > room)
        n = room;
    memcpy(buf, e->body + e->off, n);
    e->off += n;
    return n;
}

/* Outside a transfer of this file the handle has no read callback data: nothing to send. */
static size_t no_body(char *buf, size_t size, size_t nitems, void *userp)
{
    (void)buf;
    (void)size;
    (void)nitems;
    (void)userp;
    return CURL_READFUNC_ABORT;
}

/* Called by curl at least once a second, connecting or not: ends the transfer when the person
 * abandoned the prompt, or when the time allowed since the body was given is over (curl's own
 * limit would count the typing). */
static int progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    struct extid_early *e = clientp;
    int stop = 0;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    pthread_mutex_lock(&e->lock);
    if (e->order == ORDER_STOP)
        stop = 1;
    else if (e->order == ORDER_GO && seconds_left(&e->deadline) < 0) {
        e->timed_out = true;
        stop = 1;
    }
    pthread_mutex_unlock(&e->lock);
    return stop;
}

static void *run(void *arg)
{
    struct extid_early *e = arg;

    e->result = curl_easy_perform(e->curl);
    return NULL;
}

static void restore(struct extid_early *e)
{
    CURL *c = e->curl;

    curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, NULL);
    curl_easy_setopt(c, CURLOPT_PREREQDATA, NULL);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, NULL);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, NULL);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, no_body);
    curl_easy_setopt(c, CURLOPT_READDATA, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->session_headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, e->timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, e->timeout);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
}

static void early_free(struct extid_early *e)
{
    curl_slist_free_all(e->headers);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

static struct curl_slist *request_headers(const struct curl_slist *session, char **length_header)
{
    struct curl_slist *list = NULL, *next;
    const char *extra[] = {
        "Transfer-Encoding:", /* an empty value removes curl's own: never chunked */
        "Expect:",            /* no 100-continue round trip */
        LENGTH_PLACEHOLDER,
    };

    for (const struct curl_slist *s = session; s; s = s->next) {
        next = curl_slist_append(list, s->data);
        if (!next)
            goto fail;
        list = next;
    }
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        next = curl_slist_append(list, extra[i]);
        if (!next)
            goto fail;
        list = next;
    }
    for (next = list; next->next; next = next->next)
        ;
    *length_header = next->data;
    return list;
fail:
    curl_slist_free_all(list);
    return NULL;
}

struct extid_early *extid_early_start(void *curl, const void *headers, long timeout)
{
    struct extid_early *e = calloc(1, sizeof *e);
    sigset_t all, old;
    bool bad = false;
    int err;

    if (!e)
        return NULL;
    e->curl = curl;
    e->session_headers = headers;
    e->timeout = timeout;
    e->order = ORDER_WAIT;
    if (pthread_mutex_init(&e->lock, NULL) != 0) {
        free(e);
        return NULL;
    }
    if (pthread_cond_init(&e->cond, NULL) != 0) {
        pthread_mutex_destroy(&e->lock);
        free(e);
        return NULL;
    }
    e->headers = request_headers(headers, &e->length_header);
    if (!e->headers) {
        early_free(e);
        return NULL;
    }
    bad |= curl_easy_setopt(curl, CURLOPT_POST, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_body) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_READDATA, e) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, at_request) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_PREREQDATA, e) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_XFERINFODATA, e) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, e->headers) != CURLE_OK;
    /* No limit of curl's while the person types: progress() applies the time allowed from
     * the moment the body is given, to whatever of the connection is still to be made. */
    bad |= curl_easy_setopt(curl, CURLOPT_TIMEOUT, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 0L) != CURLE_OK;
    if (bad) {
        restore(e);
        early_free(e);
        return NULL;
    }
    /* Signals stay with the host's threads: the worker blocks them all. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&e->thread, NULL, run, e);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        restore(e);
        early_free(e);
        return NULL;
    }
    return e;
}

static void release(struct extid_early *e, enum order order)
{
    pthread_mutex_lock(&e->lock);
    e->order = order;
    if (order == ORDER_GO) {
        clock_gettime(CLOCK_MONOTONIC, &e->deadline);
        e->deadline.tv_sec += e->timeout;
    }
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
}

int extid_early_finish(struct extid_early *e, const char *body, size_t len, bool *expired)
{
    CURLcode result;

    *expired = false;
    if (!e)
        return CURLE_FAILED_INIT;
    e->body = body;
    e->len = len;
    release(e, ORDER_GO);
    result = e->result;
    if (e->timed_out) {
        result = CURLE_OPERATION_TIMEDOUT;
        *expired = true;
    }
    restore(e);
    early_free(e);
    return (int)result;
}

void extid_early_cancel(struct extid_early *e)
{
    if (!e)
        return;
    release(e, ORDER_STOP);
    restore(e);
    early_free(e);
}
