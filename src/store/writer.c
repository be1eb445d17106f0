#include "trailguard/writer.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRUNE_EVERY_MS 3600000 /* retention runs at most this often */
#define SLOT_EMPTY     UINT32_MAX

typedef struct slot {
    tg_store_row row; /* latest state; row.version is what the store holds */
    bool used;        /* holds a position */
    bool pending;     /* row changed since the last commit */
} slot;

struct tg_writer {
    tg_store *store;        /* where commits go */
    slot *slots;            /* rows_max */
    uint32_t *hash;         /* position key → slot, hash_mask + 1 entries */
    uint32_t hash_mask;     /* table size − 1 */
    uint32_t *dirty;        /* slots with pending rows, in staging order */
    uint32_t n_dirty;       /* entries in dirty */
    uint32_t *free_slots;   /* unused slots */
    uint32_t n_free;        /* entries in free_slots */
    uint32_t rows_max;      /* slots */
    tg_journal_entry *ring; /* pending journal entries */
    uint32_t ring_head;     /* index of the oldest */
    uint32_t ring_count;    /* entries pending */
    uint32_t entries_max;   /* ring size */
    int64_t retention_ms;   /* 0 = keep forever */
    int64_t last_prune_ms;  /* ts of the last retention run */
    tg_writer_stats stats;  /* counters */
    char set_aside[TG_STORE_KEY_MAX + TG_ERR_MSG_MAX + 8]; /* last row set aside; "" if none */
};

static uint32_t hash_key(const char *key) {
    assert(key != NULL);
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h;
}

tg_status tg_writer_new(tg_store *store, uint32_t rows_max, uint32_t entries_max,
                        int64_t retention_ms, tg_writer **out, tg_err *err) {
    assert(store != NULL && out != NULL);
    if (rows_max == 0 || rows_max > 10000000u || entries_max == 0 || entries_max > 100000000u) {
        return tg_err_set(err, TG_E_INVALID, "writer: %u rows / %u entries out of range", rows_max,
                          entries_max);
    }
    uint32_t size = 1;
    while (size < 2 * rows_max) {
        size <<= 1;
    }
    tg_writer *w = calloc(1, sizeof *w);
    if (w != NULL) {
        w->slots = calloc(rows_max, sizeof *w->slots);
        w->hash = malloc(size * sizeof *w->hash);
        w->dirty = malloc(rows_max * sizeof *w->dirty);
        w->free_slots = malloc(rows_max * sizeof *w->free_slots);
        w->ring = calloc(entries_max, sizeof *w->ring);
    }
    if (w == NULL || !w->slots || !w->hash || !w->dirty || !w->free_slots || !w->ring) {
        tg_writer_free(w);
        return tg_err_set(err, TG_E_NOMEM, "writer: out of memory for %u rows", rows_max);
    }
    memset(w->hash, 0xff, size * sizeof *w->hash);
    w->hash_mask = size - 1;
    w->store = store;
    w->rows_max = rows_max;
    w->entries_max = entries_max;
    w->retention_ms = retention_ms;
    for (uint32_t i = 0; i < rows_max; i++) {
        w->free_slots[i] = rows_max - 1 - i;
    }
    w->n_free = rows_max;
    assert(w->hash_mask + 1 >= 2 * rows_max && (w->hash_mask & (w->hash_mask + 1)) == 0);
    *out = w;
    return TG_OK;
}

void tg_writer_free(tg_writer *w) {
    if (w == NULL) {
        return;
    }
    free(w->slots);
    free(w->hash);
    free(w->dirty);
    free(w->free_slots);
    free(w->ring);
    free(w);
}

/* The hash index of key, or of the empty place where it would go. Linear
 * probing with backward-shift deletion (hash_remove()): there are no
 * tombstones, so a probe ends at the first empty entry however many
 * positions came and went, and the table (at least twice rows_max) always
 * has one. */
static uint32_t find(const tg_writer *w, const char *key, bool *found) {
    assert(w != NULL && key != NULL && found != NULL);
    uint32_t i = hash_key(key) & w->hash_mask;
    for (uint32_t probes = 0; probes <= w->hash_mask; probes++) {
        uint32_t s = w->hash[i];
        if (s == SLOT_EMPTY) {
            *found = false;
            return i;
        }
        assert(s < w->rows_max && w->slots[s].used);
        if (strcmp(w->slots[s].row.position_key, key) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & w->hash_mask;
    }
    assert(false && "writer hash table full: it is sized at twice rows_max");
    *found = false;
    return SLOT_EMPTY;
}

/* Empties hash entry at and moves later entries of the same probe run back
 * into the hole when their home is not between the hole and them. */
static void hash_remove(tg_writer *w, uint32_t at) {
    assert(w != NULL && at <= w->hash_mask);
    assert(w->hash[at] != SLOT_EMPTY);
    uint32_t hole = at;
    uint32_t j = at;
    for (uint32_t probes = 0; probes <= w->hash_mask; probes++) {
        j = (j + 1) & w->hash_mask;
        uint32_t s = w->hash[j];
        if (s == SLOT_EMPTY) {
            break;
        }
        uint32_t home = hash_key(w->slots[s].row.position_key) & w->hash_mask;
        /* s may fill the hole unless home lies cyclically in (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            w->hash[hole] = s;
            hole = j;
        }
    }
    w->hash[hole] = SLOT_EMPTY;
}

tg_status tg_writer_stage_row(tg_writer *w, const tg_store_row *row, tg_err *err) {
    assert(w != NULL && row != NULL);
    bool found = false;
    uint32_t h = find(w, row->position_key, &found);
    slot *s;
    if (found) {
        s = &w->slots[w->hash[h]];
        int64_t version = s->row.version;
        s->row = *row;
        s->row.version = version; /* the writer's bookkeeping wins */
        if (s->pending) {
            w->stats.rows_collapsed++;
        }
    } else {
        if (w->n_free == 0 || h == SLOT_EMPTY) {
            return tg_err_set(err, TG_E_CAPACITY, "writer: more than %u positions", w->rows_max);
        }
        uint32_t idx = w->free_slots[--w->n_free];
        w->hash[h] = idx;
        s = &w->slots[idx];
        s->row = *row;
        s->used = true;
        s->pending = false;
    }
    if (!s->pending) {
        assert(w->n_dirty < w->rows_max); /* a slot is in dirty at most once */
        s->pending = true;
        w->dirty[w->n_dirty++] = (uint32_t)(s - w->slots);
        w->stats.pending_rows = w->n_dirty;
    }
    assert(s->used && s->pending);
    return TG_OK;
}

static void push_entry(tg_writer *w, const tg_journal_entry *e) {
    assert(w != NULL && e != NULL);
    assert(w->ring_count <= w->entries_max && w->ring_head < w->entries_max);
    if (w->ring_count == w->entries_max) {
        w->ring_head = (w->ring_head + 1) % w->entries_max;
        w->ring_count--;
        w->stats.entries_dropped++;
    }
    w->ring[(w->ring_head + w->ring_count) % w->entries_max] = *e;
    w->ring_count++;
    w->stats.pending_entries = w->ring_count;
    assert(w->ring_count <= w->entries_max);
}

void tg_writer_stage_out(tg_writer *w, const char *position_key, const tg_out *out,
                         int64_t latency_us) {
    assert(w != NULL && position_key != NULL && out != NULL);
    assert(out->n_events <= TG_OUT_EVENTS_MAX && out->n_cmds <= TG_OUT_CMDS_MAX);
    tg_journal_entry e;
    memset(&e, 0, sizeof e);
    size_t len = strlen(position_key);
    assert(len < sizeof e.position_key);
    memcpy(e.position_key, position_key, len + 1);
    e.latency_us = latency_us;
    e.kind = TG_JOURNAL_EVENT;
    for (int i = 0; i < out->n_events; i++) {
        e.event = out->events[i];
        e.ts_ms = out->events[i].ts_ms;
        push_entry(w, &e);
    }
    e.kind = TG_JOURNAL_COMMAND;
    memset(&e.event, 0, sizeof e.event);
    for (int i = 0; i < out->n_cmds; i++) {
        if (out->cmds[i].type == TG_CMD_PERSIST) {
            continue; /* carried out by this very write */
        }
        e.command = out->cmds[i];
        push_entry(w, &e);
    }
}

/* Closed positions leave the writer once their last state is durable. */
static void release_closed(tg_writer *w, uint32_t idx) {
    assert(w != NULL && idx < w->rows_max);
    slot *s = &w->slots[idx];
    assert(s->used);
    if (s->row.stop.state != TG_STATE_CLOSED) {
        return;
    }
    bool found = false;
    uint32_t h = find(w, s->row.position_key, &found);
    assert(found);
    hash_remove(w, h);
    s->used = false;
    assert(w->n_free < w->rows_max);
    w->free_slots[w->n_free++] = idx;
}

/* One transaction with every pending row and entry. A row the store
 * refused (a stale version, or a row it will never write) is named in
 * *refused (its index in dirty). */
static tg_status write_batch(tg_writer *w, uint32_t *refused, tg_err *err) {
    assert(w != NULL && refused != NULL);
    assert(w->n_dirty <= w->rows_max && w->ring_count <= w->entries_max);
    *refused = UINT32_MAX;
    tg_status st = tg_store_begin(w->store, err);
    for (uint32_t i = 0; st == TG_OK && i < w->n_dirty; i++) {
        st = tg_store_put(w->store, &w->slots[w->dirty[i]].row, err);
        bool refused_row = st == TG_E_CONFLICT || st == TG_E_INVALID || st == TG_E_STATE;
        *refused = refused_row ? i : UINT32_MAX;
    }
    for (uint32_t i = 0; st == TG_OK && i < w->ring_count; i++) {
        st = tg_store_append(w->store, &w->ring[(w->ring_head + i) % w->entries_max], err);
    }
    if (st == TG_OK) {
        return tg_store_commit(w->store, err); /* rolls back itself on failure */
    }
    assert(*refused == UINT32_MAX || *refused < w->n_dirty);
    tg_store_rollback(w->store);
    return st;
}

/* Another writer changed the row: writing ours over it would lose theirs,
 * so the row leaves the writer (counted) and the batch goes on without it. */
static void drop_conflicted(tg_writer *w, uint32_t at) {
    assert(at < w->n_dirty);
    uint32_t idx = w->dirty[at];
    slot *s = &w->slots[idx];
    s->pending = false;
    s->row.stop.state = TG_STATE_CLOSED; /* release_closed() frees the slot */
    release_closed(w, idx);
    assert(!s->used);
    memmove(&w->dirty[at], &w->dirty[at + 1], (w->n_dirty - at - 1) * sizeof *w->dirty);
    w->n_dirty--;
    w->stats.rows_conflicted++;
}

/* The store refuses the row as invalid and always will: retrying it would
 * fail every flush from now on, so it is set aside (counted, its key and the
 * sentence kept) and the batch goes on without it. The position stays in
 * the writer: its next state is staged and written as usual. */
static void set_aside(tg_writer *w, uint32_t at, const tg_err *why) {
    assert(at < w->n_dirty);
    assert(why != NULL);
    slot *s = &w->slots[w->dirty[at]];
    s->pending = false;
    snprintf(w->set_aside, sizeof w->set_aside, "%s: %s", s->row.position_key, why->msg);
    memmove(&w->dirty[at], &w->dirty[at + 1], (w->n_dirty - at - 1) * sizeof *w->dirty);
    w->n_dirty--;
    w->stats.rows_set_aside++;
    release_closed(w, (uint32_t)(s - w->slots)); /* a closed position leaves all the same */
}

static void flushed(tg_writer *w) {
    assert(w != NULL && w->n_dirty <= w->rows_max);
    for (uint32_t i = 0; i < w->n_dirty; i++) {
        w->slots[w->dirty[i]].pending = false;
        release_closed(w, w->dirty[i]);
    }
    w->n_dirty = 0;
    w->ring_count = 0;
    w->ring_head = 0;
    w->stats.pending_rows = 0;
    w->stats.pending_entries = 0;
    w->stats.flushes++;
    assert(w->n_free <= w->rows_max);
}

static void maybe_prune(tg_writer *w, int64_t ts_ms) {
    assert(w != NULL);
    if (w->retention_ms <= 0 || ts_ms - w->last_prune_ms < PRUNE_EVERY_MS) {
        return;
    }
    uint64_t deleted = 0;
    tg_err prune_err = {0}; /* a failed prune is retried next hour; the flush stood */
    if (tg_store_prune(w->store, ts_ms - w->retention_ms, &deleted, &prune_err) == TG_OK) {
        w->stats.pruned += deleted;
        w->last_prune_ms = ts_ms;
    }
}

tg_status tg_writer_flush(tg_writer *w, int64_t ts_ms, tg_err *err) {
    assert(w != NULL);
    if (w->n_dirty == 0 && w->ring_count == 0) {
        return TG_OK;
    }
    tg_err conflict = {0}, failure = {0};
    uint32_t refused = UINT32_MAX;
    tg_status st = write_batch(w, &refused, &failure);
    /* Bounded: each round removes one row. */
    while (st != TG_OK && refused != UINT32_MAX) {
        if (st == TG_E_CONFLICT) {
            conflict = failure;
            drop_conflicted(w, refused);
        } else {
            set_aside(w, refused, &failure);
        }
        st = write_batch(w, &refused, &failure);
    }
    if (st != TG_OK) {
        w->stats.flush_failures++;
        w->stats.pending_rows = w->n_dirty;
        return tg_err_set(err, st, "%s", failure.msg); /* all stays queued for the next flush */
    }
    flushed(w);
    assert(w->n_dirty == 0 && w->ring_count == 0);
    maybe_prune(w, ts_ms);
    if (conflict.msg[0] != '\0') {
        return tg_err_set(err, TG_E_CONFLICT, "%s", conflict.msg);
    }
    return TG_OK;
}

int64_t tg_writer_version(const tg_writer *w, const char *position_key) {
    assert(w != NULL && position_key != NULL);
    bool found = false;
    uint32_t h = find(w, position_key, &found);
    return found ? w->slots[w->hash[h]].row.version : -1;
}

tg_writer_stats tg_writer_get_stats(const tg_writer *w) {
    assert(w != NULL);
    return w->stats;
}

const char *tg_writer_last_set_aside(const tg_writer *w) {
    assert(w != NULL);
    return w->set_aside[0] != '\0' ? w->set_aside : NULL;
}
