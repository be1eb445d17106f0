/*
 * faultvfs.h — a SQLite VFS that fails writes, syncs and truncations on
 * demand, for the store's fault-injection tests.
 *
 * faultvfs_install() registers "tgfault" as the default VFS, so every
 * connection opened afterwards (tg_store_open uses the default) goes through
 * it. It wraps the VFS that was the default before ("unix") and passes every
 * call through, except that while failures are armed the chosen operations
 * return an error instead of reaching the file. State is global: tests
 * using it arm and disarm it from one thread.
 */
#ifndef TG_TEST_FAULTVFS_H
#define TG_TEST_FAULTVFS_H

#include <stdint.h>

#define FAULTVFS_NAME "tgfault"

/* Operations that can be made to fail (bits). */
enum {
    FAULT_WRITE = 1u << 0,    /* xWrite */
    FAULT_SYNC = 1u << 1,     /* xSync */
    FAULT_TRUNCATE = 1u << 2, /* xTruncate */
};

/* Registers the VFS as the default; SQLITE_OK, or SQLite's error code.
 * Installing twice is harmless. */
int faultvfs_install(void);

/* Makes the previous default VFS the default again. */
void faultvfs_uninstall(void);

/* Arms failures: after `after` more calls of the operations in ops succeed,
 * every further one fails with rc (0 = the operation's own I/O error code:
 * SQLITE_IOERR_WRITE, _FSYNC, _TRUNCATE). ops = 0 disarms. */
void faultvfs_fail(unsigned ops, int rc, uint32_t after);

/* Calls failed on purpose since the VFS was installed. */
uint64_t faultvfs_injected(void);

#endif
