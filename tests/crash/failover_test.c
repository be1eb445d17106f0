/*
 * failover_test — three `trailguard run` processes with [cluster] on one
 * throw-away PostgreSQL (scripts/pg-test-cluster.sh) against the in-process
 * emulator. Six accounts (three Binance, three Bybit) hold a position on
 * each of 50 generated instruments (S0001USDT … S0050USDT, all walking):
 * 300 positions. Every kill interval one live process, chosen at random, is
 * SIGKILLed and started again restart-ms later.
 *
 * Every LOOK_MS the test reads the leases table (the database's view), the
 * emulator's request log since its last read, and every position's stops
 * (the exchange's view), and measures:
 *   - takeover_ms: from a kill to each account the dead process held being
 *     leased by a live one (must stay within lease ttl + 2 s);
 *   - after every change of hands (a takeover or a hand-over), the
 *     account's positions must settle within SETTLE_MS: every open one with
 *     exactly one trailguard stop, no stop left on a flat one;
 *   - unprotected_ms_max: the longest time an open position was seen
 *     without a trailguard stop after its first one, and the longest
 *     unprotected window the emulator measured after the first placement
 *     (any is a failure: the stop stays on the exchange while an account
 *     changes hands);
 *   - duplicates / orphans: two or more trailguard stops on a position, or
 *     one on a flat position, for longer than RECHECK_MS while a live
 *     process serves its account (a process killed mid-replace leaves two
 *     that only the next owner can clean, after the lease ran out);
 *   - loosened: a position's tightest stop seen looser than before;
 *   - senders: every request that changes orders (every method but GET, the
 *     listenKey aside) carries its process's User-Agent, "trailguard/V
 *     (NODE_ID)". Per account, those requests must form runs of one node
 *     each, and the run owners must be, in order, owners of successive
 *     lease terms the test saw in the leases table (a term is one token; a
 *     token the test never saw stands for a term of unknown owner): a node
 *     that sends after another node sent must have taken the lease in
 *     between. The log is a ring (8192 entries): a read that finds entries
 *     gone fails the run.
 *
 *   failover_test [--seconds N] [--seed S] [--dir DIR] [--kill-every-ms K]
 *                 [--restart-ms R] [--keep]
 *
 * Ends with `kills=N takeovers=T takeover_ms_p50=… takeover_ms_p99=…
 * unprotected_ms_max=… duplicates=D loosened=L`, after a line with the other
 * counts and the PostgreSQL transactions per second; exits 1 when any check
 * failed, 77 without a PostgreSQL server.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>
#include <libpq-fe.h>

#include "trailguard/decimal.h"
#include "trailguard/sim.h"
#include "trailguard/store.h"

#include "kill_util.h"

#define ACCOUNTS       6
#define SYMBOLS        50 /* generated instruments: one position on each per account */
#define POSITIONS      (ACCOUNTS * SYMBOLS)
#define NODES          3
#define TTL_S          4                    /* lease_ttl_seconds */
#define RENEW_S        1                    /* lease_renew_seconds */
#define LATE_MS        ((TTL_S + 2) * 1000) /* a takeover later than this fails the run */
#define LOOK_MS        200                  /* one round of looks, at most this often */
#define RECHECK_MS     3000                 /* two stops must last this long to be a duplicate */
#define SETTLE_MS      10000                /* after a change of hands, right within this */
#define STEP_MS        500                  /* one price step of each symbol */
#define STEP_BPS       5                    /* largest move of one step, basis points */
#define TAKEOVERS_MAX  4096                 /* takeovers measured in one run */
#define PENDING_MAX    (ACCOUNTS * 64)      /* takeovers waited for at once */
#define SETTLES_MAX    (ACCOUNTS * 64)      /* settle checks running at once */
#define TERMS_MAX      512                  /* lease terms kept per account */
#define RUNS_MAX       512                  /* runs of one sender kept per account */
#define NODE_ID_MAX    16                   /* bytes of a node id, NUL included */
#define PROTECTION_MAX 16384                /* bytes of one /sim/protection answer */
#define LOG_ANSWER_MAX (8u << 20)           /* bytes of one /sim/requests answer (8192 entries) */
#define ORDERS_MAX     4096                 /* the emulator's open orders */
#define FINDINGS_SHOWN 30                   /* findings printed; the rest are counted */
#define OPEN_WAIT_MS   10000                /* the daemons create the schema within this */
#define MEASURE_FROM_S 10                   /* the database load is measured from here on */
#define EXIT_SKIPPED   77
#define PROG           "failover_test"

#ifndef TG_SOURCE_DIR
#error "TG_SOURCE_DIR names the source tree (scripts/pg-test-cluster.sh)"
#endif
#define CLUSTER_SCRIPT TG_SOURCE_DIR "/scripts/pg-test-cluster.sh"

static const kill_account accounts[ACCOUNTS] = {
    {"fo-binance-1", "binance", "fo-binance-1-key", "fo-binance-1-secret"},
    {"fo-bybit-1", "bybit", "fo-bybit-1-key", "fo-bybit-1-secret"},
    {"fo-binance-2", "binance", "fo-binance-2-key", "fo-binance-2-secret"},
    {"fo-bybit-2", "bybit", "fo-bybit-2-key", "fo-bybit-2-secret"},
    {"fo-binance-3", "binance", "fo-binance-3-key", "fo-binance-3-secret"},
    {"fo-bybit-3", "bybit", "fo-bybit-3-key", "fo-bybit-3-secret"},
};

typedef struct position {
    int acct, sym;         /* indices */
    bool is_long;          /* side */
    bool seen;             /* the emulator answered for it at least once */
    bool open;             /* open at the last look */
    uint32_t ours;         /* trailguard stops at the last look */
    bool protected_once;   /* a trailguard stop was seen */
    bool have_tightest;    /* tightest holds a stop seen */
    tg_dec tightest;       /* the tightest stop seen so far */
    int64_t bare_since;    /* ms it has been seen open without a stop, 0 not */
    int64_t dup_since;     /* ms it has been seen with two or more, 0 not */
    int64_t orphan_since;  /* ms it has been seen flat with a stop, 0 not */
    bool dup_counted;      /* this run of two stops was counted */
    bool orphan_counted;   /* this orphan was counted */
    bool closed_by_stop;   /* a stop closed it */
    int64_t window_ms_max; /* longest emulator window after the first placement */
} position;

typedef struct node {
    pid_t pid;                     /* 0 when dead */
    int64_t restart_at;            /* ms it starts again, 0 none */
    char id[NODE_ID_MAX];          /* node_id */
    char ini[KILL_PATH_BYTES * 2]; /* config */
    char log[KILL_PATH_BYTES * 2]; /* log */
} node;

typedef struct pending {
    int acct;                /* account whose owner died */
    char owner[NODE_ID_MAX]; /* the dead owner */
    int64_t killed_ms;       /* when */
} pending;

typedef struct settle {
    int acct;        /* account that changed hands */
    int64_t from_ms; /* when the test saw it served by its new owner */
} settle;

/* One lease term: one token of an account's lease. */
typedef struct term {
    int64_t token;                /* fencing token */
    char owner[TG_STORE_KEY_MAX]; /* its owner; "" for a term the test never saw */
    bool seen;                    /* read from the table */
} term;

/* Consecutive order requests of one account by one node. */
typedef struct send_run {
    char node[NODE_ID_MAX]; /* sender */
    uint64_t first_seq;     /* request-log sequence numbers */
    uint64_t last_seq;
    uint32_t count; /* requests */
} send_run;

typedef struct senders {
    term terms[TERMS_MAX]; /* terms seen, in token order */
    uint32_t n_terms;
    int64_t last_token;      /* highest token seen */
    send_run runs[RUNS_MAX]; /* runs, in log order */
    uint32_t n_runs;
    uint64_t sends; /* order requests */
    bool overflow;  /* more terms or runs than kept: fails the run */
} senders;

typedef struct counts {
    uint32_t kills, takeovers, late, duplicates, orphans, loosened, closed;
    uint32_t settled, settle_failures, deaths;
    uint64_t look_errors;  /* emulator or database reads that failed */
    uint64_t log_entries;  /* request-log entries read */
    uint64_t log_gaps;     /* entries lost before they were read */
    uint64_t log_errors;   /* request-log reads that failed */
    uint64_t unattributed; /* order requests without a node's User-Agent */
    uint64_t interleaved;  /* accounts where two senders interleaved */
    uint64_t missed_terms; /* tokens the test never saw */
    uint64_t switches;     /* changes of sender, all accounts */
    uint64_t lease_reads;  /* the test's own reads of the leases table */
    uint64_t shown;        /* findings printed */
    int64_t bare_ms_max;   /* longest seen without a stop */
    int64_t settle_ms_max; /* longest change of hands until right */
    int64_t round_ms_max;  /* longest round of looks */
} counts;

typedef struct tester {
    int64_t seconds, kill_every_ms, restart_ms;
    uint64_t seed;
    bool keep;
    const char *base;
    char dir[KILL_PATH_BYTES];
    char pg_dir[KILL_PATH_BYTES];
    char uri[1024];
    tg_sim *sim;
    tg_sim_ports ports;
    tg_store *leases; /* read-only handle for the leases table */
    node nodes[NODES];
    position pos[POSITIONS];
    char owner[ACCOUNTS][TG_STORE_KEY_MAX];     /* live lease owner, "" none */
    char served_by[ACCOUNTS][TG_STORE_KEY_MAX]; /* the live process serving it, "" none */
    int64_t served_since[ACCOUNTS];             /* since when, ms; 0 none */
    bool ever_served[ACCOUNTS];                 /* a first owner was seen */
    pending pend[PENDING_MAX];
    uint32_t n_pend;
    settle settles[SETTLES_MAX];
    uint32_t n_settles;
    senders snd[ACCOUNTS];
    uint64_t log_seq; /* last request-log entry read */
    char *log_text;   /* LOG_ANSWER_MAX bytes */
    int64_t takeover_ms[TAKEOVERS_MAX];
    counts c;
} tester;

static void say(tester *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One finding on stderr (the first FINDINGS_SHOWN of a run). */
static void say(tester *t, const char *fmt, ...) {
    if (t->c.shown++ >= FINDINGS_SHOWN) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void symbol_name(int sym, char *buf, size_t cap) {
    snprintf(buf, cap, "S%04dUSDT", sym + 1);
}

static int account_index(const char *name) {
    for (int i = 0; i < ACCOUNTS; i++) {
        if (strcmp(accounts[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

/* ---- PostgreSQL --------------------------------------------------------- */

static int pg(tester *t, const char *cmd, char *out, size_t cap) {
    char line[KILL_PATH_BYTES * 3];
    snprintf(line, sizeof line, "'%s' %s '%s' 2>/dev/null", CLUSTER_SCRIPT, cmd, t->pg_dir);
    FILE *p = popen(line, "r");
    if (p == NULL) {
        return -1;
    }
    char buf[1024] = "";
    if (fgets(buf, sizeof buf, p) != NULL) {
        buf[strcspn(buf, "\n")] = '\0';
    }
    while (fgetc(p) != EOF) {
    }
    int status = pclose(p);
    if (out != NULL) {
        snprintf(out, cap, "%s", buf);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Transactions the database has finished (pg_stat_database: committed and
 * rolled back); -1 when it cannot be read. The server publishes them about
 * once a second, so a count over a long window is close. */
static int64_t pg_xacts(const tester *t) {
    PGconn *c = PQconnectdb(t->uri);
    int64_t n = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                "WHERE datname = current_database()");
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        }
        PQclear(r);
    }
    PQfinish(c);
    return n;
}

/* ---- the processes ------------------------------------------------------ */

/* A fresh HTTP port per life (the killed one's may be in TIME_WAIT). */
static bool write_config(tester *t, node *n) {
    char ini[8192];
    int len = snprintf(ini, sizeof ini, "[store]\nuri = %s\n\n", t->uri);
    /* Binance counts request weight per IP, and loopback is one IP for three
     * accounts and three processes: the emulator's limit is raised (see
     * start_node), and so is the daemon's budget, which paces to the used
     * weight the exchange reports. With 2,400 the three accounts' reconciles
     * use up the shared minute and every request waits for the next one,
     * the cancel of a replaced stop too. */
    len = kill_account_sections(ini, sizeof ini, len, t->dir, accounts, ACCOUNTS, t->ports,
                                "weight_limit_per_min = 1000000\n");
    if (len > 0) {
        int add = snprintf(ini + len, sizeof ini - (size_t)len,
                           "[defaults]\nactivation_percent = 0.3\ncallback_percent = 2\n"
                           "initial_stop_percent = 4\nmin_update_interval_seconds = 0\n"
                           "reconcile_interval_seconds = 2\nstale_seconds = 10\n\n"
                           "[http]\nlisten = 127.0.0.1:%u\n\n"
                           "[cluster]\nnode_id = %s\nlease_ttl_seconds = %d\n"
                           "lease_renew_seconds = %d\n",
                           (unsigned)kill_free_port(), n->id, TTL_S, RENEW_S);
        len = add > 0 && (size_t)(len + add) < sizeof ini ? len + add : -1;
    }
    if (len <= 0) {
        fprintf(stderr, PROG ": the configuration of %s does not fit\n", n->id);
        return false;
    }
    return kill_write_file(n->ini, ini, 0644);
}

static bool start_node(tester *t, node *n) {
    /* Three Binance accounts on one loopback IP share Binance's per-IP weight,
     * and every start spends a reconcile's worth: the test is about kills,
     * not the rate limiter (daemon_kill_test resets the counters likewise). */
    char out[512];
    if (!kill_sim_ok(t->sim, PROG, "POST", "/sim/limits",
                     "{\"binance_weight_1m\":1000000,\"binance_orders_1m\":1000000}", out,
                     sizeof out) ||
        !write_config(t, n)) {
        return false;
    }
    n->pid = kill_daemon_spawn(TG_CLI_PATH, n->ini, n->log);
    n->restart_at = 0;
    return n->pid > 0;
}

/* A process that exited without being killed fails the run. */
static void reap_deaths(tester *t) {
    for (int i = 0; i < NODES; i++) {
        node *n = &t->nodes[i];
        int status = 0;
        if (n->pid > 0 && waitpid(n->pid, &status, WNOHANG) == n->pid) {
            say(t, "%s (pid %d) exited by itself: %s %d (log %s)", n->id, (int)n->pid,
                WIFSIGNALED(status) ? "signal" : "status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), n->log);
            n->pid = 0;
            t->c.deaths++;
        }
    }
}

static bool node_alive(const tester *t, const char *id) {
    for (int i = 0; i < NODES; i++) {
        if (t->nodes[i].pid > 0 && strcmp(t->nodes[i].id, id) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- the scenario ------------------------------------------------------- */

static bool load_scenario(tester *t) {
    cJSON *sc = cJSON_CreateObject();
    cJSON *gen = cJSON_AddObjectToObject(sc, "instruments");
    cJSON_AddNumberToObject(gen, "count", SYMBOLS);
    cJSON_AddStringToObject(gen, "prefix", "S");
    cJSON_AddStringToObject(gen, "quote", "USDT");
    cJSON_AddStringToObject(gen, "tick", "0.01");
    cJSON_AddStringToObject(gen, "step", "0.001");
    cJSON_AddStringToObject(gen, "start", "100");
    cJSON *paths = cJSON_AddArrayToObject(sc, "paths");
    for (int s = 0; s < SYMBOLS; s++) {
        char sym[32];
        symbol_name(s, sym, sizeof sym);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "symbol", sym);
        cJSON_AddStringToObject(p, "kind", "walk");
        cJSON_AddNumberToObject(p, "interval_ms", STEP_MS);
        cJSON_AddNumberToObject(p, "step_bps", STEP_BPS);
        cJSON_AddItemToArray(paths, p);
    }
    cJSON *list = cJSON_AddArrayToObject(sc, "positions");
    for (int i = 0; i < POSITIONS; i++) {
        position *p = &t->pos[i];
        p->acct = i / SYMBOLS;
        p->sym = i % SYMBOLS;
        p->is_long = (p->acct + p->sym) % 2 == 0; /* both sides on every venue and symbol */
        char sym[32];
        symbol_name(p->sym, sym, sizeof sym);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "account", accounts[p->acct].name);
        cJSON_AddStringToObject(o, "symbol", sym);
        cJSON_AddStringToObject(o, "side", p->is_long ? "long" : "short");
        cJSON_AddStringToObject(o, "size", "1.000");
        cJSON_AddItemToArray(list, o);
    }
    char *text = cJSON_PrintUnformatted(sc);
    cJSON_Delete(sc);
    char out[4096];
    bool ok =
        text != NULL && kill_sim_ok(t->sim, PROG, "POST", "/sim/scenario", text, out, sizeof out);
    free(text);
    return ok;
}

/* ---- the exchange's view ------------------------------------------------ */

/* Counts ours in the answer and finds the tightest of them. */
static uint32_t count_ours(const cJSON *stops, bool is_long, tg_dec *tightest) {
    uint32_t ours = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, stops) {
        const cJSON *trig = cJSON_GetObjectItemCaseSensitive(s, "trigger");
        tg_dec d;
        if (!kill_stop_is_ours(s) || !cJSON_IsString(trig) ||
            tg_dec_parse_cstr(trig->valuestring, &d) != TG_DEC_OK) {
            continue;
        }
        bool tighter = is_long ? tg_dec_gt(d, *tightest) : tg_dec_lt(d, *tightest);
        *tightest = ours == 0 || tighter ? d : *tightest;
        ours++;
    }
    return ours;
}

/* The emulator's unprotected windows after the first placement. */
static int64_t windows_after_first(const cJSON *u) {
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(u, "count");
    const cJSON *w;
    int64_t longest = 0, listed = 0;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(u, "windows")) {
        listed++;
    }
    const cJSON *open = cJSON_GetObjectItemCaseSensitive(u, "open");
    int64_t total = cJSON_IsNumber(count) ? (int64_t)count->valuedouble : listed;
    int64_t closed = total - (cJSON_IsTrue(open) ? 1 : 0); /* count holds the running one */
    int64_t index = closed - listed;                       /* of the first listed window */
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(u, "windows")) {
        const cJSON *len = cJSON_GetObjectItemCaseSensitive(w, "len_us");
        int64_t ms = cJSON_IsNumber(len) ? ((int64_t)len->valuedouble + 999) / 1000 : 0;
        if (index++ > 0 && ms > longest) { /* window 0 is the first placement */
            longest = ms;
        }
    }
    const cJSON *open_us = cJSON_GetObjectItemCaseSensitive(u, "open_us");
    if (cJSON_IsTrue(open) && closed > 0 && cJSON_IsNumber(open_us)) {
        int64_t ms = ((int64_t)open_us->valuedouble + 999) / 1000;
        longest = ms > longest ? ms : longest; /* the running one, when not the first */
    }
    return longest;
}

/* A fault that lasts RECHECK_MS while a live process serves the account
 * counts once (invariant 2 holds once the reconciler has run). */
static bool lasting(const tester *t, const position *p, int64_t since, int64_t now) {
    int64_t served = t->served_since[p->acct];
    int64_t from = served > since ? served : since;
    return served != 0 && since != 0 && now - from > RECHECK_MS;
}

static void check_structure(tester *t, position *p, int64_t now) {
    char sym[32];
    symbol_name(p->sym, sym, sizeof sym);
    p->dup_since = p->open && p->ours >= 2 ? (p->dup_since != 0 ? p->dup_since : now) : 0;
    p->dup_counted = p->dup_since != 0 && p->dup_counted;
    if (!p->dup_counted && lasting(t, p, p->dup_since, now)) {
        p->dup_counted = true;
        t->c.duplicates++;
        say(t, "%s %s: %u trailguard stops for %lld ms (served by %s)", accounts[p->acct].name, sym,
            p->ours, (long long)(now - p->dup_since), t->served_by[p->acct]);
    }
    p->orphan_since = !p->open && p->ours > 0 ? (p->orphan_since != 0 ? p->orphan_since : now) : 0;
    p->orphan_counted = p->orphan_since != 0 && p->orphan_counted;
    if (!p->orphan_counted && lasting(t, p, p->orphan_since, now)) {
        p->orphan_counted = true;
        t->c.orphans++;
        say(t, "%s %s: flat with %u trailguard stop(s) for %lld ms (served by %s)",
            accounts[p->acct].name, sym, p->ours, (long long)(now - p->orphan_since),
            t->served_by[p->acct]);
    }
}

static void check_tightest(tester *t, position *p, tg_dec tightest) {
    if (p->ours == 0) {
        return;
    }
    bool looser = p->is_long ? tg_dec_lt(tightest, p->tightest) : tg_dec_gt(tightest, p->tightest);
    if (p->have_tightest && looser) {
        char a[TG_DEC_STR_MAX], b[TG_DEC_STR_MAX], sym[32];
        tg_dec_format(p->tightest, 0, a);
        tg_dec_format(tightest, 0, b);
        symbol_name(p->sym, sym, sizeof sym);
        t->c.loosened++;
        say(t, "%s %s: stop loosened from %s to %s", accounts[p->acct].name, sym, a, b);
    }
    if (!p->have_tightest || !looser) {
        p->tightest = tightest;
        p->have_tightest = true;
    }
}

/* One look at p on the exchange. */
static void look(tester *t, position *p, int64_t now) {
    char target[160], sym[32];
    static char out[PROTECTION_MAX];
    symbol_name(p->sym, sym, sizeof sym);
    snprintf(target, sizeof target, "/sim/protection?account=%s&symbol=%s", accounts[p->acct].name,
             sym);
    cJSON *o = NULL;
    const cJSON *size = NULL;
    if (tg_sim_call(t->sim, "GET", target, NULL, out, sizeof out) == 200) {
        o = cJSON_Parse(out);
        size = cJSON_GetObjectItemCaseSensitive(o, "size");
    }
    tg_dec sz;
    if (!cJSON_IsString(size) || tg_dec_parse_cstr(size->valuestring, &sz) != TG_DEC_OK) {
        t->c.look_errors++;
        say(t, "GET %s: not understood: %.200s", target, out);
        cJSON_Delete(o);
        return;
    }
    tg_dec tightest = tg_dec_from_units(0);
    p->seen = true;
    p->open = !tg_dec_is_zero(sz);
    p->ours = count_ours(cJSON_GetObjectItemCaseSensitive(o, "open_stops"), p->is_long, &tightest);
    int64_t w = windows_after_first(cJSON_GetObjectItemCaseSensitive(o, "unprotected"));
    cJSON_Delete(o);
    if (w > p->window_ms_max) {
        p->window_ms_max = w;
        say(t, "%s %s: the emulator saw it unprotected for %lld ms after its first stop",
            accounts[p->acct].name, sym, (long long)w);
    }
    if (!p->open && p->protected_once && !p->closed_by_stop) {
        p->closed_by_stop = true; /* a stop fired; its leftovers must go */
        t->c.closed++;
    }
    if (p->open && p->ours == 0) {
        p->bare_since = p->bare_since == 0 ? now : p->bare_since;
        if (p->protected_once && now - p->bare_since > t->c.bare_ms_max) {
            t->c.bare_ms_max = now - p->bare_since;
        }
    } else {
        p->bare_since = 0;
        p->protected_once |= p->ours > 0;
    }
    check_structure(t, p, now);
    check_tightest(t, p, tightest);
}

/* ---- the database's view ------------------------------------------------ */

/* A new token is a new term; tokens skipped were terms too short to see. */
static void note_term(tester *t, int a, const tg_store_lease *l) {
    senders *s = &t->snd[a];
    if (l->token <= s->last_token) {
        return;
    }
    for (int64_t tok = s->last_token + 1; tok <= l->token; tok++) {
        if (s->n_terms >= TERMS_MAX) {
            s->overflow = true;
            return;
        }
        term *tm = &s->terms[s->n_terms++];
        tm->token = tok;
        tm->seen = tok == l->token;
        snprintf(tm->owner, sizeof tm->owner, "%s", tm->seen ? l->owner : "");
        t->c.missed_terms += tm->seen ? 0 : 1;
    }
    s->last_token = l->token;
}

static bool read_lease(void *ctx, const tg_store_lease *l) {
    tester *t = ctx;
    int a = account_index(l->account); /* presence rows (~NODE_ID) are none */
    if (a >= 0) {
        bool live = l->expires_ms > l->now_ms;
        snprintf(t->owner[a], sizeof t->owner[a], "%s", live ? l->owner : "");
        note_term(t, a, l);
    }
    return true;
}

/* The first daemon creates the schema: until the table has been read once,
 * a failed open is the daemons still starting (OPEN_WAIT_MS at most). */
static void read_leases(tester *t, int64_t now, int64_t t0) {
    tg_err err = {0};
    if (t->leases == NULL &&
        tg_store_open_readonly(t->uri, accounts[0].name, &t->leases, &err) != TG_OK) {
        t->leases = NULL;
        if (t->c.lease_reads > 0 || now - t0 > OPEN_WAIT_MS) {
            t->c.look_errors++;
            say(t, "the leases table cannot be read: %s", err.msg);
        }
        return;
    }
    t->c.lease_reads++;
    if (tg_store_leases_list(t->leases, read_lease, t, &err) != TG_OK) {
        t->c.look_errors++;
        say(t, "the leases table cannot be read: %s", err.msg);
    }
}

/* Which live process serves each account, and since when; a change of
 * hands starts a settle check. */
static void note_serving(tester *t, int64_t now) {
    for (int a = 0; a < ACCOUNTS; a++) {
        const char *o = t->owner[a];
        bool live = o[0] != '\0' && node_alive(t, o);
        if (!live) {
            t->served_since[a] = 0;
            t->served_by[a][0] = '\0';
            continue;
        }
        if (t->served_since[a] != 0 && strcmp(t->served_by[a], o) == 0) {
            continue;
        }
        t->served_since[a] = now;
        snprintf(t->served_by[a], sizeof t->served_by[a], "%s", o);
        if (t->ever_served[a] && t->n_settles < SETTLES_MAX) {
            t->settles[t->n_settles++] = (settle){a, now};
        }
        t->ever_served[a] = true;
    }
}

/* A pending takeover ends when a live process holds the account. */
static void check_takeovers(tester *t, int64_t now) {
    for (uint32_t k = 0; k < t->n_pend;) {
        pending *pd = &t->pend[k];
        const char *o = t->owner[pd->acct];
        if (o[0] == '\0' || !node_alive(t, o)) { /* also when the restarted one took it back */
            k++;
            continue;
        }
        int64_t ms = now - pd->killed_ms;
        if (t->c.takeovers < TAKEOVERS_MAX) {
            t->takeover_ms[t->c.takeovers++] = ms;
        }
        if (ms > LATE_MS) {
            t->c.late++;
            say(t, "%s taken over %lld ms after %s was killed (at most %d)",
                accounts[pd->acct].name, (long long)ms, pd->owner, LATE_MS);
        }
        t->pend[k] = t->pend[--t->n_pend];
    }
}

/* After a change of hands every position of the account must be right
 * within SETTLE_MS: open with exactly one trailguard stop, or flat without. */
static void check_settles(tester *t, int64_t now) {
    for (uint32_t k = 0; k < t->n_settles;) {
        settle *st = &t->settles[k];
        int wrong = -1;
        for (int s = 0; s < SYMBOLS && wrong < 0; s++) {
            const position *p = &t->pos[st->acct * SYMBOLS + s];
            wrong = !p->seen || (p->open ? p->ours != 1 : p->ours != 0) ? s : -1;
        }
        if (wrong >= 0 && now - st->from_ms <= SETTLE_MS) {
            k++;
            continue;
        }
        if (wrong < 0) {
            t->c.settled++;
            int64_t ms = now - st->from_ms;
            t->c.settle_ms_max = ms > t->c.settle_ms_max ? ms : t->c.settle_ms_max;
        } else {
            const position *p = &t->pos[st->acct * SYMBOLS + wrong];
            char sym[32];
            symbol_name(p->sym, sym, sizeof sym);
            t->c.settle_failures++;
            say(t, "%s: %d ms after it changed hands (to %s), %s is %s with %u trailguard stops",
                accounts[st->acct].name, SETTLE_MS, t->served_by[st->acct], sym,
                p->open ? "open" : "flat", p->ours);
        }
        t->settles[k] = t->settles[--t->n_settles];
    }
}

/* ---- the request log ---------------------------------------------------- */

/* "trailguard/V (NODE_ID)" → NODE_ID. */
static bool node_of_agent(const char *ua, char *out, size_t cap) {
    const char *open = strstr(ua, " (");
    size_t len = strlen(ua);
    if (strncmp(ua, "trailguard/", 11) != 0 || open == NULL || len < 2 || ua[len - 1] != ')') {
        return false;
    }
    size_t n = (size_t)(ua + len - 1 - (open + 2));
    if (n == 0 || n >= cap) {
        return false;
    }
    memcpy(out, open + 2, n);
    out[n] = '\0';
    return true;
}

static const char *jstr(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* One logged request: an order request extends its account's run or
 * starts the next. Reads and the listenKey change nothing on the book. */
static void note_request(tester *t, const cJSON *e, uint64_t seq) {
    const char *method = jstr(e, "method"), *path = jstr(e, "path");
    if (strcmp(method, "GET") == 0 || strstr(path, "listenKey") != NULL) {
        return;
    }
    int a = account_index(jstr(e, "account"));
    char id[NODE_ID_MAX];
    if (a < 0 || !node_of_agent(jstr(e, "user_agent"), id, sizeof id)) {
        t->c.unattributed++;
        say(t, "request %" PRIu64 " (%s %s, account '%s', User-Agent '%s') has no sender", seq,
            method, path, jstr(e, "account"), jstr(e, "user_agent"));
        return;
    }
    senders *s = &t->snd[a];
    s->sends++;
    send_run *last = s->n_runs > 0 ? &s->runs[s->n_runs - 1] : NULL;
    if (last != NULL && strcmp(last->node, id) == 0) {
        last->last_seq = seq;
        last->count++;
        return;
    }
    if (s->n_runs >= RUNS_MAX) {
        s->overflow = true;
        return;
    }
    t->c.switches += last != NULL ? 1 : 0;
    send_run *r = &s->runs[s->n_runs++];
    snprintf(r->node, sizeof r->node, "%s", id);
    r->first_seq = r->last_seq = seq;
    r->count = 1;
}

/* Reads every entry since the last read; entries the ring dropped before
 * this read are a gap, which fails the run. */
static void read_requests(tester *t) {
    char target[64];
    snprintf(target, sizeof target, "/sim/requests?since=%" PRIu64, t->log_seq);
    int status = tg_sim_call(t->sim, "GET", target, NULL, t->log_text, LOG_ANSWER_MAX);
    cJSON *o = status == 200 ? cJSON_Parse(t->log_text) : NULL;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "requests");
    if (!cJSON_IsArray(list)) {
        t->c.log_errors++;
        say(t, "GET %s: %d, not a request list (%.200s)", target, status, t->log_text);
        cJSON_Delete(o);
        return;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e, "seq");
        uint64_t n = cJSON_IsNumber(seq) ? (uint64_t)seq->valuedouble : 0;
        if (n != t->log_seq + 1) {
            t->c.log_gaps += n > t->log_seq ? n - t->log_seq - 1 : 1;
            say(t,
                "request log: entries %" PRIu64 "..%" PRIu64
                " were gone before they were read (the ring keeps 8192)",
                t->log_seq + 1, n - 1);
        }
        t->log_seq = n > t->log_seq ? n : t->log_seq;
        t->c.log_entries++;
        note_request(t, e, n);
    }
    cJSON_Delete(o);
}

static void print_terms(const senders *s, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t j = 0; j < s->n_terms && len + 40 < cap; j++) {
        len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64 ":%s", j > 0 ? " " : "",
                                s->terms[j].token, s->terms[j].seen ? s->terms[j].owner : "?");
    }
}

/* Every run's sender owns a term after the previous run's term. */
static void check_senders(tester *t) {
    for (int a = 0; a < ACCOUNTS; a++) {
        const senders *s = &t->snd[a];
        if (s->overflow) {
            t->c.interleaved++;
            say(t, "%s: more than %d lease terms or sender runs", accounts[a].name, RUNS_MAX);
            continue;
        }
        if (s->sends == 0) {
            t->c.interleaved++;
            say(t, "%s: no order request seen: the sender check proved nothing", accounts[a].name);
            continue;
        }
        uint32_t j = 0;
        for (uint32_t r = 0; r < s->n_runs; r++, j++) {
            const send_run *rn = &s->runs[r];
            while (j < s->n_terms && s->terms[j].seen && strcmp(s->terms[j].owner, rn->node) != 0) {
                j++;
            }
            if (j < s->n_terms) {
                continue;
            }
            char terms[1024];
            print_terms(s, terms, sizeof terms);
            t->c.interleaved++;
            say(t,
                "%s: %s sent %u order request(s) (log %" PRIu64 "..%" PRIu64
                ") after %s without a later lease term of its own (terms token:owner %s)",
                accounts[a].name, rn->node, rn->count, rn->first_seq, rn->last_seq,
                r > 0 ? s->runs[r - 1].node : "nobody", terms);
            break;
        }
    }
}

/* ---- the run ------------------------------------------------------------ */

static void kill_one(tester *t, int64_t now) {
    int live[NODES], n = 0;
    for (int i = 0; i < NODES; i++) {
        if (t->nodes[i].pid > 0) {
            live[n++] = i;
        }
    }
    if (n < 2) {
        return; /* always one to take over */
    }
    node *victim = &t->nodes[live[kill_random(&t->seed) % (uint64_t)n]];
    kill_daemon_stop(&victim->pid, SIGKILL);
    victim->restart_at = now + t->restart_ms;
    t->c.kills++;
    for (int a = 0; a < ACCOUNTS; a++) {
        if (strcmp(t->owner[a], victim->id) == 0 && t->n_pend < PENDING_MAX) {
            pending *pd = &t->pend[t->n_pend++];
            pd->acct = a;
            memcpy(pd->owner, victim->id, sizeof pd->owner); /* same size */
            pd->killed_ms = now;
        }
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t pct(const tester *t, int p) {
    if (t->c.takeovers == 0) {
        return 0;
    }
    uint32_t i = (uint32_t)((uint64_t)(t->c.takeovers - 1) * (uint64_t)p / 100);
    return t->takeover_ms[i];
}

static int usage(const char *why) {
    fprintf(stderr,
            PROG ": %s\nusage: " PROG " [--seconds N] [--seed S] [--dir DIR] "
                 "[--kill-every-ms K] [--restart-ms R] [--keep]\n",
            why);
    return 2;
}

static int parse_args(tester *t, int argc, char **argv) {
    t->seconds = 120;
    t->kill_every_ms = 20000;
    t->restart_ms = 5000;
    t->seed = 1;
    t->base = "/tmp";
    for (int i = 1; i < argc; i++) {
        uint64_t v = 0;
        const char *name = argv[i];
        if (strcmp(name, "--keep") == 0) {
            t->keep = true;
            continue;
        }
        if (i + 1 >= argc) {
            return usage("every option but --keep takes a value");
        }
        const char *value = argv[++i];
        if (strcmp(name, "--dir") == 0) {
            t->base = value;
        } else if (strcmp(name, "--seconds") == 0 && kill_number(value, 86400, &v) && v > 0) {
            t->seconds = (int64_t)v;
        } else if (strcmp(name, "--seed") == 0 && kill_number(value, UINT64_MAX, &v)) {
            t->seed = v;
        } else if (strcmp(name, "--kill-every-ms") == 0 && kill_number(value, 3600000, &v) &&
                   v > 0) {
            t->kill_every_ms = (int64_t)v;
        } else if (strcmp(name, "--restart-ms") == 0 && kill_number(value, 3600000, &v)) {
            t->restart_ms = (int64_t)v;
        } else {
            return usage("unknown option or bad value");
        }
    }
    return 0;
}

static bool setup(tester *t) {
    snprintf(t->dir, sizeof t->dir, "%s/tg-failover-XXXXXX", t->base);
    t->log_text = malloc(LOG_ANSWER_MAX);
    if (t->log_text == NULL || mkdtemp(t->dir) == NULL ||
        !kill_write_accounts(t->dir, accounts, ACCOUNTS)) {
        fprintf(stderr, PROG ": cannot make the directory or its files under %s\n", t->base);
        return false;
    }
    char accounts_path[KILL_PATH_BYTES * 2];
    snprintf(accounts_path, sizeof accounts_path, "%s/accounts.json", t->dir);
    tg_sim_config cfg = tg_sim_config_default();
    cfg.seed = t->seed;
    cfg.accounts_path = accounts_path;
    cfg.orders_max = ORDERS_MAX;
    tg_err err = {0};
    if (tg_sim_new(&cfg, &t->sim, &err) != TG_OK || tg_sim_start(t->sim, &err) != TG_OK) {
        fprintf(stderr, PROG ": emulator: %s\n", err.msg);
        return false;
    }
    t->ports = tg_sim_ports_get(t->sim);
    if (!load_scenario(t)) {
        return false;
    }
    for (int i = 0; i < NODES; i++) {
        node *n = &t->nodes[i];
        char id[sizeof n->id]; /* a copy: the paths are written into the same struct */
        snprintf(id, sizeof id, "fo-%d", i + 1);
        memcpy(n->id, id, sizeof id);
        snprintf(n->ini, sizeof n->ini, "%s/%s.ini", t->dir, id);
        snprintf(n->log, sizeof n->log, "%s/%s.log", t->dir, id);
        if (!start_node(t, n)) {
            return false;
        }
    }
    return true;
}

/* One round: the database's, the log's and the exchange's view, the
 * checks, then a kill or a restart when one is due. */
static bool one_round(tester *t, int64_t t0, int64_t *next_kill, int64_t last_kill_at) {
    int64_t now = kill_now_ms();
    reap_deaths(t);
    read_leases(t, now, t0);
    note_serving(t, now);
    read_requests(t);
    for (int i = 0; i < POSITIONS; i++) {
        look(t, &t->pos[i], now);
    }
    check_takeovers(t, now);
    check_settles(t, now);
    if (now >= *next_kill && now < last_kill_at) {
        kill_one(t, now);
        *next_kill = now + t->kill_every_ms;
    }
    for (int i = 0; i < NODES; i++) {
        node *n = &t->nodes[i];
        if (n->pid == 0 && n->restart_at != 0 && now >= n->restart_at && !start_node(t, n)) {
            return false;
        }
    }
    int64_t spent = kill_now_ms() - now;
    t->c.round_ms_max = spent > t->c.round_ms_max ? spent : t->c.round_ms_max;
    kill_sleep_ms(spent < LOOK_MS ? LOOK_MS - spent : 1);
    return true;
}

/* The database's load per second over the run after the first stops. */
typedef struct load {
    int64_t from_ms, xacts_from, reads_from; /* at the start of the window */
    double per_s;                            /* transactions a second, the test's own excluded */
} load;

static void run(tester *t, bool *ok, load *ld) {
    int64_t t0 = kill_now_ms(), next_kill = t0 + t->kill_every_ms;
    int64_t end = t0 + t->seconds * 1000, last_kill_at = end - LATE_MS - 1000;
    ld->xacts_from = -1;
    /* after the end, the last takeovers and settles are waited for */
    while (*ok && (kill_now_ms() < end ||
                   ((t->n_pend > 0 || t->n_settles > 0) && kill_now_ms() < end + SETTLE_MS))) {
        if (ld->xacts_from < 0 && kill_now_ms() - t0 >= MEASURE_FROM_S * 1000) {
            ld->from_ms = kill_now_ms();
            ld->xacts_from = pg_xacts(t);
            ld->reads_from = (int64_t)t->c.lease_reads;
        }
        *ok = one_round(t, t0, &next_kill, last_kill_at);
    }
    int64_t xacts = pg_xacts(t);
    int64_t ms = kill_now_ms() - ld->from_ms;
    if (ld->xacts_from >= 0 && xacts >= ld->xacts_from && ms > 0) {
        int64_t own = (int64_t)t->c.lease_reads - ld->reads_from; /* one transaction each */
        ld->per_s = (double)(xacts - ld->xacts_from - own) * 1000.0 / (double)ms;
    }
    read_requests(t); /* the last requests before the processes stop */
}

static void report(const tester *t, const load *ld) {
    int64_t unprotected = t->c.bare_ms_max;
    for (int i = 0; i < POSITIONS; i++) {
        unprotected = t->pos[i].window_ms_max > unprotected ? t->pos[i].window_ms_max : unprotected;
    }
    uint64_t sends = 0;
    for (int a = 0; a < ACCOUNTS; a++) {
        sends += t->snd[a].sends;
    }
    printf("failover-test: %d positions on %d accounts, %d processes; settled=%u "
           "settle_failures=%u settle_ms_max=%lld orphans=%u closed=%u deaths=%u "
           "request_log_entries=%" PRIu64 " order_requests=%" PRIu64 " sender_switches=%" PRIu64
           " missed_terms=%" PRIu64 " unattributed=%" PRIu64 " interleaved=%" PRIu64
           " log_gaps=%" PRIu64 " read_errors=%" PRIu64 " round_ms_max=%lld"
           " pg_xacts_per_s=%.1f pg_xacts_per_s_per_1000_positions=%.1f\n",
           POSITIONS, ACCOUNTS, NODES, t->c.settled, t->c.settle_failures,
           (long long)t->c.settle_ms_max, t->c.orphans, t->c.closed, t->c.deaths, t->c.log_entries,
           sends, t->c.switches, t->c.missed_terms, t->c.unattributed, t->c.interleaved,
           t->c.log_gaps, t->c.look_errors + t->c.log_errors, (long long)t->c.round_ms_max,
           ld->per_s, ld->per_s * 1000.0 / POSITIONS);
    printf("kills=%u takeovers=%u takeover_ms_p50=%lld takeover_ms_p99=%lld "
           "unprotected_ms_max=%lld duplicates=%u loosened=%u\n",
           t->c.kills, t->c.takeovers, (long long)pct(t, 50), (long long)pct(t, 99),
           (long long)unprotected, t->c.duplicates, t->c.loosened);
    fflush(stdout);
}

static bool failed(const tester *t, bool ok) {
    int64_t unprotected = t->c.bare_ms_max;
    for (int i = 0; i < POSITIONS; i++) {
        unprotected = t->pos[i].window_ms_max > unprotected ? t->pos[i].window_ms_max : unprotected;
    }
    if (t->n_pend > 0) {
        fprintf(stderr, PROG ": %u account(s) never taken over after a kill\n", t->n_pend);
    }
    bool vacuous = t->c.lease_reads == 0 || (t->c.kills > 0 && t->c.takeovers == 0);
    if (vacuous) {
        fprintf(stderr,
                PROG ": %u kills, %u takeovers seen, %" PRIu64
                     " reads of the leases table: the takeover checks proved nothing\n",
                t->c.kills, t->c.takeovers, t->c.lease_reads);
    }
    return !ok || vacuous || t->c.late > 0 || t->n_pend > 0 || t->c.duplicates > 0 ||
           t->c.orphans > 0 || t->c.loosened > 0 || t->c.settle_failures > 0 || t->c.deaths > 0 ||
           unprotected > 0 || t->c.log_gaps > 0 || t->c.log_errors > 0 || t->c.look_errors > 0 ||
           t->c.unattributed > 0 || t->c.interleaved > 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    static tester T;
    tester *t = &T;
    int rc = parse_args(t, argc, argv);
    if (rc != 0) {
        return rc;
    }
    snprintf(t->pg_dir, sizeof t->pg_dir, "/tmp/tgpg-fo-XXXXXX");
    if (mkdtemp(t->pg_dir) == NULL) {
        fprintf(stderr, PROG ": mkdtemp /tmp: %s\n", strerror(errno));
        return 1;
    }
    rc = pg(t, "start", t->uri, sizeof t->uri);
    if (rc != 0) {
        fprintf(stderr, PROG ": no PostgreSQL (pg-test-cluster.sh exit %d)\n", rc);
        rmdir(t->pg_dir);
        return rc == EXIT_SKIPPED ? EXIT_SKIPPED : 1;
    }
    bool ok = setup(t);
    load ld = {0};
    if (ok) {
        run(t, &ok, &ld);
    }
    for (int i = 0; i < NODES; i++) {
        kill_daemon_stop(&t->nodes[i].pid, SIGTERM);
    }
    tg_store_close(t->leases);
    check_senders(t);
    qsort(t->takeover_ms, t->c.takeovers, sizeof t->takeover_ms[0], cmp_i64);
    report(t, &ld);
    if (t->sim != NULL) {
        tg_sim_stop(t->sim);
        tg_sim_free(t->sim);
    }
    pg(t, "stop", NULL, 0);
    bool bad = failed(t, ok);
    if (bad) {
        fprintf(stderr, PROG ": FAILED; the processes' logs are in %s\n", t->dir);
    } else if (!t->keep) {
        kill_remove_dir(t->dir);
    }
    free(t->log_text);
    return bad ? 1 : 0;
}
