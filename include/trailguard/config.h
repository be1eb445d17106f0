/*
 * trailguard/config.h — the daemon's configuration file (INI, read with
 * libinih) and what it resolves to.
 *
 * Sections (docs/run.md is the full reference):
 *   [store]          uri
 *   [account NAME]   venue, rest_url, ws_url, api_key_env | api_key_file,
 *                    api_secret_env | api_secret_file, close_position,
 *                    recv_window_ms            (one or more accounts)
 *   [defaults]       every engine parameter (tg_params_names()) and the
 *                    guard settings foreign_stops, reconcile_interval_seconds,
 *                    stale_seconds, max_update_delay_seconds
 *   [symbol SYMBOL]  the same keys as [defaults], overriding them
 *   [http]           listen, token_file
 *   [notify]         webhook_url, queue_max
 *   [log]            file, level
 *   [diagnose]       engine_interval_seconds, store_interval_seconds,
 *                    exchange_interval_seconds, consistency_interval_seconds,
 *                    progress_interval_seconds, price_tolerance_percent,
 *                    unconfirmed_seconds (`trailguard diagnose`; the daemon
 *                    ignores them)
 *
 * Loading is all or nothing: a configuration with any error is not returned.
 * Every error sentence starts with "FILE:LINE: " and names the section and
 * key. Unknown sections and keys, duplicate keys and repeated sections are
 * errors; a misspelt key gets the nearest valid name as a hint.
 *
 * Secrets: API keys, secrets and the HTTP token are read from environment
 * variables or from files that only their owner may read (mode 0600 or
 * stricter, owned by the effective user); a secret written in the INI itself
 * is refused. No error sentence ever contains a secret or a value read from
 * a secret source. The webhook URL may carry a secret too (Slack, Discord):
 * it is never echoed either. Relative paths are taken from the working
 * directory, as the store's are.
 *
 * Parameters and settings come in two layers, [defaults] then [symbol X];
 * tg_config_params() and tg_config_settings() resolve them for one symbol.
 * Every symbol's resolved set, and the defaults' alone, pass
 * tg_params_validate() before a configuration is returned.
 */
#ifndef TRAILGUARD_CONFIG_H
#define TRAILGUARD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trailguard/book.h"
#include "trailguard/decimal.h"
#include "trailguard/error.h"
#include "trailguard/log.h"
#include "trailguard/params.h"
#include "trailguard/venue.h"

#define TG_CONFIG_PATH_MAX     512 /* bytes of a file path or store URI, NUL included */
#define TG_CONFIG_ACCOUNTS_MAX 16  /* [account] sections */
#define TG_CONFIG_SYMBOLS_MAX  256 /* [symbol] sections (TG_VENUE_SYMBOLS_MAX) */
#define TG_CONFIG_LISTEN_MAX   80  /* bytes of http listen "host:port", NUL included */
#define TG_CONFIG_TOKEN_MAX    256 /* bytes of the HTTP bearer token, NUL included */
#define TG_CONFIG_ERRORS_MAX   32  /* errors kept by one load; later ones are counted */
#define TG_CONFIG_LISTEN_DEF   "127.0.0.1:8427"
#define TG_CONFIG_QUEUE_DEF    1024 /* notify queue_max default, messages */
#define TG_CONFIG_QUEUE_MAX    1000000
#define TG_CONFIG_NODE_ID_MAX  48 /* bytes of [cluster] node_id, NUL included (a lease owner) */

/* What the guard does with a stop order on the exchange that is not its own. */
typedef enum tg_foreign_stops {
    TG_FOREIGN_LEAVE,  /* leave it; trailguard places its own beside it (default) */
    TG_FOREIGN_CANCEL, /* cancel it once trailguard's own stop is in place */
} tg_foreign_stops;

/* The daemon's per-symbol settings, beside the engine's tg_params. */
typedef struct tg_guard_settings {
    tg_foreign_stops foreign_stops; /* see tg_foreign_stops; default leave */
    int64_t reconcile_interval_ms;  /* full reconciliation this often, ms; default 60 s */
    int64_t stale_ms;               /* a price feed silent this long is stale, ms; default 10 s */
    int64_t max_update_delay_ms;    /* an unconfirmed stop update older than this alarms, ms;
                                       default 10 s */
} tg_guard_settings;

/* One bit per setting, for tg_config_layer.settings_set. */
typedef enum tg_setting_bit {
    TG_S_FOREIGN_STOPS = 1u << 0,
    TG_S_RECONCILE_INTERVAL = 1u << 1,
    TG_S_STALE = 1u << 2,
    TG_S_MAX_UPDATE_DELAY = 1u << 3,
} tg_setting_bit;

/* One [defaults] or [symbol X] section: what it sets. */
typedef struct tg_config_layer {
    char symbol[TG_SYMBOL_MAX]; /* "" for [defaults] */
    tg_params_patch params;     /* engine parameters this layer sets */
    uint32_t settings_set;      /* tg_setting_bit mask of the settings below that it sets */
    tg_guard_settings settings; /* the settings; fields whose bit is clear are ignored */
    int line;                   /* line of the section header; 0 if [defaults] is absent */
} tg_config_layer;

/* [diagnose]: the diagnostic monitor's probe intervals and thresholds
 * (defaults: the original monitor's intervals and guide's thresholds). */
typedef struct tg_config_diagnose {
    int64_t engine_interval_ms;      /* daemon read API probe, ms; default 5 s */
    int64_t store_interval_ms;       /* store probe, ms; default 30 s */
    int64_t exchange_interval_ms;    /* exchange probe, ms; default 60 s */
    int64_t consistency_interval_ms; /* consistency check, ms; default 120 s */
    int64_t progress_interval_ms;    /* console progress block, ms; default 60 s */
    tg_dec price_tolerance_percent;  /* stop prices that differ less agree, %; default 0.1 */
    int64_t unconfirmed_ms;          /* an intended stop unconfirmed this long alarms, ms;
                                        default 30 s */
} tg_config_diagnose;

/* [cluster]: several processes on one PostgreSQL store, each account served
 * by the process holding its lease (docs/cluster.md). */
typedef struct tg_config_cluster {
    bool enabled;                        /* a [cluster] section is present */
    char node_id[TG_CONFIG_NODE_ID_MAX]; /* this process's owner id, [A-Za-z0-9_.:-] */
    int64_t lease_ttl_ms;                /* a lease lasts this long unrenewed, ms; default 10 s */
    int64_t lease_renew_ms;              /* renewed this often, ms; default 3 s; ≤ ttl / 2 */
    uint32_t max_accounts;               /* accounts held at most; 0 = no bound (default) */
    int line;                            /* line of the section header; 0 absent */
} tg_config_cluster;

/* One [account NAME] section, resolved: secrets read, defaults filled. */
typedef struct tg_config_account {
    char name[TG_VENUE_KEY_MAX]; /* NAME, ≤ 39 bytes of [A-Za-z0-9_.-]; also venue.account */
    tg_venue_config venue;       /* tg_venue_config_default(kind) with the section's keys over it */
    int line;                    /* line of the section header */
} tg_config_account;

typedef struct tg_config {
    char path[TG_CONFIG_PATH_MAX];      /* file name used in messages */
    char store_uri[TG_CONFIG_PATH_MAX]; /* [store] uri; default TG_STORE_DEFAULT_URI */
    tg_config_account accounts[TG_CONFIG_ACCOUNTS_MAX]; /* in file order */
    size_t accounts_count;                              /* ≥ 1 */
    tg_config_layer defaults;                           /* [defaults] */
    tg_config_layer symbols[TG_CONFIG_SYMBOLS_MAX];     /* [symbol X], in file order */
    size_t symbols_count;                               /* may be 0 */
    char http_listen[TG_CONFIG_LISTEN_MAX]; /* [http] listen as written; default 127.0.0.1:8427 */
    char http_host[TG_CONFIG_LISTEN_MAX];   /* its host, without IPv6 brackets */
    uint16_t http_port;                     /* its port; 0 = any free port (tests) */
    char http_token[TG_CONFIG_TOKEN_MAX];   /* bearer token of write endpoints; never output */
    bool has_token;                         /* false: write endpoints are refused */
    char webhook_url[TG_CONFIG_PATH_MAX];   /* [notify] webhook_url; "" = none; never output */
    uint32_t notify_queue_max;              /* notifications queued at most; default 1024 */
    char log_file[TG_CONFIG_PATH_MAX];      /* [log] file; "" = stderr */
    tg_log_level log_level;                 /* [log] level; default info */
    tg_config_diagnose diagnose;            /* [diagnose] */
    tg_config_cluster cluster;              /* [cluster]; enabled only with PostgreSQL */
} tg_config;

/* Every error of one load, in line order of discovery. */
typedef struct tg_config_errors {
    size_t count;                       /* entries used in items */
    size_t dropped;                     /* errors beyond TG_CONFIG_ERRORS_MAX, not kept */
    tg_err items[TG_CONFIG_ERRORS_MAX]; /* "FILE:LINE: [section] key: sentence" */
} tg_config_errors;

/* Reads the file at path, the environment variables and secret files it
 * names, and checks everything. On success *out is a new configuration
 * (free it with tg_config_free). On failure *out is NULL, err holds the
 * first error and the status is TG_E_INVALID (bad content), TG_E_IO (the
 * file cannot be read) or TG_E_NOMEM. */
tg_status tg_config_load(const char *path, tg_config **out, tg_err *err);

/* The same from text in memory; name stands for the file in messages.
 * Environment variables and secret files are read as by tg_config_load. */
tg_status tg_config_load_string(const char *text, const char *name, tg_config **out, tg_err *err);

/* Both in one, keeping every error instead of the first: reads text if it
 * is not NULL, else the file at name. errors may be NULL. */
tg_status tg_config_load_all(const char *name, const char *text, tg_config **out,
                             tg_config_errors *errors);

/* Frees cfg (NULL is fine), wiping the secrets it holds first. */
void tg_config_free(tg_config *cfg);

/* Parameters in force for symbol: tg_params_default(), then [defaults],
 * then [symbol symbol] if there is one. symbol NULL gives the defaults. */
tg_params tg_config_params(const tg_config *cfg, const char *symbol);

/* Settings in force for symbol, resolved the same way. */
tg_guard_settings tg_config_settings(const tg_config *cfg, const char *symbol);

/* The [symbol] layer of symbol, or NULL when it has none. */
const tg_config_layer *tg_config_symbol(const tg_config *cfg, const char *symbol);

/* The account named name, or NULL. */
const tg_config_account *tg_config_account_find(const tg_config *cfg, const char *name);

/* For SIGHUP: calls fn once for every parameter or setting whose value in
 * force differs between a (old) and b (new). scope is NULL for [defaults]
 * and the symbol for a [symbol] section; a symbol's entry is reported only
 * when that symbol sets the name in a or in b (an inherited change is
 * reported once, under defaults). Values are written as in the file
 * ("0.5", "1:0.5,2:0.3", "off", "cancel"); a callback of another kind reads
 * "unset". Accounts, store, http, notify and log are not compared: a change
 * there needs a restart. The strings live only for the duration of the call. */
typedef void (*tg_config_diff_fn)(void *ctx, const char *scope, const char *name,
                                  const char *old_value, const char *new_value);
void tg_config_diff(const tg_config *a, const tg_config *b, tg_config_diff_fn fn, void *ctx);

/* "leave" / "cancel", and "debug" / "info" / "warn" / "error". */
const char *tg_foreign_stops_str(tg_foreign_stops f);
const char *tg_log_level_str(tg_log_level level);

#endif
