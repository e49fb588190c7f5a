/* sse_latency.c - HTTP/SSE load tool for the benchmark rows (bench/rows/04..07).
 *
 * One thread, raw non-blocking sockets and epoll, HTTP/1.1 keep-alive,
 * 127.0.0.1 only. Every mode prints one line of key=value pairs on stdout
 * (the rows read them with lib.sh's `kv`); diagnostics go to stderr.
 *
 *   sse_latency latency PORT [-s subs=100] [-r events/s=5000] [-b batch=50]
 *                       [-t seconds=10] [-w warmup_s=1] [-p posters=8]
 *       Opens `subs` GET /subscribe streams, waits for each `connected`
 *       event, then POSTs /telemetry/ingest batches of `batch` events on a
 *       fixed schedule (a timerfd tick every batch/rate seconds) over
 *       `posters` keep-alive connections. Each event carries event_id
 *       "L<run>-<seq>", which the server echoes as "id" in the SSE data, so
 *       the tool looks up the batch's send time by seq. Send time is the
 *       SCHEDULED time of the tick (a batch that waits for a free poster
 *       counts the wait: no coordinated omission). The posters and the
 *       timer have a thread of their own, so reading the subscribers'
 *       bytes never delays a tick. Events sent during the warm-up are not
 *       counted. Prints delivery latency per (event,
 *       subscriber) p50/p99/max, deliveries lost, and the POST
 *       acknowledgement latency of the same batches (ack_*: from the
 *       scheduled time, like delivery; rtt_*: from the write).
 *       An event's arrival is the kernel's receive timestamp of its bytes
 *       (SO_TIMESTAMPNS; for a read of several segments, that of the last
 *       one, so never early): when it reached the subscriber's socket, not
 *       when the one thread that reads 100 subscribers got round to it. The
 *       time of the read is printed too (recv_p50_ms, recv_p99_ms).
 *
 *   sse_latency idle PORT [-s subs=10000] [-t wait_s=25] [-P server_pid] [-f]
 *       Opens `subs` streams (with -f, stream i filtered on twin "idle<i>",
 *       which no load writes), keeps them idle for `wait_s` seconds after the
 *       last one is open, and checks every stream: `connected` received, at
 *       least one `heartbeat`, and no gap between events (or since the last
 *       event, at the end) above 15 s. Reads VmRSS of server_pid while all
 *       streams are still open.
 *
 *   sse_latency load PORT [-n events=1000000] [-b batch=1000] [-c conns=4]
 *                    [-T twin=agg] [-m metric=temp_c] [-S ts0_unix=1767225600]
 *       Ingests `events` points of one series (asset a1), ts one second
 *       apart from ts0, as batches over `conns` keep-alive connections;
 *       a non-200 batch is sent again. Prints events/s.
 *
 *   sse_latency get PORT [-n requests=50] [-W warmup=1] PATH [PATH...]
 *       Sequential GETs over one keep-alive connection, cycling through
 *       the paths; prints p50/p99/max of the round trip.
 *
 * Build: make -f Makefile -f bench/bench.mk build/bench/sse_latency
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 1024
#define HDR_MAX 8192
#define LINE_MAX_B 8192
#define HEARTBEAT_LIMIT_NS (15LL * 1000000000)

enum kind { K_SUB, K_POST, K_GET };
enum hstate { H_IDLE, H_HEAD, H_BODY_LEN, H_BODY_EOF, H_CHUNK_SIZE, H_CHUNK_DATA, H_CHUNK_CRLF,
              H_TRAILER };

typedef struct conn {
    int fd;
    enum kind kind;
    int dead;
    /* response parser */
    enum hstate hs;
    char hdr[HDR_MAX];
    size_t hlen;
    int status;
    long left; /* body bytes (H_BODY_LEN) or chunk bytes left */
    long body_bytes;
    int chunk_ext;
    /* SSE line parser */
    char line[LINE_MAX_B];
    size_t llen;
    int connected, heartbeats, lagged, events;
    int64_t last_ev_ns, max_gap_ns;
    /* request in flight (posters, getters) */
    char *out;
    size_t outlen, outoff;
    int busy;
    int64_t t_sched, t_sent;
    long batch_first; /* posters: first seq of the batch; load: batch index */
    int retries;
} conn;

static int port;
static __thread int ep; /* each thread polls its own connections */
static unsigned run_id;

/* latency mode */
static int64_t *send_ns; /* per seq: scheduled send time, 0 = not sent (set by the poster
                          * thread before the write, read by the main thread) */
static long nseq, warm_seq;
static uint32_t *lat_us, *recv_us; /* kernel arrival stamp / this tool's read */
static __thread int64_t t_read;    /* when conn_read got the bytes being parsed */
static int64_t mono_minus_real;    /* CLOCK_MONOTONIC - CLOCK_REALTIME, ns */
static size_t nlat, caplat;
static long delivered_counted, delivered_all;
static uint32_t ack_us[100000], svc_us[100000]; /* from scheduled / actual send */
static size_t nack;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts v; returns the q-quantile (nearest rank) in microseconds. */
static double quant(uint32_t *v, size_t n, double q)
{
    if (n == 0)
        return -1;
    size_t k = (size_t)(q * (double)n);
    if (k >= n)
        k = n - 1;
    return v[k];
}

static int tcp_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; connect(fd, (struct sockaddr *)&a, sizeof a) != 0; tries++) {
        if (tries > 50 || (errno != EINTR && errno != EAGAIN && errno != ECONNREFUSED))
            die("connect");
        usleep(20000);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    return fd;
}

static conn *conn_open(enum kind k)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        die("calloc");
    c->fd = tcp_connect();
    c->kind = k;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
        die("epoll_ctl");
    return c;
}

/* Blocking write of a whole request (requests are small next to socket
 * buffers; the socket stays blocking). */
static void send_all(conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write");
        p += w;
        n -= (size_t)w;
    }
    c->hs = H_HEAD;
    c->hlen = 0;
    c->body_bytes = 0;
}

/* --- SSE ----------------------------------------------------------------- */

static void sse_line(conn *c, const char *l, size_t n, int64_t t)
{
    if (n >= 7 && memcmp(l, "event: ", 7) == 0) {
        if (c->last_ev_ns && t - c->last_ev_ns > c->max_gap_ns)
            c->max_gap_ns = t - c->last_ev_ns;
        c->last_ev_ns = t;
        c->events++;
        if (n == 16 && memcmp(l + 7, "connected", 9) == 0)
            c->connected = 1;
        else if (n == 16 && memcmp(l + 7, "heartbeat", 9) == 0)
            c->heartbeats++;
        else if (n == 13 && memcmp(l + 7, "lagged", 6) == 0)
            c->lagged = 1;
        return;
    }
    if (!send_ns || n < 6 || memcmp(l, "data: ", 6) != 0)
        return;
    /* {"type":..,"twin_id":..,"id":"L<run>-<seq>",..}: "id":" never matches
     * inside "twin_id":" because of the leading quote */
    const char *p = memmem(l, n, "\"id\":\"L", 7);
    if (!p)
        return;
    char *e;
    unsigned long r = strtoul(p + 7, &e, 10);
    if (r != run_id || *e != '-')
        return;
    long seq = strtol(e + 1, NULL, 10);
    int64_t sched = seq >= 0 && seq < nseq ? __atomic_load_n(&send_ns[seq], __ATOMIC_ACQUIRE) : 0;
    if (!sched)
        return;
    delivered_all++;
    if (seq < warm_seq)
        return;
    delivered_counted++;
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 20;
        if (!(lat_us = realloc(lat_us, caplat * sizeof *lat_us)) ||
            !(recv_us = realloc(recv_us, caplat * sizeof *recv_us)))
            die("realloc");
    }
    int64_t d = (t - sched) / 1000, dr = (t_read - sched) / 1000;
    recv_us[nlat] = dr < 0 ? 0 : (uint32_t)dr;
    lat_us[nlat++] = d < 0 ? 0 : (uint32_t)d;
}

/* Whole lines go to sse_line in place; only a line split across reads is
 * copied (its first LINE_MAX_B - 1 bytes). */
static void sse_bytes(conn *c, const char *p, size_t n, int64_t t)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        if (nl && c->llen == 0) {
            sse_line(c, p, k, t);
        } else {
            size_t room = LINE_MAX_B - 1 - c->llen, m = k < room ? k : room;
            memcpy(c->line + c->llen, p, m);
            c->llen += m;
            if (nl) {
                sse_line(c, c->line, c->llen, t);
                c->llen = 0;
            }
        }
        if (!nl)
            return;
        p += k + 1;
        n -= k + 1;
    }
}

/* --- HTTP response parsing ----------------------------------------------- */

static void on_response(conn *c, int64_t t);

static void body_bytes(conn *c, const char *p, size_t n, int64_t t)
{
    c->body_bytes += (long)n;
    if (c->kind == K_SUB)
        sse_bytes(c, p, n, t);
}

static int parse_head(conn *c)
{
    c->hdr[c->hlen] = 0;
    if (sscanf(c->hdr, "HTTP/1.%*d %d", &c->status) != 1)
        return -1;
    c->left = -1;
    int chunked = 0;
    for (char *l = strstr(c->hdr, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
            c->left = strtol(l + 17, NULL, 10);
        else if (strncasecmp(l + 2, "Transfer-Encoding:", 18) == 0 && strstr(l + 2, "chunked"))
            chunked = 1;
    }
    c->hs = chunked ? H_CHUNK_SIZE : c->left >= 0 ? H_BODY_LEN : H_BODY_EOF;
    c->left = chunked ? 0 : c->left;
    return 0;
}

/* Feed received bytes through the response state machine. */
static void http_feed(conn *c, const char *p, size_t n, int64_t t)
{
    while (n > 0) {
        switch (c->hs) {
        case H_IDLE:
            fprintf(stderr, "sse_latency: %zu unexpected bytes\n", n);
            return;
        case H_HEAD:
            c->hdr[c->hlen++] = *p++;
            n--;
            if (c->hlen >= 4 && memcmp(c->hdr + c->hlen - 4, "\r\n\r\n", 4) == 0) {
                if (parse_head(c)) {
                    fprintf(stderr, "sse_latency: bad response head\n");
                    c->dead = 1;
                    return;
                }
                if (c->hs == H_BODY_LEN && c->left == 0) {
                    c->hs = H_IDLE;
                    on_response(c, t);
                }
            } else if (c->hlen >= HDR_MAX - 1) {
                fprintf(stderr, "sse_latency: response head too long\n");
                c->dead = 1;
                return;
            }
            break;
        case H_BODY_EOF:
            body_bytes(c, p, n, t);
            return;
        case H_BODY_LEN: {
            size_t k = n < (size_t)c->left ? n : (size_t)c->left;
            body_bytes(c, p, k, t);
            p += k;
            n -= k;
            if ((c->left -= (long)k) == 0) {
                c->hs = H_IDLE;
                on_response(c, t);
            }
            break;
        }
        case H_CHUNK_SIZE: {
            char ch = *p++;
            n--;
            int d = ch >= '0' && ch <= '9' ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
            if (ch == '\n') {
                c->hs = c->left ? H_CHUNK_DATA : H_TRAILER;
                c->hlen = 0;
                c->chunk_ext = 0;
            } else if (ch == ';') {
                c->chunk_ext = 1; /* a chunk extension: ignored */
            } else if (d >= 0 && !c->chunk_ext) {
                c->left = c->left * 16 + d;
            }
            break;
        }
        case H_CHUNK_DATA: {
            size_t k = n < (size_t)c->left ? n : (size_t)c->left;
            body_bytes(c, p, k, t);
            p += k;
            n -= k;
            if ((c->left -= (long)k) == 0)
                c->hs = H_CHUNK_CRLF;
            break;
        }
        case H_CHUNK_CRLF:
            if (*p++ == '\n') {
                c->hs = H_CHUNK_SIZE;
                c->left = 0;
            }
            n--;
            break;
        case H_TRAILER:
            /* lines until an empty one */
            if (*p == '\n') {
                if (c->hlen == 0) {
                    c->hs = H_IDLE;
                    on_response(c, t);
                }
                c->hlen = 0;
            } else if (*p != '\r') {
                c->hlen++;
            }
            p++;
            n--;
            break;
        }
    }
}

/* Read what is available; returns -1 when the peer closed. The bytes are
 * stamped with the kernel's receive time (see mode latency above), or with
 * the time of the read when the kernel gave none. */
static int conn_read(conn *c)
{
    static __thread char buf[1 << 16];
    for (;;) {
        union {
            char b[CMSG_SPACE(sizeof(struct timespec))];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                           .msg_controllen = sizeof ctl.b};
        ssize_t r = recvmsg(c->fd, &m, MSG_DONTWAIT);
        if (r > 0) {
            int64_t t = t_read = now_ns();
            for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
                if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec ts;
                    memcpy(&ts, CMSG_DATA(h), sizeof ts);
                    int64_t k = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + mono_minus_real;
                    if (k < t)
                        t = k;
                }
            http_feed(c, buf, (size_t)r, t);
            if (c->dead)
                return -1;
            if ((size_t)r < sizeof buf)
                return 0;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1;
    }
}

static void conn_close(conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->dead = 1;
}

/* Wait up to timeout_ms for events and handle them. */
static int pump(int timeout_ms, int tfd, uint64_t *ticks)
{
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == NULL) {
            uint64_t k;
            if (read(tfd, &k, sizeof k) == (ssize_t)sizeof k)
                *ticks += k;
            continue;
        }
        conn *c = evs[i].data.ptr;
        if (c->fd >= 0 && conn_read(c) < 0)
            conn_close(c);
    }
    return n;
}

/* "Authorization: Bearer <OPSTWIN_TOKEN>\r\n", or "" when the env is unset. */
static const char *auth_line(void)
{
    static char line[4096];
    static int done;
    if (!done) {
        const char *t = getenv("OPSTWIN_TOKEN");
        if (t && *t && strlen(t) < sizeof line - 32)
            snprintf(line, sizeof line, "Authorization: Bearer %s\r\n", t);
        done = 1;
    }
    return line;
}

static int subs_filtered; /* -f: subscriber i asks for twin_id=idle<i> only */

static conn **open_subs(int nsubs)
{
    char req[4400];
    conn **subs = calloc((size_t)nsubs, sizeof *subs);
    if (!subs)
        die("calloc");
    for (int i = 0; i < nsubs; i++) {
        char path[64] = "/subscribe";
        if (subs_filtered)
            snprintf(path, sizeof path, "/subscribe?twin_id=idle%d", i);
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                                  "Accept: text/event-stream\r\n\r\n", path, auth_line());
        subs[i] = conn_open(K_SUB);
        send_all(subs[i], req, strlen(req));
        if (i % 256 == 255)
            while (pump(0, -1, NULL) > 0)
                ;
    }
    return subs;
}

static int count_connected(conn **subs, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += subs[i]->connected && !subs[i]->dead;
    return k;
}

/* --- latency ------------------------------------------------------------- */

static conn **posters;
static int nposters, batch;
static long next_seq;
static uint64_t ticks_due, ticks_sent, late_ticks;
static int64_t t_start, tick_ns;
static long non2xx;

static void post_batch(conn *c, int64_t sched)
{
    static char *body;
    static size_t cap;
    size_t need = (size_t)batch * 160 + 256;
    if (cap < need && !(body = realloc(body, cap = need)))
        die("realloc");
    size_t len = 0;
    body[len++] = '[';
    c->batch_first = next_seq;
    for (int i = 0; i < batch; i++, next_seq++) {
        __atomic_store_n(&send_ns[next_seq], sched, __ATOMIC_RELEASE);
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"twin_id\":\"lat\",\"asset_id\":\"a%d\",\"event_id\":\"L%u-%ld\","
                                "\"metrics\":{\"temp_c\":%d.5}}",
                                i ? "," : "", i % 4, run_id, next_seq, (int)(next_seq % 50));
    }
    body[len++] = ']';
    char head[4400];
    int hl = snprintf(head, sizeof head,
                      "POST /telemetry/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      auth_line(), len);
    c->busy = 1;
    c->t_sched = sched;
    c->t_sent = now_ns();
    if (c->t_sent - sched > 1000000)
        late_ticks++;
    /* one write: head and body together */
    char *msg = malloc((size_t)hl + len);
    if (!msg)
        die("malloc");
    memcpy(msg, head, (size_t)hl);
    memcpy(msg + hl, body, len);
    send_all(c, msg, (size_t)hl + len);
    free(msg);
}

static void send_due(long max_seq)
{
    while (ticks_sent < ticks_due && next_seq + batch <= max_seq) {
        conn *idle = NULL;
        for (int i = 0; i < nposters && !idle; i++)
            if (!posters[i]->busy && !posters[i]->dead)
                idle = posters[i];
        if (!idle)
            return;
        post_batch(idle, t_start + (int64_t)(ticks_sent + 1) * tick_ns);
        ticks_sent++;
    }
}

/* --- load ---------------------------------------------------------------- */

static long load_events, load_next_batch, load_done_events, load_retries;
static const char *load_twin = "agg", *load_metric = "temp_c";
static long long load_ts0 = 1767225600; /* 2026-01-01T00:00:00Z */

static void load_send(conn *c, long bi)
{
    static char *buf;
    static size_t cap;
    size_t need = (size_t)batch * 200 + 4800;
    if (cap < need && !(buf = realloc(buf, cap = need)))
        die("realloc");
    size_t hl = 4400, len = hl; /* leave room for the head, written after */
    buf[len++] = '[';
    long first = bi * batch;
    for (long i = first; i < first + batch && i < load_events; i++) {
        time_t ts = (time_t)(load_ts0 + i);
        struct tm tm;
        gmtime_r(&ts, &tm);
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s{\"twin_id\":\"%s\",\"asset_id\":\"a1\",\"metrics\":{\"%s\":%.2f},"
                                "\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02dZ\"}",
                                i > first ? "," : "", load_twin, load_metric,
                                20.0 + (double)(i % 1000) / 100.0, tm.tm_year + 1900, tm.tm_mon + 1,
                                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    buf[len++] = ']';
    char head[4400];
    int n = snprintf(head, sizeof head,
                     "POST /telemetry/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     auth_line(), len - hl);
    memcpy(buf + hl - (size_t)n, head, (size_t)n);
    c->batch_first = bi;
    c->busy = 1;
    send_all(c, buf + hl - (size_t)n, len - hl + (size_t)n);
}

/* --- responses ----------------------------------------------------------- */

static uint32_t *get_us;
static size_t nget;

static void on_response(conn *c, int64_t t)
{
    c->busy = 0;
    if (c->status != 200)
        __atomic_fetch_add(&non2xx, 1, __ATOMIC_RELAXED);
    if (c->kind == K_POST && send_ns) {
        if (c->batch_first >= warm_seq && nack < sizeof ack_us / sizeof ack_us[0]) {
            svc_us[nack] = (uint32_t)((t - c->t_sent) / 1000);
            ack_us[nack++] = (uint32_t)((t - c->t_sched) / 1000);
        }
    } else if (c->kind == K_POST) { /* load */
        if (c->status != 200) {
            load_retries++;
            load_send(c, c->batch_first);
            return;
        }
        long first = c->batch_first * batch;
        load_done_events += (load_events - first < batch) ? load_events - first : batch;
        if (load_next_batch * batch < load_events)
            load_send(c, load_next_batch++);
    } else if (c->kind == K_GET) {
        get_us[nget++] = (uint32_t)((t - c->t_sent) / 1000);
    }
}

/* --- modes --------------------------------------------------------------- */

static long lat_max_seq, lat_sent;
static int lat_posting_done; /* atomic: the poster thread sent and drained */

/* The poster thread of mode latency: its own epoll with the posters and
 * the timer; sends on schedule, reads the acknowledgements, and drains them
 * for at most 3 s after the last send. */
static void *poster_main(void *arg)
{
    (void)arg;
    if ((ep = epoll_create1(0)) < 0)
        die("epoll_create1");
    posters = calloc((size_t)nposters, sizeof *posters);
    if (!posters)
        die("calloc");
    for (int i = 0; i < nposters; i++)
        posters[i] = conn_open(K_POST);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (tfd < 0)
        die("timerfd_create");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    t_start = now_ns();
    struct itimerspec its = {.it_interval = {.tv_nsec = tick_ns % 1000000000,
                                             .tv_sec = tick_ns / 1000000000}};
    its.it_value = its.it_interval;
    timerfd_settime(tfd, 0, &its, NULL);
    while (next_seq + batch <= lat_max_seq) {
        pump(50, tfd, &ticks_due);
        send_due(lat_max_seq);
    }
    lat_sent = next_seq;
    int64_t dl = now_ns() + 3000000000LL;
    while (now_ns() < dl && nack < (size_t)((lat_sent - warm_seq) / batch))
        pump(50, tfd, &ticks_due);
    __atomic_store_n(&lat_posting_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int mode_latency(int nsubs, int rate, int seconds, int warmup)
{
    tick_ns = (int64_t)batch * 1000000000 / rate;
    struct timespec rt, mt;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mt);
    mono_minus_real = ((int64_t)mt.tv_sec - rt.tv_sec) * 1000000000 + (mt.tv_nsec - rt.tv_nsec);
    nseq = (long)rate * (seconds + 1) + batch;
    warm_seq = (long)rate * warmup;
    if (!(send_ns = calloc((size_t)nseq, sizeof *send_ns)))
        die("calloc");
    conn **subs = open_subs(nsubs);
    int64_t dl = now_ns() + 30000000000LL;
    while (count_connected(subs, nsubs) < nsubs && now_ns() < dl)
        pump(100, -1, NULL);
    int connected = count_connected(subs, nsubs);
    if (connected < nsubs)
        fprintf(stderr, "sse_latency: only %d of %d subscribers connected\n", connected, nsubs);
    lat_max_seq = (long)rate * seconds;
    pthread_t pt;
    if (pthread_create(&pt, NULL, poster_main, NULL))
        die("pthread_create");
    /* this thread reads the subscribers until the posting is over and
     * every delivery arrived, or 3 s after the posting */
    dl = 0;
    for (;;) {
        if (!dl && __atomic_load_n(&lat_posting_done, __ATOMIC_ACQUIRE))
            dl = now_ns() + 3000000000LL;
        if (dl && (delivered_all >= lat_sent * connected || now_ns() >= dl))
            break;
        pump(50, -1, NULL);
    }
    pthread_join(pt, NULL);
    long sent = lat_sent;
    double el = (double)(now_ns() - t_start) / 1e9;
    int lagged = 0, closed = 0;
    for (int i = 0; i < nsubs; i++) {
        lagged += subs[i]->lagged;
        closed += subs[i]->dead;
    }
    qsort(lat_us, nlat, sizeof *lat_us, cmp_u32);
    qsort(recv_us, nlat, sizeof *recv_us, cmp_u32);
    qsort(ack_us, nack, sizeof *ack_us, cmp_u32);
    qsort(svc_us, nack, sizeof *svc_us, cmp_u32);
    long expect = (sent - warm_seq) * connected;
    printf("subs=%d connected=%d rate=%d batch=%d posters=%d seconds=%.1f events_sent=%ld "
           "counted_events=%ld deliveries=%ld lost=%ld p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
           "ack_n=%zu ack_p50_ms=%.3f ack_p99_ms=%.3f ack_max_ms=%.3f rtt_p50_ms=%.3f rtt_p99_ms=%.3f "
           "recv_p50_ms=%.3f recv_p99_ms=%.3f late_ticks=%llu non2xx=%ld "
           "lagged=%d closed=%d\n",
           nsubs, connected, rate, batch, nposters, el, sent, sent - warm_seq, delivered_counted,
           expect - delivered_counted, quant(lat_us, nlat, 0.5) / 1e3,
           quant(lat_us, nlat, 0.99) / 1e3, nlat ? lat_us[nlat - 1] / 1e3 : -1, nack,
           quant(ack_us, nack, 0.5) / 1e3, quant(ack_us, nack, 0.99) / 1e3,
           nack ? ack_us[nack - 1] / 1e3 : -1, quant(svc_us, nack, 0.5) / 1e3,
           quant(svc_us, nack, 0.99) / 1e3, quant(recv_us, nlat, 0.5) / 1e3,
           quant(recv_us, nlat, 0.99) / 1e3, (unsigned long long)late_ticks, non2xx, lagged,
           closed);
    return connected == nsubs && expect == delivered_counted && non2xx == 0 ? 0 : 3;
}

static long read_rss_kb(long pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int mode_idle(int nsubs, int wait_s, long pid)
{
    int64_t t0 = now_ns();
    conn **subs = open_subs(nsubs);
    int64_t t_open = now_ns();
    int64_t dl = t_open + (int64_t)wait_s * 1000000000;
    while (now_ns() < dl)
        pump(200, -1, NULL);
    int64_t t = now_ns();
    long rss = pid > 0 ? read_rss_kb(pid) : -1;
    int connected = 0, ok = 0, closed = 0, no_hb = 0, late = 0;
    int64_t max_gap = 0;
    for (int i = 0; i < nsubs; i++) {
        conn *c = subs[i];
        int64_t gap = c->max_gap_ns;
        if (c->last_ev_ns && t - c->last_ev_ns > gap)
            gap = t - c->last_ev_ns;
        if (gap > max_gap)
            max_gap = gap;
        connected += c->connected;
        closed += c->dead;
        no_hb += c->connected && c->heartbeats == 0;
        late += gap > HEARTBEAT_LIMIT_NS;
        ok += c->connected && !c->dead && c->heartbeats > 0 && gap <= HEARTBEAT_LIMIT_NS;
    }
    printf("subs=%d open_s=%.1f held_s=%.1f connected=%d on_time=%d no_heartbeat=%d late=%d "
           "closed=%d max_gap_s=%.1f rss_kb=%ld\n",
           nsubs, (double)(t_open - t0) / 1e9, (double)(t - t_open) / 1e9, connected, ok, no_hb,
           late, closed, (double)max_gap / 1e9, rss);
    return ok == nsubs ? 0 : 3;
}

static int mode_load(int nconns)
{
    long nbatches = (load_events + batch - 1) / batch;
    if (nconns > nbatches)
        nconns = (int)nbatches;
    conn **cs = calloc((size_t)nconns, sizeof *cs);
    int64_t t0 = now_ns();
    for (int i = 0; i < nconns; i++) {
        cs[i] = conn_open(K_POST);
        load_send(cs[i], load_next_batch++);
    }
    while (load_done_events < load_events) {
        pump(1000, -1, NULL);
        for (int i = 0; i < nconns; i++)
            if (cs[i]->dead) {
                fprintf(stderr, "sse_latency: load connection closed\n");
                return 1;
            }
    }
    double el = (double)(now_ns() - t0) / 1e9;
    printf("events=%ld batch=%d conns=%d seconds=%.2f events_per_s=%.0f retries=%ld\n",
           load_events, batch, nconns, el, (double)load_events / el, load_retries);
    return 0;
}

static int mode_get(int n, int warm, char **paths, int npaths)
{
    if (!(get_us = calloc((size_t)n + (size_t)warm, sizeof *get_us)))
        die("calloc");
    conn *c = conn_open(K_GET);
    long bytes = 0;
    for (int i = 0; i < n + warm; i++) {
        char req[6200];
        int l = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n",
                         paths[i % npaths], auth_line());
        c->t_sent = now_ns();
        c->busy = 1;
        send_all(c, req, (size_t)l);
        while (c->busy && !c->dead)
            pump(1000, -1, NULL);
        if (c->dead) {
            fprintf(stderr, "sse_latency: connection closed\n");
            return 1;
        }
        bytes += c->body_bytes;
        if (i < warm)
            nget = 0;
    }
    qsort(get_us, nget, sizeof *get_us, cmp_u32);
    printf("n=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f avg_bytes=%ld non2xx=%ld\n", nget,
           quant(get_us, nget, 0.5) / 1e3, quant(get_us, nget, 0.99) / 1e3,
           get_us[nget - 1] / 1e3, bytes / (n + warm), non2xx);
    return non2xx ? 3 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: sse_latency latency|idle|load|get PORT [options] (see the header "
                    "of bench/sse_latency.c)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *mode = argv[1];
    port = atoi(argv[2]);
    int subs = -1, rate = 5000, seconds = -1, warmup = 1, conns = 4, nreq = 50, warm = 1;
    long pid = 0;
    batch = -1;
    nposters = 8;
    load_events = 1000000;
    optind = 3;
    int o;
    while ((o = getopt(argc, argv, "s:r:b:t:w:p:P:n:c:T:m:S:W:f")) != -1) {
        switch (o) {
        case 's': subs = atoi(optarg); break;
        case 'r': rate = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 't': seconds = atoi(optarg); break;
        case 'w': warmup = atoi(optarg); break;
        case 'p': nposters = atoi(optarg); break;
        case 'P': pid = atol(optarg); break;
        case 'n': nreq = atoi(optarg); load_events = atol(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'T': load_twin = optarg; break;
        case 'm': load_metric = optarg; break;
        case 'S': load_ts0 = atoll(optarg); break;
        case 'W': warm = atoi(optarg); break;
        case 'f': subs_filtered = 1; break;
        default: usage();
        }
    }
    if (port <= 0 || nposters <= 0 || rate <= 0)
        usage();
    if ((ep = epoll_create1(0)) < 0)
        die("epoll_create1");
    run_id = (unsigned)(now_ns() / 1000 % 1000000000);
    if (strcmp(mode, "latency") == 0) {
        batch = batch > 0 ? batch : 50;
        return mode_latency(subs > 0 ? subs : 100, rate, seconds > 0 ? seconds : 10, warmup);
    }
    if (strcmp(mode, "idle") == 0)
        return mode_idle(subs > 0 ? subs : 10000, seconds > 0 ? seconds : 25, pid);
    if (strcmp(mode, "load") == 0) {
        batch = batch > 0 ? batch : 1000;
        return mode_load(conns > 0 ? conns : 4);
    }
    if (strcmp(mode, "get") == 0 && optind < argc)
        return mode_get(nreq > 0 ? nreq : 50, warm, argv + optind, argc - optind);
    usage();
    return 2;
}
