/* SQLite-specific behaviour of the store: the WAL is checkpointed while the
 * server runs, so it does not grow without bound. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

static long file_size(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

Test(store_sqlite, the_wal_is_checkpointed_while_running)
{
    char dir[] = "/tmp/ot-store-ckpt-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    ot_store_options o = {.data_dir = dir, .database_url = "", .queue_limit = 100000,
                          .read_connections = 2};
    ot_store *st;
    ot_error e;
    cr_assert_eq(ot_store_open(&o, &st, &e), 0, "%s", e.message);
    static const char *names[2] = {"temp_c", "load"};
    for (int g = 0; g < 20; g++) {
        ot_store_tel t[100];
        double vals[100][2];
        char ids[100][32], twins[100][16];
        for (int i = 0; i < 100; i++) {
            snprintf(ids[i], sizeof ids[i], "e%d-%d", g, i);
            snprintf(twins[i], sizeof twins[i], "tw%d", i % 16);
            vals[i][0] = i;
            vals[i][1] = g;
            t[i] = (ot_store_tel){.event_id = ids[i], .twin_id = twins[i], .asset_id = "a",
                                  .ts_us = 1767225600000000LL + (g * 100 + i) * 1000LL,
                                  .nmetrics = 2, .metric_names = names,
                                  .metric_values = vals[i], .json = "{\"x\":1}"};
        }
        ot_store_write w = {.tels = t, .ntels = 100};
        cr_assert_eq(ot_store_write_sync(st, &w), 0, "%s", w.err.message);
    }
    /* the checkpointer runs every 200 ms */
    long db = 0;
    for (int i = 0; i < 50 && (db = file_size(dir, "opstwin.db")) <= 65536; i++)
        usleep(100000);
    cr_assert_gt(db, 65536, "the database file grew (frames were backfilled): %ld bytes", db);
    ot_store_close(st);
    cr_assert_eq(file_size(dir, "opstwin.db-wal") <= 0, 1, "closing folds the WAL away");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
