/* config.c - the option table and the four configuration layers. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"

enum opt_type { T_STR, T_INT, T_LONG, T_BOOL, T_LEVEL };

struct option {
    const char *env;   /* environment / .env name */
    const char *flag;  /* command-line flag */
    enum opt_type type;
    size_t off;
    long min, max;     /* for numbers */
    int secret;
    const char *def;   /* default, as text */
    const char *help;
};

#define O(f) offsetof(ot_config, f)
static const struct option options[] = {
    {"HOST", "--host", T_STR, O(host), 0, 0, 0, "127.0.0.1", "address to listen on"},
    {"PORT", "--port", T_INT, O(port), 0, 65535, 0, "8000", "TCP port (0 = any free port)"},
    {"LOG_LEVEL", "--log-level", T_LEVEL, O(log_level), 0, 0, 0, "info",
     "debug, info, warning (warn), error or critical"},
    {"DATA_DIR", "--data-dir", T_STR, O(data_dir), 0, 0, 0, "./var",
     "folder for the embedded database and state"},
    {"DATABASE_URL", "--database-url", T_STR, O(database_url), 0, 0, 1, "",
     "postgresql://... for PostgreSQL; empty = SQLite in DATA_DIR"},
    {"REDIS_URL", "--redis-url", T_STR, O(redis_url), 0, 0, 1, "",
     "redis://[[user]:password@]host[:port][/db]; empty = off"},
    {"REDIS_PREFIX", "--redis-prefix", T_STR, O(redis_prefix), 0, 0, 0, "opstwin:",
     "prefix of every Redis key (stream PREFIXevents, hash PREFIXcursors, PREFIXsim:*)"},
    {"REDIS_STREAM", "--redis-stream", T_STR, O(redis_stream), 0, 0, 0, "",
     "key of the event stream; empty = REDIS_PREFIX followed by events"},
    {"REDIS_STREAM_MAXLEN", "--redis-stream-maxlen", T_LONG, O(redis_stream_maxlen), 1,
     1000000000, 0, "100000", "approximate bound of the Redis event stream (MAXLEN ~)"},
    {"REDIS_SIM_TTL", "--redis-sim-ttl", T_INT, O(redis_sim_ttl_s), 1, 31536000, 0, "3600",
     "seconds a seeded simulation result stays cached in Redis"},
    {"KAFKA_BOOTSTRAP_SERVERS", "--kafka-bootstrap-servers", T_STR, O(kafka_bootstrap), 0, 0, 0,
     "", "Kafka brokers (host:port,...) for the event sink; empty = off"},
    {"KAFKA_TOPIC", "--kafka-topic", T_STR, O(kafka_topic), 0, 0, 0, "opstwin.events",
     "topic the event sink produces to (key twin_id)"},
    {"KAFKA_PROPERTIES", "--kafka-properties", T_STR, O(kafka_properties), 0, 0, 1, "",
     "extra librdkafka properties, k=v,k=v (e.g. security.protocol=ssl)"},
    {"KAFKA_FLUSH_TIMEOUT_MS", "--kafka-flush-timeout-ms", T_INT, O(kafka_flush_timeout_ms), 0,
     600000, 0, "10000", "at shutdown, wait this long for Kafka deliveries"},
    {"MQTT_URL", "--mqtt-url", T_STR, O(mqtt_url), 0, 0, 1, "",
     "mqtt://[user:pass@]host:port or mqtts://...; empty = MQTT off"},
    {"MQTT_USERNAME", "--mqtt-username", T_STR, O(mqtt_username), 0, 0, 0, "",
     "MQTT user name (overrides the URL's)"},
    {"MQTT_PASSWORD", "--mqtt-password", T_STR, O(mqtt_password), 0, 0, 1, "",
     "MQTT password (overrides the URL's)"},
    {"MQTT_CLIENT_ID", "--mqtt-client-id", T_STR, O(mqtt_client_id), 0, 0, 0, "",
     "MQTT client id of the persistent session; empty = opstwin-<hash of host and DATA_DIR>"},
    {"MQTT_TOPICS", "--mqtt-topics", T_STR, O(mqtt_topics), 0, 0, 0, "opstwin/telemetry/+/+",
     "telemetry subscriptions, comma-separated (QoS 1)"},
    {"MQTT_SHARE_GROUP", "--mqtt-share-group", T_STR, O(mqtt_share_group), 0, 0, 0, "",
     "subscribe as $share/GROUP/topic so instances split the load; empty = off"},
    {"MQTT_DEADLETTER_TOPIC", "--mqtt-deadletter-topic", T_STR, O(mqtt_deadletter_topic), 0, 0,
     0, "opstwin/deadletter", "where rejected MQTT payloads are republished with the reason"},
    {"MQTT_CA_FILE", "--mqtt-ca-file", T_STR, O(mqtt_ca_file), 0, 0, 0, "",
     "mqtts: CA certificates (PEM); empty = the system's"},
    {"MQTT_CERT_FILE", "--mqtt-cert-file", T_STR, O(mqtt_cert_file), 0, 0, 0, "",
     "mqtts: client certificate (PEM)"},
    {"MQTT_KEY_FILE", "--mqtt-key-file", T_STR, O(mqtt_key_file), 0, 0, 0, "",
     "mqtts: client private key (PEM)"},
    {"MQTT_TLS_INSECURE", "--mqtt-tls-insecure", T_BOOL, O(mqtt_tls_insecure), 0, 1, 0, "false",
     "mqtts: do not check the broker's host name (testing only)"},
    {"MQTT_ACK_TIMEOUT_MS", "--mqtt-ack-timeout-ms", T_INT, O(mqtt_ack_timeout_ms), 1, 3600000,
     0, "5000", "mqtt actions fail without an acknowledgement within this"},
    {"MQTT_MAX_INFLIGHT", "--mqtt-max-inflight", T_INT, O(mqtt_max_inflight), 1, 10000000, 0,
     "20000", "MQTT messages received but not yet committed before reading pauses"},
    {"MQTT_BATCH", "--mqtt-batch", T_INT, O(mqtt_batch), 1, 100000, 0, "2000",
     "MQTT messages per store write (at most)"},
    {"MQTT_ACK_AFTER_COMMIT", "--mqtt-ack-after-commit", T_BOOL, O(mqtt_ack_after_commit), 0, 1,
     0, "true", "PUBACK MQTT messages only once they are committed (no loss on a crash); "
     "false: PUBACK on receipt, a kill -9 can lose up to MQTT_MAX_INFLIGHT"},
    {"JWT_SECRET_KEY", "--jwt-secret-key", T_STR, O(jwt_secret), 0, 0, 1, "",
     "HS256 secret; empty = generated at start"},
    {"JWT_EXPIRE_MINUTES", "--jwt-expire-minutes", T_INT, O(jwt_expire_minutes), 1, 525600, 0,
     "60", "lifetime of minted tokens"},
    {"PUBLIC_READ", "--public-read", T_BOOL, O(public_read), 0, 1, 0, "false",
     "allow reads without a token"},
    {"MAX_SSE_CONNECTIONS", "--max-sse-connections", T_INT, O(max_sse_connections), 1, 1000000,
     0, "1000", "concurrent /subscribe streams"},
    {"MAX_DIFF_PAGE_SIZE", "--max-diff-page-size", T_INT, O(max_diff_page_size), 1, 100000, 0,
     "1000", "largest /diff page"},
    {"HTTP_THREADS", "--threads", T_INT, O(http_threads), 0, 1024, 0, "0",
     "HTTP worker threads (0 = one per core)"},
    {"MAX_BODY_BYTES", "--max-body-bytes", T_LONG, O(max_body_bytes), 1024, 1L << 30, 0,
     "1048576", "largest request body (413 beyond)"},
    {"MAX_CONNECTIONS", "--max-connections", T_INT, O(max_connections), 1, 1000000, 0, "20000",
     "concurrent HTTP connections"},
    {"IDLE_TIMEOUT", "--idle-timeout", T_INT, O(idle_timeout_s), 1, 86400, 0, "60",
     "seconds a connection may stay idle (headers, keep-alive)"},
    {"CORS_ORIGINS", "--cors-origins", T_STR, O(cors_origins), 0, 0, 0, "",
     "allowed origins, comma-separated or *; empty = CORS off"},
    {"INGEST_QUEUE", "--ingest-queue", T_INT, O(ingest_queue), 16, 10000000, 0, "65536",
     "pending telemetry items before 503"},
    {"EVENT_RING", "--event-ring", T_INT, O(event_ring), 1024, 100000000, 0, "65536",
     "recent events served from memory"},
    {"RETENTION_DAYS", "--retention-days", T_LONG, O(retention_days), 0, 36500, 0, "0",
     "drop telemetry and events older than this (0 = keep)"},
    {"PROPOSAL_TTL_SECONDS", "--proposal-ttl", T_INT, O(proposal_ttl_s), 1, 31536000, 0,
     "86400", "pending proposals expire after this"},
};
#define NOPTIONS (sizeof options / sizeof options[0])

/* Parse text into the option's field; errors say what is allowed. */
static int apply(ot_config *cfg, const struct option *o, const char *val, const char *src,
                 ot_error *err)
{
    char *field = (char *)cfg + o->off;
    switch (o->type) {
    case T_STR:
        if (strlen(val) >= OT_CFG_STR)
            return ot_error_set(err, OT_EINVAL, o->env, "%s %s: value longer than %d characters",
                                src, o->env, OT_CFG_STR - 1);
        strcpy(field, val);
        return 0;
    case T_INT:
    case T_LONG: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < o->min || v > o->max)
            return ot_error_set(err, OT_EINVAL, o->env,
                                "%s %s: '%s' is not an integer from %ld to %ld", src, o->env,
                                val, o->min, o->max);
        if (o->type == T_INT)
            *(int *)(void *)field = (int)v;
        else
            *(long *)(void *)field = v;
        return 0;
    }
    case T_BOOL: {
        static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(val, yes[i]) == 0) {
                *(int *)(void *)field = 1;
                return 0;
            }
            if (strcasecmp(val, no[i]) == 0) {
                *(int *)(void *)field = 0;
                return 0;
            }
        }
        return ot_error_set(err, OT_EINVAL, o->env, "%s %s: '%s' is not one of true, false", src,
                            o->env, val);
    }
    case T_LEVEL: {
        int l = ot_log_level_parse(val);
        if (l < 0)
            return ot_error_set(err, OT_EINVAL, o->env,
                                "%s %s: '%s' is not one of debug, info, warning, warn, error, "
                                "critical",
                                src, o->env, val);
        *(int *)(void *)field = l;
        return 0;
    }
    }
    return ot_error_set(err, OT_EINTERNAL, o->env, "bad option type");
}

void ot_config_defaults(ot_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTIONS; i++) {
        int rc = apply(cfg, &options[i], options[i].def, "default", NULL);
        (void)rc; /* defaults are tested to parse */
    }
}

static const struct option *by_env(const char *name)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcmp(options[i].env, name) == 0)
            return &options[i];
    return NULL;
}

int ot_config_load_env(ot_config *cfg, ot_error *err)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const char *v = getenv(options[i].env);
        if (v) {
            int rc = apply(cfg, &options[i], v, "environment", err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int ot_config_load_dotenv(ot_config *cfg, const char *path, ot_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[2048], src[64];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        if (strncmp(s, "export ", 7) == 0)
            s = trim(s + 7);
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = ot_error_set(err, OT_EINVAL, NULL, "%s line %d: expected KEY=VALUE", path, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        size_t n = strlen(val);
        if (n >= 2 && (val[0] == '"' || val[0] == '\'') && val[n - 1] == val[0]) {
            val[n - 1] = '\0';
            val++;
        } else {
            char *hash = strstr(val, " #"); /* trailing comment on an unquoted value */
            if (hash)
                *hash = '\0', val = trim(val);
        }
        const struct option *o = by_env(key);
        if (!o || getenv(key))
            continue;
        snprintf(src, sizeof src, ".env line %d:", lineno);
        rc = apply(cfg, o, val, src, err);
        if (rc)
            break;
    }
    fclose(f);
    return rc;
}

int ot_config_load_args(ot_config *cfg, int argc, char **argv, const char *const *extra_flags,
                        int *rest, int *nrest, ot_error *err)
{
    *nrest = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || strcmp(a, "--") == 0) {
            rest[(*nrest)++] = i;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t namelen = eq ? (size_t)(eq - a) : strlen(a);
        const struct option *o = NULL;
        for (size_t k = 0; k < NOPTIONS; k++)
            if (strlen(options[k].flag) == namelen && strncmp(options[k].flag, a, namelen) == 0)
                o = &options[k];
        if (!o) {
            int extra = 0;
            for (const char *const *x = extra_flags; x && *x; x++)
                if (strlen(*x) == namelen && strncmp(*x, a, namelen) == 0)
                    extra = 1;
            if (extra) {
                rest[(*nrest)++] = i;
                continue;
            }
            return ot_error_set(err, OT_EINVAL, NULL, "unknown option '%.*s'", (int)namelen, a);
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else if (o->type == T_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
            val = "true"; /* a bare boolean flag switches it on */
        } else {
            if (i + 1 >= argc)
                return ot_error_set(err, OT_EINVAL, NULL, "option %s needs a value", o->flag);
            val = argv[++i];
        }
        int rc = apply(cfg, o, val, "option", err);
        if (rc) {
            /* name the flag rather than the environment variable */
            char msg[OT_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err ? err->message : "");
            char *p = strstr(msg, o->env);
            if (err && p)
                ot_error_set(err, rc, o->flag, "option %s%s", o->flag, p + strlen(o->env));
            return rc;
        }
    }
    return 0;
}

int ot_config_load(ot_config *cfg, int argc, char **argv, const char *const *extra_flags,
                   int *rest, int *nrest, ot_error *err)
{
    ot_config_defaults(cfg);
    int rc = ot_config_load_dotenv(cfg, ".env", err);
    if (!rc)
        rc = ot_config_load_env(cfg, err);
    if (!rc)
        rc = ot_config_load_args(cfg, argc, argv, extra_flags, rest, nrest, err);
    return rc;
}

static void format_value(const ot_config *cfg, const struct option *o, char *buf, size_t n)
{
    const char *field = (const char *)cfg + o->off;
    switch (o->type) {
    case T_STR:
        if (o->secret && *field) {
            /* URLs keep scheme and host but lose credentials; keys are hidden. */
            const char *at = strrchr(field, '@'), *scheme = strstr(field, "://");
            if (at && scheme)
                snprintf(buf, n, "%.*s://***@%s", (int)(scheme - field), field, at + 1);
            else if (scheme)
                snprintf(buf, n, "%s", field);
            else
                snprintf(buf, n, "***");
        } else {
            snprintf(buf, n, "%s", field);
        }
        break;
    case T_INT: snprintf(buf, n, "%d", *(const int *)(const void *)field); break;
    case T_LONG: snprintf(buf, n, "%ld", *(const long *)(const void *)field); break;
    case T_BOOL: snprintf(buf, n, "%s", *(const int *)(const void *)field ? "true" : "false"); break;
    case T_LEVEL: snprintf(buf, n, "%s", ot_log_level_name(*(const int *)(const void *)field)); break;
    }
}

void ot_config_print(const ot_config *cfg, FILE *out)
{
    char v[OT_CFG_STR + 32];
    for (size_t i = 0; i < NOPTIONS; i++) {
        format_value(cfg, &options[i], v, sizeof v);
        fprintf(out, "%s=%s\n", options[i].env, v);
    }
}

void ot_config_print_help(FILE *out)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option *o = &options[i];
        char flag[64];
        snprintf(flag, sizeof flag, "%s %s", o->flag, o->type == T_BOOL ? "[BOOL]" : "VALUE");
        fprintf(out, "  %-32s %s (env %s, default %s)\n", flag, o->help, o->env,
                *o->def ? o->def : "empty");
    }
}
