/* rng.c - see rng.h. */
#include "sim/rng.h"

#include <sys/random.h>
#include <time.h>

/* SplitMix64 step: the seeding generator recommended for xoshiro; it turns
 * nearby inputs (block 7, block 8) into unrelated states. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ot_rng_seed(ot_rng *r, uint64_t seed, uint64_t block, uint64_t site)
{
    /* Chain the three keys through the mixer so that (seed, block, site)
     * and any permutation of it give different streams. */
    uint64_t x = seed;
    uint64_t k = splitmix64(&x);
    x = k ^ block;
    k = splitmix64(&x);
    x = k ^ (site * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    /* All-zero state is the one fixed point of xoshiro; unreachable from
     * SplitMix64 in practice, but cheap to rule out. */
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1;
}

uint64_t ot_rng_random_seed(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
        v = splitmix64(&x);
    }
    return v & ((1ULL << 53) - 1);
}
