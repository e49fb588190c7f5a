/* kafka_mock.c - librdkafka's built-in mock Kafka cluster as a process, for
 * the benchmark rows: `kafka_mock [BROKERS] [TOPIC] [PARTITIONS]` prints the
 * bootstrap servers on one line and serves until SIGTERM/SIGINT. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int brokers = argc > 1 ? atoi(argv[1]) : 1, parts = argc > 3 ? atoi(argv[3]) : 4;
    const char *topic = argc > 2 ? argv[2] : "opstwin.events";
    char es[512], n[16];
    snprintf(n, sizeof n, "%d", brokers);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before librdkafka's threads start */
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (rd_kafka_conf_set(c, "test.mock.num.brokers", n, es, sizeof es) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_mock: %s\n", es);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, es, sizeof es);
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", es);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    rd_kafka_mock_topic_create(mc, topic, parts, brokers);
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    rd_kafka_destroy(rk);
    return 0;
}
