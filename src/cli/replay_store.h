/*
 * cli/replay_store.h — `trailguard replay --store URI`: journals a back-test
 * the way the daemon journals a live position (the row with the whole engine
 * state after every output, and every event and command), so that the same
 * tools (`trailguard state`, the diagnostic monitor) can read it.
 */
#ifndef TRAILGUARD_CLI_REPLAY_STORE_H
#define TRAILGUARD_CLI_REPLAY_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "trailguard/writer.h"

typedef struct replay_store {
    tg_store *store;   /* where it goes */
    tg_writer *writer; /* group commit in front of it */
    tg_store_row row;  /* identity of the replayed position; stop filled per output */
    tg_status status;  /* first failure, TG_OK while all is well */
    tg_err err;        /* its sentence */
    uint64_t outputs;  /* engine outputs journaled */
} replay_store;

/* Opens the store (creating a SQLite file if needed) for account and names
 * the position "<symbol>:<side>". A position of that key that is still
 * open in the store is refused: a back-test never writes over a live one. */
tg_status tg_replay_store_open(replay_store *rs, const char *uri, const char *account,
                               const char *symbol, tg_side side, tg_err *err);

/* A tg_replay_output_fn: stages the state and the output, committing in
 * groups. A failure is kept in rs->status and ends the journaling. */
void tg_replay_store_output(void *ctx, const tg_stop *stop, const tg_out *out);

/* Stages the engine's state at the end of the run: ticks after the last
 * output moved the best price and the last tick time, and the row must
 * agree with the summary. */
void tg_replay_store_final(replay_store *rs, const tg_stop *final);

/* Commits what is left and closes; the first failure of the run, if any. */
tg_status tg_replay_store_close(replay_store *rs, tg_err *err);

#endif
