/* test_env.h - the test services' environment, shared by the unit and
 * black-box suites.
 *
 * scripts/services.sh starts PostgreSQL, Redis and Mosquitto for `make
 * test` and exports where they are (OPSTWIN_TEST_PG_URL, OPSTWIN_TEST_PG_BIN,
 * OPSTWIN_TEST_REDIS_URL, OPSTWIN_TEST_MQTT_URL). A test that needs one and
 * does not find it fails, or is skipped when OPSTWIN_TEST_ALLOW_MISSING=1.
 * Header-only: Criterion's skip and fail must run in the test itself.
 */
#ifndef OT_TESTS_TEST_ENV_H
#define OT_TESTS_TEST_ENV_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* The variable's value; unset or empty fails (or skips) the calling test. */
static inline const char *ot_test_service(const char *name)
{
    const char *v = getenv(name);
    if (v && *v)
        return v;
    const char *allow = getenv("OPSTWIN_TEST_ALLOW_MISSING");
    if (allow && strcmp(allow, "1") == 0)
        cr_skip_test("%s is not set (allowed by OPSTWIN_TEST_ALLOW_MISSING)", name);
    cr_assert_fail("%s is not set: run through `make test`, or start the services "
                   "(. scripts/services.sh; services_start DIR)", name);
    return NULL;
}

#endif
