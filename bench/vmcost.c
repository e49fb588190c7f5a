/* vmcost.c - what this machine charges for the two things every durable
 * request needs besides its own work: an fdatasync of a small append, and
 * handing work to a thread that sleeps (a wake-up on another CPU). On a
 * virtual machine both can cost far more CPU than on bare metal, and both
 * the floor (bench/http_floor.c) and OpsTwin pay them per group commit and
 * per hand-off; bench/RESULTS.md cites the figures.
 *
 *   vmcost DIR [syncs=2000] [round_trips=100000]
 *
 * 1. For appends of 512 B to 512 KiB: pwrite then fdatasync, `syncs` times
 *    on DIR/vmcost.dat (removed after), printing wall time and the
 *    process's CPU time (user + system, getrusage) per sync.
 * 2. Two threads passing a token back and forth through two eventfds,
 *    `round_trips` times, each blocking in read(2) between turns: wall and
 *    CPU time per round trip (two wake-ups and four system calls), first
 *    free to run on any CPU, then both pinned to CPU 0 (no cross-CPU
 *    wake-up).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int sync_costs(const char *dir, int iters)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/vmcost.dat", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    static const size_t sizes[] = {512, 4096, 16384, 49152, 131072, 524288};
    char *buf = malloc(sizes[sizeof sizes / sizeof sizes[0] - 1]);
    if (!buf) {
        close(fd);
        return 1;
    }
    memset(buf, 'x', sizes[sizeof sizes / sizeof sizes[0] - 1]);
    int rc = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0] && !rc; k++) {
        off_t off = 0;
        double w0 = now_us(), c0 = cpu_us();
        for (int i = 0; i < iters; i++) {
            if (pwrite(fd, buf, sizes[k], off) != (ssize_t)sizes[k] || fdatasync(fd) != 0) {
                perror("pwrite/fdatasync");
                rc = 1;
                break;
            }
            off = off + (off_t)sizes[k] > (64 << 20) ? 0 : off + (off_t)sizes[k];
        }
        double w = now_us() - w0, c = cpu_us() - c0;
        printf("append %7zu B + fdatasync: %6.0f us wall, %5.0f us CPU per sync\n", sizes[k],
               w / iters, c / iters);
    }
    free(buf);
    close(fd);
    unlink(path);
    return rc;
}

static int efd_a, efd_b, rounds;

static void pass(int from, int to)
{
    uint64_t v;
    if (read(from, &v, sizeof v) != sizeof v)
        abort();
    v = 1;
    if (write(to, &v, sizeof v) != sizeof v)
        abort();
}

static void *partner(void *arg)
{
    if (arg) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(0, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    for (int i = 0; i < rounds; i++)
        pass(efd_a, efd_b);
    return NULL;
}

static int wake_costs(int pinned)
{
    if (pinned) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(0, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    pthread_t t;
    if (pthread_create(&t, NULL, partner, pinned ? &t : NULL))
        return 1;
    double w0 = now_us(), c0 = cpu_us();
    uint64_t v = 1;
    for (int i = 0; i < rounds; i++) {
        if (write(efd_a, &v, sizeof v) != sizeof v || read(efd_b, &v, sizeof v) != sizeof v)
            abort();
    }
    double w = now_us() - w0;
    pthread_join(t, NULL);
    double c = cpu_us() - c0;
    printf("eventfd round trip (%s): %5.1f us wall, %5.1f us CPU (2 wake-ups, 4 system calls)\n",
           pinned ? "both on CPU 0" : "any CPU", w / rounds, c / rounds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vmcost DIR [syncs] [round_trips]\n");
        return 2;
    }
    int syncs = argc > 2 ? atoi(argv[2]) : 2000;
    rounds = argc > 3 ? atoi(argv[3]) : 100000;
    if (syncs <= 0 || rounds <= 0) {
        fprintf(stderr, "vmcost: syncs and round_trips must be positive\n");
        return 2;
    }
    efd_a = eventfd(0, EFD_CLOEXEC);
    efd_b = eventfd(0, EFD_CLOEXEC);
    if (efd_a < 0 || efd_b < 0) {
        perror("eventfd");
        return 1;
    }
    int rc = sync_costs(argv[1], syncs);
    if (!rc)
        rc = wake_costs(0) || wake_costs(1);
    return rc;
}
