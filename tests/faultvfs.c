#include "faultvfs.h"

#include <assert.h>
#include <sqlite3.h>
#include <stddef.h>
#include <string.h>

/* An open file: our methods in front, the wrapped VFS's file right after. */
typedef struct fault_file {
    sqlite3_file base;  /* pMethods = &fault_io (must be first) */
    sqlite3_file *real; /* the wrapped file, in the same allocation */
} fault_file;

static sqlite3_vfs *real_vfs; /* the default before install */
static sqlite3_vfs fault_vfs; /* a copy of it with our xOpen */
static unsigned armed_ops;    /* FAULT_* bits that fail */
static int armed_rc;          /* the error they fail with; 0 = their own */
static uint32_t armed_after;  /* calls that still succeed first */
static uint64_t injected;     /* calls failed on purpose */

/* Whether this call of op fails, and with which code. */
static int fault(unsigned op, int own_rc) {
    if ((armed_ops & op) == 0) {
        return SQLITE_OK;
    }
    if (armed_after > 0) {
        armed_after--;
        return SQLITE_OK;
    }
    injected++;
    return armed_rc != 0 ? armed_rc : own_rc;
}

static sqlite3_file *real_of(sqlite3_file *f) {
    return ((fault_file *)f)->real;
}

static int f_close(sqlite3_file *f) {
    return real_of(f)->pMethods->xClose(real_of(f));
}
static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
    return real_of(f)->pMethods->xRead(real_of(f), buf, amt, off);
}
static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off) {
    int rc = fault(FAULT_WRITE, SQLITE_IOERR_WRITE);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xWrite(real_of(f), buf, amt, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size) {
    int rc = fault(FAULT_TRUNCATE, SQLITE_IOERR_TRUNCATE);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xTruncate(real_of(f), size);
}
static int f_sync(sqlite3_file *f, int flags) {
    int rc = fault(FAULT_SYNC, SQLITE_IOERR_FSYNC);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xSync(real_of(f), flags);
}
static int f_file_size(sqlite3_file *f, sqlite3_int64 *size) {
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
static int f_lock(sqlite3_file *f, int level) {
    return real_of(f)->pMethods->xLock(real_of(f), level);
}
static int f_unlock(sqlite3_file *f, int level) {
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}
static int f_check_reserved(sqlite3_file *f, int *out) {
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
static int f_file_control(sqlite3_file *f, int op, void *arg) {
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
static int f_sector_size(sqlite3_file *f) {
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}
static int f_device_characteristics(sqlite3_file *f) {
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
static int f_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out) {
    return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}
static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
static void f_shm_barrier(sqlite3_file *f) {
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}
static int f_shm_unmap(sqlite3_file *f, int delete_flag) {
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **out) {
    return real_of(f)->pMethods->xFetch(real_of(f), off, amt, out);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

static const sqlite3_io_methods fault_io = {
    .iVersion = 3,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = f_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_file_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_check_reserved,
    .xFileControl = f_file_control,
    .xSectorSize = f_sector_size,
    .xDeviceCharacteristics = f_device_characteristics,
    .xShmMap = f_shm_map,
    .xShmLock = f_shm_lock,
    .xShmBarrier = f_shm_barrier,
    .xShmUnmap = f_shm_unmap,
    .xFetch = f_fetch,
    .xUnfetch = f_unfetch,
};

static int f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                  int *out_flags) {
    (void)vfs;
    fault_file *f = (fault_file *)file;
    f->real = (sqlite3_file *)(f + 1);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* SQLite calls xClose exactly when pMethods is set, failure or not. */
    file->pMethods = f->real->pMethods != NULL ? &fault_io : NULL;
    return rc;
}

int faultvfs_install(void) {
    if (real_vfs != NULL) {
        return sqlite3_vfs_register(&fault_vfs, 1);
    }
    int rc = sqlite3_initialize();
    if (rc != SQLITE_OK) {
        return rc;
    }
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL) {
        return SQLITE_ERROR;
    }
    assert(real_vfs != &fault_vfs);
    /* Every other method is the wrapped VFS's own: none of unix's uses
     * pAppData except xOpen, which we forward with the real VFS. */
    fault_vfs = *real_vfs;
    fault_vfs.zName = FAULTVFS_NAME;
    fault_vfs.szOsFile = (int)sizeof(fault_file) + real_vfs->szOsFile;
    fault_vfs.xOpen = f_open;
    fault_vfs.pNext = NULL;
    return sqlite3_vfs_register(&fault_vfs, 1);
}

void faultvfs_uninstall(void) {
    if (real_vfs != NULL) {
        sqlite3_vfs_register(real_vfs, 1);
    }
}

void faultvfs_fail(unsigned ops, int rc, uint32_t after) {
    armed_ops = ops;
    armed_rc = rc;
    armed_after = after;
}

uint64_t faultvfs_injected(void) {
    return injected;
}
