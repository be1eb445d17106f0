/* trailguard demo — the daemon live against the in-process emulator: both
 * venues, several positions on seeded price paths, a SIGKILL and restart
 * halfway, a position opened while it runs, and a summary at the end. */
#define _POSIX_C_SOURCE 200809L

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "cli/cli.h"
#include "replay/chart.h"
#include "trailguard/store.h"
#include "trailguard/sim.h"

#define DEMO_OUT        "demo-out"
#define DEMO_STEP_MS    250 /* one price step, ms (at speed 1) */
#define DEMO_POSITIONS  6   /* positions the demo follows, the late one included */
#define DEMO_ANSWER_MAX (1u << 20)
#define DEMO_SYMBOLS    4

/* The built-in emulator accounts (docs/sim.md): published test vectors. */
#define BN_KEY    "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
#define BN_SECRET "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
#define BY_KEY    "XXXXXXXXXX"
#define BY_SECRET "test-secret"

typedef struct demo_symbol {
    const char *symbol; /* instrument */
    int64_t start;      /* start price, in ticks */
    int dp;             /* decimals of the tick */
    int dir;            /* +1 rallies then pulls back, −1 the mirror image */
} demo_symbol;

static const demo_symbol symbols[DEMO_SYMBOLS] = {
    {"BTCUSDT", 500000, 1, +1}, /* 50000.0, tick 0.1 */
    {"ETHUSDT", 300000, 2, -1}, /* 3000.00, tick 0.01 */
    {"SOLUSDT", 15000, 2, +1},  /* 150.00 */
    {"XRPUSDT", 6000, 4, -1},   /* 0.6000 */
};

typedef struct demo_pos {
    const char *account; /* emulator account */
    const char *venue;   /* binance / bybit */
    const char *symbol;  /* instrument */
    const char *side;    /* long / short */
    const char *size;    /* quantity */
    bool late;           /* opened while the daemon runs */
    /* what the demo saw */
    bool seen;              /* the daemon reported it */
    bool activated;         /* state went ACTIVE */
    bool closed;            /* the position left the daemon */
    uint32_t updates;       /* stop requests sent */
    char entry[32];         /* entry price */
    char stop[32];          /* last stop on the exchange */
    char state[16];         /* last engine state */
    char mark[32];          /* last mark */
    char action[64];        /* last action */
    char activation[32];    /* activation price */
    int64_t protected_ms;   /* daemon: time to first stop */
    int64_t unprotected_ms; /* emulator: total unprotected time */
    int64_t windows;        /* emulator: unprotected windows */
} demo_pos;

static demo_pos positions[DEMO_POSITIONS] = {
    {.account = "demo-binance",
     .venue = "binance",
     .symbol = "BTCUSDT",
     .side = "long",
     .size = "0.010",
     .late = false},
    {.account = "demo-binance",
     .venue = "binance",
     .symbol = "ETHUSDT",
     .side = "short",
     .size = "0.500",
     .late = false},
    {.account = "demo-bybit",
     .venue = "bybit",
     .symbol = "SOLUSDT",
     .side = "long",
     .size = "10",
     .late = false},
    {.account = "demo-bybit",
     .venue = "bybit",
     .symbol = "XRPUSDT",
     .side = "short",
     .size = "1000",
     .late = false},
    {.account = "demo-bybit",
     .venue = "bybit",
     .symbol = "BTCUSDT",
     .side = "long",
     .size = "0.010",
     .late = false},
    {.account = "demo-binance",
     .venue = "binance",
     .symbol = "SOLUSDT",
     .side = "long",
     .size = "20",
     .late = true},
};

typedef struct demo {
    tg_sim *sim;                 /* the emulator, in-process */
    tg_sim_ports ports;          /* its ports */
    uint16_t http_port;          /* the daemon's HTTP port */
    pid_t daemon;                /* the daemon process */
    char self[4096];             /* this executable */
    char cwd[4096];              /* where demo-out is */
    double speed;                /* time multiplier */
    int64_t duration_ms;         /* total run time */
    bool tty;                    /* redraw in place */
    bool keep;                   /* leave everything running */
    uint64_t seed;               /* price paths */
    int restarts;                /* daemon restarts */
    char *answer;                /* last HTTP answer */
    tg_dec *paths[DEMO_SYMBOLS]; /* the price path of each symbol */
    size_t path_count;           /* prices in each path */
    int64_t path_step_ms;        /* one step of the paths, ms */
    int64_t paths_t0_ms;         /* wall clock when the paths started, ms */
    size_t answer_len;           /* bytes in answer */
} demo;

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    assert(ms >= 0);
    return ms;
}

static void sleep_ms(int64_t ms) {
    assert(ms >= 0);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint64_t rng_next(uint64_t *s) {
    assert(s != NULL);
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void format_ticks(int64_t ticks, int dp, char *buf, size_t cap) {
    assert(buf != NULL && cap > 0);
    assert(dp >= 1 && dp <= TG_DEC_DP); /* the symbols[] table */
    int64_t scale = 1;
    for (int i = 0; i < dp; i++) {
        scale *= 10;
    }
    int n = snprintf(buf, cap, "%" PRId64 ".%0*" PRId64, ticks / scale, dp, ticks % scale);
    assert(n > 0 && (size_t)n < cap);
}

/* A chop, a rally of about 3 % and a pullback that takes the trailing stops
 * out, mirrored for the symbols that fall; seeded noise on top. */
static cJSON *price_path(const demo_symbol *s, size_t steps, uint64_t *rng, tg_dec *keep) {
    assert(s != NULL && rng != NULL);
    assert(steps > 0 && (s->dir == 1 || s->dir == -1));
    cJSON *prices = cJSON_CreateArray();
    double p = (double)s->start;
    for (size_t i = 0; i < steps; i++) {
        double t = (double)i / (double)steps;
        double drift = t < 0.1 ? 0 : t < 0.65 ? 0.0005 : -0.0012;
        double noise = ((double)(rng_next(rng) % 2001) / 1000.0 - 1.0) * 0.0009;
        p *= 1.0 + s->dir * drift + noise;
        char text[32];
        format_ticks((int64_t)p, s->dp, text, sizeof text);
        cJSON_AddItemToArray(prices, cJSON_CreateString(text));
        if (keep != NULL && tg_dec_parse_cstr(text, &keep[i]) != TG_DEC_OK) {
            keep[i] = (tg_dec){0};
        }
    }
    return prices;
}

static bool sim_ok(demo *d, const char *method, const char *target, const char *body) {
    assert(d != NULL && d->sim != NULL);
    assert(method != NULL && target != NULL);
    char out[4096];
    int status = tg_sim_call(d->sim, method, target, body, out, sizeof out);
    if (status != 200) {
        tg_cli_error("demo: emulator %s %s: %d %s", method, target, status, out);
        return false;
    }
    return true;
}

static bool load_scenario(demo *d) {
    assert(d != NULL && d->sim != NULL);
    assert(d->speed >= 0.1 && d->speed <= 20 && d->duration_ms > 0); /* the flags' ranges */
    uint64_t rng = d->seed * 0x9E3779B97F4A7C15ull + 1;
    size_t steps = (size_t)(d->duration_ms / DEMO_STEP_MS) + 8;
    cJSON *sc = cJSON_CreateObject();
    cJSON *marks = cJSON_AddObjectToObject(sc, "marks");
    cJSON *paths = cJSON_AddArrayToObject(sc, "paths");
    for (int i = 0; i < DEMO_SYMBOLS; i++) {
        char start[32];
        format_ticks(symbols[i].start, symbols[i].dp, start, sizeof start);
        cJSON_AddStringToObject(marks, symbols[i].symbol, start);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "symbol", symbols[i].symbol);
        cJSON_AddStringToObject(p, "kind", "steps");
        cJSON_AddNumberToObject(p, "interval_ms", (double)(int64_t)(DEMO_STEP_MS / d->speed));
        d->paths[i] = calloc(steps, sizeof *d->paths[i]);
        cJSON_AddItemToObject(p, "prices", price_path(&symbols[i], steps, &rng, d->paths[i]));
        cJSON_AddItemToArray(paths, p);
    }
    cJSON *pos = cJSON_AddArrayToObject(sc, "positions");
    for (int i = 0; i < DEMO_POSITIONS; i++) {
        if (positions[i].late) {
            continue;
        }
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "account", positions[i].account);
        cJSON_AddStringToObject(p, "symbol", positions[i].symbol);
        cJSON_AddStringToObject(p, "side", positions[i].side);
        cJSON_AddStringToObject(p, "size", positions[i].size);
        cJSON_AddItemToArray(pos, p);
    }
    d->path_count = steps;
    d->path_step_ms = (int64_t)(DEMO_STEP_MS / d->speed);
    char *text = cJSON_PrintUnformatted(sc);
    cJSON_Delete(sc);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    d->paths_t0_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    bool ok = text != NULL && sim_ok(d, "POST", "/sim/scenario", text);
    free(text);
    return ok;
}

static bool write_file(const char *path, const char *text, mode_t mode) {
    assert(path != NULL && text != NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) {
        tg_cli_error("demo: cannot write %s: %s", path, strerror(errno));
        return false;
    }
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len;
    ok = fchmod(fd, mode) == 0 && ok;
    return close(fd) == 0 && ok;
}

static uint16_t free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static bool write_config(demo *d) {
    assert(d != NULL);
    bool ok = write_file(DEMO_OUT "/binance.key", BN_KEY "\n", 0600) &&
              write_file(DEMO_OUT "/binance.secret", BN_SECRET "\n", 0600) &&
              write_file(DEMO_OUT "/bybit.key", BY_KEY "\n", 0600) &&
              write_file(DEMO_OUT "/bybit.secret", BY_SECRET "\n", 0600);
    d->http_port = free_port();
    char ini[4096];
    int len = snprintf(
        ini, sizeof ini,
        "# written by trailguard demo: the daemon against the loopback emulator\n"
        "[store]\nuri = " DEMO_OUT "/trailguard.db\n\n"
        "[account demo-binance]\nvenue = binance\n"
        "rest_url = http://127.0.0.1:%u\nws_url = ws://127.0.0.1:%u\n"
        "api_key_file = " DEMO_OUT "/binance.key\napi_secret_file = " DEMO_OUT "/binance.secret\n\n"
        "[account demo-bybit]\nvenue = bybit\n"
        "rest_url = http://127.0.0.1:%u\nws_url = ws://127.0.0.1:%u\n"
        "api_key_file = " DEMO_OUT "/bybit.key\napi_secret_file = " DEMO_OUT "/bybit.secret\n\n"
        "[defaults]\nactivation_percent = 0.8\ncallback_percent = 0.5\n"
        "initial_stop_percent = 1.5\nmin_update_interval_seconds = 1\n"
        "reconcile_interval_seconds = 10\nstale_seconds = 10\n\n"
        "[http]\nlisten = 127.0.0.1:%u\n",
        d->ports.binance, d->ports.binance, d->ports.bybit, d->ports.bybit, d->http_port);
    assert(len > 0 && (size_t)len < sizeof ini);
    return ok && write_file(DEMO_OUT "/trailguard.ini", ini, 0644);
}

static bool start_daemon(demo *d) {
    assert(d != NULL && d->self[0] != '\0');
    pid_t pid = fork();
    if (pid < 0) {
        tg_cli_error("demo: fork: %s", strerror(errno));
        return false;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execl(d->self, d->self, "run", "--config", DEMO_OUT "/trailguard.ini", "--log-file",
              DEMO_OUT "/daemon.log", (char *)NULL);
        _exit(127);
    }
    d->daemon = pid;
    return true;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx) {
    demo *d = ctx;
    assert(d != NULL && d->answer != NULL && data != NULL);
    assert(d->answer_len < DEMO_ANSWER_MAX);
    size_t len = size * n;
    if (d->answer_len + len + 1 > DEMO_ANSWER_MAX) {
        return 0;
    }
    memcpy(d->answer + d->answer_len, data, len);
    d->answer_len += len;
    d->answer[d->answer_len] = '\0';
    return len;
}

static long http_get(demo *d, const char *path) {
    assert(d != NULL && d->answer != NULL && path != NULL);
    char url[256];
    int len = snprintf(url, sizeof url, "http://127.0.0.1:%u%s", d->http_port, path);
    assert(len > 0 && (size_t)len < sizeof url);
    CURL *c = curl_easy_init();
    d->answer_len = 0;
    d->answer[0] = '\0';
    long status = 0;
    if (c == NULL) {
        return 0;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    return status;
}

static demo_pos *pos_find(const char *account, const char *symbol, const char *side) {
    assert(account != NULL && symbol != NULL && side != NULL);
    for (int i = 0; i < DEMO_POSITIONS; i++) {
        demo_pos *p = &positions[i];
        if (strcmp(p->account, account) == 0 && strcmp(p->symbol, symbol) == 0 &&
            strcmp(p->side, side) == 0) {
            return p;
        }
    }
    return NULL;
}

static const char *jtext(const cJSON *o, const char *name) {
    assert(name != NULL);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

/* Reads /v1/positions into positions[]; false when the daemon did not answer. */
static bool poll_daemon(demo *d) {
    assert(d != NULL && d->answer != NULL);
    if (http_get(d, "/v1/positions") != 200) {
        return false;
    }
    cJSON *arr = cJSON_Parse(d->answer);
    for (int i = 0; i < DEMO_POSITIONS; i++) {
        if (positions[i].seen) {
            positions[i].closed = true; /* unless listed below */
        }
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        demo_pos *p = pos_find(jtext(o, "account"), jtext(o, "symbol"), jtext(o, "side"));
        if (p == NULL) {
            continue;
        }
        p->seen = true;
        p->closed = false;
        snprintf(p->state, sizeof p->state, "%s", jtext(o, "state"));
        snprintf(p->entry, sizeof p->entry, "%s", jtext(o, "entry"));
        snprintf(p->mark, sizeof p->mark, "%s", jtext(o, "mark"));
        snprintf(p->action, sizeof p->action, "%s", jtext(o, "last_action"));
        snprintf(p->activation, sizeof p->activation, "%s", jtext(o, "activation_price"));
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "exchange_stop");
        if (cJSON_IsObject(ex)) {
            snprintf(p->stop, sizeof p->stop, "%s", jtext(ex, "trigger"));
        } else if (p->stop[0] == '\0') {
            snprintf(p->stop, sizeof p->stop, "none");
        } /* else: gone with the trigger; the last one is kept */
        p->activated |= strcmp(p->state, "active") == 0;
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "updates");
        p->updates = cJSON_IsNumber(u) ? (uint32_t)u->valuedouble : p->updates;
        const cJSON *pm = cJSON_GetObjectItemCaseSensitive(o, "protected_after_ms");
        if (cJSON_IsNumber(pm)) {
            p->protected_ms = (int64_t)pm->valuedouble;
        }
    }
    cJSON_Delete(arr);
    return true;
}

static double profit_pct(const demo_pos *p, const char *price) {
    assert(p != NULL && price != NULL);
    double e = atof(p->entry), x = atof(price);
    if (e <= 0 || x <= 0) {
        return 0;
    }
    double r = (x - e) / e * 100;
    return strcmp(p->side, "short") == 0 ? -r : r;
}

static void draw(demo *d, int64_t elapsed_ms, const char *note) {
    assert(d != NULL && note != NULL);
    if (d->tty) {
        fputs("\033[H\033[2J", stdout);
    }
    printf("trailguard demo  t=%5.1fs/%.0fs  daemon pid %d  restarts %d  %s\n",
           (double)elapsed_ms / 1000, (double)d->duration_ms / 1000, (int)d->daemon, d->restarts,
           note);
    printf("%-8s %-8s %-5s %-9s %-12s %-14s %8s  %s\n", "venue", "symbol", "side", "state", "mark",
           "stop(exchange)", "profit%", "last action");
    for (int i = 0; i < DEMO_POSITIONS; i++) {
        const demo_pos *p = &positions[i];
        if (!p->seen) {
            continue;
        }
        printf("%-8s %-8s %-5s %-9s %-12s %-14s %8.2f  %s\n", p->venue, p->symbol, p->side,
               p->closed ? "closed" : p->state, p->mark, p->stop, profit_pct(p, p->mark),
               p->action);
    }
    fflush(stdout);
}

static void read_protection(demo *d, demo_pos *p, int *open_stops) {
    assert(d != NULL && d->sim != NULL && p != NULL && open_stops != NULL);
    char target[160], out[16384];
    int len = snprintf(target, sizeof target, "/sim/protection?account=%s&symbol=%s", p->account,
                       p->symbol);
    assert(len > 0 && (size_t)len < sizeof target);
    *open_stops = -1;
    if (tg_sim_call(d->sim, "GET", target, NULL, out, sizeof out) != 200) {
        return;
    }
    cJSON *o = cJSON_Parse(out);
    const cJSON *stops = cJSON_GetObjectItemCaseSensitive(o, "open_stops");
    *open_stops = cJSON_GetArraySize(stops);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
    tg_dec sz;
    if (cJSON_IsString(size) && tg_dec_parse_cstr(size->valuestring, &sz) == TG_DEC_OK &&
        tg_dec_is_zero(sz)) {
        p->closed = p->seen; /* the stop fired after the last poll */
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "unprotected");
    const cJSON *longest = cJSON_GetObjectItemCaseSensitive(u, "total_ms");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(u, "count");
    p->unprotected_ms = cJSON_IsNumber(longest) ? (int64_t)longest->valuedouble : -1;
    p->windows = cJSON_IsNumber(count) ? (int64_t)count->valuedouble : -1;
    cJSON_Delete(o);
}

/* ---- one chart per position, from the daemon's journal --------------------- */

#define CHART_STOPS_MAX 4096

typedef struct chart_ctx {
    const char *key;       /* position key, SYMBOL:side */
    tg_replay_result *r;   /* being filled */
    tg_replay_stop *stops; /* CHART_STOPS_MAX */
    int64_t opened_ms;     /* first event of the position (its last life) */
} chart_ctx;

static bool chart_entry(void *ctx, const tg_journal_entry *e) {
    chart_ctx *c = ctx;
    assert(c != NULL && c->key != NULL && c->r != NULL && c->stops != NULL && e != NULL);
    if (e->kind != TG_JOURNAL_EVENT || strcmp(e->position_key, c->key) != 0) {
        return true;
    }
    const tg_event *ev = &e->event;
    tg_replay_result *r = c->r;
    switch (ev->type) {
    case TG_EV_CREATED:
        c->opened_ms = ev->ts_ms; /* a key reused: start over */
        r->n_stops = 0;
        r->n_moves = 0;
        r->activated = false;
        r->outcome = TG_REPLAY_OPEN;
        break;
    case TG_EV_CONFIRMED:
        if (r->n_stops < CHART_STOPS_MAX && (ev->has & TG_EVH_STOP)) {
            c->stops[r->n_stops++] = (tg_replay_stop){.ts_ms = ev->ts_ms, .price = ev->stop};
        }
        break;
    case TG_EV_STOP_MOVED:
        r->n_moves++;
        break;
    case TG_EV_ACTIVATED:
        r->activated = true;
        r->activated_ms = ev->ts_ms;
        r->activated_price = ev->price;
        break;
    case TG_EV_TRIGGERED:
        r->outcome = TG_REPLAY_STOPPED;
        r->exit_ms = ev->ts_ms;
        r->exit_price = (ev->has & TG_EVH_STOP) ? ev->stop : ev->price;
        break;
    default:
        break;
    }
    assert(r->n_stops <= CHART_STOPS_MAX);
    return true;
}

static void write_chart(demo *d, demo_pos *p) {
    assert(d != NULL && p != NULL);
    int sym = -1;
    for (int i = 0; i < DEMO_SYMBOLS; i++) {
        sym = strcmp(symbols[i].symbol, p->symbol) == 0 ? i : sym;
    }
    tg_store *store = NULL;
    tg_err err;
    if (sym < 0 || d->paths[sym] == NULL ||
        tg_store_open_readonly(DEMO_OUT "/trailguard.db", p->account, &store, &err) != TG_OK) {
        return;
    }
    tg_replay_result r = {0};
    tg_replay_stop *stops = calloc(CHART_STOPS_MAX, sizeof *stops);
    tg_pricepoint *points = calloc(d->path_count, sizeof *points);
    char key[64];
    snprintf(key, sizeof key, "%s:%s", p->symbol, p->side);
    chart_ctx c = {.key = key, .r = &r, .stops = stops};
    if (stops == NULL || points == NULL ||
        tg_store_journal(store, 0, chart_entry, &c, &err) != TG_OK || c.opened_ms == 0) {
        free(stops);
        free(points);
        tg_store_close(store);
        return;
    }
    tg_store_close(store);
    r.stops = stops;
    r.side = strcmp(p->side, "short") == 0 ? TG_SIDE_SHORT : TG_SIDE_LONG;
    tg_dec_parse_cstr(p->entry, &r.entry);
    tg_dec_parse_cstr(p->activation, &r.activation_price);
    int64_t units = TG_DEC_SCALE;
    for (int i = 0; i < symbols[sym].dp; i++) {
        units /= 10;
    }
    r.tick = tg_dec_from_units(units);
    r.opened_ms = c.opened_ms;
    size_t n = 0;
    for (size_t i = 0; i < d->path_count; i++) {
        int64_t ts = d->paths_t0_ms + (int64_t)(i + 1) * d->path_step_ms;
        bool open_then = ts >= c.opened_ms && (r.outcome == TG_REPLAY_OPEN || ts <= r.exit_ms);
        if (open_then && tg_dec_is_pos(d->paths[sym][i])) {
            points[n++] = (tg_pricepoint){.ts_ms = ts, .price = d->paths[sym][i]};
        }
    }
    assert(n <= d->path_count);
    if (n >= 2) {
        if (r.outcome == TG_REPLAY_OPEN) {
            r.exit_ms = points[n - 1].ts_ms;
            r.exit_price = points[n - 1].price;
        }
        tg_dec pct;
        if (tg_dec_pct_change(r.entry, r.exit_price, TG_ROUND_FLOOR, &pct) == TG_DEC_OK &&
            tg_dec_round_tick(pct, tg_dec_from_units(TG_DEC_SCALE / 10000), TG_ROUND_FLOOR, &pct) ==
                TG_DEC_OK) {
            /* the change is unsigned: its sign is the position's gain or loss */
            bool gain = r.side == TG_SIDE_LONG ? tg_dec_gt(r.exit_price, r.entry)
                                               : tg_dec_lt(r.exit_price, r.entry);
            r.result_pct = gain ? pct : tg_dec_from_units(-pct.units);
            r.has_numbers = true;
        }
        char path[160], title[96];
        snprintf(path, sizeof path, DEMO_OUT "/chart-%s-%s-%s.svg", p->venue, p->symbol, p->side);
        snprintf(title, sizeof title, "trailguard demo: %s %s %s", p->venue, p->symbol, p->side);
        tg_chart chart = {
            .points = points, .count = n, .result = &r, .source = title, .dp = symbols[sym].dp};
        FILE *f = fopen(path, "w");
        if (f != NULL) {
            if (tg_chart_write(f, &chart, &err) == TG_OK) {
                printf("chart        %s/%s\n", d->cwd, path);
            }
            fclose(f);
        }
    }
    free(stops);
    free(points);
}

static int usage_error(const char *what) {
    assert(what != NULL);
    tg_cli_error("demo: %s (trailguard demo --help)", what);
    return TG_EXIT_USAGE;
}

static bool wait_ready(demo *d, int64_t timeout_ms) {
    assert(d != NULL && timeout_ms > 0);
    int64_t until = mono_ms() + timeout_ms;
    while (mono_ms() < until) {
        if (poll_daemon(d)) {
            return true;
        }
        sleep_ms(100);
    }
    return false;
}

static int run_demo(demo *d) {
    assert(d != NULL && d->sim != NULL);
    assert(d->daemon > 0 && d->duration_ms > 0);
    int64_t t0 = mono_ms();
    int64_t kill_at = d->duration_ms / 2, late_at = d->duration_ms * 2 / 5;
    bool killed = false, late_opened = false;
    char note[128] = "";
    while (mono_ms() - t0 < d->duration_ms) {
        int64_t now = mono_ms() - t0;
        if (!late_opened && now >= late_at) {
            demo_pos *p = &positions[DEMO_POSITIONS - 1];
            char body[256];
            snprintf(body, sizeof body,
                     "{\"account\":\"%s\",\"symbol\":\"%s\",\"side\":\"%s\",\"size\":\"%s\"}",
                     p->account, p->symbol, p->side, p->size);
            if (sim_ok(d, "POST", "/sim/position", body)) {
                snprintf(note, sizeof note, "opened %s %s %s on %s", p->symbol, p->side, p->size,
                         p->venue);
            }
            late_opened = true;
        }
        if (!killed && now >= kill_at) {
            kill(d->daemon, SIGKILL);
            waitpid(d->daemon, NULL, 0);
            snprintf(note, sizeof note, "SIGKILLed the daemon; prices keep moving");
            draw(d, now, note);
            if (!d->tty) {
                putchar('\n');
            }
            sleep_ms((int64_t)(3000 / d->speed));
            if (!start_daemon(d) || !wait_ready(d, 10000)) {
                tg_cli_error("demo: the daemon did not come back after the restart");
                return TG_EXIT_FAILURE;
            }
            d->restarts++;
            snprintf(note, sizeof note, "restarted: state restored from the store, reconciled");
            killed = true;
        }
        poll_daemon(d);
        if (d->tty || (now / 1000) % 5 == 0) {
            draw(d, now, note);
            if (!d->tty) {
                putchar('\n');
            }
        }
        sleep_ms(d->tty ? 500 : 1000);
    }
    poll_daemon(d);
    draw(d, mono_ms() - t0, "done");
    return TG_EXIT_OK;
}

static int summary(demo *d) {
    assert(d != NULL && d->sim != NULL);
    int bad = 0;
    printf("\nsummary (unprotected time as measured by the emulator; the first window is the\n"
           "time from opening the position to its first stop)\n");
    printf("%-8s %-8s %-5s %-9s %-9s %7s %-14s %9s %13s\n", "venue", "symbol", "side", "activated",
           "result", "updates", "last stop", "profit%", "unprot ms/win");
    for (int i = 0; i < DEMO_POSITIONS; i++) {
        demo_pos *p = &positions[i];
        int open_stops;
        read_protection(d, p, &open_stops);
        const char *result = p->closed ? "stopped" : p->seen ? "open" : "never seen";
        if (!p->seen || (!p->closed && open_stops != 1)) {
            bad++;
            result = !p->seen ? "never seen" : open_stops == 0 ? "UNPROTECTED" : "DUPLICATE";
        }
        printf("%-8s %-8s %-5s %-9s %-9s %7u %-14s %9.2f %8" PRId64 "/%-4" PRId64 "\n", p->venue,
               p->symbol, p->side, p->activated ? "yes" : "no", result, p->updates, p->stop,
               profit_pct(p, p->stop), p->unprotected_ms, p->windows);
    }
    printf("\n");
    for (int i = 0; i < DEMO_POSITIONS; i++) {
        if (positions[i].seen) {
            write_chart(d, &positions[i]);
        }
    }
    printf("daemon log   %s/" DEMO_OUT "/daemon.log (logfmt)\n", d->cwd);
    printf("store        %s/" DEMO_OUT
           "/trailguard.db (trailguard state list --all --store " DEMO_OUT "/trailguard.db)\n",
           d->cwd);
    printf("config       %s/" DEMO_OUT "/trailguard.ini\n", d->cwd);
    assert(bad >= 0 && bad <= DEMO_POSITIONS);
    if (bad > 0) {
        tg_cli_error("demo: %d position(s) not protected by exactly one stop", bad);
    }
    return bad > 0 ? TG_EXIT_FAILURE : TG_EXIT_OK;
}

int tg_cli_demo(int argc, char **argv) {
    assert(argc >= 1 && argv != NULL && argv[argc] == NULL);
    demo d = {.speed = 1, .duration_ms = 60000, .seed = 42};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: trailguard demo [--duration SECONDS] [--speed X] [--seed N] [--keep]\n"
                   "  Starts the loopback emulator with a Binance and a Bybit account holding\n"
                   "  long and short positions, runs the real daemon against it, kills and\n"
                   "  restarts it halfway, opens a position while it runs, and ends with a\n"
                   "  summary. Writes into ./" DEMO_OUT "/. --keep leaves both running.\n");
            return TG_EXIT_OK;
        }
        if (strcmp(argv[i], "--keep") == 0) {
            d.keep = true;
            continue;
        }
        if (i + 1 >= argc) {
            return usage_error("an option needs a value");
        }
        char *end;
        if (strcmp(argv[i], "--duration") == 0) {
            double s = strtod(argv[++i], &end);
            if (*end != '\0' || s < 10 || s > 86400) {
                return usage_error("--duration must be 10..86400 seconds");
            }
            d.duration_ms = (int64_t)(s * 1000);
        } else if (strcmp(argv[i], "--speed") == 0) {
            d.speed = strtod(argv[++i], &end);
            if (*end != '\0' || d.speed < 0.1 || d.speed > 20) {
                return usage_error("--speed must be 0.1..20");
            }
        } else if (strcmp(argv[i], "--seed") == 0) {
            d.seed = strtoull(argv[++i], &end, 10);
            if (*end != '\0') {
                return usage_error("--seed must be a whole number");
            }
        } else {
            return usage_error("unknown option");
        }
    }
    signal(SIGPIPE, SIG_IGN);
    d.tty = isatty(STDOUT_FILENO);
    ssize_t n = readlink("/proc/self/exe", d.self, sizeof d.self - 1);
    if (n <= 0 || getcwd(d.cwd, sizeof d.cwd) == NULL) {
        tg_cli_error("demo: cannot find its own executable");
        return TG_EXIT_FAILURE;
    }
    assert((size_t)n < sizeof d.self);
    d.self[n] = '\0';
    if (mkdir(DEMO_OUT, 0755) != 0 && errno != EEXIST) {
        tg_cli_error("demo: cannot create %s: %s", DEMO_OUT, strerror(errno));
        return TG_EXIT_FAILURE;
    }
    unlink(DEMO_OUT "/trailguard.db");
    unlink(DEMO_OUT "/trailguard.db-wal");
    unlink(DEMO_OUT "/trailguard.db-shm");
    unlink(DEMO_OUT "/daemon.log");
    d.answer = malloc(DEMO_ANSWER_MAX);
    tg_sim_config sc = tg_sim_config_default();
    sc.seed = d.seed;
    tg_err err;
    if (d.answer == NULL || tg_sim_new(&sc, &d.sim, &err) != TG_OK ||
        tg_sim_start(d.sim, &err) != TG_OK) {
        tg_cli_error("demo: emulator: %s", err.msg);
        return TG_EXIT_FAILURE;
    }
    d.ports = tg_sim_ports_get(d.sim);
    int rc = TG_EXIT_FAILURE;
    if (load_scenario(&d) && write_config(&d) && start_daemon(&d)) {
        if (!wait_ready(&d, 10000)) {
            tg_cli_error("demo: the daemon did not answer on its HTTP port (see %s/daemon.log)",
                         DEMO_OUT);
        } else {
            rc = run_demo(&d);
            if (rc == TG_EXIT_OK) {
                rc = summary(&d);
            }
        }
    }
    if (d.keep && rc == TG_EXIT_OK) {
        printf("\nkept running (Ctrl-C ends both):\n  emulator binance http://127.0.0.1:%u  bybit "
               "http://127.0.0.1:%u\n  daemon   http://127.0.0.1:%u/  (/metrics /health "
               "/v1/positions)\n",
               d.ports.binance, d.ports.bybit, d.http_port);
        fflush(stdout);
        waitpid(d.daemon, NULL, 0);
    }
    if (d.daemon > 0) {
        kill(d.daemon, SIGTERM);
        waitpid(d.daemon, NULL, 0);
    }
    tg_sim_free(d.sim);
    free(d.answer);
    for (int i = 0; i < DEMO_SYMBOLS; i++) {
        free(d.paths[i]);
    }
    return rc;
}
