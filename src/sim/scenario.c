/* Accounts and scenario files, and the price paths they describe: a seeded
 * random walk, a CSV replay, or an explicit list of steps. */
#define _POSIX_C_SOURCE 200809L /* pthread types through uv.h */

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "replay/pricefile.h"
#include "sim/sim_int.h"

#define FILE_BYTES_MAX (64u << 20) /* bytes of a scenario, accounts or CSV file */
#define WALK_BPS_MAX   1000        /* largest walk step: 10 % */

/* The documented built-in test accounts (docs/sim.md): the Binance pair is
 * the one of Binance's own signing example, the Bybit pair the one of the
 * derived vectors in PROTOCOLS.md, so doc examples verify unchanged. */
void sim_accounts_builtin(tg_sim *sim) {
    assert(sim != NULL);
    static const struct {
        sim_venue venue;
        const char *name, *key, *secret;
    } builtin[] = {
        {SIM_BINANCE, "demo-binance",
         "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83",
         "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"},
        {SIM_BYBIT, "demo-bybit", "XXXXXXXXXX", "test-secret"},
    };
    sim->acct_count = 0;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        sim_account *a = &sim->acct[sim->acct_count++];
        memset(a, 0, sizeof *a);
        a->venue = builtin[i].venue;
        sim_strlcpy(a->name, builtin[i].name, sizeof a->name);
        sim_strlcpy(a->key, builtin[i].key, sizeof a->key);
        sim_strlcpy(a->secret, builtin[i].secret, sizeof a->secret);
    }
}

/* The whole file, NUL-terminated; NULL after filling err. */
static char *read_file(const char *path, size_t *len_out, tg_err *err) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        tg_err_set(err, TG_E_IO, "cannot open %s", path);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = cap == 0 ? 131072 : cap * 2;
            char *p = cap <= FILE_BYTES_MAX ? realloc(buf, cap) : NULL;
            if (p == NULL) {
                free(buf);
                fclose(f);
                tg_err_set(err, TG_E_CAPACITY, "%s is larger than %u bytes", path, FILE_BYTES_MAX);
                return NULL;
            }
            buf = p;
        }
        size_t n = fread(buf + len, 1, 65536, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    fclose(f);
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

static const char *jstr(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An integer field, the fallback when it is absent, and INT64_MIN (which
 * every caller's range check refuses) when it is not an integer in
 * ±SIM_JSON_INT_MAX: the cast of 1e400 would be undefined. */
static int64_t jint(const cJSON *o, const char *name, int64_t fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    int64_t n = 0;
    if (v == NULL) {
        return fallback;
    }
    return sim_json_int(v, -SIM_JSON_INT_MAX, SIM_JSON_INT_MAX, &n) ? n : INT64_MIN;
}

static tg_status account_add(tg_sim *sim, const cJSON *item, size_t i, tg_err *err) {
    assert(sim != NULL);
    const char *venue = jstr(item, "venue"), *name = jstr(item, "name");
    const char *key = jstr(item, "api_key"), *secret = jstr(item, "api_secret");
    if (venue == NULL || name == NULL || key == NULL || secret == NULL) {
        return tg_err_set(err, TG_E_INVALID,
                          "account %zu needs venue, name, api_key and api_secret", i);
    }
    bool bn = strcmp(venue, "binance") == 0;
    if (!bn && strcmp(venue, "bybit") != 0) {
        return tg_err_set(err, TG_E_INVALID, "account %zu: venue must be binance or bybit", i);
    }
    if (name[0] == '\0' || key[0] == '\0' || secret[0] == '\0') {
        /* an empty secret would make every HMAC a public computation */
        return tg_err_set(err, TG_E_INVALID, "account %zu ('%s'): %s is empty", i, name,
                          name[0] == '\0' ? "name" : (key[0] == '\0' ? "api_key" : "api_secret"));
    }
    if (strlen(name) >= SIM_NAME_MAX || strlen(key) >= SIM_KEY_MAX ||
        strlen(secret) >= SIM_KEY_MAX) {
        return tg_err_set(err, TG_E_INVALID,
                          "account %zu ('%.31s'): name (< %d bytes), api_key or api_secret "
                          "(< %d bytes) too long",
                          i, name, SIM_NAME_MAX, SIM_KEY_MAX);
    }
    if (sim->acct_count >= SIM_ACCOUNTS_MAX) {
        return tg_err_set(err, TG_E_CAPACITY, "more than %d accounts", SIM_ACCOUNTS_MAX);
    }
    if (sim_account_by_name(sim, name) >= 0) {
        return tg_err_set(err, TG_E_INVALID, "account name '%s' appears twice", name);
    }
    sim_account *a = &sim->acct[sim->acct_count++];
    memset(a, 0, sizeof *a);
    a->venue = bn ? SIM_BINANCE : SIM_BYBIT;
    sim_strlcpy(a->name, name, sizeof a->name);
    sim_strlcpy(a->key, key, sizeof a->key);
    sim_strlcpy(a->secret, secret, sizeof a->secret);
    return TG_OK;
}

tg_status sim_accounts_load(tg_sim *sim, const char *path, tg_err *err) {
    assert(sim != NULL);
    size_t len = 0;
    char *text = read_file(path, &len, err);
    if (text == NULL) {
        return TG_E_IO;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return tg_err_set(err, TG_E_INVALID, "%s is not a JSON list of accounts", path);
    }
    sim->acct_count = 0;
    tg_status st = TG_OK;
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (st == TG_OK) {
            st = account_add(sim, item, i++, err);
        }
    }
    cJSON_Delete(root);
    return st;
}

/* ---- price paths ---- */

/* The close of every row of a price file (ticks, Binance klines or OHLCV,
 * read by the one price-file reader of src/replay: the emulator replays
 * what `trailguard replay` back-tests). */
static tg_status csv_load(const char *path, int64_t limit, sim_path *p, tg_err *err) {
    assert(p != NULL);
    tg_pricefile pf;
    tg_status st = tg_pricefile_load(path, &pf, NULL, err);
    if (st != TG_OK) {
        return st;
    }
    size_t walk = pf.walk_len > 0 ? pf.walk_len : 1; /* a bar is walked O, H/L, L/H, C */
    size_t rows = pf.count / walk;
    if (limit > 0 && (uint64_t)limit < rows) {
        rows = (size_t)limit;
    }
    if (rows > SIM_PATH_PRICES_MAX) {
        rows = SIM_PATH_PRICES_MAX;
    }
    if (rows == 0) {
        tg_pricefile_free(&pf);
        return tg_err_set(err, TG_E_INVALID, "%s holds no prices", path);
    }
    p->prices = calloc(rows, sizeof *p->prices);
    if (p->prices == NULL) {
        tg_pricefile_free(&pf);
        return tg_err_set(err, TG_E_NOMEM, "out of memory for a price path");
    }
    for (size_t i = 0; i < rows; i++) {
        assert(i * walk + walk - 1 < pf.count);
        p->prices[i] = pf.points[i * walk + walk - 1].price;
    }
    p->count = rows;
    tg_pricefile_free(&pf);
    return TG_OK;
}

static tg_status steps_load(const cJSON *arr, sim_path *p, tg_err *err) {
    assert(p != NULL);
    int n = cJSON_GetArraySize(arr);
    if (n <= 0 || n > SIM_PATH_PRICES_MAX) {
        return tg_err_set(err, TG_E_INVALID, "a steps path needs 1 to %d prices",
                          SIM_PATH_PRICES_MAX);
    }
    p->prices = calloc((size_t)n, sizeof *p->prices);
    if (p->prices == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "out of memory for a price path");
    }
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsString(v) || tg_dec_parse_cstr(v->valuestring, &p->prices[i]) != TG_DEC_OK ||
            !tg_dec_is_pos(p->prices[i])) {
            free(p->prices);
            p->prices = NULL;
            return tg_err_set(err, TG_E_INVALID, "price %d of a steps path is not a decimal string",
                              i);
        }
    }
    p->count = (size_t)n;
    return TG_OK;
}

static tg_status path_add(tg_sim *sim, const cJSON *item, tg_err *err) {
    assert(sim != NULL);
    int symbol = sim_instrument_find(sim, jstr(item, "symbol"));
    const char *kind = jstr(item, "kind");
    if (symbol < 0 || kind == NULL) {
        return tg_err_set(err, TG_E_INVALID, "a path needs a known symbol and a kind");
    }
    sim_path p = {.interval_ms = jint(item, "interval_ms", 1000)};
    p.loop = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "loop"));
    if (p.interval_ms < 1 || p.interval_ms > 3600000) {
        return tg_err_set(err, TG_E_INVALID, "interval_ms must be 1..3600000");
    }
    tg_status st = TG_OK;
    if (strcmp(kind, "walk") == 0) {
        p.kind = SIM_PATH_WALK;
        p.step_bps = jint(item, "step_bps", 10);
        if (p.step_bps < 1 || p.step_bps > WALK_BPS_MAX) {
            return tg_err_set(err, TG_E_INVALID, "step_bps must be 1..%d", WALK_BPS_MAX);
        }
    } else if (strcmp(kind, "csv") == 0 && jstr(item, "file") != NULL) {
        p.kind = SIM_PATH_LIST;
        int64_t limit = jint(item, "limit", 0);
        if (limit < 0 || limit > SIM_PATH_PRICES_MAX) {
            return tg_err_set(err, TG_E_INVALID, "limit must be 0..%d", SIM_PATH_PRICES_MAX);
        }
        st = csv_load(jstr(item, "file"), limit, &p, err);
    } else if (strcmp(kind, "steps") == 0) {
        p.kind = SIM_PATH_LIST;
        st = steps_load(cJSON_GetObjectItemCaseSensitive(item, "prices"), &p, err);
    } else {
        return tg_err_set(err, TG_E_INVALID, "path kind must be walk, csv (with file) or steps");
    }
    if (st != TG_OK) {
        return st;
    }
    tg_dec start;
    if (jstr(item, "start") != NULL &&
        tg_dec_parse_cstr(jstr(item, "start"), &start) == TG_DEC_OK && tg_dec_is_pos(start)) {
        sim->mark[symbol] = start;
    }
    free(sim->path[symbol].prices);
    p.due_ms = -1; /* set on the first tick */
    sim->path[symbol] = p;
    return TG_OK;
}

void sim_paths_free(tg_sim *sim) {
    assert(sim != NULL);
    for (size_t i = 0; i < SIM_SYMBOLS_MAX; i++) {
        free(sim->path[i].prices);
        memset(&sim->path[i], 0, sizeof sim->path[i]);
    }
}

static tg_dec walk_next(tg_sim *sim, int symbol, int64_t step_bps) {
    assert(sim != NULL);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    int64_t bps = (int64_t)(sim_rand(sim) % (uint64_t)(2 * step_bps + 1)) - step_bps;
    tg_dec num, den, next, rounded;
    tg_dec_from_int(10000 + bps, &num);
    tg_dec_from_int(10000, &den);
    tg_dec tick = sim->inst[symbol].tick_d;
    /* away from the mark, to the tick: flooring every step made a walk fall
     * (an up step smaller than a tick was lost, a down step was not) */
    tg_dec_round way = bps >= 0 ? TG_ROUND_CEIL : TG_ROUND_FLOOR;
    if (tg_dec_mul_ratio(sim->mark[symbol], num, den, way, &next) != TG_DEC_OK ||
        tg_dec_round_tick(next, tick, way, &rounded) != TG_DEC_OK ||
        tg_dec_lt(rounded, sim->inst[symbol].min_price_d)) {
        return sim->mark[symbol];
    }
    return rounded;
}

bool sim_path_step(tg_sim *sim, int symbol) {
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    sim_path *p = &sim->path[symbol];
    if (p->kind == SIM_PATH_WALK) {
        sim_mark_set(sim, symbol, walk_next(sim, symbol, p->step_bps));
        return true;
    }
    if (p->kind != SIM_PATH_LIST || (p->next >= p->count && !p->loop)) {
        return false;
    }
    if (p->next >= p->count) {
        p->next = 0;
    }
    sim_mark_set(sim, symbol, p->prices[p->next++]);
    return true;
}

void sim_paths_tick(tg_sim *sim, int64_t now_ms) {
    assert(sim != NULL);
    for (size_t i = 0; i < sim->inst_count; i++) {
        sim_path *p = &sim->path[i];
        if (p->kind == SIM_PATH_NONE) {
            continue;
        }
        if (p->due_ms < 0) {
            p->due_ms = now_ms + p->interval_ms;
            continue;
        }
        /* bounded catch-up: a stalled loop does not replay a burst */
        for (int k = 0; k < 10 && p->due_ms <= now_ms; k++) {
            sim_path_step(sim, (int)i);
            p->due_ms += p->interval_ms;
        }
        if (p->due_ms <= now_ms) {
            p->due_ms = now_ms + p->interval_ms;
        }
    }
}

/* ---- scenario ---- */

bool sim_fault_add(tg_sim *sim, const char *path, sim_fault_kind kind, int64_t ms, int64_t count) {
    assert(sim != NULL);
    if (path == NULL || path[0] == '\0' || strlen(path) >= SIM_FAULT_PATH_MAX || ms < 0 ||
        ms > 3600000 || count < 0) {
        return false;
    }
    /* reorder acts on stream messages, timeout and http5xx on REST answers;
     * latency, drop and stale on both */
    bool stream = strncmp(path, "stream:", 7) == 0;
    if ((stream && (kind == SIM_FAULT_TIMEOUT || kind == SIM_FAULT_HTTP5XX)) ||
        (!stream && kind == SIM_FAULT_REORDER)) {
        return false;
    }
    for (size_t i = 0; i < SIM_FAULTS_MAX; i++) {
        sim_fault *f = &sim->faults[i];
        if (!f->live) {
            *f = (sim_fault){.live = true, .kind = kind, .ms = ms};
            f->remaining = count == 0 ? -1 : count;
            sim_strlcpy(f->path, path, sizeof f->path);
            return true;
        }
    }
    return false;
}

static tg_status scenario_positions(tg_sim *sim, const cJSON *arr, tg_err *err) {
    assert(sim != NULL);
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        int a = sim_account_by_name(sim, jstr(item, "account"));
        int s = sim_instrument_find(sim, jstr(item, "symbol"));
        const char *side = jstr(item, "side"), *size = jstr(item, "size");
        const char *entry = jstr(item, "entry");
        tg_dec q, e;
        if (a < 0 || s < 0 || side == NULL || size == NULL ||
            tg_dec_parse_cstr(size, &q) != TG_DEC_OK || !tg_dec_is_pos(q) ||
            (strcmp(side, "long") != 0 && strcmp(side, "short") != 0)) {
            return tg_err_set(err, TG_E_INVALID,
                              "a scenario position needs a known account and symbol, side "
                              "long|short and a positive size");
        }
        e = sim->mark[s];
        if (entry != NULL && (tg_dec_parse_cstr(entry, &e) != TG_DEC_OK || !tg_dec_is_pos(e))) {
            return tg_err_set(err, TG_E_INVALID, "a scenario position's entry is not a price");
        }
        sim_position_set(sim, a, s, strcmp(side, "long") == 0 ? q : tg_dec_from_units(-q.units), e);
    }
    return TG_OK;
}

static tg_status scenario_faults(tg_sim *sim, const cJSON *arr, tg_err *err) {
    assert(sim != NULL);
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        sim_fault_kind kind;
        if (!sim_fault_kind_parse(jstr(item, "kind"), &kind) ||
            !sim_fault_add(sim, jstr(item, "path"), kind, jint(item, "ms", 0),
                           jint(item, "count", 1))) {
            return tg_err_set(err, TG_E_INVALID,
                              "a scenario fault needs a path, a kind (latency, drop, http5xx, "
                              "timeout, stale, reorder), ms >= 0 and count >= 0");
        }
    }
    return TG_OK;
}

static tg_status scenario_marks(tg_sim *sim, const cJSON *obj, tg_err *err) {
    assert(sim != NULL);
    const cJSON *item;
    cJSON_ArrayForEach(item, obj) {
        int s = sim_instrument_find(sim, item->string);
        tg_dec d;
        if (s < 0 || !cJSON_IsString(item) ||
            tg_dec_parse_cstr(item->valuestring, &d) != TG_DEC_OK || !tg_dec_is_pos(d)) {
            return tg_err_set(err, TG_E_INVALID,
                              "scenario marks: '%s' needs a known symbol and a "
                              "positive decimal string",
                              item->string != NULL ? item->string : "?");
        }
        sim->mark[s] = d;
    }
    return TG_OK;
}

/* "instruments": {"count": 1000, "prefix": "S", "quote": "USDT", "tick": "0.01",
 * "step": "0.001", "start": "100"}; every key but count has that default. */
static tg_status scenario_instruments(tg_sim *sim, const cJSON *obj, tg_err *err) {
    assert(sim != NULL);
    if (obj == NULL) {
        return TG_OK;
    }
    if (!cJSON_IsObject(obj)) {
        return tg_err_set(err, TG_E_INVALID, "instruments must be an object");
    }
    sim_inst_spec spec = {.count = jint(obj, "count", 0)};
    static const struct {
        const char *key, *fallback;
        size_t offset;
    } texts[] = {
        {"prefix", "S", offsetof(sim_inst_spec, prefix)},
        {"quote", "USDT", offsetof(sim_inst_spec, quote)},
        {"tick", "0.01", offsetof(sim_inst_spec, tick)},
        {"step", "0.001", offsetof(sim_inst_spec, step)},
        {"start", "100", offsetof(sim_inst_spec, start)},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, texts[i].key);
        const char *text = v == NULL ? texts[i].fallback : jstr(obj, texts[i].key);
        if (text == NULL || strlen(text) >= SIM_INST_TEXT_MAX) {
            return tg_err_set(err, TG_E_INVALID, "instruments: %s must be a string below %d bytes",
                              texts[i].key, SIM_INST_TEXT_MAX);
        }
        sim_strlcpy((char *)&spec + texts[i].offset, text, SIM_INST_TEXT_MAX);
    }
    return sim_instruments_generate(sim, &spec, err);
}

tg_status sim_scenario_apply(tg_sim *sim, const char *json, size_t len, tg_err *err) {
    assert(sim != NULL);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return tg_err_set(err, TG_E_INVALID, "the scenario is not a JSON object");
    }
    tg_status st =
        scenario_instruments(sim, cJSON_GetObjectItemCaseSensitive(root, "instruments"), err);
    if (st == TG_OK) {
        st = scenario_marks(sim, cJSON_GetObjectItemCaseSensitive(root, "marks"), err);
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "paths")) {
        if (st == TG_OK) {
            st = path_add(sim, item, err);
        }
    }
    if (st == TG_OK) {
        st = scenario_positions(sim, cJSON_GetObjectItemCaseSensitive(root, "positions"), err);
    }
    if (st == TG_OK) {
        st = scenario_faults(sim, cJSON_GetObjectItemCaseSensitive(root, "faults"), err);
    }
    cJSON_Delete(root);
    return st;
}

tg_status sim_scenario_load(tg_sim *sim, const char *path, tg_err *err) {
    assert(sim != NULL);
    size_t len = 0;
    char *text = read_file(path, &len, err);
    if (text == NULL) {
        return TG_E_IO;
    }
    tg_status st = sim_scenario_apply(sim, text, len, err);
    free(text);
    if (st != TG_OK && err != NULL) {
        char msg[TG_ERR_MSG_MAX];
        sim_strlcpy(msg, err->msg, sizeof msg);
        tg_err_set(err, st, "%s: %s", path, msg);
    }
    return st;
}
