/* cmd_token.c - `opstwin token`: mint a JWT for the server's secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/config.h"
#include "policy/auth.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: opstwin token --sub NAME --role ROLE [--role ROLE]... [--scope GLOB]...\n"
            "                     [--ttl DURATION] [--jwt-secret-key KEY | --data-dir DIR]\n\n"
            "Mint a bearer token (JWT HS256) signed with the server's secret: JWT_SECRET_KEY\n"
            "(flag, environment or .env), or the secret the server generated in DATA_DIR.\n\n"
            "  --sub NAME         who the token is for (required)\n"
            "  --role ROLE        viewer, agent, executor, supervisor or admin (repeatable)\n"
            "  --scope GLOB       twin ids the token may act on, e.g. 'plant1-*' (repeatable;\n"
            "                     none = every twin)\n"
            "  --ttl DURATION     lifetime: seconds, or a number with s, m, h or d\n"
            "                     (default JWT_EXPIRE_MINUTES)\n");
}

static int parse_ttl(const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    long mul = 1;
    if (end == s || v <= 0)
        return -1;
    if (*end == 's')
        mul = 1, end++;
    else if (*end == 'm')
        mul = 60, end++;
    else if (*end == 'h')
        mul = 3600, end++;
    else if (*end == 'd')
        mul = 86400, end++;
    if (*end || v > 3650L * 86400 / mul)
        return -1;
    *out = v * mul;
    return 0;
}

int ot_cmd_token(int argc, char **argv)
{
    static const char *const extra[] = {"--sub", "--role", "--scope", "--ttl", "--help", NULL};
    const char *sub = NULL, *roles[8], *scopes[OT_AUTH_MAX_SCOPES];
    int nroles = 0, nscopes = 0, rest[64], nrest = 0;
    long ttl = -1;
    for (int i = 1; i < argc; i++)
        if (ot_cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
    if (argc > 64)
        return ot_cli_usage_error("token", "too many arguments");
    ot_config cfg;
    ot_error err;
    if (ot_config_load(&cfg, argc, argv, extra, rest, &nrest, &err))
        return ot_cli_usage_error("token", "%s", err.message);
    for (int k = 0; k < nrest; k++) {
        const char *a = argv[rest[k]];
        const char *eq = strchr(a, '='), *v;
        char name[16];
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
        if (eq) {
            v = eq + 1;
        } else if (k + 1 < nrest && rest[k + 1] == rest[k] + 1) {
            v = argv[rest[++k]];
        } else {
            return ot_cli_usage_error("token", "option %s needs a value", name);
        }
        if (strcmp(name, "--sub") == 0) {
            sub = v;
        } else if (strcmp(name, "--role") == 0) {
            if (!ot_role_valid(v))
                return ot_cli_usage_error("token", "unknown role '%s'; roles are viewer, agent, "
                                          "executor, supervisor, admin", v);
            if (nroles == 8)
                return ot_cli_usage_error("token", "too many --role options");
            roles[nroles++] = v;
        } else if (strcmp(name, "--scope") == 0) {
            if (nscopes == OT_AUTH_MAX_SCOPES || strlen(v) >= OT_AUTH_SCOPE_MAX || !*v)
                return ot_cli_usage_error("token", "bad or too many --scope values");
            scopes[nscopes++] = v;
        } else if (strcmp(name, "--ttl") == 0) {
            if (parse_ttl(v, &ttl))
                return ot_cli_usage_error("token", "--ttl '%s' is not a duration like 3600, "
                                          "30m, 12h or 7d", v);
        } else {
            return ot_cli_usage_error("token", "unexpected argument '%s'", a);
        }
    }
    if (!sub || !*sub)
        return ot_cli_usage_error("token", "--sub is required");
    if (nroles == 0)
        return ot_cli_usage_error("token", "at least one --role is required");
    char secret[OT_CFG_STR];
    if (cfg.jwt_secret[0]) {
        snprintf(secret, sizeof secret, "%s", cfg.jwt_secret);
    } else {
        char path[OT_CFG_STR + 16];
        snprintf(path, sizeof path, "%s/.jwt_secret", cfg.data_dir);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(secret, sizeof secret, f)) {
            if (f)
                fclose(f);
            fprintf(stderr, "opstwin token: no secret: set JWT_SECRET_KEY, or point --data-dir "
                            "at the server's data folder (%s not found)\n", path);
            return 1;
        }
        fclose(f);
        secret[strcspn(secret, "\r\n")] = '\0';
    }
    if (ttl < 0)
        ttl = (long)cfg.jwt_expire_minutes * 60;
    char *tok = ot_auth_mint(secret, sub, roles, nroles, scopes, nscopes, ttl, &err);
    if (!tok) {
        fprintf(stderr, "opstwin token: %s\n", err.message);
        return 1;
    }
    printf("%s\n", tok);
    free(tok);
    return 0;
}
