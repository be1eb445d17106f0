/*
 * crash_sim.h — the deterministic trading simulation shared by the crash
 * worker (which persists it through a tg_writer and gets killed) and the
 * crash checker (which plays it uninterrupted, in memory, as the reference).
 *
 * The simulation is a pure function of (seed, positions, turn): turn t has
 * simulated time t × CRASH_TURN_MS, every open position receives one tick
 * whose price is drawn from a generator keyed by (seed, t, slot) and the
 * position's last price, the simulated exchange confirms every SET_STOP at
 * once, and a position whose confirmed stop is crossed is triggered, closed
 * and replaced in its slot by a fresh position (next generation). Nothing is
 * kept outside the rows: a simulation rebuilt from the stored open rows
 * continues exactly as one that was never interrupted.
 *
 * Turn 0 opens every slot; one tg_writer_flush per turn follows in the worker.
 */
#ifndef TG_TEST_CRASH_SIM_H
#define TG_TEST_CRASH_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "trailguard/store.h"

#define CRASH_ACCOUNT       "crash"
#define CRASH_TURN_MS       100  /* simulated time per turn */
#define CRASH_POSITIONS_MAX 4096 /* slots a simulation may have */
#define CRASH_NO_TURN       (-1) /* turn of a simulation that has not started */

/* Where a turn's output goes: the worker stages it into a tg_writer, the
 * reference keeps it to compare with what the store holds. */
typedef struct crash_sink {
    /* The state of a position to persist this turn, once per position and
     * turn (a position closed this turn included). row->version is the
     * version the store holds before this turn's commit. */
    void (*row)(void *ctx, const tg_store_row *row);
    /* One engine output of the position; latency_us as the writer takes it. */
    void (*out)(void *ctx, const char *position_key, const tg_out *out, int64_t latency_us);
    void *ctx; /* passed to both */
} crash_sink;

typedef struct crash_sim {
    uint64_t seed;      /* drives every price */
    uint32_t positions; /* slots, each holding one open position */
    int64_t turn;       /* last turn played; CRASH_NO_TURN before turn 0 */
    tg_store_row *rows; /* the open position of each slot */
    uint64_t set_stops; /* SET_STOP commands answered (this process) */
    uint64_t triggers;  /* positions closed by their stop (this process) */
} crash_sim;

/* A simulation of positions slots (1..CRASH_POSITIONS_MAX) before turn 0. */
tg_status crash_sim_init(crash_sim *sim, uint64_t seed, uint32_t positions, tg_err *err);
void crash_sim_free(crash_sim *sim);

/* Plays the next turn (turn 0 opens every slot). */
void crash_sim_step(crash_sim *sim, const crash_sink *sink);

/* Plays turns until sim->turn == turn (turn ≥ sim->turn). */
void crash_sim_advance(crash_sim *sim, int64_t turn, const crash_sink *sink);

/* Rebuilds the simulation from the stored rows: call crash_sim_restore_row
 * for every row (closed ones are ignored), then crash_sim_restore_end, which
 * checks that every slot has exactly one open position and that all of them
 * are at the same turn, and sets sim->turn. With no rows at all the
 * simulation stays before turn 0. */
tg_status crash_sim_restore_row(crash_sim *sim, const tg_store_row *row, tg_err *err);
tg_status crash_sim_restore_end(crash_sim *sim, tg_err *err);

/* The journal entries a tg_writer makes of one engine output (what
 * tg_writer_stage_out queues): the events, then the commands other than
 * PERSIST, which carry the time of the output's last event. entries must
 * hold CRASH_OUT_ENTRIES_MAX; returns how many were written. */
#define CRASH_OUT_ENTRIES_MAX (TG_OUT_EVENTS_MAX + TG_OUT_CMDS_MAX)
int crash_out_entries(const char *position_key, const tg_out *out, int64_t latency_us,
                      tg_journal_entry *entries);

/* Two journal entries say the same, as far as the store keeps it (the seq
 * and an event's position id are not compared). */
bool crash_entry_same(const tg_journal_entry *a, const tg_journal_entry *b);

/* The slot and generation of a position key ("p0007.000012"). */
bool crash_key_parse(const char *key, uint32_t *slot, uint32_t *gen);

#endif
