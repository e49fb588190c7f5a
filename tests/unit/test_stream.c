/* The stream hub's keyed wakes: which streams a commit's keys select. No
 * HTTP here: streams that were never suspended only note the wake, and the
 * predicate's calls show which streams were considered. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "api/stream.h"

struct sub {
    const char *name;
    int asked;  /* times pred was called for it */
    int freed;
};

static ssize_t no_peek(void *ctx, const char **data, int closing)
{
    (void)ctx, (void)data, (void)closing;
    return 0;
}

static void no_consume(void *ctx, size_t n) { (void)ctx, (void)n; }

static void mark_freed(void *ctx) { ((struct sub *)ctx)->freed++; }

static const ot_stream_ops ops = {no_peek, no_consume, mark_freed};

static int count_pred(void *ctx, void *arg)
{
    (void)arg;
    ((struct sub *)ctx)->asked++;
    return 1;
}

static const char *key_of(void *arg, size_t i) { return ((const char **)arg)[i]; }

Test(stream, keyed_wakes_consider_only_matching_and_unkeyed_streams_once)
{
    ot_streams *h = ot_streams_new(60000);
    cr_assert_not_null(h);
    struct sub all = {.name = "all"}, a1 = {.name = "a1"}, a2 = {.name = "a2"}, b = {.name = "b"};
    ot_stream *s_all = ot_stream_new(h, NULL, &ops, &all);
    ot_stream *s_a1 = ot_stream_new(h, "twin-a", &ops, &a1);
    ot_stream *s_a2 = ot_stream_new(h, "twin-a", &ops, &a2);
    ot_stream *s_b = ot_stream_new(h, "twin-b", &ops, &b);
    cr_assert(s_all && s_a1 && s_a2 && s_b);
    cr_assert_eq(ot_streams_count(h), 4);

    /* a commit of twin-a events, repeated and interleaved with an unknown twin */
    const char *keys1[] = {"twin-a", "twin-a", "twin-c", "twin-a"};
    ot_streams_wake_keyed(h, 4, key_of, count_pred, keys1);
    cr_assert_eq(all.asked, 1);
    cr_assert_eq(a1.asked, 1, "once per wake, however often its key comes");
    cr_assert_eq(a2.asked, 1);
    cr_assert_eq(b.asked, 0, "another twin's stream is not even considered");

    const char *keys2[] = {"twin-b"};
    ot_streams_wake_keyed(h, 1, key_of, count_pred, keys2);
    cr_assert_eq(all.asked, 2);
    cr_assert_eq(a1.asked + a2.asked, 2);
    cr_assert_eq(b.asked, 1);

    /* no keys: only the unkeyed streams */
    ot_streams_wake_keyed(h, 0, key_of, count_pred, NULL);
    cr_assert_eq(all.asked, 3);
    cr_assert_eq(a1.asked + a2.asked + b.asked, 3);

    /* wake_if still reaches every stream (heartbeats) */
    ot_streams_wake_if(h, count_pred, NULL);
    cr_assert_eq(all.asked + a1.asked + a2.asked + b.asked, 10);

    /* a released stream is gone from its key; the key's list goes with its
     * last stream and comes back with a new one */
    ot_stream_release(s_a1);
    cr_assert_eq(a1.freed, 1);
    ot_streams_wake_keyed(h, 1, key_of, count_pred, keys1);
    cr_assert_eq(a1.asked, 2);
    cr_assert_eq(a2.asked, 3);
    ot_stream_release(s_a2);
    ot_streams_wake_keyed(h, 1, key_of, count_pred, keys1);
    cr_assert_eq(a2.asked, 3);
    struct sub a3 = {.name = "a3"};
    ot_stream *s_a3 = ot_stream_new(h, "twin-a", &ops, &a3);
    ot_streams_wake_keyed(h, 1, key_of, count_pred, keys1);
    cr_assert_eq(a3.asked, 1);

    ot_stream_release(s_a3);
    ot_stream_release(s_b);
    ot_stream_release(s_all);
    cr_assert_eq(ot_streams_count(h), 0);
    cr_assert_eq(all.freed + b.freed + a2.freed + a3.freed, 4);
    ot_streams_free(h);
}

/* A walk over every stream (the heartbeat's wake_if) holds the hub lock for a
 * slice of streams at a time: a commit's keyed wake gets in while it runs
 * (before, it waited for the whole walk: tens of milliseconds at ten
 * thousand streams). Streams added and released during the walk are
 * handled: those there all along are visited exactly once. */
#define WALK_N 1000
static struct sub walk_subs[WALK_N];
static int walk_visited, walk_midway, walk_done;
static ot_streams *walk_hub;

static int slow_pred(void *ctx, void *arg)
{
    (void)arg;
    ((struct sub *)ctx)->asked++;
    walk_visited++; /* under the hub lock */
    usleep(20);
    return 1;
}

static int peek_pred(void *ctx, void *arg)
{
    (void)ctx;
    int *seen = arg;
    if (*seen < 0)
        *seen = walk_visited; /* under the hub lock */
    return 0;
}

static void *meddle(void *arg)
{
    (void)arg;
    struct sub extra[50];
    ot_stream *made[50];
    memset(extra, 0, sizeof extra);
    while (__atomic_load_n(&walk_visited, __ATOMIC_RELAXED) == 0)
        usleep(100);
    int n = 0;
    while (!__atomic_load_n(&walk_done, __ATOMIC_ACQUIRE)) {
        int seen = -1;
        ot_streams_wake_keyed(walk_hub, 0, key_of, peek_pred, &seen);
        if (seen > 0 && seen < WALK_N)
            walk_midway++;
        if (n < 50) {
            made[n] = ot_stream_new(walk_hub, NULL, &ops, &extra[n]);
            n++;
        }
        usleep(200);
    }
    for (int i = 0; i < n; i++)
        ot_stream_release(made[i]);
    return NULL;
}

Test(stream, walks_over_all_streams_let_commits_in_and_survive_changes)
{
    walk_hub = ot_streams_new(60000);
    cr_assert_not_null(walk_hub);
    ot_stream *st[WALK_N];
    for (int i = 0; i < WALK_N; i++)
        cr_assert_not_null(st[i] = ot_stream_new(walk_hub, NULL, &ops, &walk_subs[i]));
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, meddle, NULL), 0);
    ot_streams_wake_if(walk_hub, slow_pred, NULL);
    __atomic_store_n(&walk_done, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    for (int i = 0; i < WALK_N; i++)
        cr_assert_eq(walk_subs[i].asked, 1, "stream %d visited %d times", i, walk_subs[i].asked);
    cr_assert_gt(walk_midway, 0, "a keyed wake got the hub lock in the middle of the walk");
    cr_assert_eq(ot_streams_count(walk_hub), WALK_N);
    for (int i = 0; i < WALK_N; i++)
        ot_stream_release(st[i]);
    ot_streams_free(walk_hub);
}
