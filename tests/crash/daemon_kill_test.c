/*
 * daemon_kill_test — SIGKILLs the real `trailguard run` process at random
 * moments while the in-process emulator moves prices, restarts it, and
 * checks through the emulator (the exchange's own view) that every position
 * kept exactly one trailguard stop that never loosened.
 *
 *   daemon_kill_test [--kills N] [--seed S] [--dir DIR] [--cli PATH]
 *                    [--min-ms A] [--max-ms B] [--pause-ms C]
 *                    [--min-interval SECONDS] [--keep]
 *
 * Four accounts (two Binance, two Bybit) hold a position in each of the
 * emulator's five symbols, long and short mixed: 20 positions on seeded
 * random walks (one step every 100 ms). Each round:
 *   - the daemon runs a seeded random A..B ms;
 *   - GET /v1/positions records every position's stop_confirmed;
 *   - SIGKILL, then a random 0..C ms while prices keep moving;
 *   - restart (with fresh emulator rate counters: reset_rate_counters); wait for /health 200, one
 * reconcile pass per account
 *     (/metrics) and a stop on every position the daemon lists;
 *   - for every account and symbol, /sim/protection must show:
 *       exactly one trailguard stop (client id "tg-…" or the Bybit
 *       position stop) on an open position (none is "missing", two or more
 *       a "duplicate"), no trailguard stop on a flat one (an "orphan"), and
 *       the tightest stop not looser than the confirmed stop read before the
 *       kill ("loosened"). A duplicate, orphan or missing stop must last
 *       RECHECK_MS (over one reconcile interval) to count: a replace holds
 *       two stops for a moment and a reconcile pass cancels what is left;
 *       a looser stop counts the moment it is seen.
 *   - a position a stop closed is opened again (the daemon must pick it up).
 * The emulator measures every unprotected window; everything after a
 * position's first placement must add up to 0 ms.
 * Ends with `kills=N positions=P unprotected_ms_max=X duplicates=D
 * orphans=O loosened=L` and exits 1 if anything failed.
 */
#define _POSIX_C_SOURCE 200809L /* fork, execv, kill, waitpid, mkdtemp, clock_gettime */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "trailguard/decimal.h"
#include "trailguard/sim.h"

#include "kill_util.h"

#define ACCOUNTS       4
#define SYMBOLS        5
#define POSITIONS      (ACCOUNTS * SYMBOLS)
#define STEP_MS        100             /* one price step */
#define STEP_BPS       4               /* largest move of one step, basis points */
#define RECONCILE_S    2               /* the daemon's reconcile_interval_seconds */
#define RECHECK_MS     3000            /* a structural fault must last this long to count */
#define RECHECK_GAP_MS 200             /* between two looks while one lasts */
#define SETTLE_MS_MAX  20000           /* a restarted daemon has this long to reconcile */
#define POLL_MS        50              /* between two polls of the daemon */
#define WINDOWS_KEPT   16              /* windows /sim/protection lists (SIM_WINDOWS_KEPT) */
#define ANSWER_MAX     (1u << 20)      /* bytes of one daemon answer */
#define PROTECTION_MAX 16384           /* bytes of one /sim/protection answer */
#define PATH_BYTES     KILL_PATH_BYTES /* paths this program builds */
#define PROGRESS_EVERY 10              /* kills between two progress lines */
#define FINDINGS_SHOWN 20              /* findings printed per run; the rest are counted */
#define KILLS_MAX      100000          /* rounds one run may ask for */

/* Two are the emulator's built-in accounts (docs/sim.md); the accounts file
 * replaces those, so it lists them too. */
static const kill_account accounts[ACCOUNTS] = {
    {"demo-binance", "binance", "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83",
     "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"},
    {"demo-bybit", "bybit", "XXXXXXXXXX", "test-secret"},
    {"kill-binance-2", "binance", "kill-test-binance-2-key", "kill-test-binance-2-secret"},
    {"kill-bybit-2", "bybit", "kill-test-bybit-2-key", "kill-test-bybit-2-secret"},
};

typedef struct symbol {
    const char *name;  /* instrument */
    const char *start; /* start mark (docs/sim.md) */
    const char *size;  /* position size, above the minimum notional */
} symbol;

static const symbol symbols[SYMBOLS] = {
    {"BTCUSDT", "50000.00", "0.010"},      {"ETHUSDT", "3000.00", "0.100"},
    {"1000PEPEUSDT", "0.0100000", "1000"}, {"SOLUSDT", "150.00", "10"},
    {"XRPUSDT", "0.6000", "1000.0"},
};

typedef struct options {
    kill_options k;        /* --kills --seed (price walks and timings) --dir (where the
                              temporary directory goes) --min-ms --max-ms (a daemon's life)
                              --keep */
    char cli[PATH_BYTES];  /* the trailguard executable */
    int64_t pause_ms;      /* longest wait between a kill and the restart */
    uint32_t min_interval; /* min_update_interval_seconds */
} options;

/* What the emulator shows for one account and symbol at one look. */
typedef struct look {
    bool ok;                          /* the emulator answered */
    tg_dec size;                      /* signed position size; 0 = flat */
    tg_dec entry;                     /* entry price */
    uint32_t ours;                    /* trailguard stops open */
    uint32_t foreign;                 /* other conditional orders open */
    tg_dec tightest;                  /* the tightest of ours, when ours > 0 */
    bool win_open;                    /* an unprotected window is running */
    uint64_t win_count;               /* windows, the running one included */
    int64_t win_total_us;             /* their total length */
    int64_t win_len_us[WINDOWS_KEPT]; /* the latest windows, oldest first */
    uint32_t win_listed;              /* entries in win_len_us */
} look;

/* One position the test follows; "generation" counts its openings. */
typedef struct position {
    int acct;              /* index in accounts */
    int sym;               /* index in symbols */
    bool is_long;          /* side */
    uint32_t generation;   /* 1 for the scenario's opening, +1 per reopening */
    uint64_t win_base;     /* windows before this generation opened */
    int64_t total_base_us; /* their total */
    bool first_known;      /* this generation's first window is measured */
    int64_t first_len_us;  /* its length: the first placement */
    int64_t extra_prev_us; /* unprotected time past first placements, earlier generations */
    int64_t extra_us;      /* the same, all generations */
    tg_dec entry;          /* this generation's entry price */
    bool confirmed_set;    /* a stop_confirmed was read for this generation */
    tg_dec confirmed;      /* the last one */
    bool flat;             /* flat at the last check */
    look last;             /* the last look */
} position;

typedef struct totals {
    uint32_t kills;           /* rounds done */
    uint64_t duplicates;      /* lasting second trailguard stops */
    uint64_t orphans;         /* lasting stops on flat positions */
    uint64_t missing;         /* lasting open positions without a stop */
    uint64_t loosened;        /* stops seen looser than the confirmed one */
    uint64_t transient;       /* faults that cleared within RECHECK_MS */
    uint64_t foreign;         /* other conditional orders seen */
    uint64_t reopened;        /* positions opened again after a stop closed them */
    uint64_t confirmed_reads; /* stop_confirmed values read before kills */
    uint64_t daemon_deaths;   /* daemons that exited without being killed */
    uint64_t settle_failures; /* restarts that did not reconcile in time */
    uint64_t emulator_errors; /* control requests that failed */
    int64_t settle_ms_max;    /* longest restart-to-reconciled */
    uint64_t shown;           /* findings printed */
} totals;

typedef struct tester {
    options opt;              /* command line */
    char dir[PATH_BYTES];     /* the temporary directory */
    char ini[PATH_BYTES * 2]; /* the daemon's configuration */
    char log[PATH_BYTES * 2]; /* the daemon's log */
    tg_sim *sim;              /* the emulator, in-process */
    tg_sim_ports ports;       /* its ports */
    uint16_t http_port;       /* the running daemon's HTTP port */
    pid_t daemon;             /* the running daemon, 0 when none */
    uint64_t rng;             /* timings */
    kill_answer answer;       /* the last daemon answer */
    position pos[POSITIONS];  /* the positions */
    totals t;                 /* counters */
} tester;

static void say(tester *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One finding on stderr (the first FINDINGS_SHOWN of a run). */
static void say(tester *t, const char *fmt, ...) {
    if (t->t.shown++ >= FINDINGS_SHOWN) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "daemon_kill_test: kill %u: ", t->t.kills);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char *pos_name(const position *p, char *buf, size_t cap) {
    snprintf(buf, cap, "%s %s %s", accounts[p->acct].name, symbols[p->sym].name,
             p->is_long ? "long" : "short");
    return buf;
}

/* ---- files -------------------------------------------------------------- */

/* A fresh HTTP port per life: the killed daemon's port may still be held by
 * connections in TIME_WAIT. */
static bool write_config(tester *t) {
    t->http_port = kill_free_port();
    char ini[8192];
    int n = snprintf(ini, sizeof ini,
                     "# written by daemon_kill_test\n[store]\nuri = %s/trailguard.db\n\n", t->dir);
    n = kill_account_sections(ini, sizeof ini, n, t->dir, accounts, ACCOUNTS, t->ports, "");
    if (n > 0 && (size_t)n < sizeof ini) {
        n += snprintf(ini + n, sizeof ini - (size_t)n,
                      "[defaults]\nactivation_percent = 0.3\ncallback_percent = 0.5\n"
                      "initial_stop_percent = 1.5\nmin_update_interval_seconds = %u\n"
                      "reconcile_interval_seconds = %d\nstale_seconds = 10\n\n"
                      "[http]\nlisten = 127.0.0.1:%u\n",
                      t->opt.min_interval, RECONCILE_S, t->http_port);
    }
    if (n <= 0 || (size_t)n >= sizeof ini || t->http_port == 0) {
        fprintf(stderr, "daemon_kill_test: cannot build the configuration\n");
        return false;
    }
    return kill_write_file(t->ini, ini, 0644);
}

/* ---- the emulator ------------------------------------------------------- */

static bool sim_ok(tester *t, const char *method, const char *target, const char *body, char *out,
                   size_t cap) {
    int status = tg_sim_call(t->sim, method, target, body, out, cap);
    if (status != 200) {
        t->t.emulator_errors++;
        say(t, "emulator %s %s: %d %s", method, target, status, out);
        return false;
    }
    return true;
}

static bool load_scenario(tester *t) {
    cJSON *sc = cJSON_CreateObject();
    cJSON *paths = cJSON_AddArrayToObject(sc, "paths");
    for (int s = 0; s < SYMBOLS; s++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "symbol", symbols[s].name);
        cJSON_AddStringToObject(p, "kind", "walk");
        cJSON_AddNumberToObject(p, "interval_ms", STEP_MS);
        cJSON_AddNumberToObject(p, "step_bps", STEP_BPS);
        cJSON_AddStringToObject(p, "start", symbols[s].start);
        cJSON_AddItemToArray(paths, p);
    }
    cJSON *list = cJSON_AddArrayToObject(sc, "positions");
    for (int i = 0; i < POSITIONS; i++) {
        const position *p = &t->pos[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "account", accounts[p->acct].name);
        cJSON_AddStringToObject(o, "symbol", symbols[p->sym].name);
        cJSON_AddStringToObject(o, "side", p->is_long ? "long" : "short");
        cJSON_AddStringToObject(o, "size", symbols[p->sym].size);
        cJSON_AddItemToArray(list, o);
    }
    char *text = cJSON_PrintUnformatted(sc);
    cJSON_Delete(sc);
    char out[4096];
    bool ok = text != NULL && sim_ok(t, "POST", "/sim/scenario", text, out, sizeof out);
    free(text);
    return ok;
}

/* Binance counts request weight per IP and minute, and loopback is one IP
 * for both Binance accounts. Each daemon life spends about 135 weight per
 * Binance account in its first 50 ms (three reconcile passes of
 * positionRisk 5 + openAlgoOrders 40), so 50 lives in three minutes would
 * spend several minutes' worth: the daemon (rightly) holds its requests back
 * until the next minute and no restart could reconcile in time. The test is
 * about kills, not the rate limiter, so every life starts with fresh
 * counters (POST /sim/limits keeps the limits and zeroes the counters) while
 * the daemon is dead. Within one life the limits apply as documented. */
static bool reset_rate_counters(tester *t) {
    char out[512];
    return sim_ok(t, "POST", "/sim/limits", "{}", out, sizeof out);
}

static bool dec_field(const cJSON *o, const char *name, tg_dec *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && tg_dec_parse_cstr(v->valuestring, out) == TG_DEC_OK;
}

static int64_t int_field(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

static void look_stops(look *l, const cJSON *stops, bool is_long) {
    const cJSON *s;
    cJSON_ArrayForEach(s, stops) {
        tg_dec trigger;
        if (!kill_stop_is_ours(s) || !dec_field(s, "trigger", &trigger)) {
            l->foreign++;
            continue;
        }
        bool tighter = is_long ? tg_dec_gt(trigger, l->tightest) : tg_dec_lt(trigger, l->tightest);
        if (l->ours == 0 || tighter) {
            l->tightest = trigger;
        }
        l->ours++;
    }
}

static void look_windows(look *l, const cJSON *u) {
    const cJSON *open = cJSON_GetObjectItemCaseSensitive(u, "open");
    l->win_open = cJSON_IsTrue(open);
    l->win_count = (uint64_t)int_field(u, "count");
    l->win_total_us = int_field(u, "total_us");
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(u, "windows")) {
        if (l->win_listed < WINDOWS_KEPT) {
            l->win_len_us[l->win_listed++] = int_field(w, "len_us");
        }
    }
}

static look look_at(tester *t, const position *p) {
    look l = {0};
    char target[160];
    static char out[PROTECTION_MAX];
    snprintf(target, sizeof target, "/sim/protection?account=%s&symbol=%s", accounts[p->acct].name,
             symbols[p->sym].name);
    if (!sim_ok(t, "GET", target, NULL, out, sizeof out)) {
        return l;
    }
    cJSON *o = cJSON_Parse(out);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "unprotected");
    if (dec_field(o, "size", &l.size) && dec_field(o, "entry", &l.entry) && cJSON_IsObject(u)) {
        look_stops(&l, cJSON_GetObjectItemCaseSensitive(o, "open_stops"), p->is_long);
        look_windows(&l, u);
        l.ok = l.win_count < UINT64_MAX && l.win_total_us >= 0;
    }
    if (!l.ok) {
        say(t, "emulator answer not understood: %.200s", out);
        t->t.emulator_errors++;
    }
    cJSON_Delete(o);
    return l;
}

/* ---- the daemon --------------------------------------------------------- */

static bool start_daemon(tester *t) {
    if (!reset_rate_counters(t) || !write_config(t)) {
        return false;
    }
    t->daemon = kill_daemon_spawn(t->opt.cli, t->ini, t->log);
    return t->daemon > 0;
}

/* True while the daemon has not exited on its own (it is reaped if it has). */
static bool daemon_alive(tester *t) {
    int status = 0;
    if (t->daemon <= 0) {
        return false;
    }
    if (waitpid(t->daemon, &status, WNOHANG) == 0) {
        return true;
    }
    say(t, "the daemon (pid %d) exited by itself: %s %d (see %s)", (int)t->daemon,
        WIFSIGNALED(status) ? "signal" : "status",
        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), t->log);
    t->t.daemon_deaths++;
    t->daemon = 0;
    return false;
}

/* GET path from the daemon into t->answer: the HTTP status, 0 when it did
 * not answer. */
static long daemon_get(tester *t, const char *path) {
    return kill_http_get(t->http_port, path, &t->answer);
}

/* Every account has finished a reconcile pass in this life. */
static bool reconciled_all(tester *t) {
    if (daemon_get(t, "/metrics") != 200) {
        return false;
    }
    for (int i = 0; i < ACCOUNTS; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "\ntrailguard_reconciles_total{account=\"%s\"} ",
                 accounts[i].name);
        const char *at = strstr(t->answer.text, needle);
        if (at == NULL || atof(at + strlen(needle)) < 1) {
            return false;
        }
    }
    return true;
}

static const char *str_field(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static position *pos_find(tester *t, const char *acct, const char *sym) {
    for (int i = 0; i < POSITIONS; i++) {
        position *p = &t->pos[i];
        if (strcmp(accounts[p->acct].name, acct) == 0 && strcmp(symbols[p->sym].name, sym) == 0) {
            return p;
        }
    }
    return NULL;
}

/* Every position the daemon lists has a stop on the exchange and no request
 * out. */
static bool stops_settled(tester *t) {
    if (daemon_get(t, "/v1/positions") != 200) {
        return false;
    }
    cJSON *arr = cJSON_Parse(t->answer.text);
    bool settled = cJSON_IsArray(arr);
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "exchange_stop");
        settled &= cJSON_IsObject(ex) && !cJSON_IsTrue(cJSON_GetObjectItem(o, "in_flight"));
    }
    cJSON_Delete(arr);
    return settled;
}

/* Waits until the restarted daemon is healthy, has reconciled every account
 * and holds a stop for every position it knows. */
static bool wait_settled(tester *t) {
    int64_t start = kill_now_ms();
    while (kill_now_ms() - start < SETTLE_MS_MAX) {
        if (!daemon_alive(t)) {
            return false;
        }
        if (daemon_get(t, "/health") == 200 && reconciled_all(t) && stops_settled(t)) {
            int64_t took = kill_now_ms() - start;
            t->t.settle_ms_max = took > t->t.settle_ms_max ? took : t->t.settle_ms_max;
            return true;
        }
        kill_sleep_ms(POLL_MS);
    }
    daemon_get(t, "/health");
    say(t, "the daemon did not reconcile within %d ms; /health: %.300s (log %s)", SETTLE_MS_MAX,
        t->answer.text, t->log);
    t->t.settle_failures++;
    return false;
}

/* Before a kill: every position's stop_confirmed, which no later stop may
 * loosen. A row of an earlier generation (another entry) is not this one's. */
static void read_confirmed(tester *t) {
    if (daemon_get(t, "/v1/positions") != 200) {
        say(t, "GET /v1/positions before the kill did not answer");
        return;
    }
    cJSON *arr = cJSON_Parse(t->answer.text);
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        position *p = pos_find(t, str_field(o, "account"), str_field(o, "symbol"));
        tg_dec stop, entry;
        if (p == NULL || !dec_field(o, "stop_confirmed", &stop) || !dec_field(o, "entry", &entry) ||
            !tg_dec_eq(entry, p->entry)) {
            continue;
        }
        bool looser = p->is_long ? tg_dec_lt(stop, p->confirmed) : tg_dec_gt(stop, p->confirmed);
        if (p->confirmed_set && looser) {
            char name[96], was[TG_DEC_STR_MAX], now[TG_DEC_STR_MAX];
            tg_dec_format(p->confirmed, 0, was);
            tg_dec_format(stop, 0, now);
            say(t, "%s: the daemon's confirmed stop went from %s to %s",
                pos_name(p, name, sizeof name), was, now);
            t->t.loosened++;
        }
        p->confirmed = stop;
        p->confirmed_set = true;
        t->t.confirmed_reads++;
    }
    cJSON_Delete(arr);
}

/* ---- the checks --------------------------------------------------------- */

enum fault { FAULT_NONE, FAULT_MISSING, FAULT_DUPLICATE, FAULT_ORPHAN };

static enum fault fault_of(const look *l) {
    if (tg_dec_is_zero(l->size)) {
        return l->ours > 0 ? FAULT_ORPHAN : FAULT_NONE;
    }
    return l->ours == 0 ? FAULT_MISSING : l->ours > 1 ? FAULT_DUPLICATE : FAULT_NONE;
}

/* A stop looser than the confirmed one read before the kill counts at once:
 * the tightest stop is what protects the position. */
static bool check_loosened(tester *t, position *p, const look *l) {
    if (!p->confirmed_set || l->ours == 0 || tg_dec_is_zero(l->size) ||
        !tg_dec_eq(l->entry, p->entry)) {
        return false;
    }
    bool looser =
        p->is_long ? tg_dec_lt(l->tightest, p->confirmed) : tg_dec_gt(l->tightest, p->confirmed);
    if (looser) {
        char name[96], was[TG_DEC_STR_MAX], now[TG_DEC_STR_MAX];
        tg_dec_format(p->confirmed, 0, was);
        tg_dec_format(l->tightest, 0, now);
        say(t, "%s: confirmed stop %s before the kill, %s on the exchange after it",
            pos_name(p, name, sizeof name), was, now);
        t->t.loosened++;
    }
    return looser;
}

/* Unprotected time past this generation's first placement. The first window
 * is measured once it has closed; until then nothing is past it. */
static void account_windows(tester *t, position *p, const look *l) {
    if (!p->first_known && l->win_count > p->win_base &&
        !(l->win_open && l->win_count == p->win_base + 1)) {
        uint64_t oldest = l->win_count - l->win_listed;
        if (p->win_base >= oldest) {
            p->first_len_us = l->win_len_us[p->win_base - oldest];
        } else {
            p->first_len_us = 0; /* scrolled out of the list: count it all */
            say(t, "first window of a generation no longer listed");
        }
        p->first_known = true;
    }
    int64_t past = 0;
    if (p->first_known) {
        past = l->win_total_us - p->total_base_us - p->first_len_us;
    }
    int64_t extra = p->extra_prev_us + (past > 0 ? past : 0);
    if (extra > p->extra_us) {
        char name[96];
        say(t,
            "%s: unprotected %" PRId64 " us past its first placement (%" PRIu64 " windows, %" PRId64
            " us in all)",
            pos_name(p, name, sizeof name), extra, l->win_count, l->win_total_us);
        p->extra_us = extra;
    }
}

static void count_fault(tester *t, position *p, const look *l, enum fault f) {
    char name[96];
    pos_name(p, name, sizeof name);
    if (f == FAULT_MISSING) {
        say(t, "%s: open (size %" PRId64 "e-8) without a trailguard stop for %d ms", name,
            l->size.units, RECHECK_MS);
        t->t.missing++;
    } else if (f == FAULT_DUPLICATE) {
        say(t, "%s: %u trailguard stops for %d ms", name, l->ours, RECHECK_MS);
        t->t.duplicates++;
    } else if (f == FAULT_ORPHAN) {
        say(t, "%s: flat with %u trailguard stop(s) for %d ms", name, l->ours, RECHECK_MS);
        t->t.orphans++;
    }
}

/* Looks at every position until no structural fault is left or one has
 * lasted RECHECK_MS; then counts what is left and accounts the windows. */
static void check_all(tester *t) {
    bool loosened[POSITIONS] = {false};
    bool faulted[POSITIONS] = {false};
    int64_t start = kill_now_ms();
    for (;;) {
        bool any = false;
        for (int i = 0; i < POSITIONS; i++) {
            position *p = &t->pos[i];
            p->last = look_at(t, p);
            if (!p->last.ok) {
                continue;
            }
            if (!loosened[i]) {
                loosened[i] = check_loosened(t, p, &p->last);
            }
            bool f = fault_of(&p->last) != FAULT_NONE;
            faulted[i] |= f;
            any |= f;
        }
        if (!any || kill_now_ms() - start >= RECHECK_MS) {
            break;
        }
        kill_sleep_ms(RECHECK_GAP_MS);
    }
    for (int i = 0; i < POSITIONS; i++) {
        position *p = &t->pos[i];
        if (!p->last.ok) {
            continue;
        }
        enum fault f = fault_of(&p->last);
        count_fault(t, p, &p->last, f);
        t->t.transient += faulted[i] && f == FAULT_NONE;
        t->t.foreign += p->last.foreign;
        account_windows(t, p, &p->last);
        p->flat = tg_dec_is_zero(p->last.size);
    }
}

/* A position a stop closed is opened again at the mark: the daemon must take
 * it up like any new position. Its first window is its own first placement. */
static void reopen_flat(tester *t) {
    for (int i = 0; i < POSITIONS; i++) {
        position *p = &t->pos[i];
        if (!p->flat || !p->last.ok || p->last.win_open) {
            continue;
        }
        char body[256], out[1024];
        snprintf(body, sizeof body,
                 "{\"account\":\"%s\",\"symbol\":\"%s\",\"side\":\"%s\",\"size\":\"%s\"}",
                 accounts[p->acct].name, symbols[p->sym].name, p->is_long ? "long" : "short",
                 symbols[p->sym].size);
        if (!sim_ok(t, "POST", "/sim/position", body, out, sizeof out)) {
            continue;
        }
        cJSON *o = cJSON_Parse(out);
        tg_dec entry;
        if (dec_field(o, "entry", &entry)) {
            if (p->first_known) {
                int64_t past = p->last.win_total_us - p->total_base_us - p->first_len_us;
                p->extra_prev_us += past > 0 ? past : 0;
            }
            p->generation++;
            p->win_base = p->last.win_count;
            p->total_base_us = p->last.win_total_us;
            p->first_known = false;
            p->first_len_us = 0;
            p->entry = entry;
            p->confirmed_set = false;
            p->flat = false;
            t->t.reopened++;
        }
        cJSON_Delete(o);
    }
}

/* ---- the run ------------------------------------------------------------ */

static int usage(const char *why) {
    fprintf(stderr,
            "daemon_kill_test: %s\nusage: daemon_kill_test [--kills N] [--seed S] [--dir DIR] "
            "[--cli PATH] [--min-ms A] [--max-ms B] [--pause-ms C] [--min-interval 0|1] "
            "[--keep]\n",
            why);
    return 2;
}

static bool own_option(void *ctx, const char *name, const char *value) {
    options *o = ctx;
    uint64_t v = 0;
    if (strcmp(name, "--cli") == 0) {
        snprintf(o->cli, sizeof o->cli, "%s", value);
    } else if (strcmp(name, "--pause-ms") == 0 && kill_number(value, 60000, &v)) {
        o->pause_ms = (int64_t)v;
    } else if (strcmp(name, "--min-interval") == 0 && kill_number(value, 1, &v)) {
        o->min_interval = (uint32_t)v;
    } else {
        return false;
    }
    return true;
}

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){
        .k = {.kills = 50, .seed = 1, .dir = "/tmp", .min_ms = 300, .max_ms = 2000},
        .pause_ms = 800,
        .min_interval = 0,
    };
    snprintf(o->cli, sizeof o->cli, "%s", TG_CLI_PATH);
    return kill_parse_args(argc, argv, &o->k, KILLS_MAX, own_option, o, usage);
}

static bool setup(tester *t) {
    snprintf(t->dir, sizeof t->dir, "%s/tg-kill-XXXXXX", t->opt.k.dir);
    if (mkdtemp(t->dir) == NULL) {
        fprintf(stderr, "daemon_kill_test: mkdtemp %s: %s\n", t->dir, strerror(errno));
        return false;
    }
    snprintf(t->ini, sizeof t->ini, "%s/trailguard.ini", t->dir);
    snprintf(t->log, sizeof t->log, "%s/daemon.log", t->dir);
    t->rng = t->opt.k.seed * 0x9E3779B97F4A7C15ull + 1;
    t->answer = (kill_answer){.text = malloc(ANSWER_MAX), .cap = ANSWER_MAX};
    for (int i = 0; i < POSITIONS; i++) {
        position *p = &t->pos[i];
        p->acct = i / SYMBOLS;
        p->sym = i % SYMBOLS;
        p->is_long = (p->acct + p->sym) % 2 == 0; /* both sides on every venue and symbol */
        p->generation = 1;
        tg_dec_parse_cstr(symbols[p->sym].start, &p->entry);
    }
    char accounts_path[PATH_BYTES * 2];
    snprintf(accounts_path, sizeof accounts_path, "%s/accounts.json", t->dir);
    tg_sim_config sc = tg_sim_config_default();
    sc.seed = t->opt.k.seed;
    sc.accounts_path = accounts_path;
    tg_err err = {0};
    if (t->answer.text == NULL || !kill_write_accounts(t->dir, accounts, ACCOUNTS) ||
        tg_sim_new(&sc, &t->sim, &err) != TG_OK || tg_sim_start(t->sim, &err) != TG_OK) {
        fprintf(stderr, "daemon_kill_test: emulator: %s\n", err.msg);
        return false;
    }
    t->ports = tg_sim_ports_get(t->sim);
    return load_scenario(t);
}

/* One life of the daemon: run, read the confirmed stops, SIGKILL, wait,
 * restart, reconcile, check. */
static bool one_round(tester *t) {
    kill_sleep_ms(kill_random_range(&t->rng, t->opt.k.min_ms, t->opt.k.max_ms));
    if (!daemon_alive(t)) {
        return start_daemon(t) && wait_settled(t);
    }
    read_confirmed(t);
    kill_daemon_stop(&t->daemon, SIGKILL);
    t->t.kills++;
    kill_sleep_ms(kill_random_range(&t->rng, 0, t->opt.pause_ms));
    if (!start_daemon(t) || !wait_settled(t)) {
        return false;
    }
    check_all(t);
    reopen_flat(t);
    return true;
}

static int64_t unprotected_ms_max(const tester *t) {
    int64_t max_us = 0;
    for (int i = 0; i < POSITIONS; i++) {
        max_us = t->pos[i].extra_us > max_us ? t->pos[i].extra_us : max_us;
    }
    return (max_us + 999) / 1000; /* any unprotected microsecond shows */
}

static void progress(tester *t, int64_t start) {
    uint32_t open = 0;
    for (int i = 0; i < POSITIONS; i++) {
        open += !t->pos[i].flat;
    }
    printf("daemon-kill-test: %u/%u kills, %u/%d open, %" PRIu64 " reopened, %" PRIu64
           " confirmed stops compared, %" PRIu64
           " transient faults, restart-to-reconciled max %" PRId64 " ms, %.1f s\n",
           t->t.kills, t->opt.k.kills, open, POSITIONS, t->t.reopened, t->t.confirmed_reads,
           t->t.transient, t->t.settle_ms_max, (double)(kill_now_ms() - start) / 1000.0);
    fflush(stdout);
}

static bool run(tester *t) {
    if (!start_daemon(t) || !wait_settled(t)) {
        return false;
    }
    check_all(t); /* measures every first placement */
    for (int i = 0; i < POSITIONS; i++) {
        t->pos[i].entry = t->pos[i].last.entry; /* the emulator's, as the daemon reads it */
    }
    int64_t start = kill_now_ms();
    while (t->t.kills < t->opt.k.kills) {
        if (!one_round(t)) {
            return false;
        }
        if (t->t.kills % PROGRESS_EVERY == 0 || t->t.kills == t->opt.k.kills) {
            progress(t, start);
        }
    }
    return true;
}

int main(int argc, char **argv) {
    static tester t;
    int rc = parse_args(argc, argv, &t.opt);
    if (rc != 0) {
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!setup(&t)) {
        tg_sim_free(t.sim);
        if (!t.opt.k.keep && t.dir[0] != '\0') {
            kill_remove_dir(t.dir);
        }
        return 2;
    }
    printf("daemon-kill-test: %u kills, seed %" PRIu64
           ", %d positions on %d accounts, lives %" PRId64 "..%" PRId64 " ms, pauses 0..%" PRId64
           " ms, directory %s\n",
           t.opt.k.kills, t.opt.k.seed, POSITIONS, ACCOUNTS, t.opt.k.min_ms, t.opt.k.max_ms,
           t.opt.pause_ms, t.dir);
    fflush(stdout);
    bool completed = run(&t);
    kill_daemon_stop(&t.daemon, SIGTERM);
    int64_t unprotected = unprotected_ms_max(&t);
    uint64_t faults = t.t.duplicates + t.t.orphans + t.t.loosened + t.t.missing +
                      t.t.daemon_deaths + t.t.settle_failures + t.t.emulator_errors;
    bool ok = completed && unprotected == 0 && faults == 0;
    if (!ok) {
        printf("daemon-kill-test: FAILED: %s, %" PRIu64 " positions left without a stop, %" PRIu64
               " daemon deaths, %" PRIu64 " restarts that did not reconcile, %" PRIu64
               " emulator errors; directory kept: %s (daemon.log)\n",
               completed ? "completed" : "stopped early", t.t.missing, t.t.daemon_deaths,
               t.t.settle_failures, t.t.emulator_errors, t.dir);
    }
    printf("kills=%u positions=%d unprotected_ms_max=%" PRId64 " duplicates=%" PRIu64
           " orphans=%" PRIu64 " loosened=%" PRIu64 "\n",
           t.t.kills, POSITIONS, unprotected, t.t.duplicates, t.t.orphans, t.t.loosened);
    tg_sim_free(t.sim);
    free(t.answer.text);
    if (!t.opt.k.keep && ok) {
        kill_remove_dir(t.dir);
    }
    curl_global_cleanup();
    return ok ? 0 : 1;
}
