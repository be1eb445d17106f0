/* The daemon's configuration file: good files for each venue, every kind of
 * bad file with its line, secrets kept out of messages, per-symbol
 * resolution, reload diffs and `trailguard check-config`. */
#define _DEFAULT_SOURCE /* setenv */
#include "replay_testutil.h"

#include <sys/stat.h>

#include "trailguard/config.h"

#define PREFIX "config"
#define SECRET "S3cr3tV4lue_do_not_print"

static char key_path[TU_PATH_MAX], secret_path[TU_PATH_MAX];

static void write_mode(const char *path, const char *text, mode_t mode) {
    tu_write(path, text);
    assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state) {
    (void)state;
    setenv("TG_TEST_BN_KEY", "bnkey123", 1);
    setenv("TG_TEST_BN_SECRET", SECRET, 1);
    unsetenv("TG_TEST_UNSET");
    tu_path(key_path, PREFIX, "bybit.key");
    tu_path(secret_path, PREFIX, "bybit.secret");
    write_mode(key_path, "bybitkey\n", 0600);
    write_mode(secret_path, SECRET "\r\n", 0400);
    return 0;
}

#define BINANCE_ACCOUNT                                                                            \
    "[account bn1]\n"                                                                              \
    "venue = binance\n"                                                                            \
    "api_key_env = TG_TEST_BN_KEY\n"                                                               \
    "api_secret_env = TG_TEST_BN_SECRET\n"

static tg_config *load_ok(const char *text) {
    tg_config *cfg = NULL;
    tg_err err;
    tg_status st = tg_config_load_string(text, "t.ini", &cfg, &err);
    if (st != TG_OK) {
        fail_msg("unexpected error: %s", err.msg);
    }
    assert_non_null(cfg);
    return cfg;
}

/* Loads text, which must fail; the first error must start with
 * "t.ini:LINE: " and contain part. */
static void load_bad(const char *text, int line, const char *part) {
    tg_config *cfg = (tg_config *)1;
    tg_err err;
    assert_int_equal(tg_config_load_string(text, "t.ini", &cfg, &err), TG_E_INVALID);
    assert_null(cfg);
    char want[64];
    snprintf(want, sizeof want, "t.ini:%d: ", line);
    if (strncmp(err.msg, want, strlen(want)) != 0 || strstr(err.msg, part) == NULL) {
        fail_msg("want '%s...%s', got '%s'", want, part, err.msg);
    }
    assert_null(strstr(err.msg, SECRET));
}

static void binance_minimal(void **state) {
    (void)state;
    tg_config *cfg = load_ok(BINANCE_ACCOUNT);
    assert_int_equal(cfg->accounts_count, 1);
    const tg_config_account *a = tg_config_account_find(cfg, "bn1");
    assert_non_null(a);
    assert_int_equal(a->line, 1);
    assert_int_equal(a->venue.kind, TG_VENUE_BINANCE);
    assert_string_equal(a->venue.account, "bn1");
    assert_string_equal(a->venue.rest_url, "https://fapi.binance.com");
    assert_string_equal(a->venue.ws_url, "wss://fstream.binance.com");
    assert_string_equal(a->venue.api_key, "bnkey123");
    assert_string_equal(a->venue.api_secret, SECRET);
    assert_int_equal(a->venue.recv_window_ms, 5000);
    assert_false(a->venue.close_position);
    assert_int_equal(a->venue.order_limit_per_min, 1200);
    assert_string_equal(cfg->store_uri, "./trailguard.db");
    assert_string_equal(cfg->http_listen, "127.0.0.1:8427");
    assert_string_equal(cfg->http_host, "127.0.0.1");
    assert_int_equal(cfg->http_port, 8427);
    assert_false(cfg->has_token);
    assert_int_equal(cfg->notify_queue_max, 1024);
    assert_int_equal(cfg->log_level, TG_LOG_INFO);
    assert_int_equal(cfg->symbols_count, 0);
    tg_guard_settings s = tg_config_settings(cfg, "BTCUSDT");
    assert_int_equal(s.foreign_stops, TG_FOREIGN_LEAVE);
    assert_int_equal(s.reconcile_interval_ms, 60000);
    assert_int_equal(s.stale_ms, 10000);
    assert_int_equal(s.max_update_delay_ms, 10000);
    assert_int_equal(cfg->diagnose.engine_interval_ms, 5000);
    assert_int_equal(cfg->diagnose.store_interval_ms, 30000);
    assert_int_equal(cfg->diagnose.exchange_interval_ms, 60000);
    assert_int_equal(cfg->diagnose.consistency_interval_ms, 120000);
    assert_int_equal(cfg->diagnose.progress_interval_ms, 60000);
    assert_int_equal(cfg->diagnose.unconfirmed_ms, 30000);
    assert_int_equal(cfg->diagnose.price_tolerance_percent.units, TG_DEC_SCALE / 10);
    tg_config_free(cfg);
}

#define PG_STORE "[store]\nuri = postgresql://tg@db.example/trailguard\n"

/* [cluster]: every key and its defaults; a SQLite store, a missing node id,
 * a renewal slower than half the ttl and bad values are errors. */
static void cluster_section(void **state) {
    (void)state;
    tg_config *cfg = load_ok(BINANCE_ACCOUNT);
    assert_false(cfg->cluster.enabled);
    tg_config_free(cfg);
    cfg = load_ok(BINANCE_ACCOUNT PG_STORE "[cluster]\nnode_id = tg-1\n");
    assert_true(cfg->cluster.enabled);
    assert_string_equal(cfg->cluster.node_id, "tg-1");
    assert_int_equal(cfg->cluster.lease_ttl_ms, 10000);
    assert_int_equal(cfg->cluster.lease_renew_ms, 3000);
    assert_int_equal(cfg->cluster.max_accounts, 0);
    tg_config_free(cfg);
    cfg = load_ok(BINANCE_ACCOUNT "[cluster]\nnode_id = host-a:2\nlease_ttl_seconds = 4\n"
                                  "lease_renew_seconds = 0.5\nmax_accounts = 3\n"
                                  "[store]\nuri = host=/tmp dbname=tg\n");
    assert_true(cfg->cluster.enabled);
    assert_int_equal(cfg->cluster.lease_ttl_ms, 4000);
    assert_int_equal(cfg->cluster.lease_renew_ms, 500);
    assert_int_equal(cfg->cluster.max_accounts, 3);
    tg_config_free(cfg);
    load_bad(BINANCE_ACCOUNT "[cluster]\nnode_id = tg-1\n", 5,
             "[cluster] needs a PostgreSQL store");
    load_bad(BINANCE_ACCOUNT "[store]\nuri = sqlite:/tmp/x.db\n[cluster]\nnode_id = tg-1\n", 7,
             "a SQLite store serves one process");
    load_bad(BINANCE_ACCOUNT PG_STORE "[cluster]\nlease_ttl_seconds = 10\n", 7,
             "[cluster] node_id is missing");
    load_bad(BINANCE_ACCOUNT PG_STORE "[cluster]\nnode_id = a b\n", 8,
             "[cluster] node_id: 'a b' is not 1 to 47 bytes");
    load_bad(BINANCE_ACCOUNT PG_STORE "[cluster]\nnode_id = n\nlease_renew_seconds = 6\n", 7,
             "must be at most half of lease_ttl_seconds");
    load_bad(BINANCE_ACCOUNT PG_STORE "[cluster]\nnode_id = n\nlease_ttl_seconds = 0\n", 9,
             "is not a number of seconds");
    load_bad(BINANCE_ACCOUNT PG_STORE "[cluster]\nnode_id = n\nmax_accounts = 0\n", 9,
             "is not a whole number from 1 to");
    load_bad(BINANCE_ACCOUNT PG_STORE "[cluster]\nnode_id = n\n[cluster]\n", 9,
             "[cluster] appears again");
    load_bad(BINANCE_ACCOUNT PG_STORE "[http]\nnode_id = n\n", 8, "[cluster]");
}

/* [diagnose]: every key, and the errors of a bad value or a misplaced key. */
static void diagnose_section(void **state) {
    (void)state;
    tg_config *cfg = load_ok(BINANCE_ACCOUNT "[diagnose]\nengine_interval_seconds = 0.5\n"
                                             "store_interval_seconds = 2\n"
                                             "exchange_interval_seconds = 3\n"
                                             "consistency_interval_seconds = 4\n"
                                             "progress_interval_seconds = 10\n"
                                             "price_tolerance_percent = 0.25\n"
                                             "unconfirmed_seconds = 7\n");
    assert_int_equal(cfg->diagnose.engine_interval_ms, 500);
    assert_int_equal(cfg->diagnose.store_interval_ms, 2000);
    assert_int_equal(cfg->diagnose.exchange_interval_ms, 3000);
    assert_int_equal(cfg->diagnose.consistency_interval_ms, 4000);
    assert_int_equal(cfg->diagnose.progress_interval_ms, 10000);
    assert_int_equal(cfg->diagnose.unconfirmed_ms, 7000);
    assert_int_equal(cfg->diagnose.price_tolerance_percent.units, TG_DEC_SCALE / 4);
    tg_config_free(cfg);
    load_bad(BINANCE_ACCOUNT "[diagnose]\nengine_interval_seconds = 0\n", 6,
             "[diagnose] engine_interval_seconds: '0' is not a number of seconds");
    load_bad(BINANCE_ACCOUNT "[diagnose]\nprice_tolerance_percent = -1\n", 6,
             "is not a percent from 0 to 100");
    load_bad(BINANCE_ACCOUNT "[diagnose]\nstale_seconds = 3\n", 6, "[defaults]");
    load_bad(BINANCE_ACCOUNT "[diagnose]\n[diagnose]\n", 6, "[diagnose] appears again");
    load_bad(BINANCE_ACCOUNT "[diagnos]\n", 5, "did you mean [diagnose]");
}

static void bybit_full(void **state) {
    (void)state;
    char text[4096], token_path[TU_PATH_MAX];
    tu_path(token_path, PREFIX, "http.token");
    write_mode(token_path, "tok-abc\n", 0600);
    snprintf(text, sizeof text,
             "; a full file\n"
             "[store]\n"
             "uri = sqlite:/tmp/tg.db\n"
             "[account by.main-1]\n"
             "venue = bybit\n"
             "rest_url = http://127.0.0.1:9000\n"
             "ws_url = ws://127.0.0.1:9001\n"
             "api_key_file = %s\n"
             "api_secret_file = %s\n"
             "recv_window_ms = 7000\n"
             "[http]\n"
             "listen = [::1]:0\n"
             "token_file = %s\n"
             "[notify]\n"
             "webhook_url = https://hooks.example/T000\n"
             "queue_max = 16\n"
             "[log]\n"
             "file = /tmp/tg.log\n"
             "level = debug\n",
             key_path, secret_path, token_path);
    tg_config *cfg = load_ok(text);
    const tg_config_account *a = &cfg->accounts[0];
    assert_string_equal(a->name, "by.main-1");
    assert_int_equal(a->venue.kind, TG_VENUE_BYBIT);
    assert_string_equal(a->venue.rest_url, "http://127.0.0.1:9000");
    assert_string_equal(a->venue.ws_url, "ws://127.0.0.1:9001");
    assert_string_equal(a->venue.api_key, "bybitkey");
    assert_string_equal(a->venue.api_secret, SECRET);
    assert_int_equal(a->venue.recv_window_ms, 7000);
    assert_string_equal(cfg->store_uri, "sqlite:/tmp/tg.db");
    assert_string_equal(cfg->http_host, "::1");
    assert_int_equal(cfg->http_port, 0);
    assert_true(cfg->has_token);
    assert_string_equal(cfg->http_token, "tok-abc");
    assert_string_equal(cfg->webhook_url, "https://hooks.example/T000");
    assert_int_equal(cfg->notify_queue_max, 16);
    assert_string_equal(cfg->log_file, "/tmp/tg.log");
    assert_int_equal(cfg->log_level, TG_LOG_DEBUG);
    tg_config_free(cfg);
}

static void symbols_resolve(void **state) {
    (void)state;
    tg_config *cfg = load_ok(BINANCE_ACCOUNT "close_position = true\n"
                                             "order_limit_per_min = 600000\n"
                                             "[defaults]\n"
                                             "activation_percent = 2\n"
                                             "callback_percent = 0.8\n"
                                             "stale_seconds = 0.5\n"
                                             "foreign_stops = cancel\n"
                                             "[symbol ETHUSDT]\n"
                                             "callback_ticks = 20\n"
                                             "steps = off\n"
                                             "reconcile_interval_seconds = 30\n"
                                             "[symbol BTCUSDT]\n"
                                             "activation_percent = 1\n"
                                             "steps = 1:0.5,2:0.3\n"
                                             "foreign_stops = leave\n");
    assert_true(cfg->accounts[0].venue.close_position);
    assert_int_equal(cfg->accounts[0].venue.order_limit_per_min, 600000);
    assert_int_equal(cfg->accounts[0].venue.weight_limit_per_min, 2400);
    assert_int_equal(cfg->symbols_count, 2);
    tg_params d = tg_config_params(cfg, NULL);
    tu_assert_dec(d.activation_pct, "2");
    tu_assert_dec(d.callback, "0.8");
    tg_params unknown = tg_config_params(cfg, "XRPUSDT");
    assert_memory_equal(&d, &unknown, sizeof d);
    tg_params eth = tg_config_params(cfg, "ETHUSDT");
    tu_assert_dec(eth.activation_pct, "2");
    assert_int_equal(eth.callback_kind, TG_CALLBACK_TICKS);
    tu_assert_dec(eth.callback, "20");
    tg_params btc = tg_config_params(cfg, "BTCUSDT");
    tu_assert_dec(btc.activation_pct, "1");
    tu_assert_dec(btc.callback, "0.8");
    assert_int_equal(btc.step_count, 2);
    tg_guard_settings se = tg_config_settings(cfg, "ETHUSDT");
    assert_int_equal(se.foreign_stops, TG_FOREIGN_CANCEL);
    assert_int_equal(se.reconcile_interval_ms, 30000);
    assert_int_equal(se.stale_ms, 500);
    tg_guard_settings sb = tg_config_settings(cfg, "BTCUSDT");
    assert_int_equal(sb.foreign_stops, TG_FOREIGN_LEAVE);
    assert_int_equal(sb.reconcile_interval_ms, 60000);
    tg_config_free(cfg);
}

static void bad_sections_and_keys(void **state) {
    (void)state;
    load_bad(BINANCE_ACCOUNT "[acount bn2]\nvenue = bybit\n", 5,
             "unknown section; did you mean [account bn2]");
    load_bad(BINANCE_ACCOUNT "[weird]\n", 5, "[weird] unknown section");
    load_bad(BINANCE_ACCOUNT "[defaults]\nactivaton_percent = 1\n", 6,
             "[defaults] activaton_percent: unknown key; did you mean activation_percent?");
    load_bad(BINANCE_ACCOUNT "colour = red\n", 5, "[account bn1] colour: unknown key");
    load_bad(BINANCE_ACCOUNT "[defaults]\nvenue = bybit\n", 6, "belongs in [account NAME]");
    load_bad(BINANCE_ACCOUNT "[defaults]\nactivation-percent = 1\n", 6,
             "did you mean activation_percent?");
    load_bad("uri = x\n" BINANCE_ACCOUNT, 1, "outside any section");
    load_bad("[account bn1]\nvenue = bitmex\n", 2,
             "[account bn1] venue: 'bitmex' is not binance or bybit");
    load_bad("[account bn1]\napi_key_env = TG_TEST_BN_KEY\napi_secret_env = TG_TEST_BN_SECRET\n", 1,
             "venue is missing");
    load_bad(BINANCE_ACCOUNT "recv_window_ms = 5s\n", 5,
             "recv_window_ms: '5s' is not a whole number");
    load_bad(BINANCE_ACCOUNT "order_limit_per_min = 0\n", 5,
             "order_limit_per_min: '0' is not a whole number from 1 to 1000000");
    load_bad(BINANCE_ACCOUNT "[defaults]\nstale_seconds = soon\n", 6, "stale_seconds: 'soon'");
    load_bad(BINANCE_ACCOUNT "[defaults]\nactivation_percent = -1\n", 6,
             "[defaults] activation_percent: -1 is negative");
    load_bad(BINANCE_ACCOUNT "[defaults]\nbreakeven_percent = 1\nbreakeven_offset_percent = 2\n", 5,
             "[defaults] breakeven_offset_percent must be below breakeven_percent");
    load_bad(BINANCE_ACCOUNT "[symbol BTCUSDT]\ncallback_ticks = 5\nsteps = 1:0.5\n", 5,
             "[symbol BTCUSDT] steps are callbacks in percent");
    load_bad(BINANCE_ACCOUNT "[defaults]\ncallback_percent = 1\ncallback_ticks = 3\n", 7,
             "already given by callback_percent at line 6");
    load_bad(BINANCE_ACCOUNT "venue = bybit\n", 5,
             "venue: given twice in one section (first at line 2)");
    load_bad(BINANCE_ACCOUNT "[defaults]\n[defaults]\n", 6,
             "[defaults] appears again; the section was first at line 5");
    load_bad(BINANCE_ACCOUNT BINANCE_ACCOUNT, 5, "[account bn1] appears again");
    load_bad("[account bad/name]\nvenue = binance\n", 1, "account name must be");
    load_bad(BINANCE_ACCOUNT "[symbol btcusdt]\n", 5, "the symbol must be");
    load_bad(BINANCE_ACCOUNT "[http]\nlisten = localhost\n", 6, "is not HOST:PORT");
    load_bad(BINANCE_ACCOUNT "[http]\nlisten = 127.0.0.1:70000\n", 6, "is not HOST:PORT");
    load_bad(BINANCE_ACCOUNT "[notify]\nwebhook_url = ftp://x\n", 6, "must start with https://");
    load_bad(BINANCE_ACCOUNT "[log]\nlevel = loud\n", 6,
             "'loud' is not debug, info, warn or error");
    load_bad(BINANCE_ACCOUNT "[store]\nuri = mysql://x\n", 6, "only a file path");
    load_bad(BINANCE_ACCOUNT "this is not ini\n", 5, "not a [section]");
    load_bad(BINANCE_ACCOUNT "[defaults\n", 5, "closing ']'");
    load_bad("[store]\n", 1, "no [account NAME] section");
    load_bad("[account by1]\nvenue = bybit\nclose_position = true\n"
             "api_key_env = TG_TEST_BN_KEY\napi_secret_env = TG_TEST_BN_SECRET\n",
             3, "close_position: is a Binance setting");
    load_bad(BINANCE_ACCOUNT "rest_url = https://fapi.binance.com\n  /more\n", 6,
             "multi-line values are not supported");
}

static void bad_secrets(void **state) {
    (void)state;
    load_bad("[account bn1]\nvenue = binance\napi_key_env = TG_TEST_UNSET\n"
             "api_secret_env = TG_TEST_BN_SECRET\n",
             3, "the environment variable TG_TEST_UNSET is not set");
    load_bad("[account bn1]\nvenue = binance\napi_key_env = TG_TEST_BN_KEY\n", 1,
             "the API secret is missing");
    load_bad(BINANCE_ACCOUNT "api_secret_file = /nonexistent\n", 5,
             "the API secret already comes from line 4");
    /* a secret written in the file: refused, and not echoed */
    load_bad(BINANCE_ACCOUNT "api_secret = " SECRET "\n", 5, "secrets may not be written");
    load_bad(BINANCE_ACCOUNT "[http]\ntoken = " SECRET "\n", 6, "secrets may not be written");
    load_bad(BINANCE_ACCOUNT "password = " SECRET "\n", 5, "secrets may not be written");
    /* a key pasted where a variable name goes */
    load_bad("[account bn1]\nvenue = binance\napi_key_env = " SECRET "x\n"
             "api_secret_env = TG_TEST_BN_SECRET\n",
             3, "the environment variable it names is not set");
    load_bad("[account bn1]\nvenue = binance\napi_key_env = a+b/" SECRET "\n"
             "api_secret_env = TG_TEST_BN_SECRET\n",
             3, "not an environment variable name");
    /* a key file others may read */
    char loose[TU_PATH_MAX], text[2048];
    tu_path(loose, PREFIX, "loose.key");
    write_mode(loose, SECRET "\n", 0644);
    snprintf(text, sizeof text,
             "[account bn1]\nvenue = binance\napi_key_file = %s\napi_secret_env = "
             "TG_TEST_BN_SECRET\n",
             loose);
    load_bad(text, 3, "has mode 0644; it must be 0600 or stricter");
    snprintf(text, sizeof text, BINANCE_ACCOUNT "[http]\ntoken_file = %s\n", loose);
    load_bad(text, 6, "[http] token_file: ");
    /* a secret with a second line */
    write_mode(loose, SECRET "\nmore\n", 0600);
    snprintf(text, sizeof text,
             "[account bn1]\nvenue = binance\napi_key_file = %s\napi_secret_env = "
             "TG_TEST_BN_SECRET\n",
             loose);
    load_bad(text, 3, "a second line");
    setenv("TG_TEST_EMPTY", "", 1);
    load_bad("[account bn1]\nvenue = binance\napi_key_env = TG_TEST_EMPTY\n"
             "api_secret_env = TG_TEST_BN_SECRET\n",
             3, "is empty");
}

static void every_error_is_kept(void **state) {
    (void)state;
    tg_config *cfg = NULL;
    tg_config_errors errors;
    const char *text = "[account bn1]\n"        /* 1: venue missing */
                       "api_key = " SECRET "\n" /* 2 */
                       "[defaults]\n"           /* 3 */
                       "callback_percent = 0\n" /* 4: invalid set, reported at 3 */
                       "bogus = 1\n"            /* 5 */
                       "[log]\n"                /* 6 */
                       "level = loud\n";        /* 7 */
    assert_int_equal(tg_config_load_all("t.ini", text, &cfg, &errors), TG_E_INVALID);
    assert_null(cfg);
    assert_true(errors.count >= 5);
    int last = 0;
    for (size_t i = 0; i < errors.count; i++) {
        int line = atoi(errors.items[i].msg + strlen("t.ini:"));
        assert_true(line >= last);
        last = line;
        assert_null(strstr(errors.items[i].msg, SECRET));
    }
    assert_non_null(strstr(errors.items[0].msg, "t.ini:1: "));
    assert_non_null(strstr(errors.items[errors.count - 1].msg, "t.ini:7: "));
}

typedef struct diff_log {
    char text[2048]; /* "scope name old->new;" entries */
} diff_log;

static void record(void *ctx, const char *scope, const char *name, const char *old_value,
                   const char *new_value) {
    diff_log *log = ctx;
    size_t len = strlen(log->text);
    snprintf(log->text + len, sizeof log->text - len, "%s %s %s->%s;", scope != NULL ? scope : "*",
             name, old_value, new_value);
}

static void diff_reports_changes(void **state) {
    (void)state;
    tg_config *a = load_ok(BINANCE_ACCOUNT "[defaults]\ncallback_percent = 0.5\n"
                                           "[symbol BTCUSDT]\nactivation_percent = 1\n"
                                           "[symbol ETHUSDT]\nstale_seconds = 5\n");
    tg_config *b = load_ok(BINANCE_ACCOUNT "[defaults]\ncallback_percent = 0.6\n"
                                           "foreign_stops = cancel\n"
                                           "[symbol BTCUSDT]\nactivation_percent = 1\n"
                                           "callback_ticks = 10\n"
                                           "[symbol SOLUSDT]\nsteps = 1:0.5\n");
    diff_log log = {{0}};
    tg_config_diff(a, a, record, &log);
    assert_string_equal(log.text, "");
    tg_config_diff(a, b, record, &log);
    assert_string_equal(log.text, "* callback_percent 0.5->0.6;"
                                  "* foreign_stops leave->cancel;"
                                  "BTCUSDT callback_percent 0.5->unset;"
                                  "BTCUSDT callback_ticks unset->10;"
                                  "ETHUSDT stale_seconds 5->10;"
                                  "SOLUSDT steps off->1:0.5;");
    tg_config_free(a);
    tg_config_free(b);
}

static void check_config_command(void **state) {
    (void)state;
    char ini[TU_PATH_MAX], out[TU_PATH_MAX], errp[TU_PATH_MAX];
    tu_path(ini, PREFIX, "good.ini");
    tu_path(out, PREFIX, "out");
    tu_path(errp, PREFIX, "err");
    tu_write(ini, BINANCE_ACCOUNT "[symbol BTCUSDT]\ncallback_percent = 0.3\n");
    assert_int_equal(tu_run_cli(out, errp, "check-config '%s'", ini), 0);
    char *o = tu_read(out, NULL);
    char want[TU_PATH_MAX + 64];
    snprintf(want, sizeof want, "%s: ok (1 accounts, 1 symbols)\n", ini);
    assert_string_equal(o, want);
    free(o);

    tu_path(ini, PREFIX, "bad.ini");
    tu_write(ini, "[account bn1]\nvenue = bitmex\napi_secret = " SECRET "\n[nope]\n");
    assert_int_equal(tu_run_cli(out, errp, "check-config '%s'", ini), 2);
    char *e = tu_read(errp, NULL);
    o = tu_read(out, NULL);
    assert_non_null(strstr(e, ":2: [account bn1] venue: 'bitmex' is not binance or bybit"));
    assert_non_null(strstr(e, ":3: [account bn1] api_secret: secrets may not be written"));
    assert_non_null(strstr(e, ":4: [nope] unknown section"));
    assert_null(strstr(e, SECRET));
    assert_null(strstr(o, SECRET));
    free(e);
    free(o);

    assert_int_equal(tu_run_cli(out, errp, "check-config /nonexistent/tg.ini"), 2);
    assert_int_equal(tu_run_cli(out, errp, "check-config"), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(binance_minimal),       cmocka_unit_test(bybit_full),
        cmocka_unit_test(diagnose_section),      cmocka_unit_test(symbols_resolve),
        cmocka_unit_test(bad_sections_and_keys), cmocka_unit_test(bad_secrets),
        cmocka_unit_test(every_error_is_kept),   cmocka_unit_test(diff_reports_changes),
        cmocka_unit_test(check_config_command),  cmocka_unit_test(cluster_section),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
