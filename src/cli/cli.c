/* cli.c - subcommand table and dispatch. */
#include "cli/cli.h"

#include <stdarg.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"serve", ot_cmd_serve, "run the HTTP API server"},
    {"validate", ot_cmd_validate, "validate JSON instances against a JSON Schema"},
    {"ingest", ot_cmd_ingest, "bulk-import NDJSON or CSV telemetry history"},
    {"detect", ot_cmd_detect, "backtest the anomaly detector on a timestamp,value CSV"},
    {"token", ot_cmd_token, "mint a bearer token (JWT) for the server"},
    {"version", ot_cmd_version, "print the version"},
    {"help", ot_cmd_help, "list commands, or show one command's help"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

int ot_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "opstwin %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(try 'opstwin %s --help')\n", cmd);
    return 2;
}

int ot_cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static void list_commands(FILE *out)
{
    fprintf(out, "usage: opstwin <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'opstwin <command> --help' shows a command's options.\n");
}

int ot_cmd_version(int argc, char **argv)
{
    if (argc > 1 && ot_cli_is_help(argv[1])) {
        printf("usage: opstwin version\n\nPrint the version of opstwin.\n");
        return 0;
    }
    if (argc > 1)
        return ot_cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("opstwin %s\n", OT_VERSION);
    return 0;
}

int ot_cmd_help(int argc, char **argv)
{
    if (argc > 1 && !ot_cli_is_help(argv[1])) {
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (strcmp(argv[1], commands[i].name) == 0) {
                char *args[] = {argv[1], "--help", NULL};
                return commands[i].fn(2, args);
            }
        return ot_cli_usage_error("help", "unknown command '%s'", argv[1]);
    }
    list_commands(stdout);
    return 0;
}

int ot_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        list_commands(stderr);
        return 2;
    }
    if (ot_cli_is_help(argv[1]))
        return ot_cmd_help(1, argv);
    if (strcmp(argv[1], "--version") == 0)
        return ot_cmd_version(1, argv + 1);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "opstwin: unknown command '%s'; commands are:", argv[1]);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(stderr, " %s", commands[i].name);
    fprintf(stderr, "\n");
    return 2;
}
