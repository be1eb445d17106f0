/* The control endpoint, /sim/ on both ports: JSON in and out, no
 * authentication. Tests, the demo and benchmarks drive the market through it
 * and read back the request log and the unprotected windows. docs/sim.md is
 * its reference. */
#define _POSIX_C_SOURCE 200809L /* pthread types through uv.h */

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim/sim_int.h"

#define LIMIT_MAX           1000000         /* largest rate limit accepted */
#define TIMEOUT_MS_MAX      3600000         /* largest header/idle timeout accepted */
#define CLOCK_OFFSET_MS_MAX 3155760000000LL /* largest clock skew accepted: 100 years */

typedef struct ctl {
    tg_sim *sim;      /* the emulator */
    sim_resp *resp;   /* the answer */
    sim_params query; /* query parameters */
    cJSON *json;      /* body, or NULL */
} ctl;

static void ctl_error(ctl *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ctl_error(ctl *c, int status, const char *fmt, ...) {
    char msg[TG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sim_buf_reset(&c->resp->body);
    sim_buf_puts(&c->resp->body, "{\"error\":");
    sim_buf_jstr(&c->resp->body, msg);
    sim_buf_puts(&c->resp->body, "}");
    c->resp->status = status;
}

static const char *jstr(const ctl *c, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->json, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An integer field: false when it is there but not a number in
 * ±SIM_JSON_INT_MAX (a cast of 1e400 would be undefined); absent, *out keeps
 * its default. */
static bool jint(const ctl *c, const char *name, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->json, name);
    return v == NULL || sim_json_int(v, -SIM_JSON_INT_MAX, SIM_JSON_INT_MAX, out);
}

/* account and symbol from the body (POST) or the query (GET/DELETE). */
static bool account_symbol(ctl *c, int *a, int *s) {
    const char *an = c->json != NULL ? jstr(c, "account") : sim_param(&c->query, "account");
    const char *sn = c->json != NULL ? jstr(c, "symbol") : sim_param(&c->query, "symbol");
    *a = sim_account_by_name(c->sim, an);
    *s = sim_instrument_find(c->sim, sn);
    if (*a < 0) {
        ctl_error(c, 400, "unknown account '%s'", an != NULL ? an : "");
        return false;
    }
    if (*s < 0) {
        ctl_error(c, 400, "unknown symbol '%s'", sn != NULL ? sn : "");
        return false;
    }
    return true;
}

static void position_answer(ctl *c, int a, int s) {
    const sim_position *p = &c->sim->acct[a].pos[s];
    sim_buf *b = &c->resp->body;
    sim_buf_reset(b);
    sim_buf_puts(b, "{\"account\":");
    sim_buf_jstr(b, c->sim->acct[a].name);
    sim_buf_printf(b, ",\"symbol\":\"%s\",\"size\":", c->sim->inst[s].symbol);
    sim_buf_jdec(b, p->size, sim_qty_dp(c->sim, s));
    sim_buf_puts(b, ",\"entry\":");
    sim_buf_jdec(b, p->entry, sim_price_dp(c->sim, s));
    sim_buf_puts(b, "}");
}

/* POST /sim/position */
static void post_position(ctl *c) {
    int a, s;
    if (!account_symbol(c, &a, &s)) {
        return;
    }
    const char *side = jstr(c, "side"), *size = jstr(c, "size"), *entry = jstr(c, "entry");
    tg_dec q, e = c->sim->mark[s];
    if (side == NULL || (strcmp(side, "long") != 0 && strcmp(side, "short") != 0)) {
        ctl_error(c, 400, "side must be \"long\" or \"short\"");
        return;
    }
    if (size == NULL || tg_dec_parse_cstr(size, &q) != TG_DEC_OK || tg_dec_is_neg(q)) {
        ctl_error(c, 400, "size must be a decimal string >= 0");
        return;
    }
    if (entry != NULL && (tg_dec_parse_cstr(entry, &e) != TG_DEC_OK || !tg_dec_is_pos(e))) {
        ctl_error(c, 400, "entry must be a positive decimal string");
        return;
    }
    sim_position_set(c->sim, a, s, strcmp(side, "long") == 0 ? q : tg_dec_from_units(-q.units), e);
    if (tg_dec_is_zero(q)) {
        sim_expire_stops(c->sim, a, s);
    }
    sim_emit_position(c->sim, a, s);
    position_answer(c, a, s);
}

/* DELETE /sim/position?account=&symbol= */
static void delete_position(ctl *c) {
    int a, s;
    if (!account_symbol(c, &a, &s)) {
        return;
    }
    sim_position_set(c->sim, a, s, tg_dec_from_units(0), tg_dec_from_units(0));
    sim_expire_stops(c->sim, a, s);
    sim_emit_position(c->sim, a, s);
    position_answer(c, a, s);
}

/* POST /sim/mark */
static void post_mark(ctl *c) {
    int s = sim_instrument_find(c->sim, jstr(c, "symbol"));
    const char *price = jstr(c, "price");
    tg_dec p;
    if (s < 0) {
        ctl_error(c, 400, "unknown symbol");
        return;
    }
    if (price == NULL || tg_dec_parse_cstr(price, &p) != TG_DEC_OK || !tg_dec_is_pos(p)) {
        ctl_error(c, 400, "price must be a positive decimal string");
        return;
    }
    sim_mark_set(c->sim, s, p);
    sim_buf_printf(&c->resp->body, "{\"symbol\":\"%s\",\"mark\":", c->sim->inst[s].symbol);
    sim_buf_jdec(&c->resp->body, p, 0);
    sim_buf_puts(&c->resp->body, "}");
}

/* POST /sim/step {"symbol","count"} or {"symbols":[...],"count"}: advances
 * price paths. With "symbols" every listed path steps in this one call, so
 * their stream frames leave together, as an exchange pushes the marks of
 * all symbols at the same instant (Binance markPrice every 1 s or 3 s). */
static void post_step(ctl *c) {
    int64_t count = 1;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(c->json, "symbols");
    int idx[SIM_SYMBOLS_MAX];
    int n = 0;
    if (cJSON_IsArray(list)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            int s = cJSON_IsString(it) ? sim_instrument_find(c->sim, it->valuestring) : -1;
            if (s < 0 || n == SIM_SYMBOLS_MAX) {
                ctl_error(c, 400, "symbols must list known instruments, at most %d",
                          SIM_SYMBOLS_MAX);
                return;
            }
            idx[n++] = s;
        }
    } else {
        idx[0] = sim_instrument_find(c->sim, jstr(c, "symbol"));
        n = idx[0] >= 0 ? 1 : 0;
    }
    if (!jint(c, "count", &count) || n == 0 || count < 1 || count > SIM_PATH_PRICES_MAX) {
        ctl_error(c, 400, "step needs a known symbol (or symbols) and 1 <= count <= %d",
                  SIM_PATH_PRICES_MAX);
        return;
    }
    sim_buf_puts(&c->resp->body, list != NULL ? "{\"steps\":[" : "");
    for (int i = 0; i < n; i++) {
        int s = idx[i];
        int64_t done = 0;
        while (done < count && sim_path_step(c->sim, s)) {
            done++;
        }
        sim_buf_printf(&c->resp->body,
                       "%s{\"symbol\":\"%s\",\"steps\":%lld,\"mark\":", i > 0 ? "," : "",
                       c->sim->inst[s].symbol, (long long)done);
        sim_buf_jdec(&c->resp->body, c->sim->mark[s], 0);
        sim_buf_puts(&c->resp->body, "}");
    }
    sim_buf_puts(&c->resp->body, list != NULL ? "]}" : "");
}

/* POST /sim/fault */
static void post_fault(ctl *c) {
    sim_fault_kind kind;
    int64_t ms = 0, count = 1;
    if (!jint(c, "ms", &ms) || !jint(c, "count", &count)) {
        ctl_error(c, 400, "ms and count must be integers");
        return;
    }
    if (!sim_fault_kind_parse(jstr(c, "kind"), &kind)) {
        ctl_error(c, 400, "kind must be latency, drop, http5xx, timeout, stale or reorder");
        return;
    }
    if (!sim_fault_add(c->sim, jstr(c, "path"), kind, ms, count)) {
        ctl_error(c, 400,
                  "a fault needs a path (< %d bytes), 0 <= ms <= 3600000, count >= 0 "
                  "(0 = until reset), a kind that fits the path (reorder: stream:..., "
                  "timeout/http5xx: REST) and a free slot (%d at most)",
                  SIM_FAULT_PATH_MAX, SIM_FAULTS_MAX);
        return;
    }
    sim_buf_puts(&c->resp->body, "{\"ok\":true}");
}

static void delete_fault(ctl *c) {
    memset(c->sim->faults, 0, sizeof c->sim->faults);
    sim_buf_puts(&c->resp->body, "{\"ok\":true}");
}

/* POST /sim/clock */
static void post_clock(ctl *c) {
    int64_t off = 0;
    if (cJSON_GetObjectItemCaseSensitive(c->json, "offset_ms") == NULL ||
        !sim_json_int(cJSON_GetObjectItemCaseSensitive(c->json, "offset_ms"), -CLOCK_OFFSET_MS_MAX,
                      CLOCK_OFFSET_MS_MAX, &off)) {
        ctl_error(c, 400, "offset_ms must be an integer within ±%lld (100 years)",
                  (long long)CLOCK_OFFSET_MS_MAX);
        return;
    }
    c->sim->clock_offset_ms = off;
    sim_buf_printf(&c->resp->body, "{\"offset_ms\":%lld,\"server_time\":%lld}", (long long)off,
                   (long long)sim_now_ms(c->sim));
}

/* POST /sim/limits */
static void post_limits(ctl *c) {
    int64_t w = c->sim->rate.bn_weight_max, o = c->sim->rate.bn_orders_max;
    int64_t by = c->sim->rate.bybit_max;
    int64_t hdr = c->sim->header_timeout_ms, idle = c->sim->idle_timeout_ms;
    int64_t ban = SIM_BN_BAN_MS; /* optional: tests shorten the ban to live through it */
    const cJSON *ban_item = cJSON_GetObjectItemCaseSensitive(c->json, "binance_ban_ms");
    if (ban_item != NULL && !sim_json_int(ban_item, 1000, SIM_BN_BAN_MS_MAX, &ban)) {
        ctl_error(c, 400, "binance_ban_ms must be an integer, 1000..%d", (int)SIM_BN_BAN_MS_MAX);
        return;
    }
    bool ok = jint(c, "binance_weight_1m", &w) && jint(c, "binance_orders_1m", &o) &&
              jint(c, "bybit_per_second", &by) && jint(c, "header_timeout_ms", &hdr) &&
              jint(c, "idle_timeout_ms", &idle);
    if (!ok || w < 1 || w > LIMIT_MAX || o < 1 || o > LIMIT_MAX || by < 0 || by > LIMIT_MAX ||
        hdr < 1 || hdr > TIMEOUT_MS_MAX || idle < 1 || idle > TIMEOUT_MS_MAX) {
        ctl_error(c, 400,
                  "limits must be 1..%d (bybit_per_second 0 = documented), timeouts 1..%d ms",
                  LIMIT_MAX, TIMEOUT_MS_MAX);
        return;
    }
    c->sim->header_timeout_ms = hdr;
    c->sim->idle_timeout_ms = idle;
    sim_rate *r = &c->sim->rate;
    int64_t ban_until = r->bn_ban_until_ms; /* a ban in force outlives new limits */
    memset(r, 0, sizeof *r);
    r->bn_ban_until_ms = ban_until;
    r->bn_weight_max = w;
    r->bn_orders_max = o;
    r->bybit_max = (int)by;
    r->bn_ban_ms = ban;
    sim_buf_printf(
        &c->resp->body,
        "{\"binance_weight_1m\":%lld,\"binance_orders_1m\":%lld,\"bybit_per_second\":%lld,"
        "\"header_timeout_ms\":%lld,\"idle_timeout_ms\":%lld,\"binance_ban_ms\":%lld}",
        (long long)w, (long long)o, (long long)by, (long long)hdr, (long long)idle, (long long)ban);
}

static void log_entry_json(sim_buf *b, const sim_log_entry *e) {
    assert(b != NULL);
    assert(e != NULL);
    sim_buf_printf(b, "{\"seq\":%llu,\"venue\":\"%s\",\"account\":", (unsigned long long)e->seq,
                   sim_venue_name(e->venue));
    sim_buf_jstr(b, e->account);
    sim_buf_puts(b, ",\"method\":");
    sim_buf_jstr(b, e->method);
    sim_buf_puts(b, ",\"path\":");
    sim_buf_jstr(b, e->path);
    sim_buf_puts(b, ",\"params\":");
    sim_buf_jstr(b, e->params);
    sim_buf_puts(b, ",\"user_agent\":");
    sim_buf_jstr(b, e->user_agent);
    sim_buf_printf(b, ",\"recv_us\":%lld,\"resp_us\":%lld,\"status\":%d,\"code\":%d}",
                   (long long)e->recv_us, (long long)e->resp_us, e->status, e->code);
}

/* GET /sim/requests?venue=&since= */
static void get_requests(ctl *c) {
    const char *venue = sim_param(&c->query, "venue");
    const char *since_text = sim_param(&c->query, "since");
    uint64_t since = since_text != NULL ? strtoull(since_text, NULL, 10) : 0;
    tg_sim *sim = c->sim;
    uint64_t first = sim->log_seq > SIM_LOG_MAX ? sim->log_seq - SIM_LOG_MAX + 1 : 1;
    if (since + 1 > first) {
        first = since + 1;
    }
    sim_buf *b = &c->resp->body;
    sim_buf_printf(b, "{\"last_seq\":%llu,\"requests\":[", (unsigned long long)sim->log_seq);
    bool comma = false;
    for (uint64_t seq = first; seq <= sim->log_seq; seq++) {
        const sim_log_entry *e = &sim->log[(seq - 1) % SIM_LOG_MAX];
        if (venue != NULL && strcmp(venue, sim_venue_name(e->venue)) != 0) {
            continue;
        }
        sim_buf_puts(b, comma ? "," : "");
        comma = true;
        log_entry_json(b, e);
    }
    sim_buf_puts(b, "]}");
}

/* GET /sim/marks?since=: mark changes newer than sequence number since,
 * with the emulator-clock time their stream frames were written. */
static void get_marks(ctl *c) {
    const char *since_text = sim_param(&c->query, "since");
    uint64_t since = since_text != NULL ? strtoull(since_text, NULL, 10) : 0;
    tg_sim *sim = c->sim;
    uint64_t first =
        sim->marks_seq > SIM_MARKS_LOG_MAX ? sim->marks_seq - SIM_MARKS_LOG_MAX + 1 : 1;
    first = since + 1 > first ? since + 1 : first;
    sim_buf *b = &c->resp->body;
    sim_buf_printf(b, "{\"last_seq\":%llu,\"marks\":[", (unsigned long long)sim->marks_seq);
    for (uint64_t seq = first; seq <= sim->marks_seq; seq++) {
        const sim_mark_entry *e = &sim->marks_log[(seq - 1) % SIM_MARKS_LOG_MAX];
        assert(e->seq == seq);
        sim_buf_printf(b, "%s{\"seq\":%llu,\"symbol\":\"%s\",\"price\":", seq > first ? "," : "",
                       (unsigned long long)seq, sim->inst[e->symbol].symbol);
        sim_buf_jdec(b, e->price, 0);
        sim_buf_printf(b, ",\"push_us\":%lld}", (long long)e->push_us);
    }
    sim_buf_puts(b, "]}");
}

static void stops_json(ctl *c, sim_buf *b, int a, int s) {
    assert(b != NULL);
    sim_buf_puts(b, "\"open_stops\":[");
    bool comma = false;
    for (size_t i = 0; i < c->sim->orders_max; i++) {
        const sim_order *o = &c->sim->orders[i];
        if (!o->live || !o->conditional || o->account != a || o->symbol != s) {
            continue;
        }
        sim_buf_printf(b, "%s{\"id\":\"%llu\",\"client_id\":", comma ? "," : "",
                       (unsigned long long)o->id);
        sim_buf_jstr(b, o->client_id);
        sim_buf_printf(b, ",\"type\":\"%s\",\"side\":\"%s\",\"trigger\":",
                       o->position_sl ? "POSITION_SL" : sim_otype_name(o->type),
                       o->buy ? "BUY" : "SELL");
        sim_buf_jdec(b, o->trigger, sim_price_dp(c->sim, s));
        sim_buf_puts(b, ",\"qty\":");
        sim_buf_jdec(b, o->qty, sim_qty_dp(c->sim, s));
        sim_buf_printf(b, ",\"close_position\":%s,\"reduce_only\":%s}",
                       o->close_position || o->position_sl ? "true" : "false",
                       o->reduce_only ? "true" : "false");
        comma = true;
    }
    sim_buf_puts(b, "]");
}

/* GET /sim/protection?account=&symbol= */
static void get_protection(ctl *c) {
    int a, s;
    if (!account_symbol(c, &a, &s)) {
        return;
    }
    const sim_windows *w = &c->sim->acct[a].pos[s].win;
    int64_t open_us = w->open ? sim_mono_us(c->sim) - w->since_us : 0;
    int64_t total = w->total_us + open_us;
    int64_t longest = open_us > w->longest_us ? open_us : w->longest_us;
    position_answer(c, a, s);
    sim_buf *b = &c->resp->body;
    b->len--; /* reopen the object */
    sim_buf_puts(b, ",");
    stops_json(c, b, a, s);
    sim_buf_printf(b,
                   ",\"unprotected\":{\"open\":%s,\"open_us\":%lld,\"count\":%llu,"
                   "\"total_us\":%lld,\"longest_us\":%lld,\"total_ms\":%lld,\"longest_ms\":%lld,"
                   "\"windows\":[",
                   w->open ? "true" : "false", (long long)open_us,
                   (unsigned long long)(w->count + (w->open ? 1 : 0)), (long long)total,
                   (long long)longest, (long long)(total / 1000), (long long)(longest / 1000));
    uint64_t first = w->count > SIM_WINDOWS_KEPT ? w->count - SIM_WINDOWS_KEPT : 0;
    for (uint64_t i = first; i < w->count; i++) {
        size_t slot = (size_t)(i % SIM_WINDOWS_KEPT);
        sim_buf_printf(b, "%s{\"start_us\":%lld,\"len_us\":%lld}", i > first ? "," : "",
                       (long long)w->recent_start_us[slot], (long long)w->recent_len_us[slot]);
    }
    sim_buf_puts(b, "]}}");
}

/* DELETE /sim/reset: positions, orders, faults, log, clock and limits back
 * to the start; the marks go back to the table, price paths stop. Generated
 * instruments stay (their marks go back to their start). */
static void delete_reset(ctl *c) {
    tg_sim *sim = c->sim;
    memset(sim->pos_block, 0, SIM_ACCOUNTS_MAX * sim->inst_count * sizeof *sim->pos_block);
    for (size_t i = 0; i < sim->acct_count; i++) {
        sim->acct[i].listen_key[0] = '\0';
    }
    memset(sim->faults, 0, sizeof sim->faults);
    memset(sim->log, 0, SIM_LOG_MAX * sizeof *sim->log);
    sim->log_seq = 0;
    memset(sim->marks_log, 0, SIM_MARKS_LOG_MAX * sizeof *sim->marks_log);
    sim->marks_seq = 0;
    sim->clock_offset_ms = 0;
    sim_paths_free(sim);
    memset(&sim->rate, 0, sizeof sim->rate);
    sim->header_timeout_ms = SIM_HEADER_TIMEOUT_MS;
    sim->idle_timeout_ms = SIM_IDLE_TIMEOUT_MS;
    sim_market_init(sim);
    sim_buf_puts(&c->resp->body, "{\"ok\":true}");
}

/* GET /sim/state: marks and accounts (never secrets). */
static void get_state(ctl *c) {
    sim_buf *b = &c->resp->body;
    sim_buf_printf(b, "{\"ports\":{\"binance\":%u,\"bybit\":%u},\"server_time\":%lld,\"marks\":{",
                   (unsigned)c->sim->port[SIM_BINANCE], (unsigned)c->sim->port[SIM_BYBIT],
                   (long long)sim_now_ms(c->sim));
    for (size_t i = 0; i < c->sim->inst_count; i++) {
        sim_buf_printf(b, "%s\"%s\":", i > 0 ? "," : "", c->sim->inst[i].symbol);
        sim_buf_jdec(b, c->sim->mark[i], sim_price_dp(c->sim, (int)i));
    }
    sim_buf_puts(b, "},\"accounts\":[");
    for (size_t i = 0; i < c->sim->acct_count; i++) {
        const sim_account *a = &c->sim->acct[i];
        sim_buf_printf(b, "%s{\"venue\":\"%s\",\"name\":", i > 0 ? "," : "",
                       sim_venue_name(a->venue));
        sim_buf_jstr(b, a->name);
        sim_buf_puts(b, ",\"api_key\":");
        sim_buf_jstr(b, a->key);
        sim_buf_puts(b, "}");
    }
    sim_buf_printf(
        b,
        "],\"connections\":{\"binance\":%zu,\"bybit\":%zu},"
        "\"market_streams\":{\"binance\":%zu,\"bybit\":%zu},"
        "\"slow_disconnects\":%llu,\"timeout_closes\":%llu,\"evictions\":%llu",
        sim_conn_count(c->sim, SIM_BINANCE, false), sim_conn_count(c->sim, SIM_BYBIT, false),
        sim_conn_count(c->sim, SIM_BINANCE, true), sim_conn_count(c->sim, SIM_BYBIT, true),
        (unsigned long long)c->sim->slow_disconnects, (unsigned long long)c->sim->timeout_closes,
        (unsigned long long)c->sim->evictions);
    /* totals for a benchmark that waits for every position to be protected */
    size_t orders = 0, open = 0, unprotected = 0;
    for (size_t i = 0; i < c->sim->orders_max; i++) {
        orders += c->sim->orders[i].live;
    }
    for (size_t i = 0; i < c->sim->acct_count * c->sim->inst_count; i++) {
        const sim_position *p = &c->sim->pos_block[i];
        open += !tg_dec_is_zero(p->size);
        unprotected += !tg_dec_is_zero(p->size) && p->win.open;
    }
    sim_buf_printf(b, ",\"open_orders\":%zu,\"open_positions\":%zu,\"unprotected_now\":%zu}",
                   orders, open, unprotected);
}

static void post_scenario(ctl *c, const char *body, size_t len) {
    tg_err err = {0};
    if (sim_scenario_apply(c->sim, body, len, &err) != TG_OK) {
        ctl_error(c, 400, "%s", err.msg);
        return;
    }
    sim_buf_puts(&c->resp->body, "{\"ok\":true}");
}

typedef struct ctl_route {
    const char *method;     /* HTTP method */
    const char *path;       /* exact path */
    bool body;              /* needs a JSON object body */
    void (*handler)(ctl *); /* the operation */
} ctl_route;

static const ctl_route routes[] = {
    {"POST", "/sim/position", true, post_position},
    {"DELETE", "/sim/position", false, delete_position},
    {"POST", "/sim/mark", true, post_mark},
    {"POST", "/sim/step", true, post_step},
    {"POST", "/sim/fault", true, post_fault},
    {"DELETE", "/sim/fault", false, delete_fault},
    {"POST", "/sim/clock", true, post_clock},
    {"POST", "/sim/limits", true, post_limits},
    {"GET", "/sim/requests", false, get_requests},
    {"GET", "/sim/marks", false, get_marks},
    {"GET", "/sim/protection", false, get_protection},
    {"DELETE", "/sim/reset", false, delete_reset},
    {"GET", "/sim/state", false, get_state},
};

void sim_control_handle(tg_sim *sim, const char *method, const char *path, const char *query,
                        const char *body, size_t body_len, sim_resp *resp) {
    assert(sim != NULL && method != NULL && path != NULL && resp != NULL);
    ctl c = {.sim = sim, .resp = resp};
    resp->status = 200;
    if (!sim_params_parse(query, strlen(query), &c.query)) {
        ctl_error(&c, 400, "the query string is malformed");
        return;
    }
    if (strcmp(method, "POST") == 0 && strcmp(path, "/sim/scenario") == 0) {
        post_scenario(&c, body, body_len);
        return;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const ctl_route *r = &routes[i];
        if (strcmp(r->method, method) != 0 || strcmp(r->path, path) != 0) {
            continue;
        }
        if (r->body) {
            c.json = cJSON_ParseWithLength(body, body_len);
            if (!cJSON_IsObject(c.json)) {
                ctl_error(&c, 400, "the body must be a JSON object");
                cJSON_Delete(c.json);
                return;
            }
        }
        r->handler(&c);
        cJSON_Delete(c.json);
        return;
    }
    ctl_error(&c, 404, "no control operation %s %s (see docs/sim.md)", method, path);
}
