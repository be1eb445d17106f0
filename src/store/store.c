#include "trailguard/store.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "store/uri.h"

#define BATCH_PUTS_FIRST 1024     /* rows a batch has room for before it grows */
#define BATCH_PUTS_MAX   10000000 /* rows one commit may carry (tg_writer's rows_max) */
#define URI_SHOWN_MAX    256      /* bytes of a masked URI in a message */

/* A row put in the open batch and the version the store gave it. */
typedef struct put_slot {
    tg_store_row *row; /* the caller's row: its version advances on commit */
    int64_t version;   /* the version it was stored with */
} put_slot;

const tg_col_def tg_journal_columns[TG_JOURNAL_COLS] = {
    {"account", TG_COL_TEXT, false},      {"seq", TG_COL_INT, false},
    {"position_key", TG_COL_TEXT, false}, {"ts_ms", TG_COL_INT, false},
    {"kind", TG_COL_TEXT, false},         {"type", TG_COL_TEXT, false},
    {"reason", TG_COL_TEXT, true},        {"state", TG_COL_TEXT, true},
    {"price", TG_COL_TEXT, true},         {"stop", TG_COL_TEXT, true},
    {"prev_stop", TG_COL_TEXT, true},     {"latency_us", TG_COL_INT, true},
};

struct tg_store {
    const tg_store_backend *be;         /* the backend */
    void *impl;                         /* the backend's connection */
    char account[TG_STORE_KEY_MAX];     /* rows and journal belong to this account */
    int64_t next_seq;                   /* seq the next appended entry gets */
    int64_t batch_first_seq;            /* next_seq when the batch began */
    bool in_batch;                      /* between begin and commit/rollback */
    put_slot *puts;                     /* rows put in this batch: versions advance on commit */
    uint32_t n_puts;                    /* entries in puts */
    uint32_t puts_cap;                  /* room in puts */
    tg_store_stats stats;               /* counters */
    uint64_t batch_entries;             /* entries appended in this batch */
    bool readonly;                      /* tg_store_open_readonly: reads only */
    char fence_owner[TG_STORE_KEY_MAX]; /* owner every batch must still hold the lease as */
    int64_t fence_token;                /* its token; 0: no fencing */
    bool fenced;                        /* the last begin was refused by the fence */
};

static bool starts_with(const char *s, const char *prefix) {
    assert(s != NULL && prefix != NULL);
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The backend for a URI and the target string it is given. A conninfo
 * string is PostgreSQL's, never a SQLite file name ("sqlite:" forces one). */
static tg_status pick_backend(const char *uri, const tg_store_backend **be, const char **target,
                              tg_err *err) {
    assert(uri != NULL && be != NULL && target != NULL);
    if (starts_with(uri, "postgresql://") || starts_with(uri, "postgres://") ||
        tg_uri_is_conninfo(uri)) {
#ifdef TG_HAVE_POSTGRES
        *be = &tg_store_postgres;
        *target = uri;
        return TG_OK;
#else
        return tg_err_set(err, TG_E_INVALID,
                          "this trailguard was built without PostgreSQL support (libpq)");
#endif
    }
    if (starts_with(uri, "sqlite:")) {
        uri += strlen("sqlite:");
    }
    if (uri[0] == '\0') {
        return tg_err_set(err, TG_E_INVALID, "store: empty SQLite path");
    }
    if (strstr(uri, "://") != NULL) {
        char shown[URI_SHOWN_MAX];
        tg_store_uri_mask(uri, shown, sizeof shown);
        const char *sep = strstr(shown, "://");
        return tg_err_set(err, TG_E_INVALID,
                          "store: unknown URI scheme in '%.*s'; use a file path, sqlite:PATH, "
                          "postgresql://... or a conninfo string (host=... dbname=...)",
                          sep != NULL ? (int)(sep - shown) : (int)strlen(shown), shown);
    }
    *be = &tg_store_sqlite;
    *target = uri;
    assert(**target != '\0');
    return TG_OK;
}

tg_status tg_store_create_at(const char *uri, int64_t version, tg_err *err) {
    assert(uri != NULL);
    const tg_store_backend *be = NULL;
    const char *target = NULL;
    tg_status st = pick_backend(uri, &be, &target, err);
    assert(st != TG_OK || (be != NULL && target != NULL));
    return st == TG_OK ? be->create_at(target, version, err) : st;
}

static tg_status open_store(const char *uri, const char *account, bool readonly, tg_store **out,
                            tg_err *err) {
    assert(uri != NULL && account != NULL && out != NULL);
    if (account[0] == '\0' || strlen(account) >= TG_STORE_KEY_MAX) {
        return tg_err_set(err, TG_E_INVALID, "store: account name must be 1..%d bytes",
                          TG_STORE_KEY_MAX - 1);
    }
    const tg_store_backend *be = NULL;
    const char *target = NULL;
    tg_status st = pick_backend(uri, &be, &target, err);
    if (st != TG_OK) {
        return st;
    }
    assert(be != NULL && target != NULL);
    tg_store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->puts = calloc(BATCH_PUTS_FIRST, sizeof *s->puts)) == NULL) {
        free(s);
        return tg_err_set(err, TG_E_NOMEM, "store: out of memory");
    }
    s->puts_cap = BATCH_PUTS_FIRST;
    s->be = be;
    memcpy(s->account, account, strlen(account) + 1);
    s->readonly = readonly;
    st = readonly ? be->open_readonly(target, &s->impl, err) : be->open(target, &s->impl, err);
    int64_t last = 0;
    if (st == TG_OK && !readonly) {
        st = be->last_seq(s->impl, s->account, &last, err);
        if (st != TG_OK) {
            be->close(s->impl);
        }
    }
    if (st != TG_OK) {
        free(s->puts);
        free(s);
        return st;
    }
    s->next_seq = last + 1;
    assert(!s->in_batch && s->n_puts == 0 && s->puts_cap == BATCH_PUTS_FIRST);
    *out = s;
    return TG_OK;
}

tg_status tg_store_open(const char *uri, const char *account, tg_store **out, tg_err *err) {
    return open_store(uri, account, false, out, err);
}

tg_status tg_store_open_readonly(const char *uri, const char *account, tg_store **out,
                                 tg_err *err) {
    return open_store(uri, account, true, out, err);
}

void tg_store_close(tg_store *store) {
    if (store == NULL) {
        return;
    }
    if (store->in_batch) {
        tg_store_rollback(store);
    }
    assert(!store->in_batch);
    store->be->close(store->impl);
    free(store->puts);
    free(store);
}

const char *tg_store_backend_name(const tg_store *store) {
    assert(store != NULL && store->be != NULL);
    return store->be->name;
}

tg_status tg_store_cache_limit(tg_store *store, int64_t kib, tg_err *err) {
    assert(store != NULL && store->be != NULL);
    if (kib <= 0) {
        return tg_err_set(err, TG_E_INVALID, "store: a page cache of %lld KiB", (long long)kib);
    }
    if (store->be->cache_limit == NULL || store->readonly) {
        return TG_OK;
    }
    return store->be->cache_limit(store->impl, kib, err);
}

tg_status tg_store_begin(tg_store *store, tg_err *err) {
    assert(store != NULL);
    if (store->in_batch) {
        return tg_err_set(err, TG_E_STATE, "store: a batch is already open");
    }
    if (store->readonly) {
        return tg_err_set(err, TG_E_STATE, "store: opened read-only; nothing can be written");
    }
    tg_status st = store->be->begin(store->impl, err);
    int64_t last = 0;
    store->fenced = false;
    if (st == TG_OK && store->fence_token > 0) {
        /* In the transaction, first: the lease row stays locked to its
         * commit, so a takeover comes strictly after this batch or refuses it. */
        st = store->be->fence(store->impl, store->account, store->fence_owner, store->fence_token,
                              err);
        store->fenced = st == TG_E_CONFLICT;
        store->stats.fenced += store->fenced ? 1 : 0;
        if (st != TG_OK) {
            store->be->rollback(store->impl);
            return st;
        }
    }
    if (st == TG_OK) {
        /* Read inside the transaction: another process of the same account
         * may have appended since we last looked. */
        st = store->be->last_seq(store->impl, store->account, &last, err);
        if (st != TG_OK) {
            store->be->rollback(store->impl);
        }
    }
    if (st == TG_OK) {
        store->next_seq = last + 1;
        store->in_batch = true;
        store->n_puts = 0;
        store->batch_entries = 0;
        store->batch_first_seq = store->next_seq;
    }
    assert(st != TG_OK || (store->in_batch && store->n_puts == 0));
    return st;
}

/* Room for one more put in the batch: the array doubles up to the cap. */
static tg_status reserve_put(tg_store *store, tg_err *err) {
    assert(store != NULL && store->in_batch);
    assert(store->n_puts <= store->puts_cap && store->puts_cap <= BATCH_PUTS_MAX);
    if (store->n_puts < store->puts_cap) {
        return TG_OK;
    }
    if (store->puts_cap >= BATCH_PUTS_MAX) {
        return tg_err_set(err, TG_E_CAPACITY, "store: more than %d rows in one batch",
                          BATCH_PUTS_MAX);
    }
    uint32_t cap = store->puts_cap * 2 > BATCH_PUTS_MAX ? BATCH_PUTS_MAX : store->puts_cap * 2;
    put_slot *grown = realloc(store->puts, cap * sizeof *grown);
    if (grown == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "store: out of memory for %u rows in one batch", cap);
    }
    store->puts = grown;
    store->puts_cap = cap;
    assert(store->n_puts < store->puts_cap);
    return TG_OK;
}

tg_status tg_store_put(tg_store *store, tg_store_row *row, tg_err *err) {
    assert(store != NULL && row != NULL);
    if (!store->in_batch) {
        return tg_err_set(err, TG_E_STATE, "store: put outside a batch");
    }
    assert(!store->readonly); /* tg_store_begin() refuses a read-only store */
    tg_status st = reserve_put(store, err);
    if (st != TG_OK) {
        return st;
    }
    if (strcmp(row->account, store->account) != 0) {
        return tg_err_set(err, TG_E_INVALID, "store: row of account '%s' in a store of '%s'",
                          row->account, store->account);
    }
    st = tg_stop_check(&row->stop, err); /* never write a broken state */
    if (st != TG_OK) {
        return st;
    }
    tg_col_value vals[64];
    assert(tg_codec_column_count() <= 64);
    int64_t expected = row->version;
    row->version = expected + 1;
    tg_codec_encode(row, vals);
    row->version = expected;
    int64_t stored = 0;
    st = store->be->put(store->impl, vals, expected, &stored, err);
    if (st == TG_E_CONFLICT) {
        store->stats.conflicts++;
    }
    if (st == TG_OK) {
        assert(stored > expected || expected == 0);
        assert(store->n_puts < store->puts_cap); /* reserve_put() made room */
        store->puts[store->n_puts++] = (put_slot){.row = row, .version = stored};
    }
    return st;
}

static void set_text(tg_col_value *v, const char *text) {
    assert(v != NULL && text != NULL);
    v->null = false;
    int n = snprintf(v->text, sizeof v->text, "%s", text);
    assert(n >= 0 && (size_t)n < sizeof v->text); /* keys and enum names, never cut */
}

static void set_price(tg_col_value *v, bool set, tg_dec price) {
    assert(v != NULL);
    v->null = !set;
    if (set) {
        tg_dec_format(price, 0, v->text);
    }
}

static void encode_entry(const tg_store *store, const tg_journal_entry *e, tg_col_value *v) {
    assert(store != NULL && e != NULL && v != NULL);
    assert(memchr(e->position_key, '\0', sizeof e->position_key) != NULL);
    memset(v, 0, sizeof(tg_col_value) * TG_JOURNAL_COLS);
    set_text(&v[0], store->account);
    v[1].i = e->seq;
    set_text(&v[2], e->position_key);
    v[3].i = e->ts_ms;
    if (e->kind == TG_JOURNAL_EVENT) {
        const tg_event *ev = &e->event;
        set_text(&v[4], "event");
        set_text(&v[5], tg_event_type_str((tg_event_type)ev->type));
        set_text(&v[6], tg_reason_str((tg_reason)ev->reason));
        set_text(&v[7], tg_state_str((tg_state)ev->state));
        set_price(&v[8], ev->has & TG_EVH_PRICE, ev->price);
        set_price(&v[9], ev->has & TG_EVH_STOP, ev->stop);
        set_price(&v[10], ev->has & TG_EVH_PREV, ev->prev_stop);
    } else {
        const tg_cmd *c = &e->command;
        set_text(&v[4], "command");
        set_text(&v[5], tg_cmd_type_str((tg_cmd_type)c->type));
        set_text(&v[6], tg_reason_str((tg_reason)c->reason));
        v[7].null = true;
        set_price(&v[8], c->type == TG_CMD_CLOSE_POSITION, c->price);
        set_price(&v[9], c->type == TG_CMD_SET_STOP || c->type == TG_CMD_CANCEL_STOP, c->price);
        v[10].null = true;
    }
    v[11].null = e->latency_us < 0;
    v[11].i = e->latency_us;
}

tg_status tg_store_append(tg_store *store, tg_journal_entry *entry, tg_err *err) {
    assert(store != NULL && entry != NULL);
    if (!store->in_batch) {
        return tg_err_set(err, TG_E_STATE, "store: append outside a batch");
    }
    assert(store->next_seq >= store->batch_first_seq);
    entry->seq = store->next_seq;
    tg_col_value vals[TG_JOURNAL_COLS];
    encode_entry(store, entry, vals);
    tg_status st = store->be->append(store->impl, vals, err);
    if (st == TG_OK) {
        store->next_seq++;
        store->batch_entries++;
        assert(entry->seq + 1 == store->next_seq);
    }
    return st;
}

tg_status tg_store_commit(tg_store *store, tg_err *err) {
    assert(store != NULL);
    if (!store->in_batch) {
        return tg_err_set(err, TG_E_STATE, "store: commit outside a batch");
    }
    tg_status st = store->be->commit(store->impl, err);
    if (st != TG_OK) {
        tg_store_rollback(store);
        return st;
    }
    assert(store->n_puts <= store->puts_cap);
    for (uint32_t i = 0; i < store->n_puts; i++) {
        store->puts[i].row->version = store->puts[i].version;
    }
    store->stats.commits++;
    store->stats.rows_written += store->n_puts;
    store->stats.entries_written += store->batch_entries;
    store->in_batch = false;
    store->n_puts = 0;
    return TG_OK;
}

void tg_store_rollback(tg_store *store) {
    assert(store != NULL);
    if (!store->in_batch) {
        return;
    }
    store->be->rollback(store->impl);
    store->next_seq = store->batch_first_seq; /* no gap: the numbers are handed out again */
    store->in_batch = false;
    store->n_puts = 0;
    assert(!store->in_batch && store->n_puts == 0);
}

typedef struct load_ctx {
    tg_store_row_fn fn; /* the caller's callback */
    void *ctx;          /* its context */
    tg_err *err;        /* where a decode error goes */
    tg_status status;   /* first decode failure */
    tg_store_row *one;  /* tg_store_get: the row to fill, else NULL */
    bool found;         /* tg_store_get: a row came back */
} load_ctx;

static bool load_one(void *ctx, const tg_col_value *vals) {
    load_ctx *lc = ctx;
    assert(lc != NULL && vals != NULL);
    assert(lc->one != NULL || lc->fn != NULL);
    tg_store_row row;
    lc->status = tg_codec_decode(vals, &row, lc->err);
    if (lc->status != TG_OK) {
        return false;
    }
    /* The pair of tg_store_put()'s check: a row read back is a valid state
     * (tg_codec_decode() refused it with a sentence otherwise). */
    assert(tg_stop_check(&row.stop, NULL) == TG_OK);
    if (lc->one != NULL) {
        *lc->one = row;
        lc->found = true;
        return false;
    }
    return lc->fn(lc->ctx, &row);
}

tg_status tg_store_load(tg_store *store, bool include_closed, tg_store_row_fn fn, void *ctx,
                        tg_err *err) {
    assert(store != NULL && fn != NULL);
    load_ctx lc = {.fn = fn, .ctx = ctx, .err = err, .status = TG_OK};
    tg_status st =
        store->be->load(store->impl, store->account, NULL, include_closed, load_one, &lc, err);
    return st != TG_OK ? st : lc.status;
}

tg_status tg_store_get(tg_store *store, const char *position_key, tg_store_row *row, tg_err *err) {
    assert(store != NULL && position_key != NULL && row != NULL);
    load_ctx lc = {.err = err, .status = TG_OK, .one = row};
    tg_status st =
        store->be->load(store->impl, store->account, position_key, true, load_one, &lc, err);
    if (st == TG_OK) {
        st = lc.status;
    }
    if (st == TG_OK && !lc.found) {
        return tg_err_set(err, TG_E_INVALID, "no position '%s' in the store for account '%s'",
                          position_key, store->account);
    }
    assert(st != TG_OK || tg_stop_check(&row->stop, NULL) == TG_OK);
    return st;
}

#define ENUM_NAMES_MAX 256 /* bound on the values of one engine enum (they are uint8_t) */

/* Value of name in an engine enum, or −1. The enum's size comes from its
 * own name table: the first value it calls "unknown" is past the end. */
static int name_index(const char *name, const char *(*fn)(int)) {
    assert(name != NULL && fn != NULL);
    for (int i = 0; i < ENUM_NAMES_MAX && strcmp(fn(i), "unknown") != 0; i++) {
        if (strcmp(fn(i), name) == 0) {
            assert(i <= UINT8_MAX); /* fits the uint8_t it is stored in */
            return i;
        }
    }
    return -1;
}

static const char *ev_name(int i) {
    assert(i >= 0 && i < ENUM_NAMES_MAX);
    return tg_event_type_str((tg_event_type)i);
}
static const char *reason_name(int i) {
    assert(i >= 0 && i < ENUM_NAMES_MAX);
    return tg_reason_str((tg_reason)i);
}
static const char *state_name(int i) {
    assert(i >= 0 && i < ENUM_NAMES_MAX);
    return tg_state_str((tg_state)i);
}
static const char *cmd_name(int i) {
    assert(i >= 0 && i < ENUM_NAMES_MAX);
    return tg_cmd_type_str((tg_cmd_type)i);
}

/* A journal column that cannot be read back, named with its entry. */
static tg_status bad_entry(const tg_col_value *v, int col, const char *why, tg_err *err) {
    assert(v != NULL && why != NULL);
    assert(col >= 0 && col < TG_JOURNAL_COLS);
    char shown[48];
    tg_store_escape(v[col].bad || v[col].null ? "" : v[col].text, shown, sizeof shown);
    return tg_err_set(
        err, TG_E_STATE, "journal entry %" PRId64 " of position '%.*s': column %s %s%s%s%s", v[1].i,
        TG_STORE_KEY_MAX, v[2].bad ? "?" : v[2].text, tg_journal_columns[col].name,
        v[col].bad ? "holds a value of the wrong type or length" : why,
        v[col].bad || v[col].null ? "" : " ('", shown, v[col].bad || v[col].null ? "" : "')");
}

/* A price column: NULL when !want, an exact decimal when want. */
static tg_status get_price(const tg_col_value *v, int col, bool want, tg_dec *out, tg_err *err) {
    assert(v != NULL && out != NULL);
    assert(col >= 0 && col < TG_JOURNAL_COLS && tg_journal_columns[col].nullable);
    if (v[col].bad) {
        return bad_entry(v, col, "", err);
    }
    if (v[col].null) {
        return want ? bad_entry(v, col, "is NULL", err) : TG_OK;
    }
    if (!want) {
        return bad_entry(v, col, "must be NULL for this entry", err);
    }
    return tg_dec_parse_cstr(v[col].text, out) == TG_DEC_OK
               ? TG_OK
               : bad_entry(v, col, "is not an exact decimal", err);
}

/* An enum column by name; NULL only where nullable. */
static tg_status get_enum(const tg_col_value *v, int col, bool nullable, const char *(*fn)(int),
                          int *out, tg_err *err) {
    assert(v != NULL && fn != NULL && out != NULL);
    assert(col >= 0 && col < TG_JOURNAL_COLS);
    *out = 0;
    if (v[col].bad || (v[col].null && !nullable)) {
        return bad_entry(v, col, "is NULL", err);
    }
    if (v[col].null) {
        return TG_OK;
    }
    *out = name_index(v[col].text, fn);
    return *out >= 0 ? TG_OK : bad_entry(v, col, "holds an unknown value", err);
}

static tg_status decode_event(const tg_col_value *v, tg_journal_entry *e, tg_err *err) {
    assert(v != NULL && e != NULL && e->kind == TG_JOURNAL_EVENT);
    tg_event *ev = &e->event;
    int type = 0, reason = 0, state = 0;
    tg_status st = get_enum(v, 5, false, ev_name, &type, err);
    st = st != TG_OK ? st : get_enum(v, 6, true, reason_name, &reason, err);
    st = st != TG_OK ? st : get_enum(v, 7, false, state_name, &state, err);
    ev->ts_ms = e->ts_ms;
    ev->type = (uint8_t)type;
    ev->reason = (uint8_t)reason;
    ev->state = (uint8_t)state;
    const uint8_t bits[3] = {TG_EVH_PRICE, TG_EVH_STOP, TG_EVH_PREV};
    tg_dec *prices[3] = {&ev->price, &ev->stop, &ev->prev_stop};
    for (int i = 0; st == TG_OK && i < 3; i++) {
        bool set = !v[8 + i].null;
        st = get_price(v, 8 + i, set, prices[i], err);
        ev->has |= set ? bits[i] : 0;
    }
    assert(st != TG_OK || (ev->type <= TG_EV_CLOSED && ev->state <= TG_STATE_CLOSED));
    return st;
}

/* Where encode_entry put a command's price: `price` for a market close,
 * `stop` for a stop; a persist has none. */
static tg_status decode_command(const tg_col_value *v, tg_journal_entry *e, tg_err *err) {
    assert(v != NULL && e != NULL && e->kind == TG_JOURNAL_COMMAND);
    int type = 0, reason = 0;
    tg_status st = get_enum(v, 5, false, cmd_name, &type, err);
    st = st != TG_OK ? st : get_enum(v, 6, true, reason_name, &reason, err);
    e->command.type = (uint8_t)type;
    e->command.reason = (uint8_t)reason;
    if (st == TG_OK && !v[7].null) {
        st = bad_entry(v, 7, "must be NULL for a command", err);
    }
    bool close = type == TG_CMD_CLOSE_POSITION;
    bool stop = type == TG_CMD_SET_STOP || type == TG_CMD_CANCEL_STOP;
    st = st != TG_OK ? st : get_price(v, 8, close, &e->command.price, err);
    st = st != TG_OK ? st : get_price(v, 9, stop, &e->command.price, err);
    if (st == TG_OK && !v[10].null) {
        st = bad_entry(v, 10, "must be NULL for a command", err);
    }
    assert(st != TG_OK || e->command.type <= TG_CMD_PERSIST);
    return st;
}

static tg_status decode_entry(const tg_col_value *v, tg_journal_entry *e, tg_err *err) {
    assert(v != NULL && e != NULL);
    memset(e, 0, sizeof *e);
    e->seq = v[1].i;
    for (int col = 0; col < TG_JOURNAL_COLS; col++) {
        if (v[col].bad || (v[col].null && !tg_journal_columns[col].nullable)) {
            return bad_entry(v, col, "is NULL", err);
        }
    }
    size_t key_len = strlen(v[2].text);
    if (key_len >= sizeof e->position_key) {
        return bad_entry(v, 2, "is too long", err);
    }
    memcpy(e->position_key, v[2].text, key_len + 1);
    assert(strlen(e->position_key) < sizeof e->position_key);
    e->ts_ms = v[3].i;
    if (!v[11].null && v[11].i < 0) {
        return bad_entry(v, 11, "is negative", err);
    }
    e->latency_us = v[11].null ? -1 : v[11].i;
    bool is_event = strcmp(v[4].text, "event") == 0;
    if (!is_event && strcmp(v[4].text, "command") != 0) {
        return bad_entry(v, 4, "is neither 'event' nor 'command'", err);
    }
    e->kind = is_event ? TG_JOURNAL_EVENT : TG_JOURNAL_COMMAND;
    return is_event ? decode_event(v, e, err) : decode_command(v, e, err);
}

typedef struct journal_ctx {
    tg_store_entry_fn fn; /* the caller's callback */
    void *ctx;            /* its context */
    tg_err *err;          /* where a decode error goes */
    tg_status status;     /* first decode failure */
} journal_ctx;

static bool journal_one(void *ctx, const tg_col_value *vals) {
    journal_ctx *jc = ctx;
    assert(jc != NULL && jc->fn != NULL && vals != NULL);
    tg_journal_entry e;
    jc->status = decode_entry(vals, &e, jc->err);
    return jc->status == TG_OK && jc->fn(jc->ctx, &e);
}

tg_status tg_store_journal(tg_store *store, int64_t after_seq, tg_store_entry_fn fn, void *ctx,
                           tg_err *err) {
    assert(store != NULL && fn != NULL);
    journal_ctx jc = {.fn = fn, .ctx = ctx, .err = err, .status = TG_OK};
    tg_status st =
        store->be->journal(store->impl, store->account, after_seq, journal_one, &jc, err);
    return st != TG_OK ? st : jc.status;
}

tg_status tg_store_prune(tg_store *store, int64_t cutoff_ms, uint64_t *deleted, tg_err *err) {
    assert(store != NULL && deleted != NULL);
    if (store->readonly) {
        *deleted = 0;
        return tg_err_set(err, TG_E_STATE, "store: opened read-only; nothing can be pruned");
    }
    return store->be->prune(store->impl, store->account, cutoff_ms, deleted, err);
}

size_t tg_store_escape(const char *text, char *out, size_t cap) {
    assert(text != NULL && out != NULL && cap > 0);
    static const char hex[] = "0123456789abcdef";
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        char esc[7];
        size_t n = 1;
        esc[0] = (char)*p;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
            unsigned c = *p == 0xc2 ? *++p : *p; /* C1 controls (U+0080..U+009F) too */
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            n = 6;
        }
        if (len + n >= cap) {
            break; /* cut before an escape, never inside one */
        }
        memcpy(out + len, esc, n);
        len += n;
    }
    out[len] = '\0';
    assert(len < cap);
    return len;
}

tg_store_stats tg_store_get_stats(const tg_store *store) {
    assert(store != NULL);
    return store->stats;
}

static tg_status no_leases(const tg_store *store, tg_err *err) {
    return tg_err_set(err, TG_E_STATE,
                      "store: leases need a PostgreSQL store; the %s store serves one process",
                      store->be->name);
}

static tg_status check_owner(const char *owner, tg_err *err) {
    if (owner == NULL || owner[0] == '\0' || strlen(owner) >= TG_STORE_KEY_MAX) {
        return tg_err_set(err, TG_E_INVALID, "store: a lease owner must be 1..%d bytes",
                          TG_STORE_KEY_MAX - 1);
    }
    return TG_OK;
}

tg_status tg_store_lease_take(tg_store *store, const char *owner, int64_t ttl_ms, int64_t *token,
                              bool *taken, tg_err *err) {
    assert(store != NULL && token != NULL && taken != NULL);
    *token = 0;
    *taken = false;
    if (store->be->lease_take == NULL) {
        return no_leases(store, err);
    }
    if (store->readonly || store->in_batch) {
        return tg_err_set(err, TG_E_STATE, "store: a lease is taken outside a batch, read-write");
    }
    tg_status st = check_owner(owner, err);
    if (st == TG_OK && ttl_ms <= 0) {
        st = tg_err_set(err, TG_E_INVALID, "store: a lease needs a positive ttl");
    }
    st = st != TG_OK
             ? st
             : store->be->lease_take(store->impl, store->account, owner, ttl_ms, token, taken, err);
    if (st == TG_OK && *taken) {
        assert(*token > 0);
        st = tg_store_set_fence(store, owner, *token, err);
    }
    return st;
}

tg_status tg_store_lease_release(tg_store *store, const char *owner, tg_err *err) {
    assert(store != NULL);
    if (store->be->lease_release == NULL) {
        return no_leases(store, err);
    }
    tg_status st = check_owner(owner, err);
    if (st == TG_OK && store->in_batch) {
        st = tg_err_set(err, TG_E_STATE, "store: a lease is released outside a batch");
    }
    return st != TG_OK ? st
                       : store->be->lease_release(store->impl, store->account, owner,
                                                  store->fence_token, err);
}

tg_status tg_store_leases_list(tg_store *store, tg_store_lease_fn fn, void *ctx, tg_err *err) {
    assert(store != NULL && fn != NULL);
    if (store->be->leases_list == NULL) {
        return no_leases(store, err);
    }
    return store->be->leases_list(store->impl, fn, ctx, err);
}

tg_status tg_store_set_fence(tg_store *store, const char *owner, int64_t token, tg_err *err) {
    assert(store != NULL && token >= 0);
    if (store->be->fence == NULL) {
        return no_leases(store, err);
    }
    if (token > 0) {
        tg_status st = check_owner(owner, err);
        if (st != TG_OK) {
            return st;
        }
        memcpy(store->fence_owner, owner, strlen(owner) + 1);
    }
    store->fence_token = token;
    return TG_OK;
}

bool tg_store_fenced(const tg_store *store) {
    return store->fenced;
}
