/*
 * crash_test — kills the crash worker at random moments and checks, after
 * every kill, that what the store holds is exactly what an uninterrupted run
 * holds after the same turn.
 *
 *   crash_test [--kills N] [--seed S] [--positions P] [--dir DIR]
 *              [--worker PATH] [--min-ms A] [--max-ms B] [--keep]
 *
 * Each round: fork + exec the worker on DIR/tg-crash-PID.db, sleep a seeded
 * random A..B ms, SIGKILL it, then check the database:
 *   - PRAGMA integrity_check is "ok";
 *   - the stored open positions rebuild a simulation (one per slot, all at
 *     the same turn T), and T is not behind the last turn the worker
 *     reported committed;
 *   - every row (open and closed) equals, column by column, the reference
 *     simulation played in memory without kills up to turn T; a reference
 *     row missing or older in the store is lost;
 *   - no position's confirmed stop loosened since the previous check;
 *   - the journal entries written since the previous check carry the next
 *     sequence numbers without a gap and equal the reference's entries.
 * Ends with `kills=N restores_ok=N lost=L loosened=X journal_gaps=G` and
 * exits 1 if any check failed.
 */
#define _POSIX_C_SOURCE 200809L /* fork, execv, kill, waitpid, pipe, poll, clock_gettime */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crash/crash_sim.h"
#include "crash/kill_util.h"
#include "store/codec.h"

#define REPORT_FD      3       /* the worker's end of the report pipe */
#define PROGRESS_EVERY 50      /* kills between two progress lines */
#define MISMATCH_SHOWN 10      /* differences printed per run; the rest are counted */
#define PATH_MAX_BYTES 512     /* paths this program builds */
#define COLUMNS_MAX    64      /* columns of trailing_stop */
#define KILLS_MAX      1000000 /* rounds one run may ask for */

typedef struct options {
    kill_options k;              /* --kills --seed (simulation and sleeps) --dir (the database)
                                    --min-ms --max-ms (a worker's life) --keep */
    uint32_t positions;          /* slots */
    char worker[PATH_MAX_BYTES]; /* the crash_worker executable */
} options;

/* A growable array of fixed-size items. */
typedef struct vec {
    void *items;  /* item storage */
    size_t size;  /* bytes per item */
    size_t count; /* items in use */
    size_t cap;   /* items allocated */
} vec;

static void *vec_at(vec *v, size_t i) {
    return (char *)v->items + i * v->size;
}

/* Item i, growing (zero-filled) as needed. */
static void *vec_get(vec *v, size_t i) {
    if (i >= v->cap) {
        size_t cap = v->cap ? v->cap : 8;
        while (cap <= i) {
            cap *= 2;
        }
        void *p = realloc(v->items, cap * v->size);
        if (p == NULL) {
            fprintf(stderr, "crash_test: out of memory\n");
            exit(2);
        }
        memset((char *)p + v->cap * v->size, 0, (cap - v->cap) * v->size);
        v->items = p;
        v->cap = cap;
    }
    if (i >= v->count) {
        v->count = i + 1;
    }
    return vec_at(v, i);
}

static void *vec_push(vec *v) {
    return vec_get(v, v->count);
}

typedef struct seen_stop {
    bool set;    /* a confirmed stop was seen */
    tg_dec stop; /* the last one */
} seen_stop;

/* The uninterrupted run, and what the store should hold. */
typedef struct reference {
    crash_sim sim;         /* played in memory, never killed */
    vec *closed;           /* per slot: tg_store_row by generation (closed ones) */
    vec expected;          /* tg_journal_entry written since the last check */
    uint64_t entries;      /* journal entries of the whole run, up to the last check */
    uint64_t closed_count; /* closed rows of the whole run */
} reference;

typedef struct totals {
    uint32_t kills;            /* rounds done */
    uint32_t restores_ok;      /* rounds whose every check passed */
    uint64_t lost;             /* reference rows missing or stale in the store */
    uint64_t loosened;         /* confirmed stops that moved the wrong way */
    uint64_t journal_gaps;     /* breaks in the sequence numbers */
    uint64_t mismatches;       /* rows that differ from the reference */
    uint64_t journal_diffs;    /* journal entries that differ from the reference */
    uint64_t integrity_fails;  /* integrity_check not ok */
    uint64_t worker_failures;  /* workers that exited instead of being killed */
    uint64_t restore_failures; /* stored state that does not rebuild */
    uint64_t shown;            /* differences printed */
    uint64_t idle_lives;       /* workers killed before they committed a turn */
    uint64_t unreported;       /* kills after a commit reached the file, before it was reported */
} totals;

typedef struct checker {
    options opt;             /* command line */
    char db[PATH_MAX_BYTES]; /* the database the workers share */
    reference ref;           /* the uninterrupted run */
    vec *seen;               /* per slot: seen_stop by generation */
    int64_t reported;        /* highest turn a worker reported committed */
    int64_t checked_seq;     /* journal entries up to here were checked */
    uint64_t rng;            /* for the sleeps */
    totals t;                /* counters */
} checker;

static void say(checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints one finding (the first MISMATCH_SHOWN of a run; the rest are only
 * counted, so that one broken run does not flood the log). */
static void say(checker *c, const char *fmt, ...) {
    if (c->t.shown++ >= MISMATCH_SHOWN) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "crash_test: kill %u: ", c->t.kills);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- the reference --------------------------------------------------------- */

static void ref_row(void *ctx, const tg_store_row *row) {
    reference *r = ctx;
    if (row->stop.state != TG_STATE_CLOSED) {
        return; /* open rows are read from the simulation itself */
    }
    uint32_t slot = 0, gen = 0;
    bool ok = crash_key_parse(row->position_key, &slot, &gen);
    if (!ok || slot >= r->sim.positions) {
        fprintf(stderr, "crash_test: the simulation made key '%s'\n", row->position_key);
        exit(2);
    }
    tg_store_row *keep = vec_get(&r->closed[slot], gen);
    *keep = *row;
    keep->version++; /* the version its last commit gives it */
    r->closed_count++;
}

static void ref_out(void *ctx, const char *key, const tg_out *out, int64_t latency_us) {
    reference *r = ctx;
    tg_journal_entry entries[CRASH_OUT_ENTRIES_MAX];
    int n = crash_out_entries(key, out, latency_us, entries);
    for (int i = 0; i < n; i++) {
        *(tg_journal_entry *)vec_push(&r->expected) = entries[i];
    }
}

static void ref_advance(reference *r, int64_t turn) {
    crash_sink sink = {.row = ref_row, .out = ref_out, .ctx = r};
    crash_sim_advance(&r->sim, turn, &sink);
}

/* The reference row for a key, or NULL when the reference has no such row. */
static const tg_store_row *ref_find(reference *r, uint32_t slot, uint32_t gen) {
    if (slot >= r->sim.positions || r->sim.turn == CRASH_NO_TURN) {
        return NULL;
    }
    uint32_t s = 0, current = 0;
    if (!crash_key_parse(r->sim.rows[slot].position_key, &s, &current) || gen > current) {
        return NULL;
    }
    if (gen == current) {
        return &r->sim.rows[slot];
    }
    if (gen >= r->closed[slot].count) {
        return NULL;
    }
    const tg_store_row *row = vec_at(&r->closed[slot], gen);
    return row->position_key[0] != '\0' ? row : NULL;
}

static uint64_t ref_row_count(reference *r) {
    return r->sim.turn == CRASH_NO_TURN ? 0 : r->sim.positions + r->closed_count;
}

/* ---- reading the database ---------------------------------------------------- */

typedef struct db_view {
    vec rows;      /* tg_store_row, every row of the account */
    int64_t count; /* journal entries */
    int64_t max;   /* highest seq, 0 when empty */
    int64_t min;   /* lowest seq, 0 when empty */
} db_view;

/* PRAGMA integrity_check on the file as the kill left it (before anything
 * else opens it); a file never created is fine. */
static bool integrity_ok(checker *c) {
    if (access(c->db, F_OK) != 0) {
        return true;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_open_v2(c->db, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL);
    }
    bool ok = rc == SQLITE_OK;
    int lines = 0;
    while (ok && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(q, 0);
        if (lines++ > 0 || line == NULL || strcmp(line, "ok") != 0) {
            say(c, "integrity_check: %s", line != NULL ? line : "(null)");
            ok = false;
        }
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        say(c, "integrity_check: %s", db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        ok = false;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return ok && lines == 1;
}

/* Count, lowest and highest sequence number of the journal. */
static bool journal_counts(checker *c, db_view *v) {
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_open_v2(c->db, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db,
                                "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) "
                                "FROM stop_event WHERE account = '" CRASH_ACCOUNT "'",
                                -1, &q, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(q);
    }
    bool ok = rc == SQLITE_ROW;
    if (ok) {
        v->count = sqlite3_column_int64(q, 0);
        v->min = sqlite3_column_int64(q, 1);
        v->max = sqlite3_column_int64(q, 2);
    } else {
        say(c, "counting the journal: %s", db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return ok;
}

static bool keep_row(void *ctx, const tg_store_row *row) {
    *(tg_store_row *)vec_push(ctx) = *row;
    return true;
}

/* ---- the checks ------------------------------------------------------------ */

/* Compares every column; prints the first difference. */
static bool same_row(checker *c, const tg_store_row *want, const tg_store_row *got) {
    static tg_col_value va[COLUMNS_MAX], vb[COLUMNS_MAX];
    int n = tg_codec_column_count();
    tg_codec_encode(want, va);
    tg_codec_encode(got, vb);
    for (int i = 0; i < n; i++) {
        if (va[i].null != vb[i].null || va[i].i != vb[i].i || strcmp(va[i].text, vb[i].text) != 0) {
            say(c,
                "position %s differs from the uninterrupted run in column %s: reference "
                "%s'%s'/%" PRId64 ", store %s'%s'/%" PRId64,
                got->position_key, tg_codec_column(i)->name, va[i].null ? "NULL " : "", va[i].text,
                va[i].i, vb[i].null ? "NULL " : "", vb[i].text, vb[i].i);
            return false;
        }
    }
    return true;
}

static bool tighter_or_same(const tg_stop *s, tg_dec now, tg_dec before) {
    return s->side == TG_SIDE_LONG ? tg_dec_ge(now, before) : tg_dec_le(now, before);
}

/* Every stored row against the reference; returns the failures found. */
static uint64_t check_rows(checker *c, db_view *v) {
    uint64_t bad = 0, matched = 0;
    for (size_t i = 0; i < v->rows.count; i++) {
        const tg_store_row *got = vec_at(&v->rows, i);
        uint32_t slot = 0, gen = 0;
        const tg_store_row *want = NULL;
        if (crash_key_parse(got->position_key, &slot, &gen)) {
            want = ref_find(&c->ref, slot, gen);
        }
        if (want == NULL) {
            say(c, "position %s is in the store but not in the uninterrupted run",
                got->position_key);
            c->t.mismatches++;
            bad++;
            continue;
        }
        matched++;
        if (got->version < want->version) {
            say(c, "position %s is at version %" PRId64 " in the store, %" PRId64 " committed",
                got->position_key, got->version, want->version);
            c->t.lost++;
            bad++;
        } else if (!same_row(c, want, got)) {
            c->t.mismatches++;
            bad++;
        }
        seen_stop *seen = vec_get(&c->seen[slot], gen);
        bool has = (got->stop.flags & TG_F_CONFIRMED) != 0;
        if (seen->set &&
            (!has || !tighter_or_same(&got->stop, got->stop.stop_confirmed, seen->stop))) {
            char a[TG_DEC_STR_MAX], b[TG_DEC_STR_MAX];
            tg_dec_format(seen->stop, 0, a);
            snprintf(b, sizeof b, "%s", "none");
            if (has) {
                tg_dec_format(got->stop.stop_confirmed, 0, b);
            }
            say(c, "the confirmed stop of %s loosened from %s to %s", got->position_key, a, b);
            c->t.loosened++;
            bad++;
        }
        if (has) {
            seen->set = true;
            seen->stop = got->stop.stop_confirmed;
        }
    }
    uint64_t want_rows = ref_row_count(&c->ref);
    if (matched < want_rows) {
        say(c, "%" PRIu64 " positions of the uninterrupted run are missing from the store",
            want_rows - matched);
        c->t.lost += want_rows - matched;
        bad++;
    }
    return bad;
}

typedef struct journal_walk {
    checker *c;     /* counters */
    int64_t next;   /* seq expected next */
    size_t index;   /* into the reference's expected entries */
    uint64_t gaps;  /* breaks in the numbering */
    uint64_t diffs; /* entries unlike the reference's */
} journal_walk;

static bool walk_entry(void *ctx, const tg_journal_entry *e) {
    journal_walk *w = ctx;
    if (e->seq != w->next) {
        say(w->c, "journal: expected seq %" PRId64 ", found %" PRId64, w->next, e->seq);
        w->gaps++;
    }
    w->next = e->seq + 1;
    reference *r = &w->c->ref;
    if (w->index >= r->expected.count || !crash_entry_same(vec_at(&r->expected, w->index), e)) {
        if (w->diffs++ == 0) {
            say(w->c, "journal entry %" PRId64 " (%s) differs from the uninterrupted run", e->seq,
                e->position_key);
        }
    }
    w->index++;
    return true;
}

/* Sequence numbers only, for the whole journal at the end. */
static bool count_seq(void *ctx, const tg_journal_entry *e) {
    journal_walk *w = ctx;
    if (e->seq != w->next) {
        w->gaps++;
    }
    w->next = e->seq + 1;
    return true;
}

/* The entries written since the last check; returns the failures found. */
static uint64_t check_journal(checker *c, tg_store *store, const db_view *v) {
    journal_walk w = {.c = c, .next = c->checked_seq + 1};
    tg_err err = {0};
    if (tg_store_journal(store, c->checked_seq, walk_entry, &w, &err) != TG_OK) {
        say(c, "reading the journal: %s", err.msg);
        w.diffs++;
    }
    if (w.index != c->ref.expected.count) {
        say(c, "journal: %zu new entries, the uninterrupted run wrote %zu", w.index,
            c->ref.expected.count);
        w.diffs++;
    }
    if (v->count != v->max || (v->count > 0 && v->min != 1)) {
        if (w.gaps == 0) {
            say(c, "journal: %" PRId64 " entries numbered %" PRId64 "..%" PRId64 ", not 1..count",
                v->count, v->min, v->max);
            w.gaps++;
        }
    }
    c->ref.entries += c->ref.expected.count;
    c->checked_seq = w.next - 1;
    c->ref.expected.count = 0;
    c->t.journal_gaps += w.gaps;
    c->t.journal_diffs += w.diffs;
    return w.gaps + w.diffs;
}

/* Rebuilds a simulation from the store's rows, as the worker does. */
static bool restore(db_view *v, crash_sim *sim, tg_err *err) {
    for (size_t i = 0; i < v->rows.count; i++) {
        if (crash_sim_restore_row(sim, vec_at(&v->rows, i), err) != TG_OK) {
            return false;
        }
    }
    return crash_sim_restore_end(sim, err) == TG_OK;
}

/* One round's checks; true when all passed. */
static bool check(checker *c) {
    uint64_t bad = integrity_ok(c) ? 0 : 1;
    c->t.integrity_fails += bad;
    db_view v = {.rows = {.size = sizeof(tg_store_row)}};
    tg_store *store = NULL;
    tg_err err = {0};
    crash_sim restored;
    if (crash_sim_init(&restored, c->opt.k.seed, c->opt.positions, &err) != TG_OK ||
        tg_store_open(c->db, CRASH_ACCOUNT, &store, &err) != TG_OK ||
        tg_store_load(store, true, keep_row, &v.rows, &err) != TG_OK ||
        !restore(&v, &restored, &err)) {
        say(c, "restore failed: %s", err.msg);
        c->t.restore_failures++;
        tg_store_close(store);
        crash_sim_free(&restored);
        free(v.rows.items);
        return false;
    }
    int64_t turn = restored.turn;
    crash_sim_free(&restored);
    c->t.unreported += turn > c->reported;
    if (turn < c->reported) {
        say(c, "the store holds turn %" PRId64 " but the worker had committed turn %" PRId64, turn,
            c->reported);
        bad++;
    }
    /* A turn the store lost is compared too, so that its rows count as lost. */
    int64_t target = turn > c->reported ? turn : c->reported;
    target = target > c->ref.sim.turn ? target : c->ref.sim.turn;
    ref_advance(&c->ref, target);
    bad += check_rows(c, &v);
    if (!journal_counts(c, &v)) {
        bad++;
        c->t.journal_diffs++;
    }
    bad += check_journal(c, store, &v);
    tg_store_close(store);
    free(v.rows.items);
    return bad == 0;
}

/* After the last round: the whole journal is 1..N, N the entries of the run. */
static bool final_journal(checker *c) {
    tg_store *store = NULL;
    tg_err err = {0};
    journal_walk w = {.c = c, .next = 1};
    c->ref.expected.count = 0;
    bool ok = tg_store_open(c->db, CRASH_ACCOUNT, &store, &err) == TG_OK &&
              tg_store_journal(store, 0, count_seq, &w, &err) == TG_OK;
    tg_store_close(store);
    if (!ok) {
        say(c, "final journal read: %s", err.msg);
        return false;
    }
    if (w.gaps > 0 || (uint64_t)(w.next - 1) != c->ref.entries) {
        say(c, "final journal: %" PRId64 " entries with %" PRIu64 " gaps, %" PRIu64 " expected",
            w.next - 1, w.gaps, c->ref.entries);
        c->t.journal_gaps += w.gaps > 0 ? w.gaps : 1;
        return false;
    }
    return true;
}

/* ---- running the worker ---------------------------------------------------------- */

/* Reads every whole report available; keeps the highest turn. */
static void drain(checker *c, int fd) {
    int64_t turns[512];
    for (;;) {
        ssize_t n = read(fd, turns, sizeof turns);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        /* Writes of 8 bytes to a pipe are atomic: only whole reports arrive. */
        for (size_t i = 0; i < (size_t)n / sizeof turns[0]; i++) {
            c->reported = turns[i] > c->reported ? turns[i] : c->reported;
        }
    }
}

static pid_t spawn(checker *c, int pipe_w) {
    char seed[32], positions[32], fd[8];
    snprintf(seed, sizeof seed, "%" PRIu64, c->opt.k.seed);
    snprintf(positions, sizeof positions, "%" PRIu32, c->opt.positions);
    snprintf(fd, sizeof fd, "%d", REPORT_FD);
    pid_t pid = fork();
    if (pid == 0) {
        if (pipe_w != REPORT_FD) {
            dup2(pipe_w, REPORT_FD);
            close(pipe_w);
        }
        char *argv[] = {c->opt.worker, "--db",    c->db,         "--seed", seed,
                        "--positions", positions, "--report-fd", fd,       NULL};
        execv(c->opt.worker, argv);
        fprintf(stderr, "crash_test: cannot run %s: %s\n", c->opt.worker, strerror(errno));
        _exit(127);
    }
    return pid;
}

/* One life of the worker, ended by SIGKILL after a random while. */
static bool one_round(checker *c) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("crash_test: pipe");
        exit(2);
    }
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    int64_t reported = c->reported;
    pid_t pid = spawn(c, fds[1]);
    close(fds[1]);
    if (pid < 0) {
        perror("crash_test: fork");
        exit(2);
    }
    int64_t deadline = kill_now_ms() + kill_random_range(&c->rng, c->opt.k.min_ms, c->opt.k.max_ms);
    for (int64_t left; (left = deadline - kill_now_ms()) > 0;) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (poll(&p, 1, (int)left) > 0) {
            drain(c, fds[0]);
        }
    }
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    drain(c, fds[0]);
    close(fds[0]);
    c->t.kills++;
    c->t.idle_lives += c->reported == reported;
    bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    if (!killed) {
        say(c, "the worker ended by itself (%s %d)", WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        c->t.worker_failures++;
    }
    bool ok = check(c);
    return ok && killed;
}

/* ---- command line ---------------------------------------------------------------- */

static int usage(const char *why) {
    fprintf(stderr,
            "crash_test: %s\nusage: crash_test [--kills N] [--seed S] [--positions P] [--dir DIR] "
            "[--worker PATH] [--min-ms A] [--max-ms B] [--keep]\n",
            why);
    return 2;
}

static void default_worker(options *o, const char *argv0) {
#ifdef TG_CRASH_WORKER
    (void)argv0;
    snprintf(o->worker, sizeof o->worker, "%s", TG_CRASH_WORKER);
#else
    char copy[PATH_MAX_BYTES];
    snprintf(copy, sizeof copy, "%s", argv0);
    snprintf(o->worker, sizeof o->worker, "%s/crash_worker", dirname(copy));
#endif
}

static bool own_option(void *ctx, const char *name, const char *value) {
    options *o = ctx;
    uint64_t v = 0;
    if (strcmp(name, "--worker") == 0) {
        snprintf(o->worker, sizeof o->worker, "%s", value);
    } else if (strcmp(name, "--positions") == 0 && kill_number(value, CRASH_POSITIONS_MAX, &v) &&
               v > 0) {
        o->positions = (uint32_t)v;
    } else {
        return false;
    }
    return true;
}

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){
        .k = {.kills = 200, .seed = 1, .dir = "/tmp", .min_ms = 5, .max_ms = 150},
        .positions = 32,
    };
    default_worker(o, argv[0]);
    return kill_parse_args(argc, argv, &o->k, KILLS_MAX, own_option, o, usage);
}

static void remove_db(const char *db) {
    char side[PATH_MAX_BYTES + 8];
    remove(db);
    snprintf(side, sizeof side, "%s-wal", db);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", db);
    remove(side);
}

static bool setup(checker *c) {
    snprintf(c->db, sizeof c->db, "%s/tg-crash-%ld.db", c->opt.k.dir, (long)getpid());
    remove_db(c->db);
    tg_err err = {0};
    if (crash_sim_init(&c->ref.sim, c->opt.k.seed, c->opt.positions, &err) != TG_OK) {
        fprintf(stderr, "crash_test: %s\n", err.msg);
        return false;
    }
    c->ref.closed = calloc(c->opt.positions, sizeof *c->ref.closed);
    c->seen = calloc(c->opt.positions, sizeof *c->seen);
    if (c->ref.closed == NULL || c->seen == NULL) {
        return false;
    }
    for (uint32_t i = 0; i < c->opt.positions; i++) {
        c->ref.closed[i].size = sizeof(tg_store_row);
        c->seen[i].size = sizeof(seen_stop);
    }
    c->ref.expected.size = sizeof(tg_journal_entry);
    c->reported = CRASH_NO_TURN;
    c->rng = c->opt.k.seed ^ 0x6372617368ull;
    return access(c->opt.worker, X_OK) == 0 ||
           (fprintf(stderr, "crash_test: no worker at %s\n", c->opt.worker), false);
}

static void teardown(checker *c) {
    for (uint32_t i = 0; i < c->opt.positions; i++) {
        free(c->ref.closed[i].items);
        free(c->seen[i].items);
    }
    free(c->ref.closed);
    free(c->seen);
    free(c->ref.expected.items);
    crash_sim_free(&c->ref.sim);
    if (!c->opt.k.keep) {
        remove_db(c->db);
    }
}

int main(int argc, char **argv) {
    static checker c;
    int rc = parse_args(argc, argv, &c.opt);
    if (rc != 0) {
        return rc;
    }
    if (!setup(&c)) {
        return 2;
    }
    printf("crash-test: %u kills, seed %" PRIu64 ", %u positions, worker lives %" PRId64
           "..%" PRId64 " ms, database %s\n",
           c.opt.k.kills, c.opt.k.seed, c.opt.positions, c.opt.k.min_ms, c.opt.k.max_ms, c.db);
    fflush(stdout);
    int64_t start = kill_now_ms();
    for (uint32_t k = 0; k < c.opt.k.kills; k++) {
        if (one_round(&c)) {
            c.t.restores_ok++;
        }
        if (c.t.kills % PROGRESS_EVERY == 0 || c.t.kills == c.opt.k.kills) {
            printf("crash-test: %u/%u kills, turn %" PRId64 ", %" PRIu64 " rows, %" PRIu64
                   " journal entries, %u ok, %.1f s\n",
                   c.t.kills, c.opt.k.kills, c.ref.sim.turn, ref_row_count(&c.ref), c.ref.entries,
                   c.t.restores_ok, (double)(kill_now_ms() - start) / 1000.0);
            fflush(stdout);
        }
    }
    bool journal_whole = final_journal(&c);
    printf("crash-test: %" PRIu64 " kills before the worker committed a turn, %" PRIu64
           " inside a commit (the turn had reached the file; the flush had not returned)\n",
           c.t.idle_lives, c.t.unreported);
    if (c.t.mismatches + c.t.journal_diffs + c.t.integrity_fails + c.t.worker_failures +
            c.t.restore_failures >
        0) {
        printf("crash-test: FAILED: %" PRIu64 " rows differ, %" PRIu64
               " journal entries differ, %" PRIu64 " integrity failures, %" PRIu64
               " worker failures, %" PRIu64 " restore failures\n",
               c.t.mismatches, c.t.journal_diffs, c.t.integrity_fails, c.t.worker_failures,
               c.t.restore_failures);
    }
    printf("kills=%u restores_ok=%u lost=%" PRIu64 " loosened=%" PRIu64 " journal_gaps=%" PRIu64
           "\n",
           c.t.kills, c.t.restores_ok, c.t.lost, c.t.loosened, c.t.journal_gaps);
    bool ok = c.t.restores_ok == c.t.kills && c.t.lost == 0 && c.t.loosened == 0 &&
              c.t.journal_gaps == 0 && journal_whole;
    teardown(&c);
    return ok ? 0 : 1;
}
