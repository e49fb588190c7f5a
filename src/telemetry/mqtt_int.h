/* mqtt_int.h - the MQTT adapter's state, shared by mqtt_adapter.c (the
 * connection, the network thread, life, commands, health and metrics) and
 * mqtt_inbound.c (received messages: parsing, batches to the store, the
 * flusher thread, dead letters); internal to src/telemetry/.
 *
 * Ownership: as marked on each field: the network thread's, the flusher's,
 * or under mu or bmu; the counters are atomic.
 */
#ifndef OT_TELEMETRY_MQTT_INT_H
#define OT_TELEMETRY_MQTT_INT_H

#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "api/app.h"
#include "core/error.h"
#include "telemetry/ingest.h"
#include "telemetry/mqtt_adapter.h"
#include "telemetry/names.h"

#define ACK_PREFIX "opstwin/ack/"
#define MAX_TOPICS 16

struct waiter {
    char action_id[OT_TEL_ID_MAX];
    int done;
    char *payload;                /* the ack, NUL-terminated (owned) */
    struct waiter *next;
};

/* One batch on its way to the store. */
struct flight {
    ot_mqtt *m;
    ot_ingest_batch *b;
    size_t n;
    ot_store_audit audit;
    char target[64];
};

struct ot_mqtt {
    ot_app *app;
    struct mosquitto *mosq;
    ot_mqtt_url url;
    char client_id[OT_TEL_ID_MAX];
    char subs[MAX_TOPICS][OT_CFG_STR + 32];
    int nsubs;
    int sub_mid[MAX_TOPICS + 1];  /* network thread: SUBSCRIBEs not yet acknowledged */
    int sub_waiting, sub_refused;
    int started, lib_inited;
    pthread_t net;                /* the network thread (net_main) */
    int wake_fd;                  /* eventfd: wakes the network thread's poll (mqtt_wake_net) */

    pthread_mutex_t mu;           /* everything below, and the waiters */
    pthread_cond_t cv;            /* connection, held, waiters */
    int connected, stopping;      /* connected: and every subscription acknowledged */
    int64_t since_us;             /* connected or disconnected since */
    char last_error[256];
    long held;                    /* received, not yet completed */
    struct waiter *waiters;
    int64_t malformed_logged_us;
    unsigned long malformed_unlogged;  /* rejected since the last log line */
    char malformed_topic[256], malformed_reason[OT_ERROR_MSG_MAX + OT_ERROR_PATH_MAX + 16];

    /* the batch being filled (network thread) and taken (flusher) */
    pthread_mutex_t bmu;
    pthread_cond_t bcv;
    ot_ingest_batch *cur;
    int64_t cur_started_us;
    int flush_now, flusher_stop;
    pthread_t flusher;
    int flusher_started;

    atomic_ulong received, stored, duplicates, malformed, deadlettered, store_failed;
    atomic_ulong connects, commands, acks_ok, acks_failed, ack_timeouts;
};

/* Wake the network thread: a packet was queued from another thread (its
 * poll does not watch libmosquitto's internal socket pair). mqtt_adapter.c. */
void mqtt_wake_net(ot_mqtt *m);

/* libmosquitto's message callback (ud: the adapter), on the network
 * thread; and the flusher thread's main (arg: the adapter), which hands
 * batches to the store after LINGER_US or when full. mqtt_inbound.c. */
void mqtt_on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *msg);
void *mqtt_flusher_main(void *arg);

#endif
