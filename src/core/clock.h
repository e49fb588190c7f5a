/* clock.h - wall and monotonic time, RFC 3339 formatting and parsing.
 *
 * OpsTwin's timestamps are int64 microseconds since the Unix epoch (UTC).
 * The API renders them as RFC 3339 with microseconds: 2026-01-04T12:34:56.123456Z.
 * All functions are reentrant.
 */
#ifndef OT_CORE_CLOCK_H
#define OT_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define OT_TS_BUFSZ 32 /* enough for "YYYY-MM-DDTHH:MM:SS.ffffffZ" + NUL */

/* Microseconds since the epoch, wall clock. */
int64_t ot_now_us(void);

/* Monotonic nanoseconds, for measuring durations only. */
int64_t ot_mono_ns(void);

/* Format us as RFC 3339 UTC with 6 fractional digits. buf >= OT_TS_BUFSZ.
 * Returns buf. */
char *ot_ts_format(int64_t us, char *buf);

/* Parse an RFC 3339 date-time (any offset, optional fraction up to 9
 * digits; 'T' or ' ' separator; "Z"/"z" or +hh:mm) or "YYYY-MM-DD HH:MM:SS"
 * (UTC). Validates ranges, leap years and leap seconds (:60 accepted only as
 * RFC 3339 allows, folded into the next second). Returns 0 and *us, or -1. */
int ot_ts_parse(const char *s, int64_t *us);

/* Days since epoch for a civil date (proleptic Gregorian). */
int64_t ot_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
