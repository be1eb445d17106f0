/*
 * The consistency check of the diagnostic monitor: the rules over the engine,
 * store and exchange snapshots (include/trailguard/diag.h, docs/diagnose.md).
 *
 * Positions are matched by (account, position_key), stops to positions by
 * (account, symbol, side), both through chained hash indexes built per check,
 * so a check is O(n) in the size of the snapshots. Findings are merged into
 * the issue list through a second pindex over (type, account, symbol).
 */
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trailguard/diag.h"

#define NONE            UINT32_MAX
#define ISSUE_SLOTS     (2 * TG_DIAG_ISSUES_MAX) /* open-addressing slots of the issue pindex */
#define VENUES_MAX      64                       /* accounts whose venue the check remembers */
#define VALUE_ABSENT    "absent"
#define VALUE_NONE      "none"
#define PCT_UNITS_SCALE 1e8 /* a double percent to tg_dec units */

/* ---- names ------------------------------------------------------------ */

static const struct {
    const char *name;
    tg_diag_severity severity;
} types[TG_DIAG_TYPE_COUNT] = {
    [TG_DIAG_MISSING_TS_INSTANCE] = {"missing_ts_instance", TG_DIAG_HIGH},
    [TG_DIAG_ORPHAN_TS_INSTANCE] = {"orphan_ts_instance", TG_DIAG_HIGH},
    [TG_DIAG_STATE_MISMATCH] = {"state_mismatch", TG_DIAG_MEDIUM},
    [TG_DIAG_SL_PRICE_MISMATCH] = {"sl_price_mismatch", TG_DIAG_MEDIUM},
    [TG_DIAG_UNPROTECTED_POSITION] = {"unprotected_position", TG_DIAG_CRITICAL},
    [TG_DIAG_EXCHANGE_STOP_LOOSER] = {"exchange_stop_looser", TG_DIAG_CRITICAL},
    [TG_DIAG_STOP_WRONG_SIDE] = {"stop_wrong_side", TG_DIAG_CRITICAL},
    [TG_DIAG_STOP_INCREASES_POSITION] = {"stop_increases_position", TG_DIAG_CRITICAL},
    [TG_DIAG_DUPLICATE_STOPS] = {"duplicate_stops", TG_DIAG_HIGH},
    [TG_DIAG_ORPHAN_EXCHANGE_STOP] = {"orphan_exchange_stop", TG_DIAG_HIGH},
    [TG_DIAG_UNCONFIRMED_INTENT] = {"unconfirmed_intent", TG_DIAG_HIGH},
    [TG_DIAG_STALE_FEED] = {"stale_feed", TG_DIAG_HIGH},
    [TG_DIAG_SOURCE_UNREACHABLE] = {"source_unreachable", TG_DIAG_HIGH},
    [TG_DIAG_LATENCY_HIGH] = {"latency_high", TG_DIAG_MEDIUM},
    [TG_DIAG_RATE_LIMIT_PRESSURE] = {"rate_limit_pressure", TG_DIAG_MEDIUM},
    [TG_DIAG_UNPROTECTED_WINDOW] = {"unprotected_window", TG_DIAG_LOW},
    [TG_DIAG_REACTIVATION] = {"reactivation", TG_DIAG_LOW},
    [TG_DIAG_FOREIGN_STOP] = {"foreign_stop", TG_DIAG_LOW},
};

static const char *const severity_names[] = {"LOW", "MEDIUM", "HIGH", "CRITICAL"};

const char *tg_diag_type_str(tg_diag_type type) {
    return (unsigned)type < TG_DIAG_TYPE_COUNT ? types[type].name : "unknown";
}

tg_diag_severity tg_diag_type_severity(tg_diag_type type) {
    assert((unsigned)type < TG_DIAG_TYPE_COUNT);
    return types[type].severity;
}

const char *tg_diag_severity_str(tg_diag_severity severity) {
    return (unsigned)severity < 4 ? severity_names[severity] : "UNKNOWN";
}

bool tg_diag_severity_parse(const char *text, tg_diag_severity *out) {
    assert(out != NULL);
    if (text == NULL) {
        return false;
    }
    for (unsigned i = 0; i < 4; i++) {
        const char *a = text, *b = severity_names[i];
        while (*a != '\0' && toupper((unsigned char)*a) == *b) {
            a++;
            b++;
        }
        if (*a == '\0' && *b == '\0') {
            *out = (tg_diag_severity)i;
            return true;
        }
    }
    return false;
}

const char *tg_diag_probe_str(tg_diag_probe probe) {
    static const char *const names[] = {"engine", "store", "exchange", "consistency"};
    return (unsigned)probe < TG_DIAG_PROBE_COUNT ? names[probe] : "unknown";
}

tg_diag_thresholds tg_diag_thresholds_default(void) {
    return (tg_diag_thresholds){
        .price_tolerance_pct = 0.1,
        .unconfirmed_ms = 30000,
        .stale_ms = 10000,
        .store_latency_ms = 1000,
        .exchange_latency_ms = 2000,
        .engine_latency_ms = 1,
        .rate_limit_pct = 5,
        .unprotected_window_s = 0.3,
    };
}

int tg_diag_worst(const tg_diag_issues *issues) {
    assert(issues != NULL && issues->count <= TG_DIAG_ISSUES_MAX);
    int worst = -1;
    for (size_t i = 0; i < issues->count; i++) {
        if ((int)issues->items[i].severity > worst) {
            worst = (int)issues->items[i].severity;
        }
    }
    return worst;
}

/* ---- hashing ---------------------------------------------------------- */

static uint64_t hash_str(uint64_t h, const char *s) {
    assert(s != NULL);
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    }
    return (h ^ 0xff) * 0x100000001b3ULL; /* a separator, so ("ab","c") ≠ ("a","bc") */
}

static uint64_t hash_pos(const char *account, const char *key) {
    assert(account != NULL && key != NULL);
    return hash_str(hash_str(0xcbf29ce484222325ULL, account), key);
}

static uint64_t hash_stop(const char *account, const char *symbol, tg_side side) {
    assert(account != NULL && symbol != NULL);
    return hash_str(hash_pos(account, symbol), side == TG_SIDE_SHORT ? "s" : "l");
}

/* A chained hash pindex over n items. Without memory (heads == NULL) the
 * lookups walk every item: slower, never wrong. */
typedef struct pindex {
    uint32_t *heads; /* mask + 1 chain heads, NONE when empty */
    uint32_t *next;  /* per item, the next item of its chain */
    uint64_t mask;   /* slots − 1 */
    size_t n;        /* items */
} pindex;

static size_t slots_for(size_t n) {
    assert(n < NONE);
    size_t s = 16;
    while (s < 2 * n) {
        s *= 2;
    }
    assert(s >= 2 * n && (s & (s - 1)) == 0);
    return s;
}

static void index_add(pindex *ix, size_t i, uint64_t h) {
    assert(ix != NULL);
    assert(i < ix->n);
    if (ix->heads == NULL) {
        return;
    }
    uint64_t slot = h & ix->mask;
    assert(slot <= ix->mask);
    ix->next[i] = ix->heads[slot];
    ix->heads[slot] = (uint32_t)i;
}

static size_t index_first(const pindex *ix, uint64_t h) {
    assert(ix != NULL);
    assert(ix->heads == NULL || ix->next != NULL);
    if (ix->heads == NULL) {
        return ix->n > 0 ? 0 : NONE;
    }
    return ix->heads[h & ix->mask];
}

static size_t index_next(const pindex *ix, size_t i) {
    assert(ix != NULL);
    assert(i < ix->n);
    if (ix->heads == NULL) {
        return i + 1 < ix->n ? i + 1 : NONE;
    }
    return ix->next[i];
}

#define INDEX_FOR(ix, h, i) for (size_t i = index_first(ix, h); i != NONE; i = index_next(ix, i))

/* ---- the check's context ---------------------------------------------- */

typedef struct ctx {
    const tg_diag_snapshot *snap;     /* inputs */
    const tg_diag_thresholds *th;     /* thresholds */
    int64_t now_ms;                   /* the check's time */
    tg_diag_issues *issues;           /* merged into */
    bool eng, sto, exc;               /* source enabled and answered */
    pindex by_engine;                 /* engine positions by (account, key) */
    pindex by_store;                  /* store rows by (account, key) */
    pindex by_xpos;                   /* exchange positions by (account, key) */
    pindex by_stop;                   /* exchange stops by (account, symbol, side) */
    uint8_t *claimed;                 /* per stop: matched to an open position */
    void *mem;                        /* the indexes' memory (NULL: linear lookups) */
    uint16_t slots[ISSUE_SLOTS];      /* issue pindex: item + 1, 0 empty */
    uint8_t seen[TG_DIAG_ISSUES_MAX]; /* per item: found by this check */
    size_t findings;                  /* distinct findings of this check */
    struct {
        const char *account, *venue;
    } venues[VENUES_MAX]; /* account → venue, from the positions */
    size_t venues_count;  /* entries */
} ctx;

static bool ctx_alloc(ctx *c) {
    assert(c != NULL && c->snap != NULL);
    assert(c->mem == NULL);
    const tg_diag_snapshot *s = c->snap;
    size_t ns[4] = {s->engine_count, s->store_count, s->exchange_pos_count,
                    s->exchange_stops_count};
    pindex *ix[4] = {&c->by_engine, &c->by_store, &c->by_xpos, &c->by_stop};
    size_t words = 0;
    for (int k = 0; k < 4; k++) {
        assert(ns[k] < NONE);
        words += slots_for(ns[k]) + ns[k];
        ix[k]->n = ns[k];
    }
    c->mem = malloc(words * sizeof(uint32_t) + ns[3] + 1);
    if (c->mem == NULL) {
        return false;
    }
    uint32_t *p = c->mem;
    for (int k = 0; k < 4; k++) {
        size_t slots = slots_for(ns[k]);
        ix[k]->heads = p;
        ix[k]->next = p + slots;
        ix[k]->mask = slots - 1;
        memset(p, 0xff, slots * sizeof *p);
        p += slots + ns[k];
    }
    c->claimed = (uint8_t *)p;
    assert((char *)c->claimed + ns[3] + 1 == (char *)c->mem + words * sizeof(uint32_t) + ns[3] + 1);
    memset(c->claimed, 0, ns[3] + 1);
    return true;
}

static void ctx_index(ctx *c) {
    assert(c != NULL && c->snap != NULL);
    assert(c->mem != NULL);
    const tg_diag_snapshot *s = c->snap;
    /* Insert in reverse so that each chain lists its items in array order. */
    for (size_t i = s->engine_count; i-- > 0;) {
        index_add(&c->by_engine, i,
                  hash_pos(s->engine_pos[i].account, s->engine_pos[i].position_key));
    }
    for (size_t i = s->store_count; i-- > 0;) {
        index_add(&c->by_store, i,
                  hash_pos(s->store_rows[i].account, s->store_rows[i].position_key));
    }
    for (size_t i = s->exchange_pos_count; i-- > 0;) {
        const tg_diag_exchange_pos *x = &s->exchange_pos[i];
        index_add(&c->by_xpos, i, hash_pos(x->account, x->position_key));
    }
    for (size_t i = s->exchange_stops_count; i-- > 0;) {
        const tg_diag_exchange_stop *x = &s->exchange_stops[i];
        index_add(&c->by_stop, i, hash_stop(x->account, x->symbol, x->side));
    }
}

static void remember_venue(ctx *c, const char *account, const char *venue) {
    assert(c != NULL && account != NULL && venue != NULL);
    assert(c->venues_count <= VENUES_MAX);
    if (venue[0] == '\0') {
        return;
    }
    for (size_t i = c->venues_count; i-- > 0;) {
        if (strcmp(c->venues[i].account, account) == 0) {
            return;
        }
    }
    if (c->venues_count < VENUES_MAX) {
        c->venues[c->venues_count].account = account;
        c->venues[c->venues_count].venue = venue;
        c->venues_count++;
    }
}

static const char *venue_of(const ctx *c, const char *account) {
    assert(c != NULL && account != NULL);
    assert(c->venues_count <= VENUES_MAX);
    for (size_t i = 0; i < c->venues_count; i++) {
        if (strcmp(c->venues[i].account, account) == 0) {
            return c->venues[i].venue;
        }
    }
    return "";
}

static void collect_venues(ctx *c) {
    assert(c != NULL && c->snap != NULL);
    assert(c->venues_count == 0);
    const tg_diag_snapshot *s = c->snap;
    const char *last = NULL;
    for (size_t i = 0; i < s->exchange_pos_count; i++) {
        if (last == NULL || strcmp(last, s->exchange_pos[i].account) != 0) {
            remember_venue(c, s->exchange_pos[i].account, s->exchange_pos[i].venue);
            last = s->exchange_pos[i].account;
        }
    }
    last = NULL;
    for (size_t i = 0; i < s->engine_count; i++) {
        if (last == NULL || strcmp(last, s->engine_pos[i].account) != 0) {
            remember_venue(c, s->engine_pos[i].account, s->engine_pos[i].venue);
            last = s->engine_pos[i].account;
        }
    }
}

/* ---- lookups ---------------------------------------------------------- */

static const tg_diag_engine_pos *find_engine(const ctx *c, const char *account, const char *key) {
    assert(c != NULL && c->eng);
    assert(account != NULL && key != NULL);
    INDEX_FOR(&c->by_engine, hash_pos(account, key), i) {
        const tg_diag_engine_pos *e = &c->snap->engine_pos[i];
        if (strcmp(e->position_key, key) == 0 && strcmp(e->account, account) == 0) {
            return e;
        }
    }
    return NULL;
}

static const tg_diag_store_row *find_store(const ctx *c, const char *account, const char *key) {
    assert(c != NULL && c->sto);
    assert(account != NULL && key != NULL);
    INDEX_FOR(&c->by_store, hash_pos(account, key), i) {
        const tg_diag_store_row *r = &c->snap->store_rows[i];
        if (strcmp(r->position_key, key) == 0 && strcmp(r->account, account) == 0) {
            return r;
        }
    }
    return NULL;
}

static const tg_diag_exchange_pos *find_xpos(const ctx *c, const char *account, const char *key) {
    assert(c != NULL && c->exc);
    assert(account != NULL && key != NULL);
    INDEX_FOR(&c->by_xpos, hash_pos(account, key), i) {
        const tg_diag_exchange_pos *x = &c->snap->exchange_pos[i];
        if (strcmp(x->position_key, key) == 0 && strcmp(x->account, account) == 0) {
            return x;
        }
    }
    return NULL;
}

static bool stop_of(const tg_diag_exchange_stop *st, const char *account, const char *symbol,
                    tg_side side) {
    assert(st != NULL);
    assert(account != NULL && symbol != NULL);
    return st->side == side && strcmp(st->symbol, symbol) == 0 && strcmp(st->account, account) == 0;
}

/* ---- findings --------------------------------------------------------- */

typedef struct values {
    char engine[TG_DIAG_NAME_MAX];   /* engine_value */
    char store[TG_DIAG_NAME_MAX];    /* store_value */
    char exchange[TG_DIAG_NAME_MAX]; /* exchange_value */
} values;

/* Copies src into dst, cut to cap − 1 bytes: the texts are reports, and a
 * cut value is better than none. */
static void copy(char *dst, size_t cap, const char *src) {
    assert(dst != NULL && cap > 0);
    size_t n = src != NULL ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

static void append(char *dst, size_t cap, const char *src) {
    assert(dst != NULL && cap > 0);
    size_t n = strnlen(dst, cap - 1);
    assert(n < cap);
    copy(dst + n, cap - n, src);
}

static void fmt_price(char *dst, size_t cap, const char *prefix, tg_dec v) {
    assert(dst != NULL && cap > 0);
    assert(prefix != NULL);
    char num[TG_DEC_STR_MAX];
    copy(dst, cap, prefix);
    if (tg_dec_is_zero(v)) {
        append(dst, cap, VALUE_NONE);
        return;
    }
    size_t n = tg_dec_format(v, 0, num);
    assert(n > 0 && n < sizeof num);
    append(dst, cap, num);
}

static const char *price(tg_dec v, char buf[TG_DEC_STR_MAX]) {
    assert(buf != NULL);
    if (tg_dec_is_zero(v)) {
        return VALUE_NONE;
    }
    size_t n = tg_dec_format(v, 0, buf);
    assert(n > 0 && n < TG_DEC_STR_MAX);
    return buf;
}

static tg_diag_issue *issue_find(ctx *c, tg_diag_type type, const char *account, const char *symbol,
                                 size_t *slot_out) {
    assert(c != NULL && c->issues != NULL);
    assert((unsigned)type < TG_DIAG_TYPE_COUNT);
    assert(account != NULL && symbol != NULL && slot_out != NULL);
    uint64_t h = hash_str(hash_pos(account, symbol), types[type].name);
    size_t slot = (size_t)(h & (ISSUE_SLOTS - 1));
    for (size_t probes = 0; probes < ISSUE_SLOTS; probes++) {
        uint16_t v = c->slots[slot];
        if (v == 0) {
            *slot_out = slot;
            return NULL;
        }
        assert((size_t)v <= c->issues->count);
        tg_diag_issue *it = &c->issues->items[v - 1];
        if (it->type == type && strcmp(it->symbol, symbol) == 0 &&
            strcmp(it->account, account) == 0) {
            return it;
        }
        slot = (slot + 1) & (ISSUE_SLOTS - 1);
    }
    assert(0 && "the issue pindex has twice the slots of the list");
    return NULL;
}

static void fill(tg_diag_issue *it, const char *venue, const values *v, const char *cause,
                 const char *description) {
    assert(it != NULL && venue != NULL);
    assert(cause != NULL && description != NULL);
    copy(it->venue, sizeof it->venue, venue);
    copy(it->cause, sizeof it->cause, cause);
    copy(it->description, sizeof it->description, description);
    copy(it->engine_value, sizeof it->engine_value, v != NULL ? v->engine : "");
    copy(it->store_value, sizeof it->store_value, v != NULL ? v->store : "");
    copy(it->exchange_value, sizeof it->exchange_value, v != NULL ? v->exchange : "");
}

/* The tick of the exchange's open position on (account, symbol), either
 * side; 0 when there is none or the rules did not give it. */
static tg_dec tick_for(const ctx *c, const char *account, const char *symbol) {
    assert(c != NULL);
    assert(account != NULL && symbol != NULL);
    if (!c->exc || symbol[0] == '\0') {
        return tg_dec_from_units(0);
    }
    static const char *const sides[] = {"long", "short"};
    for (size_t k = 0; k < 2; k++) {
        char key[TG_DIAG_NAME_MAX];
        int n = snprintf(key, sizeof key, "%s:%s", symbol, sides[k]);
        const tg_diag_exchange_pos *x =
            n > 0 && (size_t)n < sizeof key ? find_xpos(c, account, key) : NULL;
        if (x != NULL && tg_dec_is_pos(x->tick)) {
            return x->tick;
        }
    }
    return tg_dec_from_units(0);
}

/* Merges one finding: a new issue, or the existing one seen once more. A
 * second finding of the same (type, account, symbol) in one check (the long
 * and the short of one symbol) counts once. */
__attribute__((format(printf, 7, 8))) static void found(ctx *c, tg_diag_type type,
                                                        const char *account, const char *symbol,
                                                        const values *v, const char *cause,
                                                        const char *fmt, ...) {
    assert((unsigned)type < TG_DIAG_TYPE_COUNT && account != NULL && symbol != NULL);
    assert(c != NULL && cause != NULL && fmt != NULL);
    char description[TG_DIAG_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(description, sizeof description, fmt, ap);
    va_end(ap);

    tg_diag_issues *is = c->issues;
    size_t slot = 0;
    tg_diag_issue *it = issue_find(c, type, account, symbol, &slot);
    if (it != NULL) {
        size_t n = (size_t)(it - is->items);
        if (c->seen[n]) {
            return;
        }
        c->seen[n] = 1;
        c->findings++;
        it->count++;
        it->last_seen_ms = c->now_ms;
        fill(it, venue_of(c, account), v, cause, description);
        it->tick = tick_for(c, account, symbol);
        return;
    }
    c->findings++;
    if (is->count >= TG_DIAG_ISSUES_MAX) {
        is->dropped++;
        return;
    }
    it = &is->items[is->count];
    memset(it, 0, sizeof *it);
    it->type = type;
    it->severity = types[type].severity;
    copy(it->account, sizeof it->account, account);
    copy(it->symbol, sizeof it->symbol, symbol);
    it->first_seen_ms = it->last_seen_ms = c->now_ms;
    it->count = 1;
    fill(it, venue_of(c, account), v, cause, description);
    it->tick = tick_for(c, account, symbol);
    c->seen[is->count] = 1;
    assert(slot < ISSUE_SLOTS && c->slots[slot] == 0);
    c->slots[slot] = (uint16_t)(is->count + 1);
    is->count++;
    assert(is->count <= TG_DIAG_ISSUES_MAX);
}

static void ctx_index_issues(ctx *c) {
    assert(c != NULL && c->issues != NULL);
    assert(c->issues->count <= TG_DIAG_ISSUES_MAX);
    tg_diag_issues *is = c->issues;
    for (size_t n = 0; n < is->count; n++) {
        const tg_diag_issue *it = &is->items[n];
        assert((unsigned)it->type < TG_DIAG_TYPE_COUNT);
        size_t slot = 0;
        tg_diag_issue *dup = issue_find(c, it->type, it->account, it->symbol, &slot);
        if (dup == NULL) {
            c->slots[slot] = (uint16_t)(n + 1);
        }
    }
}

/* ---- price arithmetic ------------------------------------------------- */

/* pct % of p, or tick when that is larger. */
static tg_dec tolerance(tg_dec p, double pct, tg_dec tick) {
    tg_dec pct_dec = tg_dec_from_units((int64_t)llround(pct * PCT_UNITS_SCALE));
    tg_dec tol = tg_dec_from_units(0), absp;
    if (tg_dec_abs(p, &absp) != TG_DEC_OK ||
        tg_dec_mul_pct(absp, pct_dec, TG_ROUND_FLOOR, &tol) != TG_DEC_OK) {
        tol = tg_dec_from_units(0);
    }
    return tg_dec_max(tol, tick);
}

/* How much looser a is than b for the side (positive: looser), saturated. */
static int64_t looser_by(tg_side side, tg_dec a, tg_dec b) {
    tg_dec d;
    tg_dec_status st = side == TG_SIDE_LONG ? tg_dec_sub(b, a, &d) : tg_dec_sub(a, b, &d);
    return st == TG_DEC_OK ? d.units : INT64_MAX;
}

static bool on_loss_side(tg_side side, tg_dec trigger, tg_dec mark) {
    return side == TG_SIDE_LONG ? tg_dec_lt(trigger, mark) : tg_dec_gt(trigger, mark);
}

static bool live(tg_state state) {
    return state != TG_STATE_TRIGGERED && state != TG_STATE_CLOSED;
}

static double approx(tg_dec v) {
    return (double)v.units / (double)TG_DEC_SCALE; /* for a sentence only, never compared */
}

/* ---- the rules -------------------------------------------------------- */

/* sl_price_mismatch over those of the three stops that exist: the engine's
 * confirmed stop, the stored confirmed stop, trailguard's stop on the
 * exchange. The tolerance is taken of the first of them. */
static void check_prices(ctx *c, const char *account, const char *symbol, tg_dec eng, tg_dec sto,
                         tg_dec exc, tg_dec tick) {
    assert(c != NULL && c->th != NULL);
    assert(account != NULL && symbol != NULL);
    const tg_dec v[3] = {eng, sto, exc};
    tg_dec lo = {0}, hi = {0}, ref = {0};
    int n = 0;
    for (int k = 0; k < 3; k++) {
        if (!tg_dec_is_pos(v[k])) {
            continue;
        }
        if (n == 0) {
            lo = hi = ref = v[k];
        }
        lo = tg_dec_min(lo, v[k]);
        hi = tg_dec_max(hi, v[k]);
        n++;
    }
    if (n < 2) {
        return;
    }
    assert(tg_dec_le(lo, hi) && tg_dec_is_pos(ref));
    tg_dec tol = tolerance(ref, c->th->price_tolerance_pct, tick), spread;
    if (tg_dec_sub(hi, lo, &spread) == TG_DEC_OK && tg_dec_le(spread, tol)) {
        return;
    }
    values val;
    fmt_price(val.engine, sizeof val.engine, "", eng);
    fmt_price(val.store, sizeof val.store, "", sto);
    fmt_price(val.exchange, sizeof val.exchange, "", exc);
    char a[TG_DEC_STR_MAX], t[TG_DEC_STR_MAX];
    found(c, TG_DIAG_SL_PRICE_MISMATCH, account, symbol, &val,
          "a stop move confirmed in one place and not yet written, or lost, in another (a "
          "failed commit, an edit by hand, a replace the daemon did not see)",
          "%s %s: stop prices differ by %s (%.3f %%), more than the tolerance %s: engine %s, "
          "store %s, exchange %s.",
          account, symbol, price(spread, a), approx(spread) / approx(ref) * 100, price(tol, t),
          val.engine, val.store, val.exchange);
}

typedef struct stops_seen {
    size_t owned;                       /* trailguard's stops */
    size_t protective;                  /* closing stops on the loss side */
    const tg_diag_exchange_stop *tg;    /* trailguard's tightest on the loss side, else its first */
    const tg_diag_exchange_stop *wrong; /* the first stop on the wrong side of the mark */
} stops_seen;

static stops_seen scan_stops(ctx *c, const tg_diag_exchange_pos *x, tg_dec mark) {
    assert(c != NULL && c->exc);
    assert(x != NULL);
    stops_seen s = {0};
    const tg_diag_exchange_stop *first_owned = NULL;
    INDEX_FOR(&c->by_stop, hash_stop(x->account, x->symbol, x->side), i) {
        const tg_diag_exchange_stop *st = &c->snap->exchange_stops[i];
        if (!stop_of(st, x->account, x->symbol, x->side)) {
            continue;
        }
        if (c->claimed != NULL) {
            c->claimed[i] = 1;
        }
        bool loss_side = tg_dec_is_zero(mark) || on_loss_side(x->side, st->trigger, mark);
        if (!loss_side && s.wrong == NULL) {
            s.wrong = st;
        }
        if ((st->reduce_only || st->close_position) && tg_dec_is_pos(st->trigger) && loss_side) {
            s.protective++;
        }
        if (!st->owned) {
            continue;
        }
        s.owned++;
        if (first_owned == NULL) {
            first_owned = st;
        }
        if (loss_side && (s.tg == NULL || looser_by(x->side, s.tg->trigger, st->trigger) > 0)) {
            s.tg = st;
        }
    }
    if (s.tg == NULL) {
        s.tg = first_owned;
    }
    assert(s.tg == NULL || s.tg->owned);
    assert((s.owned == 0) == (s.tg == NULL));
    return s;
}

static void check_looser(ctx *c, const tg_diag_exchange_pos *x, const tg_diag_engine_pos *e,
                         const tg_diag_exchange_stop *tg) {
    assert(c != NULL && x != NULL && e != NULL);
    assert(tg == NULL || tg->owned);
    char a[TG_DEC_STR_MAX], b[TG_DEC_STR_MAX], d[TG_DEC_STR_MAX], t[TG_DEC_STR_MAX];
    values v = {0};
    fmt_price(v.engine, sizeof v.engine, "confirmed ", e->stop_confirmed);
    fmt_price(v.exchange, sizeof v.exchange, "trailguard stop ",
              tg != NULL ? tg->trigger : (tg_dec){0});
    if (tg == NULL) {
        found(c, TG_DIAG_EXCHANGE_STOP_LOOSER, x->account, x->symbol, &v,
              "trailguard's stop was cancelled (by hand, by another bot, by the exchange) or a "
              "replace lost it, and the daemon has not placed it again",
              "%s %s %s: the engine holds a confirmed stop at %s but the exchange has no "
              "trailguard stop for the position.",
              x->account, x->symbol, tg_side_str(x->side), price(e->stop_confirmed, a));
        return;
    }
    int64_t by = looser_by(x->side, tg->trigger, e->stop_confirmed);
    if (by <= x->tick.units) {
        return;
    }
    found(c, TG_DIAG_EXCHANGE_STOP_LOOSER, x->account, x->symbol, &v,
          "a tighter stop was confirmed to the engine but the exchange kept (or got back) an older "
          "one: a replace that failed half-way, or an edit on the exchange",
          "%s %s %s: trailguard's stop on the exchange at %s is looser than the engine's "
          "confirmed %s by %s (tick %s).",
          x->account, x->symbol, tg_side_str(x->side), price(tg->trigger, a),
          price(e->stop_confirmed, b), price(tg_dec_from_units(by), d),
          tg_dec_is_zero(x->tick) ? "unknown" : price(x->tick, t));
}

/* Whether the monitor saw a value at seen_ms no later than ms; 0 is a value
 * already in its first snapshot, of unknown age, and counts as seen. */
static bool seen_by(int64_t seen_ms, int64_t ms) {
    return seen_ms == 0 || seen_ms <= ms;
}

/* Whether the store's snapshot can be held against the engine's position:
 * the engine's was taken after it, and the position's state and confirmed
 * stop were already so when the store was read. Otherwise a change that
 * came between the two snapshots would look like a disagreement. */
static bool store_comparable(const ctx *c, const tg_diag_engine_pos *e) {
    assert(c != NULL && c->snap != NULL);
    assert(e != NULL);
    const tg_diag_source *st = &c->snap->store;
    int64_t read_ms = st->taken_ms - (int64_t)st->latency_ms;
    return c->snap->engine.taken_ms >= st->taken_ms && seen_by(e->state_seen_ms, read_ms) &&
           seen_by(e->confirmed_seen_ms, read_ms);
}

static void check_xpos(ctx *c, const tg_diag_exchange_pos *x) {
    assert(c != NULL && c->exc);
    assert(x != NULL);
    const tg_diag_engine_pos *e = c->eng ? find_engine(c, x->account, x->position_key) : NULL;
    const tg_diag_store_row *r = c->sto ? find_store(c, x->account, x->position_key) : NULL;
    tg_dec mark = tg_dec_is_pos(x->mark) ? x->mark : e != NULL ? e->mark : (tg_dec){0};
    char a[TG_DEC_STR_MAX], b[TG_DEC_STR_MAX];
    values v = {0};
    if (c->eng && e == NULL) {
        copy(v.engine, sizeof v.engine, VALUE_ABSENT);
        fmt_price(v.exchange, sizeof v.exchange, "size ", x->size);
        found(c, TG_DIAG_MISSING_TS_INSTANCE, x->account, x->symbol, &v,
              "the position was opened while the daemon was down or not watching the account, "
              "or its startup reconcile has not adopted it",
              "%s %s %s: the exchange has an open position (size %s, entry %s) that the engine "
              "does not track.",
              x->account, x->symbol, tg_side_str(x->side), price(x->size, a), price(x->entry, b));
    }
    stops_seen s = scan_stops(c, x, mark);
    if (s.owned > 1) {
        memset(&v, 0, sizeof v);
        snprintf(v.exchange, sizeof v.exchange, "%zu trailguard stops", s.owned);
        found(c, TG_DIAG_DUPLICATE_STOPS, x->account, x->symbol, &v,
              "a replace placed the new stop and failed to cancel the old one, or two daemons "
              "manage the same account",
              "%s %s %s: %zu trailguard stops on the exchange, where there should be one.",
              x->account, x->symbol, tg_side_str(x->side), s.owned);
    }
    if (s.protective == 0) {
        memset(&v, 0, sizeof v);
        copy(v.exchange, sizeof v.exchange, "no protective stop");
        if (e != NULL) {
            fmt_price(v.engine, sizeof v.engine, "confirmed ", e->stop_confirmed);
        }
        found(c, TG_DIAG_UNPROTECTED_POSITION, x->account, x->symbol, &v,
              "no stop was ever placed (the engine does not track the position or has not "
              "activated), or the stop was cancelled and not replaced",
              "%s %s %s: open position of size %s at mark %s has no reduce-only stop on the "
              "loss side on the exchange.",
              x->account, x->symbol, tg_side_str(x->side), price(x->size, a), price(mark, b));
    }
    if (s.wrong != NULL) {
        memset(&v, 0, sizeof v);
        fmt_price(v.exchange, sizeof v.exchange, "stop ", s.wrong->trigger);
        found(c, TG_DIAG_STOP_WRONG_SIDE, x->account, x->symbol, &v,
              "the stop's trigger price type differs from the mark (last price vs mark price), or "
              "the price moved through a stop the exchange has not triggered yet",
              "%s %s %s: a stop at %s is on the wrong side of the mark %s (it does not limit a "
              "loss, it fires at once).",
              x->account, x->symbol, tg_side_str(x->side), price(s.wrong->trigger, a),
              price(mark, b));
    }
    /* A stop the monitor first saw confirmed after the exchange listing
     * began may postdate it: a stop that trailed on since the listing is not
     * a looser one on the exchange. */
    const tg_diag_source *xs = &c->snap->exchange;
    int64_t listed_ms = xs->taken_ms - (int64_t)xs->latency_ms;
    bool after_listing = e != NULL && !seen_by(e->confirmed_seen_ms, listed_ms);
    bool settled = e != NULL && live(e->state) && !e->in_flight;
    if (settled && tg_dec_is_pos(e->stop_confirmed) && !after_listing) {
        check_looser(c, x, e, s.tg);
    }
    if (e == NULL || !e->in_flight) {
        bool stored = r != NULL && (e == NULL || store_comparable(c, e));
        check_prices(c, x->account, x->symbol, e != NULL ? e->stop_confirmed : (tg_dec){0},
                     stored ? r->stop_confirmed : (tg_dec){0},
                     s.tg != NULL && !after_listing ? s.tg->trigger : (tg_dec){0}, x->tick);
    }
}

static void check_state(ctx *c, const tg_diag_engine_pos *e, const tg_diag_store_row *r) {
    assert(c != NULL && c->sto);
    assert(e != NULL);
    values v = {0};
    copy(v.engine, sizeof v.engine, tg_state_str(e->state));
    copy(v.store, sizeof v.store, r != NULL ? tg_state_str(r->state) : VALUE_ABSENT);
    if (r == NULL) {
        if (e->state == TG_STATE_CLOSED) {
            return;
        }
        found(c, TG_DIAG_STATE_MISMATCH, e->account, e->symbol, &v,
              "the engine's state was never committed (a store outage, a failing disk, a commit "
              "conflict) or the row was deleted",
              "%s %s: the engine holds the position in state %s but the store has no row for it.",
              e->account, e->position_key, tg_state_str(e->state));
        return;
    }
    if (r->state == e->state) {
        return;
    }
    found(c, TG_DIAG_STATE_MISMATCH, e->account, e->symbol, &v,
          "a state change not yet committed (the store lags or its commits fail), or another "
          "writer changed the row",
          "%s %s: engine state %s, stored state %s.", e->account, e->position_key,
          tg_state_str(e->state), tg_state_str(r->state));
}

static void check_timers(ctx *c, const tg_diag_engine_pos *e) {
    assert(c != NULL && c->th != NULL);
    assert(e != NULL);
    char a[TG_DEC_STR_MAX], b[TG_DEC_STR_MAX];
    values v = {0};
    int64_t waited = c->now_ms - e->intended_since_ms;
    if (e->intended_since_ms > 0 && !tg_dec_eq(e->stop_intended, e->stop_confirmed) &&
        waited > c->th->unconfirmed_ms) {
        fmt_price(v.engine, sizeof v.engine, "intended ", e->stop_intended);
        found(c, TG_DIAG_UNCONFIRMED_INTENT, e->account, e->symbol, &v,
              "the exchange has not answered the request (rate limit, outage, a request lost in "
              "flight) or keeps rejecting it",
              "%s %s: the intended stop %s (confirmed %s) has waited %.1f s for the exchange, "
              "more than %.1f s.",
              e->account, e->position_key, price(e->stop_intended, a), price(e->stop_confirmed, b),
              (double)waited / 1000, (double)c->th->unconfirmed_ms / 1000);
    }
    int64_t age = c->now_ms - e->last_mark_ms;
    if (e->last_mark_ms > 0 && age > c->th->stale_ms) {
        memset(&v, 0, sizeof v);
        snprintf(v.engine, sizeof v.engine, "last mark %.1f s ago", (double)age / 1000);
        found(c, TG_DIAG_STALE_FEED, e->account, e->symbol, &v,
              "the market-data WebSocket dropped or stalled and the daemon has not reconnected",
              "%s %s: the engine's last mark is %.1f s old, more than %.1f s.", e->account,
              e->symbol, (double)age / 1000, (double)c->th->stale_ms / 1000);
    }
}

static void check_engine(ctx *c, const tg_diag_engine_pos *e) {
    assert(c != NULL && c->eng);
    assert(e != NULL);
    const tg_diag_exchange_pos *x = c->exc ? find_xpos(c, e->account, e->position_key) : NULL;
    const tg_diag_store_row *r = c->sto ? find_store(c, e->account, e->position_key) : NULL;
    values v = {0};
    char a[TG_DEC_STR_MAX];
    if (c->exc && x == NULL && live(e->state)) {
        copy(v.engine, sizeof v.engine, tg_state_str(e->state));
        copy(v.exchange, sizeof v.exchange, VALUE_ABSENT);
        found(c, TG_DIAG_ORPHAN_TS_INSTANCE, e->account, e->symbol, &v,
              "the position was closed on the exchange (by hand, liquidation, a stop that fired) "
              "and the daemon missed the update",
              "%s %s: the engine tracks the position in state %s with stop %s but the exchange "
              "has no open position.",
              e->account, e->position_key, tg_state_str(e->state), price(e->stop_confirmed, a));
    }
    if (c->sto && store_comparable(c, e)) {
        check_state(c, e, r);
        if (x == NULL && !e->in_flight) {
            check_prices(c, e->account, e->symbol, e->stop_confirmed,
                         r != NULL ? r->stop_confirmed : (tg_dec){0}, (tg_dec){0}, (tg_dec){0});
        }
    }
    if (live(e->state)) {
        check_timers(c, e);
    }
    if (e->activations > 1) {
        memset(&v, 0, sizeof v);
        snprintf(v.engine, sizeof v.engine, "%u activations", e->activations);
        found(c, TG_DIAG_REACTIVATION, e->account, e->symbol, &v,
              "the position was restored without its activation (a state lost on restart) or "
              "closed and reopened under the same key",
              "%s %s: trailing activated %u times.", e->account, e->position_key, e->activations);
    }
}

static void check_store(ctx *c, const tg_diag_store_row *r) {
    assert(c != NULL && c->eng && c->sto);
    assert(r != NULL);
    if (r->state == TG_STATE_CLOSED || find_engine(c, r->account, r->position_key) != NULL) {
        return;
    }
    values v = {0};
    copy(v.engine, sizeof v.engine, VALUE_ABSENT);
    copy(v.store, sizeof v.store, tg_state_str(r->state));
    found(c, TG_DIAG_STATE_MISMATCH, r->account, r->symbol, &v,
          "the daemon did not restore the row (another process holds the account's lease, or the "
          "row belongs to a closed position the store never closed)",
          "%s %s: the store holds a row in state %s that the engine does not track.", r->account,
          r->position_key, tg_state_str(r->state));
}

static bool stop_has_position(const ctx *c, size_t i) {
    assert(c != NULL);
    assert(i < c->snap->exchange_stops_count);
    if (c->claimed != NULL) {
        return c->claimed[i] != 0;
    }
    const tg_diag_exchange_stop *st = &c->snap->exchange_stops[i];
    for (size_t k = 0; k < c->snap->exchange_pos_count; k++) {
        const tg_diag_exchange_pos *x = &c->snap->exchange_pos[k];
        if (stop_of(st, x->account, x->symbol, x->side)) {
            return true;
        }
    }
    return false;
}

static void check_stop(ctx *c, size_t i) {
    assert(c != NULL && c->exc);
    assert(i < c->snap->exchange_stops_count);
    const tg_diag_exchange_stop *st = &c->snap->exchange_stops[i];
    char a[TG_DEC_STR_MAX];
    values v = {0};
    copy(v.exchange, sizeof v.exchange, st->order_id);
    if (!st->reduce_only && !st->close_position) {
        found(c, TG_DIAG_STOP_INCREASES_POSITION, st->account, st->symbol, &v,
              "the stop was placed without reduceOnly/closePosition (a foreign bot, a manual "
              "order, a wrong adapter setting)",
              "%s %s: stop %s at %s is neither reduce-only nor close-position: when it fires it "
              "can open or grow a position.",
              st->account, st->symbol, st->order_id, price(st->trigger, a));
    }
    if (!st->owned) {
        found(c, TG_DIAG_FOREIGN_STOP, st->account, st->symbol, &v,
              "a stop placed by hand or by another program; trailguard leaves it alone",
              "%s %s: stop %s at %s (%s) was not placed by trailguard.", st->account, st->symbol,
              st->order_id, price(st->trigger, a), tg_side_str(st->side));
    } else if (!stop_has_position(c, i)) {
        found(c, TG_DIAG_ORPHAN_EXCHANGE_STOP, st->account, st->symbol, &v,
              "the position closed and the stop was not cancelled (the daemon was down, or its "
              "cancel failed)",
              "%s %s: trailguard stop %s at %s protects a %s position that is not open.",
              st->account, st->symbol, st->order_id, price(st->trigger, a), tg_side_str(st->side));
    }
}

static void check_source(ctx *c, const tg_diag_source *src, const char *name, double limit_ms) {
    assert(c != NULL && src != NULL && name != NULL);
    values v = {0};
    char *slot = strcmp(name, "engine") == 0  ? v.engine
                 : strcmp(name, "store") == 0 ? v.store
                                              : v.exchange;
    if (src->enabled && !src->ok) {
        copy(slot, TG_DIAG_NAME_MAX, src->error[0] != '\0' ? src->error : "no answer");
        found(c, TG_DIAG_SOURCE_UNREACHABLE, "", name, &v,
              "the service is down, the address or credentials are wrong, or the network drops "
              "the connection",
              "the %s did not answer: %s.", name,
              src->error[0] != '\0' ? src->error : "no reason given");
        return;
    }
    if (src->enabled && limit_ms > 0 && src->latency_ms > limit_ms) {
        snprintf(slot, TG_DIAG_NAME_MAX, "%.0f ms", src->latency_ms);
        found(c, TG_DIAG_LATENCY_HIGH, "", name, &v,
              "a slow network path, an overloaded server, or (for the exchange) its rate limiter "
              "queueing the probe",
              "the %s probe took %.0f ms, more than %.0f ms.", name, src->latency_ms, limit_ms);
    }
}

/* [cluster]: an account no live process serves is unprotected by
 * trailguard, whatever its stops say now: source_unreachable for "owner". */
static void check_owner(ctx *c, const tg_diag_unowned *u) {
    assert(c != NULL && c->sto);
    assert(u != NULL && u->account[0] != '\0');
    values v = {0};
    if (u->expired_ms < 0) {
        copy(v.store, sizeof v.store, "no lease");
        found(c, TG_DIAG_SOURCE_UNREACHABLE, u->account, "owner", &v,
              "no `trailguard run` with [cluster] has taken the account (every process is "
              "down, or each already holds its max_accounts)",
              "%s has no live owner: the store has no lease for it, so no trailguard process "
              "follows its positions or moves their stops.",
              u->account);
        return;
    }
    snprintf(v.store, sizeof v.store, "lease expired %.1f s ago", (double)u->expired_ms / 1000);
    found(c, TG_DIAG_SOURCE_UNREACHABLE, u->account, "owner", &v,
          "the process holding the lease died or lost the database and no other process took "
          "the account over (all down, or all at their max_accounts)",
          "%s has no live owner: its lease (last held by %s) expired %.1f s ago by the database "
          "clock, so no trailguard process follows its positions or moves their stops.",
          u->account, u->owner[0] != '\0' ? u->owner : "nobody", (double)u->expired_ms / 1000);
}

static void check_engine_stats(ctx *c) {
    assert(c != NULL && c->eng);
    assert(c->th != NULL);
    const tg_diag_engine_stats *st = &c->snap->engine_stats;
    values v = {0};
    if (st->requests > 0) {
        double pct = (double)(st->rate_limited + st->deferrals) / (double)st->requests * 100;
        if (pct > c->th->rate_limit_pct) {
            snprintf(v.engine, sizeof v.engine, "%.1f %%", pct);
            found(c, TG_DIAG_RATE_LIMIT_PRESSURE, "", "", &v,
                  "too many positions or too small a minimum improvement for the account's order "
                  "budget, or another program uses the same API key",
                  "%llu rate-limited and %llu deferred of %llu requests %s (%.1f %%), more "
                  "than %.1f %%.",
                  (unsigned long long)st->rate_limited, (unsigned long long)st->deferrals,
                  (unsigned long long)st->requests,
                  st->over_run ? "during this run" : "since the daemon started", pct,
                  c->th->rate_limit_pct);
        }
    }
    /* unprotected_max_s is a bound some window exceeded (the daemon keeps a
     * histogram), so reaching the threshold is already longer than it */
    if (st->unprotected_max_s > 0 && st->unprotected_max_s >= c->th->unprotected_window_s) {
        memset(&v, 0, sizeof v);
        snprintf(v.engine, sizeof v.engine, "over %.3f s", st->unprotected_max_s);
        found(c, TG_DIAG_UNPROTECTED_WINDOW, "", "", &v,
              "a replace done as cancel-then-place on a slow exchange round trip",
              "a replace left a position without a stop for longer than %.3f s; the limit is "
              "%.3f s.",
              st->unprotected_max_s, c->th->unprotected_window_s);
    }
}

size_t tg_diag_check(const tg_diag_snapshot *snap, const tg_diag_thresholds *th, int64_t now_ms,
                     tg_diag_issues *issues) {
    assert(snap != NULL && th != NULL && issues != NULL);
    assert(issues->count <= TG_DIAG_ISSUES_MAX);
    ctx ctx_mem;
    ctx *c = &ctx_mem;
    memset(c, 0, sizeof *c);
    c->snap = snap;
    c->th = th;
    c->now_ms = now_ms;
    c->issues = issues;
    c->eng = snap->engine.enabled && snap->engine.ok;
    c->sto = snap->store.enabled && snap->store.ok;
    c->exc = snap->exchange.enabled && snap->exchange.ok;
    if (ctx_alloc(c)) {
        ctx_index(c);
    }
    ctx_index_issues(c);
    collect_venues(c);
    issues->checks++;

    /* engine_latency_ms is the daemon's own update time, not this probe's
     * round trip: no latency rule for the engine probe. */
    check_source(c, &snap->engine, "engine", 0);
    check_source(c, &snap->store, "store", th->store_latency_ms);
    check_source(c, &snap->exchange, "exchange", th->exchange_latency_ms);
    for (size_t i = 0; c->exc && i < snap->exchange_pos_count; i++) {
        check_xpos(c, &snap->exchange_pos[i]);
    }
    for (size_t i = 0; c->exc && i < snap->exchange_stops_count; i++) {
        check_stop(c, i);
    }
    for (size_t i = 0; c->eng && i < snap->engine_count; i++) {
        check_engine(c, &snap->engine_pos[i]);
    }
    for (size_t i = 0; c->eng && c->sto && i < snap->store_count; i++) {
        check_store(c, &snap->store_rows[i]);
    }
    if (c->eng) {
        check_engine_stats(c);
    }
    for (size_t i = 0; c->sto && i < snap->unowned_count; i++) {
        check_owner(c, &snap->unowned[i]);
    }
    size_t findings = c->findings;
    free(c->mem);
    assert(issues->count <= TG_DIAG_ISSUES_MAX);
    return findings;
}
