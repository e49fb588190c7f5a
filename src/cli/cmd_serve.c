/* cmd_serve.c - `opstwin serve`: load the configuration, start the app,
 * wait for SIGTERM/SIGINT, stop gracefully, exit 0. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "api/app.h"
#include "api/http.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: opstwin serve [options]\n\n"
                 "Run the OpsTwin HTTP API server. Options override the environment, which\n"
                 "overrides a .env file in the working directory, which overrides defaults.\n\n"
                 "options:\n"
                 "  --print-config                   print the effective configuration and exit\n"
                 "  --help                           this text\n");
    ot_config_print_help(out);
}

/* Connections are file descriptors: allow as many as the hard limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int ot_cmd_serve(int argc, char **argv)
{
    static const char *const extra[] = {"--print-config", "--help", NULL};
    int rest[256], nrest = 0, print_config = 0;
    ot_config cfg;
    ot_error err;
    ot_error_clear(&err);
    if (argc > 256)
        return ot_cli_usage_error("serve", "too many arguments");
    for (int i = 1; i < argc; i++)
        if (ot_cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
    if (ot_config_load(&cfg, argc, argv, extra, rest, &nrest, &err))
        return ot_cli_usage_error("serve", "%s", err.message);
    for (int k = 0; k < nrest; k++) {
        const char *a = argv[rest[k]];
        if (strcmp(a, "--print-config") == 0)
            print_config = 1;
        else
            return ot_cli_usage_error("serve", "unexpected argument '%s'", a);
    }
    if (print_config) {
        ot_config_print(&cfg, stdout);
        return 0;
    }
    ot_log_set_level(cfg.log_level);
    raise_fd_limit();
    /* Request bodies, batches and SQLite pages come and go in bursts: keep
     * freed memory in the heap instead of returning it to the kernel and
     * faulting it in again on the next request (sysmalloc, mprotect and
     * page faults were a tenth of the batch-ingest profile). */
    mallopt(M_MMAP_THRESHOLD, 8 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
    mallopt(M_TOP_PAD, 16 * 1024 * 1024);

    /* Signals are taken by sigwait here; every thread started later
     * inherits the mask, so none is interrupted by them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    ot_app *app = ot_app_start(&cfg, &err);
    if (!app) {
        ot_log(OT_LOG_CRITICAL, "cannot start: %s", err.message);
        return 1;
    }
    ot_log(OT_LOG_INFO, "OpsTwin %s listening on http://%s:%d (data in %s)", OT_VERSION,
           cfg.host, ot_http_port(app->http), cfg.data_dir);
    int sig = 0;
    sigwait(&set, &sig);
    ot_log(OT_LOG_INFO, "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    ot_app_stop(app, 10000);
    ot_log(OT_LOG_INFO, "stopped");
    return 0;
}
