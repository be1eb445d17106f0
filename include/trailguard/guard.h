/*
 * trailguard/guard.h — the daemon: keeps a trailing stop on the exchange for
 * every open position of every configured account.
 *
 * One tg_guard runs on one libuv loop, single-threaded. Per account it owns
 * a venue (exchange adapter), a store handle with its group-commit writer,
 * and a book of the account's positions. Startup, per account:
 *
 *   open store → restore book → time sync → instrument rules → positions →
 *   open stop orders → reconcile → subscribe (marks, account stream) → serve
 *
 * Every loop turn the engine's outputs are staged in the writer, committed
 * in one transaction (write-ahead: the intended stop is durable before its
 * request leaves), and only then are the exchange requests sent: at most one
 * per position in flight, the latest desired stop winning, within the
 * account's order budget, the most risk-reducing first. While the store is
 * down requests still go out (protection wins) and /health says degraded.
 *
 * Reconcile (at startup, every reconcile_interval and after every stream
 * reconnect) makes the exchange hold exactly one trailguard stop per open
 * position: adopts stops found (never loosening), creates missing ones,
 * closes rows of positions that are gone, cancels orphans and duplicates,
 * leaves foreign stops alone (or cancels them with foreign_stops = cancel).
 */
#ifndef TRAILGUARD_GUARD_H
#define TRAILGUARD_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trailguard/config.h"
#include "trailguard/error.h"
#include "trailguard/log.h"
#include "trailguard/stop.h"
#include "trailguard/store.h"
#include "trailguard/venue.h"

#define TG_GUARD_POSITIONS_MAX 4096 /* positions per account */
#define TG_GUARD_SYMBOLS_MAX   1024 /* symbols per account */

typedef struct tg_guard tg_guard;
struct uv_loop_s;

/* A daemon for cfg (which it copies what it needs from) on loop. Nothing is
 * opened yet. */
tg_status tg_guard_new(const tg_config *cfg, struct uv_loop_s *loop, tg_log *log, tg_guard **out,
                       tg_err *err);

/* Opens the stores (refusing a SQLite store another process holds),
 * restores every account's book, starts the HTTP server and each account's
 * startup sequence. Returns once those are under way; the loop does the rest. */
tg_status tg_guard_start(tg_guard *g, tg_err *err);

/* SIGHUP: new parameters and daemon settings from cfg (accounts are not
 * reloaded); logs every change and applies it to open positions at once. */
void tg_guard_reload(tg_guard *g, const tg_config *cfg);

/* SIGTERM/SIGINT: stops taking inputs, flushes the journal, closes venues,
 * streams and the HTTP server; every stop stays on the exchange. The loop
 * returns once everything is closed. */
void tg_guard_drain(tg_guard *g);

void tg_guard_free(tg_guard *g);

/* True when every account is live, every store writes and no feed is stale. */
bool tg_guard_healthy(const tg_guard *g);

/* The HTTP port actually bound (for listen port 0), 0 before start. */
uint16_t tg_guard_http_port(const tg_guard *g);

#endif
