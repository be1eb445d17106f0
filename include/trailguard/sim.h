/*
 * trailguard/sim.h — the loopback exchange emulator.
 *
 * One emulator serves two venues on loopback, each on its own TCP port:
 * Binance USD-M futures (REST under /fapi, WebSocket market and user-data
 * streams) and Bybit v5 linear (REST under /v5, public and private
 * WebSocket). Requests are signed and checked like the real exchanges do;
 * conditional stop orders trigger on the emulated mark price and close the
 * position. Both ports also serve the control endpoint under /sim/ (no
 * authentication; see docs/sim.md), which tests, the demo and benchmarks use
 * to open positions, move the mark price, inject faults and read the request
 * log and the unprotected windows.
 *
 * Life cycle: tg_sim_new → tg_sim_start (a thread runs the event loop) →
 * tg_sim_ports / tg_sim_call … → tg_sim_stop → tg_sim_free. Every call
 * below except tg_sim_new and tg_sim_free is safe from any thread.
 */
#ifndef TRAILGUARD_SIM_H
#define TRAILGUARD_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "trailguard/error.h"

#define TG_SIM_HOST_MAX 64 /* bytes of the listen host, including the NUL */

typedef struct tg_sim tg_sim;

typedef struct tg_sim_config {
    char host[TG_SIM_HOST_MAX]; /* listen address, "127.0.0.1" by default */
    uint16_t port;              /* Binance port; Bybit is port+1; 0 = two ephemeral ports */
    uint64_t seed;              /* seeds price walks and identifiers */
    const char *scenario_path;  /* JSON scenario file, or NULL */
    const char *accounts_path;  /* JSON accounts file, or NULL for the built-in ones */
    size_t orders_max;          /* open orders over all accounts, ≤ 65536; 0 = 1024 */
    size_t subs_max;            /* stream subscriptions per WebSocket, ≤ 8192; 0 = 1024 */
} tg_sim_config;

/* Ports actually bound, known once tg_sim_start returned TG_OK. */
typedef struct tg_sim_ports {
    uint16_t binance; /* REST and WebSocket of the Binance venue */
    uint16_t bybit;   /* REST and WebSocket of the Bybit venue */
} tg_sim_ports;

/* Defaults: 127.0.0.1, port 0, seed 1, no scenario, built-in accounts. */
tg_sim_config tg_sim_config_default(void);

/* Loads the accounts and the scenario; binds nothing yet. */
tg_status tg_sim_new(const tg_sim_config *config, tg_sim **out, tg_err *err);

/* Binds both listeners and starts the loop thread. */
tg_status tg_sim_start(tg_sim *sim, tg_err *err);

tg_sim_ports tg_sim_ports_get(const tg_sim *sim);

/* Runs one control-endpoint request in the loop thread, exactly as if it had
 * arrived over HTTP: method "GET"/"POST"/"DELETE", target "/sim/mark" or
 * "/sim/requests?venue=binance", body JSON or NULL. The JSON answer goes to
 * out (NUL-terminated, truncated to out_cap) and its HTTP status is returned;
 * 0 when the emulator is not running. */
int tg_sim_call(tg_sim *sim, const char *method, const char *target, const char *body, char *out,
                size_t out_cap);

/* Typed shortcuts over tg_sim_call; each returns TG_OK when the emulator
 * answered 200 and otherwise puts its message in err. Prices and sizes are
 * decimal strings as on the wire. */
tg_status tg_sim_set_mark(tg_sim *sim, const char *symbol, const char *price, tg_err *err);
tg_status tg_sim_open_position(tg_sim *sim, const char *account, const char *symbol,
                               const char *side, const char *size, const char *entry, tg_err *err);
tg_status tg_sim_fault(tg_sim *sim, const char *path, const char *kind, int64_t ms, int64_t count,
                       tg_err *err);

/* Closes every connection and joins the loop thread. Idempotent. */
void tg_sim_stop(tg_sim *sim);

void tg_sim_free(tg_sim *sim);

#endif
