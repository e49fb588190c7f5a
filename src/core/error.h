/* error.h - the one error model of OpsTwin.
 *
 * Every fallible function returns 0 on success or a negative OT_E* code, and
 * fills an ot_error (when the caller passes one) with a message a user can act
 * on and, where it applies, the JSON path of the offending field ("$.ts").
 *
 * The HTTP layer maps codes to statuses in one place (ot_error_http_status);
 * the stable, machine-readable names (ot_error_code_name) are what clients see
 * in {"error":{"code":...}}.
 *
 * Thread-safety: all functions are reentrant; an ot_error is owned by its
 * caller (usually on the stack).
 */
#ifndef OT_CORE_ERROR_H
#define OT_CORE_ERROR_H

#include <stddef.h>

enum ot_errcode {
    OT_OK = 0,
    OT_EINVAL = -1,       /* bad input: validation_failed, 400 */
    OT_ENOTFOUND = -2,    /* not_found, 404 */
    OT_ECONFLICT = -3,    /* conflict, 409 */
    OT_EUNAUTH = -4,      /* unauthorized, 401 */
    OT_EFORBIDDEN = -5,   /* forbidden, 403 */
    OT_EBUSY = -6,        /* overloaded (queue full), 503 + Retry-After */
    OT_EUNAVAIL = -7,     /* a dependency is down, 503 */
    OT_EGONE = -8,        /* gone (e.g. cursor older than retention), 410 */
    OT_ETOOLARGE = -9,    /* payload_too_large, 413 */
    OT_ENOMEM = -10,      /* out of memory, 500 */
    OT_EIO = -11,         /* storage or OS failure, 500 */
    OT_EINTERNAL = -12,   /* a bug: internal_error, 500 */
    OT_ETIMEOUT = -13,    /* deadline passed, 504 */
    OT_ECANCELED = -14,   /* cancelled by request, 409 */
    OT_EMETHOD = -15,     /* method_not_allowed, 405 */
    OT_EUNSUPPORTED = -16 /* unsupported_media_type, 415 */
};

#define OT_ERROR_MSG_MAX 512
#define OT_ERROR_PATH_MAX 256

typedef struct ot_error {
    int code;                       /* an enum ot_errcode value */
    char message[OT_ERROR_MSG_MAX]; /* human text, what to do about it */
    char path[OT_ERROR_PATH_MAX];   /* JSON path of the field, or "" */
} ot_error;

/* Clear an error to OT_OK. Accepts NULL. */
void ot_error_clear(ot_error *err);

/* Fill err (may be NULL) and return code, so callers can write
 * `return ot_error_set(err, OT_EINVAL, "$.ts", "ts: %s", why);`.
 * path may be NULL. */
int ot_error_set(ot_error *err, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Stable snake_case name of a code ("validation_failed"). Never NULL. */
const char *ot_error_code_name(int code);

/* Short human description of a code ("invalid input"). Never NULL. */
const char *ot_strerror(int code);

/* HTTP status for a code (400, 404, ...). OT_OK maps to 200. */
int ot_error_http_status(int code);

#endif
