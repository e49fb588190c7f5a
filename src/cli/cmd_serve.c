/* cmd_serve.c - `opstwin serve` (filled in by the server module). */
#include "cli/cli.h"

int ot_cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ot_cli_usage_error("serve", "not built yet");
}
