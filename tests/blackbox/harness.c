/* harness.c - see harness.h. */
#include "harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
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
    int has_ctype = 0, has_auth = 0, has_expect = 0;
    for (const char *const *p = headers; p && *p; p++) {
        hl = curl_slist_append(hl, *p);
        if (strncasecmp(*p, "Content-Type:", 13) == 0)
            has_ctype = 1;
        if (strncasecmp(*p, "Authorization:", 14) == 0)
            has_auth = 1;
        if (strncasecmp(*p, "Expect:", 7) == 0)
            has_expect = 1;
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
    if (!has_expect)
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

/* --- PostgreSQL mode ------------------------------------------------------- */

int bb_pg_mode(void)
{
    const char *b = getenv("OPSTWIN_TEST_BACKEND");
    return b && strcmp(b, "postgres") == 0;
}

const char *bb_database_url(const bb_server *s)
{
    return s->database_url[0] ? s->database_url : NULL;
}

static const char *pg_admin_url(void)
{
    const char *u = getenv("OPSTWIN_TEST_PG_URL");
    if (!u || !*u)
        cr_assert_fail("OPSTWIN_TEST_BACKEND=postgres needs OPSTWIN_TEST_PG_URL (start "
                       "PostgreSQL with scripts/services.sh)");
    return u;
}

static PGresult *pg_run(const char *url, const char *sql, long *changed)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        PQfinish(c);
        cr_assert_fail("cannot connect to %s: %s", url, msg);
    }
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        cr_assert_fail("%s: %s", sql, msg);
    }
    if (changed)
        *changed = atol(PQcmdTuples(r));
    PQfinish(c);
    return r;
}

long bb_pg_exec(const bb_server *s, const char *sql)
{
    cr_assert(s->database_url[0], "bb_pg_exec outside PostgreSQL mode");
    long n = 0;
    PQclear(pg_run(s->database_url, sql, &n));
    return n;
}

long bb_db_exec(const bb_server *s, const char *sql)
{
    if (s->database_url[0])
        return bb_pg_exec(s, sql);
    char path[512];
    snprintf(path, sizeof path, "%s/data/opstwin.db", s->dir);
    cr_assert(access(path, F_OK) == 0, "no database at %s", path);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK, "open %s", path);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", err ? err : "");
    sqlite3_free(err);
    long changed = sqlite3_changes(db);
    sqlite3_close(db);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg);
    return changed;
}

/* The URL of database db on the server of base (its path replaced). */
static void url_with_db(const char *base, const char *db, char *out, size_t n)
{
    const char *scheme = strstr(base, "://");
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    const char *query = strchr(base, '?');
    int host_len = slash ? (int)(slash - base) : query ? (int)(query - base) : (int)strlen(base);
    snprintf(out, n, "%.*s/%s%s", host_len, base, db, query ? query : "");
}

/* The folder's database: reuse DIR/database_url, or create one. */
static void pg_database_for(bb_server *s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/database_url", s->dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(s->database_url, sizeof s->database_url, f))
            s->database_url[0] = '\0';
        fclose(f);
        s->database_url[strcspn(s->database_url, "\n")] = '\0';
        if (s->database_url[0])
            return;
    }
    const char *admin = pg_admin_url();
    char db[64], sql[128];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(db, sizeof db, "ot_bb_%d_%lx", (int)getpid(),
             (unsigned long)(ts.tv_nsec ^ (ts.tv_sec << 20)) & 0xffffffffUL);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    PQclear(pg_run(admin, sql, NULL));
    url_with_db(admin, db, s->database_url, sizeof s->database_url);
    f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fprintf(f, "%s\n", s->database_url);
    fclose(f);
}

/* Drop the database recorded in dir (PostgreSQL mode), if any. */
static void pg_drop_for(const char *dir)
{
    char path[512], url[512] = "";
    snprintf(path, sizeof path, "%s/database_url", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (!fgets(url, sizeof url, f))
        url[0] = '\0';
    fclose(f);
    url[strcspn(url, "\n")] = '\0';
    const char *slash = strrchr(url, '/');
    const char *admin = getenv("OPSTWIN_TEST_PG_URL");
    if (!slash || !admin || !*admin)
        return;
    char db[128], sql[256];
    snprintf(db, sizeof db, "%.*s", (int)strcspn(slash + 1, "?"), slash + 1);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    PGconn *c = PQconnectdb(admin);
    if (PQstatus(c) == CONNECTION_OK)
        PQclear(PQexec(c, sql));
    PQfinish(c);
}

static void rm_rf(const char *dir)
{
    if (!dir[0] || strncmp(dir, "/tmp/", 5) != 0)
        return;
    pg_drop_for(dir);
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

/* 1 if process pid holds the listening socket of 127.0.0.1:port (read from
 * /proc): a free port picked here can be taken by another test's server
 * before ours binds it, and then /health answers from the wrong server. */
static int owns_listener(pid_t pid, int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return 1; /* cannot tell: trust /health */
    char line[512];
    unsigned long inode = 0;
    while (!inode && fgets(line, sizeof line, f)) {
        unsigned la, lp, ra, rp, st;
        unsigned long ino;
        if (sscanf(line, " %*d: %x:%x %x:%x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &la, &lp, &ra,
                   &rp, &st, &ino) == 6 &&
            lp == (unsigned)port && st == 0x0A)
            inode = ino;
    }
    fclose(f);
    if (!inode)
        return 0;
    char dir[64], want[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *d = opendir(dir);
    int found = 0;
    for (struct dirent *de; d && !found && (de = readdir(d));) {
        char path[320], link[64];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) {
            link[n] = '\0';
            found = strcmp(link, want) == 0;
        }
    }
    if (d)
        closedir(d);
    return found;
}

/* Fork the server (argv, on s->port) and wait until it answers /health
 * from its own socket: 0. 1 when it could not bind the port and may_retry;
 * any other failure fails the test. */
static int start_once(bb_server *s, const char **argv, char *dburl_env,
                      const char *const *env, const char *logpath, int may_retry)
{
    char *before = bb_server_log(s);
    size_t skip = before ? strlen(before) : 0; /* the log of earlier attempts */
    free(before);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* a test that fails between bb_start and bb_stop must not leave its
         * server running: die with the test process */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        dup2(fd, 1);
        if (chdir(s->dir) != 0)
            _exit(126);
        if (dburl_env[0])
            putenv(dburl_env);
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
            if (may_retry && log && strlen(log) > skip && strstr(log + skip, "cannot listen on")) {
                free(log);
                s->pid = 0;
                return 1;
            }
            cr_assert_fail("server exited during start-up (status %d):\n%s", st, log);
        }
        bb_resp r;
        if (bb_http(s, "GET", "/health", NULL, NULL, &r) > 0 && owns_listener(pid, s->port)) {
            bb_resp_free(&r);
            load_token(s);
            return 0;
        }
        bb_resp_free(&r);
        usleep(50000);
    }
    kill(pid, SIGKILL);
    cr_assert_fail("server did not answer /health within 30 s");
    return -1;
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
    char port[16], data[300];
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
    char dburl_env[600] = "";
    int own_db = 0;
    for (const char *const *e = env; e && *e; e++)
        own_db |= strncmp(*e, "DATABASE_URL=", 13) == 0;
    for (const char *const *a = args; a && *a; a++)
        own_db |= strcmp(*a, "--database-url") == 0;
    if (bb_pg_mode() && !own_db) {
        pg_database_for(s);
        snprintf(dburl_env, sizeof dburl_env, "DATABASE_URL=%s", s->database_url);
    }
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/server.log", s->dir);
    /* up to five ports: another test's server may take ours before we bind */
    for (int attempt = 1;; attempt++) {
        s->port = bb_free_port();
        snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
        snprintf(port, sizeof port, "%d", s->port);
        if (start_once(s, argv, dburl_env, env, logpath, attempt < 5) == 0)
            return;
    }
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

/* Stop and remove the folder; the exit status, and the log's tail when it
 * is not 0. */
static int stop_with_tail(bb_server *s, char *tail, size_t cap)
{
    int rc = bb_stop(s, 1);
    char *log = rc ? bb_server_log(s) : NULL;
    rm_rf(s->dir);
    size_t n = log ? strlen(log) : 0;
    snprintf(tail, cap, "%s", log ? log + (n > cap - 1 ? n - (cap - 1) : 0) : "");
    free(log);
    return rc;
}

void bb_stop_checked(bb_server *s)
{
    static char tail[12001];
    int rc = stop_with_tail(s, tail, sizeof tail);
    cr_assert_eq(rc, 0, "server did not exit 0 on SIGTERM (%d); log tail:\n%s", rc, tail);
}

void bb_stop_fixture(bb_server *s)
{
    static char tail[12001];
    int rc = stop_with_tail(s, tail, sizeof tail);
    if (rc) {
        const struct criterion_test *t = criterion_current_test;
        fprintf(stderr, "BB-FIXTURE-FAILED %s::%s: server did not exit 0 on SIGTERM (%d)\n",
                t && t->category ? t->category : "?", t && t->name ? t->name : "?", rc);
        cr_assert_fail("server did not exit 0 on SIGTERM (%d); log tail:\n%s", rc, tail);
    }
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

/* --- conveniences for the API tests ------------------------------------- */

json_t *bb_req(const bb_server *s, const char *method, const char *path, const char *body,
               long expect)
{
    bb_resp r;
    long st = bb_http(s, method, path, body, NULL, &r);
    if (st != expect) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s %s -> %ld (expected %ld): %.800s", method, path, st,
                 expect, r.body);
        bb_resp_free(&r);
        cr_assert_fail("%s", msg);
    }
    json_t *j = json_incref(r.json);
    bb_resp_free(&r);
    return j;
}

json_t *bb_getf(const bb_server *s, long expect, const char *fmt, ...)
{
    char path[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return bb_req(s, "GET", path, NULL, expect);
}

void bb_assert_error(const bb_resp *r, long status, const char *code, const char *path)
{
    cr_assert_eq(r->status, status, "status %ld, expected %ld: %s", r->status, status, r->body);
    cr_assert_not_null(r->json, "body is not JSON: %s", r->body);
    json_t *e = json_object_get(r->json, "error");
    cr_assert(json_is_object(e), "no error object: %s", r->body);
    const char *c = json_string_value(json_object_get(e, "code"));
    cr_assert(c && strcmp(c, code) == 0, "code %s, expected %s: %s", c ? c : "(none)", code,
              r->body);
    cr_assert(json_string_length(json_object_get(e, "message")) > 0, "no message: %s", r->body);
    if (!path)
        return;
    json_t *d = json_object_get(e, "details");
    size_t i;
    json_t *x;
    json_array_foreach(d, i, x) {
        const char *p = json_string_value(json_object_get(x, "path"));
        if (p && strcmp(p, path) == 0)
            return;
    }
    cr_assert_fail("no details entry with path %s: %s", path, r->body);
}

double bb_metric(const bb_server *s, const char *sample)
{
    bb_resp r;
    cr_assert_eq(bb_http(s, "GET", "/metrics", NULL, NULL, &r), 200, "%s", r.body);
    size_t n = strlen(sample);
    double v = -1;
    for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, sample, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
    bb_resp_free(&r);
    return v;
}

json_t *bb_diff_all(const bb_server *s, const char *query, int limit)
{
    json_t *all = json_array();
    char since[64] = "";
    for (int page = 0; page < 100000; page++) {
        char path[1024];
        snprintf(path, sizeof path, "/diff?limit=%d%s%s%s%s", limit, since[0] ? "&since=" : "",
                 since, query && *query ? "&" : "", query ? query : "");
        json_t *j = bb_req(s, "GET", path, NULL, 200);
        json_t *evs = json_object_get(j, "events");
        cr_assert(json_is_array(evs), "no events array: %s", path);
        json_array_extend(all, evs);
        const char *next = json_string_value(json_object_get(j, "next_cursor"));
        cr_assert_not_null(next, "no next_cursor");
        snprintf(since, sizeof since, "%s", next);
        int more = json_is_true(json_object_get(j, "has_more"));
        size_t n = json_array_size(evs);
        json_decref(j);
        if (!more)
            return all;
        cr_assert_gt(n, 0, "has_more true with an empty page at %s", path);
    }
    cr_assert_fail("diff paging did not end");
    return NULL;
}

/* --- Server-Sent Events client -------------------------------------------- */

static void sse_append(bb_sse *c, const char *p, size_t n)
{
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 8192;
        while (cap < c->len + n + 1)
            cap *= 2;
        c->buf = realloc(c->buf, cap);
        cr_assert_not_null(c->buf);
        c->cap = cap;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    c->buf[c->len] = '\0';
}

/* Parse complete events (ended by a blank line) from buf[parsed..]. */
static void sse_parse(bb_sse *c)
{
    for (;;) {
        char *start = c->buf + c->parsed;
        char *end = strstr(start, "\n\n");
        if (!end)
            return;
        bb_sse_event ev;
        memset(&ev, 0, sizeof ev);
        snprintf(ev.event, sizeof ev.event, "message");
        size_t dlen = 0;
        int any = 0;
        for (char *line = start; line < end;) {
            char *eol = memchr(line, '\n', (size_t)(end - line));
            if (!eol)
                eol = end;
            size_t ll = (size_t)(eol - line);
            const char *colon = memchr(line, ':', ll);
            size_t fl = colon ? (size_t)(colon - line) : ll;
            const char *v = colon ? colon + 1 : eol;
            if (colon && *v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            if (fl == 2 && strncmp(line, "id", 2) == 0) {
                snprintf(ev.id, sizeof ev.id, "%.*s", (int)vl, v);
                any = 1;
            } else if (fl == 5 && strncmp(line, "event", 5) == 0) {
                snprintf(ev.event, sizeof ev.event, "%.*s", (int)vl, v);
                any = 1;
            } else if (fl == 4 && strncmp(line, "data", 4) == 0) {
                ev.data = realloc(ev.data, dlen + vl + 2);
                if (dlen)
                    ev.data[dlen++] = '\n';
                memcpy(ev.data + dlen, v, vl);
                dlen += vl;
                ev.data[dlen] = '\0';
                any = 1;
            }
            line = eol + 1;
        }
        c->parsed = (size_t)(end + 2 - c->buf);
        if (!any) {
            free(ev.data);
            continue; /* retry:-only or comment block */
        }
        if (!ev.data)
            ev.data = strdup("");
        if (c->nev == c->capev) {
            c->capev = c->capev ? c->capev * 2 : 64;
            c->ev = realloc(c->ev, c->capev * sizeof *c->ev);
            cr_assert_not_null(c->ev);
        }
        c->ev[c->nev++] = ev;
    }
}

/* Read what is available within timeout_s; 0 on data, -1 timeout, 1 closed. */
static int sse_read(bb_sse *c, double timeout_s)
{
    if (c->closed)
        return 1;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int ms = timeout_s <= 0 ? 0 : (int)(timeout_s * 1000);
    int rc = poll(&p, 1, ms);
    if (rc <= 0)
        return -1;
    char tmp[16384];
    ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
        c->closed = 1;
        return 1;
    }
    sse_append(c, tmp, (size_t)n);
    return 0;
}

long bb_sse_open(bb_sse *c, const bb_server *s, const char *path, const char *const *headers,
                 double timeout_s)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s",
                 strerror(errno));
    char req[4096];
    int k = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n"
                     "Accept: text/event-stream\r\n", path, s->port);
    int has_auth = 0;
    for (const char *const *h = headers; h && *h; h++) {
        k += snprintf(req + k, sizeof req - (size_t)k, "%s\r\n", *h);
        if (strncasecmp(*h, "Authorization:", 14) == 0)
            has_auth = 1;
    }
    if (!has_auth && s->token[0]) /* the server's admin token, as bb_http does */
        k += snprintf(req + k, sizeof req - (size_t)k, "Authorization: Bearer %s\r\n", s->token);
    k += snprintf(req + k, sizeof req - (size_t)k, "\r\n");
    cr_assert_eq(send(c->fd, req, (size_t)k, MSG_NOSIGNAL), k);
    double deadline = now_s() + timeout_s;
    char *hend;
    while (!(c->buf && (hend = strstr(c->buf, "\r\n\r\n")))) {
        double left = deadline - now_s();
        cr_assert(left > 0 && !c->closed, "no response headers from GET %s", path);
        sse_read(c, left);
    }
    size_t hl = (size_t)(hend - c->buf);
    snprintf(c->headers, sizeof c->headers, "%.*s", (int)hl, c->buf);
    cr_assert_eq(sscanf(c->headers, "HTTP/1.%*d %ld", &c->status), 1, "bad status line: %s",
                 c->headers);
    /* keep only the body in buf */
    size_t body = hl + 4;
    memmove(c->buf, c->buf + body, c->len - body + 1);
    c->len -= body;
    if (c->status != 200) {
        while (!c->closed && now_s() < deadline)
            sse_read(c, deadline - now_s());
        return c->status;
    }
    sse_parse(c);
    return c->status;
}

int bb_sse_wait_count(bb_sse *c, size_t n, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    for (;;) {
        sse_parse(c);
        if (c->nev >= n)
            return 1;
        double left = deadline - now_s();
        if (left <= 0 || c->closed)
            return 0;
        sse_read(c, left);
    }
}

long bb_sse_wait_type(bb_sse *c, const char *type, size_t from, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    size_t i = from;
    for (;;) {
        sse_parse(c);
        for (; i < c->nev; i++)
            if (strcmp(c->ev[i].event, type) == 0)
                return (long)i;
        double left = deadline - now_s();
        if (left <= 0 || c->closed)
            return -1;
        sse_read(c, left);
    }
}

void bb_sse_close(bb_sse *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    for (size_t i = 0; i < c->nev; i++)
        free(c->ev[i].data);
    free(c->ev);
    free(c->buf);
    c->ev = NULL;
    c->buf = NULL;
    c->nev = c->len = c->cap = c->parsed = c->capev = 0;
}
