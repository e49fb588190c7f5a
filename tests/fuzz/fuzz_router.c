/* fuzz_router.c - libFuzzer target: the router's path splitting, matching
 * and path-parameter binding against the real route table. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"};
    if (size < 1)
        return 0;
    const char *method = methods[data[0] % 6];
    char *path = malloc(size);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    ot_req req;
    memset(&req, 0, sizeof req);
    req.path_copy = path;
    const struct ot_route *r;
    char allow[128];
    enum ot_match m = ot_router_match(ot_routes, ot_routes_count, method, &req, &r, allow,
                                      sizeof allow);
    if (m == OT_MATCH_OK) {
        if (!r)
            abort();
        for (int i = 0; i < req.nparams; i++)
            if (!req.param_values[i] || !req.param_values[i][0] || strchr(req.param_values[i], '/'))
                abort(); /* a parameter is one non-empty segment */
    } else if (r) {
        abort();
    }
    free(path);
    return 0;
}
