/* http_floor.c - the floor under durable ingest on this machine: a server
 * that does only what every durable POST /telemetry/ingest must do with the
 * design's HTTP library, and nothing else (baseline for bench/rows/02, 03).
 *
 *   http_floor PORT DIR
 *
 * libmicrohttpd with OpsTwin's own flags (epoll thread pool of one thread
 * per core, suspend/resume, turbo, 8 KiB connection pool), every POST body
 * copied out as it arrives, then the connection suspended and handed to one
 * committer thread, which takes every request waiting, appends their bodies
 * to DIR/floor.log with one write and one fdatasync (a group commit), and
 * resumes them; the reply is a fixed 202 JSON of the size of OpsTwin's.
 * No JSON parsing, validation, database or event log. GET answers 200 at
 * once. Runs until SIGTERM or SIGINT.
 *
 * Whatever OpsTwin reaches on the same load is this floor minus the cost of
 * its own work, so the rows report both, measured in the same run.
 */
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct req {
    char *body;
    size_t len, cap;
    int state; /* 0 reading, 1 waiting for the commit, 2 committed */
    struct MHD_Connection *conn;
    struct req *next;
} req;

static const char reply[] =
    "{\"event_id\":\"tel_01KB0000000000000000000000\",\"status\":\"accepted\","
    "\"message\":\"telemetry stored\",\"cursor\":\"000000000000000000001\"}";

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static req *pending;
static int log_fd = -1;
static volatile sig_atomic_t stopping;

static void *committer(void *arg)
{
    (void)arg;
    char *buf = NULL;
    size_t cap = 0;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!pending && !stopping)
            pthread_cond_wait(&cv, &mu);
        req *group = pending;
        pending = NULL;
        pthread_mutex_unlock(&mu);
        if (!group)
            return NULL;
        size_t n = 0;
        for (req *r = group; r; r = r->next) {
            if (n + r->len + 1 > cap) {
                cap = (n + r->len + 1) * 2;
                buf = realloc(buf, cap);
                if (!buf)
                    abort();
            }
            memcpy(buf + n, r->body, r->len);
            n += r->len;
            buf[n++] = '\n';
        }
        if (write(log_fd, buf, n) != (ssize_t)n || fdatasync(log_fd) != 0) {
            perror("http_floor: write");
            exit(1);
        }
        for (req *r = group, *next; r; r = next) {
            next = r->next;
            r->state = 2;
            MHD_resume_connection(r->conn);
        }
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)version;
    req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->conn = conn;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->len + *upload_size > r->cap) {
            size_t cap = (r->len + *upload_size) * 2;
            char *b = realloc(r->body, cap);
            if (!b)
                return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, *upload_size);
        r->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") == 0 && r->state == 0) {
        r->state = 1;
        MHD_suspend_connection(conn);
        pthread_mutex_lock(&mu);
        r->next = pending;
        pending = r;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
        return MHD_YES;
    }
    int post = strcmp(method, "POST") == 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        post ? sizeof reply - 1 : 2, (void *)(post ? reply : "ok"), MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, post ? 202 : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)conn, (void)code;
    req *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
    }
    *con_cls = NULL;
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: http_floor PORT DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/floor.log", argv[2]);
    log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (log_fd < 0) {
        perror(path);
        return 1;
    }
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, committer, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_TURBO,
        (uint16_t)atoi(argv[1]), NULL, NULL, on_request, NULL, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(threads > 0 ? threads : 1), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(8 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "http_floor: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    while (!stopping)
        pause();
    /* let the committer resume what it holds, then stop */
    pthread_mutex_lock(&mu);
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
    pthread_mutex_lock(&mu);
    for (req *r = pending; r; r = r->next)
        MHD_resume_connection(r->conn);
    pending = NULL;
    pthread_mutex_unlock(&mu);
    MHD_stop_daemon(d);
    close(log_fd);
    return 0;
}
