/* The diagnostic monitor's probes: engine, store, exchange, consistency and
 * progress on one libuv loop (see probe.h). */
#define _POSIX_C_SOURCE 200809L

#include "diag/probe.h"

#include <assert.h>
#include <cJSON.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "trailguard/store.h"
#include "venue/http.h"

#define ENGINE_POS_MAX   16384 /* engine positions kept from one /v1/positions */
#define TRACK_MAX        16384 /* positions whose engine history is remembered */
#define EX_POS_MAX       (TG_CONFIG_ACCOUNTS_MAX * TG_VENUE_POSITIONS_MAX)
#define EX_STOPS_MAX     (TG_CONFIG_ACCOUNTS_MAX * TG_VENUE_STOPS_MAX)
#define STORE_ROWS_MAX   (TG_CONFIG_ACCOUNTS_MAX * TG_VENUE_POSITIONS_MAX)
#define JOURNAL_READ_MAX 100000 /* journal entries read per account and probe */
#define RECENT_ISSUES    3      /* issues and errors shown by the progress block */
#define DURATION_MS_MAX  (7LL * 24 * 3600 * 1000)
#define US_PER_MS        1000.0

/* What the monitor remembers of one engine position between probes. */
typedef struct track {
    char key[TG_DIAG_NAME_MAX * 2]; /* "account:position_key" */
    tg_state state;                 /* last state seen */
    tg_dec stop;                    /* last engine stop seen */
    tg_dec confirmed;               /* last confirmed stop seen */
    int64_t confirmed_seen_ms;      /* when it was first seen; 0 in the first snapshot */
    int64_t state_seen_ms;          /* when the state was first seen; 0 in the first snapshot */
    bool was_active;                /* seen ACTIVE at some point */
    uint32_t activations;           /* activations seen */
    int64_t intended_since_ms;      /* intended ≠ confirmed since; 0 equal */
    int timeline;                   /* index in run->timelines; −1 none */
} track;

typedef struct monitor monitor;

/* A symbol's price tick, from the venue's instrument rules. */
typedef struct tick_entry {
    char symbol[TG_SYMBOL_MAX]; /* e.g. BTCUSDT */
    tg_dec tick;                /* price tick, > 0 */
} tick_entry;

typedef struct account {
    monitor *m;                   /* owner */
    const tg_config_account *cfg; /* its section */
    tg_venue *venue;              /* exchange probe */
    bool synced;                  /* clock synced once */
    bool busy;                    /* a listing is out */
    bool ok;                      /* the last listing answered */
    char error[TG_DIAG_TEXT_MAX]; /* why not */
    tg_diag_exchange_pos *pos;    /* last listing's positions */
    size_t pos_count;             /* entries */
    tg_diag_exchange_stop *stops; /* last listing's stops */
    size_t stops_count;           /* entries */
    tick_entry *ticks;            /* tick per symbol from the instrument rules, by symbol */
    size_t ticks_count;           /* entries; 0 until the rules answered */
    tg_store *store;              /* read-only store, opened on first use */
    int64_t journal_seq;          /* newest journal seq read */
} account;

struct monitor {
    const tg_diag_options *opt;                 /* configuration */
    tg_diag_run *run;                           /* filled */
    tg_diag_issues *issues;                     /* filled */
    tg_diag_outcome *outcome;                   /* filled */
    uv_loop_t loop;                             /* the one loop */
    uv_timer_t timers[TG_DIAG_PROBE_COUNT + 2]; /* probes, progress, end */
    uv_signal_t sigint, sigterm;                /* end early */
    tg_http *http;                              /* daemon API */
    account accounts[TG_CONFIG_ACCOUNTS_MAX];   /* per account */
    size_t accounts_count;                      /* entries */
    bool stopping;                              /* the end has begun */
    /* engine */
    bool engine_busy;                    /* requests out */
    int engine_pending;                  /* responses still awaited */
    int64_t engine_t0_us;                /* probe start, monotonic µs */
    bool engine_fail;                    /* one of the two failed */
    char engine_error[TG_DIAG_TEXT_MAX]; /* why */
    tg_diag_engine_pos *eng;             /* latest snapshot */
    size_t eng_count;                    /* entries */
    tg_diag_engine_pos *eng_next;        /* being parsed */
    size_t eng_next_count;               /* entries */
    tg_diag_engine_stats eng_stats;      /* latest daemon counters, since it started */
    tg_diag_engine_stats eng_base;       /* the first sample of the run (or since a restart) */
    uint64_t metrics_samples;            /* /metrics parsed since eng_base */
    bool metrics_ok;                     /* /metrics answered this probe */
    track *tracks;                       /* engine history */
    size_t tracks_count;                 /* entries */
    bool engine_seen;                    /* a first snapshot arrived */
    /* store */
    tg_diag_store_row *rows;                         /* latest snapshot */
    size_t rows_count;                               /* entries */
    uint64_t journal_entries;                        /* entries read in the last probe */
    tg_diag_unowned unowned[TG_CONFIG_ACCOUNTS_MAX]; /* [cluster]: accounts without a live lease */
    size_t unowned_count;                            /* entries */
    /* exchange */
    int exchange_pending;            /* accounts still listing */
    int64_t exchange_t0_us;          /* probe start */
    tg_diag_exchange_pos *ex_pos;    /* latest snapshot, all accounts */
    size_t ex_pos_count;             /* entries */
    tg_diag_exchange_stop *ex_stops; /* latest snapshot, all accounts */
    size_t ex_stops_count;           /* entries */
    /* the snapshot */
    tg_diag_source src[3]; /* engine, store, exchange */
    bool first_done[3];    /* each source answered or failed once */
    bool checked_once;     /* the first check ran */
    int progress_lines;    /* lines of the last block (tty redraw) */
};

/* ---- small helpers ---------------------------------------------------- */

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies src, cut to cap − 1 bytes. */
static void copy(char *dst, size_t cap, const char *src) {
    assert(dst != NULL && cap > 0);
    size_t n = src != NULL ? strlen(src) : 0;
    n = n < cap ? n : cap - 1;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

/* A sentence cut to cap − 1 bytes (error texts may be long; cutting is fine). */
static void say(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *dst, size_t cap, const char *fmt, ...) {
    assert(dst != NULL && cap > 0);
    assert(fmt != NULL);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static void log_line(monitor *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(monitor *m, const char *fmt, ...) {
    assert(m != NULL && m->opt != NULL);
    assert(fmt != NULL);
    FILE *f = m->opt->log;
    if (f == NULL) {
        return;
    }
    char ts[32];
    time_t now = (time_t)(wall_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "ts=%s ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

/* Text from the network or a store, safe inside a logfmt "quoted" value. */
static const char *esc(const char *text, char *buf, size_t cap) {
    assert(buf != NULL && cap > 0);
    tg_store_escape(text != NULL ? text : "", buf, cap);
    return buf;
}

static void probe_record(monitor *m, tg_diag_probe p, double latency_ms, bool ok) {
    assert(m != NULL && m->run != NULL);
    assert((unsigned)p < TG_DIAG_PROBE_COUNT);
    tg_diag_probe_stats *s = &m->run->probes[p];
    s->runs++;
    s->failures += ok ? 0 : 1;
    if (latency_ms > (double)s->interval_ms) {
        s->overruns++;
    }
    s->latency_ms[s->latency_count % TG_DIAG_LAT_SAMPLES] = latency_ms;
    s->latency_count++;
    assert(s->failures <= s->runs);
    if (p != TG_DIAG_PROBE_CONSISTENCY) {
        m->run->snapshots += ok ? 1 : 0;
    }
}

static void run_error(monitor *m, tg_diag_probe p, const char *text) {
    assert(m != NULL && m->run != NULL);
    assert((unsigned)p < TG_DIAG_PROBE_COUNT && text != NULL);
    tg_diag_run *r = m->run;
    r->errors++;
    say(r->error_log[r->error_count % TG_DIAG_ERRORS_MAX], TG_DIAG_TEXT_MAX, "[%s] %s",
        tg_diag_probe_str(p), text);
    r->error_count++;
    char e[TG_DIAG_TEXT_MAX * 2];
    log_line(m, "level=warn msg=probe_failed probe=%s error=\"%s\"", tg_diag_probe_str(p),
             esc(text, e, sizeof e));
}

static void source_done(monitor *m, tg_diag_probe p, bool ok, double latency_ms,
                        const char *error) {
    assert(p < 3);
    tg_diag_source *s = &m->src[p];
    s->ok = ok;
    s->taken_ms = wall_ms();
    s->latency_ms = latency_ms;
    copy(s->error, sizeof s->error, ok ? "" : error);
    m->first_done[p] = true;
    if (ok) {
        m->outcome->reached[p] = true;
    } else {
        run_error(m, p, error);
    }
    probe_record(m, p, latency_ms, ok);
}

static void check_now(monitor *m);

/* The first check runs as soon as every enabled source has answered or
 * failed once; later ones on the consistency timer. */
static void maybe_first_check(monitor *m) {
    assert(m != NULL);
    if (m->checked_once || m->stopping) {
        return;
    }
    for (int p = 0; p < 3; p++) {
        if (m->src[p].enabled && !m->first_done[p]) {
            return;
        }
    }
    check_now(m);
}

/* ---- engine probe: the daemon's read API ------------------------------ */

static bool jdec(const cJSON *o, const char *name, tg_dec *out) {
    assert(name != NULL && out != NULL);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = tg_dec_from_units(0);
    return cJSON_IsString(v) && tg_dec_parse_cstr(v->valuestring, out) == TG_DEC_OK;
}

static const char *jstr(const cJSON *o, const char *name) {
    assert(name != NULL);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static tg_state state_of(const char *s) {
    assert(s != NULL);
    for (int i = TG_STATE_INACTIVE; i <= TG_STATE_CLOSED; i++) {
        if (strcmp(s, tg_state_str((tg_state)i)) == 0) {
            return (tg_state)i;
        }
    }
    return TG_STATE_INACTIVE;
}

static bool engine_pos_of(const cJSON *o, tg_diag_engine_pos *p) {
    assert(p != NULL);
    memset(p, 0, sizeof *p);
    copy(p->account, sizeof p->account, jstr(o, "account"));
    copy(p->venue, sizeof p->venue, jstr(o, "venue"));
    copy(p->symbol, sizeof p->symbol, jstr(o, "symbol"));
    copy(p->position_key, sizeof p->position_key, jstr(o, "position_key"));
    if (p->account[0] == '\0' || p->position_key[0] == '\0' || p->symbol[0] == '\0') {
        return false;
    }
    p->side = strcmp(jstr(o, "side"), "short") == 0 ? TG_SIDE_SHORT : TG_SIDE_LONG;
    p->state = state_of(jstr(o, "state"));
    (void)jdec(o, "quantity", &p->quantity);
    (void)jdec(o, "entry", &p->entry);
    (void)jdec(o, "mark", &p->mark);
    (void)jdec(o, "stop_confirmed", &p->stop_confirmed);
    (void)jdec(o, "stop_intended", &p->stop_intended);
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "exchange_stop");
    if (cJSON_IsObject(ex)) {
        (void)jdec(ex, "trigger", &p->exchange_stop);
    }
    p->in_flight = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "in_flight"));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "last_tick_ms");
    p->last_mark_ms = cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0;
    return true;
}

static bool parse_positions(monitor *m, const char *body, size_t len, char *why, size_t cap) {
    assert(m != NULL && m->eng_next != NULL);
    assert(why != NULL && cap > 0);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        say(why, cap, "GET /v1/positions: the answer is not a JSON array");
        return false;
    }
    m->eng_next_count = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, root) {
        if (m->eng_next_count == ENGINE_POS_MAX) {
            break;
        }
        if (engine_pos_of(o, &m->eng_next[m->eng_next_count])) {
            m->eng_next_count++;
        }
    }
    cJSON_Delete(root);
    assert(m->eng_next_count <= ENGINE_POS_MAX);
    return true;
}

/* Sum of every series of a counter named name (labels any); filter, when
 * given, must appear in the labels. */
static double metric_sum(const char *text, const char *name, const char *filter) {
    assert(text != NULL && name != NULL);
    double sum = 0;
    size_t n = strlen(name);
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, name, n) == 0 && (line[n] == '{' || line[n] == ' ')) {
            const char *close = line[n] == '{' ? strchr(line + n, '}') : line + n;
            bool match = filter == NULL;
            if (filter != NULL && close != NULL) {
                const char *f = strstr(line + n, filter);
                match = f != NULL && f < close;
            }
            if (match && close != NULL && (end == NULL || close < end)) {
                sum += strtod(close + (line[n] == '{' ? 1 : 0), NULL);
            }
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return sum;
}

#define WINDOW_BOUNDS_MAX 64 /* bucket bounds of the unprotected-window histogram read */

/* A lower bound of the longest unprotected window: the largest bucket bound
 * that some observation exceeded, over the bounds the daemon writes (summed
 * over its per-account series). The histogram cannot tell windows apart
 * within one bucket: with the daemon's bounds 0.3 and 0.5 s, a 0.4 s window
 * reads as "over 0.3 s". */
static double unprotected_max(const char *text) {
    assert(text != NULL);
    static const char name[] = "trailguard_unprotected_window_seconds_bucket{";
    double le[WINDOW_BOUNDS_MAX], below[WINDOW_BOUNDS_MAX];
    size_t n = 0;
    for (const char *line = strstr(text, name); line != NULL; line = strstr(line + 1, name)) {
        if (line != text && line[-1] != '\n') {
            continue;
        }
        const char *q = strstr(line, "le=\"");
        const char *eol = strchr(line, '\n');
        const char *sp = q != NULL ? strchr(q, ' ') : NULL;
        if (q == NULL || sp == NULL || (eol != NULL && sp > eol) ||
            strncmp(q + 4, "+Inf", 4) == 0) {
            continue;
        }
        double bound = strtod(q + 4, NULL), count = strtod(sp + 1, NULL);
        size_t k = 0;
        while (k < n && le[k] != bound) {
            k++;
        }
        if (k == n && n < WINDOW_BOUNDS_MAX) {
            le[n] = bound;
            below[n++] = 0;
        }
        if (k < n) {
            below[k] += count;
        }
    }
    double total = metric_sum(text, "trailguard_unprotected_window_seconds_count", NULL);
    double best = 0;
    for (size_t k = 0; k < n && total > 0; k++) {
        if (below[k] < total && le[k] > best) {
            best = le[k];
        }
    }
    assert(best >= 0);
    return best;
}

static void parse_metrics(monitor *m, const char *text) {
    assert(m != NULL && text != NULL);
    tg_diag_engine_stats *s = &m->eng_stats;
    s->requests = (uint64_t)metric_sum(text, "trailguard_requests_total", NULL);
    /* the daemon labels rejects with tg_venue_code_str(): code="rate limit" */
    char code[48];
    int n = snprintf(code, sizeof code, "code=\"%s\"", tg_venue_code_str(TG_VENUE_E_RATE_LIMIT));
    assert(n > 0 && (size_t)n < sizeof code);
    s->rate_limited = (uint64_t)metric_sum(text, "trailguard_rejects_total", code);
    s->deferrals = (uint64_t)metric_sum(text, "trailguard_deferrals_total", NULL);
    s->unprotected_max_s = unprotected_max(text);
    bool restarted = s->requests < m->eng_base.requests || s->deferrals < m->eng_base.deferrals ||
                     s->rate_limited < m->eng_base.rate_limited;
    if (m->metrics_samples == 0 || restarted) {
        m->eng_base = *s; /* counters start over with a new daemon process */
        m->metrics_samples = 0;
    }
    m->metrics_samples++;
}

/* The counters the check judges: with --once the daemon's since it started
 * (one sample is all there is); otherwise this run's, the latest minus the
 * first sample (a burst before the run, such as the first stops of every
 * position, is not this run's pressure), none before a second sample. */
static tg_diag_engine_stats engine_stats_of(const monitor *m) {
    assert(m != NULL && m->opt != NULL);
    tg_diag_engine_stats s = m->eng_stats;
    if (m->opt->once) {
        s.over_run = false;
        return s;
    }
    if (m->metrics_samples < 2) {
        s.requests = s.rate_limited = s.deferrals = 0;
        s.over_run = true;
        return s;
    }
    assert(s.requests >= m->eng_base.requests && s.deferrals >= m->eng_base.deferrals);
    s.requests -= m->eng_base.requests;
    s.rate_limited -= m->eng_base.rate_limited;
    s.deferrals -= m->eng_base.deferrals;
    s.over_run = true;
    return s;
}

static track *track_find(monitor *m, const tg_diag_engine_pos *p, int64_t now) {
    assert(m != NULL && m->tracks != NULL);
    assert(p != NULL);
    assert(m->tracks_count <= TRACK_MAX);
    char key[sizeof m->tracks[0].key];
    int n = snprintf(key, sizeof key, "%s:%s", p->account, p->position_key);
    assert(n > 0 && (size_t)n < sizeof key); /* two TG_DIAG_NAME_MAX strings and a ':' */
    for (size_t i = 0; i < m->tracks_count; i++) {
        if (strcmp(m->tracks[i].key, key) == 0) {
            return &m->tracks[i];
        }
    }
    if (m->tracks_count == TRACK_MAX) {
        return NULL;
    }
    track *t = &m->tracks[m->tracks_count++];
    memset(t, 0, sizeof *t);
    copy(t->key, sizeof t->key, key);
    t->state = p->state;
    t->timeline = -1;
    t->was_active = p->state == TG_STATE_ACTIVE;
    t->activations = t->was_active ? 1 : 0;
    t->stop = tg_dec_is_pos(p->stop_confirmed) ? p->stop_confirmed : p->stop_intended;
    t->confirmed = p->stop_confirmed;
    t->confirmed_seen_ms = m->engine_seen ? now : 0; /* the first snapshot's are of unknown age */
    t->state_seen_ms = t->confirmed_seen_ms;
    if (m->engine_seen) {
        m->run->new_positions++; /* the first snapshot's positions were already there */
        char k[TG_DIAG_NAME_MAX * 4];
        log_line(m, "level=info msg=new_position key=\"%s\" state=%s", esc(key, k, sizeof k),
                 tg_state_str(p->state));
    }
    return t;
}

static const tg_diag_exchange_stop *exchange_stop_of(const monitor *m, const char *acct,
                                                     const char *key) {
    assert(m != NULL && acct != NULL && key != NULL);
    assert(m->ex_stops_count <= EX_STOPS_MAX);
    for (size_t i = 0; i < m->ex_stops_count; i++) {
        const tg_diag_exchange_stop *s = &m->ex_stops[i];
        if (strcmp(s->account, acct) == 0 && strcmp(s->position_key, key) == 0 && s->owned) {
            return s;
        }
    }
    for (size_t i = 0; i < m->ex_stops_count; i++) {
        const tg_diag_exchange_stop *s = &m->ex_stops[i];
        if (strcmp(s->account, acct) == 0 && strcmp(s->position_key, key) == 0) {
            return s;
        }
    }
    return NULL;
}

static void timeline_add(monitor *m, track *t, const tg_diag_engine_pos *p, int64_t now) {
    assert(m != NULL && t != NULL && p != NULL);
    assert(t->timeline < TG_DIAG_TIMELINES_MAX);
    tg_diag_run *r = m->run;
    if (r->timelines == NULL) {
        return;
    }
    if (t->timeline < 0) {
        if (r->timelines_count == TG_DIAG_TIMELINES_MAX) {
            return;
        }
        t->timeline = (int)r->timelines_count++;
        tg_diag_timeline *tl = &r->timelines[t->timeline];
        memset(tl, 0, sizeof *tl);
        copy(tl->account, sizeof tl->account, p->account);
        copy(tl->position_key, sizeof tl->position_key, p->position_key);
        tl->side = p->side;
    }
    assert(t->timeline >= 0 && (size_t)t->timeline < r->timelines_count);
    tg_diag_timeline *tl = &r->timelines[t->timeline];
    tg_diag_point *pt = &tl->points[tl->count % TG_DIAG_POINTS_MAX];
    tl->count++;
    pt->ts_ms = now;
    pt->mark = p->mark;
    pt->engine_stop = tg_dec_is_pos(p->stop_confirmed) ? p->stop_confirmed : p->stop_intended;
    const tg_diag_exchange_stop *s = exchange_stop_of(m, p->account, p->position_key);
    pt->exchange_stop = s != NULL ? s->trigger : tg_dec_from_units(0);
}

/* Compares one position with what was seen before: transitions,
 * activations, stop moves; fills the fields only the history knows. */
static void track_update(monitor *m, tg_diag_engine_pos *p, int64_t now) {
    assert(m != NULL && p != NULL);
    track *t = track_find(m, p, now);
    if (t == NULL) {
        return;
    }
    tg_diag_run *r = m->run;
    char k[TG_DIAG_NAME_MAX * 4];
    if (p->state != t->state) {
        r->state_transitions++;
        if (p->state == TG_STATE_ACTIVE &&
            (t->state == TG_STATE_INACTIVE || t->state == TG_STATE_WAITING)) {
            r->activations++;
            r->reactivations += t->was_active ? 1 : 0;
            t->activations++;
            t->was_active = true;
        }
        log_line(m, "level=info msg=state_changed key=\"%s\" from=%s to=%s",
                 esc(t->key, k, sizeof k), tg_state_str(t->state), tg_state_str(p->state));
        t->state = p->state;
        t->state_seen_ms = now;
    }
    p->state_seen_ms = t->state_seen_ms;
    tg_dec stop = tg_dec_is_pos(p->stop_confirmed) ? p->stop_confirmed : p->stop_intended;
    if (tg_dec_cmp(stop, t->stop) != 0) {
        r->stop_updates++;
        t->stop = stop;
    }
    if (tg_dec_cmp(p->stop_confirmed, t->confirmed) != 0) {
        t->confirmed = p->stop_confirmed;
        t->confirmed_seen_ms = now;
    }
    p->confirmed_seen_ms = t->confirmed_seen_ms;
    bool differ =
        tg_dec_is_pos(p->stop_intended) && tg_dec_cmp(p->stop_intended, p->stop_confirmed) != 0;
    if (!differ) {
        t->intended_since_ms = 0;
    } else if (t->intended_since_ms == 0) {
        t->intended_since_ms = now;
    }
    p->intended_since_ms = t->intended_since_ms;
    p->activations = t->activations;
    timeline_add(m, t, p, now);
}

static void engine_finish(monitor *m) {
    assert(m != NULL && m->engine_busy);
    assert(m->engine_pending == 0);
    double latency = (double)(tg_http_now_us() - m->engine_t0_us) / US_PER_MS;
    m->engine_busy = false;
    if (m->stopping) {
        return;
    }
    if (!m->engine_fail) {
        int64_t now = wall_ms();
        tg_diag_engine_pos *tmp = m->eng;
        m->eng = m->eng_next;
        m->eng_count = m->eng_next_count;
        m->eng_next = tmp;
        assert(m->eng_count <= ENGINE_POS_MAX);
        for (size_t i = 0; i < m->eng_count; i++) {
            track_update(m, &m->eng[i], now);
        }
        m->engine_seen = true;
        log_line(m,
                 "level=info msg=probe probe=engine ok=true positions=%zu latency_ms=%.1f "
                 "requests=%" PRIu64 " rate_limited=%" PRIu64 " deferrals=%" PRIu64,
                 m->eng_count, latency, m->eng_stats.requests, m->eng_stats.rate_limited,
                 m->eng_stats.deferrals);
    }
    source_done(m, TG_DIAG_PROBE_ENGINE, !m->engine_fail, latency, m->engine_error);
    maybe_first_check(m);
}

static void engine_fail(monitor *m, const char *what, const tg_http_resp *resp) {
    assert(m != NULL && what != NULL && resp != NULL);
    if (m->engine_fail) {
        return;
    }
    m->engine_fail = true;
    if (resp->transport_failed) {
        say(m->engine_error, sizeof m->engine_error, "daemon %s: GET %s: %s", m->opt->daemon_url,
            what, resp->error);
    } else {
        say(m->engine_error, sizeof m->engine_error, "daemon %s: GET %s: HTTP %d",
            m->opt->daemon_url, what, resp->status);
    }
}

static void on_positions(void *ctx, const tg_http_resp *resp) {
    assert(ctx != NULL && resp != NULL);
    assert(((monitor *)ctx)->engine_pending > 0);
    monitor *m = ctx;
    if (resp->transport_failed || resp->status != 200) {
        engine_fail(m, "/v1/positions", resp);
    } else if (!m->stopping) {
        char why[TG_DIAG_TEXT_MAX];
        if (!parse_positions(m, resp->body, resp->len, why, sizeof why)) {
            m->engine_fail = true;
            copy(m->engine_error, sizeof m->engine_error, why);
        }
    }
    if (--m->engine_pending == 0) {
        engine_finish(m);
    }
}

static void on_metrics(void *ctx, const tg_http_resp *resp) {
    assert(ctx != NULL && resp != NULL);
    assert(((monitor *)ctx)->engine_pending > 0);
    monitor *m = ctx;
    if (resp->transport_failed || resp->status != 200) {
        engine_fail(m, "/metrics", resp);
    } else if (!m->stopping) {
        parse_metrics(m, resp->body);
    }
    if (--m->engine_pending == 0) {
        engine_finish(m);
    }
}

static void probe_engine(monitor *m) {
    assert(m != NULL && m->http != NULL);
    if (m->engine_busy) {
        m->run->probes[TG_DIAG_PROBE_ENGINE].overruns++;
        return;
    }
    m->engine_busy = true;
    m->engine_fail = false;
    m->engine_error[0] = '\0';
    m->engine_t0_us = tg_http_now_us();
    m->engine_pending = 2;
    char url[TG_HTTP_URL_MAX];
    const char *paths[] = {"/v1/positions", "/metrics"};
    tg_http_done_fn fns[] = {on_positions, on_metrics};
    for (int i = 0; i < 2; i++) {
        tg_err err = {0};
        int n = snprintf(url, sizeof url, "%s%s", m->opt->daemon_url, paths[i]);
        assert(n > 0 && (size_t)n < sizeof url);
        if (tg_http_send(m->http, "GET", url, NULL, 0, NULL, fns[i], m, &err) != TG_OK) {
            tg_http_resp fake = {.transport_failed = true};
            copy(fake.error, sizeof fake.error, err.msg);
            fns[i](m, &fake);
        }
    }
}

/* ---- store probe: every row and the newest journal entries ------------ */

typedef struct store_ctx {
    monitor *m;       /* owner */
    const char *acct; /* account */
    bool full;        /* a row did not fit */
    uint64_t entries; /* journal entries read */
    int64_t last_seq; /* newest seq */
} store_ctx;

static bool on_row(void *ctx, const tg_store_row *row) {
    assert(ctx != NULL && row != NULL);
    assert(((store_ctx *)ctx)->m->rows_count <= STORE_ROWS_MAX);
    store_ctx *c = ctx;
    monitor *m = c->m;
    if (m->rows_count == STORE_ROWS_MAX) {
        c->full = true;
        return false;
    }
    tg_diag_store_row *r = &m->rows[m->rows_count++];
    memset(r, 0, sizeof *r);
    copy(r->account, sizeof r->account, c->acct);
    copy(r->symbol, sizeof r->symbol, row->symbol);
    copy(r->position_key, sizeof r->position_key, row->position_key);
    copy(r->order_id, sizeof r->order_id, row->order_id);
    r->state = (tg_state)row->stop.state;
    if (row->stop.flags & TG_F_CONFIRMED) {
        r->stop_confirmed = row->stop.stop_confirmed;
    }
    if (row->stop.flags & TG_F_INTENDED) {
        r->stop_intended = row->stop.stop_intended;
    }
    return true;
}

static bool on_entry(void *ctx, const tg_journal_entry *e) {
    assert(ctx != NULL && e != NULL);
    store_ctx *c = ctx;
    c->entries++;
    c->last_seq = e->seq;
    return c->entries < JOURNAL_READ_MAX;
}

static bool store_account(monitor *m, account *a, char *why, size_t cap) {
    assert(m != NULL && a != NULL && a->cfg != NULL);
    assert(why != NULL && cap > 0);
    tg_err err = {0};
    char masked[TG_CONFIG_PATH_MAX];
    tg_store_uri_mask(m->opt->cfg->store_uri, masked, sizeof masked);
    if (a->store == NULL &&
        tg_store_open_readonly(m->opt->cfg->store_uri, a->cfg->name, &a->store, &err) != TG_OK) {
        a->store = NULL;
        say(why, cap, "store %s, account %s: %s", masked, a->cfg->name, err.msg);
        return false;
    }
    store_ctx c = {.m = m, .acct = a->cfg->name, .last_seq = a->journal_seq};
    if (tg_store_load(a->store, false, on_row, &c, &err) != TG_OK ||
        tg_store_journal(a->store, a->journal_seq, on_entry, &c, &err) != TG_OK) {
        say(why, cap, "store %s, account %s: %s", masked, a->cfg->name, err.msg);
        tg_store_close(a->store); /* reopened next time: the server may be back */
        a->store = NULL;
        return false;
    }
    a->journal_seq = c.last_seq;
    m->journal_entries += c.entries;
    return true;
}

typedef struct lease_ctx {
    monitor *m;                                 /* owner */
    bool live[TG_CONFIG_ACCOUNTS_MAX];          /* per configured account: a live lease */
    int64_t expired_ms[TG_CONFIG_ACCOUNTS_MAX]; /* since when its lease is over; −1 no row */
    char owner[TG_CONFIG_ACCOUNTS_MAX][TG_DIAG_NAME_MAX]; /* its last owner */
} lease_ctx;

static bool on_lease(void *ctx, const tg_store_lease *l) {
    assert(ctx != NULL && l != NULL);
    lease_ctx *c = ctx;
    for (size_t i = 0; i < c->m->accounts_count; i++) {
        if (strcmp(c->m->accounts[i].cfg->name, l->account) == 0) {
            c->live[i] = l->owner[0] != '\0' && l->expires_ms > l->now_ms;
            c->expired_ms[i] = l->now_ms - l->expires_ms;
            copy(c->owner[i], sizeof c->owner[i], l->owner);
        }
    }
    return true;
}

/* [cluster]: the leases table, read through the first account's store,
 * gives the accounts no live process holds (the database's clock decides). */
static bool store_leases(monitor *m, char *why, size_t cap) {
    assert(m != NULL && m->accounts_count > 0 && m->accounts[0].store != NULL);
    assert(why != NULL && cap > 0);
    lease_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        say(why, cap, "out of memory for the leases");
        return false;
    }
    c->m = m;
    for (size_t i = 0; i < m->accounts_count; i++) {
        c->expired_ms[i] = -1;
    }
    tg_err err = {0};
    if (tg_store_leases_list(m->accounts[0].store, on_lease, c, &err) != TG_OK) {
        say(why, cap, "store, leases: %s", err.msg);
        free(c);
        return false;
    }
    m->unowned_count = 0;
    for (size_t i = 0; i < m->accounts_count; i++) {
        if (c->live[i]) {
            continue;
        }
        tg_diag_unowned *u = &m->unowned[m->unowned_count++];
        copy(u->account, sizeof u->account, m->accounts[i].cfg->name);
        copy(u->owner, sizeof u->owner, c->owner[i]);
        u->expired_ms = c->expired_ms[i];
        char o[TG_DIAG_NAME_MAX * 4];
        log_line(m, "level=warn msg=account_unowned account=%s owner=\"%s\" expired_ms=%lld",
                 u->account, esc(u->owner, o, sizeof o), (long long)u->expired_ms);
    }
    assert(m->unowned_count <= m->accounts_count);
    free(c);
    return true;
}

static void probe_store(monitor *m) {
    assert(m != NULL && m->rows != NULL);
    int64_t t0 = tg_http_now_us();
    char why[TG_DIAG_TEXT_MAX] = "";
    bool ok = true;
    m->rows_count = 0;
    m->journal_entries = 0;
    for (size_t i = 0; i < m->accounts_count && ok; i++) {
        ok = store_account(m, &m->accounts[i], why, sizeof why);
    }
    if (ok && m->opt->cfg->cluster.enabled) {
        ok = store_leases(m, why, sizeof why);
    }
    double latency = (double)(tg_http_now_us() - t0) / US_PER_MS;
    if (!ok) {
        m->rows_count = 0;
    } else {
        log_line(m,
                 "level=info msg=probe probe=store ok=true rows=%zu journal_entries=%" PRIu64
                 " latency_ms=%.1f unowned=%zu",
                 m->rows_count, m->journal_entries, latency, m->unowned_count);
    }
    assert(m->rows_count <= STORE_ROWS_MAX);
    source_done(m, TG_DIAG_PROBE_STORE, ok, latency, why);
    maybe_first_check(m);
}

/* ---- exchange probe: per account, positions and every stop ------------ */

static void exchange_finish(monitor *m) {
    assert(m != NULL);
    assert(m->exchange_pending == 0);
    double latency = (double)(tg_http_now_us() - m->exchange_t0_us) / US_PER_MS;
    bool ok = true;
    char why[TG_DIAG_TEXT_MAX] = "";
    m->ex_pos_count = 0;
    m->ex_stops_count = 0;
    tg_diag_run *r = m->run;
    r->accounts_count = 0;
    for (size_t i = 0; i < m->accounts_count; i++) {
        account *a = &m->accounts[i];
        if (!a->ok) {
            ok = false;
            copy(why, sizeof why, a->error);
            continue;
        }
        assert(r->accounts_count < sizeof r->accounts / sizeof r->accounts[0]);
        tg_diag_account_row *row = &r->accounts[r->accounts_count++];
        memset(row, 0, sizeof *row);
        copy(row->account, sizeof row->account, a->cfg->name);
        copy(row->venue, sizeof row->venue, tg_venue_kind_str(a->cfg->venue.kind));
        row->positions = (uint32_t)a->pos_count;
        for (size_t k = 0; k < a->pos_count; k++) {
            bool covered = false;
            for (size_t s = 0; s < a->stops_count && !covered; s++) {
                covered = strcmp(a->stops[s].position_key, a->pos[k].position_key) == 0;
            }
            row->protected_count += covered ? 1 : 0;
        }
        for (size_t s = 0; s < a->stops_count; s++) {
            row->trailguard_stops += a->stops[s].owned ? 1 : 0;
            row->foreign_stops += a->stops[s].owned ? 0 : 1;
        }
        assert(m->ex_pos_count + a->pos_count <= EX_POS_MAX);
        assert(m->ex_stops_count + a->stops_count <= EX_STOPS_MAX);
        memcpy(m->ex_pos + m->ex_pos_count, a->pos, a->pos_count * sizeof *a->pos);
        m->ex_pos_count += a->pos_count;
        memcpy(m->ex_stops + m->ex_stops_count, a->stops, a->stops_count * sizeof *a->stops);
        m->ex_stops_count += a->stops_count;
        log_line(m,
                 "level=info msg=probe probe=exchange account=%s ok=true positions=%zu "
                 "stops=%zu protected=%u foreign_stops=%u ticks=%zu",
                 a->cfg->name, a->pos_count, a->stops_count, row->protected_count,
                 row->foreign_stops, a->ticks_count);
    }
    if (ok) {
        log_line(m,
                 "level=info msg=probe probe=exchange ok=true positions=%zu stops=%zu "
                 "latency_ms=%.1f",
                 m->ex_pos_count, m->ex_stops_count, latency);
    }
    source_done(m, TG_DIAG_PROBE_EXCHANGE, ok, latency, why);
    maybe_first_check(m);
}

static void account_done(account *a, bool ok, const tg_venue_error *e) {
    assert(a != NULL && a->m != NULL && a->busy);
    assert(a->m->exchange_pending > 0);
    assert(ok || e != NULL);
    monitor *m = a->m;
    a->busy = false;
    a->ok = ok;
    if (!ok) {
        say(a->error, sizeof a->error, "exchange, account %s (%s): %s", a->cfg->name,
            tg_venue_kind_str(a->cfg->venue.kind), e->err.msg);
        a->pos_count = 0;
        a->stops_count = 0;
    }
    if (--m->exchange_pending == 0 && !m->stopping) {
        exchange_finish(m);
    }
}

static int tick_cmp(const void *x, const void *y) {
    return strcmp(((const tick_entry *)x)->symbol, ((const tick_entry *)y)->symbol);
}

/* The symbol's tick, or 0 when the rules did not give it. */
static tg_dec tick_of(const account *a, const char *symbol) {
    assert(a != NULL && symbol != NULL);
    assert(a->ticks_count == 0 || a->ticks != NULL);
    tick_entry key;
    copy(key.symbol, sizeof key.symbol, symbol);
    const tick_entry *t =
        a->ticks_count > 0 ? bsearch(&key, a->ticks, a->ticks_count, sizeof key, tick_cmp) : NULL;
    return t != NULL ? t->tick : tg_dec_from_units(0);
}

static void stop_of(const account *a, const tg_venue_stop *v, tg_diag_exchange_stop *s) {
    assert(a != NULL && a->cfg != NULL);
    assert(v != NULL && s != NULL);
    memset(s, 0, sizeof *s);
    copy(s->account, sizeof s->account, a->cfg->name);
    copy(s->symbol, sizeof s->symbol, v->symbol);
    copy(s->position_key, sizeof s->position_key, v->position_key);
    copy(s->order_id, sizeof s->order_id, v->order_id);
    copy(s->client_id, sizeof s->client_id, v->client_id);
    copy(s->trigger_type, sizeof s->trigger_type, v->trigger_type);
    s->side = v->side;
    s->trigger = v->trigger;
    s->qty = v->qty;
    s->reduce_only = v->reduce_only;
    s->close_position = v->close_position;
    s->owned = v->owned;
    s->position_level = v->position_level;
}

static void on_stops(void *ctx, const tg_venue_reply *reply) {
    assert(ctx != NULL && reply != NULL);
    account *a = ctx;
    if (reply->error.code != TG_VENUE_OK) {
        account_done(a, false, &reply->error);
        return;
    }
    a->stops_count = 0;
    for (size_t i = 0; i < reply->stops_count && i < TG_VENUE_STOPS_MAX; i++) {
        stop_of(a, &reply->stops[i], &a->stops[a->stops_count++]);
    }
    assert(a->stops_count <= TG_VENUE_STOPS_MAX);
    account_done(a, true, &reply->error);
}

static void on_venue_positions(void *ctx, const tg_venue_reply *reply) {
    assert(ctx != NULL && reply != NULL);
    account *a = ctx;
    if (reply->error.code != TG_VENUE_OK || a->m->stopping) {
        account_done(a, false, &reply->error);
        return;
    }
    a->pos_count = 0;
    for (size_t i = 0; i < reply->positions_count && i < TG_VENUE_POSITIONS_MAX; i++) {
        const tg_venue_position *v = &reply->positions[i];
        tg_diag_exchange_pos *p = &a->pos[a->pos_count++];
        memset(p, 0, sizeof *p);
        copy(p->account, sizeof p->account, a->cfg->name);
        copy(p->venue, sizeof p->venue, tg_venue_kind_str(a->cfg->venue.kind));
        copy(p->symbol, sizeof p->symbol, v->symbol);
        copy(p->position_key, sizeof p->position_key, v->key);
        p->side = v->side;
        p->size = v->size;
        p->entry = v->entry;
        p->mark = v->mark;
        p->tick = tick_of(a, v->symbol);
    }
    assert(a->pos_count <= TG_VENUE_POSITIONS_MAX);
    tg_err err = {0};
    if (tg_venue_get_stops(a->venue, NULL, on_stops, a, &err) != TG_OK) {
        tg_venue_error e = {.code = TG_VENUE_E_PARAM, .err = err};
        account_done(a, false, &e);
    }
}

static void list_positions(account *a) {
    assert(a != NULL && a->venue != NULL);
    tg_err err = {0};
    if (tg_venue_get_positions(a->venue, on_venue_positions, a, &err) != TG_OK) {
        tg_venue_error e = {.code = TG_VENUE_E_PARAM, .err = err};
        account_done(a, false, &e);
    }
}

/* The instrument rules' ticks, kept for the run (a tick rarely changes).
 * Without them the positions are listed all the same, with tick 0
 * (unknown), and the rules are asked again at the next probe. */
static void on_rules(void *ctx, const tg_venue_reply *reply) {
    assert(ctx != NULL && reply != NULL);
    account *a = ctx;
    if (a->m->stopping) {
        account_done(a, false, &reply->error);
        return;
    }
    if (reply->error.code != TG_VENUE_OK) {
        char e[TG_DIAG_TEXT_MAX * 2];
        log_line(a->m, "level=warn msg=rules_failed account=%s error=\"%s\"", a->cfg->name,
                 esc(reply->error.err.msg, e, sizeof e));
    } else {
        size_t n = 0;
        for (size_t i = 0; i < reply->rules_count && n < TG_VENUE_RULES_MAX; i++) {
            if (tg_dec_is_pos(reply->rules[i].tick)) {
                copy(a->ticks[n].symbol, sizeof a->ticks[n].symbol, reply->rules[i].symbol);
                a->ticks[n].tick = reply->rules[i].tick;
                n++;
            }
        }
        qsort(a->ticks, n, sizeof a->ticks[0], tick_cmp);
        a->ticks_count = n;
        assert(a->ticks_count <= TG_VENUE_RULES_MAX);
    }
    list_positions(a);
}

/* The rules first while their ticks are unknown, then the positions. */
static void list_account(account *a) {
    assert(a != NULL && a->venue != NULL);
    if (a->ticks_count > 0) {
        list_positions(a);
        return;
    }
    tg_err err = {0};
    if (tg_venue_get_rules(a->venue, on_rules, a, &err) != TG_OK) {
        tg_venue_error e = {.code = TG_VENUE_E_PARAM, .err = err};
        account_done(a, false, &e);
    }
}

static void on_time(void *ctx, const tg_venue_reply *reply) {
    assert(ctx != NULL && reply != NULL);
    account *a = ctx;
    if (reply->error.code != TG_VENUE_OK || a->m->stopping) {
        account_done(a, false, &reply->error);
        return;
    }
    a->synced = true;
    list_account(a);
}

static void probe_exchange(monitor *m) {
    assert(m != NULL);
    assert(m->exchange_pending >= 0 && m->accounts_count <= TG_CONFIG_ACCOUNTS_MAX);
    if (m->exchange_pending > 0) {
        m->run->probes[TG_DIAG_PROBE_EXCHANGE].overruns++;
        return;
    }
    m->exchange_t0_us = tg_http_now_us();
    m->exchange_pending = (int)m->accounts_count;
    for (size_t i = 0; i < m->accounts_count; i++) {
        account *a = &m->accounts[i];
        a->busy = true;
        if (a->synced) {
            list_account(a);
            continue;
        }
        tg_err err = {0};
        if (tg_venue_sync_time(a->venue, on_time, a, &err) != TG_OK) {
            tg_venue_error e = {.code = TG_VENUE_E_PARAM, .err = err};
            account_done(a, false, &e);
        }
    }
}

/* ---- consistency and progress ----------------------------------------- */

static void check_now(monitor *m) {
    assert(m != NULL && m->issues != NULL);
    int64_t t0 = tg_http_now_us();
    int64_t now = wall_ms();
    tg_diag_snapshot snap = {
        .engine = m->src[0],
        .store = m->src[1],
        .exchange = m->src[2],
        .engine_pos = m->eng,
        .engine_count = m->src[0].ok ? m->eng_count : 0,
        .engine_stats = engine_stats_of(m),
        .store_rows = m->rows,
        .store_count = m->src[1].ok ? m->rows_count : 0,
        .exchange_pos = m->ex_pos,
        .exchange_pos_count = m->src[2].ok ? m->ex_pos_count : 0,
        .exchange_stops = m->ex_stops,
        .exchange_stops_count = m->src[2].ok ? m->ex_stops_count : 0,
        .unowned = m->unowned,
        .unowned_count = m->src[1].ok ? m->unowned_count : 0,
    };
    size_t found = tg_diag_check(&snap, &m->opt->thresholds, now, m->issues);
    assert(m->issues->count <= TG_DIAG_ISSUES_MAX);
    m->checked_once = true;
    for (size_t i = 0; i < m->issues->count && m->opt->log != NULL; i++) {
        if (m->issues->items[i].last_seen_ms == now) {
            tg_diag_log_issue(m->opt->log, &m->issues->items[i]);
        }
    }
    double latency = (double)(tg_http_now_us() - t0) / US_PER_MS;
    log_line(m, "level=info msg=probe probe=consistency findings=%zu distinct=%zu latency_ms=%.3f",
             found, m->issues->count, latency);
    if (m->opt->log != NULL) {
        fflush(m->opt->log);
    }
    probe_record(m, TG_DIAG_PROBE_CONSISTENCY, latency, true);
    if (m->opt->once) {
        uv_stop(&m->loop);
    }
}

static void progress(monitor *m) {
    assert(m != NULL && m->run != NULL && m->issues != NULL);
    FILE *f = m->opt->console;
    if (f == NULL) {
        return;
    }
    tg_diag_run *r = m->run;
    int64_t elapsed_min = (wall_ms() - r->started_ms) / 60000;
    int64_t planned_min = (r->planned_ms + 59999) / 60000;
    if (m->opt->tty && m->progress_lines > 0) {
        fprintf(f, "\033[%dA\033[J", m->progress_lines);
    }
    int lines = 0;
    static const char rule[] =
        "================================================================================";
    fprintf(f, "%s\nMinute %" PRId64 " of %" PRId64 " (remaining: %" PRId64 " min)\n%s\n", rule,
            elapsed_min, planned_min, planned_min > elapsed_min ? planned_min - elapsed_min : 0,
            rule);
    lines += 3;
    fprintf(f,
            "Positions: engine %zu, store %zu, exchange %zu\n"
            "New positions: %" PRIu64 "  Transitions: %" PRIu64 "  Activations: %" PRIu64
            "  Stop moves: %" PRIu64 "  Re-activations: %" PRIu64 "\n"
            "Snapshots: %" PRIu64 "  Checks: %" PRIu64 "\n"
            "Issues found: %zu  Errors: %" PRIu64 "\n",
            m->eng_count, m->rows_count, m->ex_pos_count, r->new_positions, r->state_transitions,
            r->activations, r->stop_updates, r->reactivations, r->snapshots, m->issues->checks,
            m->issues->count, r->errors);
    lines += 4;
    size_t n = m->issues->count;
    if (n > 0) {
        fputs("Recent issues:\n", f);
        lines++;
        for (size_t i = n > RECENT_ISSUES ? n - RECENT_ISSUES : 0; i < n; i++) {
            const tg_diag_issue *is = &m->issues->items[i];
            char d[TG_DIAG_TEXT_MAX * 2];
            fprintf(f, "  - [%s] %s %s %s: %s (x%u)\n", tg_diag_severity_str(is->severity),
                    tg_diag_type_str(is->type), is->account, is->symbol,
                    esc(is->description, d, sizeof d), is->count);
            lines++;
        }
    }
    if (r->error_count > 0) {
        fputs("Recent errors:\n", f);
        lines++;
        size_t e = r->error_count;
        for (size_t i = e > RECENT_ISSUES ? e - RECENT_ISSUES : 0; i < e; i++) {
            char d[TG_DIAG_TEXT_MAX * 2];
            fprintf(f, "  - %s\n", esc(r->error_log[i % TG_DIAG_ERRORS_MAX], d, sizeof d));
            lines++;
        }
    }
    fprintf(f, "%s\n", rule);
    fflush(f);
    m->progress_lines = lines + 1;
}

/* ---- the loop ---------------------------------------------------------- */

enum { TIMER_PROGRESS = TG_DIAG_PROBE_COUNT, TIMER_END };

static void on_timer(uv_timer_t *t) {
    assert(t != NULL && t->data != NULL);
    monitor *m = t->data;
    if (m->stopping) {
        return;
    }
    int which = (int)(t - m->timers);
    assert(which >= 0 && which < TG_DIAG_PROBE_COUNT + 2);
    switch (which) {
    case TG_DIAG_PROBE_ENGINE:
        probe_engine(m);
        break;
    case TG_DIAG_PROBE_STORE:
        probe_store(m);
        break;
    case TG_DIAG_PROBE_EXCHANGE:
        probe_exchange(m);
        break;
    case TG_DIAG_PROBE_CONSISTENCY:
        if (m->checked_once) {
            check_now(m);
        }
        break;
    case TIMER_PROGRESS:
        progress(m);
        break;
    default:
        uv_stop(&m->loop);
        break;
    }
}

static void on_signal(uv_signal_t *s, int signum) {
    assert(s != NULL && s->data != NULL);
    monitor *m = s->data;
    (void)signum;
    m->outcome->interrupted = true;
    uv_stop(&m->loop);
}

static void on_closed(uv_handle_t *h) {
    (void)h;
}

static void close_own(uv_handle_t *h) {
    assert(h != NULL);
    if (h->loop != NULL && !uv_is_closing(h)) {
        uv_close(h, on_closed);
    }
}

static tg_status monitor_alloc(monitor *m, tg_err *err) {
    assert(m != NULL);
    assert(m->accounts_count <= TG_CONFIG_ACCOUNTS_MAX);
    m->eng = calloc(ENGINE_POS_MAX, sizeof *m->eng);
    m->eng_next = calloc(ENGINE_POS_MAX, sizeof *m->eng_next);
    m->tracks = calloc(TRACK_MAX, sizeof *m->tracks);
    m->rows = calloc(STORE_ROWS_MAX, sizeof *m->rows);
    m->ex_pos = calloc(EX_POS_MAX, sizeof *m->ex_pos);
    m->ex_stops = calloc(EX_STOPS_MAX, sizeof *m->ex_stops);
    bool ok = m->eng && m->eng_next && m->tracks && m->rows && m->ex_pos && m->ex_stops;
    for (size_t i = 0; i < m->accounts_count && ok; i++) {
        m->accounts[i].pos = calloc(TG_VENUE_POSITIONS_MAX, sizeof *m->accounts[i].pos);
        m->accounts[i].stops = calloc(TG_VENUE_STOPS_MAX, sizeof *m->accounts[i].stops);
        m->accounts[i].ticks = calloc(TG_VENUE_RULES_MAX, sizeof *m->accounts[i].ticks);
        ok = m->accounts[i].pos != NULL && m->accounts[i].stops != NULL &&
             m->accounts[i].ticks != NULL;
    }
    return ok ? TG_OK : tg_err_set(err, TG_E_NOMEM, "out of memory for the monitor's snapshots");
}

static void monitor_free(monitor *m) {
    assert(m != NULL);
    assert(m->accounts_count <= TG_CONFIG_ACCOUNTS_MAX);
    for (size_t i = 0; i < m->accounts_count; i++) {
        free(m->accounts[i].pos);
        free(m->accounts[i].stops);
        free(m->accounts[i].ticks);
        if (m->accounts[i].store != NULL) {
            tg_store_close(m->accounts[i].store);
        }
    }
    free(m->eng);
    free(m->eng_next);
    free(m->tracks);
    free(m->rows);
    free(m->ex_pos);
    free(m->ex_stops);
}

static tg_status monitor_start(monitor *m, tg_err *err) {
    assert(m != NULL && m->opt != NULL);
    assert(m->accounts_count == m->opt->cfg->accounts_count);
    const tg_diag_options *o = m->opt;
    tg_status st = TG_OK;
    if (!o->exchange_only) {
        tg_http_opts ho = {.connect_timeout_ms = o->request_timeout_ms,
                           .request_timeout_ms = o->request_timeout_ms};
        st = tg_http_new(&m->loop, &ho, &m->http, err);
    }
    for (size_t i = 0; i < m->accounts_count && st == TG_OK; i++) {
        account *a = &m->accounts[i];
        a->m = m;
        a->cfg = &o->cfg->accounts[i];
        tg_venue_config vc = a->cfg->venue;
        vc.request_timeout_ms = o->request_timeout_ms;
        vc.retry_count_max = 1;
        st = tg_venue_new(&vc, &m->loop, &a->venue, err);
        memset(&vc, 0, sizeof vc); /* the copy of the secret */
    }
    if (st != TG_OK) {
        return st;
    }
    for (int i = 0; i < TG_DIAG_PROBE_COUNT + 2; i++) {
        uv_timer_init(&m->loop, &m->timers[i]);
        m->timers[i].data = m;
    }
    uv_signal_init(&m->loop, &m->sigint);
    uv_signal_init(&m->loop, &m->sigterm);
    m->sigint.data = m;
    m->sigterm.data = m;
    uv_signal_start(&m->sigint, on_signal, SIGINT);
    uv_signal_start(&m->sigterm, on_signal, SIGTERM);
    m->src[0].enabled = !o->exchange_only;
    m->src[1].enabled = !o->exchange_only;
    m->src[2].enabled = true;
    for (int p = 0; p < 3; p++) {
        if (!m->src[p].enabled) {
            continue;
        }
        /* The first run at once, then on the interval (none with --once). */
        uint64_t repeat = o->once ? 0 : (uint64_t)o->interval_ms[p];
        uv_timer_start(&m->timers[p], on_timer, 0, repeat);
    }
    if (!o->once) {
        uint64_t c = (uint64_t)o->interval_ms[TG_DIAG_PROBE_CONSISTENCY];
        uv_timer_start(&m->timers[TG_DIAG_PROBE_CONSISTENCY], on_timer, c, c);
        uv_timer_start(&m->timers[TIMER_PROGRESS], on_timer, (uint64_t)o->progress_ms,
                       (uint64_t)o->progress_ms);
        uv_timer_start(&m->timers[TIMER_END], on_timer, (uint64_t)o->duration_ms, 0);
    } else {
        /* --once still ends: a source that never answers times out. */
        uv_timer_start(&m->timers[TIMER_END], on_timer, (uint64_t)o->request_timeout_ms * 4, 0);
    }
    return TG_OK;
}

/* Closes the venues and the HTTP client, then every handle, and runs the
 * loop until they are gone. */
static void monitor_stop(monitor *m) {
    assert(m != NULL);
    m->stopping = true;
    for (size_t i = 0; i < m->accounts_count; i++) {
        if (m->accounts[i].venue != NULL) {
            tg_venue_close(m->accounts[i].venue);
        }
    }
    if (m->http != NULL) {
        tg_http_close(m->http);
        m->http = NULL;
    }
    for (int i = 0; i < TG_DIAG_PROBE_COUNT + 2; i++) {
        close_own((uv_handle_t *)&m->timers[i]);
    }
    close_own((uv_handle_t *)&m->sigint);
    close_own((uv_handle_t *)&m->sigterm);
    while (uv_run(&m->loop, UV_RUN_DEFAULT) != 0) {
    }
    assert(m->http == NULL);
    for (size_t i = 0; i < m->accounts_count; i++) {
        if (m->accounts[i].venue != NULL) {
            tg_venue_free(m->accounts[i].venue);
            m->accounts[i].venue = NULL;
        }
    }
}

tg_status tg_diag_monitor_run(const tg_diag_options *opt, tg_diag_run *run, tg_diag_issues *issues,
                              tg_diag_outcome *outcome, tg_err *err) {
    assert(opt != NULL && opt->cfg != NULL && run != NULL && issues != NULL && outcome != NULL);
    assert(opt->cfg->accounts_count >= 1 && opt->cfg->accounts_count <= TG_CONFIG_ACCOUNTS_MAX);
    monitor *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "out of memory for the monitor");
    }
    memset(outcome, 0, sizeof *outcome);
    m->opt = opt;
    m->run = run;
    m->issues = issues;
    m->outcome = outcome;
    m->accounts_count = opt->cfg->accounts_count;
    run->started_ms = wall_ms();
    run->planned_ms = opt->once ? 0 : opt->duration_ms;
    run->once = opt->once;
    run->exchange_only = opt->exchange_only;
    copy(run->daemon_url, sizeof run->daemon_url, opt->exchange_only ? "" : opt->daemon_url);
    for (int p = 0; p < TG_DIAG_PROBE_COUNT; p++) {
        run->probes[p].interval_ms = opt->interval_ms[p];
    }
    if (uv_loop_init(&m->loop) != 0) {
        free(m);
        return tg_err_set(err, TG_E_NOMEM, "cannot start an event loop");
    }
    tg_status st = monitor_alloc(m, err);
    if (st == TG_OK) {
        st = monitor_start(m, err);
    }
    if (st == TG_OK) {
        log_line(m,
                 "level=info msg=diagnose_started accounts=%zu exchange_only=%s once=%s "
                 "duration_ms=%" PRId64,
                 m->accounts_count, opt->exchange_only ? "true" : "false",
                 opt->once ? "true" : "false", run->planned_ms);
        uv_run(&m->loop, UV_RUN_DEFAULT);
        if (!m->checked_once) {
            check_now(m); /* a source that never answered is an issue of this run too */
        }
        if (!opt->once) {
            progress(m);
        }
    }
    monitor_stop(m);
    (void)uv_loop_close(&m->loop);
    run->ended_ms = wall_ms();
    log_line(m, "level=info msg=diagnose_ended issues=%zu errors=%" PRIu64, issues->count,
             run->errors);
    monitor_free(m);
    free(m);
    return st;
}

bool tg_diag_duration_parse(const char *text, int64_t *ms) {
    assert(text != NULL && ms != NULL);
    char *end = NULL;
    if (*text < '0' || *text > '9') {
        return false;
    }
    double v = strtod(text, &end);
    int64_t unit = 60000; /* bare numbers are minutes, as the original's --duration */
    if (strcmp(end, "s") == 0) {
        unit = 1000;
    } else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) {
        unit = 60000;
    } else if (strcmp(end, "h") == 0) {
        unit = 3600000;
    } else if (*end != '\0') {
        return false;
    }
    double total = v * (double)unit;
    if (!(total >= 1) || total > (double)DURATION_MS_MAX) {
        return false;
    }
    *ms = (int64_t)total;
    assert(*ms >= 1 && *ms <= DURATION_MS_MAX);
    return true;
}
