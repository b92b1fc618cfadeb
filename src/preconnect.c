#include "preconnect.h"

#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

struct extid_preconnect {
    int fd;                        /* ours until curl takes it; then -1 */
    int handed_fd;                 /* the socket curl took, for the sockopt callback */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct curl_slist *resolve;    /* must live as long as the handle */
    bool used;                     /* curl took the socket and nobody has asked since */
    const struct extid_log *log;
};

/* curl allocates room for a->addrlen bytes behind a->addr (its Curl_sockaddr_ex holds a
 * sockaddr_storage), so comparing an IPv6 address past the 16-byte member stays in bounds. */
static bool same_address(const struct extid_preconnect *p, const struct curl_sockaddr *a)
{
    return a->addrlen == p->addrlen && memcmp(&a->addr, &p->addr, p->addrlen) == 0;
}

/* Still usable: no error, and nothing to read (a server that tires of waiting for the TLS
 * hello closes the connection, which shows as readable end-of-file). */
static bool healthy(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
    int err = 0;
    socklen_t len = sizeof err;

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        return false;
    return poll(&pfd, 1, 0) == 0;
}

/* curl asks for a socket: the early one when it is for our address and still healthy,
 * otherwise a fresh one as curl would have made it. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct extid_preconnect *p = clientp;

    if (purpose == CURLSOCKTYPE_IPCXN && p->fd >= 0 && same_address(p, a)) {
        if (healthy(p->fd)) {
            p->handed_fd = p->fd;
            p->fd = -1;
            p->used = true;
            extid_debug(p->log, "http: using the connection opened during the prompt");
            return p->handed_fd;
        }
        extid_debug(p->log, "http: the connection opened during the prompt is gone; "
                            "connecting again");
        close(p->fd);
        p->fd = -1;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int socket_options(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    struct extid_preconnect *p = clientp;

    (void)purpose;
    if (fd == p->handed_fd) {
        p->handed_fd = -1;
        return CURL_SOCKOPT_ALREADY_CONNECTED;
    }
    return CURL_SOCKOPT_OK;
}

/* "host:port:address" for CURLOPT_RESOLVE. */
static bool resolve_entry(const char *host, const char *port, const struct addrinfo *ai,
                          char *out, size_t size)
{
    char addr[INET6_ADDRSTRLEN];
    const void *src = ai->ai_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr;

    if (!inet_ntop(ai->ai_family, src, addr, sizeof addr))
        return false;
    return (size_t)snprintf(out, size, ai->ai_family == AF_INET6 ? "%s:%s:[%s]" : "%s:%s:%s",
                            host, port, addr) < size;
}

struct extid_preconnect *extid_preconnect_start(void *curl, const char *url,
                                                const struct extid_log *log)
{
    struct extid_preconnect *p = NULL;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, entry[512];
    int rc;

    if (!curl || !u)
        goto fail;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto fail;
    /* curl gives IPv6 literals in brackets; the resolver and CURLOPT_RESOLVE want them bare
     * for lookup, so only plain names and IPv4 literals are handled here. */
    if (host[0] == '[')
        goto fail;
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        extid_debug(log, "http: early connect: cannot resolve %s: %s", host, gai_strerror(rc));
        goto fail;
    }
    p = calloc(1, sizeof *p);
    if (!p)
        goto fail;
    p->fd = -1; /* before any path to extid_preconnect_free: 0 is a valid descriptor */
    p->handed_fd = -1;
    p->log = log;
    if (ai->ai_addrlen > sizeof p->addr || !resolve_entry(host, port, ai, entry, sizeof entry))
        goto fail;
    p->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (p->fd < 0)
        goto fail;
    if (connect(p->fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        extid_debug(log, "http: early connect to %s failed: %s", entry, EXTID_STRERROR(errno));
        goto fail;
    }
    memcpy(&p->addr, ai->ai_addr, ai->ai_addrlen);
    p->addrlen = ai->ai_addrlen;
    p->resolve = curl_slist_append(NULL, entry);
    if (!p->resolve ||
        curl_easy_setopt(curl, CURLOPT_RESOLVE, p->resolve) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, p) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_SOCKOPTFUNCTION, socket_options) != CURLE_OK ||
        curl_easy_setopt(curl, CURLOPT_SOCKOPTDATA, p) != CURLE_OK) {
        /* Leave the handle as it was: curl connects on its own. */
        curl_easy_setopt(curl, CURLOPT_RESOLVE, NULL);
        curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, NULL);
        curl_easy_setopt(curl, CURLOPT_SOCKOPTFUNCTION, NULL);
        goto fail;
    }
    extid_debug(log, "http: connecting to %s while the person types", entry);
    goto out;
fail:
    extid_preconnect_free(p);
    p = NULL;
out:
    if (ai)
        freeaddrinfo(ai);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return p;
}

bool extid_preconnect_take_used(struct extid_preconnect *p)
{
    bool used = p && p->used;

    if (p)
        p->used = false;
    return used;
}

void extid_preconnect_free(struct extid_preconnect *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    curl_slist_free_all(p->resolve);
    free(p);
}
