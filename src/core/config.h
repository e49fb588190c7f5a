/* config.h - the server's configuration, from four layers.
 *
 * Precedence, highest first: command-line flags, process environment, a
 * `.env` file in the working directory, built-in defaults. Environment names
 * are the seed prototype's (HOST, PORT, LOG_LEVEL, DATABASE_URL, REDIS_URL,
 * KAFKA_BOOTSTRAP_SERVERS, JWT_SECRET_KEY, JWT_EXPIRE_MINUTES,
 * MAX_SSE_CONNECTIONS, MAX_DIFF_PAGE_SIZE, MQTT_URL) plus OpsTwin's own.
 *
 * One option table (config.c) drives every layer, --help, --print-config and
 * the README's configuration table, so they cannot disagree.
 *
 * An ot_config is a plain value: fixed-size fields, no heap, copyable.
 * Functions are reentrant; a loaded config is read-only afterwards.
 */
#ifndef OT_CORE_CONFIG_H
#define OT_CORE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

#define OT_CFG_STR 512

typedef struct ot_config {
    char host[OT_CFG_STR];
    int port;
    int log_level;                  /* enum ot_log_level */
    char data_dir[OT_CFG_STR];
    char database_url[OT_CFG_STR];  /* "" = SQLite in data_dir */
    char redis_url[OT_CFG_STR];     /* "" = no Redis */
    char redis_prefix[OT_CFG_STR];  /* key prefix, "opstwin:" */
    char redis_stream[OT_CFG_STR];  /* "" = redis_prefix + "events" */
    long redis_stream_maxlen;       /* MAXLEN ~ of the event stream */
    int redis_sim_ttl_s;            /* TTL of cached simulation results */
    char kafka_bootstrap[OT_CFG_STR];  /* "" = no Kafka sink */
    char kafka_topic[OT_CFG_STR];
    char kafka_properties[OT_CFG_STR]; /* "k=v,k=v" passed to librdkafka */
    int kafka_flush_timeout_ms;
    char mqtt_url[OT_CFG_STR];      /* "" = no MQTT adapter */
    char mqtt_username[OT_CFG_STR];
    char mqtt_password[OT_CFG_STR];
    char mqtt_client_id[OT_CFG_STR];  /* "" = opstwin-<hash of host and DATA_DIR> */
    char mqtt_topics[OT_CFG_STR];     /* comma-separated subscriptions */
    char mqtt_share_group[OT_CFG_STR];/* "" = plain subscriptions */
    char mqtt_deadletter_topic[OT_CFG_STR];
    char mqtt_ca_file[OT_CFG_STR];
    char mqtt_cert_file[OT_CFG_STR];
    char mqtt_key_file[OT_CFG_STR];
    int mqtt_tls_insecure;
    int mqtt_ack_timeout_ms;
    int mqtt_max_inflight;            /* received, not yet committed */
    int mqtt_batch;                   /* messages per store write */
    int mqtt_ack_after_commit;        /* 1: PUBACK only after the commit */
    char jwt_secret[OT_CFG_STR];    /* "" = generated at start */
    int jwt_expire_minutes;
    int public_read;                /* 1: reads need no token */
    int max_sse_connections;
    int max_diff_page_size;
    int http_threads;               /* 0 = number of cores */
    long max_body_bytes;
    int max_connections;
    int idle_timeout_s;
    char cors_origins[OT_CFG_STR];  /* "" = CORS off; "*" or a comma list */
    int ingest_queue;               /* bounded ingest queue length */
    int event_ring;                 /* events kept in memory for readers */
    long retention_days;            /* 0 = keep forever */
    int proposal_ttl_s;
} ot_config;

/* Fill cfg with built-in defaults. */
void ot_config_defaults(ot_config *cfg);

/* Apply KEY=VALUE lines of a .env file (comments, blank lines, optional
 * `export`, single or double quotes). Keys already set in the process
 * environment are skipped: the environment wins. A missing file is not an
 * error. Unknown keys are ignored (a .env may serve other tools too). */
int ot_config_load_dotenv(ot_config *cfg, const char *path, ot_error *err);

/* Apply the process environment. */
int ot_config_load_env(ot_config *cfg, ot_error *err);

/* Apply command-line flags (argv[0] is the subcommand name). Flags take
 * `--name value` or `--name=value`. Arguments that are not config options
 * are left to the caller: their indexes are stored in rest[] (*nrest).
 * Unknown `--flags` are errors unless passed through `extra_flags`
 * (a NULL-terminated list of flag names the caller handles, e.g.
 * "--print-config"), in which case they go to rest[] too. */
int ot_config_load_args(ot_config *cfg, int argc, char **argv, const char *const *extra_flags,
                        int *rest, int *nrest, ot_error *err);

/* All layers in order: defaults, .env (in the cwd), environment, flags. */
int ot_config_load(ot_config *cfg, int argc, char **argv, const char *const *extra_flags,
                   int *rest, int *nrest, ot_error *err);

/* Print the effective configuration as KEY=VALUE lines, secrets masked. */
void ot_config_print(const ot_config *cfg, FILE *out);

/* Print the options (flag, env name, default, description) for --help. */
void ot_config_print_help(FILE *out);

#endif
