/* sqlite_walbuf.c - see sqlite_walbuf.h. */
#include "store/sqlite_walbuf.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WB_INITIAL (256 * 1024)
#define WB_MAX (16 * 1024 * 1024)

typedef struct wb_file {
    sqlite3_file base;        /* pMethods = &wb_methods */
    sqlite3_file *real;       /* the default VFS's file, right after this struct */
    unsigned char *buf;       /* pending bytes for [start, start + len) */
    size_t len, cap;
    sqlite3_int64 start;
    int sync_fd;              /* our own descriptor on the WAL, for deferred syncs; or -1 */
    int defer;                /* 1: xSync flushes but leaves the fsync to the caller */
    int synced_once;          /* the default VFS synced it once (that also syncs the folder) */
} wb_file;

static sqlite3_vfs *root;     /* the default VFS we wrap */
static sqlite3_vfs wb_vfs;
static int register_rc;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The unix VFS writes at most 128 KiB - 1 per call (it masks the length
 * with 0x1ffff, since SQLite itself never writes more than a page), so the
 * buffer goes out in chunks below that. */
#define WB_CHUNK (120 * 1024)

static int flush(wb_file *f)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; done < f->len && rc == SQLITE_OK; done += WB_CHUNK) {
        size_t n = f->len - done < WB_CHUNK ? f->len - done : WB_CHUNK;
        rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int)n,
                                       f->start + (sqlite3_int64)done);
    }
    f->len = 0;
    return rc;
}

static int wb_close(sqlite3_file *p)
{
    wb_file *f = (wb_file *)p;
    int rc = flush(f);
    int rc2 = f->real->pMethods->xClose(f->real);
    if (f->sync_fd >= 0)
        close(f->sync_fd);
    f->sync_fd = -1;
    free(f->buf);
    f->buf = NULL;
    f->cap = 0;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *p, void *out, int amt, sqlite3_int64 off)
{
    wb_file *f = (wb_file *)p;
    if (f->len && off < f->start + (sqlite3_int64)f->len && off + amt > f->start) {
        int rc = flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xRead(f->real, out, amt, off);
}

static int reserve(wb_file *f, size_t need)
{
    if (need <= f->cap)
        return 0;
    size_t cap = f->cap ? f->cap : WB_INITIAL;
    while (cap < need)
        cap *= 2;
    unsigned char *b = realloc(f->buf, cap);
    if (!b)
        return -1;
    f->buf = b;
    f->cap = cap;
    return 0;
}

static int wb_write(sqlite3_file *p, const void *data, int amt, sqlite3_int64 off)
{
    wb_file *f = (wb_file *)p;
    sqlite3_int64 end = f->start + (sqlite3_int64)f->len;
    /* a rewrite inside the pending range (SQLite rewrites a frame it wrote
     * earlier in the same transaction) */
    if (f->len && off >= f->start && off + amt <= end) {
        memcpy(f->buf + (off - f->start), data, (size_t)amt);
        return SQLITE_OK;
    }
    if (f->len && (off != end || f->len + (size_t)amt > WB_MAX)) {
        int rc = flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    if ((size_t)amt > WB_CHUNK || reserve(f, f->len + (size_t)amt))
        return f->real->pMethods->xWrite(f->real, data, amt, off); /* too big, or no memory */
    if (!f->len)
        f->start = off;
    memcpy(f->buf + f->len, data, (size_t)amt);
    f->len += (size_t)amt;
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *p, sqlite3_int64 size)
{
    wb_file *f = (wb_file *)p;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *p, int flags)
{
    wb_file *f = (wb_file *)p;
    int rc = flush(f);
    if (rc != SQLITE_OK)
        return rc;
    if (f->defer && f->synced_once)
        return SQLITE_OK; /* the caller fdatasyncs sync_fd before it calls the commit durable */
    rc = f->real->pMethods->xSync(f->real, flags);
    if (rc == SQLITE_OK)
        f->synced_once = 1;
    return rc;
}

static int wb_size(sqlite3_file *p, sqlite3_int64 *size)
{
    wb_file *f = (wb_file *)p;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *p, int l)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xLock(f->real, l);
}

static int wb_unlock(sqlite3_file *p, int l)
{
    wb_file *f = (wb_file *)p;
    int rc = flush(f);
    int rc2 = f->real->pMethods->xUnlock(f->real, l);
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_check_lock(sqlite3_file *p, int *out)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wb_fcntl(sqlite3_file *p, int op, void *arg)
{
    wb_file *f = (wb_file *)p;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector(sqlite3_file *p)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xSectorSize(f->real);
}

static int wb_devchar(sqlite3_file *p)
{
    wb_file *f = (wb_file *)p;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* Version 1: a WAL file is never memory-mapped and has no shared memory. */
static const sqlite3_io_methods wb_methods = {
    1, wb_close, wb_read, wb_write, wb_truncate, wb_sync, wb_size, wb_lock, wb_unlock,
    wb_check_lock, wb_fcntl, wb_sector, wb_devchar, NULL, NULL, NULL, NULL, NULL, NULL,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags,
                   int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return root->xOpen(root, name, p, flags, out_flags);
    wb_file *f = (wb_file *)p;
    memset(f, 0, sizeof *f);
    f->sync_fd = -1;
    f->real = (sqlite3_file *)(f + 1);
    int rc = root->xOpen(root, name, f->real, flags, out_flags);
    f->base.pMethods = rc == SQLITE_OK ? &wb_methods : NULL;
    /* fsync works on the file, whichever descriptor names it */
    if (rc == SQLITE_OK && name)
        f->sync_fd = open(name, O_RDONLY | O_CLOEXEC);
    return rc;
}

int ot_walbuf_defer_sync(sqlite3 *db, int on)
{
    sqlite3_file *p = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &p) != SQLITE_OK || !p ||
        p->pMethods != &wb_methods)
        return -1;
    wb_file *f = (wb_file *)p;
    if (f->sync_fd < 0)
        return -1;
    f->defer = on;
    return f->sync_fd;
}

/* Everything but xOpen is the default VFS's own. */
static int wb_delete(sqlite3_vfs *v, const char *n, int sync)
{
    (void)v;
    return root->xDelete(root, n, sync);
}

static int wb_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return root->xAccess(root, n, flags, out);
}

static int wb_fullpath(sqlite3_vfs *v, const char *n, int len, char *out)
{
    (void)v;
    return root->xFullPathname(root, n, len, out);
}

static void *wb_dlopen(sqlite3_vfs *v, const char *n)
{
    (void)v;
    return root->xDlOpen(root, n);
}

static void wb_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    root->xDlError(root, n, out);
}

static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *s))(void)
{
    (void)v;
    return root->xDlSym(root, h, s);
}

static void wb_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    root->xDlClose(root, h);
}

static int wb_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return root->xRandomness(root, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return root->xSleep(root, us);
}

static int wb_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return root->xCurrentTime(root, out);
}

static int wb_lasterr(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return root->xGetLastError ? root->xGetLastError(root, n, out) : 0;
}

static int wb_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return root->xCurrentTimeInt64(root, out);
}

static void do_register(void)
{
    root = sqlite3_vfs_find(NULL);
    if (!root || root->iVersion < 2) {
        register_rc = SQLITE_ERROR;
        return;
    }
    wb_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(wb_file) + root->szOsFile,
        .mxPathname = root->mxPathname,
        .zName = OT_SQLITE_WALBUF_VFS,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_fullpath,
        .xDlOpen = wb_dlopen,
        .xDlError = wb_dlerror,
        .xDlSym = wb_dlsym,
        .xDlClose = wb_dlclose,
        .xRandomness = wb_random,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_time,
        .xGetLastError = wb_lasterr,
        .xCurrentTimeInt64 = wb_time64,
    };
    register_rc = sqlite3_vfs_register(&wb_vfs, 0);
}

int ot_sqlite_walbuf_register(void)
{
    pthread_once(&once, do_register);
    return register_rc;
}
