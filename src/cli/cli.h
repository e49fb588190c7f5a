/* cli.h - the `opstwin` command line.
 *
 * ot_cli_main dispatches argv[1] to a subcommand from the table in cli.c.
 * Each subcommand is `int ot_cmd_NAME(int argc, char **argv)` where argv[0]
 * is the subcommand's name, and accepts --help (usage on stdout, exit 0).
 * Exit codes: 0 success, 1 the work itself failed (or, for validate, some
 * instance invalid), 2 usage error: unknown flag, bad value, missing
 * argument, with a message on stderr that says what was wrong and what is
 * allowed.
 */
#ifndef OT_CLI_CLI_H
#define OT_CLI_CLI_H

#include <stdio.h>

int ot_cli_main(int argc, char **argv);

/* Subcommands (one file each: src/cli/cmd_NAME.c). */
int ot_cmd_serve(int argc, char **argv);
int ot_cmd_detect(int argc, char **argv);
int ot_cmd_version(int argc, char **argv);
int ot_cmd_token(int argc, char **argv);
int ot_cmd_help(int argc, char **argv);
int ot_cmd_validate(int argc, char **argv);
int ot_cmd_ingest(int argc, char **argv);

/* Shared helper: print "opstwin CMD: " + message to stderr, return 2. */
int ot_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 if argv[i] is -h or --help. */
int ot_cli_is_help(const char *arg);

#endif
