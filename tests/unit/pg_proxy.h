/* pg_proxy.h - a TCP proxy in front of the test PostgreSQL server that can
 * lose the reply to a COMMIT (test helper, header-only).
 *
 * Every connection to the proxy is relayed to the server by its own thread.
 * The server's side is read as protocol messages (a type byte and a 32-bit
 * length; the URL the proxy hands out turns SSL and GSS encryption off, so
 * there is no one-byte answer to skip). While armed, the first
 * CommandComplete "COMMIT" seen is not forwarded: both sockets are closed
 * instead, so the server has committed and the client never hears of it.
 *
 *   pg_proxy_start(server_url, client_url, n)  listen on 127.0.0.1, a free port
 *   pg_proxy_arm()                              lose the next COMMIT reply
 *   pg_proxy_cuts()                             how many were lost so far
 *   pg_proxy_stop()                             stop accepting (relays end with
 *                                               their connections)
 */
#ifndef OT_TESTS_PG_PROXY_H
#define OT_TESTS_PG_PROXY_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int pgp_listen_fd = -1;
static int pgp_server_port;
static atomic_int pgp_armed, pgp_cuts;
static pthread_t pgp_accept_thread;

/* Forward the complete messages at the front of buf[0..*len) to fd; keep a
 * partial one. 1 when an armed COMMIT reply was found (nothing after it is
 * sent), -1 on a write error, else 0. */
static int pgp_forward(int fd, char *buf, size_t *len)
{
    size_t off = 0;
    while (*len - off >= 5) {
        uint32_t n;
        memcpy(&n, buf + off + 1, 4);
        size_t total = 1 + (size_t)ntohl(n);
        if (*len - off < total)
            break;
        if (buf[off] == 'C' && total >= 5 + 7 && memcmp(buf + off + 5, "COMMIT", 7) == 0 &&
            atomic_exchange(&pgp_armed, 0)) {
            if (off && write(fd, buf, off) != (ssize_t)off)
                return -1;
            atomic_fetch_add(&pgp_cuts, 1);
            return 1;
        }
        off += total;
    }
    if (off && write(fd, buf, off) != (ssize_t)off)
        return -1;
    memmove(buf, buf + off, *len - off);
    *len -= off;
    return 0;
}

static void *pgp_relay(void *arg)
{
    int client = (int)(intptr_t)arg;
    int server = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)pgp_server_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t cap = 1 << 16, len = 0;
    char *sbuf = malloc(cap), cbuf[1 << 14];
    if (server >= 0 && sbuf && connect(server, (struct sockaddr *)&a, sizeof a) == 0) {
        struct pollfd p[2] = {{.fd = client, .events = POLLIN}, {.fd = server, .events = POLLIN}};
        for (;;) {
            if (poll(p, 2, -1) < 0)
                break;
            if (p[0].revents) {
                ssize_t r = read(client, cbuf, sizeof cbuf);
                if (r <= 0 || write(server, cbuf, (size_t)r) != r)
                    break;
            }
            if (p[1].revents) {
                if (len == cap) {
                    char *nb = realloc(sbuf, cap *= 2);
                    if (!nb)
                        break;
                    sbuf = nb;
                }
                ssize_t r = read(server, sbuf + len, cap - len);
                if (r <= 0)
                    break;
                len += (size_t)r;
                if (pgp_forward(client, sbuf, &len) != 0)
                    break;
            }
        }
    }
    free(sbuf);
    if (server >= 0)
        close(server);
    close(client);
    return NULL;
}

static void *pgp_accept(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(pgp_listen_fd, NULL, NULL);
        if (c < 0)
            return NULL; /* the listening socket was shut down */
        pthread_t t;
        if (pthread_create(&t, NULL, pgp_relay, (void *)(intptr_t)c) == 0)
            pthread_detach(t);
        else
            close(c);
    }
}

/* Proxy the server of server_url (postgresql://user@127.0.0.1:PORT/db...);
 * client_url gets the same URL through the proxy. 0 or -1. */
static int pg_proxy_start(const char *server_url, char *client_url, size_t n)
{
    const char *at = strchr(server_url, '@'), *colon = at ? strchr(at, ':') : NULL;
    if (!at || !colon || strncmp(at + 1, "127.0.0.1:", 10) != 0)
        return -1;
    char *end;
    pgp_server_port = (int)strtol(colon + 1, &end, 10);
    pgp_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (pgp_listen_fd < 0 || bind(pgp_listen_fd, (struct sockaddr *)&a, sizeof a) ||
        listen(pgp_listen_fd, 16) || getsockname(pgp_listen_fd, (struct sockaddr *)&a, &al))
        return -1;
    snprintf(client_url, n, "%.*s127.0.0.1:%d%s%ssslmode=disable&gssencmode=disable",
             (int)(at + 1 - server_url), server_url, ntohs(a.sin_port), end,
             strchr(end, '?') ? "&" : "?");
    atomic_store(&pgp_armed, 0);
    atomic_store(&pgp_cuts, 0);
    return pthread_create(&pgp_accept_thread, NULL, pgp_accept, NULL) == 0 ? 0 : -1;
}

static void pg_proxy_arm(void) { atomic_store(&pgp_armed, 1); }
static int pg_proxy_cuts(void) { return atomic_load(&pgp_cuts); }

static void pg_proxy_stop(void)
{
    if (pgp_listen_fd < 0)
        return;
    shutdown(pgp_listen_fd, SHUT_RDWR);
    pthread_join(pgp_accept_thread, NULL);
    close(pgp_listen_fd);
    pgp_listen_fd = -1;
}

#endif
