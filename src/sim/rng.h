/* rng.h - reproducible random streams for the Monte Carlo engine.
 *
 * Contract: a stream is a xoshiro256++ generator whose state is derived by
 * SplitMix64 from the triple (seed, block, site): `seed` is the run's seed,
 * `block` the index of a block of OT_SIM_LANES samples, `site` the random
 * source (a model parameter or one normal()/uniform() call in a KPI).
 * Because a stream depends only on that triple -- never on the thread that
 * evaluates the block, nor on what other sites drew -- results with a seed
 * are bit-identical whatever the thread count, and a what-if scenario that
 * replays the same (seed, block, site) sees the same draws (common random
 * numbers).
 *
 * Thread-safety: an ot_rng is plain state owned by one thread at a time;
 * the functions keep no global state.
 */
#ifndef OT_SIM_RNG_H
#define OT_SIM_RNG_H

#include <stdint.h>

typedef struct ot_rng {
    uint64_t s[4];
} ot_rng;

/* Seed r with the stream for (seed, block, site). */
void ot_rng_seed(ot_rng *r, uint64_t seed, uint64_t block, uint64_t site);

/* A fresh seed from the OS entropy pool, below 2^53 so that it survives a
 * round trip through JSON numbers in any client (JavaScript included). */
uint64_t ot_rng_random_seed(void);

static inline uint64_t ot_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* Next 64 random bits (xoshiro256++, Blackman & Vigna 2019). */
static inline uint64_t ot_rng_next(ot_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = ot_rng_rotl(s[0] + s[3], 23) + s[0];
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ot_rng_rotl(s[3], 45);
    return out;
}

/* Uniform double in the open interval (0, 1): 52 random bits plus half a
 * step, so neither 0 (log(0) in the samplers) nor 1 can come out. */
static inline double ot_rng_uniform(ot_rng *r)
{
    return ((double)(ot_rng_next(r) >> 12) + 0.5) * 0x1.0p-52;
}

#endif
