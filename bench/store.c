/*
 * bench/store.c — durable state updates per second and restore time.
 *
 * A durable update is one position's row committed with the journal entries
 * the daemon writes for a stop move (one stop_moved event, one set_stop
 * command), through a tg_writer: TURN_ROWS positions tick per loop turn, and
 * each turn is one transaction (group commit). SQLite runs with the store's
 * own settings (WAL, synchronous=FULL); PostgreSQL is the server given by
 * TG_BENCH_PG_URI, else a throw-away cluster from scripts/pg-test-cluster.sh
 * (TCP on 127.0.0.1, fsync on), else reported as NA. Restore is tg_store_open +
 * tg_store_load of RESTORE_ROWS stops into tg_stop structs. Every number is
 * the median of RUNS runs. Databases go under $TMPDIR (default /tmp).
 *
 * Writer lookups: the mean time of one tg_writer_version() plus one
 * tg_writer_stage_row() of a live position, in a fresh writer and in one
 * through which CHURN_POSITIONS positions were opened and closed (deleted
 * hash entries must not slow lookups down).
 *
 * Last lines: sqlite_updates_per_s=N postgres_updates_per_s=N restore_100k_ms=X
 *             writer_lookup_us_fresh=X writer_lookup_us_after_200k_closed=X
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, popen, clock_gettime */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "trailguard/writer.h"

#define RUNS            5      /* measurements per number; the median is reported */
#define TURN_ROWS       1000   /* positions updated per turn (one transaction) */
#define SQLITE_TURNS    50     /* turns per SQLite run */
#define PG_TURNS        20     /* turns per PostgreSQL run */
#define RESTORE_ROWS    100000 /* stops restored */
#define FILL_BATCH      10000  /* rows per transaction when filling the restore file */
#define PATH_BYTES      600    /* paths built here */
#define DIR_BYTES       400    /* the directory they are built in */
#define URI_BYTES       1024   /* a PostgreSQL URI */
#define SCRIPT          "scripts/pg-test-cluster.sh"
#define CLUSTER_SKIP    77     /* the script's "no server installed" */
#define ACCOUNT_BYTES   64     /* an account name */
#define CHURN_ROWS_MAX  100000 /* the writer's capacity in the lookup bench */
#define CHURN_POSITIONS 200000 /* positions opened and closed before measuring */
#define CHURN_BATCH     10000  /* positions opened (and closed) per flush */
#define LOOKUP_LIVE     1000   /* live positions looked up */
#define LOOKUP_ROUNDS   20     /* passes over them */

static void die(const char *what, const tg_err *err) {
    fprintf(stderr, "bench/store: %s: %s\n", what, err != NULL ? err->msg : "");
    exit(1);
}

static tg_dec cents(int64_t n) {
    return tg_dec_from_units(n * (TG_DEC_SCALE / 100));
}

/* A long position at 100.00, already trailing (activated at 102.00, stop
 * confirmed), as the i-th row of account. */
static void make_row(tg_store_row *row, const char *account, uint32_t i) {
    memset(row, 0, sizeof *row);
    snprintf(row->account, sizeof row->account, "%s", account);
    snprintf(row->exchange, sizeof row->exchange, "%s", "binance");
    snprintf(row->symbol, sizeof row->symbol, "B%06" PRIu32 "USDT", i);
    snprintf(row->position_key, sizeof row->position_key, "B%06" PRIu32 "USDT:long", i);
    tg_open o = {.id = i,
                 .side = TG_SIDE_LONG,
                 .entry = cents(10000),
                 .quantity = cents(100),
                 .tick = cents(1),
                 .ts_ms = 0,
                 .params = tg_params_default()};
    o.params.min_update_interval_ms = 0;
    tg_out out = {0};
    tg_err err = {0};
    if (tg_stop_open(&row->stop, &o, &out, &err) != TG_OK) {
        die("opening a position", &err);
    }
    memset(&out, 0, sizeof out);
    tg_stop_tick(&row->stop, 1000, cents(10200), &out);
    int set = 0;
    while (set < out.n_cmds && out.cmds[set].type != TG_CMD_SET_STOP) {
        set++;
    }
    if (set == out.n_cmds) {
        die("the first tick placed no stop", NULL);
    }
    tg_out ack = {0};
    tg_stop_confirmed(&row->stop, 1000, out.cmds[set].price, &ack);
    snprintf(row->order_id, sizeof row->order_id, "%" PRIu32, 4000000 + i);
}

/* ---- durable updates --------------------------------------------------------- */

/* One run: TURN_ROWS positions, `turns` turns of one stop move each. */
static double updates_run(const char *uri, const char *account, int turns) {
    tg_store *store = NULL;
    tg_writer *w = NULL;
    tg_err err = {0};
    if (tg_store_open(uri, account, &store, &err) != TG_OK ||
        tg_writer_new(store, TURN_ROWS, 4 * TURN_ROWS, 0, &w, &err) != TG_OK) {
        die("opening the store", &err);
    }
    tg_store_row *rows = calloc(TURN_ROWS, sizeof *rows);
    if (rows == NULL) {
        die("out of memory", NULL);
    }
    for (uint32_t i = 0; i < TURN_ROWS; i++) {
        make_row(&rows[i], account, i);
        if (tg_writer_stage_row(w, &rows[i], &err) != TG_OK) {
            die("staging", &err);
        }
    }
    if (tg_writer_flush(w, 1000, &err) != TG_OK) {
        die("first flush", &err);
    }
    uint64_t moves = 0;
    double t0 = bench_now_s();
    for (int t = 1; t <= turns; t++) {
        int64_t ts = 1000 + (int64_t)t * 1000;
        tg_dec price = cents(10200 + 25 * t); /* +0.25 % a turn: every stop moves */
        for (uint32_t i = 0; i < TURN_ROWS; i++) {
            tg_out out = {0};
            tg_stop_tick(&rows[i].stop, ts, price, &out);
            tg_writer_stage_out(w, rows[i].position_key, &out, -1);
            for (int c = 0; c < out.n_cmds; c++) {
                if (out.cmds[c].type == TG_CMD_SET_STOP) {
                    tg_out ack = {0};
                    tg_stop_confirmed(&rows[i].stop, ts, out.cmds[c].price, &ack);
                    moves++;
                }
            }
            if (tg_writer_stage_row(w, &rows[i], &err) != TG_OK) {
                die("staging", &err);
            }
        }
        if (tg_writer_flush(w, ts, &err) != TG_OK) {
            die("flushing", &err);
        }
    }
    double elapsed = bench_now_s() - t0;
    if (moves != (uint64_t)turns * TURN_ROWS) {
        die("not every tick moved its stop", NULL);
    }
    tg_store_stats ss = tg_store_get_stats(store);
    if (ss.rows_written != (uint64_t)(turns + 1) * TURN_ROWS ||
        ss.entries_written < 2 * (uint64_t)turns * TURN_ROWS) {
        die("the store did not write every update", NULL);
    }
    tg_writer_free(w);
    tg_store_close(store);
    free(rows);
    return (double)turns * TURN_ROWS / elapsed;
}

static void remove_db(const char *path) {
    char side[PATH_BYTES + 8];
    remove(path);
    snprintf(side, sizeof side, "%s-wal", path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", path);
    remove(side);
}

static double sqlite_updates(const char *dir) {
    double v[RUNS];
    for (int r = 0; r < RUNS; r++) {
        char path[PATH_BYTES];
        snprintf(path, sizeof path, "%s/updates-%d.db", dir, r);
        remove_db(path);
        v[r] = updates_run(path, "bench", SQLITE_TURNS);
        printf("sqlite run %d: %.0f durable updates/s\n", r + 1, v[r]);
        remove_db(path);
    }
    return bench_median(v, RUNS);
}

static double postgres_updates(const char *uri) {
    double v[RUNS];
    for (int r = 0; r < RUNS; r++) {
        char account[ACCOUNT_BYTES];
        snprintf(account, sizeof account, "bench-%ld-%ld-%d", (long)getpid(), (long)time(NULL), r);
        v[r] = updates_run(uri, account, PG_TURNS);
        printf("postgresql run %d: %.0f durable updates/s\n", r + 1, v[r]);
    }
    return bench_median(v, RUNS);
}

/* ---- restore ---------------------------------------------------------------- */

static void fill_restore_file(const char *path) {
    tg_store *store = NULL;
    tg_err err = {0};
    remove_db(path);
    if (tg_store_open(path, "bench", &store, &err) != TG_OK) {
        die("opening the restore file", &err);
    }
    tg_store_row *rows = calloc(FILL_BATCH, sizeof *rows);
    if (rows == NULL) {
        die("out of memory", NULL);
    }
    for (uint32_t base = 0; base < RESTORE_ROWS; base += FILL_BATCH) {
        if (tg_store_begin(store, &err) != TG_OK) {
            die("begin", &err);
        }
        for (uint32_t i = 0; i < FILL_BATCH; i++) {
            make_row(&rows[i], "bench", base + i);
            if (tg_store_put(store, &rows[i], &err) != TG_OK) {
                die("put", &err);
            }
        }
        if (tg_store_commit(store, &err) != TG_OK) {
            die("commit", &err);
        }
    }
    tg_store_close(store);
    free(rows);
}

typedef struct restored {
    tg_stop *stops; /* RESTORE_ROWS */
    uint32_t n;     /* filled */
} restored;

static bool take_stop(void *ctx, const tg_store_row *row) {
    restored *r = ctx;
    if (r->n == RESTORE_ROWS) {
        return false;
    }
    r->stops[r->n++] = row->stop;
    return true;
}

/* Median ms of open + load of every stop; *load_ms gets load alone. */
static double restore_ms(const char *dir, double *load_ms) {
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/restore.db", dir);
    fill_restore_file(path);
    restored r = {.stops = calloc(RESTORE_ROWS, sizeof(tg_stop))};
    if (r.stops == NULL) {
        die("out of memory", NULL);
    }
    double total[RUNS], load[RUNS];
    for (int k = 0; k < RUNS; k++) {
        tg_store *store = NULL;
        tg_err err = {0};
        r.n = 0;
        double t0 = bench_now_s();
        if (tg_store_open(path, "bench", &store, &err) != TG_OK) {
            die("opening the restore file", &err);
        }
        double t1 = bench_now_s();
        if (tg_store_load(store, false, take_stop, &r, &err) != TG_OK) {
            die("loading", &err);
        }
        double t2 = bench_now_s();
        if (r.n != RESTORE_ROWS) {
            die("not every stop came back", NULL);
        }
        tg_store_close(store);
        total[k] = (t2 - t0) * 1000;
        load[k] = (t2 - t1) * 1000;
        printf("restore run %d: %u stops in %.1f ms (load %.1f ms)\n", k + 1, r.n, total[k],
               load[k]);
    }
    free(r.stops);
    remove_db(path);
    *load_ms = bench_median(load, RUNS);
    return bench_median(total, RUNS);
}

/* ---- PostgreSQL server ---------------------------------------------------- */

static void script_path(char *buf, size_t cap) {
#ifdef TG_SOURCE_DIR
    snprintf(buf, cap, "%s/%s", TG_SOURCE_DIR, SCRIPT);
#else
    snprintf(buf, cap, "%s", SCRIPT);
#endif
}

/* Starts a throw-away cluster in dir; false (with why) when there is none. */
static bool cluster_start(const char *script, const char *dir, char *uri, size_t cap,
                          const char **why) {
    char cmd[PATH_BYTES * 2 + 48];
    snprintf(cmd, sizeof cmd, "TG_PG_TCP=1 '%s' start '%s'", script, dir);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        *why = "cannot run the cluster script";
        return false;
    }
    bool got = fgets(uri, (int)cap, p) != NULL;
    int status = pclose(p);
    if (WIFEXITED(status) && WEXITSTATUS(status) == CLUSTER_SKIP) {
        *why = "no PostgreSQL server installed";
        return false;
    }
    if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        *why = "the cluster did not start";
        return false;
    }
    uri[strcspn(uri, "\n")] = '\0';
    return true;
}

static void cluster_stop(const char *script, const char *dir) {
    char cmd[PATH_BYTES * 2 + 48];
    snprintf(cmd, sizeof cmd, "'%s' stop '%s' >/dev/null 2>&1", script, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench/store: could not stop the cluster in %s\n", dir);
    }
}

/* ---- main ---------------------------------------------------------------------- */

static const char *fs_name(const char *dir) {
    struct statfs s;
    if (statfs(dir, &s) != 0) {
        return "unknown";
    }
    switch ((unsigned long)s.f_type) {
    case 0xEF53UL:
        return "ext4";
    case 0x01021994UL:
        return "tmpfs";
    case 0x58465342UL:
        return "xfs";
    case 0x9123683EUL:
        return "btrfs";
    case 0x794C7630UL:
        return "overlayfs";
    default:
        return "other";
    }
}

/* µs per lookup + stage of a live position in w. */
static double lookup_us(tg_writer *w, const char *account) {
    tg_store_row row;
    tg_err err = {0};
    double t0 = bench_now_s();
    for (int r = 0; r < LOOKUP_ROUNDS; r++) {
        for (uint32_t i = 0; i < LOOKUP_LIVE; i++) {
            make_row(&row, account, i);
            if (tg_writer_version(w, row.position_key) < 0 ||
                tg_writer_stage_row(w, &row, &err) != TG_OK) {
                die("writer lookup", &err);
            }
        }
    }
    double t = bench_now_s() - t0;
    return t * 1e6 / (LOOKUP_ROUNDS * LOOKUP_LIVE);
}

/* Opens and closes CHURN_POSITIONS positions (beyond the live ones)
 * through w, flushing every CHURN_BATCH. */
static void churn(tg_writer *w, const char *account) {
    tg_store_row row;
    tg_err err = {0};
    for (uint32_t base = 0; base < CHURN_POSITIONS; base += CHURN_BATCH) {
        for (int closing = 0; closing < 2; closing++) {
            for (uint32_t i = base; i < base + CHURN_BATCH; i++) {
                make_row(&row, account, LOOKUP_LIVE + i);
                if (closing) {
                    row.stop.state = TG_STATE_CLOSED;
                    row.stop.closed_ms = 1;
                    row.version = 1;
                }
                if (tg_writer_stage_row(w, &row, &err) != TG_OK) {
                    die("churn stage", &err);
                }
            }
            if (tg_writer_flush(w, 0, &err) != TG_OK) {
                die("churn flush", &err);
            }
        }
    }
}

static void writer_lookups(const char *dir, double *fresh, double *after) {
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/lookup.db", dir);
    remove_db(path);
    tg_store *s = NULL;
    tg_writer *w = NULL;
    tg_err err = {0};
    if (tg_store_open(path, "lookup", &s, &err) != TG_OK ||
        tg_writer_new(s, CHURN_ROWS_MAX, 4 * CHURN_BATCH, 0, &w, &err) != TG_OK) {
        die("lookup bench", &err);
    }
    tg_store_row row;
    for (uint32_t i = 0; i < LOOKUP_LIVE; i++) {
        make_row(&row, "lookup", i);
        if (tg_writer_stage_row(w, &row, &err) != TG_OK) {
            die("lookup stage", &err);
        }
    }
    if (tg_writer_flush(w, 0, &err) != TG_OK) {
        die("lookup flush", &err);
    }
    *fresh = lookup_us(w, "lookup");
    if (tg_writer_flush(w, 0, &err) != TG_OK) {
        die("lookup flush", &err);
    }
    churn(w, "lookup");
    *after = lookup_us(w, "lookup");
    tg_writer_free(w);
    tg_store_close(s);
    remove_db(path);
}

int main(void) {
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    char dir[DIR_BYTES];
    snprintf(dir, sizeof dir, "%.300s/tg-bench-store-XXXXXX", tmp);
    if (mkdtemp(dir) == NULL) {
        perror("bench/store: mkdtemp");
        return 1;
    }
    printf("bench/store: databases in %s (%s), %d-row turns, median of %d runs\n", dir,
           fs_name(dir), TURN_ROWS, RUNS);
    double sqlite_ups = sqlite_updates(dir);
    double load_ms = 0;
    double restore = restore_ms(dir, &load_ms);
    double lookup_fresh = 0, lookup_after = 0;
    writer_lookups(dir, &lookup_fresh, &lookup_after);

    char pg[32] = "NA";
    char uri[URI_BYTES] = "";
    char script[PATH_BYTES], pgdir[PATH_BYTES] = "";
    script_path(script, sizeof script);
    const char *why = NULL;
    bool have_pg = false;
    if (getenv("TG_BENCH_PG_URI") != NULL) {
        snprintf(uri, sizeof uri, "%s", getenv("TG_BENCH_PG_URI"));
        have_pg = true;
    } else if (access(script, X_OK) == 0) {
        snprintf(pgdir, sizeof pgdir, "/tmp/tgpgXXXXXX"); /* short: a socket lives in it */
        if (mkdtemp(pgdir) != NULL) {
            have_pg = cluster_start(script, pgdir, uri, sizeof uri, &why);
        }
    } else {
        why = "no TG_BENCH_PG_URI and no " SCRIPT;
    }
    if (have_pg) {
        snprintf(pg, sizeof pg, "%.0f", postgres_updates(uri));
    } else {
        printf("postgresql: skipped (%s)\n", why != NULL ? why : "no cluster");
    }
    if (pgdir[0] != '\0') {
        cluster_stop(script, pgdir);
    }
    rmdir(dir);
    printf("sqlite: median %.0f durable updates/s (%d rows + %d journal entries a transaction)\n",
           sqlite_ups, TURN_ROWS, 2 * TURN_ROWS);
    printf("restore: median %.1f ms for %d stops (load alone %.1f ms)\n", restore, RESTORE_ROWS,
           load_ms);
    printf("sqlite_updates_per_s=%.0f postgres_updates_per_s=%s restore_100k_ms=%.1f\n", sqlite_ups,
           pg, restore);
    printf("writer_lookup_us_fresh=%.3f writer_lookup_us_after_200k_closed=%.3f\n", lookup_fresh,
           lookup_after);
    return 0;
}
