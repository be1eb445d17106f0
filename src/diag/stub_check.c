/* TEMPORARY stand-in for the colleague's src/diag/check.c and report.c, so
 * that the probes and the command build and test before the merge. Deleted
 * before the branch's last commit. Only the rules the probes' tests need. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "trailguard/diag.h"

static const char *const type_names[TG_DIAG_TYPE_COUNT] = {
    "missing_ts_instance",  "orphan_ts_instance",
    "state_mismatch",       "sl_price_mismatch",
    "unprotected_position", "exchange_stop_looser",
    "stop_wrong_side",      "stop_increases_position",
    "duplicate_stops",      "orphan_exchange_stop",
    "unconfirmed_intent",   "stale_feed",
    "source_unreachable",   "latency_high",
    "rate_limit_pressure",  "unprotected_window",
    "reactivation",         "foreign_stop"};
static const tg_diag_severity type_sev[TG_DIAG_TYPE_COUNT] = {
    TG_DIAG_HIGH,     TG_DIAG_HIGH,     TG_DIAG_MEDIUM,   TG_DIAG_MEDIUM, TG_DIAG_CRITICAL,
    TG_DIAG_CRITICAL, TG_DIAG_CRITICAL, TG_DIAG_CRITICAL, TG_DIAG_HIGH,   TG_DIAG_HIGH,
    TG_DIAG_HIGH,     TG_DIAG_HIGH,     TG_DIAG_HIGH,     TG_DIAG_MEDIUM, TG_DIAG_MEDIUM,
    TG_DIAG_LOW,      TG_DIAG_LOW,      TG_DIAG_LOW};

const char *tg_diag_type_str(tg_diag_type t) {
    return (unsigned)t < TG_DIAG_TYPE_COUNT ? type_names[t] : "unknown";
}
tg_diag_severity tg_diag_type_severity(tg_diag_type t) {
    return (unsigned)t < TG_DIAG_TYPE_COUNT ? type_sev[t] : TG_DIAG_LOW;
}
const char *tg_diag_severity_str(tg_diag_severity s) {
    static const char *const n[] = {"LOW", "MEDIUM", "HIGH", "CRITICAL"};
    return (unsigned)s < 4 ? n[s] : "LOW";
}
bool tg_diag_severity_parse(const char *text, tg_diag_severity *out) {
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, tg_diag_severity_str((tg_diag_severity)i)) == 0) {
            *out = (tg_diag_severity)i;
            return true;
        }
    }
    return false;
}
const char *tg_diag_probe_str(tg_diag_probe p) {
    static const char *const n[] = {"engine", "store", "exchange", "consistency"};
    return (unsigned)p < 4 ? n[p] : "unknown";
}
tg_diag_thresholds tg_diag_thresholds_default(void) {
    return (tg_diag_thresholds){.price_tolerance_pct = 0.1,
                                .unconfirmed_ms = 30000,
                                .stale_ms = 10000,
                                .store_latency_ms = 1000,
                                .exchange_latency_ms = 2000,
                                .engine_latency_ms = 1,
                                .rate_limit_pct = 5,
                                .unprotected_window_s = 0.3};
}

static size_t add(tg_diag_issues *is, tg_diag_type t, const char *acct, const char *sym,
                  const char *desc, int64_t now) {
    for (size_t i = 0; i < is->count; i++) {
        tg_diag_issue *x = &is->items[i];
        if (x->type == t && strcmp(x->account, acct) == 0 && strcmp(x->symbol, sym) == 0) {
            x->count++;
            x->last_seen_ms = now;
            return 1;
        }
    }
    if (is->count == TG_DIAG_ISSUES_MAX) {
        is->dropped++;
        return 1;
    }
    tg_diag_issue *x = &is->items[is->count++];
    memset(x, 0, sizeof *x);
    x->type = t;
    x->severity = tg_diag_type_severity(t);
    snprintf(x->account, sizeof x->account, "%s", acct);
    snprintf(x->symbol, sizeof x->symbol, "%s", sym);
    snprintf(x->description, sizeof x->description, "%s", desc);
    x->first_seen_ms = x->last_seen_ms = now;
    x->count = 1;
    return 1;
}

size_t tg_diag_check(const tg_diag_snapshot *s, const tg_diag_thresholds *th, int64_t now,
                     tg_diag_issues *is) {
    (void)th;
    size_t n = 0;
    is->checks++;
    const tg_diag_source *src[] = {&s->engine, &s->store, &s->exchange};
    for (int i = 0; i < 3; i++) {
        if (src[i]->enabled && !src[i]->ok) {
            n += add(is, TG_DIAG_SOURCE_UNREACHABLE, "", tg_diag_probe_str((tg_diag_probe)i),
                     src[i]->error, now);
        }
    }
    bool ex = s->exchange.ok, en = s->engine.enabled && s->engine.ok;
    for (size_t i = 0; ex && i < s->exchange_pos_count; i++) {
        const tg_diag_exchange_pos *p = &s->exchange_pos[i];
        bool covered = false, engine = false;
        for (size_t k = 0; k < s->exchange_stops_count; k++) {
            const tg_diag_exchange_stop *x = &s->exchange_stops[k];
            covered |= strcmp(x->account, p->account) == 0 &&
                       strcmp(x->position_key, p->position_key) == 0;
        }
        if (!covered) {
            n += add(is, TG_DIAG_UNPROTECTED_POSITION, p->account, p->symbol, "no stop", now);
        }
        for (size_t k = 0; en && k < s->engine_count; k++) {
            engine |= strcmp(s->engine_pos[k].account, p->account) == 0 &&
                      strcmp(s->engine_pos[k].position_key, p->position_key) == 0;
        }
        if (en && !engine) {
            n += add(is, TG_DIAG_MISSING_TS_INSTANCE, p->account, p->symbol, "no engine", now);
        }
    }
    for (size_t k = 0; ex && en && k < s->engine_count; k++) {
        const tg_diag_engine_pos *e = &s->engine_pos[k];
        bool open = false;
        for (size_t i = 0; i < s->exchange_pos_count; i++) {
            open |= strcmp(s->exchange_pos[i].account, e->account) == 0 &&
                    strcmp(s->exchange_pos[i].position_key, e->position_key) == 0;
        }
        if (!open) {
            n += add(is, TG_DIAG_ORPHAN_TS_INSTANCE, e->account, e->symbol, "no position", now);
        }
    }
    for (size_t k = 0; ex && k < s->exchange_stops_count; k++) {
        if (!s->exchange_stops[k].owned) {
            n += add(is, TG_DIAG_FOREIGN_STOP, s->exchange_stops[k].account,
                     s->exchange_stops[k].symbol, "foreign stop", now);
        }
    }
    return n;
}

int tg_diag_worst(const tg_diag_issues *is) {
    int w = -1;
    for (size_t i = 0; i < is->count; i++) {
        w = (int)is->items[i].severity > w ? (int)is->items[i].severity : w;
    }
    return w;
}

tg_status tg_diag_report_json(FILE *f, const tg_diag_run *run, const tg_diag_issues *is,
                              tg_err *err) {
    (void)err;
    fprintf(f, "{\"summary\":{\"issues_found\":%zu,\"errors\":%" PRIu64 "},\"issues\":[", is->count,
            run->errors);
    for (size_t i = 0; i < is->count; i++) {
        const tg_diag_issue *x = &is->items[i];
        fprintf(f,
                "%s{\"type\":\"%s\",\"severity\":\"%s\",\"account\":\"%s\",\"symbol\":\"%s\","
                "\"count\":%u}",
                i ? "," : "", tg_diag_type_str(x->type), tg_diag_severity_str(x->severity),
                x->account, x->symbol, x->count);
    }
    fputs("]}\n", f);
    return TG_OK;
}

void tg_diag_report_console(FILE *f, const tg_diag_run *run, const tg_diag_issues *is) {
    fprintf(f, "DIAGNOSTIC REPORT SUMMARY\nIssues Found: %zu\nErrors: %" PRIu64 "\n", is->count,
            run->errors);
}

tg_status tg_diag_report_html(FILE *f, const tg_diag_run *run, const tg_diag_issues *is,
                              tg_err *err) {
    (void)err;
    fprintf(f, "<!doctype html><title>trailguard diagnose</title><p>%zu issues, %zu timelines\n",
            is->count, run->timelines_count);
    return TG_OK;
}

void tg_diag_log_issue(FILE *f, const tg_diag_issue *x) {
    fprintf(f, "msg=issue type=%s severity=%s account=%s symbol=%s count=%u\n",
            tg_diag_type_str(x->type), tg_diag_severity_str(x->severity), x->account, x->symbol,
            x->count);
}
