/* router.c - see router.h. */
#include "api/router.h"

#include <stdio.h>
#include <string.h>

int ot_route_index(const struct ot_route *r)
{
    if (r < ot_routes || r >= ot_routes + ot_routes_count)
        return -1;
    return (int)(r - ot_routes);
}

/* Split a path into segments in place. "/a/b/" -> {"a","b"}; "/" -> {}.
 * Empty segments ("//") are kept as "" so they never match a parameter.
 * Returns the count, or -1 if there are too many. */
static int split(char *path, char **segs)
{
    int n = 0;
    char *p = path;
    if (*p == '/')
        p++;
    if (*p == '\0')
        return 0;
    for (;;) {
        if (n == OT_ROUTER_MAX_SEGMENTS)
            return -1;
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
        if (*p == '\0') /* trailing slash: ignore */
            break;
    }
    return n;
}

/* Score a pattern against segments: -1 no match, else the number of
 * literal segments (more literals = more specific). */
static int match_pattern(const char *pattern, char **segs, int nseg)
{
    const char *p = pattern;
    int i = 0, literals = 0;
    if (*p == '/')
        p++;
    /* most patterns differ from the path in their first character: the
     * table is scanned for every request */
    if (nseg > 0 && *p != '{' && *p != segs[0][0])
        return -1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (i >= nseg)
            return -1;
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            if (segs[i][0] == '\0')
                return -1;
        } else {
            if (strlen(segs[i]) != len || memcmp(segs[i], p, len) != 0)
                return -1;
            literals++;
        }
        i++;
        p += len;
        if (*p == '/')
            p++;
    }
    return i == nseg ? literals : -1;
}

/* Path params: names point into the pattern just after '{' (they end at
 * '}'; ot_req_param compares accordingly), values into req->path_copy. */
static void bind_params(const char *pattern, char **segs, ot_req *req)
{
    const char *p = pattern;
    int i = 0;
    req->nparams = 0;
    if (*p == '/')
        p++;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= 2 && p[0] == '{' && req->nparams < OT_MAX_PATH_PARAMS) {
            req->param_names[req->nparams] = p + 1;
            req->param_values[req->nparams] = segs[i];
            req->nparams++;
        }
        i++;
        p += len;
        if (*p == '/')
            p++;
    }
}

enum ot_match ot_router_match(const struct ot_route *routes, size_t n, const char *method,
                              ot_req *req, const struct ot_route **out, char *allow,
                              size_t allow_len)
{
    char *segs[OT_ROUTER_MAX_SEGMENTS];
    int nseg = split(req->path_copy, segs);
    *out = NULL;
    if (allow_len)
        allow[0] = '\0';
    if (nseg < 0)
        return OT_MATCH_NONE;
    int best = -1, path_matched = 0;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        int score = match_pattern(routes[i].pattern, segs, nseg);
        if (score < 0)
            continue;
        path_matched = 1;
        if (strcmp(routes[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
            if (score > best) {
                best = score;
                *out = &routes[i];
            }
        } else if (allow_len && !strstr(allow, routes[i].method)) {
            int w = snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "",
                             routes[i].method);
            if (w > 0 && (size_t)w < allow_len - used)
                used += (size_t)w;
        }
    }
    if (*out) {
        bind_params((*out)->pattern, segs, req);
        return OT_MATCH_OK;
    }
    return path_matched ? OT_MATCH_METHOD : OT_MATCH_NONE;
}
