/*
 * The diagnostic monitor's HTML page: one self-contained file (inline CSS
 * and SVG, no script, nothing fetched) with the summary, the issues table and
 * one timeline chart per position (mark, engine stop, exchange stop).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "diag/report_int.h"

#define CHART_W 900.0                  /* px: the chart's width */
#define CHART_H 240.0                  /* px: the chart's height */
#define PLOT_X0 80.0                   /* px: left edge of the plot, room for price labels */
#define PLOT_X1 880.0                  /* px: right edge */
#define PLOT_Y0 16.0                   /* px: top */
#define PLOT_Y1 210.0                  /* px: bottom, above the time labels */
#define ESC_MAX (TG_DIAG_TEXT_MAX * 6) /* bytes of one escaped text */

#define COLOR_MARK     "#1f5fa8"
#define COLOR_ENGINE   "#d62728"
#define COLOR_EXCHANGE "#2ca02c"

static const char *const style =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}"
    ".meta{color:#555}table{border-collapse:collapse;margin:6px 0}"
    "th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}td.n{text-align:right}"
    ".CRITICAL{background:#fbe3e4}.HIGH{background:#fdf0dc}.MEDIUM{background:#fdfadc}"
    ".LOW{background:#eef5fb}.health{font-weight:bold;padding:2px 8px;border-radius:4px}"
    ".healthy{background:#dff3df}.degraded{background:#fdfadc}.unhealthy{background:#fdf0dc}"
    ".critical{background:#fbe3e4}figure{margin:12px 0}figcaption{font-weight:bold}"
    "svg.timeline{border:1px solid #ddd;background:#fff}"
    ".legend span{display:inline-block;margin-right:14px}";

/* Writes text escaped for HTML text and attribute values. */
static void esc(FILE *f, const char *text) {
    assert(f != NULL && text != NULL);
    char clean[ESC_MAX];
    diag_utf8(text, clean, sizeof clean);
    for (const char *p = clean; *p != '\0'; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*p, f);
        }
    }
}

static void td(FILE *f, const char *cls, const char *text) {
    assert(f != NULL && text != NULL);
    if (cls != NULL) {
        fprintf(f, "<td class=\"%s\">", cls);
    } else {
        fputs("<td>", f);
    }
    esc(f, text);
    fputs("</td>", f);
}

static void head(FILE *f, const tg_diag_run *run, const diag_summary *s) {
    assert(f != NULL && run != NULL);
    assert(s != NULL && s->health != NULL);
    char a[DIAG_ISO_MAX], b[DIAG_ISO_MAX];
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", f);
    fprintf(f, "<title>trailguard diagnose %s</title>\n", diag_iso(run->started_ms, a));
    fprintf(f, "<style>%s</style>\n</head>\n<body>\n", style);
    fputs("<h1>trailguard diagnose</h1>\n<p class=\"meta\">", f);
    fprintf(f, "%s – %s (%.0f s, %s%s), configuration ", diag_iso(run->started_ms, a),
            diag_iso(run->ended_ms, b), (double)(run->ended_ms - run->started_ms) / 1000,
            run->once ? "once" : "duration", run->exchange_only ? ", exchange only" : "");
    esc(f, run->config_path);
    fputs("</p>\n", f);
    fprintf(f,
            "<section id=\"summary\">\n<h2>Summary</h2>\n<p>Health: "
            "<span class=\"health %s\">%s</span></p>\n",
            s->health, s->health);
}

static void summary(FILE *f, const tg_diag_run *run, const tg_diag_issues *issues,
                    const diag_summary *s) {
    assert(f != NULL && run != NULL);
    assert(issues != NULL && s != NULL);
    assert(s->rec_count <= DIAG_RECS_MAX);
    fputs("<table id=\"counts\"><tr>", f);
    for (int i = TG_DIAG_CRITICAL; i >= TG_DIAG_LOW; i--) {
        fprintf(f, "<th class=\"%s\">%s</th>", tg_diag_severity_str((tg_diag_severity)i),
                tg_diag_severity_str((tg_diag_severity)i));
    }
    fputs("<th>issues</th><th>sightings</th><th>checks</th><th>positions</th><th>activations"
          "</th><th>stop updates</th><th>errors</th></tr>\n<tr>",
          f);
    for (int i = TG_DIAG_CRITICAL; i >= TG_DIAG_LOW; i--) {
        fprintf(f, "<td class=\"n\">%zu</td>", s->by_severity[i]);
    }
    fprintf(f,
            "<td class=\"n\">%zu</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
            "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
            "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
            "</td></tr>\n</table>\n",
            issues->count, s->sightings, issues->checks, run->new_positions, run->activations,
            run->stop_updates, run->errors);
    fputs("<h2>Recommendations</h2>\n<ol id=\"recommendations\">\n", f);
    for (size_t i = 0; i < s->rec_count; i++) {
        fputs("<li>", f);
        esc(f, s->recs[i]);
        fputs("</li>\n", f);
    }
    fputs("</ol>\n<h2>Protection</h2>\n<table id=\"protection\"><tr><th>account</th><th>venue"
          "</th><th>positions</th><th>protected</th><th>trailguard stops</th><th>foreign stops"
          "</th></tr>\n",
          f);
    size_t n = run->accounts_count < 16 ? run->accounts_count : 16;
    for (size_t i = 0; i < n; i++) {
        const tg_diag_account_row *r = &run->accounts[i];
        fprintf(f, "<tr%s>", r->protected_count < r->positions ? " class=\"CRITICAL\"" : "");
        td(f, NULL, r->account);
        td(f, NULL, r->venue);
        fprintf(f,
                "<td class=\"n\">%u</td><td class=\"n\">%u</td><td class=\"n\">%u</td>"
                "<td class=\"n\">%u</td></tr>\n",
                r->positions, r->protected_count, r->trailguard_stops, r->foreign_stops);
    }
    fputs("</table>\n</section>\n", f);
}

static void issue_row(FILE *f, const tg_diag_issue *it) {
    assert(f != NULL && it != NULL);
    assert((unsigned)it->type < TG_DIAG_TYPE_COUNT && (unsigned)it->severity < 4);
    const char *sev = tg_diag_severity_str(it->severity);
    char a[DIAG_ISO_MAX], b[DIAG_ISO_MAX];
    fprintf(f, "<tr class=\"%s\" data-type=\"%s\">", sev, tg_diag_type_str(it->type));
    td(f, NULL, sev);
    td(f, NULL, tg_diag_type_str(it->type));
    td(f, NULL, it->account);
    td(f, NULL, it->venue);
    td(f, NULL, it->symbol);
    td(f, NULL, it->description);
    td(f, NULL, it->cause);
    td(f, NULL, it->engine_value);
    td(f, NULL, it->store_value);
    td(f, NULL, it->exchange_value);
    td(f, NULL, diag_iso(it->first_seen_ms, a));
    td(f, NULL, diag_iso(it->last_seen_ms, b));
    fprintf(f, "<td class=\"n\">%" PRIu32 "</td></tr>\n", it->count);
}

static void issues_table(FILE *f, const tg_diag_issues *issues) {
    assert(f != NULL && issues != NULL);
    assert(issues->count <= TG_DIAG_ISSUES_MAX);
    fputs("<section>\n<h2>Issues</h2>\n<table id=\"issues\">\n<thead><tr><th>severity</th>"
          "<th>type</th><th>account</th><th>venue</th><th>symbol</th><th>description</th>"
          "<th>likely cause</th><th>engine</th><th>store</th><th>exchange</th><th>first seen</th>"
          "<th>last seen</th><th>count</th></tr></thead>\n<tbody>\n",
          f);
    /* the worst first, each severity in the order of first sighting */
    for (int want = TG_DIAG_CRITICAL; want >= TG_DIAG_LOW; want--) {
        for (size_t i = 0; i < issues->count; i++) {
            if ((int)issues->items[i].severity == want) {
                issue_row(f, &issues->items[i]);
            }
        }
    }
    if (issues->count == 0) {
        fputs("<tr><td colspan=\"13\">No issues.</td></tr>\n", f);
    }
    fputs("</tbody>\n</table>\n</section>\n", f);
}

/* ---- timelines -------------------------------------------------------- */

typedef struct scale {
    int64_t t0, t1; /* time window, ms */
    int64_t lo, hi; /* price window, tg_dec units */
} scale;

static const tg_diag_point *point_at(const tg_diag_timeline *t, size_t i) {
    assert(t != NULL);
    size_t kept = t->count < TG_DIAG_POINTS_MAX ? t->count : TG_DIAG_POINTS_MAX;
    size_t first = t->count - kept; /* the oldest sample the ring holds */
    assert(i < kept);
    return &t->points[(first + i) % TG_DIAG_POINTS_MAX];
}

static tg_dec series(const tg_diag_point *p, int k) {
    assert(p != NULL);
    assert(k >= 0 && k <= 2);
    return k == 0 ? p->mark : k == 1 ? p->engine_stop : p->exchange_stop;
}

static scale scale_of(const tg_diag_timeline *t, size_t kept) {
    assert(t != NULL);
    assert(kept > 0 && kept <= TG_DIAG_POINTS_MAX);
    scale s = {point_at(t, 0)->ts_ms, point_at(t, kept - 1)->ts_ms, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < kept; i++) {
        for (int k = 0; k < 3; k++) {
            int64_t u = series(point_at(t, i), k).units;
            if (u > 0) {
                s.lo = u < s.lo ? u : s.lo;
                s.hi = u > s.hi ? u : s.hi;
            }
        }
    }
    if (s.lo > s.hi) { /* no price at all */
        s.lo = 0;
        s.hi = TG_DEC_SCALE;
    }
    int64_t pad = (s.hi - s.lo) / 20;
    if (pad == 0) {
        pad = s.lo / 1000 > 0 ? s.lo / 1000 : 1;
    }
    s.lo = s.lo > pad ? s.lo - pad : 0;
    s.hi += pad;
    assert(s.lo >= 0 && s.lo < s.hi);
    return s;
}

static double px_x(const scale *s, int64_t t) {
    assert(s != NULL);
    if (s->t1 <= s->t0) {
        return (PLOT_X0 + PLOT_X1) / 2;
    }
    return PLOT_X0 + (double)(t - s->t0) / (double)(s->t1 - s->t0) * (PLOT_X1 - PLOT_X0);
}

static double px_y(const scale *s, int64_t units) {
    assert(s != NULL);
    assert(s->hi > s->lo);
    return PLOT_Y1 - (double)(units - s->lo) / (double)(s->hi - s->lo) * (PLOT_Y1 - PLOT_Y0);
}

/* One series as a path, broken where it has no value (0). */
static void series_path(FILE *f, const tg_diag_timeline *t, size_t kept, const scale *s, int k,
                        const char *color, const char *dash) {
    assert(f != NULL && t != NULL && s != NULL);
    assert(k >= 0 && k <= 2);
    assert(color != NULL && dash != NULL);
    fprintf(f, "<path class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s d=\"",
            k == 0   ? "mark"
            : k == 1 ? "engine-stop"
                     : "exchange-stop",
            color, dash);
    bool pen = false, any = false;
    for (size_t i = 0; i < kept; i++) {
        const tg_diag_point *p = point_at(t, i);
        tg_dec v = series(p, k);
        if (!tg_dec_is_pos(v)) {
            pen = false;
            continue;
        }
        fprintf(f, "%s%.1f %.1f",
                pen   ? " L"
                : any ? " M"
                      : "M",
                px_x(s, p->ts_ms), px_y(s, v.units));
        pen = any = true;
    }
    if (kept == 1 && any) { /* one sample: a dot-sized segment so that it shows */
        fputs(" h1", f);
    }
    fputs("\"/>\n", f);
}

static void chart(FILE *f, const tg_diag_timeline *t, size_t n) {
    assert(f != NULL && t != NULL);
    assert(n < TG_DIAG_TIMELINES_MAX);
    size_t kept = t->count < TG_DIAG_POINTS_MAX ? t->count : TG_DIAG_POINTS_MAX;
    fputs("<figure>\n<figcaption>", f);
    esc(f, t->account);
    fputs(" ", f);
    esc(f, t->position_key);
    fprintf(f, " (%s, %zu samples)</figcaption>\n", tg_side_str(t->side), kept);
    fprintf(f,
            "<svg class=\"timeline\" id=\"timeline-%zu\" role=\"img\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
            n, CHART_W, CHART_H, CHART_W, CHART_H);
    fputs("<title>", f);
    esc(f, t->position_key);
    fputs(": mark, engine stop, exchange stop</title>\n", f);
    if (kept > 0) {
        scale s = scale_of(t, kept);
        char lo[TG_DEC_STR_MAX], hi[TG_DEC_STR_MAX], a[DIAG_ISO_MAX], b[DIAG_ISO_MAX];
        size_t lo_len = tg_dec_format(tg_dec_from_units(s.lo), 0, lo);
        size_t hi_len = tg_dec_format(tg_dec_from_units(s.hi), 0, hi);
        assert(lo_len > 0 && lo_len < sizeof lo);
        assert(hi_len > 0 && hi_len < sizeof hi);
        fprintf(f,
                "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                "stroke=\"#e4e4e4\"/>\n",
                PLOT_X0, PLOT_Y0, PLOT_X1 - PLOT_X0, PLOT_Y1 - PLOT_Y0);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                PLOT_X0 - 4, PLOT_Y0 + 10, hi);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                PLOT_X0 - 4, PLOT_Y1, lo);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\">%s</text>\n", PLOT_X0,
                PLOT_Y1 + 18, diag_iso(s.t0, a));
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                PLOT_X1, PLOT_Y1 + 18, diag_iso(s.t1, b));
        series_path(f, t, kept, &s, 0, COLOR_MARK, "");
        series_path(f, t, kept, &s, 1, COLOR_ENGINE, "");
        series_path(f, t, kept, &s, 2, COLOR_EXCHANGE, " stroke-dasharray=\"5 3\"");
    } else {
        fputs("<text x=\"20\" y=\"40\">no samples</text>\n", f);
    }
    fputs("</svg>\n</figure>\n", f);
}

static void timelines(FILE *f, const tg_diag_run *run) {
    assert(f != NULL && run != NULL);
    fputs("<section id=\"timelines\">\n<h2>Timelines</h2>\n<p class=\"legend\">", f);
    fprintf(f,
            "<span style=\"color:%s\">&#9473; mark</span><span style=\"color:%s\">&#9473; "
            "engine stop</span><span style=\"color:%s\">&#9476; exchange stop</span></p>\n",
            COLOR_MARK, COLOR_ENGINE, COLOR_EXCHANGE);
    size_t n =
        run->timelines_count < TG_DIAG_TIMELINES_MAX ? run->timelines_count : TG_DIAG_TIMELINES_MAX;
    assert(n == 0 || run->timelines != NULL);
    for (size_t i = 0; i < n; i++) {
        chart(f, &run->timelines[i], i);
    }
    if (n == 0) {
        fputs("<p>No positions were sampled.</p>\n", f);
    }
    fputs("</section>\n", f);
}

tg_status tg_diag_report_html(FILE *f, const tg_diag_run *run, const tg_diag_issues *issues,
                              tg_err *err) {
    assert(f != NULL && run != NULL && issues != NULL);
    assert(issues->count <= TG_DIAG_ISSUES_MAX);
    diag_summary *s = malloc(sizeof *s);
    if (s == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "no memory for the diagnostic page");
    }
    diag_summarize(run, issues, s);
    head(f, run, s);
    summary(f, run, issues, s);
    issues_table(f, issues);
    timelines(f, run);
    fputs("</body>\n</html>\n", f);
    free(s);
    if (fflush(f) != 0 || ferror(f)) {
        return tg_err_set(err, TG_E_IO, "cannot write the diagnostic page");
    }
    return TG_OK;
}
