/* redis.c - see redis.h. This file: URL and ID syntax, connections and the
 * command pool, the simulation cache, subscriber cursors, health, metrics,
 * start and stop. The stream mirror is redis_mirror.c. */
#include "store/redis.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/url.h"
#include "store/redis_internal.h"

#define CMD_TIMEOUT_MS 1000
#define CMD_RETRY_NS 1000000000LL   /* while down: one connect attempt a second */

/* --- URL and stream ID syntax ------------------------------------------------ */

#define URL_RULE "expected redis://[[user]:password@]host[:port][/db]"

int ot_redis_url_parse(const char *url, ot_redis_url *out, ot_error *err)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (strncmp(url, "rediss://", 9) == 0)
        return ot_error_set(err, OT_EINVAL, "REDIS_URL",
                            "REDIS_URL: rediss:// (TLS) is not supported by this build; use "
                            "redis:// on a trusted network or a TLS tunnel");
    if (strncmp(url, "redis://", 8) != 0)
        /* the URL is not echoed: it may hold a password */
        return ot_error_set(err, OT_EINVAL, "REDIS_URL", "REDIS_URL: %s", URL_RULE);
    const char *p = url + 8;
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q; /* the last @: a password may contain one unescaped */
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (ot_pct_decode(p, (size_t)(uend - p), out->user, sizeof out->user) ||
            (colon && ot_pct_decode(colon + 1, (size_t)(at - colon - 1), out->password,
                                    sizeof out->password)))
            return ot_error_set(err, OT_EINVAL, "REDIS_URL",
                                "REDIS_URL: the user or password is too long or has a bad "
                                "%%-escape");
        if (!colon && out->user[0]) { /* redis://secret@host: the old form, a password */
            snprintf(out->password, sizeof out->password, "%s", out->user);
            out->user[0] = '\0';
        }
        p = at + 1;
    }
    const char *hend;
    const char *portp = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return ot_error_set(err, OT_EINVAL, "REDIS_URL", "REDIS_URL: unterminated [address]");
        if (ot_pct_decode(p + 1, (size_t)(rb - p - 1), out->host, sizeof out->host))
            return ot_error_set(err, OT_EINVAL, "REDIS_URL", "REDIS_URL: host too long");
        hend = rb + 1;
        if (hend < end && *hend == ':')
            portp = hend + 1;
        else if (hend != end)
            return ot_error_set(err, OT_EINVAL, "REDIS_URL", "REDIS_URL: %s", URL_RULE);
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        hend = colon ? colon : end;
        if (ot_pct_decode(p, (size_t)(hend - p), out->host, sizeof out->host))
            return ot_error_set(err, OT_EINVAL, "REDIS_URL", "REDIS_URL: host too long");
        if (colon)
            portp = colon + 1;
    }
    if (!out->host[0])
        return ot_error_set(err, OT_EINVAL, "REDIS_URL", "REDIS_URL: no host; %s", URL_RULE);
    if (portp) {
        long v = 0;
        if (portp == end)
            return ot_error_set(err, OT_EINVAL, "REDIS_URL", "REDIS_URL: empty port");
        for (const char *q = portp; q < end; q++) {
            if (*q < '0' || *q > '9' || v > 65535)
                return ot_error_set(err, OT_EINVAL, "REDIS_URL",
                                    "REDIS_URL: port must be a number from 1 to 65535");
            v = v * 10 + (*q - '0');
        }
        if (v < 1 || v > 65535)
            return ot_error_set(err, OT_EINVAL, "REDIS_URL",
                                "REDIS_URL: port must be a number from 1 to 65535");
        out->port = (int)v;
    }
    if (*end == '/' && end[1]) {
        const char *d = end + 1;
        long v = 0;
        for (; *d && *d != '?' && *d != '#'; d++) {
            if (*d < '0' || *d > '9' || v > 100000)
                return ot_error_set(err, OT_EINVAL, "REDIS_URL",
                                    "REDIS_URL: the database after / must be a number");
            v = v * 10 + (*d - '0');
        }
        if (d == end + 1)
            return ot_error_set(err, OT_EINVAL, "REDIS_URL",
                                "REDIS_URL: the database after / must be a number");
        out->db = (int)v;
        end = d;
    } else if (*end == '/') {
        end++;
    }
    if (*end)
        return ot_error_set(err, OT_EINVAL, "REDIS_URL",
                            "REDIS_URL: query options are not supported; %s", URL_RULE);
    return 0;
}

char *ot_redis_id_format(int64_t cursor, char *buf)
{
    snprintf(buf, 32, "%" PRId64 "-0", cursor);
    return buf;
}

int ot_redis_id_parse(const char *id, size_t len, int64_t *cursor)
{
    size_t i = 0;
    int64_t v = 0;
    for (; i < len && id[i] >= '0' && id[i] <= '9'; i++) {
        if (i >= 18)
            return -1;
        v = v * 10 + (id[i] - '0');
    }
    if (i == 0 || i + 2 != len || id[i] != '-' || id[i + 1] != '0')
        return -1;
    *cursor = v;
    return 0;
}

/* --- connections ------------------------------------------------------------- */

void ot_redis_note_error(ot_redis *r, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&r->err_mu);
    int changed = strcmp(msg, r->last_error) != 0;
    memcpy(r->last_error, msg, sizeof msg);
    r->last_error_us = ot_now_us();
    pthread_mutex_unlock(&r->err_mu);
    if (changed)
        ot_log(OT_LOG_WARNING, "redis: %s", msg);
}

/* Run one command; returns the reply (caller frees) or NULL with why. An
 * error reply is returned as NULL too (why = its text) and *reply_err set. */
static redisReply *command(redisContext *c, int argc, const char **argv, const size_t *lens,
                           char *why, int *reply_err)
{
    *reply_err = 0;
    redisReply *rep = redisCommandArgv(c, argc, argv, lens);
    if (!rep) {
        snprintf(why, 256, "%.200s", c->errstr[0] ? c->errstr : "connection lost");
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(why, 256, "%.30s: %.200s", argv[0], rep->str);
        *reply_err = 1;
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

redisContext *ot_redis_connect(ot_redis *r, int timeout_ms, char *why)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(r->url.host, r->url.port, tv);
    if (!c) {
        snprintf(why, 256, "out of memory connecting to %.100s:%d", r->url.host, r->url.port);
        return NULL;
    }
    if (c->err) {
        snprintf(why, 256, "cannot connect to %.100s:%d: %.120s", r->url.host, r->url.port, c->errstr);
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisEnableKeepAlive(c);
    int rerr;
    if (r->url.password[0]) {
        const char *argv[3] = {"AUTH", r->url.user[0] ? r->url.user : r->url.password,
                               r->url.password};
        redisReply *rep = command(c, r->url.user[0] ? 3 : 2, argv, NULL, why, &rerr);
        if (!rep)
            goto fail;
        freeReplyObject(rep);
    }
    if (r->url.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->url.db);
        const char *argv[2] = {"SELECT", db};
        redisReply *rep = command(c, 2, argv, NULL, why, &rerr);
        if (!rep)
            goto fail;
        freeReplyObject(rep);
    }
    return c;
fail:
    redisFree(c);
    return NULL;
}

/* Take a pool slot with a live connection; -1 (why set) when Redis is down
 * or was down less than a second ago. */
static int pool_take(ot_redis *r, char *why, int force, int *fresh)
{
    *fresh = 0;
    pthread_mutex_lock(&r->pool_mu);
    int slot;
    for (;;) {
        for (slot = 0; slot < REDIS_POOL && r->pool_busy[slot]; slot++)
            ;
        if (slot < REDIS_POOL)
            break;
        pthread_cond_wait(&r->pool_cv, &r->pool_mu);
    }
    if (!r->pool[slot] && !force && r->cmd_down && ot_mono_ns() < r->cmd_retry_at_ns) {
        pthread_mutex_unlock(&r->pool_mu);
        snprintf(why, 256, "Redis is unreachable (%.100s:%d); retrying in the background",
                 r->url.host, r->url.port);
        return -1;
    }
    r->pool_busy[slot] = 1;
    pthread_mutex_unlock(&r->pool_mu);
    if (!r->pool[slot]) {
        *fresh = 1;
        r->pool[slot] = ot_redis_connect(r, CMD_TIMEOUT_MS, why);
        if (!r->pool[slot]) {
            pthread_mutex_lock(&r->pool_mu);
            r->cmd_down = 1;
            r->cmd_retry_at_ns = ot_mono_ns() + CMD_RETRY_NS;
            r->pool_busy[slot] = 0;
            pthread_cond_signal(&r->pool_cv);
            pthread_mutex_unlock(&r->pool_mu);
            return -1;
        }
    }
    return slot;
}

/* Give the slot back; broken: the connection failed and is dropped. */
static void pool_give(ot_redis *r, int slot, int broken)
{
    pthread_mutex_lock(&r->pool_mu);
    if (broken) {
        redisFree(r->pool[slot]);
        r->pool[slot] = NULL;
        r->cmd_down = 1;
        r->cmd_retry_at_ns = ot_mono_ns() + CMD_RETRY_NS;
    } else {
        r->cmd_down = 0;
    }
    r->pool_busy[slot] = 0;
    pthread_cond_signal(&r->pool_cv);
    pthread_mutex_unlock(&r->pool_mu);
}

/* One command through the pool. Returns the reply (caller frees) or NULL
 * with why; *reply_err as in command(). */
static redisReply *pool_command(ot_redis *r, int argc, const char **argv, const size_t *lens,
                                char *why, int *reply_err)
{
    *reply_err = 0;
    redisReply *rep = NULL;
    /* A pooled connection may have gone stale (Redis restarted while it sat
     * idle): one retry on a fresh connection. */
    int tried = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fresh;
        int slot = pool_take(r, why, attempt > 0, &fresh);
        tried |= slot >= 0 || fresh; /* not when it failed fast: Redis is known down */
        if (slot < 0)
            break;
        rep = command(r->pool[slot], argc, argv, lens, why, reply_err);
        pool_give(r, slot, !rep && !*reply_err);
        if (rep || *reply_err || fresh)
            break;
    }
    if (!rep) {
        atomic_fetch_add(&r->n_cmd_fail, 1);
        if (tried)
            ot_redis_note_error(r, "%s", why);
    }
    return rep;
}

/* --- simulation cache ---------------------------------------------------------- */

static void sim_key(const ot_redis *r, const char *key, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL);
    /* prefix (< 256) + "sim:" + 64 hex digits fit REDIS_KEY_MAX */
    int n = snprintf(out, REDIS_KEY_MAX, "%ssim:", r->prefix);
    ot_hex_encode(md, mdlen, out + n);
}

char *ot_redis_sim_get(ot_redis *r, const char *key)
{
    if (!r)
        return NULL;
    char k[REDIS_KEY_MAX], why[256];
    sim_key(r, key, k);
    const char *argv[2] = {"GET", k};
    int rerr;
    redisReply *rep = pool_command(r, 2, argv, NULL, why, &rerr);
    char *out = NULL;
    if (rep && rep->type == REDIS_REPLY_STRING)
        out = strndup(rep->str, rep->len);
    freeReplyObject(rep);
    atomic_fetch_add(out ? &r->n_sim_hit : &r->n_sim_miss, 1);
    return out;
}

void ot_redis_sim_put(ot_redis *r, const char *key, const char *result)
{
    if (!r)
        return;
    char k[REDIS_KEY_MAX], ttl[16], why[256];
    sim_key(r, key, k);
    snprintf(ttl, sizeof ttl, "%d", r->sim_ttl_s);
    const char *argv[5] = {"SET", k, result, "EX", ttl};
    int rerr;
    freeReplyObject(pool_command(r, 5, argv, NULL, why, &rerr));
}

/* --- subscriber cursors ---------------------------------------------------------- */

int ot_redis_cursor_get(ot_redis *r, const char *name, int64_t *cursor, ot_error *err)
{
    char why[256];
    const char *argv[3] = {"HGET", r->cursors_key, name};
    int rerr;
    redisReply *rep = pool_command(r, 3, argv, NULL, why, &rerr);
    if (!rep)
        return ot_error_set(err, OT_EUNAVAIL, NULL,
                            "subscriber cursors are kept in Redis, which cannot be reached (%s); "
                            "retry later, or read with since= and no subscriber",
                            why);
    int rc = 0;
    *cursor = 0;
    if (rep->type == REDIS_REPLY_STRING) {
        char *end;
        errno = 0;
        long long v = strtoll(rep->str, &end, 10);
        if (errno || end == rep->str || *end || v < 0)
            rc = ot_error_set(err, OT_EIO, NULL,
                              "the cursor stored in Redis for this subscriber is not a number");
        else
            *cursor = v;
    } else if (rep->type != REDIS_REPLY_NIL) {
        rc = ot_error_set(err, OT_EIO, NULL, "unexpected Redis reply to HGET");
    }
    freeReplyObject(rep);
    return rc;
}

int ot_redis_cursor_set(ot_redis *r, const char *name, int64_t cursor, ot_error *err)
{
    char why[256], v[32];
    snprintf(v, sizeof v, "%" PRId64, cursor);
    const char *argv[4] = {"HSET", r->cursors_key, name, v};
    int rerr;
    redisReply *rep = pool_command(r, 4, argv, NULL, why, &rerr);
    if (!rep)
        return ot_error_set(err, OT_EUNAVAIL, NULL,
                            "the subscriber's cursor could not be saved in Redis (%s); the page "
                            "was not served, retry later",
                            why);
    freeReplyObject(rep);
    return 0;
}

/* --- health and metrics ------------------------------------------------------------ */

int64_t ot_redis_mirrored(ot_redis *r)
{
    pthread_mutex_lock(&r->mu);
    int64_t m = r->mirrored;
    pthread_mutex_unlock(&r->mu);
    return m;
}

const char *ot_redis_health(void *ctx, json_t *detail)
{
    ot_redis *r = ctx;
    pthread_mutex_lock(&r->mu);
    int64_t mirrored = r->mirrored, target = r->target;
    size_t queued = r->queued_events;
    int ahead = r->ahead;
    pthread_mutex_unlock(&r->mu);
    int connected = atomic_load(&r->connected);
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d/%d", r->url.host, r->url.port, r->url.db);
    json_object_set_new(detail, "address", json_string(addr));
    json_object_set_new(detail, "connected", json_boolean(connected));
    json_object_set_new(detail, "stream", json_string(r->stream_key));
    json_object_set_new(detail, "mirrored_cursor", json_integer(mirrored));
    json_object_set_new(detail, "lag", json_integer(target > mirrored ? target - mirrored : 0));
    json_object_set_new(detail, "queued", json_integer((json_int_t)queued));
    pthread_mutex_lock(&r->pool_mu);
    int cmd_down = r->cmd_down;
    pthread_mutex_unlock(&r->pool_mu);
    /* the connections of the simulation cache and the subscriber cursors */
    json_object_set_new(detail, "commands", json_string(cmd_down ? "unreachable" : "ok"));
    pthread_mutex_lock(&r->err_mu);
    if (r->last_error[0]) {
        char ts[OT_TS_BUFSZ];
        json_object_set_new(detail, "last_error", json_string(r->last_error));
        json_object_set_new(detail, "last_error_at",
                            json_string(ot_ts_format(r->last_error_us, ts)));
    }
    pthread_mutex_unlock(&r->err_mu);
    if (ahead)
        json_object_set_new(detail, "stream_ahead",
                            json_string("the stream holds cursors beyond this server's log "
                                        "(another store writes to it); those are not mirrored"));
    return connected && !ahead && !cmd_down ? "ok" : "degraded";
}

void ot_redis_metrics(void *ctx, ot_buf *out)
{
    ot_redis *r = ctx;
    pthread_mutex_lock(&r->mu);
    int64_t mirrored = r->mirrored, target = r->target;
    size_t queued = r->queued_events;
    pthread_mutex_unlock(&r->mu);
    ot_buf_printf(out,
                  "# TYPE opstwin_redis_connected gauge\nopstwin_redis_connected %d\n"
                  "# TYPE opstwin_redis_mirrored_cursor gauge\nopstwin_redis_mirrored_cursor %" PRId64 "\n"
                  "# TYPE opstwin_redis_mirror_lag gauge\nopstwin_redis_mirror_lag %" PRId64 "\n"
                  "# TYPE opstwin_redis_mirror_queued gauge\nopstwin_redis_mirror_queued %zu\n"
                  "# TYPE opstwin_redis_xadd_total counter\nopstwin_redis_xadd_total %lld\n"
                  "# TYPE opstwin_redis_catchup_events_total counter\n"
                  "opstwin_redis_catchup_events_total %lld\n"
                  "# TYPE opstwin_redis_queue_dropped_total counter\n"
                  "opstwin_redis_queue_dropped_total %lld\n"
                  "# TYPE opstwin_redis_reconnects_total counter\nopstwin_redis_reconnects_total %lld\n"
                  "# TYPE opstwin_redis_sim_cache_hits_total counter\n"
                  "opstwin_redis_sim_cache_hits_total %lld\n"
                  "# TYPE opstwin_redis_sim_cache_misses_total counter\n"
                  "opstwin_redis_sim_cache_misses_total %lld\n"
                  "# TYPE opstwin_redis_command_failures_total counter\n"
                  "opstwin_redis_command_failures_total %lld\n",
                  atomic_load(&r->connected), mirrored, target > mirrored ? target - mirrored : 0,
                  queued, (long long)atomic_load(&r->n_xadd),
                  (long long)atomic_load(&r->n_catchup), (long long)atomic_load(&r->n_dropped),
                  (long long)atomic_load(&r->n_reconnects), (long long)atomic_load(&r->n_sim_hit),
                  (long long)atomic_load(&r->n_sim_miss), (long long)atomic_load(&r->n_cmd_fail));
}

/* --- life cycle ------------------------------------------------------------------ */

int ot_redis_start(const ot_redis_options *opt, ot_redis **out, ot_error *err)
{
    *out = NULL;
    ot_redis *r = calloc(1, sizeof *r);
    if (!r)
        return ot_error_set(err, OT_ENOMEM, NULL, "out of memory");
    int rc = ot_redis_url_parse(opt->url, &r->url, err);
    if (rc) {
        free(r);
        return rc;
    }
    if (strlen(opt->prefix) >= sizeof r->prefix) {
        free(r);
        return ot_error_set(err, OT_EINVAL, "REDIS_PREFIX", "REDIS_PREFIX: at most %zu characters",
                            sizeof r->prefix - 1);
    }
    snprintf(r->prefix, sizeof r->prefix, "%s", opt->prefix);
    if (opt->stream && opt->stream[0])
        snprintf(r->stream_key, sizeof r->stream_key, "%.*s", (int)sizeof r->stream_key - 1,
                 opt->stream);
    else
        snprintf(r->stream_key, sizeof r->stream_key, "%sevents", r->prefix);
    snprintf(r->cursors_key, sizeof r->cursors_key, "%scursors", r->prefix);
    r->maxlen = opt->stream_maxlen > 0 ? opt->stream_maxlen : 100000;
    snprintf(r->maxlen_text, sizeof r->maxlen_text, "%ld", r->maxlen);
    r->sim_ttl_s = opt->sim_ttl_s > 0 ? opt->sim_ttl_s : 3600;
    r->store = opt->store;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_mutex_init(&r->pool_mu, NULL);
    pthread_cond_init(&r->pool_cv, NULL);
    pthread_mutex_init(&r->err_mu, NULL);
    rc = ot_redis_mirror_start(r, err);
    if (rc) {
        ot_redis_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void ot_redis_free(ot_redis *r)
{
    if (!r)
        return;
    ot_redis_stop(r);
    for (struct rq_group *g = r->head, *next; g; g = next) {
        next = g->next;
        free(g);
    }
    for (int i = 0; i < REDIS_POOL; i++)
        if (r->pool[i])
            redisFree(r->pool[i]);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->pool_mu);
    pthread_cond_destroy(&r->pool_cv);
    pthread_mutex_destroy(&r->err_mu);
    free(r);
}
