/* The diagnostic monitor's reports: the JSON tree (every report this test
 * writes is validated against docs/diagnose.schema.json with python3's
 * jsonschema when it is there), the console summary, the logfmt line and the
 * HTML page (rendered by headless Chromium when /usr/bin/chromium is there). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>

#include "trailguard/diag.h"

#define NOW_MS    1760550983000LL /* the run's start */
#define CHECKS    3               /* consistency checks of the faulty run */
#define PERIOD_MS 30000           /* between them */
#define CHROMIUM  "/usr/bin/chromium"
#define PATH_MAX_ 512 /* bytes of a file name of this test */

static const char *const validate_py =
    "import json,sys,jsonschema\n"
    "s=json.load(open(sys.argv[1],encoding=\"utf-8\"))\n"
    "V=jsonschema.Draft202012Validator\n"
    "V.check_schema(s)\n"
    "d=json.load(open(sys.argv[2],encoding=\"utf-8\"))\n"
    "errs=list(V(s,format_checker=jsonschema.FormatChecker()).iter_errors(d))\n"
    "[print(sys.argv[2],list(e.absolute_path),e.message,file=sys.stderr) for e in errs]\n"
    "sys.exit(1 if errs else 0)\n";

static tg_dec D(const char *text) {
    tg_dec d = {0};
    if (tg_dec_parse_cstr(text, &d) != TG_DEC_OK) {
        fail_msg("bad decimal literal '%s'", text);
    }
    return d;
}

/* ---- a run with something of everything ------------------------------- */

typedef struct world {
    tg_diag_engine_pos eng[4];
    tg_diag_store_row rows[4];
    tg_diag_exchange_pos xpos[4];
    tg_diag_exchange_stop stops[4];
    tg_diag_snapshot snap;
    tg_diag_run run;
    tg_diag_issues issues;
    tg_diag_timeline timelines[3];
} world;

static void position(world *w, size_t i, const char *account, const char *venue, const char *symbol,
                     tg_side side, const char *mark, const char *stop) {
    tg_diag_engine_pos *e = &w->eng[i];
    snprintf(e->account, sizeof e->account, "%s", account);
    snprintf(e->venue, sizeof e->venue, "%s", venue);
    snprintf(e->symbol, sizeof e->symbol, "%s", symbol);
    snprintf(e->position_key, sizeof e->position_key, "%s:%s", symbol, tg_side_str(side));
    e->side = side;
    e->state = TG_STATE_ACTIVE;
    e->mark = D(mark);
    e->stop_confirmed = e->stop_intended = D(stop);
    e->activations = 1;
    e->last_mark_ms = NOW_MS + CHECKS * PERIOD_MS; /* fresh at every check */
    tg_diag_store_row *r = &w->rows[i];
    snprintf(r->account, sizeof r->account, "%s", account);
    snprintf(r->symbol, sizeof r->symbol, "%s", symbol);
    memcpy(r->position_key, e->position_key, sizeof r->position_key);
    r->state = TG_STATE_ACTIVE;
    r->stop_confirmed = D(stop);
    tg_diag_exchange_pos *x = &w->xpos[i];
    snprintf(x->account, sizeof x->account, "%s", account);
    snprintf(x->venue, sizeof x->venue, "%s", venue);
    snprintf(x->symbol, sizeof x->symbol, "%s", symbol);
    memcpy(x->position_key, e->position_key, sizeof x->position_key);
    x->side = side;
    x->size = D("1");
    x->mark = D(mark);
    x->tick = D("0.01");
    tg_diag_exchange_stop *s = &w->stops[i];
    snprintf(s->account, sizeof s->account, "%s", account);
    snprintf(s->symbol, sizeof s->symbol, "%s", symbol);
    snprintf(s->order_id, sizeof s->order_id, "o-%zu", i);
    s->side = side;
    s->trigger = D(stop);
    s->reduce_only = s->owned = true;
}

static void timeline(tg_diag_timeline *t, const char *account, const char *key, tg_side side,
                     size_t samples, int64_t base) {
    snprintf(t->account, sizeof t->account, "%s", account);
    snprintf(t->position_key, sizeof t->position_key, "%s", key);
    t->side = side;
    for (size_t i = 0; i < samples; i++) {
        tg_diag_point *p = &t->points[i % TG_DIAG_POINTS_MAX];
        int64_t wave = (int64_t)(i % 40) - 20;
        p->ts_ms = NOW_MS + (int64_t)i * 5000;
        p->mark = tg_dec_from_units((base + wave * 7) * TG_DEC_SCALE);
        p->engine_stop = tg_dec_from_units((base - 50 + (int64_t)i / 10) * TG_DEC_SCALE);
        p->exchange_stop = i % 50 == 7 ? tg_dec_from_units(0) : p->engine_stop;
    }
    t->count = samples;
}

/* Three positions on two accounts with faults of several kinds, checked
 * CHECKS times; latencies, errors (the ring wrapped), accounts, timelines. */
static world *faulty(void) {
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    position(w, 0, "main", "binance", "BTCUSDT", TG_SIDE_LONG, "52000", "51000");
    position(w, 1, "main", "binance", "ETHUSDT", TG_SIDE_SHORT, "2900", "2950");
    position(w, 2, "alt \"q\"", "bybit", "SOLUSDT", TG_SIDE_LONG, "150", "140");
    w->stops[0].trigger = D("50000");    /* looser, and a price mismatch */
    w->rows[1].state = TG_STATE_WAITING; /* state mismatch */
    w->stops[2].reduce_only = false;     /* can increase the position */
    w->stops[2].owned = false;           /* and is foreign */
    w->eng[2].activations = 3;           /* re-activated */
    tg_diag_source ok = {.enabled = true, .ok = true, .latency_ms = 20};
    w->snap.engine = w->snap.store = w->snap.exchange = ok;
    w->snap.store.latency_ms = 1500; /* slow */
    w->snap.engine_stats = (tg_diag_engine_stats){.requests = 100, .rate_limited = 9};
    w->snap.engine_pos = w->eng;
    w->snap.store_rows = w->rows;
    w->snap.exchange_pos = w->xpos;
    w->snap.exchange_stops = w->stops;
    w->snap.engine_count = w->snap.store_count = 3;
    w->snap.exchange_pos_count = w->snap.exchange_stops_count = 3;
    tg_diag_thresholds th = tg_diag_thresholds_default();
    for (int i = 0; i < CHECKS; i++) {
        tg_diag_check(&w->snap, &th, NOW_MS + i * PERIOD_MS, &w->issues);
    }

    tg_diag_run *r = &w->run;
    r->started_ms = NOW_MS - 1000;
    r->ended_ms = NOW_MS + CHECKS * PERIOD_MS;
    r->planned_ms = 15 * 60000;
    snprintf(r->config_path, sizeof r->config_path, "/etc/trailguard/trailguard.ini");
    snprintf(r->daemon_url, sizeof r->daemon_url, "http://127.0.0.1:9464");
    for (int p = 0; p < TG_DIAG_PROBE_COUNT; p++) {
        tg_diag_probe_stats *s = &r->probes[p];
        s->interval_ms = 5000;
        s->runs = 100 + (uint64_t)p;
        s->failures = 1;
        for (int k = 0; k < 100; k++) {
            s->latency_ms[k] = k + 1; /* 1..100 */
        }
        s->latency_count = 100;
    }
    r->snapshots = 300;
    r->new_positions = 3;
    r->activations = 3;
    r->reactivations = 2;
    r->stop_updates = 41;
    r->state_transitions = 7;
    r->errors = TG_DIAG_ERRORS_MAX + 6;
    for (size_t i = 0; i < r->errors; i++) {
        snprintf(r->error_log[i % TG_DIAG_ERRORS_MAX], TG_DIAG_TEXT_MAX,
                 "exchange: timeout #%zu \xff\"<b>\"", i);
    }
    r->error_count = r->errors;
    r->accounts[0] = (tg_diag_account_row){"main", "binance", 2, 2, 2, 0};
    r->accounts[1] = (tg_diag_account_row){"alt \"q\"", "bybit", 1, 0, 0, 1};
    r->accounts_count = 2;
    r->timelines = w->timelines;
    timeline(&w->timelines[0], "main", "BTCUSDT:long", TG_SIDE_LONG, 180, 52000);
    timeline(&w->timelines[1], "main", "ETHUSDT:short", TG_SIDE_SHORT, TG_DIAG_POINTS_MAX + 90,
             2900);
    timeline(&w->timelines[2], "alt \"q\"", "SOL<USDT>:long", TG_SIDE_LONG, 1, 150);
    r->timelines_count = 3;
    return w;
}

static world *empty(void) {
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->run.started_ms = NOW_MS;
    w->run.ended_ms = NOW_MS + 1234;
    w->run.once = true;
    w->run.exchange_only = true;
    return w;
}

/* ---- helpers ---------------------------------------------------------- */

static void tmp_path(char *buf, const char *name) {
    snprintf(buf, PATH_MAX_, "%s/diag_report_%ld_%s", TG_TEST_TMPDIR, (long)getpid(), name);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool have_jsonschema(void) {
    return system("python3 -c 'import jsonschema' >/dev/null 2>&1") == 0;
}

/* Runs the validator on path: its exit status, or −1 without jsonschema. */
static int run_validator(const char *path) {
    if (!have_jsonschema()) {
        print_message("schema validation skipped: python3 with jsonschema not found "
                      "(scripts/deps.sh installs python3-jsonschema)\n");
        return -1;
    }
    char script[PATH_MAX_ + 8], cmd[4 * PATH_MAX_];
    snprintf(script, sizeof script, "%s.py", path);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs(validate_py, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s/docs/diagnose.schema.json' '%s'", script,
             TG_SOURCE_DIR, path);
    int rc = system(cmd);
    unlink(script);
    return rc;
}

/* Validates the report at path against the schema. */
static void validate(const char *path) {
    if (run_validator(path) > 0) {
        fail_msg("%s does not match docs/diagnose.schema.json", path);
    }
}

/* Writes the JSON report of w, validates it, returns it parsed. */
static cJSON *report(world *w, const char *name) {
    char path[PATH_MAX_];
    tmp_path(path, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    tg_err err = {0};
    assert_int_equal(tg_diag_report_json(f, &w->run, &w->issues, &err), TG_OK);
    fclose(f);
    validate(path);
    char *text = slurp(path);
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    free(text);
    unlink(path);
    return root;
}

static cJSON *at(cJSON *o, const char *dotted) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dotted);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k != NULL;
         k = strtok_r(NULL, ".", &save)) {
        o = cJSON_GetObjectItemCaseSensitive(o, k);
        if (o == NULL) {
            fail_msg("no %s in the report", dotted);
        }
    }
    return o;
}

static double num(cJSON *o, const char *dotted) {
    cJSON *v = at(o, dotted);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static const char *str(cJSON *o, const char *dotted) {
    cJSON *v = at(o, dotted);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/* ---- JSON ------------------------------------------------------------- */

static void test_json_faulty(void **state) {
    (void)state;
    world *w = faulty();
    cJSON *r = report(w, "faulty.json");
    const tg_diag_issues *is = &w->issues;
    assert_true(is->count >= 6);

    assert_int_equal(num(r, "metadata.monitoring_duration_minutes"), 15);
    assert_string_equal(str(r, "metadata.start_time"), "2025-10-15T17:56:22.000Z");
    assert_string_equal(str(r, "metadata.mode"), "duration");
    assert_string_equal(str(r, "metadata.config"), "/etc/trailguard/trailguard.ini");
    assert_int_equal(num(r, "metadata.actual_duration_seconds"), 91);
    assert_int_equal(num(r, "metadata.checks"), CHECKS);

    assert_int_equal(num(r, "summary.issues_found"), is->count);
    assert_int_equal(num(r, "summary.total_issues"), is->count);
    assert_string_equal(str(r, "summary.health"), "critical");
    assert_string_equal(str(r, "summary.worst_severity"), "CRITICAL");
    double by_sev = num(r, "summary.by_severity.CRITICAL") + num(r, "summary.by_severity.HIGH") +
                    num(r, "summary.by_severity.MEDIUM") + num(r, "summary.by_severity.LOW");
    assert_int_equal(by_sev, is->count);
    assert_int_equal(num(r, "summary.sightings"), is->count * CHECKS);
    assert_int_equal(num(r, "summary.db_snapshots"), 100);

    /* latencies 1..100: the order statistics */
    assert_true(num(r, "detailed_stats.performance.store.min_ms") == 1);
    assert_true(num(r, "detailed_stats.performance.store.median_ms") == 50.5);
    assert_true(num(r, "detailed_stats.performance.store.p95_ms") == 95);
    assert_true(num(r, "detailed_stats.performance.store.max_ms") == 100);
    assert_int_equal(num(r, "detailed_stats.performance.consistency.runs"), 103);
    /* the error ring wrapped: the newest kept, oldest first */
    cJSON *errs = at(r, "detailed_stats.errors");
    assert_int_equal(cJSON_GetArraySize(errs), TG_DIAG_ERRORS_MAX);
    assert_non_null(strstr(cJSON_GetArrayItem(errs, 0)->valuestring, "timeout #6 ?\"<b>\""));
    assert_non_null(
        strstr(cJSON_GetArrayItem(errs, TG_DIAG_ERRORS_MAX - 1)->valuestring, "timeout #69 "));

    cJSON *issues = at(r, "issues");
    assert_int_equal(cJSON_GetArraySize(issues), is->count);
    for (size_t i = 0; i < is->count; i++) {
        cJSON *it = cJSON_GetArrayItem(issues, (int)i);
        assert_string_equal(str(it, "type"), tg_diag_type_str(is->items[i].type));
        assert_string_equal(str(it, "severity"), tg_diag_severity_str(is->items[i].severity));
        assert_int_equal(num(it, "count"), CHECKS);
        assert_string_equal(str(it, "first_seen"), "2025-10-15T17:56:23.000Z");
        assert_string_equal(str(it, "last_seen"), "2025-10-15T17:57:23.000Z");
        cJSON *e = at(it, "values.engine");
        assert_true(is->items[i].engine_value[0] == '\0' ? cJSON_IsNull(e) : cJSON_IsString(e));
    }
    assert_int_equal(num(r, "analysis.consistency.state_mismatches"), 1);
    /* BTCUSDT's is looser; SOLUSDT has no trailguard stop at all */
    assert_int_equal(num(r, "analysis.consistency.by_type.exchange_stop_looser"), 2);
    assert_int_equal(num(r, "analysis.consistency.by_type.reactivation"), 1);
    assert_true(num(r, "analysis.ts_functionality.activation_rate") == 1);

    cJSON *recs = at(r, "recommendations");
    assert_true(cJSON_GetArraySize(recs) >= 3);
    assert_non_null(strstr(cJSON_GetArrayItem(recs, 0)->valuestring, "CRITICAL: Found"));
    cJSON *prot = at(r, "protection");
    assert_int_equal(cJSON_GetArraySize(prot), 2);
    assert_string_equal(str(cJSON_GetArrayItem(prot, 1), "account"), "alt \"q\"");
    assert_int_equal(num(cJSON_GetArrayItem(prot, 1), "unprotected"), 1);
    cJSON_Delete(r);
    free(w);
}

static void test_json_empty(void **state) {
    (void)state;
    world *w = empty();
    cJSON *r = report(w, "empty.json");
    assert_string_equal(str(r, "summary.health"), "healthy");
    assert_true(cJSON_IsNull(at(r, "summary.worst_severity")));
    assert_true(cJSON_IsNull(at(r, "metadata.daemon_url")));
    assert_true(cJSON_IsNull(at(r, "detailed_stats.performance.engine.median_ms")));
    assert_string_equal(str(r, "metadata.mode"), "once");
    assert_true(cJSON_IsTrue(at(r, "metadata.exchange_only")));
    assert_int_equal(cJSON_GetArraySize(at(r, "issues")), 0);
    cJSON *recs = at(r, "recommendations");
    assert_int_equal(cJSON_GetArraySize(recs), 1);
    assert_non_null(strstr(cJSON_GetArrayItem(recs, 0)->valuestring, "No critical issues"));
    cJSON_Delete(r);
    free(w);
}

/* A write that fails is an error, not a silent truncated report. */
static void test_json_write_error(void **state) {
    (void)state;
    world *w = empty();
    FILE *f = fopen("/dev/full", "w");
    if (f == NULL) {
        free(w);
        skip();
    }
    tg_err err = {0};
    assert_int_equal(tg_diag_report_json(f, &w->run, &w->issues, &err), TG_E_IO);
    assert_true(strlen(err.msg) > 0);
    fclose(f);
    free(w);
}

/* ---- console and log -------------------------------------------------- */

static char *capture_console(world *w) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    tg_diag_report_console(f, &w->run, &w->issues);
    fclose(f);
    return buf;
}

static void test_console(void **state) {
    (void)state;
    world *w = faulty();
    char *out = capture_console(w);
    static const char *const want[] = {
        "DIAGNOSTIC REPORT SUMMARY",
        "TS Instances Tracked: 3",
        "Activations: 3",
        "SL Updates: 41",
        "Errors: 70",
        "Health: critical",
        "ANALYSIS",
        "ts_functionality:",
        "  - activation_rate: 1.00",
        "  - total_db_queries: 101",
        "  - state_mismatches: 1",
        "  - stop_increases_position: 1",
        "RECOMMENDATIONS",
        "\n1. CRITICAL: Found",
        "\n2. ",
        "PROTECTION",
        "alt \"q\"",
        "<-- UNPROTECTED",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (strstr(out, want[i]) == NULL) {
            fail_msg("console summary lacks '%s':\n%s", want[i], out);
        }
    }
    free(out);
    free(w);
    w = empty();
    out = capture_console(w);
    assert_non_null(strstr(out, "1. No critical issues detected"));
    assert_non_null(strstr(out, "(no exchange snapshot)"));
    free(out);
    free(w);
}

static void test_log_issue(void **state) {
    (void)state;
    tg_diag_issue it = {.type = TG_DIAG_STATE_MISMATCH, .severity = TG_DIAG_MEDIUM, .count = 4};
    snprintf(it.account, sizeof it.account, "main");
    snprintf(it.venue, sizeof it.venue, "binance");
    snprintf(it.symbol, sizeof it.symbol, "BTCUSDT");
    snprintf(it.description, sizeof it.description, "engine \"active\" vs\nstored=waiting \\ x");
    snprintf(it.cause, sizeof it.cause, "lag");
    snprintf(it.engine_value, sizeof it.engine_value, "active");
    it.first_seen_ms = NOW_MS;
    it.last_seen_ms = NOW_MS + 60000;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tg_diag_log_issue(f, &it);
    fclose(f);
    assert_string_equal(
        buf, "ts=2025-10-15T17:57:23.000Z level=warn msg=\"diagnose issue\" severity=MEDIUM "
             "type=state_mismatch account=main venue=binance symbol=BTCUSDT count=4 "
             "first_seen=2025-10-15T17:56:23.000Z engine=active store=\"\" exchange=\"\" "
             "description=\"engine \\\"active\\\" vs\\nstored=waiting \\\\ x\" cause=lag\n");
    free(buf);
    it.severity = TG_DIAG_CRITICAL;
    f = open_memstream(&buf, &len);
    tg_diag_log_issue(f, &it);
    fclose(f);
    assert_non_null(strstr(buf, " level=error "));
    assert_non_null(strchr(buf, '\n') == buf + strlen(buf) - 1 ? buf : NULL);
    free(buf);
}

/* ---- HTML ------------------------------------------------------------- */

static size_t occurrences(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static char *write_html(world *w, char *path, const char *name) {
    tmp_path(path, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    tg_err err = {0};
    assert_int_equal(tg_diag_report_html(f, &w->run, &w->issues, &err), TG_OK);
    fclose(f);
    return slurp(path);
}

/* The page as written: self-contained, the issues table, one chart per
 * position, every outside text escaped. */
static void test_html_page(void **state) {
    (void)state;
    world *w = faulty();
    char path[PATH_MAX_];
    char *html = write_html(w, path, "page.html");
    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_null(strstr(html, "http:"));
    assert_null(strstr(html, "https:"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "url("));
    assert_int_equal(occurrences(html, "<table id=\"issues\">"), 1);
    assert_int_equal(occurrences(html, "<tr class=\""), w->issues.count + 1 /* protection */);
    assert_int_equal(occurrences(html, "<svg class=\"timeline\""), w->run.timelines_count);
    assert_int_equal(occurrences(html, "class=\"exchange-stop\""), w->run.timelines_count);
    assert_non_null(strstr(html, "SOL&lt;USDT&gt;:long"));
    assert_non_null(strstr(html, "alt &quot;q&quot;"));
    assert_null(strstr(html, "SOL<USDT>"));
    free(html);
    if (getenv("TG_KEEP_HTML") != NULL) { /* to look at it */
        print_message("page kept: %s\n", path);
    } else {
        unlink(path);
    }
    free(w);
    w = empty();
    html = write_html(w, path, "empty.html");
    assert_non_null(strstr(html, "No issues."));
    assert_int_equal(occurrences(html, "<svg"), 0);
    free(html);
    unlink(path);
    free(w);
}

/* Headless Chromium loads the page and its DOM holds the issues table with a
 * row per issue and one svg.timeline per position. */
static void test_html_chromium(void **state) {
    (void)state;
    if (access(CHROMIUM, X_OK) != 0) {
        print_message("chromium check skipped: %s not found (apt-get install chromium)\n",
                      CHROMIUM);
        skip();
    }
    world *w = faulty();
    char path[PATH_MAX_], dom[PATH_MAX_ + 8], profile[PATH_MAX_ + 8], cmd[6 * PATH_MAX_];
    free(write_html(w, path, "chromium.html"));
    snprintf(dom, sizeof dom, "%s.dom", path);
    snprintf(profile, sizeof profile, "%s.profile", path);
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s --headless --no-sandbox --disable-gpu --disable-background-networking"
             " --disable-component-update --disable-sync --no-first-run --user-data-dir='%s'"
             " --dump-dom 'file://%s' >'%s' 2>/dev/null; rc=$?; rm -rf '%s'; exit $rc",
             CHROMIUM, profile, path, dom, profile);
    assert_int_equal(system(cmd), 0);
    char *out = slurp(dom);
    unlink(dom);
    unlink(path);
    assert_true(strlen(out) > 1000);
    assert_int_equal(occurrences(out, "<table id=\"issues\">"), 1);
    const char *table = strstr(out, "<table id=\"issues\">");
    const char *end = strstr(table, "</table>");
    assert_non_null(end);
    size_t rows = 0;
    for (const char *p = strstr(table, "<tr class="); p != NULL && p < end;
         p = strstr(p + 1, "<tr class=")) {
        rows++;
    }
    assert_int_equal(rows, w->issues.count);
    assert_int_equal(occurrences(out, "<svg class=\"timeline\""), w->run.timelines_count);
    assert_int_equal(occurrences(out, "<path class=\"mark\""), w->run.timelines_count);
    free(out);
    free(w);
}

/* The validator itself: a report with a key renamed and one missing fails. */
static void test_schema_rejects(void **state) {
    (void)state;
    world *w = faulty();
    char path[PATH_MAX_];
    tmp_path(path, "renamed.json");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    tg_err err = {0};
    assert_int_equal(tg_diag_report_json(f, &w->run, &w->issues, &err), TG_OK);
    fclose(f);
    char *text = slurp(path);
    cJSON *r = cJSON_Parse(text);
    free(text);
    cJSON *sum = cJSON_GetObjectItemCaseSensitive(r, "summary");
    cJSON_AddNumberToObject(sum, "issue_found", 1);
    cJSON_DeleteItemFromObjectCaseSensitive(sum, "issues_found");
    text = cJSON_Print(r);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(r);
    int rc = run_validator(path);
    unlink(path);
    free(w);
    if (rc < 0) {
        skip();
    }
    assert_true(rc > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_faulty),      cmocka_unit_test(test_json_empty),
        cmocka_unit_test(test_json_write_error), cmocka_unit_test(test_schema_rejects),
        cmocka_unit_test(test_console),          cmocka_unit_test(test_log_issue),
        cmocka_unit_test(test_html_page),        cmocka_unit_test(test_html_chromium),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
