#include "cli/replay_store.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define JOURNAL_QUEUE_MAX 65536 /* entries the writer holds between commits */
#define JOURNAL_COMMIT_AT 32768 /* pending entries that trigger a commit */
#define REPLAY_EXCHANGE   "replay"

tg_status tg_replay_store_open(replay_store *rs, const char *uri, const char *account,
                               const char *symbol, tg_side side, tg_err *err) {
    assert(rs != NULL && uri != NULL && account != NULL && symbol != NULL);
    assert(side == TG_SIDE_LONG || side == TG_SIDE_SHORT);
    memset(rs, 0, sizeof *rs);
    tg_store_row *row = &rs->row;
    if (strlen(symbol) >= sizeof row->symbol || symbol[0] == '\0') {
        return tg_err_set(err, TG_E_INVALID, "--symbol must be 1..%d characters",
                          (int)sizeof row->symbol - 1);
    }
    snprintf(row->account, sizeof row->account, "%s", account);
    snprintf(row->exchange, sizeof row->exchange, "%s", REPLAY_EXCHANGE);
    snprintf(row->symbol, sizeof row->symbol, "%s", symbol);
    int key_len =
        snprintf(row->position_key, sizeof row->position_key, "%s:%s", symbol, tg_side_str(side));
    /* a symbol shorter than TG_SYMBOL_MAX and ":short" always fit the key */
    assert(key_len > 0 && (size_t)key_len < sizeof row->position_key);
    tg_status st = tg_store_open(uri, account, &rs->store, err);
    if (st != TG_OK) {
        return st;
    }
    tg_store_row old;
    tg_err absent;
    if (tg_store_get(rs->store, row->position_key, &old, &absent) == TG_OK &&
        old.stop.state != TG_STATE_CLOSED) {
        st = tg_err_set(err, TG_E_CONFLICT,
                        "the store already holds position '%s' of account '%s', still %s; "
                        "choose another --symbol or --account",
                        row->position_key, account, tg_state_str((tg_state)old.stop.state));
    }
    if (st == TG_OK) {
        st = tg_writer_new(rs->store, 1, JOURNAL_QUEUE_MAX, 0, &rs->writer, err);
    }
    if (st != TG_OK) {
        tg_store_close(rs->store);
        rs->store = NULL;
    }
    assert(st != TG_OK || (rs->store != NULL && rs->writer != NULL));
    return st;
}

void tg_replay_store_output(void *ctx, const tg_stop *stop, const tg_out *out) {
    replay_store *rs = ctx;
    assert(rs != NULL && stop != NULL && out != NULL);
    assert(rs->writer != NULL);
    if (rs->status != TG_OK) {
        return;
    }
    rs->row.stop = *stop;
    rs->status = tg_writer_stage_row(rs->writer, &rs->row, &rs->err);
    if (rs->status != TG_OK) {
        return;
    }
    tg_writer_stage_out(rs->writer, rs->row.position_key, out, -1);
    rs->outputs++;
    if (tg_writer_get_stats(rs->writer).pending_entries >= JOURNAL_COMMIT_AT) {
        rs->status = tg_writer_flush(rs->writer, stop->last_tick_ms, &rs->err);
    }
}

void tg_replay_store_final(replay_store *rs, const tg_stop *final) {
    assert(rs->writer != NULL && final != NULL);
    if (rs->status != TG_OK) {
        return;
    }
    rs->row.stop = *final;
    rs->status = tg_writer_stage_row(rs->writer, &rs->row, &rs->err);
}

tg_status tg_replay_store_close(replay_store *rs, tg_err *err) {
    assert(rs != NULL);
    tg_status st = rs->status;
    if (st == TG_OK && rs->writer != NULL) {
        st = tg_writer_flush(rs->writer, rs->row.stop.last_tick_ms, &rs->err);
    }
    if (st == TG_OK && tg_writer_get_stats(rs->writer).entries_dropped > 0) {
        st = tg_err_set(&rs->err, TG_E_CAPACITY, "journal entries were dropped");
    }
    tg_writer_free(rs->writer);
    tg_store_close(rs->store);
    rs->writer = NULL;
    rs->store = NULL;
    return st == TG_OK ? TG_OK : tg_err_set(err, st, "%s", rs->err.msg);
}
