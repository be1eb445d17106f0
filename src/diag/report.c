/*
 * The diagnostic monitor's outputs besides the HTML page (html.c): the JSON
 * report (the original monitor's tree plus trailguard's additions;
 * docs/diagnose.schema.json), the console summary and the logfmt line of an
 * issue.
 */
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "diag/report_int.h"
#include "trailguard/log.h"

#define RULE_WIDTH      80   /* '=' of the console's rules, as the original's */
#define ERRORS_FOR_RECS 5    /* more probe errors than this are a recommendation */
#define REPORT_VERSION  1    /* of the JSON tree; raised when a key changes meaning */
#define LOG_VALUE_MAX   1024 /* bytes of one escaped logfmt value */

/* ---- shared figures --------------------------------------------------- */

const char *diag_iso(int64_t ms, char buf[DIAG_ISO_MAX]) {
    assert(buf != NULL);
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int millis = (int)(ms - secs * 1000);
    assert(millis >= 0 && millis < 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, DIAG_ISO_MAX, "1970-01-01T00:00:00.000Z");
        return buf;
    }
    int n = snprintf(buf, DIAG_ISO_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
                     tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100, millis % 1000);
    assert(n > 0 && n < DIAG_ISO_MAX);
    return buf;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not. */
static size_t utf8_len(const unsigned char *p) {
    assert(p != NULL && p[0] != '\0');
    if (p[0] < 0x80) {
        return 1;
    }
    size_t n = (p[0] & 0xe0) == 0xc0   ? 2
               : (p[0] & 0xf0) == 0xe0 ? 3
               : (p[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (n == 0 || (n == 2 && p[0] < 0xc2) || (n == 4 && p[0] > 0xf4)) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (n == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
        (n == 4 && p[0] == 0xf0 && p[1] < 0x90) || (n == 4 && p[0] == 0xf4 && p[1] >= 0x90)) {
        return 0;
    }
    return n;
}

const char *diag_utf8(const char *text, char *out, size_t cap) {
    assert(text != NULL && out != NULL && cap > 0);
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0';) {
        size_t n = utf8_len(p);
        if (n == 0) {
            if (o + 1 >= cap) {
                break;
            }
            out[o++] = '?';
            p++;
            continue;
        }
        if (o + n >= cap) {
            break;
        }
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    assert(o < cap);
    out[o] = '\0';
    return out;
}

static int cmp_double(const void *a, const void *b) {
    assert(a != NULL && b != NULL);
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

diag_latency diag_latency_of(const tg_diag_probe_stats *probe) {
    assert(probe != NULL);
    diag_latency l = {0};
    l.samples =
        probe->latency_count < TG_DIAG_LAT_SAMPLES ? probe->latency_count : TG_DIAG_LAT_SAMPLES;
    if (l.samples == 0) {
        return l;
    }
    double v[TG_DIAG_LAT_SAMPLES], sum = 0;
    memcpy(v, probe->latency_ms, l.samples * sizeof v[0]);
    qsort(v, l.samples, sizeof v[0], cmp_double);
    for (size_t i = 0; i < l.samples; i++) {
        sum += v[i];
    }
    size_t n = l.samples;
    l.min_ms = v[0];
    l.max_ms = v[n - 1];
    l.median_ms = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    size_t rank = (size_t)(0.95 * (double)(n - 1) + 0.5); /* nearest rank */
    assert(rank < n);
    l.p95_ms = v[rank < n ? rank : n - 1];
    l.avg_ms = sum / (double)n;
    assert(l.min_ms <= l.median_ms && l.median_ms <= l.max_ms);
    return l;
}

/* One sentence per issue type found, saying what to do; %zu, where there
 * is one, is how many (snprintf ignores the argument of the others). */
static const char *const advice[TG_DIAG_TYPE_COUNT] = {
    [TG_DIAG_MISSING_TS_INSTANCE] = "Found %zu positions without TS instances - check that the "
                                    "daemon runs for the account; its reconcile adopts them",
    [TG_DIAG_ORPHAN_TS_INSTANCE] = "Found %zu TS instances without an open position - check the "
                                   "daemon's user-data stream; the next reconcile closes them",
    [TG_DIAG_STATE_MISMATCH] = "Found %zu state mismatches between TS and DB - check the store's "
                               "commits (trailguard_store_commit_failures_total)",
    [TG_DIAG_SL_PRICE_MISMATCH] = "Found %zu stop price mismatches - compare `trailguard state` "
                                  "with the exchange; a reconcile realigns them",
    [TG_DIAG_UNPROTECTED_POSITION] = "Found %zu unprotected positions - place a stop by hand now, "
                                     "then find why trailguard did not",
    [TG_DIAG_EXCHANGE_STOP_LOOSER] = "Found %zu exchange stops looser than the engine's - restart "
                                     "the account's reconcile and check for edits by hand",
    [TG_DIAG_STOP_WRONG_SIDE] = "Found %zu stops on the wrong side of the mark - cancel and "
                                "replace them; check the trigger price type (mark vs last)",
    [TG_DIAG_STOP_INCREASES_POSITION] = "Found %zu stops that can increase a position - cancel "
                                        "them and place reduce-only stops",
    [TG_DIAG_DUPLICATE_STOPS] = "Found %zu positions with duplicate trailguard stops - check that "
                                "only one daemon manages each account",
    [TG_DIAG_ORPHAN_EXCHANGE_STOP] = "Found %zu orphan trailguard stops - cancel them; check that "
                                     "the daemon was running when the positions closed",
    [TG_DIAG_UNCONFIRMED_INTENT] = "Found %zu stop updates the exchange never confirmed - check "
                                   "the exchange's status and the daemon's rejects",
    [TG_DIAG_STALE_FEED] = "Found %zu stale price feeds - check the WebSocket connection and the "
                           "daemon's REST fallback",
    [TG_DIAG_SOURCE_UNREACHABLE] = "Found %zu unreachable sources - check the daemon's URL, the "
                                   "store's URI and the exchange credentials",
    [TG_DIAG_LATENCY_HIGH] = "Found %zu slow sources - check the network path and the server's "
                             "load",
    [TG_DIAG_RATE_LIMIT_PRESSURE] = "Rate-limit pressure above the threshold - raise the minimum "
                                    "improvement or lower the update rate",
    [TG_DIAG_UNPROTECTED_WINDOW] = "Replace windows longer than the threshold - prefer the "
                                   "venue's atomic amend where it has one",
    [TG_DIAG_REACTIVATION] = "Found %zu re-activated positions - check restores after restarts",
    [TG_DIAG_FOREIGN_STOP] = "Found %zu stops trailguard did not place - make sure no other "
                             "program manages these positions",
};

static void add_rec(diag_summary *s, const char *fmt, size_t n) {
    assert(s != NULL && fmt != NULL);
    assert(s->rec_count <= DIAG_RECS_MAX);
    if (s->rec_count < DIAG_RECS_MAX) {
        /* fmt is one of the constant strings above, each with one %zu */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        int len = snprintf(s->recs[s->rec_count++], TG_DIAG_TEXT_MAX, fmt, n);
#pragma GCC diagnostic pop
        assert(len > 0 && len < TG_DIAG_TEXT_MAX);
    }
}

void diag_summarize(const tg_diag_run *run, const tg_diag_issues *issues, diag_summary *s) {
    assert(run != NULL && issues != NULL && s != NULL);
    assert(issues->count <= TG_DIAG_ISSUES_MAX);
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < issues->count; i++) {
        const tg_diag_issue *it = &issues->items[i];
        assert((unsigned)it->type < TG_DIAG_TYPE_COUNT && (unsigned)it->severity < 4);
        s->by_severity[it->severity]++;
        s->by_type[it->type]++;
        s->sightings += it->count;
    }
    s->worst = tg_diag_worst(issues);
    static const char *const health[] = {"healthy", "degraded", "unhealthy", "critical"};
    assert(s->worst < (int)(sizeof health / sizeof health[0]));
    s->health = s->worst <= (int)TG_DIAG_LOW ? health[0] : health[s->worst];

    if (s->by_severity[TG_DIAG_CRITICAL] > 0) {
        add_rec(s, "CRITICAL: Found %zu critical issues - immediate action required!",
                s->by_severity[TG_DIAG_CRITICAL]);
    }
    for (int sev = TG_DIAG_CRITICAL; sev >= TG_DIAG_LOW; sev--) {
        for (int t = 0; t < TG_DIAG_TYPE_COUNT; t++) {
            if (s->by_type[t] > 0 && (int)tg_diag_type_severity((tg_diag_type)t) == sev) {
                add_rec(s, advice[t], s->by_type[t]);
            }
        }
    }
    if (run->new_positions > 0 && run->activations == 0) {
        add_rec(s,
                "No TS activations detected - verify activation conditions and profit "
                "thresholds (%zu positions)",
                (size_t)run->new_positions);
    }
    if (run->errors > ERRORS_FOR_RECS) {
        add_rec(s, "High error rate detected (%zu errors) - investigate error causes",
                (size_t)run->errors);
    }
    if (s->rec_count == 0) {
        snprintf(s->recs[s->rec_count++], TG_DIAG_TEXT_MAX,
                 "No critical issues detected - trailguard functioning normally");
    }
    assert(s->rec_count >= 1 && s->rec_count <= DIAG_RECS_MAX);
}

/* ---- JSON ------------------------------------------------------------- */

static void add_text(cJSON *o, const char *name, const char *text) {
    assert(name != NULL && text != NULL);
    char clean[TG_DIAG_TEXT_MAX * 2];
    cJSON_AddStringToObject(o, name, diag_utf8(text, clean, sizeof clean));
}

/* "" is "not applicable" in the structs and null in the report. */
static void add_text_or_null(cJSON *o, const char *name, const char *text) {
    assert(name != NULL && text != NULL);
    if (text[0] == '\0') {
        cJSON_AddNullToObject(o, name);
    } else {
        add_text(o, name, text);
    }
}

static void add_time(cJSON *o, const char *name, int64_t ms) {
    assert(name != NULL);
    char iso[DIAG_ISO_MAX];
    cJSON_AddStringToObject(o, name, diag_iso(ms, iso));
}

static void add_num(cJSON *o, const char *name, double v) {
    assert(name != NULL);
    cJSON_AddNumberToObject(o, name, v);
}

static uint64_t good_runs(const tg_diag_probe_stats *p) {
    assert(p != NULL);
    return p->runs >= p->failures ? p->runs - p->failures : 0;
}

static cJSON *metadata_json(const tg_diag_run *run, const tg_diag_issues *issues) {
    assert(run != NULL && issues != NULL);
    cJSON *m = cJSON_CreateObject();
    int64_t planned_end = run->once ? run->ended_ms : run->started_ms + run->planned_ms;
    add_num(m, "monitoring_duration_minutes", (double)(run->planned_ms / 60000));
    add_time(m, "start_time", run->started_ms);
    add_time(m, "end_time", planned_end);
    add_num(m, "actual_duration_seconds", (double)((run->ended_ms - run->started_ms) / 1000));
    add_time(m, "generated_at", run->ended_ms);
    /* trailguard's */
    add_num(m, "report_version", REPORT_VERSION);
    add_num(m, "started_ms", (double)run->started_ms);
    add_num(m, "ended_ms", (double)run->ended_ms);
    add_num(m, "planned_ms", (double)run->planned_ms);
    add_num(m, "duration_ms", (double)(run->ended_ms - run->started_ms));
    add_text(m, "config", run->config_path);
    add_text(m, "mode", run->once ? "once" : "duration");
    cJSON_AddBoolToObject(m, "exchange_only", run->exchange_only);
    add_text_or_null(m, "daemon_url", run->daemon_url);
    add_num(m, "checks", (double)issues->checks);
    return m;
}

static cJSON *summary_json(const tg_diag_run *run, const tg_diag_issues *issues,
                           const diag_summary *s) {
    assert(run != NULL && issues != NULL && s != NULL);
    assert(s->worst < 4 && s->health != NULL);
    cJSON *o = cJSON_CreateObject();
    add_num(o, "ts_instances_tracked", (double)run->new_positions);
    add_num(o, "activations", (double)run->activations);
    add_num(o, "sl_updates", (double)run->stop_updates);
    add_num(o, "db_snapshots", (double)good_runs(&run->probes[TG_DIAG_PROBE_STORE]));
    add_num(o, "exchange_snapshots", (double)good_runs(&run->probes[TG_DIAG_PROBE_EXCHANGE]));
    add_num(o, "issues_found", (double)issues->count);
    add_num(o, "errors", (double)run->errors);
    /* trailguard's */
    add_num(o, "engine_snapshots", (double)good_runs(&run->probes[TG_DIAG_PROBE_ENGINE]));
    add_num(o, "total_issues", (double)issues->count);
    cJSON *sev = cJSON_AddObjectToObject(o, "by_severity");
    for (int i = TG_DIAG_CRITICAL; i >= TG_DIAG_LOW; i--) {
        add_num(sev, tg_diag_severity_str((tg_diag_severity)i), (double)s->by_severity[i]);
    }
    add_num(o, "sightings", (double)s->sightings);
    add_num(o, "dropped_issues", (double)issues->dropped);
    if (s->worst < 0) {
        cJSON_AddNullToObject(o, "worst_severity");
    } else {
        add_text(o, "worst_severity", tg_diag_severity_str((tg_diag_severity)s->worst));
    }
    add_text(o, "health", s->health);
    return o;
}

static cJSON *latency_json(const tg_diag_probe_stats *p) {
    assert(p != NULL);
    cJSON *o = cJSON_CreateObject();
    diag_latency l = diag_latency_of(p);
    add_num(o, "interval_ms", (double)p->interval_ms);
    add_num(o, "runs", (double)p->runs);
    add_num(o, "failures", (double)p->failures);
    add_num(o, "overruns", (double)p->overruns);
    add_num(o, "samples", (double)l.samples);
    const char *names[] = {"min_ms", "median_ms", "p95_ms", "max_ms", "avg_ms"};
    const double vals[] = {l.min_ms, l.median_ms, l.p95_ms, l.max_ms, l.avg_ms};
    for (size_t i = 0; i < 5; i++) {
        if (l.samples == 0) {
            cJSON_AddNullToObject(o, names[i]);
        } else {
            add_num(o, names[i], vals[i]);
        }
    }
    return o;
}

static cJSON *stats_json(const tg_diag_run *run) {
    assert(run != NULL);
    cJSON *o = cJSON_CreateObject();
    add_num(o, "snapshots", (double)run->snapshots);
    add_num(o, "new_positions", (double)run->new_positions);
    add_num(o, "state_transitions", (double)run->state_transitions);
    add_num(o, "activations", (double)run->activations);
    add_num(o, "reactivations", (double)run->reactivations);
    add_num(o, "stop_updates", (double)run->stop_updates);
    add_num(o, "errors_total", (double)run->errors);
    cJSON *errs = cJSON_AddArrayToObject(o, "errors");
    size_t kept = run->error_count < TG_DIAG_ERRORS_MAX ? run->error_count : TG_DIAG_ERRORS_MAX;
    assert(kept <= run->error_count);
    size_t first = run->error_count - kept; /* oldest kept, in logging order */
    for (size_t i = 0; i < kept; i++) {
        char clean[TG_DIAG_TEXT_MAX];
        const char *e = run->error_log[(first + i) % TG_DIAG_ERRORS_MAX];
        cJSON_AddItemToArray(errs, cJSON_CreateString(diag_utf8(e, clean, sizeof clean)));
    }
    cJSON *perf = cJSON_AddObjectToObject(o, "performance");
    for (int p = 0; p < TG_DIAG_PROBE_COUNT; p++) {
        cJSON_AddItemToObject(perf, tg_diag_probe_str((tg_diag_probe)p),
                              latency_json(&run->probes[p]));
    }
    return o;
}

static cJSON *issue_json(const tg_diag_issue *it) {
    assert(it != NULL);
    assert((unsigned)it->type < TG_DIAG_TYPE_COUNT && (unsigned)it->severity < 4);
    cJSON *o = cJSON_CreateObject();
    add_text(o, "severity", tg_diag_severity_str(it->severity));
    add_text(o, "type", tg_diag_type_str(it->type));
    add_text(o, "account", it->account);
    add_text(o, "venue", it->venue);
    add_text(o, "exchange", it->venue); /* the original's name for it */
    add_text(o, "symbol", it->symbol);
    add_text(o, "description", it->description);
    add_text(o, "cause", it->cause);
    cJSON *v = cJSON_AddObjectToObject(o, "values");
    add_text_or_null(v, "engine", it->engine_value);
    add_text_or_null(v, "store", it->store_value);
    add_text_or_null(v, "exchange", it->exchange_value);
    add_time(o, "timestamp", it->first_seen_ms); /* the original's */
    add_time(o, "first_seen", it->first_seen_ms);
    add_time(o, "last_seen", it->last_seen_ms);
    add_num(o, "first_seen_ms", (double)it->first_seen_ms);
    add_num(o, "last_seen_ms", (double)it->last_seen_ms);
    add_num(o, "count", it->count);
    if (tg_dec_is_pos(it->tick)) {
        char t[TG_DEC_STR_MAX];
        size_t n = tg_dec_format(it->tick, 0, t);
        assert(n > 0 && n < sizeof t);
        add_text(o, "tick", t);
    } else {
        cJSON_AddNullToObject(o, "tick");
    }
    return o;
}

static void add_avg(cJSON *o, const char *total, const char *avg, const tg_diag_probe_stats *p) {
    assert(total != NULL && avg != NULL && p != NULL);
    diag_latency l = diag_latency_of(p);
    add_num(o, total, (double)p->runs);
    add_num(o, avg, l.avg_ms);
}

static cJSON *analysis_json(const tg_diag_run *run, const diag_summary *s) {
    assert(run != NULL && s != NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON *f = cJSON_AddObjectToObject(o, "ts_functionality");
    add_num(f, "instances_created", (double)run->new_positions);
    add_num(f, "activations", (double)run->activations);
    add_num(f, "activation_rate",
            run->new_positions > 0 ? (double)run->activations / (double)run->new_positions : 0);
    add_num(f, "reactivations", (double)run->reactivations);
    add_num(f, "stop_updates", (double)run->stop_updates);
    add_num(f, "state_transitions", (double)run->state_transitions);
    cJSON *p = cJSON_AddObjectToObject(o, "performance");
    add_avg(p, "total_db_queries", "avg_db_query_ms", &run->probes[TG_DIAG_PROBE_STORE]);
    add_avg(p, "total_exchange_calls", "avg_exchange_call_ms",
            &run->probes[TG_DIAG_PROBE_EXCHANGE]);
    add_avg(p, "total_engine_calls", "avg_engine_call_ms", &run->probes[TG_DIAG_PROBE_ENGINE]);
    add_avg(p, "total_checks", "avg_check_ms", &run->probes[TG_DIAG_PROBE_CONSISTENCY]);
    cJSON *c = cJSON_AddObjectToObject(o, "consistency");
    add_num(c, "orphan_ts_instances", (double)s->by_type[TG_DIAG_ORPHAN_TS_INSTANCE]);
    add_num(c, "missing_ts_instances", (double)s->by_type[TG_DIAG_MISSING_TS_INSTANCE]);
    add_num(c, "state_mismatches", (double)s->by_type[TG_DIAG_STATE_MISMATCH]);
    add_num(c, "sl_price_mismatches", (double)s->by_type[TG_DIAG_SL_PRICE_MISMATCH]);
    cJSON *bt = cJSON_AddObjectToObject(c, "by_type");
    for (int t = 0; t < TG_DIAG_TYPE_COUNT; t++) {
        add_num(bt, tg_diag_type_str((tg_diag_type)t), (double)s->by_type[t]);
    }
    return o;
}

static cJSON *protection_json(const tg_diag_run *run) {
    assert(run != NULL);
    cJSON *a = cJSON_CreateArray();
    size_t n = run->accounts_count < 16 ? run->accounts_count : 16;
    for (size_t i = 0; i < n; i++) {
        const tg_diag_account_row *r = &run->accounts[i];
        cJSON *o = cJSON_CreateObject();
        add_text(o, "account", r->account);
        add_text(o, "venue", r->venue);
        add_num(o, "positions", r->positions);
        add_num(o, "protected", r->protected_count);
        add_num(o, "unprotected",
                r->positions > r->protected_count ? r->positions - r->protected_count : 0);
        add_num(o, "trailguard_stops", r->trailguard_stops);
        add_num(o, "foreign_stops", r->foreign_stops);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

tg_status tg_diag_report_json(FILE *f, const tg_diag_run *run, const tg_diag_issues *issues,
                              tg_err *err) {
    assert(f != NULL && run != NULL && issues != NULL);
    assert(issues->count <= TG_DIAG_ISSUES_MAX);
    diag_summary *s = malloc(sizeof *s);
    cJSON *root = cJSON_CreateObject();
    if (s == NULL || root == NULL) {
        free(s);
        cJSON_Delete(root);
        return tg_err_set(err, TG_E_NOMEM, "no memory for the diagnostic report");
    }
    diag_summarize(run, issues, s);
    cJSON_AddItemToObject(root, "metadata", metadata_json(run, issues));
    cJSON_AddItemToObject(root, "summary", summary_json(run, issues, s));
    cJSON_AddItemToObject(root, "detailed_stats", stats_json(run));
    cJSON *list = cJSON_AddArrayToObject(root, "issues");
    for (size_t i = 0; i < issues->count; i++) {
        cJSON_AddItemToArray(list, issue_json(&issues->items[i]));
    }
    cJSON_AddItemToObject(root, "analysis", analysis_json(run, s));
    cJSON *recs = cJSON_AddArrayToObject(root, "recommendations");
    for (size_t i = 0; i < s->rec_count; i++) {
        cJSON_AddItemToArray(recs, cJSON_CreateString(s->recs[i]));
    }
    cJSON_AddItemToObject(root, "protection", protection_json(run));
    free(s);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "no memory to print the diagnostic report");
    }
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len && fputc('\n', f) != EOF && fflush(f) == 0;
    free(text);
    if (!ok) {
        return tg_err_set(err, TG_E_IO, "cannot write the diagnostic report");
    }
    return TG_OK;
}

/* ---- console ---------------------------------------------------------- */

static void rule(FILE *f) {
    assert(f != NULL);
    for (int i = 0; i < RULE_WIDTH; i++) {
        fputc('=', f);
    }
    fputc('\n', f);
}

static void console_analysis(FILE *f, const tg_diag_run *run, const diag_summary *s) {
    assert(f != NULL && run != NULL && s != NULL);
    fprintf(f, "\n\xf0\x9f\x94\x8d ANALYSIS\n");
    fprintf(f, "ts_functionality:\n");
    fprintf(f, "  - instances_created: %" PRIu64 "\n", run->new_positions);
    fprintf(f, "  - activations: %" PRIu64 "\n", run->activations);
    fprintf(f, "  - activation_rate: %.2f\n",
            run->new_positions > 0 ? (double)run->activations / (double)run->new_positions : 0);
    fprintf(f, "  - reactivations: %" PRIu64 "\n", run->reactivations);
    fprintf(f, "performance:\n");
    static const struct {
        tg_diag_probe probe;
        const char *total, *avg;
    } perf[] = {
        {TG_DIAG_PROBE_STORE, "total_db_queries", "avg_db_query_ms"},
        {TG_DIAG_PROBE_EXCHANGE, "total_exchange_calls", "avg_exchange_call_ms"},
        {TG_DIAG_PROBE_ENGINE, "total_engine_calls", "avg_engine_call_ms"},
    };
    for (size_t i = 0; i < sizeof perf / sizeof perf[0]; i++) {
        const tg_diag_probe_stats *p = &run->probes[perf[i].probe];
        diag_latency l = diag_latency_of(p);
        fprintf(f, "  - %s: %" PRIu64 "\n", perf[i].total, p->runs);
        fprintf(f, "  - %s: %.2f (median %.2f, p95 %.2f, max %.2f)\n", perf[i].avg, l.avg_ms,
                l.median_ms, l.p95_ms, l.max_ms);
    }
    fprintf(f, "consistency:\n");
    fprintf(f, "  - orphan_ts_instances: %zu\n", s->by_type[TG_DIAG_ORPHAN_TS_INSTANCE]);
    fprintf(f, "  - missing_ts_instances: %zu\n", s->by_type[TG_DIAG_MISSING_TS_INSTANCE]);
    fprintf(f, "  - state_mismatches: %zu\n", s->by_type[TG_DIAG_STATE_MISMATCH]);
    fprintf(f, "  - sl_price_mismatches: %zu\n", s->by_type[TG_DIAG_SL_PRICE_MISMATCH]);
    for (int t = TG_DIAG_SL_PRICE_MISMATCH + 1; t < TG_DIAG_TYPE_COUNT; t++) {
        if (s->by_type[t] > 0) {
            fprintf(f, "  - %s: %zu\n", tg_diag_type_str((tg_diag_type)t), s->by_type[t]);
        }
    }
}

static void console_protection(FILE *f, const tg_diag_run *run) {
    assert(f != NULL && run != NULL);
    fprintf(f, "\n\xf0\x9f\x9b\xa1\xef\xb8\x8f  PROTECTION\n");
    if (run->accounts_count == 0) {
        fprintf(f, "  (no exchange snapshot)\n");
        return;
    }
    fprintf(f, "  %-20s %-8s %9s %9s %11s %8s %7s\n", "account", "venue", "positions", "protected",
            "unprotected", "tg_stops", "foreign");
    size_t n = run->accounts_count < 16 ? run->accounts_count : 16;
    for (size_t i = 0; i < n; i++) {
        const tg_diag_account_row *r = &run->accounts[i];
        char account[TG_DIAG_NAME_MAX * 2], venue[TG_DIAG_NAME_MAX * 2];
        tg_log_escape(r->account, false, account, sizeof account);
        tg_log_escape(r->venue, false, venue, sizeof venue);
        uint32_t unprotected =
            r->positions > r->protected_count ? r->positions - r->protected_count : 0;
        fprintf(f, "  %-20s %-8s %9u %9u %11u %8u %7u%s\n", account, venue, r->positions,
                r->protected_count, unprotected, r->trailguard_stops, r->foreign_stops,
                unprotected > 0 ? "  <-- UNPROTECTED" : "");
    }
}

void tg_diag_report_console(FILE *f, const tg_diag_run *run, const tg_diag_issues *issues) {
    assert(f != NULL && run != NULL && issues != NULL);
    diag_summary *s = malloc(sizeof *s);
    if (s == NULL) {
        fprintf(f, "diagnose: no memory for the summary\n");
        return;
    }
    diag_summarize(run, issues, s);
    fputc('\n', f);
    rule(f);
    fprintf(f, "\xf0\x9f\x93\x8a DIAGNOSTIC REPORT SUMMARY\n");
    rule(f);
    fprintf(f, "TS Instances Tracked: %" PRIu64 "\n", run->new_positions);
    fprintf(f, "Activations: %" PRIu64 "\n", run->activations);
    fprintf(f, "SL Updates: %" PRIu64 "\n", run->stop_updates);
    fprintf(f, "Issues Found: %zu (CRITICAL %zu, HIGH %zu, MEDIUM %zu, LOW %zu)\n", issues->count,
            s->by_severity[TG_DIAG_CRITICAL], s->by_severity[TG_DIAG_HIGH],
            s->by_severity[TG_DIAG_MEDIUM], s->by_severity[TG_DIAG_LOW]);
    fprintf(f, "Errors: %" PRIu64 "\n", run->errors);
    fprintf(f, "Health: %s\n", s->health);
    console_analysis(f, run, s);
    fprintf(f, "\n\xf0\x9f\x92\xa1 RECOMMENDATIONS\n");
    for (size_t i = 0; i < s->rec_count; i++) {
        fprintf(f, "%zu. %s\n", i + 1, s->recs[i]);
    }
    console_protection(f, run);
    rule(f);
    free(s);
}

/* ---- logfmt ----------------------------------------------------------- */

static void log_kv(FILE *f, const char *key, const char *value) {
    assert(f != NULL && key != NULL && value != NULL);
    char esc[LOG_VALUE_MAX];
    bool quote = value[0] == '\0' || strpbrk(value, " \"=") != NULL;
    tg_log_escape(value, quote, esc, sizeof esc);
    fprintf(f, " %s=%s%s%s", key, quote ? "\"" : "", esc, quote ? "\"" : "");
}

void tg_diag_log_issue(FILE *f, const tg_diag_issue *issue) {
    assert(f != NULL && issue != NULL);
    static const char *const level[] = {"info", "warn", "error", "error"};
    char iso[DIAG_ISO_MAX], first[DIAG_ISO_MAX], count[24];
    assert((unsigned)issue->severity < 4);
    fprintf(f, "ts=%s level=%s", diag_iso(issue->last_seen_ms, iso), level[issue->severity]);
    log_kv(f, "msg", "diagnose issue");
    log_kv(f, "severity", tg_diag_severity_str(issue->severity));
    log_kv(f, "type", tg_diag_type_str(issue->type));
    log_kv(f, "account", issue->account);
    log_kv(f, "venue", issue->venue);
    log_kv(f, "symbol", issue->symbol);
    int n = snprintf(count, sizeof count, "%" PRIu32, issue->count);
    assert(n > 0 && (size_t)n < sizeof count);
    log_kv(f, "count", count);
    log_kv(f, "first_seen", diag_iso(issue->first_seen_ms, first));
    log_kv(f, "engine", issue->engine_value);
    log_kv(f, "store", issue->store_value);
    log_kv(f, "exchange", issue->exchange_value);
    log_kv(f, "description", issue->description);
    log_kv(f, "cause", issue->cause);
    fputc('\n', f);
}
