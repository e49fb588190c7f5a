/* harness.c - see harness.h. */
#include "harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *bb_bin(void)
{
    static char path[4096];
    const char *b = getenv("OPSTWIN_BIN");
    if (!realpath(b && *b ? b : "build/asan/opstwin", path))
        cr_assert_fail("cannot find the opstwin binary (set OPSTWIN_BIN)");
    return path;
}

int bb_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        cr_assert_fail("cannot find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct grow { char *p; size_t n; };

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct grow *g = ud;
    size_t n = size * nmemb;
    char *q = realloc(g->p, g->n + n + 1);
    if (!q)
        return 0;
    memcpy(q + g->n, ptr, n);
    g->n += n;
    q[g->n] = '\0';
    g->p = q;
    return n;
}

long bb_http(const bb_server *s, const char *method, const char *path, const char *body,
             const char *const *headers, bb_resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    struct grow b = {0}, h = {0};
    char url[1024];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *hl = NULL;
    int has_ctype = 0, has_auth = 0;
    for (const char *const *p = headers; p && *p; p++) {
        hl = curl_slist_append(hl, *p);
        if (strncasecmp(*p, "Content-Type:", 13) == 0)
            has_ctype = 1;
        if (strncasecmp(*p, "Authorization:", 14) == 0)
            has_auth = 1;
    }
    if (!has_auth && s->token[0]) {
        char auth[2200];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->token);
        hl = curl_slist_append(hl, auth);
    }
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        if (!has_ctype)
            hl = curl_slist_append(hl, "Content-Type: application/json");
    }
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        r->status = -1;
    else
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    r->body = b.p ? b.p : strdup("");
    r->len = b.n;
    r->headers = h.p ? h.p : strdup("");
    r->json = json_loadb(r->body, r->len, 0, NULL);
    return r->status;
}

void bb_resp_free(bb_resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

int bb_header(const bb_resp *r, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, outlen, "%.*s", (int)(eol - v), v);
            return 0;
        }
        p = eol + 2;
    }
    return -1;
}

static void rm_rf(const char *dir)
{
    if (!dir[0] || strncmp(dir, "/tmp/", 5) != 0)
        return;
    pid_t p = fork();
    if (p == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    waitpid(p, NULL, 0);
}

char *bb_server_log(const bb_server *s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/server.log", s->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    struct grow g = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        on_data(buf, 1, n, &g);
    fclose(f);
    return g.p ? g.p : strdup("");
}

static void load_token(bb_server *s)
{
    char *log = bb_server_log(s);
    const char *t = strstr(log, "\"admin_token\":\"");
    if (t) {
        t += 15;
        const char *e = strchr(t, '"');
        if (e && (size_t)(e - t) < sizeof s->token)
            snprintf(s->token, sizeof s->token, "%.*s", (int)(e - t), t);
    }
    free(log);
}

void bb_start(bb_server *s, const char *const *args, const char *const *env, const char *dir)
{
    memset(s, 0, sizeof *s);
    if (dir) {
        snprintf(s->dir, sizeof s->dir, "%s", dir);
    } else {
        snprintf(s->dir, sizeof s->dir, "/tmp/opstwin-bb.XXXXXX");
        if (!mkdtemp(s->dir))
            cr_assert_fail("mkdtemp: %s", strerror(errno));
    }
    s->port = bb_free_port();
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    char port[16], data[300];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(data, sizeof data, "%s/data", s->dir);
    const char *argv[64];
    int n = 0;
    argv[n++] = bb_bin();
    argv[n++] = "serve";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--data-dir";
    argv[n++] = data;
    for (const char *const *a = args; a && *a && n < 62; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/server.log", s->dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        dup2(fd, 1);
        if (chdir(s->dir) != 0)
            _exit(126);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    double deadline = now_s() + 30;
    while (now_s() < deadline) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            char *log = bb_server_log(s);
            cr_assert_fail("server exited during start-up (status %d):\n%s", st, log);
        }
        bb_resp r;
        if (bb_http(s, "GET", "/health", NULL, NULL, &r) > 0) {
            bb_resp_free(&r);
            load_token(s);
            return;
        }
        bb_resp_free(&r);
        usleep(50000);
    }
    kill(pid, SIGKILL);
    cr_assert_fail("server did not answer /health within 30 s");
}

static int wait_exit(pid_t pid, double timeout)
{
    double deadline = now_s() + timeout;
    while (now_s() < deadline) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(20000);
    }
    return -1;
}

int bb_stop(bb_server *s, int keep_dir)
{
    int rc = 0;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        rc = wait_exit(s->pid, 30);
        if (rc == -1) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        s->pid = 0;
    }
    if (!keep_dir)
        rm_rf(s->dir);
    return rc;
}

void bb_kill9(bb_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

int bb_run(const char *const *argv, const char *cwd, const char *const *env, char **out,
           char **err)
{
    char outp[] = "/tmp/opstwin-run-out.XXXXXX", errp[] = "/tmp/opstwin-run-err.XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        int nul = open("/dev/null", O_RDONLY);
        dup2(nul, 0);
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    char *bufs[2] = {NULL, NULL};
    int fds[2] = {ofd, efd};
    for (int i = 0; i < 2; i++) {
        struct grow g = {0};
        char buf[4096];
        ssize_t n;
        lseek(fds[i], 0, SEEK_SET);
        while ((n = read(fds[i], buf, sizeof buf)) > 0)
            on_data(buf, 1, (size_t)n, &g);
        close(fds[i]);
        bufs[i] = g.p ? g.p : strdup("");
    }
    unlink(outp);
    unlink(errp);
    if (out)
        *out = bufs[0];
    else
        free(bufs[0]);
    if (err)
        *err = bufs[1];
    else
        free(bufs[1]);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
