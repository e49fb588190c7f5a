/* main.c - the opstwin command: dispatch to subcommands (src/cli/). */
#include "cli/cli.h"

int main(int argc, char **argv) { return ot_cli_main(argc, argv); }
